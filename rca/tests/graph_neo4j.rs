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

/// `rca serve` takes Neo4j from its config file's `[neo4j]` (no flag, no
/// environment variable): an alert posted to it ends up in the real Neo4j.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reads_neo4j_from_its_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("rca.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\n\
             [window]\nwait_for_settle = false\n\
             [jaeger]\nurl = \"\"\n[prometheus]\nurl = \"\"\n[logs]\nurl = \"\"\n\
             [access_logs]\ndir = \"\"\n\
             [neo4j]\nuri = {:?}\n",
            dir.path().join("data").display().to_string(),
            uri()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rca"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .env_remove("RCA_NEO4J_URI")
        .env_remove("RCA_DATA_DIR")
        .env_remove("RCA_LISTEN")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "rca serve did not come up on {base}");
    let starts = (chrono::Utc::now() - chrono::Duration::minutes(20))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "rca", "groupKey": "{}",
        "alerts": [{"status": "firing",
            "labels": {"alertname": "HighErrorRate", "service": "checkout"},
            "annotations": {}, "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": format!("neo4j-config-{}", std::process::id())}]
    });
    let resp = client
        .post(format!("{base}/api/v1/alerts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let answer: serde_json::Value = resp.json().await.unwrap();
    let id = answer["incidents"][0]["id"].as_str().unwrap().to_string();
    // Read back from Neo4j alone (`rca graph --neo4j-uri` has no local copy).
    let mut found = None;
    for _ in 0..100 {
        let o = rca(&["graph", "show", &id, "--format", "json"]);
        if o.status.success() {
            found = Some(json(&o));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let _ = child.kill().await;
    let g = found.unwrap_or_else(|| {
        panic!(
            "incident {id} never reached Neo4j at {} (is it running? scripts/stack up neo4j)",
            uri()
        )
    });
    assert_eq!(g["detection_rule"], "HighErrorRate", "{g}");
}
