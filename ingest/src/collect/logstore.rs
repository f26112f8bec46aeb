//! Application logs and proxy access logs from a log store, one query per
//! kind of log, each pulled for the alert's window:
//!
//! - **VictoriaLogs**: LogsQL over `POST /select/logsql/query` (`query`,
//!   `start`, `end`, `limit`). The answer is one JSON object per line, every
//!   value a string; it is read as it arrives, chunk by chunk, and the whole
//!   lines of each chunk are handed to a parser thread while the next chunk
//!   is on the wire, so the answer is never held whole. rca appends
//!   `| fields …` naming only the fields it reads, so the store sends no more.
//! - **Loki**: LogQL over `GET /loki/api/v1/query_range` (`direction=forward`,
//!   nanosecond `start` and `end`), paged by `limit` (Loki caps one answer at
//!   `max_entries_limit_per_query`, 5,000 by default): the next page starts
//!   at the last entry's time, and the entries of that nanosecond already
//!   read are skipped. Fields come from the entry's structured metadata (both
//!   the flat form and the `categorize-labels` form), a JSON line's own keys
//!   and the stream's labels, in that order.
//!
//! An application line becomes a `LogRecord` (level from `severity_number`
//! or a level field, else the level word the line starts with; template,
//! exception, trace and span ids); an access line is read as an Envoy JSON,
//! Envoy text or ingress-nginx line credited to the proxy its fields name,
//! else to the traces' proxy. Lines of an access query that fit no access
//! format are skipped and counted in the partial reason, not fatal: a log
//! store mixes what a selector catches.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{
    http_client, reqwest_reason, AccessLogSource, CollectError, CollectWindow, LogSource, Pulled,
};
use crate::logs::{push_record, LineParts};
use crate::model::{Micros, Observations};
use crate::wire;

/// Which log store answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogBackend {
    #[default]
    VictoriaLogs,
    Loki,
}

impl LogBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            LogBackend::VictoriaLogs => "victorialogs",
            LogBackend::Loki => "loki",
        }
    }
}

/// What a query's lines are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// Application logs: level, message, trace and span ids, component.
    Application,
    /// Proxy access logs: the Envoy or ingress-nginx line is the message.
    Access,
}

/// One query of a log store and what its lines are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    pub kind: LogKind,
    /// LogsQL (VictoriaLogs) or LogQL (Loki).
    pub query: String,
    /// The fields or labels naming a line's component (for access logs, its
    /// proxy), the first present wins; empty: [`DEFAULT_COMPONENT_FIELDS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub component_fields: Vec<String>,
}

/// The containers whose stdout is a proxy's access log: Envoy on its own,
/// Istio's Envoy sidecar, ingress-nginx (its Helm chart calls the container
/// `controller`, too generic a name to assume; add it to your query).
pub const PROXY_CONTAINERS: [&str; 3] = ["envoy", "istio-proxy", "ingress-nginx"];

/// Where the component is named, in the order asked: OpenTelemetry's
/// resource attributes (as VictoriaLogs stores them, then as Loki's labels),
/// Fluent Bit's Kubernetes metadata, then plain container and job labels.
pub const DEFAULT_COMPONENT_FIELDS: [&str; 11] = [
    "service.name",
    "service_name",
    "k8s.deployment.name",
    "k8s_deployment_name",
    "kubernetes.labels.app",
    "app",
    "k8s.container.name",
    "k8s_container_name",
    "kubernetes.container_name",
    "container",
    "job",
];

/// Level fields: the OTLP ingestion of VictoriaLogs and Loki, then the
/// usual structured-logging names.
const LEVEL_FIELDS: [&str; 7] = [
    "severity_text",
    "level",
    "severity",
    "detected_level",
    "log.level",
    "levelname",
    "lvl",
];
const SEVERITY_NUMBER_FIELDS: [&str; 1] = ["severity_number"];
const TRACE_FIELDS: [&str; 4] = ["trace_id", "traceId", "traceid", "trace.id"];
const SPAN_FIELDS: [&str; 4] = ["span_id", "spanId", "spanid", "span.id"];
const EXCEPTION_FIELDS: [&str; 1] = ["exception.type"];
const LOGGER_FIELDS: [&str; 4] = ["scope.name", "logger", "logger_name", "log.logger"];
/// The keys of a JSON line (Fluent Bit's record) that hold the message.
const MESSAGE_FIELDS: [&str; 5] = ["_msg", "log", "message", "msg", "body"];

/// The queries used when none are configured: for each kind, the lines of
/// the proxy containers or all the others, in either shipper's field names
/// (OpenTelemetry Collector: `k8s.container.name`; Fluent Bit's Kubernetes
/// filter: `kubernetes.container_name`; Loki's labels: `k8s_container_name`
/// or `container`).
pub fn default_log_queries(backend: LogBackend) -> Vec<LogQuery> {
    let list = |quote: bool| {
        PROXY_CONTAINERS
            .iter()
            .map(|c| {
                if quote {
                    format!("{c:?}")
                } else {
                    c.to_string()
                }
            })
            .collect::<Vec<_>>()
    };
    let (application, access) = match backend {
        LogBackend::VictoriaLogs => {
            let set = list(true).join(",");
            let proxies =
                format!("(k8s.container.name:in({set}) or kubernetes.container_name:in({set}))");
            (format!("* -{proxies}"), proxies)
        }
        LogBackend::Loki => {
            let re = list(false).join("|");
            (
                format!(
                    "{{service_name=~\".+\", k8s_container_name!~\"{re}\", container!~\"{re}\"}}"
                ),
                format!(
                    "{{service_name=~\".+\"}} | k8s_container_name=~\"{re}\" or container=~\"{re}\""
                ),
            )
        }
    };
    vec![
        LogQuery {
            kind: LogKind::Application,
            query: application,
            component_fields: Vec::new(),
        },
        LogQuery {
            kind: LogKind::Access,
            query: access,
            component_fields: Vec::new(),
        },
    ]
}

/// A log store and the queries to ask it.
pub struct LogStoreSource {
    backend: LogBackend,
    base: String,
    queries: Vec<LogQuery>,
    limit: usize,
    headers: BTreeMap<String, String>,
    client: reqwest::Client,
    name: String,
}

impl LogStoreSource {
    /// `queries` empty: [`default_log_queries`]. `limit`: lines per query
    /// at most (reaching it makes the pull partial).
    pub fn new(
        backend: LogBackend,
        base: &str,
        queries: Vec<LogQuery>,
        limit: usize,
        timeout: Duration,
    ) -> LogStoreSource {
        let queries = if queries.is_empty() {
            default_log_queries(backend)
        } else {
            queries
        };
        LogStoreSource {
            backend,
            base: base.trim_end_matches('/').to_string(),
            queries,
            limit: limit.max(1),
            headers: BTreeMap::new(),
            client: http_client(timeout),
            name: backend.as_str().to_string(),
        }
    }

    /// Headers sent with every query (Loki's `X-Scope-OrgID`, VictoriaLogs'
    /// `AccountID`, an `Authorization`).
    pub fn with_headers(mut self, headers: BTreeMap<String, String>) -> LogStoreSource {
        self.headers = headers;
        self
    }

    /// Whether any query is of `kind`.
    pub fn has(&self, kind: LogKind) -> bool {
        self.queries.iter().any(|q| q.kind == kind)
    }

    async fn pull(
        &self,
        kind: LogKind,
        window: &CollectWindow,
        proxy: &str,
    ) -> Result<Pulled, CollectError> {
        let mut out = Observations::default();
        let mut partial = Vec::new();
        let mut errors = Vec::new();
        let mut asked = 0;
        for (i, q) in self
            .queries
            .iter()
            .enumerate()
            .filter(|(_, q)| q.kind == kind)
        {
            asked += 1;
            let fields = Fields::new(q, kind);
            let read = match self.backend {
                LogBackend::VictoriaLogs => self.victorialogs(q, &fields, window, proxy).await,
                LogBackend::Loki => self.loki(q, &fields, window, proxy).await,
            };
            match read {
                Ok(read) => {
                    if read.lines >= self.limit as u64 {
                        partial.push(format!(
                            "query {} reached the limit of {} lines: the window's other lines are missing",
                            i + 1,
                            self.limit
                        ));
                    }
                    if read.unread > 0 {
                        partial.push(format!(
                            "query {}: {} of {} lines fit no access-log format (first: {})",
                            i + 1,
                            read.unread,
                            read.lines,
                            read.first_unread
                        ));
                    }
                    if let Some(why) = &read.cut_short {
                        partial.push(format!("query {}: {why}", i + 1));
                    }
                    out.merge(read.obs);
                }
                Err(e) => errors.push(e),
            }
        }
        if asked == 0 {
            return Err(CollectError::NotConfigured(format!(
                "no {} query configured",
                match kind {
                    LogKind::Application => "application-log",
                    LogKind::Access => "access-log",
                }
            )));
        }
        if errors.len() == asked {
            return Err(errors.remove(0));
        }
        partial.extend(errors.iter().map(ToString::to_string));
        Ok(Pulled {
            obs: out,
            partial: (!partial.is_empty()).then(|| partial.join("; ")),
        })
    }

    fn request(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        self.headers
            .iter()
            .fold(rb, |rb, (k, v)| rb.header(k.as_str(), v.as_str()))
    }

    fn unreachable(&self, url: &str, e: &reqwest::Error) -> CollectError {
        CollectError::Unreachable {
            backend: self.backend.as_str(),
            url: url.to_string(),
            reason: reqwest_reason(e),
        }
    }

    #[instrument(skip_all, fields(backend = "victorialogs", kind = ?q.kind))]
    async fn victorialogs(
        &self,
        q: &LogQuery,
        fields: &Fields,
        window: &CollectWindow,
        proxy: &str,
    ) -> Result<Read, CollectError> {
        let url = format!("{}/select/logsql/query", self.base);
        let wanted = fields
            .keys
            .iter()
            .map(|k| format!("{k:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        // The `limit` pipe, not the `limit` argument: the argument asks for
        // the newest lines, which makes the store sort them all first (2.6 s
        // instead of 1.2 s for 700,000 lines); the pipe stops at N.
        let query = format!("{} | fields {wanted} | limit {}", q.query, self.limit);
        let form = [
            ("query", query),
            ("start", crate::rfc3339_micros(window.start)),
            // VictoriaLogs' end is inclusive; the window's is not.
            ("end", crate::rfc3339_micros(window.end - 1)),
        ];
        let mut resp = self
            .request(self.client.post(&url).form(&form))
            .send()
            .await
            .map_err(|e| self.unreachable(&url, &e))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(CollectError::status(
                "victorialogs",
                &url,
                status.as_u16(),
                &body,
            ));
        }
        // Whole lines go to the parser thread as they arrive; at most a few
        // chunks wait, so memory stays the size of what is parsed.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let mut reader = LineReader::new(fields.clone(), q.kind, window.clone(), proxy);
        let parser = tokio::task::spawn_blocking(move || {
            while let Some(chunk) = rx.blocking_recv() {
                reader.victorialogs_lines(&chunk);
            }
            reader
        });
        let mut carry: Vec<u8> = Vec::new();
        let mut failed = None;
        loop {
            match resp.chunk().await {
                Ok(Some(bytes)) => {
                    carry.extend_from_slice(&bytes);
                    if carry.len() < (1 << 20) {
                        continue;
                    }
                    let Some(cut) = memchr::memrchr(b'\n', &carry) else {
                        continue;
                    };
                    let rest = carry.split_off(cut + 1);
                    let whole = std::mem::replace(&mut carry, rest);
                    if tx.send(whole).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    failed = Some(self.unreachable(&url, &e));
                    break;
                }
            }
        }
        if !carry.is_empty() {
            let _ = tx.send(carry).await;
        }
        drop(tx);
        let reader = parser
            .await
            .map_err(CollectError::stopped("victorialogs"))?;
        let mut read = reader.finish();
        if let Some(e) = failed {
            if read.lines == 0 {
                return Err(e);
            }
            read.cut_short = Some(e.to_string());
        }
        Ok(read)
    }

    #[instrument(skip_all, fields(backend = "loki", kind = ?q.kind))]
    async fn loki(
        &self,
        q: &LogQuery,
        fields: &Fields,
        window: &CollectWindow,
        proxy: &str,
    ) -> Result<Read, CollectError> {
        let url = format!("{}/loki/api/v1/query_range", self.base);
        let mut reader = LineReader::new(fields.clone(), q.kind, window.clone(), proxy);
        let mut start_ns = i128::from(window.start) * 1000;
        let end_ns = i128::from(window.end) * 1000;
        // Entries at the page boundary's nanosecond already read.
        let mut at_boundary: HashSet<u64> = HashSet::new();
        loop {
            let page = LOKI_PAGE.min(self.limit.saturating_sub(reader.read.lines as usize).max(1));
            let params = [
                ("query", q.query.clone()),
                ("start", start_ns.to_string()),
                ("end", end_ns.to_string()),
                ("limit", page.to_string()),
                ("direction", "forward".to_string()),
            ];
            let resp = self
                .request(self.client.get(&url).query(&params))
                .send()
                .await
                .map_err(|e| self.unreachable(&url, &e))?;
            let status = resp.status();
            let body = resp.bytes().await.map_err(|e| self.unreachable(&url, &e))?;
            if !status.is_success() {
                return Err(CollectError::status("loki", &url, status.as_u16(), &body));
            }
            let entries = parse_loki(&body).map_err(|what| {
                CollectError::Ingest(crate::IngestError::malformed(
                    std::path::Path::new(&url),
                    what,
                ))
            })?;
            let got = entries.len();
            let last = entries.iter().map(|e| e.ns).max();
            let mut fresh = 0usize;
            let mut boundary = HashSet::new();
            for e in &entries {
                let key = e.key();
                if e.ns == start_ns && at_boundary.contains(&key) {
                    continue;
                }
                if Some(e.ns) == last {
                    boundary.insert(key);
                }
                fresh += 1;
                reader.loki_entry(e);
            }
            if got < page || fresh == 0 || reader.read.lines as usize >= self.limit {
                break;
            }
            let last = last.unwrap_or(end_ns);
            if last != start_ns {
                at_boundary.clear();
            }
            at_boundary.extend(boundary);
            start_ns = last;
        }
        Ok(reader.finish())
    }
}

/// Entries asked of Loki per page: its default `max_entries_limit_per_query`.
const LOKI_PAGE: usize = 5_000;

#[async_trait]
impl LogSource for LogStoreSource {
    fn name(&self) -> &str {
        &self.name
    }
    async fn logs(&self, window: &CollectWindow) -> Result<Pulled, CollectError> {
        self.pull(LogKind::Application, window, "").await
    }
}

#[async_trait]
impl AccessLogSource for LogStoreSource {
    fn name(&self) -> &str {
        &self.name
    }
    async fn access_logs(
        &self,
        window: &CollectWindow,
        proxy: &str,
    ) -> Result<Pulled, CollectError> {
        self.pull(LogKind::Access, window, proxy).await
    }
}

// ---------------------------------------------------------------------------
// Fields

/// The field names one query's lines are read by, grouped by meaning; a
/// group's first present field wins.
#[derive(Clone, Debug)]
struct Fields {
    keys: Vec<String>,
    index: rustc_hash::FxHashMap<String, usize>,
    component: Vec<usize>,
    level: Vec<usize>,
    severity_number: Vec<usize>,
    trace: Vec<usize>,
    span: Vec<usize>,
    exception: Vec<usize>,
    logger: Vec<usize>,
    message: Vec<usize>,
    time: usize,
}

impl Fields {
    fn new(q: &LogQuery, kind: LogKind) -> Fields {
        let mut f = Fields {
            keys: Vec::new(),
            index: Default::default(),
            component: Vec::new(),
            level: Vec::new(),
            severity_number: Vec::new(),
            trace: Vec::new(),
            span: Vec::new(),
            exception: Vec::new(),
            logger: Vec::new(),
            message: Vec::new(),
            time: 0,
        };
        f.time = f.add("_time");
        f.message = f.add_all(MESSAGE_FIELDS.iter().copied());
        f.component = if q.component_fields.is_empty() {
            f.add_all(DEFAULT_COMPONENT_FIELDS.iter().copied())
        } else {
            f.add_all(q.component_fields.iter().map(String::as_str))
        };
        if kind == LogKind::Application {
            f.level = f.add_all(LEVEL_FIELDS.iter().copied());
            f.severity_number = f.add_all(SEVERITY_NUMBER_FIELDS.iter().copied());
            f.trace = f.add_all(TRACE_FIELDS.iter().copied());
            f.span = f.add_all(SPAN_FIELDS.iter().copied());
            f.exception = f.add_all(EXCEPTION_FIELDS.iter().copied());
            f.logger = f.add_all(LOGGER_FIELDS.iter().copied());
        }
        f
    }

    fn add(&mut self, key: &str) -> usize {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        self.keys.push(key.to_string());
        self.index.insert(key.to_string(), self.keys.len() - 1);
        self.keys.len() - 1
    }

    fn add_all<'k>(&mut self, keys: impl Iterator<Item = &'k str>) -> Vec<usize> {
        keys.map(|k| self.add(k)).collect()
    }
}

/// One line's values of the wanted fields, borrowed from the line where it
/// holds no escapes.
type Values<'a> = Vec<Option<Cow<'a, str>>>;

fn first<'v>(values: &'v Values<'_>, group: &[usize]) -> Option<&'v str> {
    group
        .iter()
        .find_map(|&i| values.get(i).and_then(|v| v.as_deref()))
        .filter(|s| !s.is_empty())
}

/// Fills `out` with the wanted fields of one JSON object; other keys and
/// values that are not scalars are skipped.
fn scan_object<'a>(line: &'a str, fields: &Fields, out: &mut Values<'a>) -> Result<(), String> {
    out.clear();
    out.resize(fields.keys.len(), None);
    let mut de = serde_json::Deserializer::from_str(line);
    Scan { fields, out }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| e.to_string())
}

struct Scan<'f, 'o, 'a> {
    fields: &'f Fields,
    out: &'o mut Values<'a>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Scan<'_, '_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Scan<'_, '_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of a log line's fields")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<wire::Str<'de>>()? {
            match self.fields.index.get(key.as_str()) {
                Some(&i) => {
                    if let Scalar(Some(v)) = map.next_value::<Scalar<'de>>()? {
                        self.out[i] = Some(v);
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A JSON scalar as text; objects and arrays are `None`.
struct Scalar<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Scalar<'de>, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<Scalar<'de>, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------
// Lines to records

/// What one query gave.
#[derive(Debug, Default)]
struct Read {
    obs: Observations,
    /// Lines the store sent (inside the window or not).
    lines: u64,
    /// Access lines that fit no format, and the first of them, cut short.
    unread: u64,
    first_unread: String,
    /// Why the answer stopped before its end, when it did.
    cut_short: Option<String>,
}

struct LineReader {
    fields: Fields,
    kind: LogKind,
    window: CollectWindow,
    proxy: String,
    read: Read,
    /// Malformed answer lines (not JSON, no time), and the first.
    bad: u64,
    first_bad: String,
}

impl LineReader {
    fn new(fields: Fields, kind: LogKind, window: CollectWindow, proxy: &str) -> LineReader {
        LineReader {
            fields,
            kind,
            window,
            proxy: if proxy.is_empty() {
                crate::fixture::DEFAULT_PROXY.to_string()
            } else {
                proxy.to_string()
            },
            read: Read::default(),
            bad: 0,
            first_bad: String::new(),
        }
    }

    /// VictoriaLogs' answer: one JSON object a line.
    fn victorialogs_lines(&mut self, chunk: &[u8]) {
        // Checked whole (fast); a stray invalid byte costs the lossy copy.
        let text: Cow<'_, str> = match std::str::from_utf8(chunk) {
            Ok(t) => Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(chunk),
        };
        let mut values: Values<'_> = Vec::new();
        for line in text.lines() {
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            self.read.lines += 1;
            if let Err(what) = scan_object(line, &self.fields, &mut values) {
                self.bad_line(line, &what);
                continue;
            }
            let Some(time) =
                first(&values, &[self.fields.time]).and_then(wire::parse_rfc3339_micros)
            else {
                self.bad_line(line, "no _time");
                continue;
            };
            let message = first(&values, &self.fields.message).unwrap_or("");
            self.record(time, message, &values);
        }
    }

    /// One Loki entry: its metadata, the JSON line's keys, then its stream's labels.
    fn loki_entry(&mut self, e: &LokiEntry) {
        self.read.lines += 1;
        let time = (e.ns / 1000) as Micros;
        // A JSON line (Fluent Bit's record) gives its own keys and message.
        let mut values: Values<'_> = Vec::new();
        let json =
            e.line.starts_with('{') && scan_object(&e.line, &self.fields, &mut values).is_ok();
        if !json {
            values = vec![None; self.fields.keys.len()];
        }
        let message = first(&values, &self.fields.message)
            .filter(|_| json)
            .unwrap_or(&e.line)
            .to_string();
        // Metadata wins over the line's keys, which win over the stream's labels.
        for (k, v) in &e.metadata {
            if let Some(&i) = self.fields.index.get(k.as_str()) {
                values[i] = Some(Cow::Borrowed(v.as_str()));
            }
        }
        for (k, v) in e.stream.iter() {
            if let Some(&i) = self.fields.index.get(k.as_str()) {
                values[i].get_or_insert(Cow::Borrowed(v.as_str()));
            }
        }
        self.record(time, &message, &values);
    }

    fn record(&mut self, time: Micros, message: &str, values: &Values<'_>) {
        if !self.window.contains(time) {
            return;
        }
        let f = &self.fields;
        match self.kind {
            LogKind::Application => {
                let parts = LineParts {
                    time,
                    component: first(values, &f.component).unwrap_or(""),
                    message,
                    severity_number: first(values, &f.severity_number)
                        .and_then(|n| n.trim().parse().ok())
                        .unwrap_or(0),
                    level: first(values, &f.level),
                    logger: first(values, &f.logger),
                    trace_id: first(values, &f.trace),
                    span_id: first(values, &f.span),
                    exception: first(values, &f.exception),
                };
                push_record(parts, &mut self.read.obs);
            }
            LogKind::Access => {
                let proxy = first(values, &f.component).unwrap_or(&self.proxy);
                if let Err(what) =
                    crate::access::read_access_line(message, proxy, &mut self.read.obs)
                {
                    self.read.unread += 1;
                    if self.read.first_unread.is_empty() {
                        self.read.first_unread = format!("{}: {what}", clip(message));
                    }
                }
            }
        }
    }

    fn bad_line(&mut self, line: &str, what: &str) {
        self.bad += 1;
        if self.first_bad.is_empty() {
            self.first_bad = format!("{what}: {}", clip(line));
        }
    }

    fn finish(mut self) -> Read {
        if self.bad > 0 {
            let why = format!(
                "{} of {} answer lines unreadable (first: {})",
                self.bad, self.read.lines, self.first_bad
            );
            self.read.cut_short = Some(match self.read.cut_short.take() {
                Some(c) => format!("{c}; {why}"),
                None => why,
            });
        }
        self.read
    }
}

fn clip(s: &str) -> String {
    let mut end = s.len().min(120);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    if end < s.len() {
        format!("{}…", &s[..end])
    } else {
        s.to_string()
    }
}

// ---------------------------------------------------------------------------
// Loki's wire format

/// One entry of a `streams` answer, with its stream's labels.
#[derive(Debug, Clone, PartialEq)]
struct LokiEntry {
    ns: i128,
    line: String,
    stream: std::sync::Arc<Vec<(String, String)>>,
    metadata: Vec<(String, String)>,
}

impl LokiEntry {
    /// Tells apart entries of one nanosecond.
    fn key(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.ns.hash(&mut h);
        self.line.hash(&mut h);
        self.stream.hash(&mut h);
        h.finish()
    }
}

#[derive(Deserialize)]
struct LokiAnswer {
    status: String,
    #[serde(default)]
    data: Option<LokiData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct LokiData {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: Vec<LokiStream>,
}

#[derive(Deserialize)]
struct LokiStream {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<LokiValue>,
}

/// `[ "<ns>", "<line>" ]` or `[ "<ns>", "<line>", {metadata} ]`.
#[derive(Deserialize)]
struct LokiValue(
    String,
    String,
    #[serde(default)] Option<serde_json::Map<String, serde_json::Value>>,
);

/// The entries of a Loki `query_range` answer of `resultType` `streams`.
fn parse_loki(body: &[u8]) -> Result<Vec<LokiEntry>, String> {
    let answer: LokiAnswer =
        serde_json::from_slice(body).map_err(|e| format!("not a Loki query_range answer: {e}"))?;
    if answer.status != "success" {
        return Err(format!(
            "Loki answered status {:?}: {}",
            answer.status,
            answer.error.unwrap_or_default()
        ));
    }
    let data = answer.data.ok_or("a Loki answer without `data`")?;
    if data.result_type != "streams" {
        return Err(format!(
            "resultType {:?}: a log query must select log lines (a metric query gives matrix)",
            data.result_type
        ));
    }
    let mut out = Vec::new();
    for s in data.result {
        let stream = std::sync::Arc::new(s.stream.into_iter().collect::<Vec<_>>());
        for LokiValue(ns, line, meta) in s.values {
            let ns: i128 = ns
                .parse()
                .map_err(|_| format!("entry time {ns:?} is not nanoseconds"))?;
            // Flat, or under `structuredMetadata` and `parsed` with
            // `categorize-labels`; string values only.
            let mut metadata = Vec::new();
            if let Some(meta) = meta {
                let categorised =
                    meta.contains_key("structuredMetadata") || meta.contains_key("parsed");
                let parts: Vec<&serde_json::Map<String, serde_json::Value>> = if categorised {
                    ["structuredMetadata", "parsed"]
                        .iter()
                        .filter_map(|part| meta.get(*part)?.as_object())
                        .collect()
                } else {
                    vec![&meta]
                };
                for m in parts {
                    for (k, v) in m {
                        if let Some(v) = v.as_str() {
                            metadata.push((k.clone(), v.to_string()));
                        }
                    }
                }
            }
            out.push(LokiEntry {
                ns,
                line,
                stream: stream.clone(),
                metadata,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LogLevel;

    fn window() -> CollectWindow {
        CollectWindow {
            start: 1_700_000_000_000_000,
            end: 1_700_000_600_000_000,
        }
    }

    fn reader(kind: LogKind) -> LineReader {
        let q =
            &default_log_queries(LogBackend::VictoriaLogs)[usize::from(kind == LogKind::Access)];
        LineReader::new(Fields::new(q, kind), kind, window(), "edge")
    }

    #[test]
    fn victorialogs_lines_become_log_records_with_their_fields() {
        let mut r = reader(LogKind::Application);
        let body = concat!(
            r#"{"_time":"2023-11-14T22:13:21.5Z","_msg":"order 8812 failed: java.lang.IllegalStateException: gone","service.name":"orders","severity_text":"ERROR","trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"0102030405060708","scope.name":"o.OrderService"}"#,
            "\n",
            r#"{"_time":"2023-11-14T22:13:22Z","_msg":"2023-11-14 22:13:22 WARN slow call","kubernetes.container_name":"pay"}"#,
            "\n",
            r#"{"_time":"2020-01-01T00:00:00Z","_msg":"outside the window"}"#,
            "\n",
            "not json\n"
        );
        r.victorialogs_lines(body.as_bytes());
        let read = r.finish();
        assert_eq!(read.lines, 4);
        let obs = &read.obs;
        assert_eq!(obs.logs.len(), 2);
        let a = &obs.logs[0];
        assert_eq!(obs.names.name(a.component), "orders");
        assert_eq!(a.level, LogLevel::Error);
        assert_eq!(a.time, 1_700_000_001_500_000);
        assert_eq!(a.trace_id, Some(0x0102030405060708090a0b0c0d0e0f10));
        assert_eq!(a.span_id, Some(0x0102030405060708));
        assert_eq!(
            a.exception.map(|e| obs.names.name(e)),
            Some("java.lang.IllegalStateException")
        );
        assert_eq!(
            obs.names.name(a.template),
            "order <*> failed: java.lang.IllegalStateException: gone"
        );
        let b = &obs.logs[1];
        assert_eq!(obs.names.name(b.component), "pay");
        assert_eq!(b.level, LogLevel::Warn, "the level word of a plain line");
        assert!(read
            .cut_short
            .unwrap()
            .contains("1 of 4 answer lines unreadable"));
    }

    #[test]
    fn access_lines_are_credited_to_their_proxy_or_the_traces_one() {
        let mut r = reader(LogKind::Access);
        let envoy = r#"[2023-11-14T22:13:21.000Z] \"GET /api/orders?id=1 HTTP/1.1\" 503 UF 0 91 12 - \"-\" \"curl/8\" \"r1\" \"shop\" \"10.0.0.7:8080\""#;
        let body = format!(
            "{{\"_time\":\"2023-11-14T22:13:21Z\",\"_msg\":\"{envoy}\",\"service.name\":\"front\"}}\n{{\"_time\":\"2023-11-14T22:13:21Z\",\"_msg\":\"{envoy}\"}}\n{{\"_time\":\"2023-11-14T22:13:21Z\",\"_msg\":\"hello from an app\"}}\n"
        );
        r.victorialogs_lines(body.as_bytes());
        let read = r.finish();
        let obs = &read.obs;
        assert_eq!(obs.access.len(), 2);
        assert_eq!(obs.names.name(obs.access[0].proxy), "front");
        assert_eq!(obs.names.name(obs.access[1].proxy), "edge");
        assert_eq!(obs.access[0].status, 503);
        assert_eq!(read.unread, 1);
        assert!(read.first_unread.starts_with("hello from an app"));
    }

    /// Loki's documented `query_range` answer for a log query, in both the
    /// plain form (structured metadata as a flat third element) and the
    /// `X-Loki-Response-Encoding-Flags: categorize-labels` form.
    #[test]
    fn loki_streams_answers_in_both_metadata_forms() {
        let body = br#"{"status":"success","data":{"resultType":"streams","result":[
          {"stream":{"service_name":"orders","k8s_container_name":"orders"},
           "values":[["1700000001000000000","order 1 failed","{}"],
                     ["1700000002000000000","order 2 failed",{"trace_id":"0102030405060708090a0b0c0d0e0f10","severity_text":"ERROR"}]]},
          {"stream":{"container":"pay","app":"pay"},
           "values":[["1700000003000000000","{\"log\":\"ERROR charge refused\",\"level\":\"error\"}",{"structuredMetadata":{"span_id":"0102030405060708"},"parsed":{}}]]}
        ],"stats":{}}}"#;
        // The first value's third element is a string here: not metadata.
        assert!(
            parse_loki(body).is_err(),
            "a non-object third element is an error"
        );
        let body = String::from_utf8_lossy(body).replace(",\"{}\"]", "]");
        let entries = parse_loki(body.as_bytes()).unwrap();
        assert_eq!(entries.len(), 3);
        let mut r = reader(LogKind::Application);
        for e in &entries {
            r.loki_entry(e);
        }
        let obs = r.finish().obs;
        assert_eq!(obs.logs.len(), 3);
        assert_eq!(obs.names.name(obs.logs[0].component), "orders");
        assert_eq!(obs.logs[0].level, LogLevel::Info);
        assert_eq!(obs.logs[1].level, LogLevel::Error);
        assert_eq!(
            obs.logs[1].trace_id,
            Some(0x0102030405060708090a0b0c0d0e0f10)
        );
        let pay = &obs.logs[2];
        assert_eq!(obs.names.name(pay.component), "pay");
        assert_eq!(pay.level, LogLevel::Error);
        assert_eq!(pay.span_id, Some(0x0102030405060708));
        assert_eq!(obs.names.name(pay.template), "ERROR charge refused");
    }

    #[test]
    fn loki_errors_and_metric_answers_are_named() {
        let e = parse_loki(br#"{"status":"error","error":"parse error at line 1"}"#).unwrap_err();
        assert!(e.contains("parse error"), "{e}");
        let e = parse_loki(br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#)
            .unwrap_err();
        assert!(e.contains("matrix"), "{e}");
        assert!(parse_loki(b"<html>").is_err());
    }

    #[test]
    fn default_queries_name_the_proxy_containers_for_each_backend() {
        for backend in [LogBackend::VictoriaLogs, LogBackend::Loki] {
            let q = default_log_queries(backend);
            assert_eq!(q.len(), 2);
            assert!(q[1].query.contains("istio-proxy"), "{}", q[1].query);
            assert_eq!(q[0].kind, LogKind::Application);
        }
    }
}
