//! From observations to bucketed signals per component ("features"), and the
//! caller-to-callee edges of the causal graph.
//!
//! Trace-derived features separate what a component does itself from what it
//! inherits from below: *self time* is a span's duration minus its children's,
//! an *originated* error is an error span none of whose children failed, and
//! the time a caller waits on the wire (client span minus the callee's server
//! span) belongs to the edge, not to either side.

use ingest::{Micros, Modality, Observations, Signal, SpanKind, Sym};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::score::{sample_stats, Direction, Floor, SampleStats};
use crate::window::Buckets;

/// Whether a signal is something a component does itself, or something it
/// may have inherited from the components it calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Own,
    Symptom,
}

/// A feature's values per bucket.
#[derive(Clone, Debug)]
pub enum Values {
    /// A level (NaN = no data in that bucket).
    Level { values: Vec<f64>, floor: Floor },
    /// A ratio `num / den` per bucket, scored with its volume in mind.
    Rate {
        num: Vec<f64>,
        den: Vec<f64>,
        floor: f64,
    },
    /// Per-request values (log ratios to the operation's typical) summed per
    /// bucket, judged against the baseline's requests with their volume in mind.
    Samples {
        sum: Vec<f64>,
        n: Vec<f64>,
        stats: SampleStats,
        floor: f64,
    },
}

/// One bucketed signal of one component.
#[derive(Clone, Debug)]
pub struct Feature {
    pub component: u32,
    pub signal: String,
    pub modality: Modality,
    pub role: Role,
    pub dir: Direction,
    pub weight: f64,
    /// How values print: `ms`, `%`, `cores`, `bytes`, or empty.
    pub unit: &'static str,
    pub values: Values,
}

/// Caller-to-callee call statistics from traces.
#[derive(Clone, Debug)]
pub struct EdgeStats {
    pub caller: u32,
    pub callee: u32,
    pub calls: u64,
    pub errors: u64,
    /// Each call's client-side wait with its bucket (µs): for an instrumented
    /// callee the wire time (client span minus server span), else the client
    /// span's whole duration.
    pub waits: Vec<(u32, f32)>,
    /// Client-observed durations in µs, for the p99.
    pub durations: Vec<u32>,
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
    /// Log lines that an operation used to print and now prints less, per
    /// component: the strongest deficit's score and what it was.
    pub missing_lines: Vec<(u32, f64, String)>,
    /// Per component with goroutine dumps: what they say (see `goroutine_leaks`).
    pub goroutine_leaks: Vec<GoroutineLeakSeen>,
}

/// A component's goroutine dumps, analysed.
#[derive(Clone, Debug)]
pub struct GoroutineLeakSeen {
    pub component: u32,
    /// How strongly the dumps show a leak, on the scale of the other scores
    /// (0 when they show none).
    pub score: f64,
    /// The leak, in words: pattern, count, growth, sites.
    pub note: String,
    /// Per bucket: the score of the dumps taken up to it (0 before any).
    pub heat: Vec<f64>,
}

struct Registry<'a> {
    obs: &'a Observations,
    index: FxHashMap<Sym, u32>,
    names: Vec<String>,
}

impl Registry<'_> {
    fn id(&mut self, sym: Sym) -> u32 {
        if let Some(&i) = self.index.get(&sym) {
            return i;
        }
        let i = self.names.len() as u32;
        self.index.insert(sym, i);
        self.names.push(self.obs.names.name(sym).to_string());
        i
    }
}

/// One thread's share of the work: its own component names and features.
struct Part {
    names: Vec<String>,
    set: FeatureSet,
    proxies: Vec<u32>,
}

fn empty_set() -> FeatureSet {
    FeatureSet {
        components: Vec::new(),
        features: Vec::new(),
        edges: Vec::new(),
        examples: FxHashMap::default(),
        proxies: FxHashMap::default(),
        is_proxy: Vec::new(),
        missing_lines: Vec::new(),
        goroutine_leaks: Vec::new(),
    }
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

/// Builds every feature and edge of `obs` over `buckets`.
///
/// Traces are the bulk of the work; metrics, access logs and logs are built
/// beside them on the other core, and the two parts merged by component name
/// (traces' components first, so the result does not depend on timing).
pub fn build(obs: &Observations, buckets: &Buckets) -> FeatureSet {
    let (from_traces, rest) = std::thread::scope(|scope| {
        let t = scope.spawn(|| {
            part(obs, |reg, set, proxies| {
                traces(obs, buckets, reg, set, proxies)
            })
        });
        let rest = part(obs, |reg, set, proxies| {
            metrics(obs, buckets, reg, set);
            access(obs, buckets, reg, set, proxies);
            logs(obs, buckets, reg, set);
            missing_lines(obs, buckets, reg, set);
        });
        let from_traces = t.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        (from_traces, rest)
    });
    let mut set = from_traces.set;
    let mut names = from_traces.names;
    let mut proxies = from_traces.proxies;
    // Component ids of the second part, in the merged numbering.
    let mut index: FxHashMap<String, u32> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i as u32))
        .collect();
    let remap: Vec<u32> = rest
        .names
        .into_iter()
        .map(|n| {
            *index.entry(n.clone()).or_insert_with(|| {
                names.push(n);
                (names.len() - 1) as u32
            })
        })
        .collect();
    for mut f in rest.set.features {
        f.component = remap[f.component as usize];
        set.features.push(f);
    }
    for (c, detail) in rest.set.proxies {
        set.proxies.insert(remap[c as usize], detail);
    }
    set.missing_lines = rest
        .set
        .missing_lines
        .into_iter()
        .map(|(c, z, note)| (remap[c as usize], z, note))
        .collect();
    set.missing_lines.sort_by_key(|m| m.0);
    proxies.extend(rest.proxies.into_iter().map(|c| remap[c as usize]));
    set.goroutine_leaks = goroutine_leaks(obs, buckets, &mut names);
    // Edges service-graph metrics show and the traces do not (traces win).
    let traced: FxHashSet<(u32, u32)> = set.edges.iter().map(|e| (e.caller, e.callee)).collect();
    for m in crate::callgraph::metric_edges(obs, buckets, &mut names) {
        if !traced.contains(&(m.caller, m.callee)) {
            set.edges.push(EdgeStats {
                caller: m.caller,
                callee: m.callee,
                calls: m.calls.round() as u64,
                errors: m.failed.round() as u64,
                waits: Vec::new(),
                durations: Vec::new(),
            });
        }
    }
    set.is_proxy = vec![false; names.len()];
    for p in proxies {
        set.is_proxy[p as usize] = true;
    }
    set.components = names;
    set
}

/// Softening of own-time and latency ratios (µs): below this, time differences
/// are measurement noise, not slowness.
const OWN_SOFT: f64 = 100.0;
const LAT_SOFT: f64 = 200.0;

/// Requests of an operation the baseline must hold before the operation's
/// typical own time, latency and calls are known.
const MIN_BASELINE_REQUESTS: usize = 5;

/// `ln((x + soft) / (typical + soft))`: 0 for a typical request, ln 2 for one
/// twice as slow.
pub fn log_ratio(x: f64, typical: f64, soft: f64) -> f64 {
    ((x.max(0.0) + soft) / (typical.max(0.0) + soft)).ln()
}

fn is_error(s: &ingest::Span) -> bool {
    s.error || s.http_status >= 500
}

/// Per (component, bucket) trace aggregates.
#[derive(Clone, Copy, Default)]
struct Cell {
    entry: f64,
    entry_err: f64,
    origin_err: f64,
    exceptions: f64,
    /// Sum and count of log(own time / the operation's baseline typical).
    own_v: f64,
    own_n: f64,
    /// Sum and count of log(calls made / the operation's baseline typical).
    calls_v: f64,
    calls_n: f64,
    /// Sum and count of log(entry latency / the operation's baseline typical).
    lat_v: f64,
    lat_n: f64,
    slowest: (Micros, u128),
    first_error: Option<u128>,
}

fn traces(
    obs: &Observations,
    b: &Buckets,
    reg: &mut Registry,
    set: &mut FeatureSet,
    proxies: &mut Vec<u32>,
) {
    let spans = &obs.spans;
    if spans.is_empty() {
        return;
    }
    // Span id -> index; a span's parent must also share its trace.
    let mut by_id: FxHashMap<u64, u32> = FxHashMap::default();
    by_id.reserve(spans.len());
    for (i, s) in spans.iter().enumerate() {
        by_id.insert(s.span_id, i as u32);
    }
    let parent_of = |s: &ingest::Span| -> Option<usize> {
        if s.parent_id == 0 {
            return None;
        }
        let p = *by_id.get(&s.parent_id)? as usize;
        (spans[p].trace_id == s.trace_id).then_some(p)
    };
    let n = spans.len();
    let mut child_sum = vec![0 as Micros; n];
    let mut err_child = vec![false; n];
    // For a client span: the duration of its child in another component, if any.
    let mut remote_child: Vec<Option<Micros>> = vec![None; n];
    let mut parents: Vec<u32> = vec![u32::MAX; n];
    for (i, s) in spans.iter().enumerate() {
        let Some(p) = parent_of(s) else { continue };
        parents[i] = p as u32;
        child_sum[p] += s.duration.max(0);
        if is_error(s) {
            err_child[p] = true;
        }
        if spans[p].component != s.component {
            remote_child[p] = Some(remote_child[p].unwrap_or(0).max(s.duration));
        }
    }

    // Own work of a span: not the wire time of a call into another component,
    // nor a call to an uninstrumented peer.
    let own_of = |i: usize| -> Option<Micros> {
        let s = &spans[i];
        let is_client = matches!(s.kind, SpanKind::Client | SpanKind::Producer);
        let uninstrumented =
            is_client && child_sum[i] == 0 && s.peer.is_some_and(|p| p != s.component);
        if (is_client && remote_child[i].is_some()) || uninstrumented {
            return None;
        }
        Some((s.duration - child_sum[i].min(s.duration)).max(0))
    };
    let is_entry = |i: usize| -> bool {
        let s = &spans[i];
        s.kind == SpanKind::Server
            || match parents[i] {
                u32::MAX => true,
                p => spans[p as usize].component != s.component,
            }
    };
    // Each operation's typical own time and, for entry operations, latency in
    // the baseline: spans are compared with their own operation, so a change
    // in the mix of requests is not taken for a slowdown.
    let mut base_own: FxHashMap<(Sym, Sym), Vec<f64>> = FxHashMap::default();
    let mut base_lat: FxHashMap<(Sym, Sym), Vec<f64>> = FxHashMap::default();
    for (i, s) in spans.iter().enumerate() {
        if b.index(s.start).is_none_or(|bi| bi >= b.baseline_end) {
            continue;
        }
        if let Some(own) = own_of(i) {
            base_own
                .entry((s.component, s.operation))
                .or_default()
                .push(own as f64);
        }
        if is_entry(i) {
            base_lat
                .entry((s.component, s.operation))
                .or_default()
                .push(s.duration as f64);
        }
    }
    // An operation seen only a few times in the baseline has no typical
    // value to judge by (two requests do not say what normal is): its
    // requests are left unjudged rather than compared with a guess.
    let typical = |m: FxHashMap<(Sym, Sym), Vec<f64>>, floor: f64| -> FxHashMap<(Sym, Sym), f64> {
        m.into_iter()
            .filter(|(_, v)| v.len() >= MIN_BASELINE_REQUESTS)
            .filter_map(|(k, mut v)| crate::score::median(&mut v).map(|med| (k, med.max(floor))))
            .collect()
    };
    let base_own = typical(base_own, 0.0);
    let base_lat = typical(base_lat, 0.0);

    // The calls into other components that each request made: a request
    // that now makes fewer (an early return, an exception) or more (retries,
    // another branch) calls than its operation used to has changed shape.
    let mut entry_of: Vec<u32> = vec![u32::MAX; n];
    for i in 0..n {
        let mut j = i;
        let mut hops = 0;
        while !is_entry(j) && entry_of[j] == u32::MAX && hops < 256 {
            j = parents[j] as usize;
            hops += 1;
        }
        let root = if entry_of[j] != u32::MAX {
            entry_of[j]
        } else {
            j as u32
        };
        entry_of[i] = root;
    }
    let mut calls_out = vec![0u32; n];
    for (i, s) in spans.iter().enumerate() {
        let p = parents[i];
        if p != u32::MAX && spans[p as usize].component != s.component {
            calls_out[entry_of[p as usize] as usize] += 1;
        } else if matches!(s.kind, SpanKind::Client | SpanKind::Producer)
            && child_sum[i] == 0
            && s.peer.is_some_and(|peer| peer != s.component)
        {
            calls_out[entry_of[i] as usize] += 1;
        }
    }
    let mut base_calls: FxHashMap<(Sym, Sym), Vec<f64>> = FxHashMap::default();
    for (i, s) in spans.iter().enumerate() {
        if is_entry(i) && b.index(s.start).is_some_and(|bi| bi < b.baseline_end) {
            base_calls
                .entry((s.component, s.operation))
                .or_default()
                .push(f64::from(calls_out[i]));
        }
    }
    let base_calls = typical(base_calls, 0.0);
    let mut base_calls_v: FxHashMap<u32, Vec<f64>> = FxHashMap::default();
    let mut base_own_v: FxHashMap<u32, Vec<f64>> = FxHashMap::default();
    let mut base_lat_v: FxHashMap<u32, Vec<f64>> = FxHashMap::default();

    let nb = b.count;
    let mut cells: FxHashMap<u32, Vec<Cell>> = FxHashMap::default();
    let mut edges: FxHashMap<(u32, u32), EdgeStats> = FxHashMap::default();
    let new_edge = |caller: u32, callee: u32| EdgeStats {
        caller,
        callee,
        calls: 0,
        errors: 0,
        waits: Vec::new(),
        durations: Vec::new(),
    };

    for (i, s) in spans.iter().enumerate() {
        let c = reg.id(s.component);
        if s.proxy && !proxies.contains(&c) {
            proxies.push(c);
        }
        let Some(bi) = b.index(s.start) else { continue };
        let p = (parents[i] != u32::MAX).then(|| parents[i] as usize);
        let err = is_error(s);
        let is_client = matches!(s.kind, SpanKind::Client | SpanKind::Producer);
        // A client span with no child anywhere, naming its peer: a call to an
        // uninstrumented component (a database, a cache, a third party).
        let uninstrumented_peer = match (is_client, child_sum[i] == 0, s.peer) {
            (true, true, Some(peer)) if peer != s.component => Some(reg.id(peer)),
            _ => None,
        };

        let entry = is_entry(i);
        let key = (s.component, s.operation);
        {
            let row = cells.entry(c).or_insert_with(|| vec![Cell::default(); nb]);
            let cell = &mut row[bi];
            if entry {
                cell.entry += 1.0;
                if let Some(t) = base_calls.get(&key) {
                    let v = log_ratio(f64::from(calls_out[i]), *t, 0.5);
                    cell.calls_v += v;
                    cell.calls_n += 1.0;
                    if bi < b.baseline_end {
                        base_calls_v.entry(c).or_default().push(v);
                    }
                }
                if let Some(t) = base_lat.get(&key) {
                    let v = log_ratio(s.duration as f64, *t, LAT_SOFT);
                    cell.lat_v += v;
                    cell.lat_n += 1.0;
                    if bi < b.baseline_end {
                        base_lat_v.entry(c).or_default().push(v);
                    }
                }
                if err {
                    cell.entry_err += 1.0;
                }
                if s.duration > cell.slowest.0 {
                    cell.slowest = (s.duration, s.trace_id);
                }
            }
            if s.exception.is_some() {
                cell.exceptions += 1.0;
            }
            // Own work: not the wire time of a call into another component.
            if let Some(own) = own_of(i) {
                if let Some(t) = base_own.get(&key) {
                    let v = log_ratio(own as f64, *t, OWN_SOFT);
                    cell.own_v += v;
                    cell.own_n += 1.0;
                    if bi < b.baseline_end {
                        base_own_v.entry(c).or_default().push(v);
                    }
                }
            }
            if err && !err_child[i] && uninstrumented_peer.is_none() {
                cell.origin_err += 1.0;
                cell.first_error.get_or_insert(s.trace_id);
            }
        }

        // Calls between components.
        if let Some(p) = p {
            let pc = &spans[p];
            if pc.component != s.component {
                let caller = reg.id(pc.component);
                let e = edges
                    .entry((caller, c))
                    .or_insert_with(|| new_edge(caller, c));
                e.calls += 1;
                e.errors += err as u64;
                if matches!(pc.kind, SpanKind::Client | SpanKind::Producer) {
                    let wait = (pc.duration - s.duration).max(0) as f64;
                    e.waits.push((bi as u32, wait as f32));
                    e.durations
                        .push(pc.duration.clamp(0, u32::MAX as Micros) as u32);
                } else {
                    e.durations
                        .push(s.duration.clamp(0, u32::MAX as Micros) as u32);
                }
            }
        }
        if let Some(d) = uninstrumented_peer {
            let e = edges.entry((c, d)).or_insert_with(|| new_edge(c, d));
            e.calls += 1;
            e.errors += err as u64;
            e.waits.push((bi as u32, s.duration as f32));
            e.durations
                .push(s.duration.clamp(0, u32::MAX as Micros) as u32);
            let row = cells.entry(d).or_insert_with(|| vec![Cell::default(); nb]);
            row[bi].entry += 1.0;
            if err {
                row[bi].entry_err += 1.0;
                if !err_child[i] {
                    row[bi].origin_err += 1.0;
                    row[bi].first_error.get_or_insert(s.trace_id);
                }
            }
        }
    }

    let mut comps: Vec<u32> = cells.keys().copied().collect();
    comps.sort_unstable();
    for c in comps {
        let row = &cells[&c];
        let col = |f: &dyn Fn(&Cell) -> f64| -> Vec<f64> { row.iter().map(f).collect() };
        let entry = col(&|x| x.entry);
        let samples =
            |sum: &dyn Fn(&Cell) -> f64, n: &dyn Fn(&Cell) -> f64, base: Option<&mut Vec<f64>>| {
                let stats = sample_stats(base?, 0.05)?;
                Some(Values::Samples {
                    sum: col(sum),
                    n: col(n),
                    stats,
                    // A typical request 15% slower is the smallest change that matters.
                    floor: 0.15,
                })
            };
        // (signal, role, direction, weight, per-request values, baseline samples)
        #[allow(clippy::type_complexity)]
        let per_request: [(
            &str,
            Role,
            Direction,
            f64,
            fn(&Cell) -> (f64, f64),
            &mut FxHashMap<u32, Vec<f64>>,
        ); 3] = [
            (
                "self_time",
                Role::Own,
                Direction::Up,
                1.0,
                |x| (x.own_v, x.own_n),
                &mut base_own_v,
            ),
            (
                "call_structure",
                Role::Own,
                Direction::Both,
                0.8,
                |x| (x.calls_v, x.calls_n),
                &mut base_calls_v,
            ),
            (
                "latency",
                Role::Symptom,
                Direction::Up,
                1.0,
                |x| (x.lat_v, x.lat_n),
                &mut base_lat_v,
            ),
        ];
        for (signal, role, dir, weight, get, base) in per_request {
            let Some(values) = samples(&|x| get(x).0, &|x| get(x).1, base.get_mut(&c)) else {
                continue;
            };
            set.features.push(Feature {
                component: c,
                signal: signal.into(),
                modality: Modality::Traces,
                role,
                dir,
                weight,
                unit: "x",
                values,
            });
        }
        // Shares of the requests received: errors it originated (its own),
        // errors it answered with (also inherited), exceptions it recorded.
        #[allow(clippy::type_complexity)]
        let rates: [(&str, Role, fn(&Cell) -> f64); 3] = [
            ("error_rate", Role::Own, |x| x.origin_err),
            ("errors", Role::Symptom, |x| x.entry_err),
            ("exceptions", Role::Own, |x| x.exceptions),
        ];
        for (signal, role, num) in rates {
            if signal == "exceptions" && row.iter().all(|x| x.exceptions == 0.0) {
                continue;
            }
            set.features.push(Feature {
                component: c,
                signal: signal.into(),
                modality: Modality::Traces,
                role,
                dir: Direction::Up,
                weight: 1.0,
                unit: "%",
                values: Values::Rate {
                    num: col(&num),
                    den: entry.clone(),
                    floor: 0.02,
                },
            });
        }
        for (bi, cell) in row.iter().enumerate() {
            let mut ids = Vec::with_capacity(2);
            if let Some(t) = cell.first_error {
                ids.push(t);
            }
            if cell.slowest.0 > 0 && !ids.contains(&cell.slowest.1) {
                ids.push(cell.slowest.1);
            }
            if !ids.is_empty() {
                set.examples.insert((c, bi), ids);
            }
        }
    }
    let mut edges: Vec<EdgeStats> = edges.into_values().collect();
    edges.sort_by_key(|e| (e.caller, e.callee));
    set.edges = edges;
}

/// How each known metric signal is read.
fn metric_kind(signal: &Signal) -> (Role, Direction, Floor, f64, &'static str) {
    match signal {
        Signal::Cpu => (
            Role::Own,
            Direction::Up,
            // A twentieth of a core (or 5 points of a limit) is the least
            // CPU change worth a look: an idle JVM's garbage collection
            // moves it by more than its minute-to-minute spread.
            Floor {
                abs: 0.05,
                rel: 0.05,
            },
            1.0,
            "cores",
        ),
        Signal::Memory => (
            Role::Own,
            Direction::Up,
            // A twentieth of the working set: a JVM's heap breathes by
            // that much without anything being wrong, and a flat series
            // (the same sample repeated) has no spread of its own to go by.
            Floor {
                abs: 1.0,
                rel: 0.05,
            },
            0.9,
            "bytes",
        ),
        Signal::Goroutines => (
            Role::Own,
            Direction::Up,
            Floor {
                abs: 5.0,
                rel: 0.05,
            },
            1.0,
            "",
        ),
        Signal::PoolPending => (
            Role::Own,
            Direction::Up,
            Floor { abs: 1.0, rel: 0.1 },
            1.0,
            "",
        ),
        Signal::TlsSessionReuse => (
            Role::Own,
            Direction::Down,
            Floor {
                abs: 0.05,
                rel: 0.05,
            },
            0.6,
            "",
        ),
        Signal::Http4xxRate => (
            Role::Own,
            Direction::Up,
            Floor {
                abs: 0.05,
                rel: 0.2,
            },
            0.7,
            "/s",
        ),
        Signal::Http5xxRate => (
            Role::Symptom,
            Direction::Up,
            Floor {
                abs: 0.05,
                rel: 0.2,
            },
            1.0,
            "/s",
        ),
        Signal::RequestRate => (
            Role::Symptom,
            Direction::Both,
            Floor { abs: 0.5, rel: 0.2 },
            0.3,
            "/s",
        ),
        Signal::LatencyP50 | Signal::LatencyP90 | Signal::LatencyP95 | Signal::LatencyP99 => (
            Role::Symptom,
            Direction::Up,
            // Quantiles come from histogram buckets (5, 10, 25, 50 ms, ...)
            // and jump a bucket when a minute holds a few slow requests: a
            // move of 25 ms or a quarter is the least that says anything.
            Floor {
                abs: 0.025,
                rel: 0.25,
            },
            1.0,
            "s",
        ),
        Signal::Other(_) => (
            Role::Own,
            Direction::Both,
            Floor {
                abs: 1e-9,
                rel: 0.1,
            },
            0.5,
            "",
        ),
    }
}

fn metrics(obs: &Observations, b: &Buckets, reg: &mut Registry, set: &mut FeatureSet) {
    for s in &obs.series {
        let c = reg.id(s.component);
        let mut sum = vec![0.0; b.count];
        let mut n = vec![0.0; b.count];
        for &(t, v) in &s.samples {
            if let Some(i) = b.index(t) {
                if v.is_finite() {
                    sum[i] += v;
                    n[i] += 1.0;
                }
            }
        }
        if n.iter().all(|x| *x == 0.0) {
            continue;
        }
        let values = sum
            .iter()
            .zip(&n)
            .map(|(s, n)| if *n > 0.0 { s / n } else { f64::NAN })
            .collect();
        let (role, dir, floor, weight, unit) = metric_kind(&s.signal);
        set.features.push(Feature {
            component: c,
            signal: s.signal.as_str().to_string(),
            modality: Modality::Metrics,
            role,
            dir,
            weight,
            unit,
            values: Values::Level { values, floor },
        });
    }
}

fn is_old_tls(v: &str) -> bool {
    let v = v.to_ascii_lowercase();
    v.starts_with("ssl")
        || v == "tlsv1"
        || v == "tlsv1.0"
        || v == "tlsv1.1"
        || v == "tls1.0"
        || v == "tls1.1"
}

fn access(
    obs: &Observations,
    b: &Buckets,
    reg: &mut Registry,
    set: &mut FeatureSet,
    proxies: &mut Vec<u32>,
) {
    if obs.access.is_empty() {
        return;
    }
    let nb = b.count;
    #[derive(Default)]
    struct Acc {
        n: Vec<f64>,
        e4: Vec<f64>,
        e5: Vec<f64>,
        lat: Vec<f64>,
        tls_known: Vec<f64>,
        tls_old: Vec<f64>,
        new_ua: Vec<f64>,
        base_agents: FxHashMap<Sym, u64>,
        agents: FxHashMap<Sym, u64>,
        tls: FxHashMap<Sym, u64>,
    }
    let zero = || Acc {
        n: vec![0.0; nb],
        e4: vec![0.0; nb],
        e5: vec![0.0; nb],
        lat: vec![0.0; nb],
        tls_known: vec![0.0; nb],
        tls_old: vec![0.0; nb],
        new_ua: vec![0.0; nb],
        ..Default::default()
    };
    let mut by_proxy: FxHashMap<Sym, Acc> = FxHashMap::default();
    // First pass: which user agents the baseline knows.
    for r in &obs.access {
        let Some(i) = b.index(r.time) else { continue };
        let acc = by_proxy.entry(r.proxy).or_insert_with(zero);
        if i < b.baseline_end {
            *acc.base_agents.entry(r.user_agent).or_default() += 1;
        }
    }
    let old: FxHashMap<Sym, bool> = obs
        .access
        .iter()
        .filter_map(|r| r.tls_version)
        .map(|t| (t, is_old_tls(obs.names.name(t))))
        .collect();
    for r in &obs.access {
        let Some(i) = b.index(r.time) else { continue };
        let Some(acc) = by_proxy.get_mut(&r.proxy) else {
            continue;
        };
        acc.n[i] += 1.0;
        acc.lat[i] += r.duration as f64;
        match r.status {
            400..=499 => acc.e4[i] += 1.0,
            500..=599 => acc.e5[i] += 1.0,
            _ => {}
        }
        if let Some(t) = r.tls_version {
            acc.tls_known[i] += 1.0;
            if old.get(&t).copied().unwrap_or(false) {
                acc.tls_old[i] += 1.0;
            }
        }
        let known = acc.base_agents.contains_key(&r.user_agent);
        if !known {
            acc.new_ua[i] += 1.0;
        }
        if i >= b.baseline_end {
            *acc.agents.entry(r.user_agent).or_default() += 1;
            if let Some(t) = r.tls_version {
                *acc.tls.entry(t).or_default() += 1;
            }
        }
    }
    let mut names: Vec<Sym> = by_proxy.keys().copied().collect();
    names.sort_unstable();
    for p in names {
        let acc = &by_proxy[&p];
        let c = reg.id(p);
        if !proxies.contains(&c) {
            proxies.push(c);
        }
        let rate =
            |signal: &str, num: &Vec<f64>, den: &Vec<f64>, role: Role, weight: f64| Feature {
                component: c,
                signal: signal.into(),
                modality: Modality::AccessLogs,
                role,
                dir: Direction::Up,
                weight,
                unit: "%",
                values: Values::Rate {
                    num: num.clone(),
                    den: den.clone(),
                    floor: 0.02,
                },
            };
        set.features
            .push(rate("http_4xx_share", &acc.e4, &acc.n, Role::Own, 0.8));
        set.features
            .push(rate("http_5xx_share", &acc.e5, &acc.n, Role::Symptom, 1.0));
        if acc.tls_known.iter().any(|x| *x > 0.0) {
            set.features.push(rate(
                "old_tls_share",
                &acc.tls_old,
                &acc.tls_known,
                Role::Own,
                1.0,
            ));
        }
        // Unknown agents need a baseline to be unknown against.
        if !acc.base_agents.is_empty() {
            set.features.push(rate(
                "new_user_agent_share",
                &acc.new_ua,
                &acc.n,
                Role::Own,
                1.0,
            ));
        }
        let mean_lat = acc
            .lat
            .iter()
            .zip(&acc.n)
            .map(|(l, n)| if *n > 0.0 { l / n } else { f64::NAN })
            .collect();
        set.features.push(Feature {
            component: c,
            signal: "proxy_latency".into(),
            modality: Modality::AccessLogs,
            role: Role::Symptom,
            dir: Direction::Up,
            weight: 1.0,
            unit: "ms",
            values: Values::Level {
                values: mean_lat,
                floor: Floor {
                    abs: 1000.0,
                    rel: 0.15,
                },
            },
        });
        set.features.push(Feature {
            component: c,
            signal: "proxy_requests".into(),
            modality: Modality::AccessLogs,
            role: Role::Symptom,
            dir: Direction::Both,
            weight: 0.3,
            unit: "",
            values: Values::Level {
                values: acc.n.clone(),
                floor: Floor { abs: 1.0, rel: 0.2 },
            },
        });
        let top = |m: &FxHashMap<Sym, u64>, keep: &dyn Fn(&Sym) -> bool| {
            let mut v: Vec<(Sym, u64)> = m
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, n)| (*k, *n))
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            v.truncate(5);
            v
        };
        set.proxies.insert(
            c,
            ProxyDetail {
                new_agents: top(&acc.agents, &|k| !acc.base_agents.contains_key(k)),
                agents: top(&acc.agents, &|_| true),
                tls: top(&acc.tls, &|_| true),
            },
        );
    }
}

fn logs(obs: &Observations, b: &Buckets, reg: &mut Registry, set: &mut FeatureSet) {
    if obs.logs.is_empty() {
        return;
    }
    struct Acc {
        n: Vec<f64>,
        err: Vec<f64>,
        exc: Vec<f64>,
        new_err: Vec<f64>,
    }
    // The warnings and errors each component printed in the baseline, by template.
    let mut known: FxHashMap<(Sym, Sym), ()> = FxHashMap::default();
    for l in &obs.logs {
        if b.index(l.time).is_some_and(|i| i < b.baseline_end) {
            known.insert((l.component, l.template), ());
        }
    }
    let about_other = templates_naming_others(obs);
    let mut by_comp: FxHashMap<Sym, Acc> = FxHashMap::default();
    for l in &obs.logs {
        let Some(i) = b.index(l.time) else { continue };
        let acc = by_comp.entry(l.component).or_insert_with(|| Acc {
            n: vec![0.0; b.count],
            err: vec![0.0; b.count],
            exc: vec![0.0; b.count],
            new_err: vec![0.0; b.count],
        });
        acc.n[i] += 1.0;
        // A line that names another component ("No instances available for
        // X", "call to X refused") reports that component's trouble: it
        // counts as a symptom of the logger, never as its own fault.
        let own = !about_other.contains(&(l.component, l.message));
        if own
            && l.level >= ingest::LogLevel::Warn
            && !known.contains_key(&(l.component, l.template))
        {
            acc.new_err[i] += 1.0;
        }
        if l.level >= ingest::LogLevel::Error {
            acc.err[i] += 1.0;
            if own && l.exception.is_some() {
                acc.exc[i] += 1.0;
            }
        }
    }
    let mut names: Vec<Sym> = by_comp.keys().copied().collect();
    names.sort_unstable();
    for s in names {
        let acc = &by_comp[&s];
        let c = reg.id(s);
        let rate = |signal: &str, num: &Vec<f64>, role: Role, weight: f64, floor: f64| Feature {
            component: c,
            signal: signal.into(),
            modality: Modality::Logs,
            role,
            dir: Direction::Up,
            weight,
            unit: "%",
            values: Values::Rate {
                num: num.clone(),
                den: acc.n.clone(),
                floor,
            },
        };
        // Errors are a small share of a chatty service's lines: a tenth of a
        // percent of its lines turning into exceptions already matters.
        set.features
            .push(rate("exception_logs", &acc.exc, Role::Own, 0.8, 0.002));
        set.features
            .push(rate("error_logs", &acc.err, Role::Symptom, 0.5, 0.02));
        set.features.push(rate(
            "new_error_templates",
            &acc.new_err,
            Role::Own,
            1.0,
            0.002,
        ));
    }
}

/// The (component, masked message) pairs of warnings and errors whose text
/// names another component of the system, as a whole word.
fn templates_naming_others(obs: &Observations) -> FxHashSet<(Sym, Sym)> {
    let mut comps: Vec<Sym> = obs
        .spans
        .iter()
        .map(|s| s.component)
        .chain(obs.logs.iter().map(|l| l.component))
        .chain(obs.series.iter().map(|s| s.component))
        .collect();
    comps.sort_unstable();
    comps.dedup();
    let mut pairs: Vec<(Sym, Sym)> = obs
        .logs
        .iter()
        .filter(|l| l.level >= ingest::LogLevel::Warn)
        .map(|l| (l.component, l.message))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
    pairs
        .into_iter()
        .filter(|&(logger, message)| {
            let text = obs.names.name(message).as_bytes();
            comps.iter().filter(|&&c| c != logger).any(|&c| {
                let name = obs.names.name(c).as_bytes();
                memchr::memmem::find_iter(text, name).any(|at| {
                    let before = at.checked_sub(1).map(|i| text[i]);
                    let after = text.get(at + name.len()).copied();
                    !before.is_some_and(word) && !after.is_some_and(word)
                })
            })
        })
        .collect()
}

/// Lines an operation used to print and now prints less: each log line is tied
/// to the operation of the span it was written in, and the share of the
/// operation's requests that print it is compared with the baseline's. An
/// early return or an exception thrown before the line leaves it unwritten.
/// The same test also runs on pairs of lines: a line that followed another
/// in every baseline request and now is missing after it marks where the
/// code path broke off, even when the line was printed by few requests.
fn missing_lines(obs: &Observations, b: &Buckets, reg: &mut Registry, set: &mut FeatureSet) {
    if !obs.logs.iter().any(|l| l.span_id.is_some()) || obs.spans.is_empty() {
        return;
    }
    // Requests per (component, operation), baseline and analysed. A handler
    // shared by several endpoints of the component (one controller method
    // behind two routes) is told apart by the span that called it there:
    // each route has its own path through the code.
    let parent_op: FxHashMap<u64, (Sym, Sym)> = obs
        .spans
        .iter()
        .map(|s| (s.span_id, (s.component, s.operation)))
        .collect();
    // An operation: (the calling operation in the same component, if any,
    // the span's own operation).
    type Op = (Option<Sym>, Sym);
    let mut op_of: FxHashMap<u64, (Sym, Op, usize)> = FxHashMap::default();
    let mut requests: FxHashMap<(Sym, Op), [f64; 2]> = FxHashMap::default();
    for s in &obs.spans {
        let Some(i) = b.index(s.start) else { continue };
        let half = usize::from(i >= b.baseline_end);
        let via = parent_op
            .get(&s.parent_id)
            .filter(|(pc, _)| *pc == s.component)
            .map(|(_, pop)| *pop);
        let op = (via, s.operation);
        op_of.insert(s.span_id, (s.component, op, half));
        requests.entry((s.component, op)).or_default()[half] += 1.0;
    }
    // The flow lines each request printed, each template once: shares of
    // requests, so a line printed in a loop does not weigh more. Error lines
    // are left out: an error line that stops is recovery, not a fault.
    let mut printed: FxHashMap<u64, Vec<Sym>> = FxHashMap::default();
    for l in &obs.logs {
        let Some(span) = l.span_id else { continue };
        if l.level >= ingest::LogLevel::Warn
            || op_of
                .get(&span)
                .is_none_or(|&(comp, _, _)| comp != l.component)
        {
            continue;
        }
        let t = printed.entry(span).or_default();
        if !t.contains(&l.template) {
            t.push(l.template);
        }
    }
    // (component, operation, condition, line): requests that printed the
    // condition line (or, for `None`, every request) and, of those, the
    // requests that also printed the line.
    type Key = (Sym, Op, Option<Sym>, Sym);
    let mut with: FxHashMap<Key, [f64; 2]> = FxHashMap::default();
    let mut cond: FxHashMap<(Sym, Op, Sym), [f64; 2]> = FxHashMap::default();
    let mut spans: Vec<&u64> = printed.keys().collect();
    spans.sort_unstable();
    for span in spans {
        let (comp, op, half) = op_of[span];
        let t = &printed[span];
        for &a in t {
            cond.entry((comp, op, a)).or_default()[half] += 1.0;
            with.entry((comp, op, None, a)).or_default()[half] += 1.0;
            for &l in t.iter().filter(|&&l| l != a) {
                with.entry((comp, op, Some(a), l)).or_default()[half] += 1.0;
            }
        }
    }
    let totals = |comp: Sym, op: Op, after: Option<Sym>| match after {
        None => requests[&(comp, op)],
        Some(a) => cond[&(comp, op, a)],
    };
    // Lines printed by more requests than before, in the same requests: the
    // other branch of an `if` taken more often. A line missing while another
    // of its requests' lines gains as much is a change in what requests
    // ask, not a broken code path.
    #[allow(clippy::type_complexity)]
    let mut gained: FxHashMap<(Sym, Op, Option<Sym>), Vec<(Sym, f64)>> = FxHashMap::default();
    for (&(comp, op, after, line), &[base, now]) in &with {
        let [base_req, now_req] = totals(comp, op, after);
        if base_req > 0.0 {
            gained
                .entry((comp, op, after))
                .or_default()
                .push((line, now - base / base_req * now_req));
        }
    }
    let mut best: FxHashMap<Sym, (f64, String)> = FxHashMap::default();
    let mut keys: Vec<&Key> = with.keys().collect();
    keys.sort_unstable();
    for key in keys {
        let [base, now] = with[key];
        let (comp, op, after, line) = *key;
        let [base_req, now_req] = totals(comp, op, after);
        // Only lines printed reliably, on enough requests: a pair must have
        // held in nearly every baseline request.
        let least = if after.is_some() { 0.9 } else { 0.2 };
        if base_req < 5.0 || base / base_req < least {
            continue;
        }
        let expected = base / base_req * now_req;
        if expected < 5.0 {
            continue;
        }
        // Two-sample test of the share: binomial spread over the requests
        // now and over the baseline's (whose share is itself an estimate),
        // plus 5% for the drift of what requests ask.
        let share = (base / base_req).min(1.0);
        let spread = (share * (1.0 - share)).max(0.5 / base_req);
        let var = spread * now_req * (1.0 + now_req / base_req) + (0.05 * expected).powi(2);
        let z = (expected - now) / var.sqrt();
        let switched = gained[&(comp, op, after)]
            .iter()
            .any(|&(other, gain)| other != line && gain >= 0.5 * (expected - now));
        if !switched && z > best.get(&comp).map_or(0.0, |b| b.0) {
            let op_name = match op.0 {
                Some(via) => format!("{} (via {})", obs.names.name(op.1), obs.names.name(via)),
                None => obs.names.name(op.1).to_string(),
            };
            let note = match after {
                None => format!(
                    "{now:.0} of an expected {expected:.0} {op_name} requests printed \"{}\"",
                    obs.names.name(line),
                ),
                Some(a) => format!(
                    "{now:.0} of an expected {expected:.0} {op_name} requests printed \"{}\" after \"{}\"",
                    obs.names.name(line),
                    obs.names.name(a),
                ),
            };
            best.insert(comp, (z.min(crate::score::MAX_Z), note));
        }
    }
    let mut out: Vec<(u32, f64, String)> = best
        .into_iter()
        .map(|(c, (z, note))| (reg.id(c), z, note))
        .collect();
    out.sort_by_key(|a| a.0);
    set.missing_lines = out;
}

/// How strongly a component's dumps show a leak: the growth of its leaking
/// goroutines against the count before (a Poisson z, `growth / √(before +
/// growth)`), or with one dump `√stuck` of those that have waited minutes;
/// capped like every score.
fn leak_score(a: &crate::goroutines::Analysis) -> f64 {
    let leaked: u64 = a.leaks.iter().map(|l| l.count).sum();
    let grown: i64 = a.leaks.iter().map(|l| l.growth.max(0)).sum();
    let z = if a.dumps > 1 {
        grown as f64 / (leaked.max(1) as f64).sqrt()
    } else {
        (leaked as f64).sqrt()
    };
    z.min(crate::score::MAX_Z)
}

/// The goroutine dumps of each component, analysed over the window: each dump
/// sits in the bucket it was taken in (one without a time at the start of the
/// analysed period), and the heat of a bucket is the score of the dumps up to it.
fn goroutine_leaks(
    obs: &Observations,
    b: &Buckets,
    names: &mut Vec<String>,
) -> Vec<GoroutineLeakSeen> {
    let mut out = Vec::new();
    for cd in &obs.goroutines {
        let placed: Vec<(usize, &ingest::Dump)> = cd
            .dumps
            .iter()
            .filter_map(|d| match d.at {
                Some(t) => b.index(t).map(|i| (i, &d.dump)),
                None => Some((b.baseline_end.min(b.count.saturating_sub(1)), &d.dump)),
            })
            .collect();
        if placed.is_empty() {
            continue;
        }
        let component = match names.iter().position(|n| *n == cd.component) {
            Some(i) => i as u32,
            None => {
                names.push(cd.component.clone());
                (names.len() - 1) as u32
            }
        };
        let mut heat = vec![0.0; b.count];
        for k in 0..placed.len() {
            let upto: Vec<&ingest::Dump> = placed[..=k].iter().map(|p| p.1).collect();
            let z = leak_score(&crate::goroutines::analyse(&upto));
            for h in &mut heat[placed[k].0..] {
                *h = z;
            }
        }
        let all: Vec<&ingest::Dump> = placed.iter().map(|p| p.1).collect();
        let a = crate::goroutines::analyse(&all);
        let note = match a.leaks.first() {
            Some(l) => format!(
                "{} goroutines ({:+}) {} at {}, created by {}{}; pattern {}{}",
                l.count,
                l.growth,
                if l.blocked_in.is_empty() {
                    "blocked".to_string()
                } else {
                    format!("blocked in {}", l.blocked_in)
                },
                l.blocking_site,
                if l.created_by.is_empty() {
                    "(not shown)"
                } else {
                    &l.created_by
                },
                if l.max_wait_minutes > 0 {
                    format!(", waiting up to {} min", l.max_wait_minutes)
                } else {
                    String::new()
                },
                l.pattern,
                if a.leaks.len() > 1 {
                    format!(" (and {} more leaking sites)", a.leaks.len() - 1)
                } else {
                    String::new()
                },
            ),
            None => format!("{} goroutines, no leak", a.goroutines),
        };
        out.push(GoroutineLeakSeen {
            component,
            score: leak_score(&a),
            note,
            heat,
        });
    }
    out.sort_by_key(|g| g.component);
    out
}
