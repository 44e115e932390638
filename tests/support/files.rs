//! Folder snapshots: what a folder holds, to prove that a command changed nothing in it and
//! left no -wal, -shm or -journal file behind.

use std::collections::BTreeMap;
use std::path::Path;

/// Every file in `dir` (not recursive) and its bytes: compare two to prove nothing changed,
/// and that no -wal, -shm or -journal file was left behind.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("dir entry"))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read file"),
            )
        })
        .collect()
}

#[track_caller]
pub fn assert_unchanged(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
    what: &str,
) {
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(before),
        names(after),
        "{what}: files appeared or vanished"
    );
    for (name, bytes) in before {
        assert!(
            after.get(name) == Some(bytes),
            "{what}: {name} changed ({} -> {} bytes)",
            bytes.len(),
            after.get(name).map_or(0, Vec::len)
        );
    }
}

/// Every entry in `dir` (folders too, as empty): its name, length and a digest of its bytes.
pub fn snapshot_digests(dir: &Path) -> BTreeMap<String, (u64, String)> {
    use sha2::{Digest, Sha256};
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            let e = e.expect("entry");
            let bytes = if e.path().is_file() {
                std::fs::read(e.path()).expect("read")
            } else {
                Vec::new()
            };
            let digest = hex::encode(Sha256::digest(&bytes));
            (
                e.file_name().to_string_lossy().into_owned(),
                (bytes.len() as u64, digest),
            )
        })
        .collect()
}

/// The names of every entry in `dir`, sorted (to see that nothing was created).
pub fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}
