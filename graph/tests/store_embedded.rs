//! The embedded store: the contract, and what only a file-backed store can
//! get wrong (restarts, a second opener, a crash mid-write, a damaged file).

mod common;

use std::sync::Arc;

use graph::store::{
    ActionStatus, Background, EmbeddedStore, GraphStore, IncidentQuery, StoreError,
};
use graph::FaultKind;

fn fresh() -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    (dir, store)
}

#[tokio::test]
async fn contract_put_get_idempotent() {
    let (_d, s) = fresh();
    common::put_get_idempotent(&s, &common::namespace("e")).await;
}

#[tokio::test]
async fn contract_incidents_by_component_and_time() {
    let (_d, s) = fresh();
    common::incidents_by_component_and_time(&s, &common::namespace("e")).await;
}

#[tokio::test]
async fn contract_recurring_root_causes() {
    let (_d, s) = fresh();
    common::recurring_root_causes(&s, &common::namespace("e")).await;
}

#[tokio::test]
async fn contract_coverage_gaps() {
    let (_d, s) = fresh();
    common::coverage_gaps(&s, &common::namespace("e")).await;
}

#[tokio::test]
async fn contract_whole_graph_and_hostile_values() {
    let (_d, s) = fresh();
    common::whole_graph_and_hostile_values(&s, &common::namespace("e")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_concurrent_puts() {
    let (_d, s) = fresh();
    common::concurrent_puts(Arc::new(s), &common::namespace("e")).await;
}

#[tokio::test]
async fn incidents_survive_a_restart_and_replays_do_not_grow_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ns = common::namespace("e");
    let rec = common::spec(
        &ns,
        1,
        &[("db", FaultKind::CpuSaturation)],
        &["db", "web"],
        0,
    )
    .record();
    {
        let s = EmbeddedStore::open(dir.path()).unwrap();
        s.put(&rec).await.unwrap();
    }
    let size = std::fs::metadata(dir.path().join("incidents.jsonl"))
        .unwrap()
        .len();
    let s = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(s.get(rec.id()).await.unwrap().as_ref(), Some(&rec));
    s.put(&rec).await.unwrap();
    assert_eq!(
        std::fs::metadata(dir.path().join("incidents.jsonl"))
            .unwrap()
            .len(),
        size
    );
    assert_eq!(s.gaps().await.unwrap().len(), 1);
}

#[test]
fn a_second_opener_is_refused_with_a_clear_error() {
    let (dir, _s) = fresh();
    let err = EmbeddedStore::open(dir.path())
        .err()
        .expect("second open must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("store.lock") && msg.contains("in use"),
        "{msg}"
    );
    drop(_s);
    EmbeddedStore::open(dir.path()).expect("free again once the first is closed");
}

#[test]
fn a_line_cut_short_by_a_crash_is_dropped_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let ns = common::namespace("e");
    let a = common::spec(&ns, 1, &[("db", FaultKind::CpuSaturation)], &["db"], 0).record();
    let b = common::spec(&ns, 2, &[("db", FaultKind::CpuSaturation)], &["db"], 1).record();
    {
        let s = EmbeddedStore::open(dir.path()).unwrap();
        s.put_blocking(&a).unwrap();
        s.put_blocking(&b).unwrap();
    }
    let file = dir.path().join("incidents.jsonl");
    let len = std::fs::metadata(&file).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.set_len(len - 40).unwrap();
    drop(f);
    let s = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s.get_blocking(a.id()).unwrap().as_ref(), Some(&a));
    // Writing again after the cut gives a whole file.
    s.put_blocking(&b).unwrap();
    drop(s);
    let s = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s.get_blocking(b.id()).unwrap().as_ref(), Some(&b));
}

#[test]
fn a_damaged_line_is_an_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let ns = common::namespace("e");
    let a = common::spec(&ns, 1, &[("db", FaultKind::CpuSaturation)], &["db"], 0).record();
    {
        let s = EmbeddedStore::open(dir.path()).unwrap();
        s.put_blocking(&a).unwrap();
    }
    let file = dir.path().join("incidents.jsonl");
    let good = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{good}{{\"localisation\": 1}}\n{good}")).unwrap();
    let err = EmbeddedStore::open(dir.path()).err().unwrap();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("incidents.jsonl:2"), "{err}");
}

#[test]
fn superseded_lines_are_compacted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let ns = common::namespace("e");
    {
        let s = EmbeddedStore::open(dir.path()).unwrap();
        for i in 0..100u32 {
            // The same incident, re-analysed 100 times: a new score each time.
            let mut r =
                common::spec(&ns, 1, &[("db", FaultKind::CpuSaturation)], &["db"], 0).record();
            r.localisation.ranking[0].score = f64::from(i);
            s.put_blocking(&r).unwrap();
        }
    }
    let file = dir.path().join("incidents.jsonl");
    let lines = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count();
    assert_eq!(lines(&file), 100);
    let s = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(lines(&file), 1);
    let got = s.get_blocking(&format!("{ns}inc-1")).unwrap().unwrap();
    assert_eq!(got.localisation.ranking[0].score, 99.0);
}

#[test]
fn an_ingress_abuse_fixture_suggests_a_waf_rule_for_its_user_agents() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/ingress_abuse-73");
    let fixture = ingest::load_fixture(&dir).unwrap();
    let loc = graph::localise(&fixture.observations, &graph::EngineConfig::default()).unwrap();
    assert_eq!(loc.ranking[0].fault, FaultKind::IngressAbuse);
    let rec = graph::store::IncidentRecord::new(loc, chrono::Utc::now());
    let waf = &rec.actions[0];
    assert!(
        waf.id.starts_with("waf:block-user-agent:"),
        "{:?}",
        rec.actions
    );
    assert_eq!(waf.status, ActionStatus::Suggested);
    let agents: Vec<&str> = rec.localisation.ranking[0]
        .evidence
        .iter()
        .flat_map(|e| e.top_user_agents.iter().map(|c| c.value.as_str()))
        .collect();
    assert!(!agents.is_empty());
    assert!(
        agents.iter().any(|a| waf.description.contains(a)),
        "{}",
        waf.description
    );
    assert_eq!(rec.detection_rule(), Some("High4xxRate"));
    // Same incident, same id: the WAF rule is stable.
    let again = graph::store::IncidentRecord::new(rec.localisation.clone(), chrono::Utc::now());
    assert_eq!(again.actions, rec.actions);
}

#[tokio::test]
async fn query_defaults_page_at_one_hundred() {
    let (_d, s) = fresh();
    let ns = common::namespace("e");
    for n in 0..120u32 {
        s.put(&common::spec(&ns, n, &[("db", FaultKind::CpuSaturation)], &["db"], n).record())
            .await
            .unwrap();
    }
    assert_eq!(
        s.incidents(&IncidentQuery::default()).await.unwrap().len(),
        100
    );
}

#[test]
fn a_read_only_snapshot_needs_no_lock_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(EmbeddedStore::open_read_only(dir.path().join("none"))
        .unwrap()
        .is_empty());
    let ns = common::namespace("e");
    let a = common::spec(&ns, 1, &[("db", FaultKind::CpuSaturation)], &["db"], 0).record();
    let writer = EmbeddedStore::open(dir.path()).unwrap();
    writer.put_blocking(&a).unwrap();
    // A writer in the middle of a line.
    let file = dir.path().join("incidents.jsonl");
    let before = std::fs::read(&file).unwrap();
    std::fs::write(&file, [&before[..], b"{\"localis"].concat()).unwrap();
    let reader = EmbeddedStore::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.get_blocking(a.id()).unwrap().as_ref(), Some(&a));
    assert_eq!(
        std::fs::read(&file).unwrap().len(),
        before.len() + 9,
        "the reader cut the file"
    );
    let err = reader.put_blocking(&a).unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
}

#[tokio::test]
async fn open_without_neo4j_gives_the_embedded_store_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = graph::store::StoreConfig {
        data_dir: dir.path().join("data"),
        neo4j: None,
    };
    let ns = common::namespace("e");
    let rec = common::spec(&ns, 1, &[("db", FaultKind::Latency)], &["db"], 0).record();
    {
        let store = graph::store::open(cfg.clone(), &Background::default())
            .await
            .unwrap();
        store.put(&rec).await.unwrap();
        assert_eq!(store.pending(), 0);
    }
    let again = graph::store::open(cfg, &Background::default())
        .await
        .unwrap();
    assert_eq!(again.get(rec.id()).await.unwrap(), Some(rec));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_feedback_round_trips() {
    let (_d, s) = fresh();
    common::feedback_round_trips(Arc::new(s), &common::namespace("e")).await;
}

/// Verdicts survive a restart of the store (they are in the file's lines).
#[tokio::test]
async fn verdicts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ns = common::namespace("e");
    let rec = common::spec(&ns, 1, &[("db", FaultKind::Latency)], &["db", "web"], 0).record();
    {
        let s = EmbeddedStore::open(dir.path()).unwrap();
        s.put(&rec).await.unwrap();
        let v = common::verdict(&ns, graph::store::Verdict::Corrected, "web", "alice", 3);
        s.add_feedback(rec.id(), v).await.unwrap();
    }
    let s = EmbeddedStore::open(dir.path()).unwrap();
    let listed = s.verdicts(&IncidentQuery::default()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].feedback.root_cause, format!("{ns}web"));
}

#[tokio::test]
async fn contract_resolution_round_trips() {
    let (_d, s) = fresh();
    common::resolution_round_trips(&s, &common::namespace("e")).await;
}
