//! Recorded windows, end to end through the binary with the embedded store:
//! `rca replay --data-dir` records every fixture beside the store, the
//! recording replays to the stored ranking, and `rca eval --format store`
//! judges the incidents with a verdict by their recordings.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use graph::store::{EmbeddedStore, Feedback, GraphStore, Verdict};

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("truth.json").is_file())
        .collect();
    dirs.sort();
    dirs
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
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn replay(fixture: &Path, data: Option<&Path>, out: &Path) -> serde_json::Value {
    let mut args = vec![
        "replay".to_string(),
        fixture.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    if let Some(d) = data {
        args.extend(["--data-dir".into(), d.display().to_string()]);
    }
    json(&rca(&args.iter().map(String::as_str).collect::<Vec<_>>()))
}

fn verdict(verdict: Verdict, root_cause: &str) -> Feedback {
    Feedback {
        verdict,
        root_cause: root_cause.to_string(),
        fault: None,
        note: String::new(),
        by: "oncall@example.com".into(),
        at: chrono::Utc::now(),
    }
}

#[test]
fn every_recording_replays_to_the_stored_ranking_and_eval_store_judges_the_verdicts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut stored = Vec::new();
    for f in fixtures() {
        let loc = replay(&f, Some(&data), &tmp.path().join("out"));
        let id = loc["incident"]["id"].as_str().unwrap().to_string();
        let archive = data.join("recordings").join(format!("{id}.tar.gz"));
        assert!(
            archive.is_file(),
            "{}: no {}",
            f.display(),
            archive.display()
        );
        // The recording, replayed with no store, gives the very same answer.
        let again = replay(&archive, None, &tmp.path().join("out2"));
        assert_eq!(
            again,
            loc,
            "{}: replayed from {}",
            f.display(),
            archive.display()
        );
        stored.push((f, id, loc));
    }
    assert!(stored.len() >= 20);

    // Verdicts: three confirmed, one corrected to another component, and one
    // whose recording is gone.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let top = |loc: &serde_json::Value, i: usize| {
        loc["ranking"][i]["component"].as_str().unwrap().to_string()
    };
    rt.block_on(async {
        let store = EmbeddedStore::open(&data).unwrap();
        for (_, id, loc) in &stored[..3] {
            let v = verdict(Verdict::Confirmed, &top(loc, 0));
            assert!(store.add_feedback(id, v).await.unwrap().is_some());
        }
        let (_, id, loc) = &stored[3];
        let v = verdict(Verdict::Corrected, &top(loc, 1));
        store.add_feedback(id, v).await.unwrap();
        let (_, id, loc) = &stored[4];
        store
            .add_feedback(id, verdict(Verdict::Confirmed, &top(loc, 0)))
            .await
            .unwrap();
        store.close().await;
    });
    std::fs::remove_file(
        data.join("recordings")
            .join(format!("{}.tar.gz", stored[4].1)),
    )
    .unwrap();

    let out = rca(&[
        "eval",
        "--format",
        "store",
        "--data-dir",
        &data.display().to_string(),
        "--output",
        "json",
    ]);
    let report = json(&out);
    assert_eq!(report["cases"], 4, "{report:#}");
    // Three hits of four: the corrected one names the second-ranked.
    assert_eq!(report["ac_at_1"], 0.75, "{report:#}");
    assert_eq!(report["ac_at_3"], 1.0, "{report:#}");
    let incidents = report["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 4);
    for i in incidents {
        assert_eq!(i["stored_top"], i["new_top"], "{i:#}");
        assert_eq!(i["stored_rank"], i["new_rank"], "{i:#}");
    }
    let corrected = incidents
        .iter()
        .find(|i| i["incident"] == stored[3].1.as_str())
        .unwrap();
    assert_eq!(corrected["verdict"], "corrected");
    assert_eq!(corrected["new_rank"], 2);
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{report:#}");
    assert_eq!(skipped[0]["incident"], stored[4].1.as_str());
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("recording is gone"),
        "{skipped:?}"
    );

    // The text report says the same, per incident.
    let text = rca(&[
        "eval",
        "--format",
        "store",
        "--data-dir",
        &data.display().to_string(),
    ]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("stored AC@1 0.750  new AC@1 0.750"), "{text}");
    assert!(text.contains(&format!("skipped {}", stored[4].1)), "{text}");
}

#[test]
fn eval_store_says_what_it_needs() {
    let out = rca(&["eval", "--format", "store"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--data-dir"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let f = &fixtures()[0];
    replay(f, Some(empty.path()), &empty.path().join("out"));
    let out = rca(&[
        "eval",
        "--format",
        "store",
        "--data-dir",
        &empty.path().display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no stored incident has a verdict"), "{err}");
}

#[test]
fn a_broken_recording_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("x.tar.gz");
    std::fs::write(&bad, b"not gzip at all").unwrap();
    let out = rca(&[
        "replay",
        &bad.display().to_string(),
        "--out",
        &tmp.path().display().to_string(),
    ]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("x.tar.gz") && err.contains("tar"), "{err}");
}
