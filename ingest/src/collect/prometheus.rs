//! Prometheus: one `query_range` per configured signal (through
//! `prometheus-http-query`), each answer's series credited to the component
//! named by the query's label; an edge signal's query's series (`calls`,
//! `calls_failed`, `latency_server`, `latency_client`) to the caller→callee
//! edge its client and server labels name.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use prometheus_http_query::Client;
use serde::{Deserialize, Serialize};
use tracing::{instrument, warn};

use super::{http_client, CollectError, CollectWindow, MetricSource, Pulled};
use crate::model::{EdgeSeries, EdgeSignal, Observations, Series, Signal};

/// One PromQL query and the signal its series are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalQuery {
    /// `cpu`, `memory`, `http_4xx_rate`, `http_5xx_rate`, `latency_p99`,
    /// `goroutines`, ... (see `Signal`); other names are kept as they are.
    /// `calls`, `calls_failed`, `latency_server` and `latency_client` (see
    /// `EdgeSignal`) are caller→callee series: calls and failed calls per
    /// second, and the mean seconds per call on the server and client side.
    pub signal: String,
    pub promql: String,
    /// The label naming a series' component; when absent or empty on a
    /// series, the first of `service`, `service_name`, `component`, `app`,
    /// `job`, `container`, `pod`. Not for the edge signals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_label: Option<String>,
    /// For the edge signals: the label naming the caller
    /// (default `client`, as the servicegraph connector writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_label: Option<String>,
    /// For the edge signals: the label naming the callee
    /// (default `server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_label: Option<String>,
}

impl SignalQuery {
    /// A query of a component signal, its series' component named by `component_label`.
    pub fn component(signal: &str, promql: &str, component_label: Option<&str>) -> SignalQuery {
        SignalQuery {
            signal: signal.into(),
            promql: promql.into(),
            component_label: component_label.map(str::to_string),
            client_label: None,
            server_label: None,
        }
    }

    /// An edge signal's query, its series' caller and callee named by
    /// `client_label` and `server_label` (`None`: `client` and `server`).
    pub fn edge(
        signal: &str,
        promql: &str,
        client_label: Option<&str>,
        server_label: Option<&str>,
    ) -> SignalQuery {
        SignalQuery {
            signal: signal.into(),
            promql: promql.into(),
            component_label: None,
            client_label: client_label.map(str::to_string),
            server_label: server_label.map(str::to_string),
        }
    }

    /// Why this query's labels do not fit its signal, if they do not
    /// (`client_label` on a `cpu` query, `component_label` on a `calls` one).
    pub fn labels_problem(&self) -> Option<String> {
        crate::metrics::query_labels_problem(
            &self.signal,
            self.component_label.as_deref(),
            self.client_label.as_deref(),
            self.server_label.as_deref(),
        )
    }
}

/// Metric series from a Prometheus server.
pub struct PrometheusSource {
    base: String,
    client: Client,
    queries: Vec<SignalQuery>,
    /// The query resolution.
    step: Duration,
}

impl PrometheusSource {
    pub fn new(
        base: &str,
        queries: Vec<SignalQuery>,
        step: Duration,
        timeout: Duration,
    ) -> Result<PrometheusSource, CollectError> {
        let client = Client::from(http_client(timeout), base).map_err(|e| {
            CollectError::NotConfigured(format!("prometheus url {base:?} is not usable: {e}"))
        })?;
        Ok(PrometheusSource {
            base: base.to_string(),
            client,
            queries,
            step,
        })
    }

    async fn one(
        &self,
        q: &SignalQuery,
        window: &CollectWindow,
    ) -> Result<Vec<(BTreeMap<String, String>, Vec<(i64, f64)>)>, String> {
        // Steps fall on whole multiples of the step (as Grafana aligns
        // them), so that they meet samples written at round times; the
        // range is widened to whole steps and the window cuts what is outside.
        let step = (self.step.as_secs().max(1)) as i64;
        let start = window.start.div_euclid(1_000_000).div_euclid(step) * step;
        let end = ((window.end + 999_999).div_euclid(1_000_000) + step - 1).div_euclid(step) * step;
        let answer = self
            .client
            .query_range(&q.promql, start, end, self.step.as_secs_f64())
            .get()
            .await
            .map_err(|e| {
                // A transport failure says why without the query's URL
                // (the same for every query); anything else says it all.
                use std::error::Error as _;
                let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
                while let Some(x) = src {
                    if let Some(r) = x.downcast_ref::<reqwest::Error>() {
                        return super::reqwest_reason(r);
                    }
                    src = x.source();
                }
                let mut s = e.to_string();
                let mut src = e.source();
                while let Some(x) = src {
                    s = format!("{s}: {x}");
                    src = x.source();
                }
                s
            })?;
        let Some(matrix) = answer.data().as_matrix() else {
            return Err("answer is not a matrix".into());
        };
        Ok(matrix
            .iter()
            .map(|rv| {
                let labels: BTreeMap<String, String> = rv
                    .metric()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let samples = rv
                    .samples()
                    .iter()
                    .filter(|s| s.value().is_finite())
                    .map(|s| ((s.timestamp() * 1e6).round() as i64, s.value()))
                    .filter(|(t, _)| window.contains(*t))
                    .collect();
                (labels, samples)
            })
            .collect())
    }
}

#[async_trait]
impl MetricSource for PrometheusSource {
    fn name(&self) -> &str {
        "prometheus"
    }

    #[instrument(skip_all, fields(collector = "prometheus", base = %self.base, queries = self.queries.len()))]
    async fn metrics(&self, window: &CollectWindow) -> Result<Pulled, CollectError> {
        if self.queries.is_empty() {
            return Err(CollectError::NotConfigured(
                "no PromQL queries configured".into(),
            ));
        }
        let answers =
            futures::future::join_all(self.queries.iter().map(|q| self.one(q, window))).await;
        let mut obs = Observations::default();
        // Why -> the signals whose queries failed so: one line per reason.
        let mut failed: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        let mut failures = 0;
        for (q, answer) in self.queries.iter().zip(answers) {
            let series = match answer {
                Ok(s) => s,
                Err(e) => {
                    warn!(collector = "prometheus", signal = %q.signal, error = %e, "query failed");
                    failed.entry(e).or_default().push(&q.signal);
                    failures += 1;
                    continue;
                }
            };
            if let Ok(signal) = q.signal.parse::<EdgeSignal>() {
                for (labels, samples) in series {
                    let Some((client, server)) = crate::metrics::edge_ends(
                        &labels,
                        q.client_label.as_deref(),
                        q.server_label.as_deref(),
                    ) else {
                        continue;
                    };
                    if samples.is_empty() {
                        continue;
                    }
                    let (client, server) = (obs.names.intern(client), obs.names.intern(server));
                    obs.edges.push(EdgeSeries {
                        client,
                        server,
                        signal,
                        labels,
                        samples,
                    });
                }
                continue;
            }
            let signal: Signal = match q.signal.parse() {
                Ok(s) => s,
                Err(never) => match never {},
            };
            for (labels, samples) in series {
                let Some(component) =
                    crate::metrics::component_of(&labels, q.component_label.as_deref())
                else {
                    continue;
                };
                if samples.is_empty() {
                    continue;
                }
                let component = obs.names.intern(component);
                obs.series.push(Series {
                    component,
                    signal: signal.clone(),
                    labels,
                    samples,
                });
            }
        }
        let failed: Vec<String> = failed
            .into_iter()
            .map(|(why, signals)| format!("{} ({why})", signals.join(", ")))
            .collect();
        if failures == self.queries.len() {
            return Err(CollectError::Unreachable {
                backend: "prometheus",
                url: self.base.clone(),
                reason: format!("every query failed: {}", failed.join("; ")),
            });
        }
        let partial =
            (!failed.is_empty()).then(|| format!("queries failed: {}", failed.join("; ")));
        Ok(Pulled { obs, partial })
    }
}
