//! `rca replay --data-dir` stores incidents in the embedded store and
//! `rca graph ... --data-dir` queries them, with no server; bad store
//! settings are bad usage. (Neo4j through the CLI: `rca/tests/graph_neo4j.rs`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rca(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rca"))
        .args(args)
        .env_remove("RCA_NEO4J_URI")
        .env_remove("RCA_DATA_DIR")
        .output()
        .unwrap()
}

fn fixture(name: &str) -> String {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name);
    p.to_string_lossy().into_owned()
}

fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "exit {:?}: {err}", o.status.code());
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn replayed_incidents_are_stored_and_queried_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    for f in [
        "ingress_abuse-73",
        "ingress_abuse-79",
        "cpu_saturation-23",
        "ingress_abuse-73",
    ] {
        ok(&rca(&[
            "replay",
            &fixture(f),
            "--data-dir",
            data,
            "--out",
            out,
        ]));
    }
    let list: serde_json::Value = serde_json::from_str(&ok(&rca(&[
        "graph",
        "incidents",
        "--data-dir",
        data,
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!(
        list.as_array().unwrap().len(),
        3,
        "a replay was stored twice: {list:#}"
    );

    let gaps: serde_json::Value = serde_json::from_str(&ok(&rca(&[
        "graph",
        "gaps",
        "--data-dir",
        data,
        "--format",
        "json",
    ])))
    .unwrap();
    let gaps = gaps.as_array().unwrap();
    assert_eq!(gaps.len(), 3, "{gaps:#?}");
    assert!(gaps.iter().any(|g| g["detection_rule"] == "High4xxRate"));

    let id = list[0]["id"].as_str().unwrap();
    let show = ok(&rca(&["graph", "show", id, "--data-dir", data]));
    assert!(show.contains("detection rule: "), "{show}");
    assert!(show.contains("action (suggested)"), "{show}");

    let text = ok(&rca(&["graph", "recurring", "--data-dir", data]));
    assert!(text.contains("no component"), "{text}");
}

#[test]
fn graph_without_a_store_or_with_a_bad_uri_is_bad_usage() {
    let o = rca(&["graph", "gaps"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--neo4j-uri"));
    let o = rca(&["graph", "gaps", "--neo4j-uri", "http://x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("http://x"));
    let o = rca(&["graph", "gaps", "--data-dir", "/nonexistent/rca"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/rca"));
    let o = rca(&[
        "graph",
        "incidents",
        "--data-dir",
        ".",
        "--since",
        "yesterday",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("RFC 3339"));
}

#[test]
fn a_neo4j_that_is_down_is_a_clear_failure_for_queries() {
    let o = rca(&["graph", "gaps", "--neo4j-uri", "bolt://127.0.0.1:9"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("unavailable") && err.contains("127.0.0.1:9"),
        "{err}"
    );
}

#[test]
fn a_replay_while_neo4j_is_down_still_localises_and_keeps_the_incident() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = rca(&[
        "replay",
        &fixture("cpu_saturation-23"),
        "--neo4j-uri",
        "bolt://127.0.0.1:9",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        dir.path().join("out").to_str().unwrap(),
        "--format",
        "json",
    ]);
    let stdout = ok(&o);
    assert!(stdout.contains("\"ranking\""));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unreachable") && err.contains("1 waiting"),
        "{err}"
    );
    let outbox = std::fs::read_to_string(data.join("neo4j-outbox.jsonl")).unwrap();
    assert_eq!(outbox.lines().count(), 1);
    // And the local copy answers with no server.
    let list = ok(&rca(&[
        "graph",
        "incidents",
        "--data-dir",
        data.to_str().unwrap(),
    ]));
    assert_eq!(list.lines().count(), 1, "{list}");
}
