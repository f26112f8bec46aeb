//! Cause and effect along the causal graph.
//!
//! The graph is a petgraph `DiGraph` of components, an edge per caller →
//! callee pair seen in the traces or in service-graph metrics. Three things
//! are worked out on it:
//!
//! 1. **Where time on the wire is lost.** Each call edge's wire time is
//!    scored against the edge's own baseline, and a slowed edge is charged
//!    to the endpoint that the other edges at both ends point at: calls
//!    into X slow for a majority of X's other callers → X (its network,
//!    `network_in`; or, when X emits no spans, X itself, `calls_in_latency`);
//!    X's calls to Y slow while Y serves its other callers as before → X
//!    (`network_out` when several of X's calls out slow down, its network's
//!    egress; else `client_wait`, its pool or client for Y); an edge with no
//!    other edge to compare at the callee is charged by the endpoint whose
//!    other edges slowed too, else to the callee.
//! 2. **Which symptoms a callee explains.** Where latency and errors are only
//!    known from metrics (inclusive of what a component calls), a
//!    component's rise is its own only for the part its callees' rises do
//!    not cover, in the signal's own unit: seconds of latency, errors per
//!    second.
//! 3. **Where a component sits**: which components have calls at all, the
//!    path from a root cause up to the alerting component.

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction as Dir;
use rustc_hash::FxHashMap;

use crate::features::{log_ratio, EdgeSource, EdgeStats, FeatureSet, Values};
use crate::params::Params;
use crate::score::{self, Direction, SampleStats};
use crate::signal::SignalKind;
use crate::window::Buckets;

/// An edge's wire time, scored.
#[derive(Clone, Debug)]
pub struct EdgeScore {
    /// Per bucket.
    pub z: Vec<f64>,
    pub sustained: f64,
    /// Baseline calls behind the edge's own typical (0: none).
    pub base_calls: usize,
    /// The reference the edge was judged against, µs: its own baseline
    /// typical, or the network's when the edge is far slower than that.
    pub typical_us: f64,
    /// The analysed calls' median wire time, µs.
    pub now_us: f64,
    /// Judged against the network's typical rather than its own baseline.
    pub by_network: bool,
}

impl EdgeScore {
    /// Calls after the baseline, and a reference to judge them by.
    pub fn judged(&self) -> bool {
        self.typical_us.is_finite() && self.now_us.is_finite()
    }

    fn unjudged(b: &Buckets) -> EdgeScore {
        EdgeScore {
            z: vec![f64::NAN; b.count],
            sustained: 0.0,
            base_calls: 0,
            typical_us: f64::NAN,
            now_us: f64::NAN,
            by_network: false,
        }
    }
}

/// One reference an edge's calls are scored against.
fn scored_against(
    e: &EdgeStats,
    typical: f64,
    stats: SampleStats,
    per_call: bool,
    soft: f64,
    b: &Buckets,
    p: &Params,
) -> (Vec<f64>, f64) {
    let values = bucket_values(e, typical, soft, b);
    let z: Vec<f64> = if per_call {
        score::median_z(&values, stats, p.per_request_floor, Direction::Up)
    } else {
        // Against the network: the uncertainty is how much edges differ,
        // which more calls of one edge do not shrink.
        values
            .iter()
            .map(|v| {
                let mut v = v.clone();
                let m = score::median_f32(&mut v);
                if m.is_nan() {
                    return f64::NAN;
                }
                score::floored(m - stats.center, stats.spread, p.per_request_floor).max(0.0)
            })
            .collect()
    };
    let onset = score::onset(&z[b.analysed()], p.significant_z).map(|i| i + b.baseline_end);
    // A metric edge's waits are per-sample means, a handful in the analysed
    // period (one a minute): one sample's blip is not a sustained change.
    // Its score is the median of all analysed samples' against the
    // reference: a cause lasts, so it moves most of them.
    let by_samples = e.source == EdgeSource::Metrics;
    let from = if by_samples {
        b.baseline_end
    } else {
        score::pool_from(onset, b.baseline_end, b.count, p.sustained_share)
    };
    let pooled = if per_call {
        score::pooled_median_z(&values, from, stats, p.per_request_floor, Direction::Up)
    } else {
        let mut all: Vec<f32> = values[from..].iter().flatten().copied().collect();
        let m = score::median_f32(&mut all);
        if m.is_nan() {
            0.0
        } else {
            score::floored(m - stats.center, stats.spread, p.per_request_floor).max(0.0)
        }
    };
    let sustained = if by_samples {
        pooled
    } else {
        score::sustained(&z[b.analysed()], p.sustained_share, true).max(pooled)
    };
    (z, sustained)
}

/// Scores every edge's wire time against two references:
/// - the edge's own baseline calls (their median; the spread of edges with
///   a thin baseline, fewer than `min_baseline_requests` calls, is the
///   network's pooled over all edges, and no edge is taken to jitter less
///   than that);
/// - the network's: between instrumented components the wire is one fabric,
///   so an edge's wire time is also judged against the median over edges of
///   their median wire time, with the spread between edges as the
///   uncertainty. This needs no baseline at all, so a delay already under
///   way when the baseline was taken (or no baseline) still shows as calls
///   far slower than the network's.
///
/// The edge's score is the larger of the two.
pub fn score_edges(edges: &[EdgeStats], b: &Buckets, p: &Params) -> Vec<EdgeScore> {
    // Each instrumented edge's median wire time over the whole window, and
    // the network's typical: the median of those.
    let medians: Vec<f64> = edges
        .iter()
        .filter(|e| e.callee_traced)
        .filter_map(|e| {
            let mut all: Vec<f64> = e.waits.iter().map(|(_, w)| f64::from(*w)).collect();
            score::median(&mut all)
        })
        .collect();
    let network_typical = (medians.len() >= 3)
        .then(|| score::median(&mut medians.clone()))
        .flatten();
    // Wire times are compared in units that include one typical network
    // hop: a call a millisecond slower on a 3 ms network is jitter, one a
    // hop slower is not.
    let soft = p.wire_soft_us.max(network_typical.unwrap_or(0.0));
    let mut typical = vec![None; edges.len()];
    let mut pooled: Vec<f64> = Vec::new();
    let mut own_stats: Vec<Option<SampleStats>> = vec![None; edges.len()];
    for (k, e) in edges.iter().enumerate() {
        let mut base: Vec<f64> = e
            .waits
            .iter()
            .filter(|(bi, _)| (*bi as usize) < b.baseline_end)
            .map(|(_, w)| f64::from(*w))
            .collect();
        let n = base.len();
        let Some(t) = score::median(&mut base) else {
            continue;
        };
        typical[k] = Some((t, n));
        let mut v: Vec<f64> = base.iter().map(|w| log_ratio(*w, t, soft)).collect();
        pooled.extend_from_slice(&v);
        own_stats[k] = score::sample_stats(&mut v, p.min_baseline_requests, p.min_request_spread);
    }
    let pooled_spread = score::sample_stats(&mut pooled, 1, p.min_request_spread)
        .map_or(p.min_request_spread, |s| s.spread);
    // How edges differ around the network's typical; a cross-section of
    // fewer than three edges says nothing.
    let network = network_typical.map(|typ| {
        let mut logs: Vec<f64> = medians.iter().map(|x| log_ratio(*x, typ, soft)).collect();
        let st = score::sample_stats(&mut logs, 3, p.min_request_spread);
        let spread = st.map_or(p.min_request_spread, |s| s.spread);
        // The median of the edges' medians is itself an estimate.
        let n = medians.len() as f64;
        (typ, spread * (1.0 + std::f64::consts::FRAC_PI_2 / n).sqrt())
    });
    edges
        .iter()
        .enumerate()
        .map(|(k, e)| {
            let mut now: Vec<f64> = e
                .waits
                .iter()
                .filter(|(bi, _)| (*bi as usize) >= b.baseline_end)
                .map(|(_, w)| f64::from(*w))
                .collect();
            let now_us = score::median(&mut now).unwrap_or(f64::NAN);
            let own = typical[k].map(|(t, n)| {
                // No edge's calls are taken to jitter less than the network's
                // do in general: a few quiet baseline calls do not make it exact.
                let stats = match own_stats[k] {
                    Some(st) => SampleStats {
                        spread: st.spread.max(pooled_spread),
                        ..st
                    },
                    None => SampleStats {
                        center: 0.0,
                        spread: pooled_spread,
                        n,
                    },
                };
                let (z, sustained) = scored_against(e, t, stats, true, soft, b, p);
                (z, sustained, t, n)
            });
            let by_network = network.filter(|_| e.callee_traced).map(|(typ, spread)| {
                let stats = SampleStats {
                    center: 0.0,
                    spread,
                    n: 1,
                };
                let (z, sustained) = scored_against(e, typ, stats, false, soft, b, p);
                (z, sustained, typ)
            });
            let mut score = match (own, by_network) {
                (Some((z, s, t, n)), Some((zn, sn, typ))) if sn > s => EdgeScore {
                    z: z.iter().zip(&zn).map(|(a, b)| a.max(*b)).collect(),
                    sustained: sn,
                    base_calls: n,
                    typical_us: typ,
                    now_us,
                    by_network: true,
                }
                .with_own_typical(t),
                (Some((z, s, t, n)), _) => EdgeScore {
                    z,
                    sustained: s,
                    base_calls: n,
                    typical_us: t,
                    now_us,
                    by_network: false,
                },
                (None, Some((zn, sn, typ))) => EdgeScore {
                    z: zn,
                    sustained: sn,
                    base_calls: 0,
                    typical_us: typ,
                    now_us,
                    by_network: true,
                },
                (None, None) => EdgeScore::unjudged(b),
            };
            if !now_us.is_finite() {
                score.now_us = f64::NAN;
            }
            tracing::trace!(
                edge = k,
                base_calls = score.base_calls,
                typical_us = score.typical_us,
                now_us,
                by_network = score.by_network,
                sustained = score.sustained,
                "edge"
            );
            score
        })
        .collect()
}

impl EdgeScore {
    /// Keeps the network's verdict but shows the edge's own typical where it
    /// had one (an SRE compares a call with what it used to take).
    fn with_own_typical(mut self, own: f64) -> EdgeScore {
        self.typical_us = own;
        self
    }
}

/// Each call's log(wire time / the edge's typical), per bucket.
fn bucket_values(e: &EdgeStats, typical: f64, soft: f64, b: &Buckets) -> Vec<Vec<f32>> {
    let mut v = vec![Vec::new(); b.count];
    for &(bi, w) in &e.waits {
        v[bi as usize].push(log_ratio(f64::from(w), typical, soft) as f32);
    }
    v
}

/// A slowed edge, charged to one of its endpoints.
#[derive(Clone, Debug)]
pub struct Charge {
    pub component: u32,
    pub kind: SignalKind,
    /// Indices into `FeatureSet::edges`.
    pub edges: Vec<usize>,
    /// Per bucket, the charged calls pooled.
    pub z: Vec<f64>,
    pub sustained: f64,
    pub onset: Option<usize>,
    pub note: String,
}

/// The causal graph of one incident.
pub struct Graph {
    pub g: DiGraph<u32, usize>,
    node: Vec<NodeIndex>,
}

impl Graph {
    pub fn new(set: &FeatureSet) -> Graph {
        let mut g = DiGraph::new();
        let node: Vec<NodeIndex> = (0..set.components.len() as u32)
            .map(|c| g.add_node(c))
            .collect();
        for (k, e) in set.edges.iter().enumerate() {
            if e.caller != e.callee {
                g.add_edge(node[e.caller as usize], node[e.callee as usize], k);
            }
        }
        Graph { g, node }
    }

    pub fn has_edges(&self) -> bool {
        self.g.edge_count() > 0
    }

    /// Edge indices into `c`.
    pub fn into(&self, c: u32) -> impl Iterator<Item = usize> + '_ {
        self.g
            .edges_directed(self.node[c as usize], Dir::Incoming)
            .map(|e| *e.weight())
    }

    /// Edge indices out of `c`.
    pub fn out_of(&self, c: u32) -> impl Iterator<Item = usize> + '_ {
        self.g
            .edges_directed(self.node[c as usize], Dir::Outgoing)
            .map(|e| *e.weight())
    }

    pub fn callers(&self, c: u32) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .g
            .neighbors_directed(self.node[c as usize], Dir::Incoming)
            .map(|n| self.g[n])
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn callees(&self, c: u32) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .g
            .neighbors_directed(self.node[c as usize], Dir::Outgoing)
            .map(|n| self.g[n])
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn degree(&self, c: u32) -> usize {
        self.g.neighbors_undirected(self.node[c as usize]).count()
    }

    /// Which components reach `c` through their callees (`c` included):
    /// those whose symptoms `c`'s own change can account for.
    pub fn above(&self, c: u32) -> Vec<bool> {
        self.reach(c, Dir::Incoming)
    }

    /// Which components `c` reaches through its callees (`c` included):
    /// those whose own change can account for `c`'s symptoms.
    pub fn below(&self, c: u32) -> Vec<bool> {
        self.reach(c, Dir::Outgoing)
    }

    /// The components reached from `c` (included) along edges in `dir`.
    fn reach(&self, c: u32, dir: Dir) -> Vec<bool> {
        let mut seen = vec![false; self.node.len()];
        seen[c as usize] = true;
        let mut stack = vec![self.node[c as usize]];
        while let Some(x) = stack.pop() {
            for n in self.g.neighbors_directed(x, dir) {
                if !std::mem::replace(&mut seen[self.g[n] as usize], true) {
                    stack.push(n);
                }
            }
        }
        seen
    }

    /// The path from `c` up through its callers: to the nearest of the
    /// alerting components `alerts` by the fewest hops (the earlier alert
    /// between equally near ones; ties of route to the more symptomatic
    /// caller) when one can be reached, else up the most symptomatic callers
    /// until an entry point.
    pub fn path_up(&self, c: u32, alerts: &[u32], symptom: &[f64]) -> Vec<u32> {
        let by_symptom = |v: &mut Vec<u32>| {
            v.sort_by(|p, q| {
                symptom[*q as usize]
                    .total_cmp(&symptom[*p as usize])
                    .then(p.cmp(q))
            });
        };
        if !alerts.is_empty() {
            let n = symptom.len();
            let mut prev: Vec<Option<u32>> = vec![None; n];
            let mut seen = vec![false; n];
            seen[c as usize] = true;
            let mut frontier = vec![c];
            let reached = |seen: &[bool]| alerts.iter().copied().find(|&a| seen[a as usize]);
            while !frontier.is_empty() && reached(&seen).is_none() {
                let mut next = Vec::new();
                for &x in &frontier {
                    let mut ups = self.callers(x);
                    by_symptom(&mut ups);
                    for u in ups {
                        if !seen[u as usize] {
                            seen[u as usize] = true;
                            prev[u as usize] = Some(x);
                            next.push(u);
                        }
                    }
                }
                frontier = next;
            }
            if let Some(a) = reached(&seen) {
                let mut path = vec![a];
                let mut x = a;
                while let Some(p) = prev[x as usize] {
                    path.push(p);
                    x = p;
                }
                path.reverse();
                return path;
            }
        }
        let mut path = vec![c];
        let mut x = c;
        loop {
            let mut ups: Vec<u32> = self
                .callers(x)
                .into_iter()
                .filter(|u| !path.contains(u))
                .collect();
            by_symptom(&mut ups);
            match ups.first() {
                Some(&u) => {
                    path.push(u);
                    x = u;
                }
                None => return path,
            }
        }
    }
}

/// Which endpoint each slowed edge is charged to (see the module docs).
pub fn charge_edges(
    set: &FeatureSet,
    graph: &Graph,
    scores: &[EdgeScore],
    b: &Buckets,
    p: &Params,
) -> Vec<Charge> {
    let slowed = |k: usize| scores[k].judged() && scores[k].sustained >= p.significant_z;
    // The share of judged edges among `ks` that slowed down (None: none judged).
    let share = |ks: &[usize]| -> Option<f64> {
        let judged: Vec<usize> = ks.iter().copied().filter(|&k| scores[k].judged()).collect();
        (!judged.is_empty())
            .then(|| judged.iter().filter(|&&k| slowed(k)).count() as f64 / judged.len() as f64)
    };
    // (component, kind) -> charged edges.
    let mut charged: FxHashMap<(u32, SignalKind), Vec<usize>> = FxHashMap::default();
    let mut client_side: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
    for (k, e) in set.edges.iter().enumerate() {
        // Metric edges are timed where the mesh or the connector gives
        // client and server times per call (`latency_client`,
        // `latency_server`); untimed ones have no waits and are never judged.
        if e.waits.is_empty() || !slowed(k) {
            continue;
        }
        let (a, c) = (e.caller, e.callee);
        let other_callers: Vec<usize> = graph.into(c).filter(|&j| j != k).collect();
        // A metric edge's wire is a mean per minute, not calls: one edge
        // alone cannot tell its network from a few slow calls or a caller
        // busy with error answers. It is charged only where a second edge
        // agrees (below: the callee's other callers, or more of the
        // caller's calls out).
        let by_means = e.source == EdgeSource::Metrics;
        if by_means
            && share(&other_callers).is_none()
            && graph
                .out_of(a)
                .filter(|&j| j != k)
                .all(|j| !scores[j].judged())
        {
            continue;
        }
        let callee_side = match share(&other_callers) {
            // The callee's other callers decide: it is slow for them too, or not.
            Some(s) => s >= p.consensus_share,
            // No other caller to compare: the caller's side when a majority of
            // its other edges slowed too, and more of them than of the
            // callee's calls out; else the callee's.
            None => {
                let at_callee: Vec<usize> = graph.out_of(c).collect();
                let at_caller: Vec<usize> = graph
                    .out_of(a)
                    .chain(graph.into(a))
                    .filter(|&j| j != k)
                    .collect();
                !matches!(
                    (share(&at_caller), share(&at_callee)),
                    (Some(sa), sc) if sa >= p.consensus_share && sc.is_none_or(|sc| sa > sc)
                )
            }
        };
        tracing::debug!(
            caller = %set.components[a as usize],
            callee = %set.components[c as usize],
            z = scores[k].sustained,
            base_calls = scores[k].base_calls,
            typical_ms = scores[k].typical_us / 1000.0,
            now_ms = scores[k].now_us / 1000.0,
            callee_side,
            "slowed edge"
        );
        if callee_side {
            let kind = if e.callee_traced {
                SignalKind::WireIn
            } else {
                SignalKind::SlowCallee
            };
            charged.entry((c, kind)).or_default().push(k);
        } else {
            client_side.entry(a).or_default().push(k);
        }
    }
    // A caller whose calls to several callees wait: its own network's
    // egress; to one callee only: its pool or client for that callee.
    for (a, ks) in client_side {
        // A metric edge alone is never charged to its caller (see above).
        let by_means = ks
            .iter()
            .all(|&k| set.edges[k].source == EdgeSource::Metrics);
        if by_means && ks.len() < 2 {
            continue;
        }
        let kind = if ks.len() >= 2 {
            SignalKind::WireOut
        } else {
            SignalKind::ClientWait
        };
        charged.entry((a, kind)).or_default().extend(ks);
    }
    let mut keys: Vec<(u32, SignalKind)> = charged.keys().copied().collect();
    keys.sort_unstable();
    keys.into_iter()
        .map(|(c, kind)| {
            let ks = &charged[&(c, kind)];
            pooled_charge(set, scores, b, p, c, kind, ks)
        })
        .collect()
}

fn pooled_charge(
    set: &FeatureSet,
    scores: &[EdgeScore],
    b: &Buckets,
    p: &Params,
    c: u32,
    kind: SignalKind,
    ks: &[usize],
) -> Charge {
    // The strongest charged edge, bucket by bucket and sustained.
    let mut z = vec![f64::NAN; b.count];
    let mut sustained: f64 = 0.0;
    for &k in ks {
        for (zi, ek) in z.iter_mut().zip(&scores[k].z) {
            if ek.is_finite() {
                *zi = if zi.is_finite() { zi.max(*ek) } else { *ek };
            }
        }
        sustained = sustained.max(scores[k].sustained);
    }
    let onset = score::onset(&z[b.analysed()], p.significant_z).map(|i| i + b.baseline_end);
    let name = |x: u32| set.components[x as usize].as_str();
    let ms = |us: f64| us / 1000.0;
    let describe = |k: usize| {
        let e = &set.edges[k];
        format!(
            "{} → {} wire p50 {:.1} → {:.1} ms",
            name(e.caller),
            name(e.callee),
            ms(scores[k].typical_us),
            ms(scores[k].now_us)
        )
    };
    let mut listed: Vec<String> = ks.iter().take(3).map(|&k| describe(k)).collect();
    if ks.len() > 3 {
        listed.push(format!("and {} more", ks.len() - 3));
    }
    let what = match kind {
        SignalKind::WireIn | SignalKind::SlowCallee => {
            let callers = set.edges.iter().filter(|e| e.callee == c).count();
            format!(
                "calls into it slower on the wire for {} of its {} callers",
                ks.len(),
                callers
            )
        }
        SignalKind::WireOut => format!(
            "its calls to {} callees slower on the wire while they serve others as before",
            ks.len()
        ),
        _ => "its calls wait longer while the callee serves others as before".to_string(),
    };
    Charge {
        component: c,
        kind,
        edges: ks.to_vec(),
        z,
        sustained,
        onset,
        note: format!("{what}: {}", listed.join(", ")),
    }
}

/// The rise of a scored feature in its own unit (analysed mean minus baseline),
/// for the comparison of a caller's symptom with its callees'.
pub fn rise(values: &Values, b: &Buckets) -> Option<f64> {
    let mean = |v: &[f64]| {
        let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        (!f.is_empty()).then(|| f.iter().sum::<f64>() / f.len() as f64)
    };
    match values {
        Values::Level { values, .. } => {
            let mut base: Vec<f64> = values[..b.baseline_end]
                .iter()
                .copied()
                .filter(|x| x.is_finite())
                .collect();
            let m = score::median(&mut base)?;
            Some(mean(&values[b.baseline_end..])? - m)
        }
        Values::Rate { num, .. } => {
            // Events per second, so that errors compare along the calls.
            let secs = |r: std::ops::Range<usize>| (r.end - r.start) as f64 * b.width as f64 / 1e6;
            let x0: f64 = num[..b.baseline_end].iter().sum();
            let x: f64 = num[b.baseline_end..].iter().sum();
            Some(x / secs(b.analysed()) - x0 / secs(0..b.baseline_end).max(1e-9))
        }
        Values::PerRequest { .. } => None,
    }
}
