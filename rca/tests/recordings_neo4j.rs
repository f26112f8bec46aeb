//! Recorded windows with the real Neo4j (`scripts/stack up neo4j`, or
//! `RCA_TEST_NEO4J_URI`): `rca replay --neo4j-uri` records beside its data
//! directory and the graph holds where; verdicts given in Neo4j are judged
//! by `rca eval --format store --neo4j-uri` from the recordings it points
//! at. Fails, never skips, when Neo4j is not running.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use graph::store::{Feedback, GraphStore, Neo4jConfig, Neo4jStore, Verdict};

fn uri() -> String {
    std::env::var("RCA_TEST_NEO4J_URI").unwrap_or_else(|_| "bolt://127.0.0.1:7687".into())
}

fn rca(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rca"))
        .args(args)
        .env_remove("RCA_DATA_DIR")
        .env_remove("RCA_NEO4J_URI")
        .output()
        .unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "exit {:?}: {}\n(is Neo4j running? start it with scripts/stack up neo4j)",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A copy of fixture `name` whose alert is this run's own (its name carries
/// `tag`, its fingerprint too), so that its incident is new to a shared Neo4j.
fn own_copy(name: &str, tag: &str, into: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name);
    let to = into.join(name);
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(&from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    let path = to.join("alert.json");
    let mut alert: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for a in alert["alerts"].as_array_mut().unwrap() {
        let name = a["labels"]["alertname"]
            .as_str()
            .unwrap_or("Alert")
            .to_string();
        a["labels"]["alertname"] = format!("{name}-{tag}").into();
        a["fingerprint"] = format!("{tag}-{name}").into();
    }
    std::fs::write(&path, serde_json::to_vec(&alert).unwrap()).unwrap();
    to
}

#[test]
fn verdicts_in_neo4j_are_judged_from_the_recordings_it_points_at() {
    let tag = format!(
        "rec{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut stored = Vec::new();
    for name in ["cpu_saturation-23", "memory_leak-17"] {
        let fixture = own_copy(name, &tag, tmp.path());
        let loc = json(&rca(&[
            "replay",
            &fixture.display().to_string(),
            "--neo4j-uri",
            &uri(),
            "--data-dir",
            &data.display().to_string(),
            "--out",
            &tmp.path().join("out").display().to_string(),
            "--format",
            "json",
        ]));
        let id = loc["incident"]["id"].as_str().unwrap().to_string();
        assert!(data
            .join("recordings")
            .join(format!("{id}.tar.gz"))
            .is_file());
        stored.push((id, loc));
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let top = |loc: &serde_json::Value, i: usize| {
        loc["ranking"][i]["component"].as_str().unwrap().to_string()
    };
    rt.block_on(async {
        let store = Neo4jStore::connect(Neo4jConfig::new(uri(), None, None))
            .await
            .expect("Neo4j is up (scripts/stack up neo4j)");
        // The graph holds the record with where its recording is.
        let record = store
            .get(&stored[0].0)
            .await
            .unwrap()
            .expect("stored in neo4j");
        let rec = record.recording.expect("a recording reference");
        assert!(Path::new(&rec.path).is_file(), "{}", rec.path);
        let feedback = |verdict, root_cause: String| Feedback {
            verdict,
            root_cause,
            fault: None,
            note: String::new(),
            by: "oncall".into(),
            at: chrono::Utc::now(),
        };
        store
            .add_feedback(
                &stored[0].0,
                feedback(Verdict::Confirmed, top(&stored[0].1, 0)),
            )
            .await
            .unwrap()
            .unwrap();
        store
            .add_feedback(
                &stored[1].0,
                feedback(Verdict::Corrected, top(&stored[1].1, 1)),
            )
            .await
            .unwrap()
            .unwrap();
    });

    // No data directory: the recordings are found where the graph says.
    let report = json(&rca(&[
        "eval",
        "--format",
        "store",
        "--neo4j-uri",
        &uri(),
        "--case",
        &tag,
        "--output",
        "json",
    ]));
    assert_eq!(report["cases"], 2, "{report:#}");
    assert_eq!(report["ac_at_1"], 0.5, "{report:#}");
    for i in report["incidents"].as_array().unwrap() {
        assert_eq!(i["stored_top"], i["new_top"], "{i:#}");
    }
    assert!(
        report["skipped"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
}
