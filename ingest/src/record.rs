//! Writing [`Observations`] back out as a fixture directory: the inverse of
//! [`load_fixture`](crate::load_fixture), so that an incident judged live can
//! be judged again offline, from the very input it was judged on.
//!
//! Each modality goes to the file, and the wire format, its reader takes:
//! spans to `traces.json` (OTLP JSON, one resource per run of spans of one
//! component, in the order they were observed), series and edge series to
//! `metrics.json` (one `query_range` answer per signal), access records to
//! `access-<proxy>.log` (Envoy JSON lines), logs to `logs.json` (OTLP JSON),
//! goroutine dumps to `goroutines/<component>/<second>-<n>.dump` as they
//! came, and the alerts to `alert.json`. Everything the model keeps is
//! written, so reading the directory back gives the same observations (the
//! round-trip tests hold the two to it); what the model never kept (an
//! access log's query strings, a log's unmasked message) is not there to
//! write.
//!
//! When the recording must be smaller, [`Keep`] says what share of the
//! traces, access records and logs to keep. The sample is uniform (whole
//! traces by a hash of their id, records by a hash of their position), so
//! rates and shares stay unbiased estimates of the full window's; only
//! their counts shrink.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::metrics::{component_of, edge_ends};
use crate::model::{
    AlertWebhook, EdgeSeries, LogLevel, Modality, Observations, Series, SourceStatus, Span,
    SpanKind,
};

/// The manifest of a recording, `recording.json` beside its fixture files:
/// what the files alone do not say. [`load_fixture`](crate::load_fixture)
/// reads it into [`Fixture::manifest`](crate::Fixture::manifest).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Manifest {
    pub incident: String,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    /// `rca <version>`.
    pub recorded_by: String,
    /// The window the engine judged: minutes before and after the alert.
    pub lookback_minutes: f64,
    pub settle_minutes: f64,
    /// What each source answered when the window was collected (a replay
    /// of the recording sees only the files).
    pub sources: Vec<SourceStatus>,
    /// One line per modality thinned to fit the cap.
    #[serde(default)]
    pub sampled: Vec<String>,
    /// Records no file could hold, with why.
    #[serde(default)]
    pub left_out: Vec<String>,
}

/// The name of a recording's manifest in its fixture directory.
pub const MANIFEST: &str = "recording.json";

/// The share of each sampled modality a recording keeps, each in `(0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Keep {
    pub traces: f64,
    pub access: f64,
    pub logs: f64,
}

impl Default for Keep {
    fn default() -> Self {
        Keep {
            traces: 1.0,
            access: 1.0,
            logs: 1.0,
        }
    }
}

impl Keep {
    /// The share kept of `modality` (1 for those never sampled).
    pub fn of(&self, modality: Modality) -> f64 {
        match modality {
            Modality::Traces => self.traces,
            Modality::AccessLogs => self.access,
            Modality::Logs => self.logs,
            _ => 1.0,
        }
    }

    /// Sets the share kept of `modality`; those never sampled stay whole.
    pub fn set(&mut self, modality: Modality, share: f64) {
        let share = share.clamp(f64::MIN_POSITIVE, 1.0);
        match modality {
            Modality::Traces => self.traces = share,
            Modality::AccessLogs => self.access = share,
            Modality::Logs => self.logs = share,
            _ => {}
        }
    }
}

/// The modalities [`Keep`] can thin: those whose records are a sample of
/// requests. Metrics and goroutine dumps are few and each one counts.
pub const SAMPLED: [Modality; 3] = [Modality::Traces, Modality::AccessLogs, Modality::Logs];

/// One file written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WrittenFile {
    /// Relative to the fixture directory, `/`-separated.
    pub name: String,
    pub modality: Option<Modality>,
    pub bytes: u64,
    /// Records written (spans, samples, lines, log records, dumps, alerts).
    pub records: u64,
    /// Records the observations held for this file, before sampling.
    pub of: u64,
}

/// What [`write_fixture`] wrote, and what it had to leave out.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Written {
    pub files: Vec<WrittenFile>,
    /// Records no file can hold (an access log of a proxy whose name is not a
    /// file name), each with why.
    pub left_out: Vec<String>,
}

impl Written {
    /// Bytes written for `modality`.
    pub fn bytes_of(&self, modality: Modality) -> u64 {
        self.files
            .iter()
            .filter(|f| f.modality == Some(modality))
            .map(|f| f.bytes)
            .sum()
    }

    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// Writes `obs` into `dir` (which must exist and be empty) as a fixture
/// directory, keeping the shares `keep` says. `webhook` carries the fields of
/// the notification the alerts came in (group labels, receiver), when known;
/// the alerts themselves are always `obs.alerts`.
pub fn write_fixture(
    dir: &Path,
    obs: &Observations,
    webhook: Option<&AlertWebhook>,
    keep: &Keep,
) -> io::Result<Written> {
    let mut out = Written::default();
    if !obs.alerts.is_empty() {
        let body = AlertWebhook {
            alerts: obs.alerts.clone(),
            ..webhook.cloned().unwrap_or_else(|| AlertWebhook {
                version: "4".into(),
                group_key: String::new(),
                truncated_alerts: 0,
                status: obs.alerts[0].status.clone(),
                receiver: String::new(),
                group_labels: BTreeMap::new(),
                common_labels: BTreeMap::new(),
                common_annotations: BTreeMap::new(),
                external_url: String::new(),
                alerts: Vec::new(),
            })
        };
        let n = body.alerts.len() as u64;
        file(&mut out, dir, "alert.json", None, n, |w| {
            serde_json::to_writer_pretty(&mut *w, &body)?;
            Ok(n)
        })?;
    }
    if !obs.spans.is_empty() {
        let of = obs.spans.len() as u64;
        file(
            &mut out,
            dir,
            "traces.json",
            Some(Modality::Traces),
            of,
            |w| write_traces(w, obs, keep.traces),
        )?;
    }
    if !obs.series.is_empty() || !obs.edges.is_empty() {
        let of = obs
            .series
            .iter()
            .map(|s| s.samples.len())
            .chain(obs.edges.iter().map(|e| e.samples.len()))
            .sum::<usize>() as u64;
        file(
            &mut out,
            dir,
            "metrics.json",
            Some(Modality::Metrics),
            of,
            |w| write_metrics(w, obs),
        )?;
    }
    write_access(&mut out, dir, obs, keep.access)?;
    if !obs.logs.is_empty() {
        let of = obs.logs.len() as u64;
        file(&mut out, dir, "logs.json", Some(Modality::Logs), of, |w| {
            write_logs(w, obs, keep.logs)
        })?;
    }
    write_goroutines(&mut out, dir, obs)?;
    Ok(out)
}

/// Creates `dir/name`, writes it with `body` (which returns the records it
/// wrote) and notes it in `out`.
fn file(
    out: &mut Written,
    dir: &Path,
    name: &str,
    modality: Option<Modality>,
    of: u64,
    body: impl FnOnce(&mut BufWriter<std::fs::File>) -> io::Result<u64>,
) -> io::Result<()> {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut w = BufWriter::with_capacity(1 << 16, std::fs::File::create(&path)?);
    let records = body(&mut w)?;
    let f = w.into_inner().map_err(io::IntoInnerError::into_error)?;
    let bytes = f.metadata()?.len();
    out.files.push(WrittenFile {
        name: name.to_string(),
        modality,
        bytes,
        records,
        of,
    });
    Ok(())
}

/// A fixed 64-bit mix (SplitMix64's finaliser): hashes that are uniform in
/// `0..2^64` for ids and positions that are not, so a threshold keeps a
/// uniform share.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Whether the item hashed to `h` is in a sample of share `keep`.
fn kept(h: u64, keep: f64) -> bool {
    keep >= 1.0 || (h as f64) < keep * (u64::MAX as f64)
}

fn trace_kept(trace_id: u128, keep: f64) -> bool {
    kept(mix((trace_id as u64) ^ mix((trace_id >> 64) as u64)), keep)
}

fn json<W: Write, T: Serialize + ?Sized>(w: &mut W, v: &T) -> io::Result<()> {
    serde_json::to_writer(w, v).map_err(io::Error::from)
}

fn str_attr<W: Write>(w: &mut W, first: &mut bool, key: &str, value: &str) -> io::Result<()> {
    if !std::mem::take(first) {
        w.write_all(b",")?;
    }
    write!(w, "{{\"key\":\"{key}\",\"value\":{{\"stringValue\":")?;
    json(w, value)?;
    w.write_all(b"}}")
}

fn otlp_kind(kind: SpanKind) -> u8 {
    match kind {
        SpanKind::Unspecified => 0,
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// Runs of consecutive items with the same key, in order.
fn runs<T, K: PartialEq>(items: &[T], key: impl Fn(&T) -> K) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        let first = rest.first()?;
        let k = key(first);
        let n = rest.iter().take_while(|x| key(x) == k).count();
        let (run, tail) = rest.split_at(n);
        rest = tail;
        Some(run)
    })
}

fn resource<W: Write>(w: &mut W, service: &str) -> io::Result<()> {
    w.write_all(b"{\"resource\":{\"attributes\":[")?;
    str_attr(w, &mut true, "service.name", service)?;
    w.write_all(b"]},")
}

fn write_traces<W: Write>(w: &mut W, obs: &Observations, keep: f64) -> io::Result<u64> {
    let names = &obs.names;
    let mut written = 0u64;
    w.write_all(b"{\"resourceSpans\":[")?;
    let mut first_resource = true;
    for run in runs(&obs.spans, |s| s.component) {
        let mut spans = run
            .iter()
            .filter(|s| trace_kept(s.trace_id, keep))
            .peekable();
        if spans.peek().is_none() {
            continue;
        }
        if !std::mem::take(&mut first_resource) {
            w.write_all(b",\n")?;
        }
        resource(w, names.name(run[0].component))?;
        w.write_all(b"\"scopeSpans\":[{\"scope\":{\"name\":\"rca-recording\"},\"spans\":[\n")?;
        let mut first = true;
        for s in spans {
            if !std::mem::take(&mut first) {
                w.write_all(b",\n")?;
            }
            write_span(w, obs, s)?;
            written += 1;
        }
        w.write_all(b"]}]}")?;
    }
    w.write_all(b"]}\n")?;
    Ok(written)
}

fn write_span<W: Write>(w: &mut W, obs: &Observations, s: &Span) -> io::Result<()> {
    let names = &obs.names;
    write!(
        w,
        "{{\"traceId\":\"{:032x}\",\"spanId\":\"{:016x}\"",
        s.trace_id, s.span_id
    )?;
    if s.parent_id != 0 {
        write!(w, ",\"parentSpanId\":\"{:016x}\"", s.parent_id)?;
    }
    w.write_all(b",\"name\":")?;
    json(w, names.name(s.operation))?;
    let start = i128::from(s.start) * 1000;
    let end = i128::from(s.start + s.duration) * 1000;
    write!(
        w,
        ",\"kind\":{},\"startTimeUnixNano\":\"{start}\",\"endTimeUnixNano\":\"{end}\",\"attributes\":[",
        otlp_kind(s.kind)
    )?;
    let mut first = true;
    if s.http_status != 0 {
        first = false;
        write!(
            w,
            "{{\"key\":\"http.response.status_code\",\"value\":{{\"intValue\":\"{}\"}}}}",
            s.http_status
        )?;
    }
    if let Some(peer) = s.peer {
        str_attr(w, &mut first, "peer.service", names.name(peer))?;
    }
    if s.proxy {
        str_attr(w, &mut first, "component", "proxy")?;
    }
    w.write_all(b"]")?;
    if s.exception.is_some() || s.event.is_some() {
        w.write_all(b",\"events\":[")?;
        let mut first = true;
        if let Some(e) = s.exception {
            first = false;
            w.write_all(b"{\"name\":\"exception\",\"attributes\":[")?;
            str_attr(w, &mut true, "exception.type", names.name(e))?;
            w.write_all(b"]}")?;
        }
        if let Some(e) = s.event {
            if !first {
                w.write_all(b",")?;
            }
            w.write_all(b"{\"name\":")?;
            json(w, names.name(e))?;
            w.write_all(b"}")?;
        }
        w.write_all(b"]")?;
    }
    if s.error {
        w.write_all(b",\"status\":{\"code\":2}")?;
    }
    w.write_all(b"}")
}

/// A Unix time in seconds, as Prometheus writes it, from microseconds.
struct PromTime(i64);

impl Serialize for PromTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The nearest double to the exact time: at today's Unix times its
        // spacing is 0.24 µs, so the reader's rounding to microseconds gets
        // the time back exactly.
        (self.0 as f64 / 1e6).serialize(s)
    }
}

#[derive(Serialize)]
struct MetricsFile<'a> {
    queries: Vec<QueryOut<'a>>,
}

#[derive(Serialize)]
struct QueryOut<'a> {
    signal: String,
    promql: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    component_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_label: Option<String>,
    response: Response<'a>,
}

#[derive(Serialize)]
struct Response<'a> {
    status: &'static str,
    data: Data<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Data<'a> {
    result_type: &'static str,
    result: Vec<SeriesOut<'a>>,
}

#[derive(Serialize)]
struct SeriesOut<'a> {
    metric: std::borrow::Cow<'a, BTreeMap<String, String>>,
    values: Vec<(PromTime, String)>,
}

/// What a recorded query says it was.
const RECORDED_QUERY: &str = "(recorded by rca: the series of the incident's window)";

/// The label naming `value` in `labels`: `None` when the default rule
/// already finds it (`found`), else the first label holding it, else a label
/// of our own added for it.
fn naming_label<'a>(
    labels: &'a BTreeMap<String, String>,
    found: Option<&String>,
    value: &str,
    own: &str,
) -> (
    Option<String>,
    std::borrow::Cow<'a, BTreeMap<String, String>>,
) {
    if found.is_some_and(|f| f == value) {
        return (None, std::borrow::Cow::Borrowed(labels));
    }
    if let Some((k, _)) = labels.iter().find(|(_, v)| *v == value) {
        return (Some(k.clone()), std::borrow::Cow::Borrowed(labels));
    }
    let mut with = labels.clone();
    with.insert(own.to_string(), value.to_string());
    (Some(own.to_string()), std::borrow::Cow::Owned(with))
}

/// The labels naming an edge's two ends: none when the defaults (`client`,
/// `server`) already do, else the labels holding them, or labels of our own.
fn edge_labels<'a>(
    labels: &'a BTreeMap<String, String>,
    client: &str,
    server: &str,
) -> (
    Option<String>,
    Option<String>,
    std::borrow::Cow<'a, BTreeMap<String, String>>,
) {
    if edge_ends(labels, None, None).is_some_and(|(c, s)| c == client && s == server) {
        return (None, None, std::borrow::Cow::Borrowed(labels));
    }
    let mut with = labels.clone();
    let mut holding = |value: &str, own: &str| match with.iter().find(|(_, v)| *v == value) {
        Some((k, _)) => k.clone(),
        None => {
            with.insert(own.to_string(), value.to_string());
            own.to_string()
        }
    };
    let c = holding(client, "rca_client");
    let s = holding(server, "rca_server");
    (Some(c), Some(s), std::borrow::Cow::Owned(with))
}

fn samples(samples: &[(i64, f64)]) -> Vec<(PromTime, String)> {
    samples
        .iter()
        .map(|&(t, v)| (PromTime(t), v.to_string()))
        .collect()
}

fn write_metrics<'a, W: Write>(w: &mut W, obs: &'a Observations) -> io::Result<u64> {
    let names = &obs.names;
    // One query per signal and naming label, in the order first seen.
    type Key = (String, Option<String>, Option<String>);
    let mut order: Vec<Key> = Vec::new();
    let mut by: BTreeMap<Key, Vec<SeriesOut<'a>>> = BTreeMap::new();
    let mut push = |key: Key, s: SeriesOut<'a>| {
        if !by.contains_key(&key) {
            order.push(key.clone());
        }
        by.entry(key).or_default().push(s);
    };
    let mut written = 0u64;
    for Series {
        component,
        signal,
        labels,
        samples: ss,
    } in &obs.series
    {
        let name = names.name(*component);
        let (label, labels) =
            naming_label(labels, component_of(labels, None), name, "rca_component");
        written += ss.len() as u64;
        push(
            (signal.as_str().to_string(), label, None),
            SeriesOut {
                metric: labels,
                values: samples(ss),
            },
        );
    }
    for EdgeSeries {
        client,
        server,
        signal,
        labels,
        samples: ss,
    } in &obs.edges
    {
        let (client, server) = (names.name(*client), names.name(*server));
        let (client_label, server_label, labels) = edge_labels(labels, client, server);
        written += ss.len() as u64;
        push(
            (signal.as_str().to_string(), client_label, server_label),
            SeriesOut {
                metric: labels,
                values: samples(ss),
            },
        );
    }
    let mut queries = Vec::with_capacity(order.len());
    for key in order {
        let result = by.remove(&key).unwrap_or_default();
        let (signal, label, server_label) = key;
        let edge = server_label.is_some() || signal.parse::<crate::EdgeSignal>().is_ok();
        let (component_label, client_label) = if edge { (None, label) } else { (label, None) };
        queries.push(QueryOut {
            signal,
            promql: RECORDED_QUERY,
            component_label,
            client_label,
            server_label,
            response: Response {
                status: "success",
                data: Data {
                    result_type: "matrix",
                    result,
                },
            },
        });
    }
    serde_json::to_writer(&mut *w, &MetricsFile { queries }).map_err(io::Error::from)?;
    w.write_all(b"\n")?;
    Ok(written)
}

/// Whether `name` can stand in a file name as it is: the fixture reader
/// takes the proxy of `access-<proxy>.log`, and the component of
/// `goroutines/<component>/`, from the name.
fn file_name_safe(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b':'))
}

fn write_access(out: &mut Written, dir: &Path, obs: &Observations, keep: f64) -> io::Result<()> {
    let names = &obs.names;
    let mut proxies: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in obs.access.iter().enumerate() {
        proxies.entry(names.name(r.proxy)).or_default().push(i);
    }
    for (proxy, idx) in proxies {
        if !file_name_safe(proxy) {
            out.left_out.push(format!(
                "{} access records of proxy {proxy:?}: its name cannot be a file name",
                idx.len()
            ));
            continue;
        }
        let name = format!("access-{proxy}.log");
        let of = idx.len() as u64;
        file(out, dir, &name, Some(Modality::AccessLogs), of, |w| {
            let mut written = 0;
            for i in idx {
                if !kept(mix(i as u64), keep) {
                    continue;
                }
                write_access_line(w, obs, &obs.access[i])?;
                written += 1;
            }
            Ok(written)
        })?;
    }
    Ok(())
}

#[derive(Serialize)]
struct EnvoyLine<'a> {
    start_time: String,
    method: &'a str,
    path: &'a str,
    response_code: u16,
    response_flags: &'a str,
    bytes_sent: u64,
    /// Milliseconds, as Envoy writes it (every access-log format carries
    /// whole milliseconds, so nothing is lost).
    duration: i64,
    user_agent: &'a str,
    x_forwarded_for: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_cluster: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    downstream_tls_version: Option<&'a str>,
}

fn write_access_line<W: Write>(
    w: &mut W,
    obs: &Observations,
    r: &crate::AccessRecord,
) -> io::Result<()> {
    let n = |s| obs.names.name(s);
    let line = EnvoyLine {
        start_time: crate::rfc3339_micros(r.time),
        method: n(r.method),
        path: n(r.path),
        response_code: r.status,
        response_flags: n(r.response_flags),
        bytes_sent: r.bytes_sent,
        duration: (r.duration + 500).div_euclid(1000),
        user_agent: n(r.user_agent),
        x_forwarded_for: n(r.client),
        upstream_cluster: r.upstream.map(n),
        downstream_tls_version: r.tls_version.map(n),
    };
    json(w, &line)?;
    w.write_all(b"\n")
}

fn severity(level: LogLevel) -> (u8, &'static str) {
    match level {
        LogLevel::Trace => (1, "TRACE"),
        LogLevel::Debug => (5, "DEBUG"),
        LogLevel::Info => (9, "INFO"),
        LogLevel::Warn => (13, "WARN"),
        LogLevel::Error => (17, "ERROR"),
        LogLevel::Fatal => (21, "FATAL"),
    }
}

fn write_logs<W: Write>(w: &mut W, obs: &Observations, keep: f64) -> io::Result<u64> {
    let names = &obs.names;
    let mut written = 0u64;
    let mut index = 0u64;
    w.write_all(b"{\"resourceLogs\":[")?;
    let mut first_resource = true;
    for run in runs(&obs.logs, |l| l.component) {
        if !std::mem::take(&mut first_resource) {
            w.write_all(b",\n")?;
        }
        resource(w, names.name(run[0].component))?;
        w.write_all(b"\"scopeLogs\":[{\"logRecords\":[\n")?;
        let mut first = true;
        for l in run {
            index += 1;
            if !kept(mix(index), keep) {
                continue;
            }
            if !std::mem::take(&mut first) {
                w.write_all(b",\n")?;
            }
            let (number, text) = severity(l.level);
            write!(
                w,
                "{{\"timeUnixNano\":\"{}\",\"severityNumber\":{number},\"severityText\":\"{text}\",\"body\":{{\"stringValue\":",
                i128::from(l.time) * 1000
            )?;
            json(w, names.name(l.message))?;
            w.write_all(b"}")?;
            if let Some(t) = l.trace_id {
                write!(w, ",\"traceId\":\"{t:032x}\"")?;
            }
            if let Some(s) = l.span_id {
                write!(w, ",\"spanId\":\"{s:016x}\"")?;
            }
            w.write_all(b",\"attributes\":[")?;
            let mut first_attr = true;
            if let Some(logger) = l.logger {
                str_attr(w, &mut first_attr, "logger.name", names.name(logger))?;
            }
            if let Some(e) = l.exception {
                str_attr(w, &mut first_attr, "exception.type", names.name(e))?;
            }
            w.write_all(b"]}")?;
            written += 1;
        }
        w.write_all(b"]}]}")?;
    }
    w.write_all(b"]}\n")?;
    Ok(written)
}

fn write_goroutines(out: &mut Written, dir: &Path, obs: &Observations) -> io::Result<()> {
    for c in &obs.goroutines {
        if !file_name_safe(&c.component) {
            out.left_out.push(format!(
                "{} goroutine dumps of {:?}: its name cannot be a file name",
                c.dumps.len(),
                c.component
            ));
            continue;
        }
        for (n, d) in c.dumps.iter().enumerate() {
            // A Unix second leads the name of a dump whose time is known;
            // the reader orders by it, then by name.
            let name = match d.at {
                Some(at) => format!(
                    "goroutines/{}/{}-{n:04}.dump",
                    c.component,
                    at.div_euclid(1_000_000)
                ),
                None => format!("goroutines/{}/untimed-{n:04}.dump", c.component),
            };
            file(out, dir, &name, Some(Modality::Goroutines), 1, |w| {
                w.write_all(&d.bytes)?;
                Ok(1)
            })?;
        }
    }
    Ok(())
}
