//! anvil, foundry's local Ethereum node, as the L1 of tests and of `altlayer devnet --l1
//! anvil`: the binary from npm (`@foundry-rs/anvil-linux-amd64`, pinned in
//! `contracts/package-lock.json`), installed by `contracts/setup` the first time it is
//! needed, started on a free loopback port and killed when its handle drops.

use crate::L1Error;
use alloy_node_bindings::{Anvil, AnvilInstance};
use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
};

/// The environment variable that names an anvil binary to use instead of the npm one.
pub const ANVIL_ENV: &str = "ALTLAYER_ANVIL";

/// The workspace's `contracts/` directory (where its npm packages install), as this crate was
/// built from.
pub fn contracts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts")
}

/// The anvil binary: `$ALTLAYER_ANVIL`, else the one npm installs under `contracts/`
/// (running `contracts/setup` first if it is not there yet).
pub fn anvil_path() -> Result<PathBuf, L1Error> {
    if let Some(path) = std::env::var_os(ANVIL_ENV) {
        return Ok(PathBuf::from(path));
    }
    let contracts = contracts_dir();
    let path = contracts.join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if path.is_file() {
        return Ok(path);
    }
    // One installation at a time within the process (tests start anvil from many threads).
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !path.is_file() {
        let setup = contracts.join("setup");
        let status = Command::new("bash")
            .arg(&setup)
            .status()
            .map_err(|e| L1Error::Anvil(format!("cannot run {}: {e}", setup.display())))?;
        if !status.success() || !path.is_file() {
            return Err(L1Error::Anvil(format!(
                "{} did not install anvil ({status}); set {ANVIL_ENV} to an anvil binary",
                setup.display()
            )));
        }
    }
    Ok(path)
}

/// Starts anvil on a free port of 127.0.0.1 with the Prague rules (what the contracts are
/// compiled for) and `args` added; it stops when the returned handle drops.
pub fn spawn_anvil(args: &[&str]) -> Result<AnvilInstance, L1Error> {
    Anvil::at(anvil_path()?)
        .host("127.0.0.1")
        .port(0u16)
        .prague()
        .args(args)
        .try_spawn()
        .map_err(|e| L1Error::Anvil(e.to_string()))
}
