//! Bad usage and bad input through the real binary: exit code 2, a message
//! that names the file (and line), never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rca(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rca"))
        .args(args)
        .output()
        .unwrap()
}

fn a_fixture() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.into_iter()
        .find(|p| p.join("access.log").is_file())
        .unwrap()
}

/// A copy of a shipped fixture, to break.
fn copy_fixture() -> tempfile::TempDir {
    let src = a_fixture();
    let dst = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dst.path().join(p.file_name().unwrap())).unwrap();
    }
    dst
}

fn assert_bad_input(o: &Output, names: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in names {
        assert!(err.contains(n), "stderr should name {n:?}: {err}");
    }
}

fn replay(dir: &Path) -> Output {
    let out = tempfile::tempdir().unwrap();
    rca(&[
        "replay",
        dir.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ])
}

fn truncate(path: &Path, keep: f64) {
    let bytes = std::fs::read(path).unwrap();
    let n = (bytes.len() as f64 * keep) as usize;
    std::fs::write(path, &bytes[..n]).unwrap();
}

#[test]
fn a_missing_fixture_directory_is_named() {
    assert_bad_input(
        &rca(&["replay", "/nonexistent/incident-42"]),
        &["/nonexistent/incident-42"],
    );
}

#[test]
fn truncated_traces_name_the_file_and_line() {
    let d = copy_fixture();
    truncate(&d.path().join("traces.json"), 0.5);
    assert_bad_input(&replay(d.path()), &["traces.json", "line"]);
}

#[test]
fn malformed_metrics_name_the_file() {
    let d = copy_fixture();
    std::fs::write(
        d.path().join("metrics.json"),
        b"{\"queries\": [{\"signal\": 3}]}",
    )
    .unwrap();
    assert_bad_input(&replay(d.path()), &["metrics.json"]);
}

#[test]
fn an_empty_alert_names_the_file() {
    let d = copy_fixture();
    std::fs::write(d.path().join("alert.json"), b"").unwrap();
    assert_bad_input(&replay(d.path()), &["alert.json"]);
}

#[test]
fn a_garbled_access_log_line_is_named_by_number() {
    let d = copy_fixture();
    let p = d.path().join("access.log");
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str("this is not an access log line at all\n");
    let line = text.lines().count();
    std::fs::write(&p, text).unwrap();
    assert_bad_input(&replay(d.path()), &["access.log", &format!(":{line}")]);
}

/// `rca replay DIR --format json`: the exit code and the Localisation.
fn replay_json(dir: &Path) -> (Option<i32>, serde_json::Value, String) {
    let out = tempfile::tempdir().unwrap();
    let o = rca(&[
        "replay",
        dir.to_str().unwrap(),
        "--format",
        "json",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o.status.code(), v, stderr)
}

fn keep_only(d: &Path, keep: &[&str]) {
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if !keep.iter().any(|k| p.file_name().unwrap() == *k) {
            std::fs::remove_file(p).unwrap();
        }
    }
}

fn missing_modalities(v: &serde_json::Value) -> Vec<String> {
    v["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["modality"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_fixture_with_only_an_alert_is_an_incident_that_says_what_is_missing() {
    let d = copy_fixture();
    keep_only(d.path(), &["alert.json"]);
    let (code, v, err) = replay_json(d.path());
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["ranking"].as_array().map(Vec::len), Some(0), "{v:#}");
    assert_eq!(v["modalities"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        missing_modalities(&v),
        ["traces", "metrics", "access_logs", "logs"]
    );
    assert!(!v["incident"]["alert_name"].as_str().unwrap().is_empty());
    // The summary says so too.
    let o = replay(d.path());
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("nothing was observed in the window"),
        "{text}"
    );
}

#[test]
fn a_fixture_with_only_metrics_is_localised_from_them() {
    let d = copy_fixture();
    keep_only(d.path(), &["metrics.json"]);
    let (code, v, err) = replay_json(d.path());
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["modalities"], serde_json::json!(["metrics"]));
    assert_eq!(missing_modalities(&v), ["traces", "access_logs", "logs"]);
    assert!(!v["ranking"].as_array().unwrap().is_empty(), "{v:#}");
}

#[test]
fn an_empty_fixture_directory_holds_no_observations() {
    let d = tempfile::tempdir().unwrap();
    let o = replay(d.path());
    assert_bad_input(&o, &[d.path().to_str().unwrap(), "holds no observations"]);
}

#[test]
fn missing_modalities_are_reported() {
    let d = copy_fixture();
    std::fs::remove_file(d.path().join("traces.json")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = rca(&[
        "replay",
        d.path().to_str().unwrap(),
        "--format",
        "json",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!v["modalities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "traces"));
    assert!(
        v["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["modality"] == "traces"),
        "{v:#}"
    );
}

#[test]
fn bad_usage_exits_two() {
    assert_eq!(rca(&["replay"]).status.code(), Some(2));
    assert_eq!(rca(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        rca(&[
            "fixtures",
            "generate",
            "--out",
            "/tmp/x",
            "--fault",
            "meteor_strike"
        ])
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn an_unknown_target_is_bad_input() {
    let out = tempfile::tempdir().unwrap();
    let o = rca(&[
        "fixtures",
        "generate",
        "--out",
        out.path().to_str().unwrap(),
        "--seed",
        "3",
        "--fault",
        "latency",
        "--target",
        "no-such-service",
    ]);
    assert_bad_input(&o, &["no-such-service"]);
}

#[test]
fn eval_of_a_directory_without_cases_is_bad_input() {
    let d = tempfile::tempdir().unwrap();
    assert_bad_input(
        &rca(&["eval", "--dataset", d.path().to_str().unwrap()]),
        &["truth.json"],
    );
}
