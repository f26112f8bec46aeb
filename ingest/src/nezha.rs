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
//! without its last two dash-separated parts. `traceid/` is not read.
//!
//! Real telemetry has holes. Any minute file, any modality's directory, the
//! fault-free traces or logs, or all logs of a day may be absent: the case is
//! read from what is there and its `sources` say what was absent and what it
//! costs (a modality without fault-free data is judged against the earliest
//! part of the case's own window). A minute file without rows is only "no
//! records"; a present file that is broken is an error naming it and the
//! line. A row's time is checked against the row's other readings of it, and
//! a row with no plausible time is skipped and counted.

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
    /// The end of the traces' and logs' baseline. With the day's fault-free
    /// traces and logs it is where the case's own data begins, and the
    /// fault-free minute is moved to end there; without one of them it lies
    /// inside the case's window, whose earliest part is then the baseline.
    pub baseline_end: Micros,
}

/// Two readings of one time agree within this: the dataset's time columns of
/// a row differ by milliseconds when both are right, by centuries when one
/// overflowed.
const AGREE: Micros = 5_000_000;

/// A time farther than this from the case's injection is no time of the case
/// nor of its day's fault-free minute: a column that overflowed.
const SANE: Micros = 24 * 3600 * 1_000_000;

/// The times a row of a case (or of its day's fault-free data) may have.
#[derive(Clone, Copy, Debug)]
struct Sane {
    lo: Micros,
    hi: Micros,
}

impl Sane {
    fn around(t: Micros) -> Sane {
        Sane {
            lo: t - SANE,
            hi: t + SANE,
        }
    }

    fn holds(&self, t: Micros) -> bool {
        self.lo <= t && t <= self.hi
    }
}

/// A row's time from the readings it carries: `primary` when it is sane and
/// a witness agrees with it (or no witness can be read), else the first sane
/// witness; `None` when no reading is plausible.
fn pick_time(primary: Option<Micros>, witnesses: &[Option<Micros>], sane: Sane) -> Option<Micros> {
    let mut readable = witnesses
        .iter()
        .flatten()
        .copied()
        .filter(|t| sane.holds(*t));
    let first_witness = readable.clone().next();
    match primary.filter(|t| sane.holds(*t)) {
        Some(p) if first_witness.is_none() || readable.any(|w| (w - p).abs() <= AGREE) => Some(p),
        _ => first_witness,
    }
}

/// A wall-clock time as the log files write it: RFC 3339
/// (`2023-01-30T13:15:43.651197703Z`), or without a zone
/// (`2023-01-30T13:14:54.707`), which is UTC.
fn parse_wall(s: &str) -> Option<Micros> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()
        .map(|t| t.and_utc().timestamp_micros())
}

/// What one minute file gave.
#[derive(Clone, Copy, Debug, Default)]
struct FileRead {
    kept: u64,
    /// Rows with no plausible time.
    skipped: u64,
}

/// What became of one modality's minute files (a case's, or the fault-free ones).
#[derive(Debug, Default)]
struct Found {
    /// The directory itself is absent.
    dir_absent: bool,
    /// Files wanted (the case's minutes; for the fault-free data, those present).
    wanted: usize,
    absent: Vec<PathBuf>,
    /// Present but without a single row.
    empty: Vec<PathBuf>,
    /// Files with rows skipped for want of a plausible time, and how many.
    skipped: Vec<(PathBuf, u64)>,
    kept: u64,
}

type ReadFn<T> = fn(&Path, &mut Observations, &mut Vec<T>, Sane) -> Result<FileRead, IngestError>;

/// Reads those of `files` that exist into `out`; absent and empty ones are noted.
fn read_minutes<T>(
    files: &[PathBuf],
    obs: &mut Observations,
    out: &mut Vec<T>,
    sane: Sane,
    read: ReadFn<T>,
) -> Result<Found, IngestError> {
    let mut found = Found {
        wanted: files.len(),
        ..Found::default()
    };
    for f in files {
        if !f.is_file() {
            found.absent.push(f.clone());
            continue;
        }
        let r = read(f, obs, out, sane)?;
        if r.kept + r.skipped == 0 {
            found.empty.push(f.clone());
        }
        if r.skipped > 0 {
            found.skipped.push((f.clone(), r.skipped));
        }
        found.kept += r.kept;
    }
    Ok(found)
}

/// Reads every minute file of a fault-free directory.
fn read_reference<T>(
    dir: &Path,
    obs: &mut Observations,
    out: &mut Vec<T>,
    sane: Sane,
    read: ReadFn<T>,
) -> Result<Found, IngestError> {
    match csvs_in(dir)? {
        None => Ok(Found {
            dir_absent: true,
            ..Found::default()
        }),
        Some(files) => read_minutes(&files, obs, out, sane, read),
    }
}

/// `p` as the dataset's README names it: relative to its root.
fn shown(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// Files named for a reader: the first by its path, the rest of the same
/// directory by their names.
fn listed(root: &Path, files: &[PathBuf]) -> String {
    let mut out = String::new();
    for (i, f) in files.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let same_dir = i > 0 && f.parent() == files[0].parent();
        match f.file_name() {
            Some(n) if same_dir => out.push_str(&n.to_string_lossy()),
            _ => out.push_str(&shown(root, f)),
        }
    }
    out
}

fn rows(n: u64) -> &'static str {
    if n == 1 {
        "row"
    } else {
        "rows"
    }
}

fn skipped_list(root: &Path, skipped: &[(PathBuf, u64)]) -> String {
    skipped
        .iter()
        .map(|(f, n)| format!("{}: {n}", shown(root, f)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a modality lacks in a case's own minute files, and what that costs.
/// `kind` is `trace` or `log`; `kept` counts the case's records left.
fn case_notes(root: &Path, kind: &str, dir: &Path, f: &Found, kept: u64) -> Vec<String> {
    let cost = if kept == 0 {
        format!("{kind} signals not judged")
    } else {
        "the window has a gap".to_string()
    };
    let mut notes = Vec::new();
    if f.dir_absent {
        notes.push(format!(
            "no {kind} files for this case ({} absent): {cost}",
            shown(root, dir)
        ));
    } else if !f.absent.is_empty() && f.absent.len() == f.wanted {
        notes.push(format!(
            "no {kind} files for this case ({}): {cost}",
            listed(root, &f.absent)
        ));
    } else if !f.absent.is_empty() {
        notes.push(format!(
            "{} of {} minute files absent ({}): {cost}",
            f.absent.len(),
            f.wanted,
            listed(root, &f.absent)
        ));
    }
    if !f.empty.is_empty() {
        notes.push(format!(
            "{} of {} minute files hold no records ({}): {cost}",
            f.empty.len(),
            f.wanted,
            listed(root, &f.empty)
        ));
    }
    if !f.skipped.is_empty() {
        let n: u64 = f.skipped.iter().map(|(_, n)| n).sum();
        let what = if kept == 0 {
            cost.clone()
        } else {
            format!("those {kind} rows left out")
        };
        notes.push(format!(
            "{n} {kind} {} without a plausible time skipped ({}): {what}",
            rows(n),
            skipped_list(root, &f.skipped)
        ));
    }
    notes
}

/// What a modality lacks in the day's fault-free data, and what that costs.
/// `case_kept` counts the case's own records of it; `until` is where the
/// baseline ends, `HH:MM:SS`.
fn reference_notes(
    root: &Path,
    kind: &str,
    plural: &str,
    dir: &Path,
    f: &Found,
    case_kept: u64,
    until: &str,
) -> Vec<String> {
    let cost = if case_kept == 0 {
        // The case has none of its own either: its notes said what that costs.
        String::new()
    } else {
        format!(
            ": {kind} signals judged against the earlier part of the case's window (until {until})"
        )
    };
    let mut notes = Vec::new();
    if f.dir_absent {
        notes.push(format!(
            "fault-free {plural} absent ({}){cost}",
            shown(root, dir)
        ));
    } else if f.wanted == 0 {
        notes.push(format!(
            "fault-free {plural} absent (no .csv files in {}){cost}",
            shown(root, dir)
        ));
    } else if f.kept == 0 && f.skipped.is_empty() {
        notes.push(format!(
            "fault-free {plural} hold no records ({}){cost}",
            listed(root, &f.empty)
        ));
    } else if f.kept == 0 {
        notes.push(format!(
            "fault-free {plural} have no row with a plausible time ({}){cost}",
            skipped_list(root, &f.skipped)
        ));
    } else if !f.skipped.is_empty() {
        let n: u64 = f.skipped.iter().map(|(_, n)| n).sum();
        notes.push(format!(
            "{n} fault-free {kind} {} without a plausible time skipped ({}): the baseline has fewer of them",
            rows(n),
            skipped_list(root, &f.skipped)
        ));
    }
    notes
}

/// Ten seconds: the buckets' width, so the baseline's end falls on a bucket edge.
const TEN_S: Micros = 10_000_000;

fn floor_10s(t: Micros) -> Micros {
    t - t.rem_euclid(TEN_S)
}

fn ceil_10s(t: Micros) -> Micros {
    floor_10s(t + TEN_S - 1)
}

fn hhmmss(t: Micros) -> String {
    DateTime::<Utc>::from_timestamp_micros(t)
        .map(|d| d.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Reads everything one case needs. Absent files and directories (a minute,
/// a modality, the fault-free data, all of a day's logs) are not errors: the
/// case is read from what is there, and its `sources` say what was absent and
/// what that costs. A present file that is broken is an error naming it and
/// the line; one without a single row is only "no records".
pub fn load_nezha_case(
    root: &Path,
    day: &str,
    case: &NezhaCase,
    w: &NezhaWindow,
) -> Result<NezhaInput, IngestError> {
    let rca = day_dir(root, "rca_data", day);
    let construct = day_dir(root, "construct_data", day);
    let inject = case.inject_time.timestamp_micros();
    let sane = Sane::around(inject);
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
    let trace_dir = rca.join("trace");
    let log_dir = rca.join("log");
    let trace_files: Vec<PathBuf> = names
        .iter()
        .map(|n| trace_dir.join(format!("{n}_trace.csv")))
        .collect();
    let log_files: Vec<PathBuf> = names
        .iter()
        .map(|n| log_dir.join(format!("{n}_log.csv")))
        .collect();
    let mut spans = Vec::new();
    let mut case_traces = read_minutes(&trace_files, &mut obs, &mut spans, sane, read_trace_csv)?;
    case_traces.dir_absent = !trace_dir.is_dir();
    let mut logs = Vec::new();
    let mut case_logs = read_minutes(&log_files, &mut obs, &mut logs, sane, read_log_csv)?;
    case_logs.dir_absent = !log_dir.is_dir();

    // Where the case's own data begins: a low percentile of its times, not the
    // minimum, so a few straggler rows from before do not move it; and only
    // of times near the case's minute files, so that no number of rows with a
    // wrong time (one left plausible by the checks above, a file of another
    // hour) can move it either.
    let near = (
        minute0.timestamp_micros() - 3 * 60_000_000,
        minute0.timestamp_micros() + (i64::from(w.minutes) + 1) * 60_000_000,
    );
    let mut times: Vec<Micros> = spans
        .iter()
        .map(|s: &Span| s.start)
        .chain(logs.iter().map(|l: &LogRecord| l.time))
        .filter(|t| near.0 <= *t && *t < near.1)
        .collect();
    let case_start = if times.is_empty() {
        inject - 60_000_000
    } else {
        let k = times.len() / 200;
        *times.select_nth_unstable(k).1
    };
    // Rounded down to ten seconds so bucket edges fall on it.
    let case_floor = floor_10s(case_start);
    // The few case records from before it are stragglers: left where they
    // are they would sit among the fault-free minute and pass for normal
    // (the first errors of a fault, written seconds before its labelled
    // time, among them).
    spans.retain(|s| s.start >= case_floor);
    logs.retain(|l| l.time >= case_floor);

    // The fault-free minute, moved to end where the case begins.
    let mut base_spans = Vec::new();
    let mut base_logs = Vec::new();
    let ref_traces = read_reference(
        &construct.join("trace"),
        &mut obs,
        &mut base_spans,
        sane,
        read_trace_csv,
    )?;
    let ref_logs = read_reference(
        &construct.join("log"),
        &mut obs,
        &mut base_logs,
        sane,
        read_log_csv,
    )?;
    let base_last = base_spans
        .iter()
        .map(|s| s.start)
        .chain(base_logs.iter().map(|l| l.time))
        .max();
    if let Some(last) = base_last {
        let shift = case_floor - 1 - last;
        for s in &mut base_spans {
            s.start += shift;
        }
        for l in &mut base_logs {
            l.time += shift;
        }
    }
    // A modality the case has but the fault-free data lacks is judged
    // against the case's own earliest records. Effects can show up to a
    // minute before the labelled time and the first minute file starts 50 to
    // 70 s before it, so the baseline ends 30 s before the injection (on a
    // bucket edge): most of the fault lies after it; but no earlier than 20 s
    // into the case's data, so some baseline is left when the case's files
    // start late.
    let own_baseline =
        (!spans.is_empty() && base_spans.is_empty()) || (!logs.is_empty() && base_logs.is_empty());
    let baseline_end = if own_baseline {
        floor_10s(inject - 30_000_000).max(ceil_10s(case_start + 20_000_000))
    } else {
        case_floor
    };
    let until = hhmmss(baseline_end);

    let mut trace_notes = case_notes(root, "trace", &trace_dir, &case_traces, spans.len() as u64);
    trace_notes.extend(reference_notes(
        root,
        "trace",
        "traces",
        &construct.join("trace"),
        &ref_traces,
        spans.len() as u64,
        &until,
    ));
    let mut log_notes = case_notes(root, "log", &log_dir, &case_logs, logs.len() as u64);
    log_notes.extend(reference_notes(
        root,
        "log",
        "logs",
        &construct.join("log"),
        &ref_logs,
        logs.len() as u64,
        &until,
    ));

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
    let metric_dir = rca.join("metric");
    let mut samples = 0u64;
    let metric_note = match csvs_in(&metric_dir)? {
        None => Some(format!(
            "no metric files ({} absent): metric signals not judged",
            shown(root, &metric_dir)
        )),
        Some(files) => {
            let mut pods = 0;
            for f in files.iter().filter(|f| {
                f.file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with("_metric.csv"))
            }) {
                pods += 1;
                samples += read_metric_csv(f, &mut obs, from, to)?;
            }
            if pods == 0 {
                Some(format!(
                    "no <pod>_metric.csv files in {}: metric signals not judged",
                    shown(root, &metric_dir)
                ))
            } else if samples == 0 {
                Some(format!(
                    "no metric rows between {} and {} in {}: metric signals not judged",
                    hhmmss(from),
                    hhmmss(to),
                    shown(root, &metric_dir)
                ))
            } else {
                None
            }
        }
    };

    let joined = |notes: Vec<String>| (!notes.is_empty()).then(|| notes.join("; "));
    obs.sources.push(SourceStatus {
        modality: Modality::Traces,
        records: n_spans,
        missing: joined(trace_notes),
        note: None,
    });
    obs.sources.push(SourceStatus {
        modality: Modality::Logs,
        records: n_logs,
        missing: joined(log_notes),
        note: None,
    });
    obs.sources.push(SourceStatus {
        modality: Modality::Metrics,
        records: samples,
        missing: metric_note,
        note: None,
    });
    obs.sources.push(SourceStatus {
        modality: Modality::AccessLogs,
        records: 0,
        missing: Some("the dataset has no proxy access logs".into()),
        note: None,
    });
    Ok(NezhaInput {
        observations: obs,
        baseline_end,
    })
}

/// The `.csv` files of `dir`, sorted; `None` when `dir` is absent.
fn csvs_in(dir: &Path) -> Result<Option<Vec<PathBuf>>, IngestError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(IngestError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    v.sort();
    Ok(Some(v))
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

/// Reads one trace CSV. A file without a single row is no records; a field
/// that is not a number where one belongs is a broken file; a start that is
/// no plausible time (overflowed) is replaced by `EndTimeUnixNano − Duration`
/// when that is one, and the row is skipped when neither is.
fn read_trace_csv(
    path: &Path,
    obs: &mut Observations,
    out: &mut Vec<Span>,
    sane: Sane,
) -> Result<FileRead, IngestError> {
    let mut rdr = csv_reader(path)?;
    let headers = rdr.headers().map_err(|e| csv_error(path, e))?.clone();
    let mut read = FileRead::default();
    if headers.is_empty() {
        return Ok(read);
    }
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
    let end = headers.iter().position(|h| h.trim() == "EndTimeUnixNano");
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(|e| csv_error(path, e))? {
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
        let end_start = end
            .and_then(|i| rec[i].parse::<i128>().ok())
            .map(|end_ns| nanos_to_micros(end_ns).saturating_sub(duration));
        let Some(start_us) = pick_time(Some(nanos_to_micros(start_ns)), &[end_start], sane) else {
            read.skipped += 1;
            continue;
        };
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
            start: start_us,
            duration,
            error: false,
            http_status: 0,
            peer: None,
            exception: None,
            event: None,
            proxy: false,
        });
        read.kept += 1;
    }
    Ok(read)
}

/// Nanoseconds to microseconds, saturating: an overflowed column is no time
/// anyway, and must not wrap into one.
fn nanos_to_micros(ns: i128) -> Micros {
    (ns / 1000).clamp(i128::from(Micros::MIN), i128::from(Micros::MAX)) as Micros
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

/// Reads one log CSV. A file without a single row is no records. A row's
/// time is its `TimeUnixNano` when that agrees with its `Timestamp` (some
/// rows carry an overflowed one, in the year 1754), else the docker JSON
/// line's `time`, else `Timestamp` (UTC); a row with no plausible time is
/// skipped and counted.
fn read_log_csv(
    path: &Path,
    obs: &mut Observations,
    out: &mut Vec<LogRecord>,
    sane: Sane,
) -> Result<FileRead, IngestError> {
    #[derive(Deserialize)]
    struct Docker<'a> {
        #[serde(borrow)]
        log: std::borrow::Cow<'a, str>,
        #[serde(borrow, default)]
        time: Option<std::borrow::Cow<'a, str>>,
    }
    let mut rdr = csv_reader(path)?;
    let headers = rdr.headers().map_err(|e| csv_error(path, e))?.clone();
    let mut read = FileRead::default();
    if headers.is_empty() {
        return Ok(read);
    }
    let [time, pod, trace, span, log] = columns(
        path,
        &headers,
        ["TimeUnixNano", "PodName", "TraceID", "SpanID", "Log"],
    )?;
    let stamp = headers.iter().position(|h| h.trim() == "Timestamp");
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(|e| csv_error(path, e))? {
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
        let docker = serde_json::from_str::<Docker>(raw).ok();
        let docker_time = docker
            .as_ref()
            .and_then(|d| d.time.as_deref())
            .and_then(parse_wall);
        let stamp_time = stamp.and_then(|i| rec.get(i)).and_then(parse_wall);
        let Some(at) = pick_time(
            Some(nanos_to_micros(t_ns)),
            &[docker_time, stamp_time],
            sane,
        ) else {
            read.skipped += 1;
            continue;
        };
        let line: std::borrow::Cow<str> = match docker {
            Some(d) => d.log,
            None => raw.into(),
        };
        let (level, logger, message) = split_java_line(&line);
        let masked = obs.names.intern(&crate::template_of(message));
        let template = match logger {
            // A logger with a line number is a code location: the best template there is.
            Some(l) if crate::logs::is_code_location(l) => obs.names.intern(l),
            _ => masked,
        };
        let exception = crate::exception_in(message).map(|e| obs.names.intern(e));
        out.push(LogRecord {
            time: at,
            component: obs.names.intern(service_of(&rec[pod])),
            level,
            template,
            message: masked,
            logger: logger.map(|l| obs.names.intern(l)),
            trace_id: u128::from_str_radix(&rec[trace], 16).ok(),
            span_id: u64::from_str_radix(&rec[span], 16).ok(),
            exception,
        });
        read.kept += 1;
    }
    Ok(read)
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
    fn a_time_is_taken_where_the_readings_agree() {
        let sane = Sane::around(1_675_084_494_000_000);
        let t = 1_675_084_494_258_000;
        let overflowed = Some(-6_795_364_578_871_345);
        // Agreeing with a witness, or with none to ask: the primary reading.
        assert_eq!(pick_time(Some(t), &[Some(t + 4_000), None], sane), Some(t));
        assert_eq!(pick_time(Some(t), &[None, overflowed], sane), Some(t));
        // Overflowed, or disagreeing with every witness: the first sane witness.
        assert_eq!(pick_time(overflowed, &[None, Some(t)], sane), Some(t));
        assert_eq!(
            pick_time(Some(t), &[Some(t + 60_000_000), Some(t + 61_000_000)], sane),
            Some(t + 60_000_000)
        );
        assert_eq!(pick_time(overflowed, &[overflowed, None], sane), None);
    }

    #[test]
    fn wall_times_in_both_shapes_the_files_write() {
        assert_eq!(
            parse_wall("2023-01-30T13:15:43.651197703Z"),
            Some(1_675_084_543_651_197)
        );
        assert_eq!(
            parse_wall("2023-01-30T13:14:54.707"),
            Some(1_675_084_494_707_000),
            "no zone: UTC"
        );
        assert_eq!(
            parse_wall("2023-01-30 13:14:54"),
            Some(1_675_084_494_000_000)
        );
        assert_eq!(parse_wall("yesterday"), None);
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
