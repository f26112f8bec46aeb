//! Collectors: pulling one alert's window of observations from live backends.
//!
//! One trait per modality, each with a live implementation and the fixture
//! reader as the other one, behind the same contract:
//!
//! | trait | live | offline |
//! | --- | --- | --- |
//! | [`TraceSource`] | [`JaegerSource`]: `/api/v3/traces` (OTLP JSON), `/api/traces` as fallback | [`FixtureSource`] |
//! | [`MetricSource`] | [`PrometheusSource`]: `query_range`, one PromQL query per signal | [`FixtureSource`] |
//! | [`AccessLogSource`] | [`AccessLogDir`]: Envoy / ingress-nginx files, rotated ones included; [`LogStoreSource`]: a log store's access-log query | [`FixtureSource`] |
//! | [`LogSource`] | [`LogStoreSource`]: VictoriaLogs (LogsQL, streamed) or Loki (LogQL `query_range`, paged) | [`FixtureSource`] |
//! | [`GoroutineDumpSource`] | [`PprofSource`]: each Go component's `/debug/pprof/goroutine` (and `goroutineleak`) | [`FixtureSource`] |
//!
//! [`collect`] asks all of them at once, each under its own timeout, and
//! merges what came back. A source that fails or times out does not fail
//! the collection: its modality is recorded as missing, with the reason, in
//! [`Observations::sources`], and the engine reports it in the localisation.

mod access;
mod jaeger;
mod logstore;
mod pprof;
mod prometheus;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tracing::{instrument, warn, Instrument};

use crate::fixture::Fixture;
use crate::model::{Alert, Micros, Modality, Observations, SourceStatus};

pub use access::AccessLogDir;
pub use jaeger::{JaegerSource, TraceSearch, PARALLEL as JAEGER_PARALLEL};
pub use logstore::{
    default_log_queries, LogBackend, LogKind, LogQuery, LogStoreSource, DEFAULT_COMPONENT_FIELDS,
    PROXY_CONTAINERS,
};
pub use pprof::PprofSource;
pub use prometheus::{PrometheusSource, SignalQuery};

/// What to collect: the window (microseconds since the epoch, end
/// exclusive) and the services the alert is about, as a hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectWindow {
    pub start: Micros,
    pub end: Micros,
}

impl CollectWindow {
    pub fn contains(&self, t: Micros) -> bool {
        self.start <= t && t < self.end
    }
}

/// Why a source gave nothing.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The backend could not be reached or did not answer in time.
    #[error("{backend} at {url} unreachable: {reason}")]
    Unreachable {
        backend: &'static str,
        url: String,
        reason: String,
    },
    /// The backend answered with an error status.
    #[error("{backend} answered {status} to {url}: {body}")]
    Status {
        backend: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    /// A gRPC backend refused the call or failed it.
    #[error("{backend} at {url} answered {reason}")]
    Grpc {
        backend: &'static str,
        url: String,
        reason: String,
    },
    /// The answer (or a file) could not be read.
    #[error(transparent)]
    Ingest(#[from] crate::IngestError),
    /// Nothing configured to collect from.
    #[error("{0}")]
    NotConfigured(String),
    /// The blocking task reading an answer stopped (it panicked, or the
    /// runtime is shutting down).
    #[error("{reader} reader stopped: {source}")]
    ReaderStopped {
        reader: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}

impl CollectError {
    /// `map_err` for a reader task's join.
    pub(crate) fn stopped(reader: &'static str) -> impl FnOnce(tokio::task::JoinError) -> Self {
        move |source| CollectError::ReaderStopped { reader, source }
    }
}

impl CollectError {
    /// `backend` at `url` answered `status`; the start of its `body` says why.
    pub(crate) fn status(backend: &'static str, url: &str, status: u16, body: &[u8]) -> Self {
        CollectError::Status {
            backend,
            url: url.to_string(),
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
        }
    }
}

/// What a source returns: the records it read and, when it read only part
/// of what it was asked for, why (one query of several failed, say).
#[derive(Debug, Default)]
pub struct Pulled {
    pub obs: Observations,
    pub partial: Option<String>,
}

/// Distributed traces for a window.
#[async_trait]
pub trait TraceSource: Send + Sync {
    /// The name that appears in missing-modality reasons (`jaeger`, `fixture`).
    fn name(&self) -> &str;
    async fn traces(&self, window: &CollectWindow) -> Result<Pulled, CollectError>;
}

/// Metric series for a window.
#[async_trait]
pub trait MetricSource: Send + Sync {
    fn name(&self) -> &str;
    async fn metrics(&self, window: &CollectWindow) -> Result<Pulled, CollectError>;
}

/// Proxy access-log records for a window. `proxy` is the component an
/// unnamed `access.log` is credited to (the traces' proxy, when known).
#[async_trait]
pub trait AccessLogSource: Send + Sync {
    fn name(&self) -> &str;
    async fn access_logs(
        &self,
        window: &CollectWindow,
        proxy: &str,
    ) -> Result<Pulled, CollectError>;
}

/// Application logs for a window.
#[async_trait]
pub trait LogSource: Send + Sync {
    fn name(&self) -> &str;
    async fn logs(&self, window: &CollectWindow) -> Result<Pulled, CollectError>;
}

/// Goroutine dumps of the Go components, for a window.
#[async_trait]
pub trait GoroutineDumpSource: Send + Sync {
    fn name(&self) -> &str;
    async fn goroutines(&self, window: &CollectWindow) -> Result<Pulled, CollectError>;
}

/// The sources of one deployment and how long each may take.
#[derive(Clone)]
pub struct Sources {
    pub traces: Option<Arc<dyn TraceSource>>,
    pub metrics: Option<Arc<dyn MetricSource>>,
    pub access: Option<Arc<dyn AccessLogSource>>,
    /// Application logs (a log store).
    pub logs: Option<Arc<dyn LogSource>>,
    /// Go components are not the rule: none configured is no missing
    /// modality.
    pub goroutines: Option<Arc<dyn GoroutineDumpSource>>,
    pub timeout: Duration,
}

/// How one source fared, for logs and the service's own metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceReport {
    pub modality: Modality,
    pub source: String,
    pub seconds: f64,
    /// `None` when it answered in full.
    pub missing: Option<String>,
}

/// Collects `window` from every source at once and merges the result with
/// `alert` as the incident's alert. Never fails: a source that errs or takes
/// longer than `sources.timeout` leaves its modality missing, with why.
#[instrument(skip_all, fields(start = window.start, end = window.end))]
pub async fn collect(
    sources: &Sources,
    window: &CollectWindow,
    alert: &Alert,
) -> (Observations, Vec<SourceReport>) {
    let timeout = sources.timeout;
    let traces = async {
        match &sources.traces {
            Some(s) => timed(Modality::Traces, s.name(), timeout, s.traces(window)).await,
            None => not_configured(Modality::Traces, "no trace source configured"),
        }
    };
    let metrics = async {
        match &sources.metrics {
            Some(s) => timed(Modality::Metrics, s.name(), timeout, s.metrics(window)).await,
            None => not_configured(Modality::Metrics, "no metric source configured"),
        }
    };
    let goroutines = async {
        match &sources.goroutines {
            Some(s) => Some(
                timed(
                    Modality::Goroutines,
                    s.name(),
                    timeout,
                    s.goroutines(window),
                )
                .await,
            ),
            None => None,
        }
    };
    let logs = async {
        match &sources.logs {
            Some(s) => timed(Modality::Logs, s.name(), timeout, s.logs(window)).await,
            None => not_configured(Modality::Logs, "no log store configured"),
        }
    };
    let (traces, metrics, logs, goroutines) = tokio::join!(traces, metrics, logs, goroutines);
    // The access logs wait for the traces: an unnamed `access.log` belongs to
    // the proxy the traces show, as in `load_fixture`.
    let proxy = crate::fixture::proxy_of(&traces.0.obs)
        .unwrap_or_else(|| crate::fixture::DEFAULT_PROXY.to_string());
    let access = match &sources.access {
        Some(s) => {
            let work = s.access_logs(window, &proxy);
            timed(Modality::AccessLogs, s.name(), timeout, work).await
        }
        None => not_configured(Modality::AccessLogs, "no access-log source configured"),
    };

    let mut obs = Observations::default();
    let mut reports = Vec::new();
    for (pulled, report) in [traces, metrics, access, logs]
        .into_iter()
        .chain(goroutines)
    {
        let records = match report.modality {
            Modality::Traces => pulled.obs.spans.len(),
            Modality::Metrics => {
                let samples = pulled.obs.series.iter().map(|s| s.samples.len());
                samples
                    .chain(pulled.obs.edges.iter().map(|e| e.samples.len()))
                    .sum()
            }
            Modality::AccessLogs => pulled.obs.access.len(),
            Modality::Logs => pulled.obs.logs.len(),
            Modality::Goroutines => pulled.obs.goroutines.iter().map(|c| c.dumps.len()).sum(),
        } as u64;
        let missing = match (&report.missing, records) {
            (Some(why), _) => Some(why.clone()),
            (None, 0) => Some(format!(
                "{} returned no records for the window",
                report.source
            )),
            (None, _) => None,
        };
        obs.merge(pulled.obs);
        obs.sources.push(SourceStatus {
            modality: report.modality,
            records,
            missing: missing.clone(),
            note: None,
        });
        reports.push(SourceReport { missing, ..report });
    }
    obs.alerts.push(alert.clone());
    (obs, reports)
}

fn not_configured(modality: Modality, why: &str) -> (Pulled, SourceReport) {
    (
        Pulled::default(),
        SourceReport {
            modality,
            source: "none".into(),
            seconds: 0.0,
            missing: Some(why.to_string()),
        },
    )
}

/// Runs one source's `work` in its own `collect` span, under `timeout`.
async fn timed(
    modality: Modality,
    name: &str,
    timeout: Duration,
    work: impl std::future::Future<Output = Result<Pulled, CollectError>>,
) -> (Pulled, SourceReport) {
    let span = tracing::info_span!("collect", collector = name, modality = %modality);
    let t0 = Instant::now();
    let result = tokio::time::timeout(timeout, work).instrument(span).await;
    let seconds = t0.elapsed().as_secs_f64();
    let (pulled, missing) = match result {
        Ok(Ok(p)) => {
            let partial = p.partial.clone().map(|why| format!("{name}: {why}"));
            (p, partial)
        }
        Ok(Err(e)) => {
            warn!(collector = name, modality = %modality, error = %e, "collector failed");
            (Pulled::default(), Some(format!("{name}: {e}")))
        }
        Err(_) => {
            warn!(collector = name, modality = %modality, timeout_s = timeout.as_secs_f64(), "collector timed out");
            (
                Pulled::default(),
                Some(format!(
                    "{name}: timed out after {:.1} s",
                    timeout.as_secs_f64()
                )),
            )
        }
    };
    (
        pulled,
        SourceReport {
            modality,
            source: name.to_string(),
            seconds,
            missing,
        },
    )
}

/// A loaded fixture as a source of every modality: the offline twin of the
/// live collectors, behind the same traits.
pub struct FixtureSource {
    fixture: Arc<Fixture>,
}

impl FixtureSource {
    pub fn new(fixture: Fixture) -> FixtureSource {
        FixtureSource {
            fixture: Arc::new(fixture),
        }
    }

    /// Only the records of one kind inside `window`, under the fixture's names.
    fn part(&self, window: &CollectWindow, modality: Modality) -> Pulled {
        let all = &self.fixture.observations;
        let mut obs = Observations {
            names: all.names.clone(),
            ..Observations::default()
        };
        match modality {
            Modality::Traces => {
                obs.spans = all
                    .spans
                    .iter()
                    .filter(|s| window.contains(s.start))
                    .cloned()
                    .collect()
            }
            Modality::Metrics => {
                obs.series = all
                    .series
                    .iter()
                    .map(|s| {
                        let mut s = s.clone();
                        s.samples.retain(|(t, _)| window.contains(*t));
                        s
                    })
                    .filter(|s| !s.samples.is_empty())
                    .collect();
                obs.edges = all
                    .edges
                    .iter()
                    .map(|e| {
                        let mut e = e.clone();
                        e.samples.retain(|(t, _)| window.contains(*t));
                        e
                    })
                    .filter(|e| !e.samples.is_empty())
                    .collect()
            }
            Modality::AccessLogs => {
                obs.access = all
                    .access
                    .iter()
                    .filter(|a| window.contains(a.time))
                    .cloned()
                    .collect()
            }
            Modality::Goroutines => {
                obs.goroutines = all
                    .goroutines
                    .iter()
                    .map(|c| crate::model::ComponentDumps {
                        component: c.component.clone(),
                        dumps: c
                            .dumps
                            .iter()
                            .filter(|d| d.at.is_none_or(|t| window.contains(t)))
                            .cloned()
                            .collect(),
                    })
                    .filter(|c| !c.dumps.is_empty())
                    .collect()
            }
            Modality::Logs => {
                obs.logs = all
                    .logs
                    .iter()
                    .filter(|l| window.contains(l.time))
                    .cloned()
                    .collect()
            }
        }
        Pulled { obs, partial: None }
    }
}

#[async_trait]
impl TraceSource for FixtureSource {
    fn name(&self) -> &str {
        "fixture"
    }
    async fn traces(&self, window: &CollectWindow) -> Result<Pulled, CollectError> {
        Ok(self.part(window, Modality::Traces))
    }
}

#[async_trait]
impl MetricSource for FixtureSource {
    fn name(&self) -> &str {
        "fixture"
    }
    async fn metrics(&self, window: &CollectWindow) -> Result<Pulled, CollectError> {
        Ok(self.part(window, Modality::Metrics))
    }
}

#[async_trait]
impl AccessLogSource for FixtureSource {
    fn name(&self) -> &str {
        "fixture"
    }
    /// The fixture already credited its records to their proxies.
    async fn access_logs(
        &self,
        window: &CollectWindow,
        _proxy: &str,
    ) -> Result<Pulled, CollectError> {
        Ok(self.part(window, Modality::AccessLogs))
    }
}

#[async_trait]
impl LogSource for FixtureSource {
    fn name(&self) -> &str {
        "fixture"
    }
    async fn logs(&self, window: &CollectWindow) -> Result<Pulled, CollectError> {
        Ok(self.part(window, Modality::Logs))
    }
}

#[async_trait]
impl GoroutineDumpSource for FixtureSource {
    fn name(&self) -> &str {
        "fixture"
    }
    async fn goroutines(&self, window: &CollectWindow) -> Result<Pulled, CollectError> {
        Ok(self.part(window, Modality::Goroutines))
    }
}

/// An HTTP client for the collectors: rustls, a connect timeout, no proxy
/// from the environment surprises beyond reqwest's defaults.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2).min(timeout))
        .timeout(timeout)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Says why a request failed, without the URL twice.
pub(crate) fn reqwest_reason(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut reason = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        reason = format!("{reason}: {s}");
        source = s.source();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Slow;
    #[async_trait]
    impl TraceSource for Slow {
        fn name(&self) -> &str {
            "slow"
        }
        async fn traces(&self, _: &CollectWindow) -> Result<Pulled, CollectError> {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Pulled::default())
        }
    }

    struct Broken;
    #[async_trait]
    impl MetricSource for Broken {
        fn name(&self) -> &str {
            "broken"
        }
        async fn metrics(&self, _: &CollectWindow) -> Result<Pulled, CollectError> {
            Err(CollectError::Unreachable {
                backend: "prometheus",
                url: "http://x".into(),
                reason: "connection refused".into(),
            })
        }
    }

    fn alert() -> Alert {
        serde_json::from_str(
            r#"{"status":"firing","labels":{"alertname":"A","service":"x"},"startsAt":"2026-03-03T19:20:35Z"}"#,
        )
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_or_failing_source_leaves_its_modality_missing_with_why() {
        let sources = Sources {
            traces: Some(Arc::new(Slow)),
            metrics: Some(Arc::new(Broken)),
            access: None,
            logs: None,
            goroutines: None,
            timeout: Duration::from_secs(5),
        };
        let w = CollectWindow { start: 0, end: 10 };
        let (obs, reports) = collect(&sources, &w, &alert()).await;
        let why = |m: Modality| {
            obs.sources
                .iter()
                .find(|s| s.modality == m)
                .and_then(|s| s.missing.clone())
                .unwrap_or_default()
        };
        assert_eq!(why(Modality::Traces), "slow: timed out after 5.0 s");
        assert!(
            why(Modality::Metrics).contains("connection refused"),
            "{}",
            why(Modality::Metrics)
        );
        assert!(why(Modality::AccessLogs).contains("no access-log source"));
        assert!(why(Modality::Logs).contains("no log store"));
        assert_eq!(reports.len(), 4);
        assert_eq!(obs.alerts.len(), 1);
    }
}
