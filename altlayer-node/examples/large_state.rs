//! The node on a large state: a generated genesis of N accounts (1,000,000 by default), a
//! data directory with a 256 MiB cache, transfers between random accounts over the JSON-RPC,
//! the process's resident memory sampled from `/proc`, then a SIGKILL and a restart on the
//! same directory, timed to the line that says it resumed.
//!
//! ```text
//! cargo build --release -p altlayer-node --bins --examples
//! target/release/examples/large_state [ACCOUNTS] [SECONDS_OF_LOAD]
//! ```
//!
//! Linux only (it reads `/proc/PID/status`). The figures go in `benches/README.md`.

use alloy_eips::Encodable2718;
use alloy_primitives::{U256, hex};
use altlayer_core::dev::DevAccount;
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

fn main() {
    let mut args = std::env::args().skip(1);
    let accounts: u64 = args
        .next()
        .map_or(1_000_000, |a| a.parse().expect("ACCOUNTS"));
    let seconds: u64 = args.next().map_or(60, |a| a.parse().expect("SECONDS"));
    let binary = std::env::current_exe()
        .expect("this example's path")
        .parent()
        .and_then(|examples| examples.parent())
        .expect("target/PROFILE/examples")
        .join("altlayer");
    let dir = std::env::temp_dir().join(format!("altlayer-large-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let spec = dir.join("large.toml");
    std::fs::write(
        &spec,
        format!(
            "[rollup]\nchain_id = 4242\nblock_time_ms = 1000\n\n[sequencing]\nmode = \"single\"\n\n\
             [genesis]\ndev_accounts = {accounts}\n\n[avs.mach]\noperators = 0\n\n\
             [avs.vital]\nchallenge_window_secs = 60\n\n\
             [storage]\ndatadir = \"data\"\ncache_mb = 256\n\n[rpc]\nhttp = \"127.0.0.1:0\"\n"
        ),
    )
    .expect("the spec");
    println!(
        "{accounts} accounts, {seconds} s of load, {}",
        binary.display()
    );

    let started = Instant::now();
    let (mut node, addr, lines) = start(&binary, &spec);
    println!(
        "first start (genesis built and written): JSON-RPC after {:.1} s, peak resident {} MiB",
        started.elapsed().as_secs_f64(),
        status(&node, "VmHWM") >> 10
    );
    let (sent, max_rss) = load(&node, addr, accounts, seconds);
    println!(
        "under load: {sent} transfers between random accounts, resident at most {} MiB (peak since start {} MiB)",
        max_rss >> 10,
        status(&node, "VmHWM") >> 10
    );
    node.kill().expect("SIGKILL");
    node.wait().expect("stopped");
    drop(lines);

    let restarted = Instant::now();
    let (mut node, addr, lines) = start(&binary, &spec);
    let resumed = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(120))
            .expect("the node resumes");
        if line.starts_with("resumed at block") {
            break restarted.elapsed();
        }
    };
    println!(
        "restart after SIGKILL: resumed after {:.2} s (process start included), resident {} MiB",
        resumed.as_secs_f64(),
        status(&node, "VmRSS") >> 10
    );
    let (sent, max_rss) = load(&node, addr, accounts, seconds);
    println!(
        "under load after the restart: {sent} transfers, resident at most {} MiB (peak since start {} MiB)",
        max_rss >> 10,
        status(&node, "VmHWM") >> 10
    );
    node.kill().expect("SIGKILL");
    node.wait().expect("stopped");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts the node; returns it, its JSON-RPC address and its output lines after the RPC's.
fn start(
    binary: &std::path::Path,
    spec: &std::path::Path,
) -> (Child, SocketAddr, mpsc::Receiver<String>) {
    let mut child = Command::new(binary)
        .args(["launch", spec.to_str().expect("a path")])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the node starts");
    let stdout = child.stdout.take().expect("piped");
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = sender.send(line);
        }
    });
    let addr = loop {
        let Ok(line) = lines.recv_timeout(Duration::from_secs(900)) else {
            break None;
        };
        if let Some(rest) = line.strip_prefix("rpc     http://") {
            break rest.split(' ').next().and_then(|a| a.parse().ok());
        }
    };
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the node did not print its RPC address");
    };
    (child, addr, lines)
}

/// A field of `/proc/PID/status`, in KiB.
fn status(child: &Child, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|value| value.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Sends transfers between random development accounts for `seconds`, sampling the resident
/// memory; returns how many were accepted and the largest sample (KiB).
fn load(child: &Child, addr: SocketAddr, accounts: u64, seconds: u64) -> (u64, u64) {
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(child.id());
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut sent, mut max_rss) = (0, 0);
    while Instant::now() < until {
        let from = DevAccount::new(next() % accounts);
        let to = DevAccount::new(next() % accounts).address;
        let nonce = call(
            addr,
            "eth_getTransactionCount",
            json!([from.address, "pending"]),
        )
        .and_then(|n| u64::from_str_radix(n.as_str()?.trim_start_matches("0x"), 16).ok());
        if let Some(nonce) = nonce {
            let tx = from.transfer(4242, nonce, to, U256::from(1_000u64));
            let raw = format!("0x{}", hex::encode(tx.encoded_2718()));
            if call(addr, "eth_sendRawTransaction", json!([raw])).is_some() {
                sent += 1;
            }
        }
        max_rss = max_rss.max(status(child, "VmRSS"));
    }
    (sent, max_rss)
}

/// One JSON-RPC call over HTTP/1.1; its result, if any.
fn call(addr: SocketAddr, method: &str, params: Value) -> Option<Value> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (_, body) = answer.split_once("\r\n\r\n")?;
    serde_json::from_str::<Value>(body)
        .ok()?
        .get("result")
        .cloned()
}
