//! The Nezha dataset's layout (Yu et al., FSE 2023): labelled fault cases of
//! one day, with traces and application logs in per-minute CSV files, per-pod
//! metrics for the whole day, and a fault-free minute as a reference.
//!
//! ```text
//! ROOT/rca_data/DAY/DAY-fault_list.json      {"HH": [{"inject_time", "inject_pod", "inject_type"}]}
//! ROOT/rca_data/DAY/trace/HH_MM_trace.csv    TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration
//! ROOT/rca_data/DAY/log/HH_MM_log.csv        Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log
//! ROOT/rca_data/DAY/metric/<pod>_metric.csv  Time,TimeStamp,PodName,CpuUsage(m),CpuUsageRate(%),...
//! ROOT/construct_data/DAY/{trace,log}/...    the fault-free minute, same formats
//! ```
//!
//! A case reads the three minute files named after its injection minute and
//! the two after it. `inject_time` is read as UTC: `inject_timestamp` is eight
//! hours off the data's clock. A component is a pod's service: the pod name
//! without its last two dash-separated parts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use serde::Deserialize;

use crate::{
    IngestError, LogLevel, LogRecord, Micros, Modality, Observations, Series, Signal, SourceStatus,
    Span, SpanKind,
};

/// One labelled fault.
#[derive(Clone, Debug, PartialEq)]
pub struct NezhaCase {
    /// `HH:MM:SS-service`, unique within a day.
    pub id: String,
    pub inject_time: DateTime<Utc>,
    pub pod: String,
    /// The pod's service: what accuracy is judged on.
    pub service: String,
    pub fault: String,
}

/// The service of a pod: `ts-order-service-5b67c48447-mv5hb` → `ts-order-service`.
pub fn service_of(pod: &str) -> &str {
    let mut cut = pod.len();
    for _ in 0..2 {
        match pod[..cut].rfind('-') {
            Some(i) if i > 0 => cut = i,
            _ => return pod,
        }
    }
    &pod[..cut]
}

#[derive(Deserialize)]
struct RawCase {
    inject_time: String,
    inject_pod: String,
    inject_type: String,
}

fn day_dir(root: &Path, part: &str, day: &str) -> PathBuf {
    root.join(part).join(day)
}

/// The labelled cases of `day`, in injection order.
pub fn nezha_cases(root: &Path, day: &str) -> Result<Vec<NezhaCase>, IngestError> {
    let path = day_dir(root, "rca_data", day).join(format!("{day}-fault_list.json"));
    let bytes = std::fs::read(&path).map_err(|source| IngestError::Io {
        path: path.clone(),
        source,
    })?;
    let raw: BTreeMap<String, Vec<RawCase>> =
        serde_json::from_slice(&bytes).map_err(|e| IngestError::json(&path, e))?;
    let mut cases = Vec::new();
    for c in raw.into_values().flatten() {
        let t = NaiveDateTime::parse_from_str(&c.inject_time, "%Y-%m-%d %H:%M:%S")
            .map_err(|e| {
                IngestError::malformed(&path, format!("inject_time {:?}: {e}", c.inject_time))
            })?
            .and_utc();
        let service = service_of(&c.inject_pod).to_string();
        cases.push(NezhaCase {
            id: format!("{}-{}", t.format("%H:%M:%S"), service),
            inject_time: t,
            pod: c.inject_pod,
            service,
            fault: c.inject_type,
        });
    }
    cases.sort_by_key(|c| c.inject_time);
    Ok(cases)
}

/// How a case is cut out of its day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NezhaWindow {
    /// Metrics are read from this long before the injection (their baseline).
    pub metric_lookback: Micros,
    /// Minute files read from the injection minute on.
    pub minutes: u32,
}

impl Default for NezhaWindow {
    fn default() -> Self {
        NezhaWindow {
            metric_lookback: 15 * 60 * 1_000_000,
            minutes: 3,
        }
    }
}

/// A case's observations and where its baseline ends.
pub struct NezhaInput {
    pub observations: Observations,
    /// The case's own data starts here; before it lie the metrics' history and
    /// the fault-free minute of traces and logs, moved to end here.
    pub baseline_end: Micros,
}

/// Reads everything one case needs.
pub fn load_nezha_case(
    root: &Path,
    day: &str,
    case: &NezhaCase,
    w: &NezhaWindow,
) -> Result<NezhaInput, IngestError> {
    let rca = day_dir(root, "rca_data", day);
    let construct = day_dir(root, "construct_data", day);
    let inject = case.inject_time.timestamp_micros();
    let mut obs = Observations::default();

    // The case's minute files.
    let minute0 = case.inject_time.with_second(0).unwrap_or(case.inject_time);
    let names: Vec<String> = (0..w.minutes)
        .map(|i| {
            (minute0 + chrono::Duration::minutes(i64::from(i)))
                .format("%H_%M")
                .to_string()
        })
        .collect();
    let mut trace_files = Vec::new();
    let mut log_files = Vec::new();
    let mut missing_traces = Vec::new();
    let mut missing_logs = Vec::new();
    for n in &names {
        let t = rca.join("trace").join(format!("{n}_trace.csv"));
        let l = rca.join("log").join(format!("{n}_log.csv"));
        if t.is_file() {
            trace_files.push(t)
        } else {
            missing_traces.push(t)
        }
        if l.is_file() {
            log_files.push(l)
        } else {
            missing_logs.push(l)
        }
    }
    let mut spans = Vec::new();
    for f in &trace_files {
        read_trace_csv(f, &mut obs, &mut spans)?;
    }
    let mut logs = Vec::new();
    for f in &log_files {
        read_log_csv(f, &mut obs, &mut logs)?;
    }
    // Where the case's own data begins: a low percentile of its times, not the
    // minimum, so one straggler span from long before does not move it.
    let mut times: Vec<Micros> = spans
        .iter()
        .map(|s: &Span| s.start)
        .chain(logs.iter().map(|l: &LogRecord| l.time))
        .collect();
    let case_start = if times.is_empty() {
        inject - 60_000_000
    } else {
        let k = times.len() / 200;
        *times.select_nth_unstable(k).1
    };
    // Round down to ten seconds so bucket edges fall on it.
    let baseline_end = case_start - case_start.rem_euclid(10_000_000);

    // The fault-free minute, moved to end where the case begins.
    let mut base_spans = Vec::new();
    let mut base_logs = Vec::new();
    for f in sorted_csvs(&construct.join("trace"))? {
        read_trace_csv(&f, &mut obs, &mut base_spans)?;
    }
    for f in sorted_csvs(&construct.join("log"))? {
        read_log_csv(&f, &mut obs, &mut base_logs)?;
    }
    let base_last = base_spans
        .iter()
        .map(|s| s.start)
        .chain(base_logs.iter().map(|l| l.time))
        .max();
    if let Some(last) = base_last {
        let shift = baseline_end - 1 - last;
        for s in &mut base_spans {
            s.start += shift;
        }
        for l in &mut base_logs {
            l.time += shift;
        }
    }
    let n_spans = (spans.len() + base_spans.len()) as u64;
    let n_logs = (logs.len() + base_logs.len()) as u64;
    obs.spans = base_spans;
    obs.spans.extend(spans);
    infer_kinds(&mut obs.spans);
    obs.logs = base_logs;
    obs.logs.extend(logs);

    // Metrics of every pod, from the lookback to the end of the case.
    let from = inject - w.metric_lookback;
    let to = minute0.timestamp_micros() + i64::from(w.minutes) * 60_000_000;
    let mut samples = 0u64;
    for f in sorted_csvs(&rca.join("metric"))? {
        if f.file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with("_metric.csv"))
        {
            samples += read_metric_csv(&f, &mut obs, from, to)?;
        }
    }

    let status = |modality, records, missing: &[PathBuf]| SourceStatus {
        modality,
        records,
        missing: (!missing.is_empty()).then(|| {
            let names: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
            format!("no such file: {}", names.join(", "))
        }),
    };
    obs.sources
        .push(status(Modality::Traces, n_spans, &missing_traces));
    obs.sources
        .push(status(Modality::Logs, n_logs, &missing_logs));
    obs.sources.push(SourceStatus {
        modality: Modality::Metrics,
        records: samples,
        missing: (samples == 0)
            .then(|| format!("no metric rows in {}", rca.join("metric").display())),
    });
    obs.sources.push(SourceStatus {
        modality: Modality::AccessLogs,
        records: 0,
        missing: Some("the dataset has no proxy access logs".into()),
    });
    Ok(NezhaInput {
        observations: obs,
        baseline_end,
    })
}

fn sorted_csvs(dir: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let rd = std::fs::read_dir(dir).map_err(|source| IngestError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    v.sort();
    Ok(v)
}

fn csv_reader(path: &Path) -> Result<csv::Reader<std::fs::File>, IngestError> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| csv_error(path, e))
}

fn csv_error(path: &Path, e: csv::Error) -> IngestError {
    match e.position() {
        Some(p) => IngestError::MalformedLine {
            path: path.to_path_buf(),
            line: p.line(),
            what: e.to_string(),
        },
        None => IngestError::malformed(path, e.to_string()),
    }
}

/// Column positions by header name; every one of `want` must be present.
fn columns<const N: usize>(
    path: &Path,
    headers: &csv::StringRecord,
    want: [&str; N],
) -> Result<[usize; N], IngestError> {
    let mut out = [0; N];
    for (i, name) in want.iter().enumerate() {
        out[i] = headers
            .iter()
            .position(|h| h.trim() == *name)
            .ok_or_else(|| {
                IngestError::malformed(path, format!("no column {name:?} in the header"))
            })?;
    }
    Ok(out)
}

fn bad_field(path: &Path, rec: &csv::StringRecord, what: String) -> IngestError {
    IngestError::MalformedLine {
        path: path.to_path_buf(),
        line: rec.position().map_or(0, |p| p.line()),
        what,
    }
}

fn parse_id<T>(
    path: &Path,
    rec: &csv::StringRecord,
    s: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, IngestError> {
    parse(s).ok_or_else(|| bad_field(path, rec, format!("bad id {s:?}")))
}

fn read_trace_csv(
    path: &Path,
    obs: &mut Observations,
    out: &mut Vec<Span>,
) -> Result<(), IngestError> {
    let mut rdr = csv_reader(path)?;
    let headers = rdr.headers().map_err(|e| csv_error(path, e))?.clone();
    let [tid, sid, pid, pod, op, start, dur] = columns(
        path,
        &headers,
        [
            "TraceID",
            "SpanID",
            "ParentID",
            "PodName",
            "OperationName",
            "StartTimeUnixNano",
            "Duration",
        ],
    )?;
    let mut rec = csv::StringRecord::new();
    let mut any = false;
    while rdr.read_record(&mut rec).map_err(|e| csv_error(path, e))? {
        any = true;
        if rec.len() < headers.len() {
            return Err(bad_field(
                path,
                &rec,
                format!("{} fields, expected {}", rec.len(), headers.len()),
            ));
        }
        let trace_id = parse_id(path, &rec, &rec[tid], |s| u128::from_str_radix(s, 16).ok())?;
        let span_id = parse_id(path, &rec, &rec[sid], |s| u64::from_str_radix(s, 16).ok())?;
        let parent_id = match &rec[pid] {
            "root" | "" => 0,
            s => parse_id(path, &rec, s, |s| u64::from_str_radix(s, 16).ok())?,
        };
        let start_ns: i128 = rec[start].parse().map_err(|_| {
            bad_field(
                path,
                &rec,
                format!("bad StartTimeUnixNano {:?}", &rec[start]),
            )
        })?;
        let duration: i64 = rec[dur]
            .parse()
            .map_err(|_| bad_field(path, &rec, format!("bad Duration {:?}", &rec[dur])))?;
        let operation = &rec[op];
        let kind = if operation.starts_with("HTTP ") {
            SpanKind::Client
        } else {
            SpanKind::Unspecified
        };
        out.push(Span {
            trace_id,
            span_id,
            parent_id,
            component: obs.names.intern(service_of(&rec[pod])),
            operation: obs.names.intern(operation),
            kind,
            start: (start_ns / 1000) as Micros,
            duration,
            error: false,
            http_status: 0,
            peer: None,
            exception: None,
            proxy: false,
        });
    }
    if !any {
        return Err(IngestError::malformed(path, "no spans (empty file)"));
    }
    Ok(())
}

/// A span whose parent belongs to another component serves a request: kind server.
fn infer_kinds(spans: &mut [Span]) {
    let comp: std::collections::HashMap<u64, crate::Sym> =
        spans.iter().map(|s| (s.span_id, s.component)).collect();
    for s in spans.iter_mut() {
        if s.kind == SpanKind::Unspecified && s.parent_id != 0 {
            if let Some(pc) = comp.get(&s.parent_id) {
                if *pc != s.component {
                    s.kind = SpanKind::Server;
                }
            }
        }
    }
}

fn read_log_csv(
    path: &Path,
    obs: &mut Observations,
    out: &mut Vec<LogRecord>,
) -> Result<(), IngestError> {
    #[derive(Deserialize)]
    struct Docker<'a> {
        #[serde(borrow)]
        log: std::borrow::Cow<'a, str>,
    }
    let mut rdr = csv_reader(path)?;
    let headers = rdr.headers().map_err(|e| csv_error(path, e))?.clone();
    let [time, pod, trace, span, log] = columns(
        path,
        &headers,
        ["TimeUnixNano", "PodName", "TraceID", "SpanID", "Log"],
    )?;
    let mut rec = csv::StringRecord::new();
    let mut any = false;
    while rdr.read_record(&mut rec).map_err(|e| csv_error(path, e))? {
        any = true;
        let t_ns: i128 = rec[time]
            .parse()
            .map_err(|_| bad_field(path, &rec, format!("bad TimeUnixNano {:?}", &rec[time])))?;
        // Some lines hold unquoted commas: the message is everything from the Log column on.
        let joined;
        let raw: &str = if rec.len() > headers.len() && log + 1 == headers.len() {
            joined = rec.iter().skip(log).collect::<Vec<_>>().join(",");
            &joined
        } else {
            match rec.get(log) {
                Some(r) => r,
                None => {
                    return Err(bad_field(
                        path,
                        &rec,
                        format!("{} fields, expected {}", rec.len(), headers.len()),
                    ))
                }
            }
        };
        // The column holds the container runtime's JSON line; fall back to the raw text.
        let line: std::borrow::Cow<str> = match serde_json::from_str::<Docker>(raw) {
            Ok(d) => d.log,
            Err(_) => raw.into(),
        };
        let (level, logger, message) = split_java_line(&line);
        let masked = obs.names.intern(&crate::template_of(message));
        let template = match logger {
            // A logger with a line number is a code location: the best template there is.
            Some(l) if l.contains('#') => obs.names.intern(l),
            _ => masked,
        };
        let exception = crate::exception_in(message).map(|e| obs.names.intern(e));
        out.push(LogRecord {
            time: (t_ns / 1000) as Micros,
            component: obs.names.intern(service_of(&rec[pod])),
            level,
            template,
            message: masked,
            logger: logger.map(|l| obs.names.intern(l)),
            trace_id: u128::from_str_radix(&rec[trace], 16).ok(),
            span_id: u64::from_str_radix(&rec[span], 16).ok(),
            exception,
        });
    }
    if !any {
        return Err(IngestError::malformed(path, "no log lines (empty file)"));
    }
    Ok(())
}

/// `16:42:22.382 INFO  t.s.TravelServiceImpl#532 TraceID: … message` →
/// (level, logger, message). Lines of another shape are info lines.
fn split_java_line(line: &str) -> (LogLevel, Option<&str>, &str) {
    let mut it = line.split_whitespace();
    let (Some(_time), Some(level), Some(logger)) = (it.next(), it.next(), it.next()) else {
        return (LogLevel::Info, None, line);
    };
    let level = match level {
        "TRACE" => LogLevel::Trace,
        "DEBUG" => LogLevel::Debug,
        "INFO" => LogLevel::Info,
        "WARN" | "WARNING" => LogLevel::Warn,
        "ERROR" => LogLevel::Error,
        "FATAL" => LogLevel::Fatal,
        _ => return (LogLevel::Info, None, line),
    };
    let rest = line.find(logger).map_or("", |i| &line[i + logger.len()..]);
    (level, Some(logger), rest.trim())
}

/// Metric columns read, the signal each becomes, and the factor to the
/// signal's unit (as the live collector's queries give it: CPU as a share of
/// the pod's limit, memory in bytes, latency in seconds).
const METRIC_COLUMNS: [(&str, &str, f64); 4] = [
    ("CpuUsageRate(%)", "cpu", 0.01),
    ("MemoryUsage(Mi)", "memory", 1024.0 * 1024.0),
    ("PodServerLatencyP99(s)", "latency_p99", 1.0),
    ("PodWorkload(Ops)", "request_rate", 1.0),
];

fn read_metric_csv(
    path: &Path,
    obs: &mut Observations,
    from: Micros,
    to: Micros,
) -> Result<u64, IngestError> {
    let mut rdr = csv_reader(path)?;
    let headers = rdr.headers().map_err(|e| csv_error(path, e))?.clone();
    let [ts, pod] = columns(path, &headers, ["TimeStamp", "PodName"])?;
    let cols: Vec<(usize, &str, f64)> = METRIC_COLUMNS
        .iter()
        .filter_map(|(h, s, k)| {
            headers
                .iter()
                .position(|x| x.trim() == *h)
                .map(|i| (i, *s, *k))
        })
        .collect();
    let mut series: BTreeMap<(String, &str), Vec<(Micros, f64)>> = BTreeMap::new();
    let mut rec = csv::StringRecord::new();
    let mut n = 0;
    while rdr.read_record(&mut rec).map_err(|e| csv_error(path, e))? {
        let secs: f64 = rec[ts]
            .parse()
            .map_err(|_| bad_field(path, &rec, format!("bad TimeStamp {:?}", &rec[ts])))?;
        let t = (secs * 1e6) as Micros;
        if t < from || t >= to {
            continue;
        }
        for &(i, signal, k) in &cols {
            if let Ok(v) = rec[i].parse::<f64>() {
                if v.is_finite() {
                    series
                        .entry((rec[pod].to_string(), signal))
                        .or_default()
                        .push((t, v * k));
                    n += 1;
                }
            }
        }
    }
    for ((pod, signal), samples) in series {
        let mut labels = BTreeMap::new();
        labels.insert("pod".to_string(), pod.clone());
        obs.series.push(Series {
            component: obs.names.intern(service_of(&pod)),
            signal: signal.parse().unwrap_or(Signal::Other(signal.to_string())),
            labels,
            samples,
        });
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_is_the_pod_without_its_two_last_parts() {
        assert_eq!(
            service_of("ts-order-service-5b67c48447-mv5hb"),
            "ts-order-service"
        );
        assert_eq!(service_of("redis"), "redis");
        assert_eq!(service_of("a-b"), "a-b");
    }

    #[test]
    fn java_lines_split_into_level_logger_message() {
        let (l, g, m) =
            split_java_line("16:42:22.382 ERROR t.s.TravelServiceImpl#532 TraceID: x boom");
        assert_eq!(l, LogLevel::Error);
        assert_eq!(g, Some("t.s.TravelServiceImpl#532"));
        assert_eq!(m, "TraceID: x boom");
        assert_eq!(
            split_java_line("\tat java.lang.Thread.run").0,
            LogLevel::Info
        );
    }
}
