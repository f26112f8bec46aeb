//! The observation model: what every reader produces and the engine consumes.
//!
//! Times are microseconds since the Unix epoch (`Micros`). Names that repeat a
//! great deal (components, operations, user agents, paths, TLS versions) are
//! interned once in [`Interner`] and carried as [`Sym`], so a million spans or
//! access-log lines cost a few dozen bytes each.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::BuildHasher;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};

/// Microseconds since the Unix epoch.
pub type Micros = i64;

/// `t` as RFC 3339 in whole seconds, UTC (`2026-03-01T12:00:00Z`): the
/// precision of incident times, window bounds and buckets, and of the
/// alert start an incident id is computed from.
pub fn rfc3339_secs(t: Micros) -> String {
    DateTime::<Utc>::from_timestamp_micros(t)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `t` as RFC 3339 to the microsecond, UTC: for backends' query bounds,
/// where a second's rounding would drop or add data.
pub fn rfc3339_micros(t: Micros) -> String {
    DateTime::<Utc>::from_timestamp_micros(t)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// An interned string; resolve it with [`Interner::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

/// Interns strings; one per [`Observations`].
///
/// Readers call [`Interner::intern`] once or more per record, millions of
/// times, almost always for a name already known. So names live one after
/// another in one string (one allocation for all, neighbours in cache), the
/// table holds only symbols, and a lookup is an FxHash of the `&str` and an
/// inlined comparison: no allocation, no SipHash, no call to `memcmp`.
#[derive(Default, Clone)]
pub struct Interner {
    table: HashTable<Sym>,
    /// Every name, concatenated in interning order.
    text: String,
    /// Where each name ends in `text`; it starts where the one before ends.
    ends: Vec<usize>,
}

impl fmt::Debug for Interner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(|(_, n)| n)).finish()
    }
}

impl Interner {
    #[inline]
    fn hash(s: &str) -> u64 {
        FxBuildHasher.hash_one(s)
    }

    #[inline]
    fn text_of<'t>(text: &'t str, ends: &[usize], sym: Sym) -> &'t str {
        let i = sym.0 as usize;
        let end = ends.get(i).copied().unwrap_or(0);
        let start = match i.checked_sub(1) {
            Some(before) => ends.get(before).copied().unwrap_or(0),
            None => 0,
        };
        text.get(start..end).unwrap_or_default()
    }

    #[inline]
    pub fn intern(&mut self, s: &str) -> Sym {
        let hash = Self::hash(s);
        let (text, ends) = (&self.text, &self.ends);
        if let Some(&sym) = self.table.find(hash, |&sym| {
            crate::wire::same_str(Self::text_of(text, ends, sym), s)
        }) {
            return sym;
        }
        self.insert_new(hash, s)
    }

    #[cold]
    fn insert_new(&mut self, hash: u64, s: &str) -> Sym {
        let sym = Sym(self.ends.len() as u32);
        self.text.push_str(s);
        self.ends.push(self.text.len());
        let (text, ends) = (&self.text, &self.ends);
        self.table.insert_unique(hash, sym, |&other| {
            Self::hash(Self::text_of(text, ends, other))
        });
        sym
    }
    /// The symbol of `s` if it was interned.
    pub fn get(&self, s: &str) -> Option<Sym> {
        let (text, ends) = (&self.text, &self.ends);
        self.table
            .find(Self::hash(s), |&sym| {
                crate::wire::same_str(Self::text_of(text, ends, sym), s)
            })
            .copied()
    }

    /// The name of `sym`.
    ///
    /// # Panics
    /// If `sym` was not issued by this interner.
    pub fn name(&self, sym: Sym) -> &str {
        assert!(
            (sym.0 as usize) < self.ends.len(),
            "symbol {} not issued by this interner",
            sym.0
        );
        Self::text_of(&self.text, &self.ends, sym)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Every interned name with its symbol, in interning order.
    pub fn iter(&self) -> impl Iterator<Item = (Sym, &str)> + '_ {
        (0..self.ends.len()).map(|i| {
            let sym = Sym(i as u32);
            (sym, Self::text_of(&self.text, &self.ends, sym))
        })
    }
}

/// A half-open time window `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    pub start: Micros,
    pub end: Micros,
}

impl TimeWindow {
    pub fn contains(&self, t: Micros) -> bool {
        t >= self.start && t < self.end
    }

    pub fn duration(&self) -> Micros {
        self.end - self.start
    }
}

/// The kinds of observation `rca` correlates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    Traces,
    Metrics,
    AccessLogs,
    Logs,
    Goroutines,
}

impl Modality {
    pub const ALL: [Modality; 5] = [
        Modality::Traces,
        Modality::Metrics,
        Modality::AccessLogs,
        Modality::Logs,
        Modality::Goroutines,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Traces => "traces",
            Modality::Metrics => "metrics",
            Modality::AccessLogs => "access_logs",
            Modality::Logs => "logs",
            Modality::Goroutines => "goroutines",
        }
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// OpenTelemetry span kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// From OTLP's numeric `kind` (0..=5).
    pub fn from_otlp(n: i64) -> SpanKind {
        match n {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// From a `span.kind` tag value (`server`, `client`, ...), as Jaeger stores it.
    pub fn from_tag(s: &str) -> SpanKind {
        match s.to_ascii_lowercase().as_str() {
            "internal" => SpanKind::Internal,
            "server" => SpanKind::Server,
            "client" => SpanKind::Client,
            "producer" => SpanKind::Producer,
            "consumer" => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }
}

/// One span. `parent_id == 0` means a root span.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub trace_id: u128,
    pub span_id: u64,
    pub parent_id: u64,
    /// The service that emitted the span (`service.name`).
    pub component: Sym,
    pub operation: Sym,
    pub kind: SpanKind,
    pub start: Micros,
    pub duration: Micros,
    /// OTLP status code ERROR, or Jaeger's `error=true` tag.
    pub error: bool,
    /// `http.response.status_code` / `http.status_code`, 0 when absent.
    pub http_status: u16,
    /// The remote side of a client span: `peer.service`, else `server.address`
    /// / `net.peer.name`, else `db.system`.
    pub peer: Option<Sym>,
    /// The type of an `exception` span event, when the span recorded one
    /// (`exception.type`, else the event's message).
    pub exception: Option<Sym>,
    /// The name of its first span event that is not an exception: OTLP
    /// span events are lines written into the span ("Waiting for lock
    /// behind 3 transactions", "retrying").
    pub event: Option<Sym>,
    /// Set when the span carries the tag `component=proxy`, as Envoy's spans do.
    pub proxy: bool,
}

/// A metric signal. The well-known ones have fixed names; anything else is kept
/// by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    Cpu,
    Memory,
    Http4xxRate,
    Http5xxRate,
    RequestRate,
    LatencyP50,
    LatencyP90,
    LatencyP95,
    LatencyP99,
    Goroutines,
    /// Ratio of resumed TLS sessions to handshakes at a proxy.
    TlsSessionReuse,
    /// Requests waiting for a pooled (database) connection.
    PoolPending,
    Other(String),
}

impl Signal {
    pub fn as_str(&self) -> &str {
        match self {
            Signal::Cpu => "cpu",
            Signal::Memory => "memory",
            Signal::Http4xxRate => "http_4xx_rate",
            Signal::Http5xxRate => "http_5xx_rate",
            Signal::RequestRate => "request_rate",
            Signal::LatencyP50 => "latency_p50",
            Signal::LatencyP90 => "latency_p90",
            Signal::LatencyP95 => "latency_p95",
            Signal::LatencyP99 => "latency_p99",
            Signal::Goroutines => "goroutines",
            Signal::TlsSessionReuse => "tls_session_reuse",
            Signal::PoolPending => "pool_pending",
            Signal::Other(s) => s,
        }
    }
}

impl FromStr for Signal {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "cpu" => Signal::Cpu,
            "memory" => Signal::Memory,
            "http_4xx_rate" => Signal::Http4xxRate,
            "http_5xx_rate" => Signal::Http5xxRate,
            "request_rate" => Signal::RequestRate,
            "latency_p50" => Signal::LatencyP50,
            "latency_p90" => Signal::LatencyP90,
            "latency_p95" => Signal::LatencyP95,
            "latency_p99" => Signal::LatencyP99,
            "goroutines" => Signal::Goroutines,
            "tls_session_reuse" => Signal::TlsSessionReuse,
            "pool_pending" => Signal::PoolPending,
            other => Signal::Other(other.to_string()),
        })
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One metric series of one component.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub component: Sym,
    pub signal: Signal,
    /// The series' labels as Prometheus returned them.
    pub labels: BTreeMap<String, String>,
    /// `(time, value)`, ascending in time; NaN values are dropped by readers.
    pub samples: Vec<(Micros, f64)>,
}

/// What a caller→callee series measures, as the OpenTelemetry Collector's
/// `servicegraph` connector, Tempo's metrics generator and service meshes
/// (Istio, Linkerd) write it: calls per second, failed calls per second, or
/// the mean duration of the edge's calls on either side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeSignal {
    /// Calls per second on the edge (`traces_service_graph_request_total`).
    Calls,
    /// Failed calls per second (`traces_service_graph_request_failed_total`).
    CallsFailed,
    /// Mean server-side duration of the edge's calls over each sample's
    /// interval, seconds per call (`rate(..._request_server_seconds_sum)`
    /// over `rate(..._request_server_seconds_count)`).
    LatencyServer,
    /// The same on the client side (`..._request_client_seconds_sum` over
    /// `..._count`): the server's time plus the wire's.
    LatencyClient,
}

impl EdgeSignal {
    pub const ALL: [EdgeSignal; 4] = [
        EdgeSignal::Calls,
        EdgeSignal::CallsFailed,
        EdgeSignal::LatencyServer,
        EdgeSignal::LatencyClient,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EdgeSignal::Calls => "calls",
            EdgeSignal::CallsFailed => "calls_failed",
            EdgeSignal::LatencyServer => "latency_server",
            EdgeSignal::LatencyClient => "latency_client",
        }
    }
}

/// A signal name that is not one of the edge signals ([`EdgeSignal::ALL`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an edge signal (expected calls, calls_failed, latency_server or latency_client)"
)]
pub struct NotAnEdgeSignal(pub String);

impl FromStr for EdgeSignal {
    type Err = NotAnEdgeSignal;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "calls" => Ok(EdgeSignal::Calls),
            "calls_failed" => Ok(EdgeSignal::CallsFailed),
            "latency_server" => Ok(EdgeSignal::LatencyServer),
            "latency_client" => Ok(EdgeSignal::LatencyClient),
            other => Err(NotAnEdgeSignal(other.to_string())),
        }
    }
}

impl fmt::Display for EdgeSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One caller→callee series: the call graph as metrics see it, without traces.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeSeries {
    /// The caller (the `client` label, or the query's `client_label`).
    pub client: Sym,
    /// The callee (the `server` label, or the query's `server_label`).
    pub server: Sym,
    pub signal: EdgeSignal,
    /// The series' labels as Prometheus returned them.
    pub labels: BTreeMap<String, String>,
    /// `(time, value)`, ascending in time: a per-second rate for the calls
    /// signals, seconds per call for the latency ones, each over the interval
    /// that ends at the sample; NaN values are dropped by readers.
    pub samples: Vec<(Micros, f64)>,
}

/// One proxy access-log line.
#[derive(Clone, Debug, PartialEq)]
pub struct AccessRecord {
    pub time: Micros,
    /// The proxy that wrote the line.
    pub proxy: Sym,
    /// The upstream cluster or service the request went to, when logged.
    pub upstream: Option<Sym>,
    pub method: Sym,
    pub path: Sym,
    /// 0 when the proxy logged none (a reset before the response).
    pub status: u16,
    pub duration: Micros,
    pub bytes_sent: u64,
    pub user_agent: Sym,
    /// `TLSv1.2`, `TLSv1.3`, ...; `None` for plaintext or when not logged.
    pub tls_version: Option<Sym>,
    pub client: Sym,
    /// Envoy's response flags (`UH`, `UF`, ...) or `-`.
    pub response_flags: Sym,
}

/// Severity of an application log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

/// One application log line.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    pub time: Micros,
    pub component: Sym,
    pub level: LogLevel,
    /// What groups the line with its kind: the message with its variable
    /// parts masked (`order <*> not found`), or the code location that wrote
    /// it (`o.s.OrderService#42`) when the line names one.
    pub template: Sym,
    /// The message with its variable parts masked, always (the same as
    /// `template` when that is a masked message).
    pub message: Sym,
    /// Logger or class, when known.
    pub logger: Option<Sym>,
    pub trace_id: Option<u128>,
    /// The span the line was written in, when known: ties the line to an operation.
    pub span_id: Option<u64>,
    /// The exception's type when the line reports one.
    pub exception: Option<Sym>,
}

/// An Alertmanager alert (webhook version 4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    /// Alertmanager sends `0001-01-01T00:00:00Z` for a firing alert; that reads as `None`.
    #[serde(default, deserialize_with = "crate::alert::de_opt_time")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

/// The label names that name the alerting component, in order of preference.
pub const COMPONENT_LABELS: [&str; 7] = [
    "service",
    "service_name",
    "component",
    "app",
    "job",
    "container",
    "pod",
];

impl Alert {
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The component the alert is about, from the first of [`COMPONENT_LABELS`] present.
    pub fn component(&self) -> Option<&str> {
        COMPONENT_LABELS
            .iter()
            .find_map(|k| self.labels.get(*k))
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn starts_at_micros(&self) -> Micros {
        self.starts_at.timestamp_micros()
    }
}

/// An Alertmanager webhook body (version 4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertWebhook {
    pub version: String,
    #[serde(default)]
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<Alert>,
}

/// What became of one modality while collecting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub modality: Modality,
    /// Records read (spans, samples, lines).
    pub records: u64,
    /// Why nothing (or only part) was read; `None` when the modality is complete.
    pub missing: Option<String>,
    /// What became of the records besides, when it is not a lack: traces
    /// replaced by the service-graph series made from them, say
    /// ([`crate::servicegraph::replace_traces`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Appends `more` to `to`, moving the vector instead of copying when `to`
/// is empty (a million spans are worth not copying), unless `to` has room
/// reserved for more to come.
fn append<T>(to: &mut Vec<T>, more: Vec<T>) {
    if to.is_empty() && to.capacity() < more.len() {
        *to = more;
    } else {
        to.extend(more);
    }
}

/// Everything observed for one incident window.
#[derive(Debug, Default, Clone)]
pub struct Observations {
    pub names: Interner,
    pub spans: Vec<Span>,
    pub series: Vec<Series>,
    /// Caller→callee series from service-graph metrics.
    pub edges: Vec<EdgeSeries>,
    pub access: Vec<AccessRecord>,
    pub logs: Vec<LogRecord>,
    pub alerts: Vec<Alert>,
    pub sources: Vec<SourceStatus>,
    /// Goroutine dumps of Go components, per component.
    pub goroutines: Vec<ComponentDumps>,
}

/// The goroutine dumps taken of one component, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentDumps {
    pub component: String,
    pub dumps: Vec<crate::goroutines::TimedDump>,
}

impl Observations {
    /// Each span with its names resolved, one line each, in order: every
    /// field, so that two readings of the same data (two formats, two
    /// APIs, a recording and its source) can be held equal field by field.
    pub fn span_lines(&self) -> Vec<String> {
        let n = |s| self.names.name(s);
        let opt = |s: Option<Sym>| s.map(n);
        self.spans
            .iter()
            .map(|s| {
                format!(
                    "{:x} {:x} {:x} {} {} {:?} {} {} {} {} {:?} {:?} {:?} {}",
                    s.trace_id,
                    s.span_id,
                    s.parent_id,
                    n(s.component),
                    n(s.operation),
                    s.kind,
                    s.start,
                    s.duration,
                    s.error,
                    s.http_status,
                    opt(s.peer),
                    opt(s.exception),
                    opt(s.event),
                    s.proxy
                )
            })
            .collect()
    }

    /// The modalities that contributed at least one record.
    pub fn modalities(&self) -> Vec<Modality> {
        let mut out = Vec::new();
        if !self.spans.is_empty() {
            out.push(Modality::Traces);
        }
        if !self.series.is_empty() || !self.edges.is_empty() {
            out.push(Modality::Metrics);
        }
        if !self.access.is_empty() {
            out.push(Modality::AccessLogs);
        }
        if !self.logs.is_empty() {
            out.push(Modality::Logs);
        }
        if !self.goroutines.is_empty() {
            out.push(Modality::Goroutines);
        }
        out
    }

    /// Moves everything in `other` into `self`, re-interning `other`'s names
    /// so that its records' symbols resolve in `self.names`.
    ///
    /// Records are appended after `self`'s own, in `other`'s order.
    pub fn merge(&mut self, other: Observations) {
        let Observations {
            names,
            mut spans,
            mut series,
            mut edges,
            mut access,
            mut logs,
            alerts,
            sources,
            goroutines,
        } = other;
        if self.names.is_empty() {
            // Nothing interned yet: `other`'s symbols are already right here.
            self.names = names;
        } else {
            let table: Vec<Sym> = names
                .iter()
                .map(|(_, name)| self.names.intern(name))
                .collect();
            // Symbols are rewritten where they are, so that the vectors can
            // then be moved rather than copied; not at all when they mean
            // the same here.
            let same = table.iter().enumerate().all(|(i, s)| s.0 as usize == i);
            if !same {
                // A symbol `other` never issued is a bug upstream; keep it
                // visible rather than panic on input-derived data.
                let map = |s: &mut Sym| *s = table.get(s.0 as usize).copied().unwrap_or(*s);
                let map_opt = |s: &mut Option<Sym>| {
                    if let Some(s) = s {
                        map(s);
                    }
                };
                for s in &mut spans {
                    map(&mut s.component);
                    map(&mut s.operation);
                    map_opt(&mut s.peer);
                    map_opt(&mut s.exception);
                }
                for s in &mut series {
                    map(&mut s.component);
                }
                for e in &mut edges {
                    map(&mut e.client);
                    map(&mut e.server);
                }
                for a in &mut access {
                    map(&mut a.proxy);
                    map_opt(&mut a.upstream);
                    map(&mut a.method);
                    map(&mut a.path);
                    map(&mut a.user_agent);
                    map_opt(&mut a.tls_version);
                    map(&mut a.client);
                    map(&mut a.response_flags);
                }
                for l in &mut logs {
                    map(&mut l.component);
                    map(&mut l.template);
                    map(&mut l.message);
                    map_opt(&mut l.logger);
                    map_opt(&mut l.exception);
                }
            }
        }
        append(&mut self.spans, spans);
        append(&mut self.series, series);
        append(&mut self.edges, edges);
        append(&mut self.access, access);
        append(&mut self.logs, logs);
        append(&mut self.alerts, alerts);
        append(&mut self.sources, sources);
        append(&mut self.goroutines, goroutines);
    }

    /// Earliest and latest time seen in any record, as a window (end exclusive).
    pub fn data_span(&self) -> Option<TimeWindow> {
        let mut lo = i64::MAX;
        let mut hi = i64::MIN;
        let mut see = |t: Micros| {
            lo = lo.min(t);
            hi = hi.max(t);
        };
        for s in &self.spans {
            see(s.start);
        }
        let samples = self.series.iter().map(|s| &s.samples);
        for s in samples.chain(self.edges.iter().map(|e| &e.samples)) {
            if let (Some(a), Some(b)) = (s.first(), s.last()) {
                see(a.0);
                see(b.0);
            }
        }
        for a in &self.access {
            see(a.time);
        }
        for l in &self.logs {
            see(l.time);
        }
        for d in self.goroutines.iter().flat_map(|c| &c.dumps) {
            if let Some(t) = d.at {
                see(t);
            }
        }
        (lo <= hi).then_some(TimeWindow {
            start: lo,
            end: hi + 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(obs: &mut Observations, client: &str, server: &str, at: Micros) -> EdgeSeries {
        EdgeSeries {
            client: obs.names.intern(client),
            server: obs.names.intern(server),
            signal: EdgeSignal::Calls,
            labels: BTreeMap::new(),
            samples: vec![(at, 2.0), (at + 15_000_000, 3.0)],
        }
    }

    #[test]
    fn edge_signals_by_name() {
        for s in EdgeSignal::ALL {
            assert_eq!(s.as_str().parse::<EdgeSignal>(), Ok(s));
        }
        let err = "cpu".parse::<EdgeSignal>().unwrap_err();
        assert!(
            err.to_string()
                .contains("calls, calls_failed, latency_server or latency_client"),
            "{err}"
        );
    }

    #[test]
    fn merged_edges_keep_their_names_and_count_as_metrics() {
        let mut a = Observations::default();
        a.names.intern("unrelated");
        let mut b = Observations::default();
        let e = edge(&mut b, "checkout", "payment", 1_000_000);
        b.edges.push(e);
        assert_eq!(b.modalities(), vec![Modality::Metrics]);
        a.merge(b);
        let e = &a.edges[0];
        assert_eq!(a.names.name(e.client), "checkout");
        assert_eq!(a.names.name(e.server), "payment");
        assert_eq!(a.modalities(), vec![Modality::Metrics]);
        assert_eq!(
            a.data_span(),
            Some(TimeWindow {
                start: 1_000_000,
                end: 16_000_001
            })
        );
    }

    #[test]
    fn merged_logs_keep_every_name() {
        let mut a = Observations::default();
        a.names.intern("unrelated");
        a.names.intern("more");
        let mut b = Observations::default();
        let component = b.names.intern("shipping");
        let template = b.names.intern("call to <*> failed");
        let message = b.names.intern("call to catalog failed: <*>");
        let logger = b.names.intern("s.Client#12");
        b.logs.push(LogRecord {
            time: 1,
            component,
            level: LogLevel::Error,
            template,
            message,
            logger: Some(logger),
            trace_id: None,
            span_id: None,
            exception: None,
        });
        a.merge(b);
        let l = &a.logs[0];
        assert_eq!(a.names.name(l.component), "shipping");
        assert_eq!(a.names.name(l.template), "call to <*> failed");
        assert_eq!(a.names.name(l.message), "call to catalog failed: <*>");
        assert_eq!(l.logger.map(|s| a.names.name(s)), Some("s.Client#12"));
    }
}
