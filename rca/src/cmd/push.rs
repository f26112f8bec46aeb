//! `rca fixtures push FIXTURE`: loads a fixture into real backends, every
//! time moved so that the alert's settle period ended a minute ago:
//!
//! - traces to an OTLP/HTTP receiver (Jaeger's), as protobuf
//!   `ExportTraceServiceRequest`s built with `opentelemetry-proto`, a few
//!   thousand spans per request, trace ids salted with the shift;
//! - series to Prometheus by remote write (protobuf + snappy), each query's
//!   series as the gauge `rca_fixture_<signal>` with its labels and a
//!   `fixture` label (the `calls` and `calls_failed` series per caller→callee
//!   edge with their `client` and `server` labels); Prometheus must run with
//!   the remote-write receiver and an out-of-order window covering the past
//!   hours (scripts/stack does);
//! - access logs to a directory, lines rewritten with shifted times; or,
//!   with `--logs-url`, application logs (`logs.json`) and access logs to
//!   VictoriaLogs through its JSON-lines API (`/insert/jsonline`), one line a
//!   record under the field names its OpenTelemetry ingestion writes
//!   (`service.name`, `severity_text`, `severity_number`, `trace_id` salted
//!   like the traces', `span_id`, `scope.name`), access lines with
//!   `k8s.container.name` `envoy` or `ingress-nginx` as a proxy container's
//!   stdout would be, all tagged `rca.push` with this push's id;
//! - an rca configuration whose PromQL reads the pushed series back exactly
//!   (and whose `[logs]` queries read this push's logs, and only them)
//!   (`last_over_time(rca_fixture_cpu{fixture="…"}[14s])` at a 15 s step;
//!   for the calls signals with `client_label` and `server_label` set);
//! - optionally the shifted alert to Alertmanager (`POST /api/v2/alerts`).
//!
//! The shift is a whole number of hours, so buckets and metric steps fall on
//! the same round times as in the fixture; pushing the same fixture twice
//! within the hour writes the same data again (rca's Jaeger collector drops
//! the duplicate spans, Prometheus the duplicate samples), and pushes in
//! different hours land in windows that do not overlap. The alert so starts
//! between 11 and 71 minutes ago.
//! Prints a JSON summary: the shift, the shifted alert webhook body, where
//! the config went.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use ingest::collect::SignalQuery;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, TracesData};
use prost::Message;
use serde::Serialize;

use crate::cli::PushArgs;
use crate::error::{CliError, CliResult};

/// Spans per OTLP request: well under receivers' default body limits.
const SPANS_PER_REQUEST: usize = 5_000;
/// Samples per remote-write request.
const SAMPLES_PER_REQUEST: usize = 20_000;
/// The shift is a multiple of this, in seconds: longer than a window
/// (40 minutes by default), so pushes an hour or more apart never overlap.
const SHIFT_UNIT: i64 = 3600;
/// The rca settle period the alert's data must be past.
const SETTLE: i64 = 600;
/// The metric step of generated fixtures, in seconds.
const STEP: f64 = 15.0;

/// What `push` prints.
#[derive(Debug, Serialize)]
pub struct Pushed {
    pub shift_seconds: i64,
    pub spans: usize,
    pub samples: usize,
    pub access_lines: usize,
    /// Application log lines sent to the log store.
    pub log_lines: usize,
    /// With `--logs-url`: the `rca.push` value every line sent carries.
    pub logs_push: Option<String>,
    /// The fixture's alert webhook with shifted times, ready to POST to rca.
    pub webhook: serde_json::Value,
    pub config: Option<PathBuf>,
}

pub fn run(args: &PushArgs) -> CliResult<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::failed)?;
    let pushed = runtime.block_on(push(args))?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &pushed).map_err(CliError::failed)?;
    let _ = writeln!(out);
    Ok(())
}

/// The shift for a fixture whose alert starts at `start` and whose data ends
/// at `end` (microseconds): a whole number of hours that leaves the later
/// of the two plus the settle period `margin` in the past.
pub fn shift_for(start: i64, end: i64, now: i64, margin: i64) -> i64 {
    let last = (start + SETTLE * 1_000_000).max(end);
    let room = (now - margin * 1_000_000 - last).div_euclid(1_000_000);
    room.div_euclid(SHIFT_UNIT) * SHIFT_UNIT
}

async fn push(args: &PushArgs) -> CliResult<Pushed> {
    let dir = &args.fixture;
    let fixture = ingest::load_fixture(dir)?;
    let Some(webhook) = fixture.webhook.clone() else {
        return Err(CliError::bad(anyhow::anyhow!(
            "{}: no alert.json: nothing says when the incident starts",
            dir.display()
        )));
    };
    let Some(alert) = webhook.alerts.first() else {
        return Err(CliError::bad(anyhow::anyhow!(
            "{}: alert.json holds no alert",
            dir.display()
        )));
    };
    let data = fixture.observations.data_span().ok_or_else(|| {
        CliError::bad(anyhow::anyhow!(
            "{}: the fixture holds no data",
            dir.display()
        ))
    })?;
    let now = Utc::now().timestamp_micros();
    let shift = shift_for(
        alert.starts_at_micros(),
        data.end,
        now,
        i64::from(args.margin_minutes) * 60,
    );
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("fixture")
        .to_string();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(CliError::failed)?;

    let spans = push_traces(&client, &args.otlp, dir, shift)
        .await
        .map_err(CliError::failed)?;
    let (samples, queries) = push_series(
        &client,
        &args.prometheus,
        &fixture.observations,
        &name,
        shift,
    )
    .await
    .map_err(CliError::failed)?;
    let push_id = format!("{name}-{}", Utc::now().timestamp_micros());
    let (access_lines, log_lines) = match &args.logs_url {
        None => (
            push_access_logs(dir, &args.access_log_dir, shift).map_err(CliError::failed)?,
            0,
        ),
        Some(url) => push_logs(&client, url, dir, shift, &push_id)
            .await
            .map_err(CliError::failed)?,
    };

    let mut shifted = serde_json::to_value(&webhook).map_err(CliError::failed)?;
    if let Some(alerts) = shifted.get_mut("alerts").and_then(|a| a.as_array_mut()) {
        for a in alerts {
            for key in ["startsAt", "endsAt"] {
                if let Some(t) = a
                    .get(key)
                    .and_then(|v| v.as_str())
                    .and_then(|s| shift_rfc3339(s, shift))
                {
                    a[key] = serde_json::Value::String(t);
                }
            }
        }
    }
    if let Some(path) = &args.write_config {
        let logs = args.logs_url.as_deref().map(|url| (url, push_id.as_str()));
        write_config(path, &queries, &args.access_log_dir, logs).map_err(CliError::failed)?;
    }
    if let Some(am) = &args.alertmanager {
        fire(&client, am, &shifted)
            .await
            .map_err(CliError::failed)?;
    }
    Ok(Pushed {
        shift_seconds: shift,
        spans,
        samples,
        access_lines,
        log_lines,
        logs_push: args.logs_url.as_ref().map(|_| push_id.clone()),
        webhook: shifted,
        config: args.write_config.clone(),
    })
}

/// Moves an RFC 3339 time by `shift` seconds, keeping its precision; the
/// zero time (a firing alert's `endsAt`) stays as it is.
fn shift_rfc3339(s: &str, shift: i64) -> Option<String> {
    let t = DateTime::parse_from_rfc3339(s).ok()?;
    if t.timestamp() <= 0 {
        return None;
    }
    let moved = t.with_timezone(&Utc) + chrono::Duration::seconds(shift);
    Some(moved.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// `traces.json` (OTLP JSON, also wrapped as `{"result": ..}`) to an OTLP/HTTP
/// receiver, shifted. Returns the spans sent.
async fn push_traces(
    client: &reqwest::Client,
    otlp: &str,
    dir: &Path,
    shift: i64,
) -> anyhow::Result<usize> {
    let path = dir.join("traces.json");
    if !path.is_file() {
        return Ok(0);
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let data: TracesData = {
        #[derive(serde::Deserialize)]
        struct Wrapped {
            result: TracesData,
        }
        match serde_json::from_slice::<Wrapped>(&bytes) {
            Ok(w) => w.result,
            Err(_) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{}: not OTLP JSON (Jaeger JSON traces cannot be pushed)",
                    path.display()
                )
            })?,
        }
    };
    drop(bytes);
    let nanos = (shift as i128 * 1_000_000_000) as i64 as u64;
    let url = format!("{}/v1/traces", otlp.trim_end_matches('/'));
    let mut total = 0;
    let mut batch: Vec<ResourceSpans> = Vec::new();
    let mut in_batch = 0;
    for rs in data.resource_spans {
        for ss in rs.scope_spans {
            let mut spans = ss.spans;
            for s in &mut spans {
                salt_trace_id(&mut s.trace_id, shift);
                for l in &mut s.links {
                    salt_trace_id(&mut l.trace_id, shift);
                }
                s.start_time_unix_nano = s.start_time_unix_nano.wrapping_add(nanos);
                s.end_time_unix_nano = s.end_time_unix_nano.wrapping_add(nanos);
                for e in &mut s.events {
                    e.time_unix_nano = e.time_unix_nano.wrapping_add(nanos);
                }
            }
            for chunk in spans.chunks(SPANS_PER_REQUEST) {
                batch.push(ResourceSpans {
                    resource: rs.resource.clone(),
                    scope_spans: vec![ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: chunk.to_vec(),
                        schema_url: ss.schema_url.clone(),
                    }],
                    schema_url: rs.schema_url.clone(),
                });
                in_batch += chunk.len();
                total += chunk.len();
                if in_batch >= SPANS_PER_REQUEST {
                    send_spans(client, &url, std::mem::take(&mut batch)).await?;
                    in_batch = 0;
                }
            }
        }
    }
    if !batch.is_empty() {
        send_spans(client, &url, batch).await?;
    }
    Ok(total)
}

/// Makes a trace id unique to this shift: pushed again in the same hour the
/// fixture's traces are the same traces (and Jaeger's duplicates are dropped
/// by the collector), pushed in another hour they are new ones, never spans
/// appended to the traces of an earlier push.
fn salt_trace_id(id: &mut [u8], shift: i64) {
    for (b, s) in id.iter_mut().zip(shift.to_be_bytes()) {
        *b ^= s;
    }
}

async fn send_spans(
    client: &reqwest::Client,
    url: &str,
    batch: Vec<ResourceSpans>,
) -> anyhow::Result<()> {
    let body = ExportTraceServiceRequest {
        resource_spans: batch,
    }
    .encode_to_vec();
    let req = client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(body);
    send(req, url, "sending spans").await
}

/// Prometheus remote write, version 1: the messages we send.
mod remote {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        /// Milliseconds since the epoch.
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

/// The metric name a signal's series are pushed under.
pub fn metric_name(signal: &str) -> String {
    let clean: String = signal
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("rca_fixture_{clean}")
}

/// One series to remote-write: its labels and its samples.
type ToPush<'a> = (BTreeMap<String, String>, &'a [(i64, f64)]);

/// Every series of the fixture by remote write, the caller→callee ones with
/// their client and server labels. Returns the samples sent and the queries
/// that read them back.
async fn push_series(
    client: &reqwest::Client,
    prometheus: &str,
    obs: &ingest::Observations,
    fixture: &str,
    shift: i64,
) -> anyhow::Result<(usize, Vec<SignalQuery>)> {
    let url = format!("{}/api/v1/write", prometheus.trim_end_matches('/'));
    let last = |selector: String| format!("last_over_time({selector}[{}s])", STEP as i64 - 1);
    // One query per signal (per signal and pair of end labels for the calls
    // signals), keyed so the config lists them in a stable order.
    let mut queries: BTreeMap<String, SignalQuery> = BTreeMap::new();
    let mut pushed: Vec<ToPush> = Vec::new();
    for s in &obs.series {
        let signal = s.signal.as_str();
        let name = metric_name(signal);
        let component_label = component_label_of(s, obs);
        queries.entry(signal.to_string()).or_insert_with(|| {
            let selector = format!("{name}{{fixture=\"{fixture}\"}}");
            SignalQuery::component(signal, &last(selector), Some(&component_label))
        });
        let mut labels = pushed_labels(&s.labels, name, fixture);
        // The series' component may have come from a fallback label; make
        // sure the label the query names carries it.
        labels
            .entry(component_label)
            .or_insert_with(|| obs.names.name(s.component).to_string());
        pushed.push((labels, &s.samples));
    }
    for e in &obs.edges {
        let signal = e.signal.as_str();
        let name = metric_name(signal);
        let (caller, callee) = (obs.names.name(e.client), obs.names.name(e.server));
        let client_label = end_label_of(&e.labels, caller, ingest::DEFAULT_CLIENT_LABEL);
        let server_label = end_label_of(&e.labels, callee, ingest::DEFAULT_SERVER_LABEL);
        let key = format!("{signal} {client_label} {server_label}");
        queries.entry(key).or_insert_with(|| {
            // Only the series carrying both labels: a fixture may name its
            // edges' ends in more than one way (servicegraph's, Istio's).
            let selector = format!(
                "{name}{{fixture=\"{fixture}\",{client_label}!=\"\",{server_label}!=\"\"}}"
            );
            SignalQuery::edge(
                signal,
                &last(selector),
                Some(&client_label),
                Some(&server_label),
            )
        });
        let mut labels = pushed_labels(&e.labels, name, fixture);
        labels
            .entry(client_label)
            .or_insert_with(|| caller.to_string());
        labels
            .entry(server_label)
            .or_insert_with(|| callee.to_string());
        pushed.push((labels, &e.samples));
    }

    let mut batch = remote::WriteRequest::default();
    let mut in_batch = 0;
    let mut total = 0;
    for (labels, samples) in pushed {
        batch.timeseries.push(remote::TimeSeries {
            labels: labels
                .into_iter()
                .map(|(name, value)| remote::Label { name, value })
                .collect(),
            samples: samples
                .iter()
                .map(|(t, v)| remote::Sample {
                    value: *v,
                    timestamp: (t + shift * 1_000_000).div_euclid(1000),
                })
                .collect(),
        });
        in_batch += samples.len();
        total += samples.len();
        if in_batch >= SAMPLES_PER_REQUEST {
            remote_write(client, &url, std::mem::take(&mut batch)).await?;
            in_batch = 0;
        }
    }
    if !batch.timeseries.is_empty() {
        remote_write(client, &url, batch).await?;
    }
    Ok((total, queries.into_values().collect()))
}

/// A series' labels as pushed: Prometheus' own (`__…`) dropped, the metric
/// name and the fixture's name set.
fn pushed_labels(
    labels: &BTreeMap<String, String>,
    name: String,
    fixture: &str,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = labels
        .iter()
        .filter(|(k, _)| !k.starts_with("__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.insert("__name__".into(), name);
    out.insert("fixture".into(), fixture.to_string());
    out
}

/// The label that names a series' component: the first of the usual ones
/// whose value is the component's name.
fn component_label_of(s: &ingest::Series, obs: &ingest::Observations) -> String {
    let component = obs.names.name(s.component);
    ingest::COMPONENT_LABELS
        .iter()
        .chain(
            s.labels
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .iter(),
        )
        .find(|l| s.labels.get(**l).map(String::as_str) == Some(component))
        .map(|l| l.to_string())
        .unwrap_or_else(|| "service".into())
}

/// The label that names one end of an edge series: `default` (`client`,
/// `server`) when it holds `end`, else the first label that does, else
/// `default`, to be added.
fn end_label_of(labels: &BTreeMap<String, String>, end: &str, default: &str) -> String {
    if labels.get(default).map(String::as_str) == Some(end) {
        return default.to_string();
    }
    labels
        .iter()
        .find(|(k, v)| !k.starts_with("__") && v.as_str() == end)
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| default.to_string())
}

async fn remote_write(
    client: &reqwest::Client,
    url: &str,
    req: remote::WriteRequest,
) -> anyhow::Result<()> {
    let raw = req.encode_to_vec();
    let body = snap::raw::Encoder::new()
        .compress_vec(&raw)
        .context("snappy-compressing a remote-write request")?;
    let req = client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(body);
    send(req, url, "remote-writing series").await
}

/// Copies `access.log` and `access-<proxy>.log` into `out`, times shifted.
fn push_access_logs(dir: &Path, out: &Path, shift: i64) -> anyhow::Result<usize> {
    let mut lines = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n == "access.log" || (n.starts_with("access-") && n.ends_with(".log"))
            })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Ok(0);
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for path in files {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let target = out.join(path.file_name().unwrap_or_default());
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(&target)
                .with_context(|| format!("creating {}", target.display()))?,
        );
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let moved = shift_access_line(line, shift)
                .with_context(|| format!("{}:{}: no time to shift", path.display(), i + 1))?;
            writeln!(w, "{moved}")?;
            lines += 1;
        }
        w.flush()?;
    }
    Ok(lines)
}

/// One access-log line with its time moved by `shift` seconds: Envoy JSON
/// (`"start_time":"…"`), Envoy text (`[time] …`) or ingress-nginx (`… [10/Oct/2023:13:55:36 +0000] …`).
pub fn shift_access_line(line: &str, shift: i64) -> Option<String> {
    let delta = chrono::Duration::seconds(shift);
    if line.starts_with('{') {
        let key = "\"start_time\":\"";
        let at = line.find(key)? + key.len();
        let len = line[at..].find('"')?;
        let moved = shift_rfc3339(&line[at..at + len], shift)?;
        return Some(format!("{}{}{}", &line[..at], moved, &line[at + len..]));
    }
    if let Some(rest) = line.strip_prefix('[') {
        let len = rest.find(']')?;
        let moved = shift_rfc3339(&rest[..len], shift)?;
        return Some(format!("[{}{}", moved, &rest[len..]));
    }
    let open = line.find(" [")? + 2;
    let len = line[open..].find(']')?;
    let t =
        DateTime::<FixedOffset>::parse_from_str(&line[open..open + len], "%d/%b/%Y:%H:%M:%S %z")
            .ok()?;
    let moved = (t + delta).format("%d/%b/%Y:%H:%M:%S %z").to_string();
    Some(format!("{}{}{}", &line[..open], moved, &line[open + len..]))
}

/// Records per JSON-lines request to the log store.
const LOG_LINES_PER_REQUEST: usize = 10_000;

/// `logs.json` and the access logs to VictoriaLogs' JSON-lines API, shifted.
/// Returns the access lines and application lines sent.
async fn push_logs(
    client: &reqwest::Client,
    base: &str,
    dir: &Path,
    shift: i64,
    push_id: &str,
) -> anyhow::Result<(usize, usize)> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::logs::v1::LogsData;
    let url = format!(
        "{}/insert/jsonline?_stream_fields=service.name,k8s.container.name,rca.push",
        base.trim_end_matches('/')
    );
    let mut batch = LineBatch::default();
    let text = |v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>| -> Option<String> {
        match v.as_ref()?.value.as_ref()? {
            Any::StringValue(s) => Some(s.clone()),
            Any::IntValue(i) => Some(i.to_string()),
            Any::DoubleValue(d) => Some(d.to_string()),
            Any::BoolValue(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let time = |nanos: i128| -> String {
        let t = DateTime::from_timestamp(
            (nanos.div_euclid(1_000_000_000)) as i64,
            nanos.rem_euclid(1_000_000_000) as u32,
        )
        .unwrap_or_default();
        t.to_rfc3339_opts(SecondsFormat::Nanos, true)
    };
    let mut log_lines = 0;
    let path = dir.join("logs.json");
    if path.is_file() {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let data: LogsData = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not OTLP JSON logs", path.display()))?;
        for rl in data.resource_logs {
            let mut common = serde_json::Map::new();
            common.insert("rca.push".into(), push_id.into());
            for kv in rl.resource.iter().flat_map(|r| &r.attributes) {
                if let Some(v) = text(&kv.value) {
                    common.insert(kv.key.clone(), v.into());
                }
            }
            for sl in rl.scope_logs {
                let mut scoped = common.clone();
                if let Some(name) = sl
                    .scope
                    .as_ref()
                    .map(|s| s.name.clone())
                    .filter(|n| !n.is_empty())
                {
                    scoped.insert("scope.name".into(), name.into());
                }
                for r in sl.log_records {
                    let mut line = scoped.clone();
                    let nanos = if r.time_unix_nano != 0 {
                        r.time_unix_nano
                    } else {
                        r.observed_time_unix_nano
                    };
                    line.insert(
                        "_time".into(),
                        time(nanos as i128 + shift as i128 * 1_000_000_000).into(),
                    );
                    line.insert("_msg".into(), text(&r.body).unwrap_or_default().into());
                    if r.severity_number != 0 {
                        line.insert(
                            "severity_number".into(),
                            r.severity_number.to_string().into(),
                        );
                    }
                    if !r.severity_text.is_empty() {
                        line.insert("severity_text".into(), r.severity_text.clone().into());
                    }
                    let mut trace = r.trace_id.clone();
                    if trace.iter().any(|&b| b != 0) {
                        salt_trace_id(&mut trace, shift);
                        line.insert("trace_id".into(), hex::encode(trace).into());
                    }
                    if r.span_id.iter().any(|&b| b != 0) {
                        line.insert("span_id".into(), hex::encode(&r.span_id).into());
                    }
                    for kv in &r.attributes {
                        if let Some(v) = text(&kv.value) {
                            line.insert(kv.key.clone(), v.into());
                        }
                    }
                    batch.push(client, &url, line).await?;
                    log_lines += 1;
                }
            }
        }
    }
    let mut access_lines = 0;
    for (path, proxy) in access_files(dir)? {
        let content = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        for (i, line) in content.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let moved = shift_access_line(line, shift)
                .with_context(|| format!("{}:{}: no time to shift", path.display(), i + 1))?;
            let mut one = ingest::Observations::default();
            ingest::read_access_log(&path, moved.as_bytes(), "-", &mut one)
                .with_context(|| format!("{}:{}", path.display(), i + 1))?;
            let Some(at) = one.access.first().map(|a| a.time) else {
                continue;
            };
            let container = if moved.starts_with('{') || moved.starts_with('[') {
                "envoy"
            } else {
                "ingress-nginx"
            };
            let mut record = serde_json::Map::new();
            record.insert("_time".into(), time(at as i128 * 1000).into());
            record.insert("_msg".into(), moved.into());
            record.insert("k8s.container.name".into(), container.into());
            record.insert("rca.push".into(), push_id.into());
            if let Some(p) = &proxy {
                record.insert("service.name".into(), p.clone().into());
            }
            batch.push(client, &url, record).await?;
            access_lines += 1;
        }
    }
    batch.send(client, &url).await?;
    Ok((access_lines, log_lines))
}

/// `access.log` (no proxy named: the traces' one) and `access-<proxy>.log`.
fn access_files(dir: &Path) -> anyhow::Result<Vec<(PathBuf, Option<String>)>> {
    let mut files: Vec<(PathBuf, Option<String>)> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let n = p.file_name()?.to_str()?.to_string();
            if n == "access.log" {
                return Some((p, None));
            }
            let proxy = n.strip_prefix("access-")?.strip_suffix(".log")?.to_string();
            Some((p, Some(proxy)))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// JSON lines on their way to the log store, sent every
/// [`LOG_LINES_PER_REQUEST`] records.
#[derive(Default)]
struct LineBatch {
    body: String,
    records: usize,
}

impl LineBatch {
    async fn push(
        &mut self,
        client: &reqwest::Client,
        url: &str,
        record: serde_json::Map<String, serde_json::Value>,
    ) -> anyhow::Result<()> {
        self.body
            .push_str(&serde_json::Value::Object(record).to_string());
        self.body.push('\n');
        self.records += 1;
        if self.records >= LOG_LINES_PER_REQUEST {
            self.send(client, url).await?;
        }
        Ok(())
    }

    /// Sends what waits, if anything.
    async fn send(&mut self, client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
        if self.records == 0 {
            return Ok(());
        }
        self.records = 0;
        let body = std::mem::take(&mut self.body);
        // VictoriaLogs reads a form-encoded body as a form: say what it is.
        let req = client
            .post(url)
            .header("Content-Type", "application/stream+json")
            .body(body);
        send(req, url, "sending logs").await
    }
}

/// Sends `req` and fails with the answer's start unless it succeeded.
async fn send(req: reqwest::RequestBuilder, url: &str, doing: &str) -> anyhow::Result<()> {
    let resp = req
        .send()
        .await
        .with_context(|| format!("{doing} to {url}"))?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        bail!(
            "{url} answered {status}: {}",
            text.trim().chars().take(300).collect::<String>()
        );
    }
    Ok(())
}

/// An rca config that reads the pushed series back, and the logs: from the
/// log store when they went there (`logs`: its URL and this push's id),
/// else the access logs from the directory `access` and no log store.
fn write_config(
    path: &Path,
    queries: &[SignalQuery],
    access: &Path,
    logs: Option<(&str, &str)>,
) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Prom<'a> {
        step_seconds: f64,
        queries: &'a [SignalQuery],
    }
    #[derive(Serialize)]
    struct Access {
        dir: String,
    }
    #[derive(Serialize)]
    struct Logs {
        backend: ingest::collect::LogBackend,
        url: String,
        queries: Vec<ingest::collect::LogQuery>,
    }
    #[derive(Serialize)]
    struct Out<'a> {
        prometheus: Prom<'a>,
        access_logs: Access,
        logs: Logs,
    }
    let backend = ingest::collect::LogBackend::VictoriaLogs;
    let (url, log_queries) = match logs {
        None => (String::new(), Vec::new()),
        Some((url, id)) => {
            // The default queries, narrowed to this push's lines.
            let mine = ingest::collect::default_log_queries(backend)
                .into_iter()
                .map(|mut q| {
                    q.query = format!("rca.push:={id:?} ({})", q.query);
                    q
                })
                .collect();
            (url.to_string(), mine)
        }
    };
    let text = toml::to_string(&Out {
        prometheus: Prom {
            step_seconds: STEP,
            queries,
        },
        access_logs: Access {
            dir: if logs.is_some() {
                String::new()
            } else {
                access.display().to_string()
            },
        },
        logs: Logs {
            backend,
            url,
            queries: log_queries,
        },
    })?;
    std::fs::write(
        path,
        format!("# Written by `rca fixtures push`: reads the pushed fixture back.\n{text}"),
    )
    .with_context(|| format!("writing {}", path.display()))
}

/// Fires the webhook's alerts at Alertmanager's API.
async fn fire(
    client: &reqwest::Client,
    alertmanager: &str,
    webhook: &serde_json::Value,
) -> anyhow::Result<()> {
    let alerts: Vec<serde_json::Value> = webhook
        .get("alerts")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .map(|a| {
            serde_json::json!({
                "labels": a.get("labels").cloned().unwrap_or_default(),
                "annotations": a.get("annotations").cloned().unwrap_or_default(),
                "startsAt": a.get("startsAt").cloned().unwrap_or_default(),
                "generatorURL": a.get("generatorURL").cloned().unwrap_or_default(),
            })
        })
        .collect();
    let url = format!("{}/api/v2/alerts", alertmanager.trim_end_matches('/'));
    send(client.post(&url).json(&alerts), &url, "posting alerts").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines_of_every_format_move_by_the_shift() {
        let shift = 86_400 + 600;
        let json = r#"{"start_time":"2026-03-03T23:00:01.054Z","method":"POST"}"#;
        assert_eq!(
            shift_access_line(json, shift).unwrap(),
            r#"{"start_time":"2026-03-04T23:10:01.054Z","method":"POST"}"#
        );
        let text = r#"[2026-03-03T19:00:05.111Z] "POST /api/rating HTTP/2" 200 -"#;
        assert_eq!(
            shift_access_line(text, shift).unwrap(),
            r#"[2026-03-04T19:10:05.111Z] "POST /api/rating HTTP/2" 200 -"#
        );
        let nginx = r#"1.2.3.4 - - [02/Mar/2026:17:00:00 +0000] "GET / HTTP/2" 200"#;
        assert_eq!(
            shift_access_line(nginx, shift).unwrap(),
            r#"1.2.3.4 - - [03/Mar/2026:17:10:00 +0000] "GET / HTTP/2" 200"#
        );
        assert!(shift_access_line("garbage", shift).is_none());
    }

    #[test]
    fn an_edge_end_is_named_by_the_label_that_holds_it() {
        let labels: BTreeMap<String, String> = [
            ("source_workload", "frontend"),
            ("destination_workload", "cart"),
            ("client", "frontend"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(end_label_of(&labels, "frontend", "client"), "client");
        assert_eq!(
            end_label_of(&labels, "cart", "server"),
            "destination_workload"
        );
        assert_eq!(
            end_label_of(&BTreeMap::new(), "cart", "server"),
            "server",
            "none holds it: the default, to be added"
        );
    }

    #[test]
    fn the_shift_is_whole_hours_and_leaves_the_settle_period_past() {
        let start = 1_772_565_635_591_000; // 2026-03-03T19:20:35.591Z
        let end = start + 9 * 60_000_000;
        let now = start + 3 * 86_400_000_000 + 123_456_789;
        let shift = shift_for(start, end, now, 60);
        assert_eq!(shift % SHIFT_UNIT, 0);
        assert!(start + shift * 1_000_000 + SETTLE * 1_000_000 <= now - 60_000_000);
        assert!(start + (shift + SHIFT_UNIT) * 1_000_000 + SETTLE * 1_000_000 > now - 60_000_000);
    }
}
