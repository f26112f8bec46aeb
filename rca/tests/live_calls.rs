//! The call graph without traces, against real servers: a fixture's series,
//! its `calls` and `calls_failed` series per caller→callee edge among them,
//! pushed into the Prometheus of `scripts/stack` (no traces anywhere), its
//! alert fired through Alertmanager into an `rca serve` with `jaeger.url = ""`,
//! and the stored incident must hold the simulated topology's edges, read
//! from the metrics alone, and say that traces are missing.
//!
//! Start the servers with `scripts/stack up prometheus alertmanager`; one
//! that does not answer fails the test with how to start it. Alertmanager
//! posts to `RCA_SERVE_ADDR` (default 127.0.0.1:8080), so the test server
//! binds that address.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{
    alertmanager_url, fire_through_alertmanager, prometheus_url, require, serve_addr,
    wait_for_alertmanager,
};

fn pairs(l: &graph::Localisation) -> BTreeSet<(String, String)> {
    l.edges
        .iter()
        .map(|e| (e.from.clone(), e.to.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_traces_the_call_graph_comes_from_the_calls_series() {
    require("prometheus", &format!("{}/-/ready", prometheus_url())).await;
    require("alertmanager", &format!("{}/-/ready", alertmanager_url())).await;
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/cpu_saturation-23");

    // The simulated topology's caller→callee pairs, as the traces show them.
    let topology = pairs(&common::localise_offline(&fixture));
    assert!(topology.len() >= 10, "{topology:?}");
    // The same fixture with no traces (and nothing else no live collector
    // reads), under a name of its own: its series are pushed as this fixture.
    let scratch = tmp.path().join("calls-only-cpu_saturation-23");
    common::copy_fixture_without(
        &fixture,
        &scratch,
        &["traces.json", "logs.json", "truth.json"],
    );
    let offline = common::localise_offline(&scratch);

    let logs = tmp.path().join("access-logs");
    let config_path = tmp.path().join("rca.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_rca"))
        .args(["fixtures", "push"])
        .arg(&scratch)
        .args(["--prometheus", &prometheus_url()])
        .arg("--access-log-dir")
        .arg(&logs)
        .arg("--write-config")
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "push failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pushed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pushed["spans"], 0, "{pushed}");
    let toml = std::fs::read_to_string(&config_path).unwrap();
    for signal in ["calls", "calls_failed"] {
        assert!(
            toml.contains(&format!("signal = \"{signal}\"")),
            "no {signal} query in the pushed config:\n{toml}"
        );
    }
    assert!(toml.contains("client_label = \"client\""), "{toml}");
    assert!(toml.contains("server_label = \"server\""), "{toml}");

    // rca serve with no trace source at all, reading what was pushed.
    let cfg = common::config(
        &format!("{toml}\n[jaeger]\nurl = \"\"\n"),
        &[("RCA_PROMETHEUS_URL", &prometheus_url())],
    );
    assert!(cfg.jaeger.url.is_empty());
    let server = common::start(cfg, &serve_addr(), &tmp.path().join("data")).await;
    let id = fire_through_alertmanager(&pushed["webhook"]["alerts"][0]).await;
    wait_for_alertmanager(&server, &id).await;
    let record = server
        .store
        .get(&id)
        .await
        .unwrap()
        .expect("incident stored");
    let live = &record.localisation;

    let traces = live
        .missing
        .iter()
        .find(|m| m.modality == "traces")
        .unwrap_or_else(|| panic!("traces not missing: {:?}", live.missing));
    assert!(
        traces.reason.contains("no trace source"),
        "{}",
        traces.reason
    );
    assert!(
        !live.modalities.iter().any(|m| m == "traces"),
        "{:?}",
        live.modalities
    );
    assert!(!live.edges.is_empty(), "no edges without traces");
    assert_eq!(
        pairs(live),
        topology,
        "the calls series give the topology the traces show"
    );
    // Every call the metrics count, read back from Prometheus as pushed.
    let count = |l: &graph::Localisation| -> BTreeSet<(String, String, u64, u64)> {
        l.edges
            .iter()
            .map(|e| (e.from.clone(), e.to.clone(), e.calls, e.errors))
            .collect()
    };
    assert_eq!(
        count(live),
        count(&offline),
        "live and offline edges differ"
    );
    assert!(live.edges.iter().all(|e| e.calls > 0), "{:?}", live.edges);
    assert_eq!(
        live.ranking.first().map(|c| &c.component),
        offline.ranking.first().map(|c| &c.component),
        "live and offline rankings differ"
    );
    assert_eq!(live.path, offline.path);
    server.stop().await;
}
