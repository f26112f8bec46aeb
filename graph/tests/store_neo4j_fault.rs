//! Neo4j stops while incidents arrive, rca restarts, Neo4j comes back: every
//! incident ends up in Neo4j exactly once. Drives the server through
//! `scripts/stack down|up neo4j`, so it needs the stack's Neo4j (it fails,
//! saying so, when Neo4j is not running). A test binary of its own: cargo
//! runs test binaries one after another, so no other test sees the outage.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use graph::store::{Background, GraphStore, IncidentQuery, Neo4jStore};
use graph::FaultKind;

fn stack(cmd: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/stack");
    let status = std::process::Command::new(&script)
        .args([cmd, "neo4j"])
        .status()
        .unwrap_or_else(|e| panic!("running {} {cmd} neo4j: {e}", script.display()));
    assert!(
        status.success(),
        "scripts/stack {cmd} neo4j failed: {status}"
    );
}

/// Brings Neo4j back however the test ends, so a failure here does not
/// leave the other tests without a server.
struct BringBack;

impl Drop for BringBack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            stack("up");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_that_arrive_while_neo4j_is_down_land_once_when_it_returns() {
    let direct = common::neo4j_direct().await;
    let ns = common::namespace("f");
    let dir = tempfile::tempdir().unwrap();
    let record = |n: u32| {
        common::spec(
            &ns,
            n,
            &[("db", FaultKind::CpuSaturation)],
            &["db", "api", "web"],
            n,
        )
        .record()
    };

    let store = Neo4jStore::open(common::neo4j_config(), dir.path(), &Background::default())
        .await
        .unwrap();
    for n in 0..5 {
        store.put(&record(n)).await.unwrap();
    }
    assert_eq!(store.pending(), 0, "written while Neo4j is up");

    let _guard = BringBack;
    stack("down");
    let started = Instant::now();
    for n in 5..15 {
        store
            .put(&record(n))
            .await
            .expect("a put succeeds while Neo4j is down");
    }
    // Replays of incidents already in Neo4j, while it is down.
    store.put(&record(0)).await.unwrap();
    store.put(&record(7)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "puts waited on the dead server"
    );
    assert_eq!(store.pending(), 11);
    // Served meanwhile, from the local copy.
    assert_eq!(
        store.get(&format!("{ns}inc-9")).await.unwrap(),
        Some(record(9))
    );
    let listed = store
        .incidents(&IncidentQuery {
            component: Some(format!("{ns}db")),
            limit: 100,
            ..IncidentQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 15);

    // rca restarts: the outbox is read back from the data directory.
    store.close().await;
    drop(store);
    let store = Neo4jStore::open(common::neo4j_config(), dir.path(), &Background::default())
        .await
        .unwrap();
    assert_eq!(store.pending(), 11);

    stack("up");
    let deadline = Instant::now() + Duration::from_secs(120);
    while store.pending() > 0 {
        assert!(
            Instant::now() < deadline,
            "outbox not written 120 s after Neo4j came back: {} left",
            store.pending()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let all = direct
        .incidents(&IncidentQuery {
            component: Some(format!("{ns}db")),
            limit: 1000,
            ..IncidentQuery::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), 15, "{ids:?}");
    assert_eq!(unique.len(), 15, "an incident is there twice: {ids:?}");
    for n in 0..15 {
        let id = format!("{ns}inc-{n}");
        assert_eq!(direct.get(&id).await.unwrap(), Some(record(n)), "{id}");
        let g = direct.graph(&id).await.unwrap().unwrap();
        assert_eq!(g.calls.len(), 2, "{id}: CALLS written twice? {:?}", g.calls);
        assert_eq!(g.root_causes.len(), 1, "{id}");
        assert_eq!(g.actions.len(), record(n).actions.len(), "{id}");
    }
}
