//! Deterministic incident simulator: writes a fixture directory (traces, metrics, logs,
//! proxy access log, the alert and the answer) for one injected fault.
//!
//! A seed picks a system (12-20 components: an Envoy ingress, a frontend, 7-15 services
//! in a call DAG, a PostgreSQL database, a Redis cache, a batch job), a 30-minute window,
//! load drift, background errors and a red herring. The fault starts at about 60% of the
//! window; the alert fires one to three minutes later and names a symptom (the frontend
//! or the ingress), not the culprit. Same seed and options give byte-identical files.
//!
//! # Layout
//! - `topology`: components, call graph, routes.
//! - `model`: the incident plan and the effect of the fault on each component over time.
//! - `sim`: request-by-request simulation (spans, access records, log lines).
//! - `metrics`: metric series from the plan, through the call graph; call rates per
//!   caller→callee edge from the simulated requests, and (with the `servicegraph`
//!   modality) the mean call durations per edge from the traced ones.
//! - `write`: wire formats.
//! - `util`: random draws, JSON and time formatting.

mod metrics;
mod model;
mod sim;
mod topology;
mod util;
mod write;

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use self::model::Plan;
use self::sim::Sim;
use self::topology::{Role, Topology};
use self::util::{chance, rfc3339_millis, rfc3339_secs, Counting, SimRng};

/// The fault kinds the simulator can inject, by their wire names.
pub const FAULT_KINDS: [&str; 10] = [
    "cpu_saturation",
    "memory_leak",
    "network_delay",
    "error_return",
    "exception",
    "goroutine_leak",
    "connection_pool_exhaustion",
    "ingress_abuse",
    "service_down",
    "lock_contention",
];

/// Approximate total spans of a fixture when not told otherwise.
pub const DEFAULT_SPANS: usize = 3000;
/// Smallest `spans` accepted.
pub const MIN_SPANS: usize = 100;
/// Fixtures of up to this many spans are kept under [`SIZE_CAP_BYTES`] in total; the
/// access log is sampled (keeping proportions) to fit, but never below a tenth of its
/// lines.
pub const CAPPED_SPANS: usize = DEFAULT_SPANS;
pub const SIZE_CAP_BYTES: u64 = 2_000_000;

/// File names inside a fixture directory.
pub const FILES: [&str; 6] = [
    "traces.json",
    "metrics.json",
    "logs.json",
    "access.log",
    "alert.json",
    "truth.json",
];

/// A fault kind. Mirrors `graph::FaultKind` by name (without `unknown`), so the
/// generator does not depend on the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKindName {
    CpuSaturation,
    MemoryLeak,
    /// Time added on the wire of every call into the target.
    #[serde(alias = "latency")]
    NetworkDelay,
    ErrorReturn,
    Exception,
    GoroutineLeak,
    ConnectionPoolExhaustion,
    IngressAbuse,
    /// The target's process is gone from onset on: it writes nothing, and its callers'
    /// connections into it are refused.
    ServiceDown,
    /// The target's requests wait for a lock inside their own spans, and say so in
    /// their log lines.
    LockContention,
}

impl FaultKindName {
    pub const ALL: [FaultKindName; 10] = [
        FaultKindName::CpuSaturation,
        FaultKindName::MemoryLeak,
        FaultKindName::NetworkDelay,
        FaultKindName::ErrorReturn,
        FaultKindName::Exception,
        FaultKindName::GoroutineLeak,
        FaultKindName::ConnectionPoolExhaustion,
        FaultKindName::IngressAbuse,
        FaultKindName::ServiceDown,
        FaultKindName::LockContention,
    ];

    pub fn as_str(self) -> &'static str {
        FAULT_KINDS[self as usize]
    }

    /// By wire name; `latency`, its name before rca told a slow network from
    /// slow processing, still means `network_delay`.
    pub fn parse(s: &str) -> Option<FaultKindName> {
        if s == "latency" {
            return Some(FaultKindName::NetworkDelay);
        }
        FaultKindName::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for FaultKindName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FaultKindName {
    type Err = GenerateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKindName::parse(s).ok_or_else(|| GenerateError::UnknownFault(s.to_string()))
    }
}

/// Format of the ingress access log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccessFormat {
    /// Envoy `json_format` lines, with `downstream_tls_version`.
    EnvoyJson,
    /// Envoy's default text format.
    EnvoyText,
    /// ingress-nginx `upstreaminfo`.
    #[serde(rename = "nginx")]
    NginxUpstream,
}

impl AccessFormat {
    pub const ALL: [AccessFormat; 3] = [
        AccessFormat::EnvoyJson,
        AccessFormat::EnvoyText,
        AccessFormat::NginxUpstream,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccessFormat::EnvoyJson => "envoy-json",
            AccessFormat::EnvoyText => "envoy-text",
            AccessFormat::NginxUpstream => "nginx",
        }
    }
}

impl fmt::Display for AccessFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccessFormat {
    type Err = GenerateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "envoy-json" | "json" => Ok(AccessFormat::EnvoyJson),
            "envoy-text" | "envoy" | "text" => Ok(AccessFormat::EnvoyText),
            "nginx" | "nginx-upstreaminfo" | "upstreaminfo" => Ok(AccessFormat::NginxUpstream),
            _ => Err(GenerateError::UnknownAccessFormat(s.to_string())),
        }
    }
}

/// What to simulate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateOptions {
    pub seed: u64,
    pub fault: FaultKindName,
    /// The culprit; chosen to suit the fault when `None`.
    pub target: Option<String>,
    /// Approximate total spans (also about the number of access-log lines, before the
    /// size cap of small fixtures).
    pub spans: usize,
    /// Chosen by seed when `None` (Envoy JSON always for `ingress_abuse`).
    pub access_format: Option<AccessFormat>,
    /// What the fixture carries.
    pub modalities: Modalities,
}

impl GenerateOptions {
    pub fn new(seed: u64, fault: FaultKindName) -> Self {
        GenerateOptions {
            seed,
            fault,
            target: None,
            spans: DEFAULT_SPANS,
            access_format: None,
            modalities: Modalities::default(),
        }
    }
}

/// The modalities a fixture carries; `alert.json` and `truth.json` always. The same
/// incident is simulated whatever they are: they only choose what is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Modalities {
    /// `traces.json`.
    pub traces: bool,
    /// `metrics.json`'s component series, and the `calls` and `calls_failed` series.
    pub metrics: bool,
    /// `metrics.json`'s service-graph series, as the OpenTelemetry Collector's
    /// servicegraph connector writes them: `calls` and `calls_failed` (of every
    /// request), `latency_server` and `latency_client` (from the traced ones).
    pub servicegraph: bool,
    /// `access.log`.
    pub access_logs: bool,
    /// `logs.json`.
    pub logs: bool,
    /// Accepted with the others; the simulator writes no goroutine dumps (its
    /// goroutine counts are metric series).
    pub goroutines: bool,
}

impl Default for Modalities {
    /// Everything but `servicegraph`: the fixtures as they have always been.
    fn default() -> Self {
        Modalities {
            traces: true,
            metrics: true,
            servicegraph: false,
            access_logs: true,
            logs: true,
            goroutines: true,
        }
    }
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions::new(1, FaultKindName::CpuSaturation)
    }
}

/// Size of one written file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileSize {
    pub name: String,
    pub bytes: u64,
}

/// What was generated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GeneratedSummary {
    pub seed: u64,
    pub fault: FaultKindName,
    /// All components, proxy first.
    pub components: Vec<String>,
    /// The culprit.
    pub target: String,
    /// The component the alert names.
    pub alert_component: String,
    pub alert_name: String,
    /// RFC 3339.
    pub window_start: String,
    pub window_end: String,
    pub onset: String,
    pub alert_starts_at: String,
    /// Unix seconds (fractional) of the fault's onset.
    pub onset_unix: f64,
    pub access_format: AccessFormat,
    pub spans: usize,
    /// Traced requests (traces in traces.json).
    pub traces: usize,
    /// Requests simulated (the proxy saw all of them).
    pub requests: usize,
    pub access_lines: usize,
    pub log_records: usize,
    pub metric_series: usize,
    pub files: Vec<FileSize>,
    /// Total bytes written.
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("unknown fault kind `{0}` (expected one of: {kinds})", kinds = FAULT_KINDS.join(", "))]
    UnknownFault(String),
    #[error("unknown access-log format `{0}` (expected envoy-json, envoy-text or nginx)")]
    UnknownAccessFormat(String),
    #[error("target `{target}` is not a component of this system (components: {components})")]
    UnknownTarget { target: String, components: String },
    #[error("target `{target}` does not suit fault {fault}: {reason} (suitable: {suitable})")]
    UnsuitedTarget {
        target: String,
        fault: &'static str,
        reason: &'static str,
        suitable: String,
    },
    #[error("spans must be at least {min}, got {got}")]
    TooFewSpans { min: usize, got: usize },
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

// Random streams: each concern draws from its own, so that (for instance) the number of
// spans does not change the topology or the plan.
const STREAM_TOPOLOGY: u64 = 0;
const STREAM_PLAN: u64 = 1;
const STREAM_FORMAT: u64 = 2;
const STREAM_SIM: u64 = 3;
const STREAM_METRICS: u64 = 4;
const STREAM_SAMPLING: u64 = 5;
const STREAM_PILOT: u64 = 6;
const STREAM_LOG_SAMPLING: u64 = 7;

/// What request-driven log lines may take of a capped fixture.
const LOG_BUDGET: u64 = 200_000;

/// The smallest share of access-log lines a capped fixture keeps.
const MIN_KEEP: f64 = 0.1;

/// Requests simulated to measure spans per request before the real run.
const PILOT_REQUESTS: usize = 4000;

fn rng(seed: u64, stream: u64) -> SimRng {
    let mut r = SimRng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// The component names of the system a seed describes, proxy first.
pub fn components(seed: u64) -> Vec<String> {
    let topo = Topology::generate(&mut rng(seed, STREAM_TOPOLOGY));
    topo.comps.iter().map(|c| c.name.clone()).collect()
}

/// Components of the seed's system that may carry `fault` (valid `target`s).
pub fn suitable_targets(seed: u64, fault: FaultKindName) -> Vec<String> {
    let topo = Topology::generate(&mut rng(seed, STREAM_TOPOLOGY));
    model::suitable(&topo, fault)
        .0
        .into_iter()
        .map(|c| topo.name(c).to_string())
        .collect()
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> GenerateError + '_ {
    move |source| GenerateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_file<F>(dir: &Path, name: &str, body: F) -> Result<u64, GenerateError>
where
    F: FnOnce(&mut Counting<BufWriter<File>>) -> io::Result<()>,
{
    let path = dir.join(name);
    let file = File::create(&path).map_err(io_err(&path))?;
    let mut w = Counting {
        inner: BufWriter::with_capacity(1 << 20, file),
        bytes: 0,
    };
    body(&mut w).map_err(io_err(&path))?;
    w.flush().map_err(io_err(&path))?;
    Ok(w.bytes)
}

/// Keeps a capped fixture's logs within [`LOG_BUDGET`]: background lines and lines of
/// traced requests stay; the lines of untraced requests are sampled, all alike, so their
/// proportions hold.
fn thin_logs(logs: Vec<sim::LogRec>, plan: &Plan, seed: u64) -> Vec<sim::LogRec> {
    let mut buf = Vec::with_capacity(1024);
    let mut fixed = 0u64;
    let mut optional = 0u64;
    for l in &logs {
        buf.clear();
        write::log_record(&mut buf, plan, l).expect("writing to memory");
        if l.keep {
            fixed += buf.len() as u64;
        } else {
            optional += buf.len() as u64;
        }
    }
    if fixed + optional <= LOG_BUDGET {
        return logs;
    }
    let q = (LOG_BUDGET.saturating_sub(fixed) as f64 / optional as f64).clamp(MIN_KEEP, 1.0);
    let mut r = rng(seed, STREAM_LOG_SAMPLING);
    logs.into_iter()
        .filter(|l| l.keep || chance(&mut r, q))
        .collect()
}

/// Simulates the incident `opts` describes and writes its fixture into `out` (created
/// if missing; the six fixture files are overwritten).
pub fn generate(opts: &GenerateOptions, out: &Path) -> Result<GeneratedSummary, GenerateError> {
    if opts.spans < MIN_SPANS {
        return Err(GenerateError::TooFewSpans {
            min: MIN_SPANS,
            got: opts.spans,
        });
    }
    let topo = Topology::generate(&mut rng(opts.seed, STREAM_TOPOLOGY));
    let plan = Plan::build(
        &topo,
        opts.fault,
        opts.target.as_deref(),
        opts.seed,
        &mut rng(opts.seed, STREAM_PLAN),
    )?;
    let format = opts.access_format.unwrap_or_else(|| {
        let mut r = rng(opts.seed, STREAM_FORMAT);
        if opts.fault == FaultKindName::IngressAbuse {
            AccessFormat::EnvoyJson
        } else {
            AccessFormat::ALL[rand::Rng::gen_range(&mut r, 0..3)]
        }
    });

    // Requests: about one access-log line per span; traces sample them so that the
    // spans come to about `opts.spans`.
    let mut sim_rng = rng(opts.seed, STREAM_SIM);
    let arrivals = sim::arrivals(&plan, &mut sim_rng, opts.spans);
    let abusive = arrivals.iter().filter(|a| a.1).count();
    let normal = arrivals.len() - abusive;
    // A pilot run over a spread sample of the arrivals measures spans per request with
    // the fault in place (failures prune call trees, abuse adds one-span traces).
    let step = (arrivals.len() / PILOT_REQUESTS).max(1);
    let sample: Vec<(i64, bool)> = arrivals.iter().step_by(step).copied().collect();
    let mut pilot = Sim::new(&topo, &plan, rng(opts.seed, STREAM_PILOT), sample.len());
    pilot.run(&sample, 1.0);
    let per_request = (pilot.spans.len() as f64 / sample.len() as f64).max(1.0);
    drop(pilot);
    let p_trace = (opts.spans as f64 / (per_request * arrivals.len() as f64)).min(1.0);
    let mut sim = Sim::new(&topo, &plan, sim_rng, arrivals.len());
    sim.run(&arrivals, p_trace);
    sim.background_logs();

    let want = opts.modalities;
    let base_rps = normal as f64 / model::WINDOW_SECS as f64;
    let mut metrics = metrics::compute(&topo, &plan, &mut rng(opts.seed, STREAM_METRICS), base_rps);
    metrics.edges = metrics::edges(&sim.calls);
    if want.servicegraph {
        // The connector's latency series, by its rules, from the traces as a reader
        // gets them from traces.json.
        let mut json = Vec::new();
        write::traces(&mut json, &topo, &plan, &sim).expect("writing to memory");
        let mut traces = ingest::Observations::default();
        ingest::read_traces(Path::new("traces.json"), &json, &mut traces)
            .expect("the simulator's traces read back");
        drop(json);
        let latency = metrics::latency_edges(&topo, &metrics.times, &traces);
        metrics.edges.extend(latency);
    }
    if !want.metrics {
        metrics.queries.clear();
        if !want.servicegraph {
            metrics.edges.clear();
        }
    }

    fs::create_dir_all(out).map_err(io_err(out))?;
    // A modality left out leaves no file of its own behind from an earlier run.
    for (name, kept) in [
        ("traces.json", want.traces),
        ("metrics.json", want.metrics || want.servicegraph),
        ("logs.json", want.logs),
        ("access.log", want.access_logs),
    ] {
        let path = out.join(name);
        if !kept && path.exists() {
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    let mut files = Vec::new();
    if want.traces {
        let traces_bytes =
            write_file(out, "traces.json", |w| write::traces(w, &topo, &plan, &sim))?;
        files.push(("traces.json", traces_bytes));
    }
    let mut series = 0;
    if want.metrics || want.servicegraph {
        let metrics_bytes = write_file(out, "metrics.json", |w| {
            series = write::metrics(w, &topo, &metrics)?;
            Ok(())
        })?;
        files.push(("metrics.json", metrics_bytes));
    }
    let capped = opts.spans <= CAPPED_SPANS;
    let mut log_records = 0;
    if want.logs {
        let mut logs = std::mem::take(&mut sim.logs);
        logs.sort_by_key(|l| (l.comp, l.time));
        if capped {
            logs = thin_logs(logs, &plan, opts.seed);
        }
        log_records = logs.len();
        let logs_bytes = write_file(out, "logs.json", |w| write::logs(w, &topo, &plan, &logs))?;
        files.push(("logs.json", logs_bytes));
    }
    let alert = serde_json::to_vec(&write::alert(&topo, &plan)).expect("alert serialises");
    files.push((
        "alert.json",
        write_file(out, "alert.json", |w| w.write_all(&alert))?,
    ));
    let truth = serde_json::to_vec(&write::truth(&topo, &plan)).expect("truth serialises");
    files.push((
        "truth.json",
        write_file(out, "truth.json", |w| w.write_all(&truth))?,
    ));

    let written: u64 = files.iter().map(|f| f.1).sum();
    let mut access_lines = 0;
    if want.access_logs {
        let access_bytes = {
            let mut aw = write::AccessWriter::new(&topo, &plan, &sim, format);
            if capped {
                // Small fixtures ship in the repository: sample the log to fit the cap.
                // Keep a margin below the cap for directory entries and file-system rounding.
                let budget = SIZE_CAP_BYTES.saturating_sub(written + 40_000);
                let mut lines: Vec<Vec<u8>> = Vec::with_capacity(sim.access.len());
                for r in &sim.access {
                    let mut buf = Vec::with_capacity(512);
                    aw.line(&mut buf, r).expect("writing to memory");
                    lines.push(buf);
                }
                let total: u64 = lines.iter().map(|l| l.len() as u64).sum();
                let mut keep_p = if total > budget {
                    budget as f64 / total as f64
                } else {
                    1.0
                };
                let keep = loop {
                    let mut r = rng(opts.seed, STREAM_SAMPLING);
                    let keep: Vec<bool> = lines
                        .iter()
                        .map(|_| keep_p >= 1.0 || chance(&mut r, keep_p))
                        .collect();
                    let size: u64 = lines
                        .iter()
                        .zip(&keep)
                        .filter(|(_, k)| **k)
                        .map(|(l, _)| l.len() as u64)
                        .sum();
                    if size <= budget || keep_p < MIN_KEEP {
                        break keep;
                    }
                    keep_p *= 0.97;
                };
                write_file(out, "access.log", |w| {
                    for (line, k) in lines.iter().zip(&keep) {
                        if *k {
                            access_lines += 1;
                            w.write_all(line)?;
                        }
                    }
                    Ok(())
                })?
            } else {
                write_file(out, "access.log", |w| {
                    for r in &sim.access {
                        aw.line(w, r)?;
                    }
                    access_lines = sim.access.len();
                    Ok(())
                })?
            }
        };
        files.push(("access.log", access_bytes));
    }

    let bytes = files.iter().map(|f| f.1).sum();
    // The spans written: none without traces.json.
    let spans = if want.traces { sim.spans.len() } else { 0 };
    Ok(GeneratedSummary {
        seed: opts.seed,
        fault: opts.fault,
        components: topo.comps.iter().map(|c| c.name.clone()).collect(),
        target: topo.name(plan.target).to_string(),
        alert_component: topo.name(plan.alert.component).to_string(),
        alert_name: plan.alert.name.to_string(),
        window_start: rfc3339_secs(plan.start / 1_000_000_000),
        window_end: rfc3339_secs(plan.end / 1_000_000_000),
        onset: rfc3339_millis(plan.onset),
        alert_starts_at: rfc3339_millis(plan.alert_at),
        onset_unix: plan.onset as f64 / 1e9,
        access_format: format,
        spans,
        traces: if want.traces { sim.traced_requests } else { 0 },
        requests: arrivals.len(),
        access_lines,
        log_records,
        metric_series: series,
        files: files
            .into_iter()
            .map(|(name, bytes)| FileSize {
                name: name.to_string(),
                bytes,
            })
            .collect(),
        bytes,
    })
}

/// Each component of the seed's system with its role: `proxy`, `frontend`, `service`,
/// `database`, `cache` or `batch`.
pub fn component_roles(seed: u64) -> Vec<(String, &'static str)> {
    let topo = Topology::generate(&mut rng(seed, STREAM_TOPOLOGY));
    topo.comps
        .iter()
        .map(|c| {
            let role = match c.role {
                Role::Proxy => "proxy",
                Role::Frontend => "frontend",
                Role::Service => "service",
                Role::Database => "database",
                Role::Cache => "cache",
                Role::Batch => "batch",
            };
            (c.name.clone(), role)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// With every request traced, the calls counted per edge and step are exactly the
    /// client spans of the window, failed ones included.
    #[test]
    fn the_call_counts_are_the_client_spans_of_every_request() {
        let seed = 5;
        let topo = Topology::generate(&mut rng(seed, STREAM_TOPOLOGY));
        let fault = FaultKindName::ErrorReturn;
        let plan = Plan::build(&topo, fault, None, seed, &mut rng(seed, STREAM_PLAN)).unwrap();
        let arrivals = sim::arrivals(&plan, &mut rng(seed, STREAM_SIM), 3000);
        let mut s = Sim::new(&topo, &plan, rng(seed, STREAM_SIM), arrivals.len());
        s.run(&arrivals, 1.0);
        let mut spans: BTreeMap<(u16, u16), (u32, u32)> = BTreeMap::new();
        for span in &s.spans {
            if span.kind == sim::KIND_CLIENT && span.start < plan.end {
                let e = spans.entry((span.comp, span.peer)).or_default();
                e.0 += 1;
                e.1 += u32::from(span.flags & sim::F_ERROR != 0);
            }
        }
        let counted: BTreeMap<(u16, u16), (u32, u32)> = s
            .calls
            .iter()
            .map(|(e, steps)| {
                let calls = steps.iter().map(|c| c.0).sum();
                (*e, (calls, steps.iter().map(|c| c.1).sum()))
            })
            .collect();
        assert_eq!(counted, spans);
        assert!(
            counted.values().any(|c| c.1 > 0),
            "an error fault fails calls"
        );
        let steps = (model::WINDOW_SECS / metrics::STEP_SECS) as usize + 1;
        assert!(s.calls.values().all(|v| v.len() == steps && v[0] == (0, 0)));
    }

    /// Simulates the seed's incident of `fault` with every request traced (and the
    /// background log lines) and hands it to `f`.
    fn with_traced_sim(seed: u64, fault: FaultKindName, f: impl FnOnce(&Topology, &Plan, &Sim)) {
        let topo = Topology::generate(&mut rng(seed, STREAM_TOPOLOGY));
        let plan = Plan::build(&topo, fault, None, seed, &mut rng(seed, STREAM_PLAN)).unwrap();
        let arrivals = sim::arrivals(&plan, &mut rng(seed, STREAM_SIM), 3000);
        let mut s = Sim::new(&topo, &plan, rng(seed, STREAM_SIM), arrivals.len());
        s.run(&arrivals, 1.0);
        s.background_logs();
        f(&topo, &plan, &s);
    }

    fn median(mut v: Vec<f64>) -> f64 {
        assert!(!v.is_empty());
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    /// From onset the stopped service writes no span, no log line and no metric
    /// sample; its callers' calls into it fail at once, as errors that name no peer
    /// and have nothing under them, and count as failed calls on the edge.
    #[test]
    fn a_stopped_service_goes_silent_and_calls_into_it_are_refused() {
        for seed in [113, 127, 5] {
            with_traced_sim(seed, FaultKindName::ServiceDown, |topo, plan, s| {
                let t = plan.target;
                let name = topo.name(t);
                let ctx = format!("seed {seed} target {name}");
                assert_eq!(topo.comps[t].role, Role::Service, "{ctx}");
                assert_eq!(plan.alert.name, "HighErrorRate", "{ctx}");
                let own = |c: u16| c as usize == t;
                let before = s
                    .spans
                    .iter()
                    .filter(|x| own(x.comp) && x.start < plan.onset)
                    .count();
                assert!(before >= 50, "{ctx}: {before} spans before onset");
                assert!(
                    s.spans
                        .iter()
                        .all(|x| !own(x.comp) || (x.start < plan.onset && x.end < plan.onset)),
                    "{ctx}: a span of the target after onset"
                );
                assert!(s.logs.iter().any(|l| own(l.comp) && l.time < plan.onset));
                assert!(
                    s.logs.iter().all(|l| !own(l.comp) || l.time < plan.onset),
                    "{ctx}: a log line of the target after onset"
                );

                let into = |x: &&sim::SpanRec| x.kind == sim::KIND_CLIENT && x.peer as usize == t;
                let refused: Vec<&sim::SpanRec> = s
                    .spans
                    .iter()
                    .filter(into)
                    .filter(|x| x.start >= plan.onset)
                    .collect();
                assert!(
                    refused.len() >= 20,
                    "{ctx}: {} calls after onset",
                    refused.len()
                );
                let parents: std::collections::BTreeSet<u64> =
                    s.spans.iter().map(|x| x.parent).collect();
                for x in &refused {
                    assert_ne!(
                        x.flags & sim::F_ERROR,
                        0,
                        "{ctx}: refused call not an error"
                    );
                    assert_ne!(
                        x.flags & sim::F_UNREACHED,
                        0,
                        "{ctx}: refused call has a peer"
                    );
                    assert_eq!(x.status, 0, "{ctx}: nothing answered");
                    let ms = (x.end - x.start) as f64 / 1e6;
                    assert!((0.5..=3.0).contains(&ms), "{ctx}: connect attempt {ms} ms");
                    assert!(
                        !parents.contains(&x.id),
                        "{ctx}: a span under a refused call"
                    );
                }
                assert!(s
                    .spans
                    .iter()
                    .filter(into)
                    .filter(|x| x.end < plan.onset)
                    .all(|x| x.flags & sim::F_UNREACHED == 0));
                let refusal = format!("call to {name} failed: connection refused");
                let lines: Vec<&sim::LogRec> = s
                    .logs
                    .iter()
                    .filter(|l| l.body.starts_with(&refusal))
                    .collect();
                assert!(
                    lines.len() >= refused.len() / 2,
                    "{ctx}: {} refusal lines",
                    lines.len()
                );
                assert!(lines.iter().all(|l| l.time >= plan.onset));
                assert!(lines.iter().any(|l| l.level == sim::Level::Error));

                // Every attempt counts on its edge, as a failed call.
                let step = metrics::STEP_SECS * util::NANOS_PER_SEC;
                let mut attempts = 0;
                for (&(caller, callee), steps) in &s.calls {
                    if callee as usize != t {
                        continue;
                    }
                    assert_ne!(caller as usize, t);
                    for (k, &(calls, failed)) in steps.iter().enumerate().skip(1) {
                        if plan.start + (k as i64 - 1) * step >= plan.onset {
                            assert_eq!(calls, failed, "{ctx}: step {k}");
                            attempts += calls;
                        }
                    }
                }
                assert!(attempts > 0, "{ctx}: no attempts counted after onset");

                // The written client spans of refused calls name no peer.
                let mut buf = Vec::new();
                write::traces(&mut buf, topo, plan, s).unwrap();
                let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
                let ids: std::collections::BTreeSet<String> =
                    refused.iter().map(|x| format!("{:016x}", x.id)).collect();
                let mut seen = 0;
                for rs in v["resourceSpans"].as_array().unwrap() {
                    for sp in rs["scopeSpans"][0]["spans"].as_array().unwrap() {
                        if !ids.contains(sp["spanId"].as_str().unwrap()) {
                            continue;
                        }
                        seen += 1;
                        assert_eq!(sp["status"]["code"], 2);
                        let keys: Vec<&str> = sp["attributes"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|a| a["key"].as_str().unwrap())
                            .collect();
                        assert!(
                            !keys.contains(&"peer.service") && !keys.contains(&"server.address"),
                            "{ctx}: refused call written with {keys:?}"
                        );
                    }
                }
                assert_eq!(seen, refused.len());

                // Its metric series stop at onset; the others run on.
                let m = metrics::compute(topo, plan, &mut rng(seed, STREAM_METRICS), 2.0);
                let live = m
                    .times
                    .iter()
                    .filter(|&&ts| ts * util::NANOS_PER_SEC < plan.onset)
                    .count();
                assert!(live > 0 && live < m.times.len());
                let mut stopped = 0;
                for q in &m.queries {
                    for (c, values) in &q.series {
                        if *c == t {
                            assert_eq!(values.len(), live, "{ctx}: {}", q.signal);
                            stopped += 1;
                        } else {
                            assert_eq!(values.len(), m.times.len(), "{ctx}: {}", q.signal);
                        }
                    }
                }
                assert!(stopped >= 4, "{ctx}: {stopped} series of the target");
            });
        }
    }

    /// A contended lock: the culprit's own time grows after onset, its waiting spans
    /// say so in a log line, and it neither fails nor burns more CPU.
    #[test]
    fn lock_contention_grows_the_culprits_own_time_and_its_lines_say_why() {
        for seed in [131, 137, 5] {
            with_traced_sim(seed, FaultKindName::LockContention, |topo, plan, s| {
                let t = plan.target;
                let ctx = format!("seed {seed} target {}", topo.name(t));
                assert_eq!(plan.alert.name, "HighLatency", "{ctx}");
                assert!((150.0..=600.0).contains(&plan.lock_wait_ms));
                let mut children: BTreeMap<u64, i64> = BTreeMap::new();
                for x in &s.spans {
                    if x.kind == sim::KIND_CLIENT {
                        *children.entry(x.parent).or_default() += x.end - x.start;
                    }
                }
                let server: Vec<&sim::SpanRec> = s
                    .spans
                    .iter()
                    .filter(|x| x.comp as usize == t && x.kind == sim::KIND_SERVER)
                    .collect();
                let own_ms = |x: &sim::SpanRec| {
                    (x.end - x.start - children.get(&x.id).copied().unwrap_or(0)) as f64 / 1e6
                };
                let full = plan.onset + 60 * util::NANOS_PER_SEC;
                let before = median(
                    server
                        .iter()
                        .filter(|x| x.start < plan.onset)
                        .map(|x| own_ms(x))
                        .collect(),
                );
                let after_spans: Vec<&&sim::SpanRec> =
                    server.iter().filter(|x| x.start >= full).collect();
                let after = median(after_spans.iter().map(|x| own_ms(x)).collect());
                assert!(
                    after > before + 50.0 && after > 3.0 * before,
                    "{ctx}: own time {before:.1} ms -> {after:.1} ms"
                );

                let waiting: Vec<&sim::LogRec> = s
                    .logs
                    .iter()
                    .filter(|l| l.body.starts_with("Waiting for lock behind "))
                    .collect();
                let ids: BTreeMap<u64, &sim::SpanRec> = server.iter().map(|x| (x.id, *x)).collect();
                for l in &waiting {
                    assert_eq!(l.comp as usize, t, "{ctx}: {}", l.body);
                    assert!(matches!(l.level, sim::Level::Info | sim::Level::Warn));
                    let n: u32 = l.body["Waiting for lock behind ".len()..]
                        .strip_suffix(" transactions")
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!((1..=12).contains(&n), "{ctx}: {}", l.body);
                    let (_, span) = l.trace.expect("in a span");
                    let sp = ids
                        .get(&span)
                        .unwrap_or_else(|| panic!("{ctx}: not a server span"));
                    assert!(sp.start <= l.time && l.time <= sp.end);
                    assert!(l.time >= plan.onset);
                }
                let lined = after_spans
                    .iter()
                    .filter(|x| waiting.iter().any(|l| l.trace.unwrap().1 == x.id))
                    .count();
                assert!(
                    lined as f64 >= 0.5 * after_spans.len() as f64,
                    "{ctx}: {lined} of {} spans after onset wait",
                    after_spans.len()
                );
                let errors = |v: &mut dyn Iterator<Item = &&sim::SpanRec>| {
                    let (mut n, mut e) = (0, 0);
                    for x in v {
                        n += 1;
                        e += usize::from(x.flags & sim::F_ERROR != 0);
                    }
                    e as f64 / n as f64
                };
                assert!(
                    errors(&mut after_spans.iter().copied()) < 0.05,
                    "{ctx}: errors"
                );

                let m = metrics::compute(topo, plan, &mut rng(seed, STREAM_METRICS), 2.0);
                let series = |signal: &str| {
                    m.queries
                        .iter()
                        .find(|q| q.signal == signal)
                        .unwrap()
                        .series
                        .iter()
                        .find(|(c, _)| *c == t)
                        .unwrap()
                        .1
                        .clone()
                };
                let split = |v: &[f64]| {
                    let (mut b, mut a) = (Vec::new(), Vec::new());
                    for (ts, x) in m.times.iter().zip(v) {
                        let at = ts * util::NANOS_PER_SEC;
                        if at < plan.onset {
                            b.push(*x);
                        } else if at >= full {
                            a.push(*x);
                        }
                    }
                    (median(b), median(a))
                };
                let (b, a) = split(&series("cpu"));
                assert!(a < 1.15 * b, "{ctx}: cpu {b} -> {a}");
                let (b, a) = split(&series("latency_p99"));
                assert!(a > 2.0 * b, "{ctx}: p99 {b} -> {a}");
            });
        }
    }
}
