//! Replicas sharing the work through the real NATS JetStream and the real
//! Neo4j (`scripts/stack up nats neo4j`; `RCA_TEST_NATS_URL`,
//! `RCA_TEST_NEO4J_URI` elsewhere): `rca serve` processes, one killed with
//! SIGKILL while it works. These tests fail, never skip, when a server is
//! down.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};

fn nats_url() -> String {
    common::env_or("RCA_TEST_NATS_URL", "nats://127.0.0.1:4222")
}

fn nats_monitor() -> String {
    common::env_or("RCA_TEST_NATS_MONITOR", "http://127.0.0.1:8222")
}

fn neo4j_uri() -> String {
    common::env_or("RCA_TEST_NEO4J_URI", "bolt://127.0.0.1:7687")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port that accepts connections and never answers: every collector
/// pointed at it waits out its timeout, so each investigation takes a
/// known time (the collect timeout) and a replica can be killed mid-work.
fn black_hole() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            held.push(c);
        }
    });
    port
}

/// One `rca serve` process.
struct Replica {
    child: Child,
    port: u16,
    data: std::path::PathBuf,
    config: std::path::PathBuf,
}

impl Replica {
    fn spawn(data: &Path, config: &Path, port: u16, hole: u16) -> Replica {
        Replica::start(data, config, port, hole, false)
    }

    /// `settle`: whether it waits for the settle period before working.
    fn start(data: &Path, config: &Path, port: u16, hole: u16, settle: bool) -> Replica {
        let hole = format!("http://127.0.0.1:{hole}");
        let child = Command::new(env!("CARGO_BIN_EXE_rca"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data)
            .arg("--config")
            .arg(config)
            .args(["--neo4j-uri", &neo4j_uri(), "--queue", &nats_url()])
            .env_remove("RCA_NEO4J_USER")
            .env_remove("RCA_NEO4J_PASSWORD")
            .env("RCA_JAEGER_URL", &hole)
            .env("RCA_PROMETHEUS_URL", &hole)
            .env("RCA_LOGS_URL", &hole)
            .env("RCA_ACCESS_LOG_DIR", "/nonexistent/rca-access-logs")
            .env("RCA_COLLECT_TIMEOUT_SECONDS", "0.5")
            .env("RCA_WAIT_FOR_SETTLE", settle.to_string())
            .env("RCA_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("rca serve starts");
        Replica {
            child,
            port,
            data: data.to_path_buf(),
            config: config.to_path_buf(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn ready(&mut self) {
        let url = self.url("/healthz");
        let up = common::loop_until(Duration::from_secs(60), || {
            let url = url.clone();
            async move {
                let r = client().get(&url).send().await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await;
        if up.is_none() {
            panic!(
                "rca serve on port {} did not come up (exit: {:?})",
                self.port,
                self.child.try_wait()
            );
        }
    }

    async fn metric(&self, name: &str) -> f64 {
        let text = client()
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // A counter never incremented is not printed: 0.
        common::metric_value(&text, name).unwrap_or(0.0)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A webhook of `n` alerts of one outage (one Alertmanager group), each
/// with its own fingerprint `{tag}-{group}-{i}`.
fn outage(tag: &str, group: usize, n: usize) -> (String, Vec<String>) {
    let at = (Utc::now() - chrono::Duration::minutes(20) + chrono::Duration::seconds(group as i64))
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    let fps: Vec<String> = (0..n).map(|i| format!("{tag}-{group:03}-{i:02}")).collect();
    let alerts: Vec<serde_json::Value> = fps
        .iter()
        .enumerate()
        .map(|(i, fp)| {
            serde_json::json!({
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "service": format!("svc-{i}"), "run": tag,
                           "outage": group.to_string()},
                "annotations": {}, "startsAt": at, "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": fp
            })
        })
        .collect();
    let body = serde_json::json!({"version": "4", "status": "firing", "receiver": "rca",
        "groupKey": format!("{{}}:{{outage=\"{group}\"}}"), "alerts": alerts});
    (body.to_string(), fps)
}

/// A run of its own (`PREFIX` and the time: other runs' streams are not
/// its business): its tag, its directory and its config file, holding its
/// own stream and `extra` TOML.
fn own_run(prefix: &str, extra: &str) -> (String, tempfile::TempDir, std::path::PathBuf) {
    let tag = format!("{prefix}{}", Utc::now().timestamp_micros());
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("rca.toml");
    std::fs::write(
        &config,
        format!("[queue]\nstream = \"rca-test-{tag}\"\nack_wait_seconds = 3\n{extra}"),
    )
    .unwrap();
    (tag, tmp, config)
}

async fn require_servers() {
    common::require(
        "nats",
        &format!("{}/healthz?js-enabled-only=true", nats_monitor()),
    )
    .await;
    let uri = neo4j_uri();
    let bolt = uri.trim_start_matches("bolt://").to_string();
    if tokio::net::TcpStream::connect(&bolt).await.is_err() {
        panic!("Neo4j is not reachable at {uri}; start it with scripts/stack up neo4j");
    }
}

/// Two replicas, 300 distinct alerts in 30 webhooks each posted to both
/// replicas; one replica is killed with SIGKILL while it works. Every alert
/// ends in exactly one stored incident; the killed replica, restarted, does
/// nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_work_loses_nothing_and_duplicates_nothing() {
    require_servers().await;
    // Each simulated outage its own system: the 30 start a second apart,
    // and would otherwise join one investigation.
    let (tag, tmp, config) = own_run("k", "[grouping]\nlabels = [\"outage\"]\n");
    let hole = black_hole();
    let (da, db) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut a = Replica::spawn(&da, &config, free_port(), hole);
    let mut b = Replica::spawn(&db, &config, free_port(), hole);
    a.ready().await;
    b.ready().await;

    let mut all: Vec<String> = Vec::new();
    let mut ids = BTreeSet::new();
    for g in 0..30 {
        let (body, fps) = outage(&tag, g, 10);
        all.extend(fps);
        // To one replica, then (Alertmanager retrying, or a second
        // Alertmanager of an HA pair) the same to the other.
        let (first, second) = if g % 2 == 0 { (&a, &b) } else { (&b, &a) };
        for (n, r) in [first, second].into_iter().enumerate() {
            let resp = client()
                .post(r.url("/api/v1/alerts"))
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 202, "webhook {g} to replica {n}");
            let answer: serde_json::Value = resp.json().await.unwrap();
            let statuses: Vec<&str> = answer["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["status"].as_str().unwrap())
                .collect();
            if n == 0 {
                assert_eq!(
                    statuses.iter().filter(|s| **s == "started").count(),
                    1,
                    "{answer}"
                );
                assert_eq!(
                    statuses.iter().filter(|s| **s == "joined").count(),
                    9,
                    "{answer}"
                );
                ids.insert(answer["incidents"][0]["id"].as_str().unwrap().to_string());
            } else {
                assert!(statuses.iter().all(|s| *s == "known"), "{answer}");
            }
        }
    }
    assert_eq!(ids.len(), 30);

    // Kill A once it has stored a couple and is at work on the next.
    let deadline = Instant::now() + Duration::from_secs(60);
    while a.metric("rca_incidents_total{outcome=\"stored\"}").await < 2.0 {
        assert!(Instant::now() < deadline, "replica A stores nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored_a = a.metric("rca_incidents_total{outcome=\"stored\"}").await;
    a.child.kill().unwrap(); // SIGKILL
    a.child.wait().unwrap();

    // Every alert links to one stored incident, which lists it.
    let mut by_incident: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for fp in &all {
        let location = loop {
            let resp = client()
                .get(b.url(&format!("/alerts/{fp}")))
                .send()
                .await
                .unwrap();
            if resp.status().is_redirection() {
                break resp.headers()["location"].to_str().unwrap().to_string();
            }
            assert!(Instant::now() < deadline, "alert {fp} never stored");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let id = location.rsplit('/').next().unwrap().to_string();
        by_incident.entry(id).or_default().push(fp.clone());
    }
    assert_eq!(
        by_incident.keys().cloned().collect::<BTreeSet<_>>(),
        ids,
        "the alerts are in the investigations the webhooks answered"
    );
    let mut listed = 0;
    for (id, fps) in &by_incident {
        let rec: serde_json::Value = client()
            .get(b.url(&format!("/api/v1/incidents/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let inc = &rec["incident"];
        let mut has: BTreeSet<String> = inc["other_alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["fingerprint"].as_str().unwrap().to_string())
            .collect();
        has.insert(inc["fingerprint"].as_str().unwrap().to_string());
        listed += has.len();
        assert_eq!(has, fps.iter().cloned().collect::<BTreeSet<_>>(), "{id}");
    }
    assert_eq!(listed, 300, "every alert in exactly one incident");

    // Restarted, A finds nothing left to do.
    let mut again = Replica::spawn(&a.data, &a.config, free_port(), hole);
    again.ready().await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        again
            .metric("rca_incidents_total{outcome=\"stored\"}")
            .await,
        0.0
    );
    assert_eq!(
        again
            .metric("rca_incidents_total{outcome=\"failed\"}")
            .await,
        0.0
    );
    assert_eq!(again.metric("rca_queue_depth").await, 0.0);
    let stored_b = b.metric("rca_incidents_total{outcome=\"stored\"}").await;
    // B did the rest, the one A was working on included (A may have
    // stored one more between the count and the kill).
    let sum = stored_a + stored_b;
    assert!((29.0..=30.0).contains(&sum), "A {stored_a} + B {stored_b}");
}

async fn post(r: &Replica, body: String) -> serde_json::Value {
    let resp = client()
        .post(r.url("/api/v1/alerts"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    resp.json().await.unwrap()
}

fn statuses(answer: &serde_json::Value) -> Vec<(String, String)> {
    answer["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["status"].as_str().unwrap().to_string(),
                a["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Alerts of a later webhook, posted to the other replica while the
/// investigation settles, join it; once it is closed, the next alert of the
/// same system opens its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_webhook_to_another_replica_joins_the_settling_investigation() {
    require_servers().await;
    // A settle period of 4 s, over by the time the test waits for it.
    let (tag, tmp, config) = own_run("j", "[window]\nsettle_seconds = 4\n");
    let hole = black_hole();
    // Settling for real: this test is about what joins meanwhile.
    let spawn = |dir: &str| Replica::start(&tmp.path().join(dir), &config, free_port(), hole, true);
    let mut a = spawn("a");
    let mut b = spawn("b");
    a.ready().await;
    b.ready().await;

    // Starts now: the settle period ends 4 s from now.
    let webhook = |fp: &str, service: &str, start: chrono::DateTime<Utc>| {
        serde_json::json!({"version": "4", "status": "firing", "receiver": "rca",
            "alerts": [{"status": "firing", "fingerprint": fp,
                "labels": {"alertname": "HighErrorRate", "service": service, "run": tag},
                "annotations": {}, "endsAt": "0001-01-01T00:00:00Z",
                "startsAt": start.to_rfc3339_opts(SecondsFormat::Millis, true)}]})
        .to_string()
    };
    let t0 = Utc::now();
    let first = post(&a, webhook(&format!("{tag}-1"), "checkout", t0)).await;
    let [(status, inv)] = statuses(&first).try_into().unwrap();
    assert_eq!(status, "started", "{first}");
    let joined = post(&b, webhook(&format!("{tag}-2"), "payment", t0)).await;
    assert_eq!(
        statuses(&joined),
        vec![("joined".to_string(), inv.clone())],
        "{joined}"
    );
    // The same again, to either replica: known.
    let again = post(&a, webhook(&format!("{tag}-2"), "payment", t0)).await;
    assert_eq!(
        statuses(&again),
        vec![("known".to_string(), inv.clone())],
        "{again}"
    );

    // Stored with both alerts.
    let deadline = Instant::now() + Duration::from_secs(60);
    let rec = loop {
        let resp = client()
            .get(b.url(&format!("/api/v1/incidents/{inv}")))
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            break resp.json::<serde_json::Value>().await.unwrap();
        }
        assert!(Instant::now() < deadline, "{inv} never stored");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let others: Vec<&str> = rec["incident"]["other_alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(others, vec![format!("{tag}-2")], "{rec}");
    // From the other replica too, once the store has it there.
    let location = loop {
        let resp = client()
            .get(a.url(&format!("/alerts/{tag}-2")))
            .send()
            .await
            .unwrap();
        if resp.status().is_redirection() {
            break resp.headers()["location"].to_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "{tag}-2 never linked from A");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(location.ends_with(&inv), "{location}");

    // Closed now: an alert of the same system opens its own.
    let late = post(&b, webhook(&format!("{tag}-3"), "cart", t0)).await;
    let [(status, other)] = statuses(&late).try_into().unwrap();
    assert_eq!(status, "started", "{late}");
    assert_ne!(other, inv);
}

/// A claim its investigation's record does not list is a replica's that
/// died mid-webhook: a minute on, a later webhook takes the alert over;
/// before that, the webhook answers 503 (another replica is accepting it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_claim_is_taken_over_and_a_fresh_one_is_retried() {
    require_servers().await;
    let (tag, tmp, config) = own_run("c", "");
    let stream = format!("rca-test-{tag}");
    let hole = black_hole();
    let mut r = Replica::spawn(&tmp.path().join("a"), &config, free_port(), hole);
    r.ready().await;

    let body = |fp: &str| {
        serde_json::json!({"version": "4", "status": "firing", "receiver": "rca",
            "alerts": [{"status": "firing", "fingerprint": fp,
                "labels": {"alertname": "HighErrorRate", "service": fp},
                "annotations": {}, "endsAt": "0001-01-01T00:00:00Z",
                "startsAt": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)}]})
        .to_string()
    };
    let id_of = |body: &str| {
        let (alerts, _) = rca::serve::webhook::read_alerts(body.as_bytes()).unwrap();
        rca::serve::queue::incident_id_of(&alerts[0])
    };
    // Claims as a replica that died before queueing would leave them.
    let nats = rca::serve::nats::Nats::connect(&nats_url(), &stream, Duration::from_secs(30))
        .await
        .unwrap();
    let (fresh, old) = (body(&format!("{tag}-fresh")), body(&format!("{tag}-old")));
    assert!(matches!(
        nats.claim(&id_of(&fresh), "died-a-second-ago")
            .await
            .unwrap(),
        rca::serve::nats::Claim::Ours
    ));
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let claims = js.get_key_value(format!("{stream}-alerts")).await.unwrap();
    let two_minutes_ago = Utc::now().timestamp() - 120;
    claims
        .put(
            id_of(&old),
            format!("died-long-ago@{two_minutes_ago}").into(),
        )
        .await
        .unwrap();

    let resp = client()
        .post(r.url("/api/v1/alerts"))
        .body(fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        503,
        "a claim a second old is someone at work"
    );
    assert!(resp.headers().contains_key("retry-after"));

    let answer = post(&r, old.clone()).await;
    assert_eq!(
        statuses(&answer),
        vec![("started".to_string(), id_of(&old))],
        "{answer}"
    );
    // And it is claimed for good now: the same again is known.
    let again = post(&r, old).await;
    assert_eq!(statuses(&again)[0].0, "known", "{again}");
}

/// With NATS down, nothing is acknowledged: the webhook answers 503 with a
/// reason and Retry-After, never 202.
#[tokio::test]
async fn with_the_queue_down_no_alert_is_accepted() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = common::config(
        &format!("[queue]\nurl = \"nats://127.0.0.1:{port}\"\nstream = \"rca-down\"\n"),
        &[
            ("RCA_JAEGER_URL", "http://127.0.0.1:9"),
            ("RCA_PROMETHEUS_URL", "http://127.0.0.1:9"),
            ("RCA_LOGS_URL", "http://127.0.0.1:9"),
            ("RCA_WAIT_FOR_SETTLE", "false"),
        ],
    );
    let server = common::start(cfg, "127.0.0.1:0", data.path()).await;
    let t0 = Instant::now();
    let resp = client()
        .post(server.url("/api/v1/alerts"))
        .body(common::webhook("checkout", "2026-12-01T10:00:00Z", "d0d0"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let err: serde_json::Value = resp.json().await.unwrap();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("nothing was accepted"),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert!(
        !data.path().join("pending").exists(),
        "no local journal with the shared queue"
    );
    assert_eq!(server.handle.incidents.pending(), 0);
    server.stop().await;
}
