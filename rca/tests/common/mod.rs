//! Helpers shared by the tests of `rca serve`: a server on a listener of the
//! test's choosing, with a store in a temporary directory.
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
