//! The Neo4j store against a real Neo4j (`scripts/stack up neo4j`, or
//! `RCA_TEST_NEO4J_URI`): the same contract as the embedded store, with and
//! without the local copy, and the schema's idempotence. These tests fail,
//! never skip, when Neo4j is not running.

mod common;

use std::sync::Arc;

use graph::store::{Background, GraphStore, Neo4jStore};
use graph::FaultKind;

#[tokio::test]
async fn contract_put_get_idempotent() {
    let s = common::neo4j_direct().await;
    common::put_get_idempotent(&s, &common::namespace("n")).await;
}

#[tokio::test]
async fn contract_put_get_idempotent_with_local_copy() {
    common::neo4j_direct().await;
    let dir = tempfile::tempdir().unwrap();
    let s = Neo4jStore::open(common::neo4j_config(), dir.path(), &Background::default())
        .await
        .unwrap();
    common::put_get_idempotent(&s, &common::namespace("n")).await;
    assert_eq!(s.pending(), 0);
}

#[tokio::test]
async fn contract_incidents_by_component_and_time() {
    let s = common::neo4j_direct().await;
    common::incidents_by_component_and_time(&s, &common::namespace("n")).await;
}

#[tokio::test]
async fn contract_recurring_root_causes() {
    let s = common::neo4j_direct().await;
    common::recurring_root_causes(&s, &common::namespace("n")).await;
}

#[tokio::test]
async fn contract_coverage_gaps() {
    let s = common::neo4j_direct().await;
    common::coverage_gaps(&s, &common::namespace("n")).await;
}

#[tokio::test]
async fn contract_whole_graph_and_hostile_values() {
    let s = common::neo4j_direct().await;
    common::whole_graph_and_hostile_values(&s, &common::namespace("n")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_concurrent_puts() {
    let s = common::neo4j_direct().await;
    common::concurrent_puts(Arc::new(s), &common::namespace("n")).await;
}

#[tokio::test]
async fn an_incident_written_elsewhere_is_read_back_whole_from_neo4j() {
    let direct = common::neo4j_direct().await;
    let ns = common::namespace("n");
    let rec = common::spec(&ns, 1, &[("db", FaultKind::MemoryLeak)], &["db", "web"], 0).record();
    direct.put(&rec).await.unwrap();
    // A store with an empty local copy finds it in Neo4j.
    let dir = tempfile::tempdir().unwrap();
    let s = Neo4jStore::open(common::neo4j_config(), dir.path(), &Background::default())
        .await
        .unwrap();
    assert_eq!(s.get(rec.id()).await.unwrap().as_ref(), Some(&rec));
}

#[tokio::test]
async fn a_wrong_address_is_unavailable_not_a_panic() {
    let cfg = graph::store::Neo4jConfig::new("bolt://127.0.0.1:9", None, None);
    let s = Neo4jStore::connect(cfg).await.unwrap();
    let err = s.gaps().await.unwrap_err();
    assert!(
        matches!(err, graph::store::StoreError::Unavailable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
    // neo4rs's own error is kept as the cause, not flattened to text.
    let cause = std::error::Error::source(&err).expect("a source");
    assert!(cause.downcast_ref::<neo4rs::Error>().is_some(), "{cause:?}");
    // A URI that is no Bolt URI is a settings error, before any network.
    let bad = graph::store::Neo4jConfig::new("http//nope", None, None);
    match Neo4jStore::connect(bad).await {
        Err(e @ graph::store::StoreError::Config(_)) => {
            assert!(e.to_string().contains("is not bolt://"), "{e}")
        }
        Err(e) => panic!("a bad uri is not a settings error: {e:?}"),
        Ok(_) => panic!("a bad uri was accepted"),
    }
}

#[tokio::test]
async fn open_with_a_neo4j_config_gives_the_neo4j_store() {
    let direct = common::neo4j_direct().await;
    let dir = tempfile::tempdir().unwrap();
    let store = graph::store::open(
        graph::store::StoreConfig {
            data_dir: dir.path().to_path_buf(),
            neo4j: Some(common::neo4j_config()),
        },
        &Background::default(),
    )
    .await
    .unwrap();
    let ns = common::namespace("n");
    let rec = common::spec(&ns, 1, &[("db", FaultKind::Latency)], &["db", "web"], 0).record();
    store.put(&rec).await.unwrap();
    assert_eq!(store.pending(), 0);
    assert_eq!(
        direct.get(rec.id()).await.unwrap(),
        Some(rec.clone()),
        "not in Neo4j"
    );
    assert!(dir.path().join("neo4j-outbox.jsonl").exists());
    assert!(dir.path().join("incidents.jsonl").exists(), "no local copy");
}

/// The outbox's retry task runs on the owner's tracker and ends when the
/// owner's token is cancelled or the store is closed through the trait (as
/// `rca serve` does at shutdown): nothing of the store outlives its owner.
#[tokio::test]
async fn the_retry_task_is_the_owners_and_ends_on_close_or_cancel() {
    // No server is needed: opening succeeds while Neo4j is unreachable.
    let down = graph::store::Neo4jConfig::new("bolt://127.0.0.1:9", None, None);
    let dir = tempfile::tempdir().unwrap();
    let bg = Background::default();
    let store: Arc<dyn GraphStore> = Arc::new(
        Neo4jStore::open(down.clone(), dir.path(), &bg)
            .await
            .unwrap(),
    );
    assert_eq!(
        bg.tasks.len(),
        1,
        "the retry task is on the owner's tracker"
    );
    store.close().await;
    assert_eq!(bg.tasks.len(), 0, "close through the trait ends it");
    drop(store);

    let dir = tempfile::tempdir().unwrap();
    let bg = Background::default();
    let _store = Neo4jStore::open(down, dir.path(), &bg).await.unwrap();
    bg.stop.cancel();
    bg.tasks.close();
    tokio::time::timeout(std::time::Duration::from_secs(5), bg.tasks.wait())
        .await
        .expect("the owner's token ends the retry task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_feedback_round_trips() {
    let s = common::neo4j_direct().await;
    common::feedback_round_trips(Arc::new(s), &common::namespace("n")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_feedback_round_trips_with_local_copy() {
    common::neo4j_direct().await;
    let dir = tempfile::tempdir().unwrap();
    let s = Neo4jStore::open(common::neo4j_config(), dir.path(), &Background::default())
        .await
        .unwrap();
    let ns = common::namespace("n");
    common::feedback_round_trips(Arc::new(s.clone()), &ns).await;
    assert_eq!(s.pending(), 0);
    // In Neo4j itself, as the relationship: read by a store with no local copy.
    let direct = common::neo4j_direct().await;
    let listed = direct
        .verdicts(&graph::store::IncidentQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let ours: Vec<_> = listed
        .iter()
        .filter(|v| v.incident.id.starts_with(&ns))
        .collect();
    assert_eq!(ours.len(), 2, "{listed:?}");
    assert!(ours.iter().any(|v| v.feedback.by == "bob"
        && v.feedback.root_cause == format!("{ns}api")
        && v.feedback.verdict == graph::store::Verdict::Corrected));
}

#[tokio::test]
async fn contract_resolution_round_trips() {
    let s = common::neo4j_direct().await;
    common::resolution_round_trips(&s, &common::namespace("n")).await;
}
