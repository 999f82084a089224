//! The `altlayer` command-line tool.

/// jemalloc, as reth's binary: with glibc's malloc, a block's commit on one thread and the
/// next block on another (blocks written behind, the journal applied beside them) waited on
/// its arenas (`benches/README.md`, storage).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    altlayer_node::cli::main()
}
