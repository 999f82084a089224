//! Helpers shared by the tests that run the `altlayer` binary: starting it, reading its
//! output, and asking its JSON-RPC over plain HTTP/1.1.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

/// A running `altlayer` process, killed when dropped.
pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) lines: Vec<String>,
    pub(crate) addr: SocketAddr,
    /// The lines printed after `lines`, as the reader thread gets them.
    output: std::sync::mpsc::Receiver<String>,
}

impl Running {
    /// Kills the process (SIGKILL) and returns every line it printed after `lines`.
    pub(crate) fn kill(&mut self) -> Vec<String> {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
        // The reader thread stops at the end of the pipe, which the kill closed.
        self.output.iter().collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `altlayer args...` and reads its output until the RPC line, then the `extra` lines
/// after it. Output is read on a thread (which keeps draining it, so the node never blocks on
/// a full pipe); a node that prints nothing for a minute fails the test.
pub(crate) fn start(args: &[&str], extra: usize) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_altlayer"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("runs");
    let stdout = child.stdout.take().expect("piped");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // Nobody listening any more: keep draining.
            let _ = lines_tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let mut addr = None;
    let mut after = 0;
    while addr.is_none() || after < extra {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the node prints its RPC address and keeps running");
        if addr.is_some() {
            after += 1;
        } else if let Some(rest) = line.strip_prefix("rpc     http://") {
            addr = Some(rest.split(' ').next().unwrap().parse().unwrap());
        }
        lines.push(line);
    }
    Running {
        child,
        lines,
        addr: addr.unwrap(),
        output: lines_rx,
    }
}

/// One HTTP/1.1 POST of `body`; the status and the body of the answer.
pub(crate) fn post(addr: SocketAddr, body: &str) -> (u16, String) {
    let (status, _, body) = exchange(addr, "", body);
    (status, body)
}

/// One HTTP/1.1 POST of `body` with `headers` (each ending in CRLF); the status, the
/// answer's head (lowercase) and its body.
pub(crate) fn exchange(addr: SocketAddr, headers: &str, body: &str) -> (u16, String, String) {
    try_exchange(addr, headers, body).expect("the node answers over HTTP")
}

/// [`exchange`], `None` when the node does not answer (it may be dying).
pub(crate) fn try_exchange(
    addr: SocketAddr,
    headers: &str,
    body: &str,
) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.get(9..12)?.parse().ok()?;
    // jsonrpsee answers with a content length, never chunked.
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    Some((status, head.to_lowercase(), body.to_owned()))
}

/// The `altlayer` binary run with `args` to its end.
pub(crate) fn altlayer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_altlayer"))
        .args(args)
        .output()
        .expect("runs")
}

/// A failure as the CLI reports one: exit `code`, one line on standard error, no panic.
pub(crate) fn assert_one_line_error(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}

pub(crate) fn call(addr: SocketAddr, method: &str, params: Value) -> Value {
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (status, body) = post(addr, &request.to_string());
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("JSON");
    assert!(answer.get("error").is_none(), "{method}: {answer}");
    answer["result"].clone()
}

pub(crate) fn quantity(value: &Value) -> u64 {
    u64::from_str_radix(value.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

pub(crate) fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waited for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
