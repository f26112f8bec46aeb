//! Helpers shared by the tests of `rca serve`: a server on a listener of the
//! test's choosing, with a store in a temporary directory; and, for the tests
//! against the real servers of `scripts/stack`, their addresses, a check that
//! fails (never skips) when one is down, and alerts fired through Alertmanager.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use graph::store::GraphStore;
use rca::serve::{self, Config, Handle, Service};
use tokio::sync::oneshot;

/// A running server; stops when dropped.
pub struct Running {
    pub handle: Handle,
    pub store: Arc<dyn GraphStore>,
    pub addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server's base URL.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits (at most `timeout`) until incident `id` is stored, and fails
    /// the test with its state if it is not.
    pub async fn wait_done(&self, id: &str, timeout: std::time::Duration) {
        let state = self.handle.incidents.wait_finished(id, timeout).await;
        assert!(
            matches!(state, Some(rca::serve::IncidentState::Done { .. })),
            "incident {id}: {state:?}"
        );
    }

    /// Asks the server to stop and waits until it has.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server ran");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The configuration of a test server: `toml` (may be empty), then `env`.
pub fn config(toml: &str, env: &[(&str, &str)]) -> Config {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load(Some((Path::new("test.toml"), toml.as_bytes())), &env).expect("valid config")
}

pub fn open_store(dir: &Path) -> Arc<dyn GraphStore> {
    rca::cmd::serve::open_store_at(dir).expect("store opens")
}

/// Starts a server on `listen` (`127.0.0.1:0` for any port).
pub async fn start(mut cfg: Config, listen: &str, data: &Path) -> Running {
    cfg.data_dir = data.to_path_buf();
    let store = open_store(data);
    store.ensure_schema().await.expect("schema");
    let sources = serve::sources_from(&cfg).expect("sources");
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .unwrap_or_else(|e| panic!("binding {listen}: {e}"));
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let (ready, handle) = oneshot::channel::<Handle>();
    let service = Service {
        config: cfg,
        store: store.clone(),
        sources,
        background: graph::store::Background::default(),
    };
    let task = tokio::spawn(serve::run(
        listener,
        async move {
            let _ = stopped.await;
        },
        service,
        move |h| {
            let _ = ready.send(h);
        },
    ));
    let handle = handle.await.expect("server ready");
    Running {
        handle,
        store,
        addr,
        stop: Some(stop),
        task: Some(task),
    }
}

/// An Alertmanager v4 webhook with one firing alert.
pub fn webhook(service: &str, starts_at: &str, fingerprint: &str) -> String {
    serde_json::json!({
        "version": "4", "status": "firing", "receiver": "rca", "groupKey": "{}",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "HighErrorRate", "service": service},
            "annotations": {"summary": "test"},
            "startsAt": starts_at,
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": fingerprint
        }]
    })
    .to_string()
}

/// Posts a one-alert webhook for `service` (alert started `minutes_ago`)
/// to the server at `base`; asserts the 202 and returns the incident id.
pub async fn post_alert(base: &str, service: &str, minutes_ago: i64, fingerprint: &str) -> String {
    let starts = (chrono::Utc::now() - chrono::Duration::minutes(minutes_ago))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/alerts"))
        .body(webhook(service, &starts, fingerprint))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "webhook to {base}");
    let answer: serde_json::Value = resp.json().await.unwrap();
    answer["incidents"][0]["id"].as_str().unwrap().to_string()
}

/// The value of the sample `name` (with its labels, as printed) in a
/// `/metrics` text, if it is there.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `var` from the environment, else `default`.
pub fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

pub fn jaeger_url() -> String {
    env_or("RCA_JAEGER_URL", "http://127.0.0.1:16686")
}
pub fn jaeger_grpc_url() -> String {
    env_or("RCA_JAEGER_GRPC_URL", "http://127.0.0.1:16685")
}
pub fn otlp_url() -> String {
    env_or("RCA_PUSH_OTLP", "http://127.0.0.1:4318")
}
pub fn prometheus_url() -> String {
    env_or("RCA_PROMETHEUS_URL", "http://127.0.0.1:9090")
}
pub fn victorialogs_url() -> String {
    env_or("RCA_LOGS_URL", "http://127.0.0.1:9428")
}
pub fn alertmanager_url() -> String {
    env_or("RCA_ALERTMANAGER_URL", "http://127.0.0.1:9093")
}
/// Where the stack's Alertmanager posts its webhooks.
pub fn serve_addr() -> String {
    env_or("RCA_SERVE_ADDR", "127.0.0.1:8080")
}

/// Fails (never skips) when `service` does not answer at `url`, saying how
/// to start it.
pub async fn require(service: &str, url: &str) {
    let ok = reqwest::Client::new()
        .get(url)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .map(|r| r.status().is_success());
    match ok {
        Ok(true) => {}
        Ok(false) => panic!(
            "{service} at {url} answers with an error; restart it with scripts/stack up {service}"
        ),
        Err(e) => panic!(
            "{service} is not reachable at {url} ({e}); start it with scripts/stack up {service}"
        ),
    }
}

/// `f()` every 100 ms until it gives something, for at most `timeout`.
pub async fn loop_until<T, F, Fut>(timeout: std::time::Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Fires `alert` (an alert of a webhook body, as `rca fixtures push` prints
/// it) at the stack's Alertmanager, with a label of this run that makes it a
/// new alert however often the test runs, and returns the incident id rca
/// gives it: from the fingerprint Alertmanager lists and the start.
pub async fn fire_through_alertmanager(alert: &serde_json::Value) -> String {
    let run = chrono::Utc::now()
        .timestamp_nanos_opt()
        .unwrap_or_default()
        .to_string();
    let mut labels = alert["labels"].clone();
    labels["rca_test_run"] = serde_json::Value::String(run.clone());
    let am = reqwest::Client::new();
    let resp = am
        .post(format!("{}/api/v2/alerts", alertmanager_url()))
        .json(&serde_json::json!([{
            "labels": labels,
            "annotations": alert["annotations"],
            "startsAt": alert["startsAt"],
        }]))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "alertmanager: {}",
        resp.status()
    );
    let fingerprint = loop_until(std::time::Duration::from_secs(20), || async {
        let alerts: serde_json::Value = am
            .get(format!("{}/api/v2/alerts", alertmanager_url()))
            .query(&[("filter", format!("rca_test_run=\"{run}\""))])
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        alerts[0]["fingerprint"].as_str().map(str::to_string)
    })
    .await
    .expect("alertmanager lists the alert");
    let starts_at: chrono::DateTime<chrono::Utc> =
        alert["startsAt"].as_str().unwrap().parse().unwrap();
    graph::incident_id(
        &fingerprint,
        &starts_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// Waits until Alertmanager's webhook for incident `id` reached `server`
/// (after its group_wait) and the incident is stored.
pub async fn wait_for_alertmanager(server: &Running, id: &str) {
    loop_until(std::time::Duration::from_secs(30), || async {
        server.handle.incidents.get(id).map(|_| ())
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no webhook from alertmanager for incident {id}; is it pointed at {}?",
            serve_addr()
        )
    });
    server
        .wait_done(id, std::time::Duration::from_secs(120))
        .await;
}

/// Copies the files of fixture directory `from` into `to`, but those named in `skip`.
pub fn copy_fixture_without(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if path.is_file() && !skip.contains(&name.as_str()) {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// The fixture in `dir` localised offline, as `rca replay` does.
pub fn localise_offline(dir: &Path) -> graph::Localisation {
    let f = ingest::load_fixture(dir).unwrap();
    graph::localise(&f.observations, &graph::EngineConfig::default()).unwrap()
}
