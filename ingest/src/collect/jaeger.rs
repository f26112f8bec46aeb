//! Jaeger's query API: `/api/v3/traces` (OTLP JSON wrapped as `{"result": ..}`),
//! with the older `/api/traces` (Jaeger JSON) as fallback when the v3 API is
//! not there.
//!
//! Jaeger searches traces one service at a time. We ask for every service
//! (or the configured ones), a few at once, and keep each span (trace id and
//! span id) once: the first answer, in service name order, wins, so the result
//! does not depend on which answer came first, and spans stored twice (OTLP
//! delivery is at least once) count once.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tracing::{debug, instrument};

use super::{http_client, reqwest_reason, CollectError, CollectWindow, Pulled, TraceSource};
use crate::model::{Micros, Observations};
use crate::traces::read_traces;

/// How many service searches run at once.
const PARALLEL: usize = 4;

/// Which of Jaeger's APIs answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    V3,
    Legacy,
}

/// Traces from a Jaeger query service.
pub struct JaegerSource {
    base: String,
    client: reqwest::Client,
    /// Services to search; empty: every service Jaeger knows.
    services: Vec<String>,
    /// Services never searched (Jaeger's and rca's own spans).
    exclude: Vec<String>,
    /// Traces asked for per service.
    max_traces: u32,
}

impl JaegerSource {
    /// `base` is the query service's root, e.g. `http://127.0.0.1:16686`.
    pub fn new(
        base: &str,
        services: Vec<String>,
        exclude: Vec<String>,
        max_traces: u32,
        timeout: Duration,
    ) -> JaegerSource {
        JaegerSource {
            base: base.trim_end_matches('/').to_string(),
            client: http_client(timeout),
            services,
            exclude,
            max_traces,
        }
    }

    async fn get(&self, url: &str) -> Result<(u16, Vec<u8>), CollectError> {
        let resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| self.unreachable(url, &e))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| self.unreachable(url, &e))?;
        Ok((status, body.to_vec()))
    }

    fn unreachable(&self, url: &str, e: &reqwest::Error) -> CollectError {
        CollectError::Unreachable {
            backend: "jaeger",
            url: url.to_string(),
            reason: reqwest_reason(e),
        }
    }

    fn status(url: &str, status: u16, body: &[u8]) -> CollectError {
        CollectError::Status {
            backend: "jaeger",
            url: url.to_string(),
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
        }
    }

    /// The services to search, and which API lists them.
    async fn services(&self) -> Result<(Vec<String>, Api), CollectError> {
        let url = format!("{}/api/v3/services", self.base);
        let (status, body) = self.get(&url).await?;
        let api = match status {
            200 => Api::V3,
            404 => Api::Legacy,
            _ => return Err(Self::status(&url, status, &body)),
        };
        let mut names = if !self.services.is_empty() {
            self.services.clone()
        } else if api == Api::V3 {
            #[derive(Deserialize)]
            struct V3 {
                #[serde(default)]
                services: Vec<String>,
            }
            let v: V3 = serde_json::from_slice(&body)
                .map_err(|e| crate::IngestError::json(PathBuf::from(&url), e))?;
            v.services
        } else {
            let url = format!("{}/api/services", self.base);
            let (status, body) = self.get(&url).await?;
            if status != 200 {
                return Err(Self::status(&url, status, &body));
            }
            #[derive(Deserialize)]
            struct Legacy {
                #[serde(default)]
                data: Option<Vec<String>>,
            }
            let v: Legacy = serde_json::from_slice(&body)
                .map_err(|e| crate::IngestError::json(PathBuf::from(&url), e))?;
            v.data.unwrap_or_default()
        };
        names.retain(|n| !self.exclude.contains(n));
        names.sort();
        names.dedup();
        Ok((names, api))
    }

    /// One service's traces in the window, read into their own observations.
    async fn search(
        &self,
        service: &str,
        window: &CollectWindow,
        api: Api,
    ) -> Result<Observations, CollectError> {
        let (url, query) = match api {
            Api::V3 => (
                format!("{}/api/v3/traces", self.base),
                vec![
                    ("query.service_name", service.to_string()),
                    ("query.start_time_min", rfc3339_nanos(window.start)),
                    ("query.start_time_max", rfc3339_nanos(window.end)),
                    ("query.num_traces", self.max_traces.to_string()),
                ],
            ),
            Api::Legacy => (
                format!("{}/api/traces", self.base),
                vec![
                    ("service", service.to_string()),
                    ("start", window.start.to_string()),
                    ("end", window.end.to_string()),
                    ("limit", self.max_traces.to_string()),
                ],
            ),
        };
        let resp = self
            .client
            .get(&url)
            .query(&query)
            .send()
            .await
            .map_err(|e| self.unreachable(&url, &e))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| self.unreachable(&url, &e))?;
        // Jaeger v2 answers a search that found nothing with 404 and the
        // message "No traces found": an empty result, not a failure.
        if status == 404 && memchr::memmem::find(&body, b"No traces found").is_some() {
            return Ok(Observations::default());
        }
        if status != 200 {
            return Err(Self::status(&url, status, &body));
        }
        let name = PathBuf::from(format!("{url}?service={service}"));
        tokio::task::spawn_blocking(move || {
            let mut obs = Observations::default();
            read_traces(&name, &body, &mut obs).map(|_| obs)
        })
        .await
        .map_err(|e| CollectError::NotConfigured(format!("trace reader stopped: {e}")))?
        .map_err(CollectError::from)
    }
}

#[async_trait]
impl TraceSource for JaegerSource {
    fn name(&self) -> &str {
        "jaeger"
    }

    #[instrument(skip_all, fields(collector = "jaeger", base = %self.base))]
    async fn traces(&self, window: &CollectWindow) -> Result<Pulled, CollectError> {
        let (services, api) = self.services().await?;
        debug!(services = services.len(), ?api, "searching traces");
        let gate = Arc::new(Semaphore::new(PARALLEL));
        let mut tasks = Vec::with_capacity(services.len());
        for service in &services {
            let gate = gate.clone();
            tasks.push(async move {
                let _permit = gate.acquire().await;
                self.search(service, window, api).await
            });
        }
        let answers = super::join_all(tasks).await;

        // Each span once: a trace comes back for every service on it, and
        // at-least-once delivery can store a span twice. The first answer,
        // in service name order, wins.
        let mut out = Observations::default();
        let mut seen: HashSet<(u128, u64)> = HashSet::new();
        let mut failed = Vec::new();
        for (service, answer) in services.iter().zip(answers) {
            let mut obs = match answer {
                Ok(obs) => obs,
                Err(e) => {
                    failed.push(format!("{service}: {e}"));
                    continue;
                }
            };
            obs.spans.retain(|s| seen.insert((s.trace_id, s.span_id)));
            out.merge(obs);
        }
        if !failed.is_empty() && failed.len() == services.len() {
            return Err(CollectError::NotConfigured(format!(
                "every trace search failed: {}",
                failed.join("; ")
            )));
        }
        let partial =
            (!failed.is_empty()).then(|| format!("searches failed for {}", failed.join("; ")));
        Ok(Pulled { obs: out, partial })
    }
}

fn rfc3339_nanos(t: Micros) -> String {
    DateTime::<Utc>::from_timestamp_micros(t)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}
