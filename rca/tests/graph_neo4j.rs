//! `rca replay --neo4j-uri` and `rca graph ... --neo4j-uri` against the real
//! Neo4j (`scripts/stack up neo4j`, or `RCA_TEST_NEO4J_URI`); fails, never
//! skips, when it is not running.

use std::path::Path;
use std::process::{Command, Output};

fn uri() -> String {
    std::env::var("RCA_TEST_NEO4J_URI").unwrap_or_else(|_| "bolt://127.0.0.1:7687".into())
}

fn rca(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rca"))
        .args(args)
        .args(["--neo4j-uri", &uri()])
        .env_remove("RCA_DATA_DIR")
        .output()
        .unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "exit {:?}: {err}\n(is Neo4j running? start it with scripts/stack up neo4j)",
        o.status.code()
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_replayed_incident_is_queried_back_from_neo4j() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/ingress_abuse-79");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "replay".to_string(),
            fixture.to_string_lossy().into_owned(),
            "--data-dir".into(),
            dir.path().join("data").to_string_lossy().into_owned(),
            "--out".into(),
            dir.path().join("out").to_string_lossy().into_owned(),
            "--format".into(),
            "json".into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let a = args(&[]);
    let loc = json(&rca(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    let id = loc["incident"]["id"].as_str().unwrap();
    let root = loc["ranking"][0]["component"].as_str().unwrap();
    let err =
        String::from_utf8_lossy(&rca(&a.iter().map(String::as_str).collect::<Vec<_>>()).stderr)
            .into_owned();
    assert!(err.contains("stored in neo4j"), "{err}");

    let list = json(&rca(&[
        "graph",
        "incidents",
        "--component",
        root,
        "--format",
        "json",
        "--limit",
        "1000",
    ]));
    let hits: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["id"] == id)
        .collect();
    assert_eq!(hits.len(), 1, "{list:#}");

    let g = json(&rca(&["graph", "show", id, "--format", "json"]));
    assert_eq!(g["detection_rule"], "High4xxRate");
    assert_eq!(g["path"], loc["path"]);
    assert_eq!(
        g["calls"].as_array().unwrap().len(),
        loc["edges"].as_array().unwrap().len()
    );
    assert!(g["actions"][0]["id"]
        .as_str()
        .unwrap()
        .starts_with("waf:block-user-agent:"));

    let gaps = json(&rca(&["graph", "gaps", "--format", "json"]));
    assert!(
        gaps.as_array()
            .unwrap()
            .iter()
            .any(|x| x["components"] == loc["path"] && x["detection_rule"] == "High4xxRate"),
        "the incident's attack path is not among the gaps"
    );
}
