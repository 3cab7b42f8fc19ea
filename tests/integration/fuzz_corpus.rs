//! Replays the fuzz corpus on a stable toolchain: every file under `fuzz/corpus/<target>/` goes
//! through the same body the cargo-fuzz target runs (`fuzz/src/lib.rs`, included here by path, so
//! there is one copy of each body). A crash found by fuzzing is added to the corpus and from then
//! on fails this test until fixed. See FUZZING.md.

use std::path::Path;

#[path = "../../fuzz/src/lib.rs"]
mod bodies;

/// Run every corpus file of `target` through `body`; the number of files run.
fn replay(target: &str, body: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| body(&data));
        assert!(outcome.is_ok(), "{target}: {} panicked", file.display());
    }
    assert!(
        !files.is_empty(),
        "{target}: empty corpus in {}",
        dir.display()
    );
    files.len()
}

#[test]
fn kana_ws_decode_corpus() {
    replay("kana_ws_decode", bodies::kana_ws_decode);
}

#[test]
fn kana_rest_decode_corpus() {
    replay("kana_rest_decode", bodies::kana_rest_decode);
}

#[test]
fn config_load_corpus() {
    replay("config_load", bodies::config_load);
}

#[test]
fn bcs_arg_encode_corpus() {
    replay("bcs_arg_encode", bodies::bcs_arg_encode);
}
