//! Helpers shared by the integration tests: where the test data lives and
//! how an error must name its file.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ingest::IngestError;

/// `tests/data/<name>`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join(name)
}

/// The bytes of `tests/data/<name>`.
pub fn bytes(name: &str) -> Vec<u8> {
    let path = data(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("test data {}: {e}", path.display()))
}

/// Asserts that `err` is about `tests/data/<name>` and says so in its message.
pub fn assert_names_file(err: &IngestError, name: &str) {
    let msg = err.to_string();
    assert!(msg.contains(name), "error should name {name}: {msg}");
    assert_eq!(err.path(), data(name), "error path for {msg}");
}

/// Asserts that `err` is a line error at `line` of `tests/data/<name>`.
pub fn assert_names_line(err: &IngestError, name: &str, line: u64) {
    assert_names_file(err, name);
    match err {
        IngestError::MalformedLine { line: l, .. } => assert_eq!(*l, line, "{err}"),
        other => panic!("expected a line error at {line}, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&format!("{name}:{line}:")),
        "message should say {name}:{line}: {err}"
    );
}

/// `bytes` cut in the middle, as a torn download or a full disk leaves a file.
pub fn truncated(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len() / 2]
}
