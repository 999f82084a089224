//! The binary with a data directory: a devnet that resumes where it stopped, the `db` tools
//! on what it wrote, and data it must refuse (another chain's, a truncated or garbled file, a
//! directory it cannot use) refused with one line and a non-zero exit, the data untouched.

use std::{
    path::{Path, PathBuf},
    process::Output,
};

mod common;

use common::altlayer;

/// A refusal: exit 1, one line on standard error starting `error: `, no panic.
fn refused(output: &Output) {
    common::assert_one_line_error(output, 1);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: "), "stderr: {stderr}");
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("altlayer-datadir-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A single-sequencer devnet without MACH (a composition that resumes) on `dir`.
fn devnet(dir: &Path, blocks: u64, chain_id: u64) -> Output {
    altlayer(&[
        "devnet",
        "--blocks",
        &blocks.to_string(),
        "--txs-per-block",
        "10",
        "--block-time-ms",
        "50",
        "--sequencers",
        "1",
        "--mach-operators",
        "0",
        "--chain-id",
        &chain_id.to_string(),
        "--datadir",
        dir.to_str().unwrap(),
    ])
}

fn database(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join(altlayer_storage::DB_FILE)).unwrap()
}

/// What the database holds: its head and genesis, as `db stats` prints them, after `db
/// check` passed. (Opening and closing a redb file rewrites redb's own allocator state, so
/// the bytes of a database that was opened are not compared.)
fn holdings(dir: &Path) -> Vec<String> {
    let check = altlayer(&["db", "check", dir.to_str().unwrap()]);
    assert!(check.status.success(), "{check:?}");
    let stats = altlayer(&["db", "stats", dir.to_str().unwrap()]);
    String::from_utf8_lossy(&stats.stdout)
        .lines()
        .filter(|l| l.starts_with("head") || l.starts_with("genesis"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_devnet_resumes_from_its_data_directory_and_the_db_tools_read_it() {
    let dir = temp("resume");
    let first = devnet(&dir, 3, 1337);
    assert!(first.status.success(), "{first:?}");
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("storage "), "{stdout}");
    let again = devnet(&dir, 6, 1337);
    assert!(again.status.success(), "{again:?}");
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("resumed at block 3"), "{stdout}");
    assert!(stdout.contains("block     6"), "{stdout}");
    assert!(!stdout.contains("block     1 "), "{stdout}");
    // Nothing the load generator sent after the restart was refused (its nonces resumed).
    assert!(stdout.contains("(0 rejected)"), "{stdout}");

    let stats = altlayer(&["db", "stats", dir.to_str().unwrap()]);
    assert!(stats.status.success(), "{stats:?}");
    let stats = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.contains("head     block 6"), "{stats}");
    assert!(stats.contains("table    headers"), "{stats}");
    let check = altlayer(&["db", "check", dir.to_str().unwrap()]);
    assert!(check.status.success(), "{check:?}");
    assert!(String::from_utf8_lossy(&check.stdout).contains("ok"));
    let prune = altlayer(&["db", "prune", dir.to_str().unwrap(), "--history", "2"]);
    assert!(prune.status.success(), "{prune:?}");
    assert!(
        altlayer(&["db", "check", dir.to_str().unwrap()])
            .status
            .success()
    );
    // The chain goes on after a prune.
    assert!(devnet(&dir, 8, 1337).status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn data_the_node_must_not_use_is_refused_in_one_line_and_left_alone() {
    let dir = temp("refuse");
    assert!(devnet(&dir, 2, 1337).status.success());
    let held = holdings(&dir);
    assert_eq!(held.len(), 2, "{held:?}");

    // Another chain's database.
    let other = devnet(&dir, 2, 5);
    refused(&other);
    assert!(String::from_utf8_lossy(&other.stderr).contains("another chain"));
    assert_eq!(holdings(&dir), held);

    // A SQUAD devnet on the chain a single sequencer ran: the records are not a set's.
    let squad = altlayer(&[
        "devnet",
        "--blocks",
        "2",
        "--txs-per-block",
        "10",
        "--datadir",
        dir.to_str().unwrap(),
    ]);
    refused(&squad);
    assert!(
        String::from_utf8_lossy(&squad.stderr)
            .contains("it was run with a single sequencer and no MACH, this spec runs a SQUAD set of 4 and a MACH committee of 4"),
        "{}",
        String::from_utf8_lossy(&squad.stderr)
    );
    assert_eq!(holdings(&dir), held);
    let before = database(&dir);

    // The file cut short, and its header garbled.
    let path = dir.join(altlayer_storage::DB_FILE);
    for (what, bytes) in [
        ("truncated", before[..before.len() / 2].to_vec()),
        ("garbled", {
            let mut garbled = before.clone();
            for byte in &mut garbled[..64] {
                *byte ^= 0xa5;
            }
            garbled
        }),
        ("not a database", b"hello".to_vec()),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        for output in [
            devnet(&dir, 3, 1337),
            altlayer(&["db", "check", dir.to_str().unwrap()]),
            altlayer(&["db", "stats", dir.to_str().unwrap()]),
        ] {
            refused(&output);
            assert!(
                std::fs::read(&path).unwrap() == bytes,
                "{what}: the file was changed"
            );
        }
    }

    // A data directory that is a file, and one without permission.
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let output = devnet(&file, 2, 1337);
    refused(&output);
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot use data directory"));
    refused(&altlayer(&[
        "db",
        "check",
        dir.join("missing").to_str().unwrap(),
    ]));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.join("locked");
        std::fs::create_dir_all(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        // root ignores permissions: the check means something for other users only.
        if std::fs::read_dir(&locked).is_err() {
            let output = devnet(&locked.join("data"), 2, 1337);
            refused(&output);
        }
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_node_stopped_after_a_revert_took_its_chain_back_goes_forward_again() {
    use altlayer_core::storage::StateStore;
    let dir = temp("forward");
    assert!(devnet(&dir, 6, 1337).status.success());
    // What the first half of a revert leaves when the node stops before its records: the
    // store taken back (to block 3), the records still standing on block 6.
    {
        let store = altlayer_storage::RedbStore::open_existing(
            &dir,
            altlayer_storage::StoreOptions::default(),
        )
        .unwrap();
        store.unwind(3).unwrap();
        assert_eq!(store.head().unwrap().unwrap().height, 3);
    }
    let again = devnet(&dir, 8, 1337);
    assert!(again.status.success(), "{again:?}");
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("resumed at block 6"), "{stdout}");
    assert!(stdout.contains("block     8"), "{stdout}");
    assert!(stdout.contains("(0 rejected)"), "{stdout}");
    let check = altlayer(&["db", "check", dir.to_str().unwrap()]);
    assert!(check.status.success(), "{check:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
