//! From observations to bucketed signals per component ("features"), the
//! call edges of the causal graph, and the decomposition of the requests'
//! time and errors over the components they passed through.
//!
//! Trace features separate what a component does itself from what it
//! inherits from below: *self time* is a span's duration minus its
//! children's, an error *originates* at the deepest failing span none of
//! whose children failed, and the time a caller waits on the wire (client
//! span minus the callee's server span) belongs to the edge, not to either
//! side. Each modality has its module; `build` runs traces on one core and
//! the rest on the other.

mod access;
mod goroutines;
mod logs;
mod metrics;
mod traces;

use ingest::{Observations, Sym};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::params::{Floor, Params};
use crate::score::SampleStats;
use crate::signal::SignalKind;
use crate::window::Buckets;

pub use traces::log_ratio;

/// A feature's values per bucket.
#[derive(Clone, Debug)]
pub enum Values {
    /// A level (NaN = no data in that bucket).
    Level { values: Vec<f64>, floor: Floor },
    /// Events `num` among trials `den` per bucket.
    Rate {
        num: Vec<f64>,
        den: Vec<f64>,
        floor: f64,
    },
    /// Per-request values (log ratios to the operation's typical) per
    /// bucket, judged by their median against the baseline's requests.
    PerRequest {
        values: Vec<Vec<f32>>,
        stats: SampleStats,
        floor: f64,
    },
}

/// One bucketed signal of one component.
#[derive(Clone, Debug)]
pub struct Feature {
    pub component: u32,
    pub kind: SignalKind,
    /// The metric's own name when the table does not know it.
    pub label: Option<String>,
    /// The other component it is about: for `named_in_errors`, the one whose
    /// lines name `component`.
    pub peer: Option<u32>,
    pub values: Values,
}

impl Feature {
    /// A signal of the table (no label of its own) about `component` alone.
    pub fn new(component: u32, kind: SignalKind, values: Values) -> Feature {
        Feature {
            component,
            kind,
            label: None,
            peer: None,
            values,
        }
    }

    /// The signal's name as shown: the table's, or a metric's own.
    pub fn name(&self) -> &str {
        self.label.as_deref().unwrap_or(self.kind.name())
    }
}

/// Where an edge is known from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeSource {
    Traces,
    /// Service-graph metrics (`calls` queries): rates only, no timings.
    Metrics,
}

/// Caller-to-callee call statistics.
#[derive(Clone, Debug)]
pub struct EdgeStats {
    pub caller: u32,
    pub callee: u32,
    pub calls: u64,
    pub errors: u64,
    /// Each call's time on the wire with its bucket (µs): for an instrumented
    /// callee the client span minus the server span, else the client span's
    /// whole duration.
    pub waits: Vec<(u32, f32)>,
    /// Client-observed durations in µs, for the p99.
    pub durations: Vec<u32>,
    pub source: EdgeSource,
    /// The callee is instrumented: a wait is the client span minus the
    /// server span, the network's alone (else it includes the callee's work).
    pub callee_traced: bool,
}

/// One request's times in a component (µs), for evidence in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct RequestTimes {
    pub bucket: u32,
    /// Own time (NaN when not judged: cut off by the data's end).
    pub own: f32,
    /// The part of `own` before its last call ended (NaN as `own`).
    pub before_calls: f32,
    /// The entry span's whole duration, callees included.
    pub latency: f32,
}

/// Per-proxy details kept for evidence.
#[derive(Clone, Debug, Default)]
pub struct ProxyDetail {
    /// User agents not seen in the baseline, by requests in the analysed period.
    pub new_agents: Vec<(Sym, u64)>,
    /// All user agents by requests in the analysed period.
    pub agents: Vec<(Sym, u64)>,
    pub tls: Vec<(Sym, u64)>,
}

/// Log lines that an operation's requests used to print and now skip.
#[derive(Clone, Debug)]
pub struct MissingLines {
    pub component: u32,
    /// The strongest deficit's score.
    pub z: f64,
    pub note: String,
    /// The operation and the pair of events (`before_after`, or the line
    /// alone) where the requests' flow broke off.
    pub operation: String,
    pub region: String,
}

/// A component's goroutine dumps, analysed.
#[derive(Clone, Debug)]
pub struct GoroutineLeakSeen {
    pub component: u32,
    /// How strongly the dumps show a leak, as a z (0 when they show none).
    pub score: f64,
    /// The leak, in words: pattern, count, growth, sites.
    pub note: String,
    /// Per bucket: the score of the dumps taken up to it (0 before any).
    pub heat: Vec<f64>,
}

/// How the analysed requests' slowdown at the entry splits over the
/// components and edges they passed through: the counterfactual
/// "put this component's own behaviour back to its baseline; how much of
/// the symptom is left?", read off the traces request by request. (New
/// failures are not split here: each failure's origin is already counted
/// for the component it started in, `SignalKind::ErrorOrigin`.)
#[derive(Clone, Debug, Default)]
pub struct Attribution {
    /// The entry requests judged (the alerting components', else the traces' roots).
    pub requests: f64,
    /// Their time beyond their operations' baseline typical, summed (µs).
    pub excess_us: f64,
    /// Per component: own time beyond its operations' typical (µs), positive part.
    pub own_us: Vec<f64>,
    /// Per edge (as `FeatureSet::edges`): time on the wire beyond the edge's typical (µs).
    pub wire_us: Vec<f64>,
    /// Each judged entry request's log(latency / its operation's typical),
    /// in the baseline and after it: how far the symptom itself moved.
    pub base_latency: Vec<f64>,
    pub now_latency: Vec<f32>,
    /// Judged entry requests in the baseline.
    pub base_requests: f64,
}

/// Everything the ranking reads.
pub struct FeatureSet {
    /// Component names; a component's index is its position.
    pub components: Vec<String>,
    pub features: Vec<Feature>,
    pub edges: Vec<EdgeStats>,
    /// Example trace ids per (component, bucket): the slowest request and the
    /// first originated error seen there.
    pub examples: FxHashMap<(u32, usize), Vec<u128>>,
    pub proxies: FxHashMap<u32, ProxyDetail>,
    /// Components that emitted spans tagged as a proxy, or wrote access logs.
    pub is_proxy: Vec<bool>,
    /// Components that emitted spans: their place in the call graph is known.
    pub traced: Vec<bool>,
    /// Per component, the strongest few deficits, strongest first.
    pub missing_lines: Vec<MissingLines>,
    /// Per component, its most frequent warning or error template that the
    /// baseline never saw, and how many lines of it.
    pub new_templates: Vec<(u32, String, u64)>,
    pub goroutine_leaks: Vec<GoroutineLeakSeen>,
    pub attribution: Attribution,
    /// Operations per component seen too rarely in the baseline to judge.
    pub unjudged_operations: Vec<(u32, usize)>,
    /// Spans of requests whose call into another component failed: what
    /// their component logs there is about the callee.
    pub inherited_spans: FxHashSet<u64>,
    /// Per (component, operation), its requests' times.
    pub op_times: FxHashMap<(u32, Sym), Vec<RequestTimes>>,
    /// Per component, its client spans' durations (µs) by bucket.
    pub client_times: FxHashMap<u32, Vec<(u32, f32)>>,
}

pub(crate) struct Registry<'a> {
    obs: &'a Observations,
    index: FxHashMap<Sym, u32>,
    names: Vec<String>,
}

impl Registry<'_> {
    pub(crate) fn id(&mut self, sym: Sym) -> u32 {
        if let Some(&i) = self.index.get(&sym) {
            return i;
        }
        let i = self.names.len() as u32;
        self.index.insert(sym, i);
        self.names.push(self.obs.names.name(sym).to_string());
        i
    }
}

fn empty_set() -> FeatureSet {
    FeatureSet {
        components: Vec::new(),
        features: Vec::new(),
        edges: Vec::new(),
        examples: FxHashMap::default(),
        proxies: FxHashMap::default(),
        is_proxy: Vec::new(),
        traced: Vec::new(),
        missing_lines: Vec::new(),
        new_templates: Vec::new(),
        goroutine_leaks: Vec::new(),
        attribution: Attribution::default(),
        unjudged_operations: Vec::new(),
        inherited_spans: FxHashSet::default(),
        op_times: FxHashMap::default(),
        client_times: FxHashMap::default(),
    }
}

/// One thread's share of the work: its own component names and features.
struct Part {
    names: Vec<String>,
    set: FeatureSet,
    proxies: Vec<u32>,
}

fn part(
    obs: &Observations,
    work: impl FnOnce(&mut Registry, &mut FeatureSet, &mut Vec<u32>),
) -> Part {
    let mut reg = Registry {
        obs,
        index: FxHashMap::default(),
        names: Vec::new(),
    };
    let mut set = empty_set();
    let mut proxies = Vec::new();
    work(&mut reg, &mut set, &mut proxies);
    Part {
        names: reg.names,
        set,
        proxies,
    }
}

/// What the engine knows of the incident besides the observations.
pub struct Context<'a> {
    pub params: &'a Params,
    /// The alerting components that have data, each once, the opening
    /// alert's first: every one is a symptom of the investigation.
    pub alerts: Vec<Sym>,
}

/// Builds every feature and edge of `obs` over `buckets`.
///
/// Traces are the bulk of the work; metrics, access logs and logs are built
/// beside them on the other core, and the two parts merged by component name
/// (traces' components first, so the result does not depend on timing).
pub fn build(obs: &Observations, buckets: &Buckets, ctx: &Context) -> FeatureSet {
    let p = ctx.params;
    // Error lines by span: about the component itself they mark the span as
    // failing where the traces carry no status; naming another component
    // they say a call to it failed.
    let about_other = logs::templates_naming_others(obs);
    let mut logged = traces::LoggedErrors::default();
    for l in obs
        .logs
        .iter()
        .filter(|l| l.level >= ingest::LogLevel::Error)
    {
        let Some(span) = l.span_id else { continue };
        if about_other.contains_key(&(l.component, l.message)) {
            logged.about_other.insert(span);
        } else {
            logged.own.insert(span);
        }
    }
    let t0 = std::time::Instant::now();
    let (from_traces, rest, traces_s, rest_s) = std::thread::scope(|scope| {
        let t = scope.spawn(|| {
            let r = part(obs, |reg, set, proxies| {
                traces::build(obs, buckets, ctx, &logged, reg, set, proxies)
            });
            (r, t0.elapsed().as_secs_f64())
        });
        let rest = part(obs, |reg, set, proxies| {
            metrics::build(obs, buckets, p, reg, set);
            access::build(obs, buckets, p, reg, set, proxies);
        });
        let span_ops = logs::span_ops(obs, buckets);
        let rest_s = t0.elapsed().as_secs_f64();
        let (from_traces, traces_s) = t.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        (from_traces, (rest, span_ops), traces_s, rest_s)
    });
    let (rest, span_ops) = rest;
    // Logs need the traces' verdict on which requests' calls failed.
    let inherited = &from_traces.set.inherited_spans;
    let t1 = std::time::Instant::now();
    let from_logs = part(obs, |reg, set, _| {
        logs::build(obs, buckets, p, &about_other, inherited, reg, set);
        logs::missing_lines(obs, p, span_ops, inherited, reg, set);
    });
    tracing::debug!(
        traces_s,
        metrics_access_and_span_ops_s = rest_s,
        logs_s = t1.elapsed().as_secs_f64(),
        "features built"
    );
    let mut set = from_traces.set;
    let mut names = from_traces.names;
    let mut proxies = from_traces.proxies;
    let traced_count = names.len();
    // Component ids of the second part, in the merged numbering.
    let mut index: FxHashMap<String, u32> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i as u32))
        .collect();
    let mut remap_names = |part: Vec<String>| -> Vec<u32> {
        part.into_iter()
            .map(|n| {
                *index.entry(n.clone()).or_insert_with(|| {
                    names.push(n);
                    (names.len() - 1) as u32
                })
            })
            .collect()
    };
    let remap = remap_names(rest.names);
    let remap_logs = remap_names(from_logs.names);
    for mut f in rest.set.features {
        f.component = remap[f.component as usize];
        set.features.push(f);
    }
    for mut f in from_logs.set.features {
        f.component = remap_logs[f.component as usize];
        f.peer = f.peer.map(|p| remap_logs[p as usize]);
        set.features.push(f);
    }
    for (c, detail) in rest.set.proxies {
        set.proxies.insert(remap[c as usize], detail);
    }
    set.missing_lines = from_logs
        .set
        .missing_lines
        .into_iter()
        .map(|mut m| {
            m.component = remap_logs[m.component as usize];
            m
        })
        .collect();
    set.missing_lines
        .sort_by(|a, b| a.component.cmp(&b.component).then(b.z.total_cmp(&a.z)));
    set.new_templates = from_logs
        .set
        .new_templates
        .into_iter()
        .map(|(c, t, n)| (remap_logs[c as usize], t, n))
        .collect();
    proxies.extend(rest.proxies.into_iter().map(|c| remap[c as usize]));
    set.goroutine_leaks = goroutines::build(obs, buckets, p, &mut names);
    metrics::edges(obs, buckets, &mut names, &mut set.edges);
    let nc = names.len();
    set.is_proxy = vec![false; nc];
    for p in proxies {
        set.is_proxy[p as usize] = true;
    }
    set.traced = (0..nc).map(|i| i < traced_count).collect();
    set.attribution.own_us.resize(nc, 0.0);
    set.attribution.wire_us.resize(set.edges.len(), 0.0);
    set.components = names;
    set
}
