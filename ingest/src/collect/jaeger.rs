//! Jaeger's query API. Three ways in, the first that answers:
//!
//! 1. The `api_v3` gRPC `QueryService` (`jaeger.grpc_url`, by default port
//!    16685 of the HTTP API's host when that is on Jaeger's 16686): OTLP
//!    protobuf, streamed a trace at a time (see the submodule `grpc`).
//! 2. `/api/v3/traces` over HTTP: OTLP JSON wrapped as `{"result": ..}`.
//! 3. The older `/api/traces` (Jaeger JSON), when the v3 API is not there.
//!
//! The v3 HTTP API takes no attributes, so when it is the one in use a
//! search for failing traces goes to the older API, which Jaeger v2 serves
//! beside it.
//!
//! Jaeger finds traces one service at a time, and a trace comes back for
//! every service on it: searching each service in full pulls the window's
//! traces as many times over as a request has hops (twelve times for a
//! 100k-span window of twelve services, 330 MB of JSON). So by default
//! ([`TraceSearch::Covering`]) the search goes:
//!
//! 1. A sample of every service: [`SAMPLE`] of its traces in the window
//!    (Jaeger's in-memory store gives the most recent). A service with
//!    fewer is complete there and then.
//! 2. Services in order of how many sampled traces start at them (entry
//!    services first), then by name. A service whose sample holds a trace
//!    not yet in hand is searched in full. One whose sample is all in hand
//!    is taken as covered, except for its operations that no span in hand
//!    has: each of those is searched in full on its own (a cron job's
//!    traces, say, that never pass the entry service).
//!
//! What this can miss: traces that start at a service also reached through
//! an entry service, under an operation name the entry's traces also have,
//! and too rare to show in the service's sample. [`TraceSearch::EveryService`]
//! searches every service in full instead.
//!
//! In the covering search, a full search cuts the window into [`SLICES`]
//! slices searched at once: Jaeger and our reader each use every core that
//! way (measured with `scripts/bench-live`: 1.5-1.7 s against 1.9-2.1 s
//! whole, for a 100k-span window).
//!
//! Each span (trace id, span id) is kept once, the first in a fixed order,
//! so the result does not depend on which answer came first; spans stored
//! twice (OTLP delivery is at least once) count once. A full search that
//! returns as many traces as it asked for may have been cut short: the
//! result says so.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tracing::{debug, instrument};

use super::{http_client, reqwest_reason, CollectError, CollectWindow, Pulled, TraceSource};
use crate::model::{Micros, Observations, Sym};
use crate::sample::{slow_thresholds, TraceSampling};
use crate::traces::read_traces;

mod grpc;

/// How many searches run at once by default (`jaeger.parallel`): two per
/// core of a small Jaeger, enough to keep it busy without queueing.
pub const PARALLEL: usize = 4;
/// The first wait after Jaeger answers 429 or 503 without `Retry-After`,
/// doubled on each further refusal: a quarter second is about one search's
/// time on a loaded query service.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
/// The longest single wait, whatever `Retry-After` asks: beyond it the
/// collect timeout would end the collection anyway.
const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// Refusals of one request before its answer stands (about 16 s of waits
/// at most, past any collect timeout worth having).
const BACKOFF_TRIES: u32 = 6;
/// Traces in each service's sample.
pub const SAMPLE: u32 = 32;
/// Slices a full search's window is cut into.
pub const SLICES: i64 = 4;

/// How the window's traces are found (see the module's documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceSearch {
    /// Sample every service; search in full only what the samples show is
    /// not yet in hand.
    #[default]
    Covering,
    /// Search every service in full.
    EveryService,
}

/// Which of Jaeger's APIs answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    Grpc,
    V3,
    Legacy,
}

/// One search: a service (and maybe one of its operations) over a time range.
#[derive(Clone, Copy, Debug)]
struct Query<'a> {
    service: &'a str,
    operation: Option<&'a str>,
    start: Micros,
    end: Micros,
    limit: u32,
    /// Only traces with a span of error status (Jaeger's `error=true`).
    failing: bool,
    /// Only traces with a span of the service (and operation) lasting at
    /// least this long.
    min_duration: Option<Micros>,
    /// One slice of a sample: its limit is the sample's size, not a cap.
    stratum: bool,
}

impl Query<'_> {
    fn describe(&self) -> String {
        let mut d = match self.operation {
            Some(op) => format!("{} operation {op:?}", self.service),
            None => self.service.to_string(),
        };
        if self.failing {
            d.push_str(" failing");
        }
        if let Some(us) = self.min_duration {
            d.push_str(&format!(" at least {us} µs"));
        }
        d
    }
}

/// One search's answer.
struct Found {
    obs: Observations,
    /// The traces it holds.
    traces: HashSet<u128>,
}

impl Found {
    fn new(obs: Observations) -> Found {
        let traces = obs.spans.iter().map(|s| s.trace_id).collect();
        Found { obs, traces }
    }

    /// The service each trace starts at, for those whose root is here.
    fn roots(&self) -> HashMap<u128, &str> {
        self.obs
            .spans
            .iter()
            .filter(|s| s.parent_id == 0)
            .map(|s| (s.trace_id, self.obs.names.name(s.component)))
            .collect()
    }
}

/// Traces from a Jaeger query service.
pub struct JaegerSource {
    base: String,
    client: reqwest::Client,
    /// The gRPC query service, tried first (`None`: HTTP only).
    grpc: Option<grpc::QueryClient>,
    /// Whether the gRPC service's silence was already logged.
    grpc_warned: std::sync::atomic::AtomicBool,
    timeout: Duration,
    /// Services to search; empty: every service Jaeger knows.
    services: Vec<String>,
    /// Services never searched (Jaeger's and rca's own spans).
    exclude: Vec<String>,
    /// Traces asked for per search.
    max_traces: u32,
    search: TraceSearch,
    /// Searches in flight at most.
    parallel: usize,
    /// Sample the window instead of reading it whole (see
    /// [`crate::sample`]).
    sampling: Option<TraceSampling>,
    /// Until when every request waits: Jaeger asked to slow down (429 or
    /// 503). Shared by all the collections this source serves, since they
    /// all load the one Jaeger.
    pause: Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
}

/// How long a refused request waits: `Retry-After` in seconds when given,
/// else [`BACKOFF_FIRST`] doubled per earlier refusal; at most
/// [`BACKOFF_MAX`].
fn backoff(retry_after: Option<&str>, refusals: u32) -> Duration {
    let asked = retry_after
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(BACKOFF_MAX.as_secs_f64())));
    asked
        .unwrap_or_else(|| BACKOFF_FIRST.saturating_mul(1 << refusals.min(16)))
        .min(BACKOFF_MAX)
}

/// What the searches have brought in so far.
#[derive(Default)]
struct Gathered {
    out: Observations,
    spans: HashSet<(u128, u64)>,
    traces: HashSet<u128>,
    /// (service, operation) of the spans in hand, in `out`'s names.
    operations: HashSet<(Sym, Sym)>,
    /// Searches that failed, and searches that may have been cut short.
    failed: Vec<String>,
    truncated: Vec<String>,
    /// Searches made, for the log.
    searches: usize,
    /// Slices of a sample searched, and those that held more than the
    /// sample's size.
    strata: usize,
    thinned: usize,
    /// Services whose search for failing traces answered traces that do
    /// not fail: the backend cannot select them.
    failing_unselected: Vec<String>,
}

impl Gathered {
    fn add(&mut self, mut obs: Observations) {
        obs.spans
            .retain(|s| self.spans.insert((s.trace_id, s.span_id)));
        let from = self.out.spans.len();
        self.out.merge(obs);
        for s in &self.out.spans[from..] {
            self.traces.insert(s.trace_id);
            self.operations.insert((s.component, s.operation));
        }
    }

    /// Whether a span in hand is `service`'s `operation`.
    fn has_operation(&self, service: &str, operation: &str) -> bool {
        match (self.out.names.get(service), self.out.names.get(operation)) {
            (Some(c), Some(o)) => self.operations.contains(&(c, o)),
            _ => false,
        }
    }

    /// Takes one search's answer. A full search that found as many traces
    /// as it asked for may have been cut short; a sample was asked to stop.
    fn take(&mut self, q: &Query, answer: Result<Found, CollectError>, full: bool) {
        self.searches += 1;
        match answer {
            Ok(found) => {
                let reached = found.traces.len() as u64 >= u64::from(q.limit);
                if q.stratum {
                    self.strata += 1;
                    self.thinned += usize::from(reached);
                } else if full && reached {
                    self.truncated.push(format!(
                        "{} {}..{}",
                        q.describe(),
                        rfc3339(q.start),
                        rfc3339(q.end)
                    ));
                }
                self.add(found.obs);
            }
            Err(e) => self.failed.push(format!("{}: {e}", q.describe())),
        }
    }
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
            grpc: None,
            grpc_warned: Default::default(),
            timeout,
            services,
            exclude,
            max_traces: max_traces.max(1),
            search: TraceSearch::default(),
            parallel: PARALLEL,
            sampling: None,
            pause: Arc::default(),
        }
    }

    /// Samples each window this way (`None`: reads it whole).
    pub fn with_sampling(mut self, sampling: Option<TraceSampling>) -> JaegerSource {
        self.sampling = sampling.filter(|s| s.per_slice > 0);
        self
    }

    /// Runs at most `n` searches at once (at least one).
    pub fn with_parallel(mut self, n: usize) -> JaegerSource {
        self.parallel = n.max(1);
        self
    }

    /// Tries Jaeger's gRPC query service at `url` (`http://host:16685`)
    /// first, the HTTP API when it does not answer.
    pub fn with_grpc(mut self, url: &str) -> Result<JaegerSource, CollectError> {
        self.grpc =
            Some(grpc::QueryClient::new(url, self.timeout).map_err(CollectError::NotConfigured)?);
        Ok(self)
    }

    /// Searches the traces this way instead of the default.
    pub fn with_search(mut self, search: TraceSearch) -> JaegerSource {
        self.search = search;
        self
    }

    async fn get(
        &self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<(u16, Vec<u8>), CollectError> {
        let mut refusals = 0;
        loop {
            self.paused().await;
            let resp = self
                .client
                .get(url)
                .query(query)
                .send()
                .await
                .map_err(|e| self.unreachable(url, &e))?;
            let status = resp.status().as_u16();
            // Too many requests, or overloaded: every request of this source
            // waits, then this one is asked again; the last refusal stands
            // (the search then fails, and the incident says so).
            if matches!(status, 429 | 503) && refusals < BACKOFF_TRIES {
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok());
                refusals += 1;
                self.slow_down(
                    backoff(retry_after, refusals - 1),
                    refusals,
                    status.to_string(),
                );
                continue;
            }
            let body = resp.bytes().await.map_err(|e| self.unreachable(url, &e))?;
            return Ok((status, body.to_vec()));
        }
    }

    /// Waits while Jaeger asked every request to wait.
    async fn paused(&self) {
        let until = *self.pause.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    /// Makes every request of this source wait `wait` from now (or longer,
    /// when an earlier refusal asked so).
    fn slow_down(&self, wait: Duration, refusals: u32, answer: String) {
        let until = tokio::time::Instant::now() + wait;
        {
            let mut pause = self.pause.lock().unwrap_or_else(|p| p.into_inner());
            if pause.is_none_or(|p| p < until) {
                *pause = Some(until);
            }
        }
        tracing::warn!(
            answer,
            wait_ms = wait.as_millis() as u64,
            refusals,
            "jaeger asks to slow down"
        );
    }

    /// The gRPC client, which [`Api::Grpc`] is only chosen with.
    fn grpc_client(&self) -> Result<&grpc::QueryClient, CollectError> {
        self.grpc.as_ref().ok_or_else(|| {
            CollectError::NotConfigured("jaeger: gRPC chosen without jaeger.grpc_url".into())
        })
    }

    fn grpc_error(&self, c: &grpc::QueryClient, e: grpc::GrpcError) -> CollectError {
        match e {
            grpc::GrpcError::Malformed(m) => {
                crate::IngestError::malformed(std::path::Path::new(c.url()), m).into()
            }
            e => CollectError::Grpc {
                backend: "jaeger",
                url: c.url().to_string(),
                reason: e.to_string(),
            },
        }
    }

    fn unreachable(&self, url: &str, e: &reqwest::Error) -> CollectError {
        CollectError::Unreachable {
            backend: "jaeger",
            url: url.to_string(),
            reason: reqwest_reason(e),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, CollectError> {
        serde_json::from_slice(body)
            .map_err(|e| crate::IngestError::json(PathBuf::from(url), e).into())
    }

    /// The services to search, and which API lists them.
    async fn services(&self) -> Result<(Vec<String>, Api), CollectError> {
        if let Some(c) = &self.grpc {
            match c.services().await {
                Ok(names) => return Ok((self.chosen(names), Api::Grpc)),
                Err(e) => {
                    // Once per source at warn level: a Jaeger older than
                    // api_v3, or a port not exposed, is a setting to fix,
                    // not news on every alert.
                    let first = !self
                        .grpc_warned
                        .swap(true, std::sync::atomic::Ordering::Relaxed);
                    if first {
                        tracing::warn!(grpc = c.url(), error = %e, base = %self.base, "jaeger's gRPC query service did not answer; reading JSON over HTTP");
                    } else {
                        debug!(grpc = c.url(), error = %e, "jaeger gRPC did not answer; HTTP");
                    }
                }
            }
        }
        let url = format!("{}/api/v3/services", self.base);
        let (status, body) = self.get(&url, &[]).await?;
        let api = match status {
            200 => Api::V3,
            404 => Api::Legacy,
            _ => return Err(CollectError::status("jaeger", &url, status, &body)),
        };
        let names = if !self.services.is_empty() {
            self.services.clone()
        } else if api == Api::V3 {
            #[derive(Deserialize)]
            struct V3 {
                #[serde(default)]
                services: Vec<String>,
            }
            Self::json::<V3>(&url, &body)?.services
        } else {
            let url = format!("{}/api/services", self.base);
            let (status, body) = self.get(&url, &[]).await?;
            if status != 200 {
                return Err(CollectError::status("jaeger", &url, status, &body));
            }
            #[derive(Deserialize)]
            struct Legacy {
                #[serde(default)]
                data: Option<Vec<String>>,
            }
            Self::json::<Legacy>(&url, &body)?.data.unwrap_or_default()
        };
        Ok((self.chosen(names), api))
    }

    /// The services to search among `known`: the configured ones when
    /// there are any, less the excluded, each once, sorted.
    fn chosen(&self, known: Vec<String>) -> Vec<String> {
        let mut names = if self.services.is_empty() {
            known
        } else {
            self.services.clone()
        };
        names.retain(|n| !self.exclude.contains(n));
        names.sort();
        names.dedup();
        names
    }

    /// The operations Jaeger knows for `service`, each name once. Both
    /// APIs answer a list of `{"name": .., "spanKind": ..}`, under
    /// `operations` (v3) or `data` (legacy).
    async fn operations(&self, service: &str, api: Api) -> Result<Vec<String>, CollectError> {
        #[derive(Deserialize)]
        struct Op {
            name: String,
        }
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default, alias = "data")]
            operations: Option<Vec<Op>>,
        }
        let path = match api {
            Api::Grpc => {
                let c = self.grpc_client()?;
                let mut names = c
                    .operations(service)
                    .await
                    .map_err(|e| self.grpc_error(c, e))?;
                names.sort();
                names.dedup();
                return Ok(names);
            }
            Api::V3 => "/api/v3/operations",
            Api::Legacy => "/api/operations",
        };
        let url = format!("{}{path}", self.base);
        let (status, body) = self.get(&url, &[("service", service.to_string())]).await?;
        if status != 200 {
            return Err(CollectError::status("jaeger", &url, status, &body));
        }
        let answer: Answer = Self::json(&url, &body)?;
        let mut names: Vec<String> = answer
            .operations
            .unwrap_or_default()
            .into_iter()
            .map(|o| o.name)
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// One search, read into its own observations.
    async fn search(&self, q: Query<'_>, api: Api) -> Result<Found, CollectError> {
        // The v3 HTTP API takes no attributes: a search for failing traces
        // goes to the older API, which Jaeger v2 serves beside it.
        let v3 = match api {
            Api::Grpc => return self.search_grpc(q).await,
            Api::V3 => !q.failing,
            Api::Legacy => false,
        };
        let (url, mut query) = if v3 {
            (
                format!("{}/api/v3/traces", self.base),
                vec![
                    ("query.service_name", q.service.to_string()),
                    ("query.start_time_min", rfc3339(q.start)),
                    ("query.start_time_max", rfc3339(q.end)),
                    ("query.num_traces", q.limit.to_string()),
                ],
            )
        } else {
            (
                format!("{}/api/traces", self.base),
                vec![
                    ("service", q.service.to_string()),
                    ("start", q.start.to_string()),
                    ("end", q.end.to_string()),
                    ("limit", q.limit.to_string()),
                ],
            )
        };
        if let Some(op) = q.operation {
            let key = if v3 {
                "query.operation_name"
            } else {
                "operation"
            };
            query.push((key, op.to_string()));
        }
        if let Some(us) = q.min_duration {
            let key = if v3 {
                "query.duration_min"
            } else {
                "minDuration"
            };
            query.push((key, format!("{us}us")));
        }
        if q.failing {
            query.push(("tags", r#"{"error":"true"}"#.to_string()));
        }
        let t0 = std::time::Instant::now();
        let (status, body) = self.get(&url, &query).await?;
        debug!(
            search = %q.describe(),
            start = q.start,
            ms = t0.elapsed().as_millis() as u64,
            bytes = body.len(),
            "jaeger answered"
        );
        // Jaeger v2 answers a search that found nothing with 404 and the
        // message "No traces found": an empty result, not a failure.
        if status == 404 && memchr::memmem::find(&body, b"No traces found").is_some() {
            return Ok(Found::new(Observations::default()));
        }
        if status != 200 {
            return Err(CollectError::status("jaeger", &url, status, &body));
        }
        let name = PathBuf::from(format!("{url}?service={}", q.describe()));
        tokio::task::spawn_blocking(move || {
            let mut obs = Observations::default();
            read_traces(&name, &body, &mut obs).map(|_| Found::new(obs))
        })
        .await
        .map_err(CollectError::stopped("trace"))?
        .map_err(CollectError::from)
    }

    /// One search over gRPC, its traces converted as they stream in;
    /// slowed down and asked again as an HTTP search is when Jaeger is
    /// busy.
    async fn search_grpc(&self, q: Query<'_>) -> Result<Found, CollectError> {
        let c = self.grpc_client()?;
        let find = grpc::Find {
            service: q.service,
            operation: q.operation,
            start: q.start,
            end: q.end,
            limit: q.limit,
            failing: q.failing,
            min_duration: q.min_duration,
        };
        let mut refusals = 0;
        loop {
            self.paused().await;
            let t0 = std::time::Instant::now();
            let mut obs = Observations::default();
            match c.find(&find, &mut obs).await {
                Ok(traces) => {
                    debug!(
                        search = %q.describe(),
                        start = q.start,
                        ms = t0.elapsed().as_millis() as u64,
                        traces,
                        "jaeger answered (gRPC)"
                    );
                    return Ok(Found::new(obs));
                }
                Err(grpc::GrpcError::Busy(s)) if refusals < BACKOFF_TRIES => {
                    refusals += 1;
                    let wait = backoff(None, refusals - 1);
                    self.slow_down(wait, refusals, format!("{:?}", s.code()));
                }
                Err(e) => return Err(self.grpc_error(c, e)),
            }
        }
    }

    /// `whole` cut into [`SLICES`] slices of time, in time order (a window
    /// under a second a slice stays whole).
    fn sliced<'a>(&self, whole: Query<'a>) -> Vec<Query<'a>> {
        within(
            whole,
            crate::sample::cut(whole.start, whole.end, SLICES, 1_000_000),
        )
    }

    /// Runs `queries` at once, at most `parallel` in flight; the answers
    /// in the order given.
    async fn search_all(
        &self,
        queries: &[Query<'_>],
        api: Api,
    ) -> Vec<Result<Found, CollectError>> {
        let gate = Arc::new(Semaphore::new(self.parallel));
        let tasks = queries.iter().map(|q| {
            let gate = gate.clone();
            async move {
                let _permit = gate.acquire().await;
                self.search(*q, api).await
            }
        });
        futures::future::join_all(tasks).await
    }

    /// Full searches, their answers taken in the order given.
    async fn run_all(&self, queries: &[Query<'_>], api: Api, into: &mut Gathered) {
        for (q, answer) in queries.iter().zip(self.search_all(queries, api).await) {
            into.take(q, answer, true);
        }
    }

    /// A full search of `service` (or one of its operations) over the
    /// window, sliced; when sampling, the sample's slices instead.
    fn full<'a>(
        &self,
        service: &'a str,
        operation: Option<&'a str>,
        window: &CollectWindow,
    ) -> Vec<Query<'a>> {
        let q = Query {
            operation,
            ..whole(service, window, self.max_traces)
        };
        match &self.sampling {
            None => self.sliced(q),
            Some(rule) => within(
                Query {
                    limit: rule.per_slice,
                    stratum: true,
                    ..q
                },
                rule.slices_of(window.start, window.end),
            ),
        }
    }

    /// What a sample reads in full: every service's failing traces, and
    /// the slow traces of every operation that starts traces in hand (at
    /// least [`crate::sample::SLOW_FACTOR`] times its median there).
    async fn tails(&self, services: &[String], window: &CollectWindow, api: Api, g: &mut Gathered) {
        let slow: Vec<(String, String, Micros)> = {
            let names = &g.out.names;
            let mut v: Vec<_> = slow_thresholds(&g.out.spans)
                .into_iter()
                .map(|((c, o), t)| (names.name(c).to_string(), names.name(o).to_string(), t))
                .filter(|(c, _, _)| services.contains(c))
                .collect();
            v.sort();
            v
        };
        // Every failing trace, up to the sample's own size a service: a
        // window failing more often than that has its share of failures
        // well estimated by the sample anyway.
        let rule = self.sampling.unwrap_or_default();
        let cap = rule
            .per_slice
            .saturating_mul(rule.slices)
            .min(self.max_traces);
        // One trace first, from the service most traces start at: when
        // Jaeger answers it with a trace that does not fail, it cannot
        // select failing traces, and asking each service would only read
        // the healthy ones.
        let entry = {
            let mut roots: HashMap<&str, usize> = HashMap::new();
            for s in g.out.spans.iter().filter(|s| s.parent_id == 0) {
                *roots.entry(g.out.names.name(s.component)).or_default() += 1;
            }
            services.iter().max_by_key(|s| {
                (
                    roots.get(s.as_str()).copied().unwrap_or(0),
                    std::cmp::Reverse(*s),
                )
            })
        };
        if let Some(entry) = entry {
            let probe = Query {
                failing: true,
                ..whole(entry, window, 1)
            };
            if let Ok(found) = self.search(probe, api).await {
                if found.obs.spans.iter().all(|s| !s.error) && !found.traces.is_empty() {
                    g.searches += 1;
                    g.failing_unselected.push(entry.to_string());
                    return self.slow_tails(slow, window, api, g).await;
                }
            }
        }
        let failing: Vec<Query> = services
            .iter()
            .map(|s| Query {
                failing: true,
                ..whole(s, window, cap)
            })
            .collect();
        for (q, answer) in failing.iter().zip(self.search_all(&failing, api).await) {
            // Keep only traces that do fail: Jaeger v2's in-memory store
            // (v1.76) reads the query's `error` as a string, takes it for
            // false and answers the traces that did *not* fail.
            let answer = answer.map(|mut found| {
                let fails: HashSet<u128> = found
                    .obs
                    .spans
                    .iter()
                    .filter(|s| s.error)
                    .map(|s| s.trace_id)
                    .collect();
                if fails.len() < found.traces.len() {
                    g.failing_unselected.push(q.service.to_string());
                }
                found.obs.spans.retain(|s| fails.contains(&s.trace_id));
                found.traces = fails;
                found
            });
            g.take(q, answer, true);
        }
        self.slow_tails(slow, window, api, g).await;
    }

    /// The slow traces of each (service, operation, least duration).
    async fn slow_tails(
        &self,
        slow: Vec<(String, String, Micros)>,
        window: &CollectWindow,
        api: Api,
        g: &mut Gathered,
    ) {
        let queries: Vec<Query> = slow
            .iter()
            .map(|(service, op, t)| Query {
                operation: Some(op.as_str()),
                min_duration: Some(*t),
                ..whole(service, window, self.max_traces)
            })
            .collect();
        self.run_all(&queries, api, g).await;
    }

    async fn every_service(
        &self,
        services: &[String],
        window: &CollectWindow,
        api: Api,
    ) -> Gathered {
        let mut g = Gathered::default();
        // Whole windows: the services already keep every core busy, and
        // each slice would make Jaeger scan its store once more (measured:
        // 7.9 s sliced against 6.2 s whole, for a 100k-span window).
        let queries: Vec<Query> = services
            .iter()
            .flat_map(|s| match self.sampling {
                Some(_) => self.full(s, None, window),
                None => vec![whole(s, window, self.max_traces)],
            })
            .collect();
        self.run_all(&queries, api, &mut g).await;
        if self.sampling.is_some() {
            self.tails(services, window, api, &mut g).await;
        }
        g
    }

    async fn covering(&self, services: &[String], window: &CollectWindow, api: Api) -> Gathered {
        let mut g = Gathered::default();
        let sample_queries: Vec<Query> = services
            .iter()
            .map(|s| whole(s, window, SAMPLE.min(self.max_traces)))
            .collect();
        let samples = self.search_all(&sample_queries, api).await;

        // Entry services first: those the sampled traces start at.
        let mut roots: HashMap<&str, usize> = HashMap::new();
        for found in samples.iter().flatten() {
            for s in found.obs.spans.iter().filter(|s| s.parent_id == 0) {
                if let Some(name) = services
                    .iter()
                    .find(|n| **n == found.obs.names.name(s.component))
                {
                    *roots.entry(name.as_str()).or_default() += 1;
                }
            }
        }
        let mut order: Vec<usize> = (0..services.len()).collect();
        order.sort_by_key(|&i| {
            (
                std::cmp::Reverse(roots.get(services[i].as_str()).copied().unwrap_or(0)),
                i,
            )
        });

        // When sampling, a trace that starts at a service already sampled
        // is covered by that sample, in hand or not.
        let mut sampled: HashSet<&str> = HashSet::new();
        for i in order {
            let service = services[i].as_str();
            let found = match &samples[i] {
                Ok(found) => found,
                Err(_) => continue, // taken below, with the samples
            };
            if (found.traces.len() as u64) < u64::from(SAMPLE.min(self.max_traces)) {
                continue; // the sample is all there is
            }
            let roots = found.roots();
            let uncovered = |t: &u128| {
                let in_hand = g.traces.contains(t);
                let covered =
                    self.sampling.is_some() && roots.get(t).is_some_and(|r| sampled.contains(r));
                !(in_hand || covered)
            };
            if found.traces.iter().any(uncovered) {
                self.run_all(&self.full(service, None, window), api, &mut g)
                    .await;
                sampled.insert(service);
                continue;
            }
            // Covered, but for operations no span in hand has.
            match self.operations(service, api).await {
                Ok(ops) => {
                    let missing: Vec<&str> = ops
                        .iter()
                        .map(String::as_str)
                        .filter(|op| !g.has_operation(service, op))
                        .collect();
                    let queries: Vec<Query> = missing
                        .iter()
                        .flat_map(|op| self.full(service, Some(op), window))
                        .collect();
                    self.run_all(&queries, api, &mut g).await;
                }
                Err(e) => {
                    debug!(service, error = %e, "operations not listed; searching the service in full");
                    self.run_all(&self.full(service, None, window), api, &mut g)
                        .await;
                }
            }
        }
        // The samples last: anything they hold that no full search brought
        // (when sampling, only traces no sample covers: the services'
        // samples are the most recent traces, and would weigh the window's
        // end).
        for (q, answer) in sample_queries.iter().zip(samples) {
            let answer = match (answer, self.sampling.is_some()) {
                (Ok(mut found), true) => {
                    let covered: HashSet<u128> = found
                        .roots()
                        .into_iter()
                        .filter(|(_, r)| sampled.contains(r))
                        .map(|(t, _)| t)
                        .collect();
                    found.obs.spans.retain(|s| !covered.contains(&s.trace_id));
                    Ok(found)
                }
                (answer, _) => answer,
            };
            g.take(q, answer, false);
        }
        if self.sampling.is_some() {
            self.tails(services, window, api, &mut g).await;
        }
        g
    }
}

#[async_trait]
impl TraceSource for JaegerSource {
    fn name(&self) -> &str {
        "jaeger"
    }

    #[instrument(skip_all, fields(collector = "jaeger", base = %self.base, search = ?self.search))]
    async fn traces(&self, window: &CollectWindow) -> Result<Pulled, CollectError> {
        let (services, api) = self.services().await?;
        let g = match self.search {
            TraceSearch::Covering => self.covering(&services, window, api).await,
            TraceSearch::EveryService => self.every_service(&services, window, api).await,
        };
        debug!(
            services = services.len(),
            searches = g.searches,
            strata = g.strata,
            thinned = g.thinned,
            spans = g.out.spans.len(),
            ?api,
            "traces searched"
        );
        if !g.failed.is_empty() && g.failed.len() == g.searches {
            return Err(CollectError::NotConfigured(format!(
                "every trace search failed: {}",
                g.failed.join("; ")
            )));
        }
        let mut partial = Vec::new();
        if !g.failed.is_empty() {
            partial.push(format!("searches failed for {}", g.failed.join("; ")));
        }
        if !g.truncated.is_empty() {
            partial.push(format!(
                "searches returned their limit of {} traces (jaeger.max_traces), so more may exist, for {}",
                self.max_traces,
                g.truncated.join("; ")
            ));
        }
        if let (Some(rule), true) = (&self.sampling, g.thinned > 0) {
            partial.push(format!(
                "sampled: {} of {} slices of a service's window held more than {} traces, of which the most recent {} were read (jaeger.sample_per_slice), with every failing trace and every trace at least {} times its operation's typical time in full; {} traces read",
                g.thinned,
                g.strata,
                rule.per_slice,
                rule.per_slice,
                crate::sample::SLOW_FACTOR,
                g.traces.len()
            ));
        }
        if !g.failing_unselected.is_empty() {
            partial.push(format!(
                "the search for failing traces answered traces that do not fail, for {}: this Jaeger cannot select them, so failing traces are read only as far as the sample holds them",
                g.failing_unselected.join(", ")
            ));
        }
        let partial = (!partial.is_empty()).then(|| partial.join("; "));
        Ok(Pulled {
            obs: g.out,
            partial,
        })
    }
}

/// `q` once for each of `slices`.
fn within<'a>(q: Query<'a>, slices: Vec<(Micros, Micros)>) -> Vec<Query<'a>> {
    slices
        .into_iter()
        .map(|(start, end)| Query { start, end, ..q })
        .collect()
}

/// A search of `service` over the whole window, for at most `limit` traces.
fn whole<'a>(service: &'a str, window: &CollectWindow, limit: u32) -> Query<'a> {
    Query {
        service,
        operation: None,
        start: window.start,
        end: window.end,
        limit,
        failing: false,
        min_duration: None,
        stratum: false,
    }
}

use crate::model::rfc3339_micros as rfc3339;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn backoff_takes_retry_after_else_doubles_and_is_bounded() {
        assert_eq!(backoff(Some("2"), 0), Duration::from_secs(2));
        assert_eq!(backoff(Some("3600"), 0), BACKOFF_MAX);
        assert_eq!(backoff(None, 0), BACKOFF_FIRST);
        assert_eq!(backoff(None, 2), BACKOFF_FIRST * 4);
        assert_eq!(backoff(Some("soon"), 1), BACKOFF_FIRST * 2);
        assert_eq!(backoff(Some("-1"), 0), BACKOFF_FIRST);
        assert_eq!(backoff(None, 40), BACKOFF_MAX);
    }

    /// A query service that refuses the first `refuse` requests with
    /// `status` (and `Retry-After: 0` when `immediate`), then lists one
    /// service; the count of requests it saw.
    async fn refusing(refuse: usize, status: u16, immediate: bool) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let mut buf = vec![0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let answer = if n < refuse {
                    let retry = if immediate { "Retry-After: 0\r\n" } else { "" };
                    format!("HTTP/1.1 {status} No\r\n{retry}Content-Length: 0\r\nConnection: close\r\n\r\n")
                } else {
                    let body = r#"{"services":["checkout"]}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = conn.write_all(answer.as_bytes()).await;
            }
        });
        (base, seen)
    }

    fn source(base: &str) -> JaegerSource {
        JaegerSource::new(base, Vec::new(), Vec::new(), 10, Duration::from_secs(5))
    }

    #[tokio::test]
    async fn a_busy_jaeger_slows_the_requests_down_instead_of_failing_them() {
        let (base, seen) = refusing(2, 429, false).await;
        let t0 = std::time::Instant::now();
        let (services, api) = source(&base).services().await.unwrap();
        assert_eq!(services, vec!["checkout".to_string()]);
        assert_eq!(api, Api::V3);
        assert_eq!(seen.load(Ordering::SeqCst), 3);
        // Waited the doubling backoff: a quarter second, then half.
        assert!(t0.elapsed() >= BACKOFF_FIRST * 3, "{:?}", t0.elapsed());

        let (base, seen) = refusing(3, 503, true).await;
        let (services, _) = source(&base).services().await.unwrap();
        assert_eq!(services, vec!["checkout".to_string()]);
        assert_eq!(seen.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_jaeger_that_keeps_refusing_gets_its_refusal_reported() {
        let (base, seen) = refusing(usize::MAX, 503, true).await;
        let err = source(&base).services().await.unwrap_err().to_string();
        assert!(err.contains("503"), "{err}");
        assert_eq!(seen.load(Ordering::SeqCst), 1 + BACKOFF_TRIES as usize);
    }
}
