//! The `altlayer` command-line tool.

fn main() -> std::process::ExitCode {
    altlayer_node::cli::main()
}
