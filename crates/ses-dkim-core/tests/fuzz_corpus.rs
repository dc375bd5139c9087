//! Replays the checked-in fuzz corpora on the stable toolchain, with the same checks the fuzz
//! targets run, so that a regression on a known input fails CI without libFuzzer or nightly.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

// Public so that its items, public for the fuzz crate that includes the same file, are reachable.
pub mod fuzz_checks;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

/// Runs one target's check on every file of its corpus and returns how many there were.
fn replay(target: &str, check: fuzz_checks::Check) -> usize {
    let dir = corpus_root().join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus of {target}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        // Name the input that broke an invariant; the check's own message says which.
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            panic!("{target}: the check failed on {}", file.display());
        }
    }
    files.len()
}

#[test]
fn every_corpus_belongs_to_a_target() {
    let mut on_disk: Vec<String> = std::fs::read_dir(corpus_root())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let mut targets: Vec<String> = fuzz_checks::TARGETS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    targets.sort();
    assert_eq!(on_disk, targets);
}

#[test]
fn replay_parse_response_corpus() {
    // The fixtures and botocore's parse vectors seed it.
    assert!(replay("parse_response", fuzz_checks::parse_response) >= 13);
}

#[test]
fn replay_domain_corpus() {
    assert!(replay("domain", fuzz_checks::domain) >= 1);
}

#[test]
fn replay_list_line_corpus() {
    assert!(replay("list_line", fuzz_checks::list_line) >= 1);
}

#[test]
fn status_prefix_is_big_endian_modulo_600() {
    assert_eq!(
        fuzz_checks::split_status(b"\x00\xc8<a/>"),
        Some((200, &b"<a/>"[..]))
    );
    assert_eq!(
        fuzz_checks::split_status(b"\x01\x93"),
        Some((403, &b""[..]))
    );
    assert_eq!(
        fuzz_checks::split_status(b"\xff\xff"),
        Some((65_535 % 600, &b""[..]))
    );
    assert_eq!(fuzz_checks::split_status(b"\x00"), None);
}

#[test]
fn replay_error_response_corpus() {
    assert!(replay("error_response", fuzz_checks::error_response) >= 5);
}

#[test]
fn replay_status_response_corpus() {
    assert!(replay("status_response", fuzz_checks::status_response) >= 3);
}

#[test]
fn replay_list_reader_corpus() {
    assert!(replay("list_reader", fuzz_checks::list_reader) >= 3);
}
