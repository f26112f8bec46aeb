//! Ranking root causes: each component's own anomaly, corrected by its place
//! in the causal graph.
//!
//! The rules, each one an SRE would apply by hand:
//! 1. A component is suspect for what it does *itself*: its self time, the
//!    errors it originates, its exceptions, its resources (CPU, memory,
//!    goroutines, pool waits), and at a proxy the traffic it lets in (unknown
//!    user agents, old TLS, 4xx). Inherited latency and errors do not count.
//! 2. Calls *into* a component that slow down for all of its callers point at
//!    the component (a slow network or a slow uninstrumented database); calls
//!    that slow down for one caller only, while the others are served as
//!    before, point at that caller (its own pool or client is the bottleneck).
//! 3. A symptom (latency, errors) that none of a component's callees shows is
//!    the component's own, and counts a little toward it.
//! 4. A real cause spreads: the callers on the way to the alerting component
//!    show symptoms. A suspect on no call path, or on none that leads to the
//!    alert, is discounted.
//! 6. Errors a component logs while one of its callees fails too are most
//!    likely about that callee ("call to X failed") and count a quarter.
//! 5. Scores hold over time: a spike shorter than a quarter of the analysed
//!    period is noise, not a cause (see `score::sustained`).

use ingest::Modality;
use rustc_hash::FxHashMap;

use crate::features::{EdgeStats, Feature, FeatureSet, Role, Values};
use crate::score::{self, Direction, MAX_Z};
use crate::window::Buckets;
use crate::FaultKind;

/// Signals that say a component answers with errors.
const ERROR_SIGNALS: [&str; 8] = [
    "error_rate",
    "errors",
    "exceptions",
    "new_error_templates",
    "exception_logs",
    "error_logs",
    "http_5xx_rate",
    "http_5xx_share",
];
/// Error signals read from a component's own logs.
const LOGGED_ERRORS: [&str; 3] = ["new_error_templates", "exception_logs", "error_logs"];

/// Rule 3's largest contribution, before its weight.
const UNEXPLAINED_CAP: f64 = 10.0;

/// Below this sustained score a feature is treated as normal.
pub const NOISE_Z: f64 = 2.5;
/// A symptom at least this strong counts as spread to that component.
pub const SYMPTOM_Z: f64 = 3.0;

/// A feature after scoring.
pub struct Scored {
    /// Index into `FeatureSet::features`.
    pub feature: usize,
    pub z: Vec<f64>,
    /// Baseline median (levels) or pooled rate (rates).
    pub baseline: f64,
    pub sustained: f64,
    /// Bucket of the largest score in the analysed period.
    pub peak: Option<usize>,
    pub onset: Option<usize>,
}

/// One contribution to a component's suspicion.
#[derive(Clone, Debug)]
pub struct Contribution {
    pub signal: String,
    /// The scored feature behind it, if it is one (edge rules are not).
    pub scored: Option<usize>,
    pub weight: f64,
    pub sustained: f64,
    pub note: Option<String>,
}

/// A component's verdict.
pub struct Suspect {
    pub component: u32,
    pub score: f64,
    pub fault: FaultKind,
    pub contributions: Vec<Contribution>,
}

/// Everything the ranking worked out, for evidence and the heatmap.
pub struct Ranked {
    pub scored: Vec<Scored>,
    pub suspects: Vec<Suspect>,
    /// Per component: the strongest sustained symptom.
    pub symptom: Vec<f64>,
    /// Per edge (same order as `FeatureSet::edges`): per-bucket wait scores.
    pub edge_z: Vec<Vec<f64>>,
}

pub fn score_features(set: &FeatureSet, b: &Buckets) -> Vec<Scored> {
    set.features
        .iter()
        .enumerate()
        .filter_map(|(i, f)| score_feature(i, f, b))
        .collect()
}

fn score_feature(i: usize, f: &Feature, b: &Buckets) -> Option<Scored> {
    match &f.values {
        Values::Level { values, floor } => {
            let base = score::baseline(&values[..b.baseline_end], *floor)?;
            Some(finish(
                i,
                score::level_z(values, base, f.dir),
                base.median,
                b,
            ))
        }
        Values::Samples {
            sum,
            n,
            stats,
            floor,
        } => {
            let z = score::samples_z(sum, n, *stats, *floor, f.dir);
            let mut scored = finish(i, z, stats.center.exp(), b);
            let from = scored.onset.unwrap_or(b.baseline_end);
            let pooled = score::pooled_samples_z(sum, n, from, *stats, *floor, f.dir);
            scored.sustained = scored.sustained.max(pooled);
            Some(scored)
        }
        Values::Rate { num, den, floor } => {
            if den[..b.baseline_end].iter().sum::<f64>() <= 0.0 {
                return None;
            }
            let (z, p0) = score::rate_z(num, den, b.baseline_end, *floor, f.dir);
            let mut scored = finish(i, z, p0, b);
            // A rate is better judged on all the requests since the onset (or the
            // whole analysed period) than bucket by bucket: a quiet component
            // has few requests per bucket.
            let from = scored.onset.unwrap_or(b.baseline_end);
            let pooled = score::pooled_rate_z(num, den, b.baseline_end, from, *floor, f.dir);
            scored.sustained = scored.sustained.max(pooled);
            Some(scored)
        }
    }
}

fn finish(feature: usize, z: Vec<f64>, baseline: f64, b: &Buckets) -> Scored {
    let analysed = &z[b.analysed()];
    let sustained = score::sustained(analysed);
    let peak = analysed
        .iter()
        .enumerate()
        .filter(|(_, x)| x.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i + b.baseline_end);
    let onset = score::onset(analysed, SYMPTOM_Z).map(|i| i + b.baseline_end);
    Scored {
        feature,
        z,
        baseline,
        sustained,
        peak,
        onset,
    }
}

/// Per-bucket scores of an edge's client-side wait, each call against the
/// edge's typical wait in the baseline, and the pooled score of the analysed
/// period.
fn edge_scores(e: &EdgeStats, b: &Buckets) -> (Vec<f64>, f64) {
    let nan = (vec![f64::NAN; b.count], 0.0);
    let mut base: Vec<f64> = e
        .waits
        .iter()
        .filter(|(bi, _)| (*bi as usize) < b.baseline_end)
        .map(|(_, w)| f64::from(*w))
        .collect();
    let Some(typical) = score::median(&mut base) else {
        return nan;
    };
    let mut sum = vec![0.0; b.count];
    let mut n = vec![0.0; b.count];
    let mut base_v = Vec::with_capacity(base.len());
    for &(bi, w) in &e.waits {
        let v = crate::features::log_ratio(f64::from(w), typical, WAIT_SOFT);
        sum[bi as usize] += v;
        n[bi as usize] += 1.0;
        if (bi as usize) < b.baseline_end {
            base_v.push(v);
        }
    }
    let Some(st) = score::sample_stats(&mut base_v, 0.05) else {
        return nan;
    };
    let z = score::samples_z(&sum, &n, st, 0.2, Direction::Up);
    let pooled = score::pooled_samples_z(&sum, &n, b.baseline_end, st, 0.2, Direction::Up);
    (z, pooled)
}

/// Softening of wire waits (µs): a millisecond more on the wire is noise.
const WAIT_SOFT: f64 = 1000.0;

pub fn rank(set: &FeatureSet, b: &Buckets, alert_component: Option<u32>) -> Ranked {
    let nc = set.components.len();
    let scored = score_features(set, b);

    let mut contributions: Vec<Vec<Contribution>> = vec![Vec::new(); nc];
    let mut symptom = vec![0.0f64; nc];
    // How strongly each component shows errors of any kind, its own or inherited.
    let mut erring = vec![0.0f64; nc];
    // Latency as the traces measure it, request by request, where they do: a
    // metric's per-minute tail quantile of the same component is the tail of
    // a few requests and never says more than the traces.
    let mut traced_latency: Vec<Option<f64>> = vec![None; nc];
    for s in &scored {
        let f = &set.features[s.feature];
        if f.signal == "latency" && f.modality == Modality::Traces {
            traced_latency[f.component as usize] = Some(s.sustained);
        }
    }
    for (si, s) in scored.iter().enumerate() {
        let f = &set.features[s.feature];
        let c = f.component as usize;
        tracing::trace!(component = %set.components[c], signal = %f.signal, sustained = s.sustained, onset = ?s.onset, "scored");
        if ERROR_SIGNALS.contains(&f.signal.as_str()) {
            erring[c] = erring[c].max(s.sustained);
        }
        match f.role {
            Role::Own => contributions[c].push(Contribution {
                signal: f.signal.clone(),
                scored: Some(si),
                weight: f.weight,
                sustained: s.sustained,
                note: None,
            }),
            Role::Symptom => {
                let mut z = s.sustained * f.weight.min(1.0);
                if f.modality == Modality::Metrics && f.signal.starts_with("latency") {
                    if let Some(traced) = traced_latency[c] {
                        z = z.min(traced);
                    }
                }
                symptom[c] = symptom[c].max(z);
            }
        }
    }

    // Rule 2: calls into a component, judged across its callers.
    let edge_scored: Vec<(Vec<f64>, f64)> = set.edges.iter().map(|e| edge_scores(e, b)).collect();
    let mut into: FxHashMap<u32, Vec<(u32, f64)>> = FxHashMap::default();
    let mut edge_wait: FxHashMap<(u32, u32), f64> = FxHashMap::default();
    for (e, (z, pooled)) in set.edges.iter().zip(&edge_scored) {
        let s = score::sustained(&z[b.analysed()]).max(*pooled);
        edge_wait.insert((e.caller, e.callee), s);
        into.entry(e.callee).or_default().push((e.caller, s));
    }
    let mut callees: Vec<Vec<u32>> = vec![Vec::new(); nc];
    let mut callers: Vec<Vec<u32>> = vec![Vec::new(); nc];
    for e in &set.edges {
        callees[e.caller as usize].push(e.callee);
        callers[e.callee as usize].push(e.caller);
    }
    let mut callees_sorted: Vec<u32> = into.keys().copied().collect();
    callees_sorted.sort_unstable();
    for callee in callees_sorted {
        let mut v = into[&callee].clone();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let (top_caller, top) = v[0];
        if top < NOISE_Z {
            continue;
        }
        if v.len() == 1 {
            contributions[callee as usize].push(Contribution {
                signal: "calls_in_latency".into(),
                scored: None,
                weight: 1.0,
                sustained: top,
                note: Some(format!(
                    "calls from {} wait longer",
                    set.components[top_caller as usize]
                )),
            });
            continue;
        }
        let second = v[1].1;
        if second >= NOISE_Z {
            // Several callers agree: the component (or its network) is slow.
            let agreeing = v.iter().filter(|x| x.1 >= NOISE_Z).count();
            contributions[callee as usize].push(Contribution {
                signal: "calls_in_latency".into(),
                scored: None,
                weight: 1.0,
                sustained: second,
                note: Some(format!(
                    "{agreeing} of {} callers wait longer on calls into it",
                    v.len()
                )),
            });
        } else {
            // One caller alone waits: the bottleneck is on its side.
            contributions[top_caller as usize].push(Contribution {
                signal: "client_wait".into(),
                scored: None,
                weight: 1.0,
                sustained: top - second,
                note: Some(format!(
                    "its calls to {} wait longer while {} other caller(s) are served as before",
                    set.components[callee as usize],
                    v.len() - 1
                )),
            });
        }
    }

    for (c, z, note) in &set.missing_lines {
        contributions[*c as usize].push(Contribution {
            signal: "missing_log_lines".into(),
            scored: None,
            weight: 1.0,
            sustained: *z,
            note: Some(note.clone()),
        });
    }

    // Rule 6: errors a component logs while one of its callees fails are
    // most likely about that callee ("call to X failed"): they count little.
    for c in 0..nc {
        let Some(d) = callees[c]
            .iter()
            .copied()
            .filter(|d| erring[*d as usize] >= NOISE_Z)
            .max_by(|x, y| erring[*x as usize].total_cmp(&erring[*y as usize]))
        else {
            continue;
        };
        for k in contributions[c]
            .iter_mut()
            .filter(|k| LOGGED_ERRORS.contains(&k.signal.as_str()))
        {
            k.weight *= 0.25;
            k.note = Some(format!(
                "while its callee {} fails too",
                set.components[d as usize]
            ));
        }
    }

    // Rule 3: symptoms no callee explains.
    for c in 0..nc {
        if symptom[c] < NOISE_Z {
            continue;
        }
        // A callee explains it when the callee shows symptoms itself, or when
        // the calls into it wait longer (an uninstrumented database has no
        // symptoms of its own, only slow calls).
        let below = callees[c]
            .iter()
            .map(|d| {
                symptom[*d as usize].max(edge_wait.get(&(c as u32, *d)).copied().unwrap_or(0.0))
            })
            .fold(0.0, f64::max);
        // Weak evidence on its own: it never outweighs a strong own signal.
        let unexplained = (symptom[c] - below).min(UNEXPLAINED_CAP);
        if unexplained >= NOISE_Z {
            contributions[c].push(Contribution {
                signal: "unexplained_symptom".into(),
                scored: None,
                weight: 0.5,
                sustained: unexplained,
                note: Some("latency or errors that none of its callees show".into()),
            });
        }
    }

    let mut suspects: Vec<Suspect> = Vec::new();
    for (c, contribs) in contributions.into_iter().enumerate() {
        let mut contribs: Vec<Contribution> = contribs
            .into_iter()
            .filter(|k| k.sustained >= NOISE_Z)
            .collect();
        if contribs.is_empty() {
            continue;
        }
        contribs.sort_by(|a, b| (b.weight * b.sustained).total_cmp(&(a.weight * a.sustained)));
        let mut own = 0.0;
        for (i, k) in contribs.iter().enumerate() {
            let v = k.weight * k.sustained.min(MAX_Z);
            own += if i == 0 { v } else { 0.15 * v };
        }
        let propagation = propagation(c as u32, alert_component, &callers, &callees, &symptom);
        let fault = classify(&contribs, set.is_proxy[c]);
        tracing::debug!(
            component = %set.components[c],
            own,
            propagation,
            symptom = symptom[c],
            contributions = ?contribs.iter().map(|k| (k.signal.as_str(), (k.sustained * 10.0).round() / 10.0)).collect::<Vec<_>>(),
            "suspect"
        );
        suspects.push(Suspect {
            component: c as u32,
            score: own * propagation,
            fault,
            contributions: contribs,
        });
    }
    suspects.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.component.cmp(&b.component))
    });
    Ranked {
        scored,
        suspects,
        symptom,
        edge_z: edge_scored.into_iter().map(|(z, _)| z).collect(),
    }
}

/// Rule 4: how far the anomaly of `c` could and did spread towards the
/// alert, as a factor from 0.3 to 1.
///
/// - the alerting component itself, or no call graph to judge by: 1;
/// - on no call path at all while others are (a batch job, a cron task): 0.3;
/// - a caller of the alerting component (more load sent its way): 0.6;
/// - a callee, directly or not: 0.6, up to 1 as the callers on its path to the
///   alert show symptoms;
/// - connected, but not to the alert: 0.3, up to 0.5 with symptoms on the way up.
fn propagation(
    c: u32,
    alert: Option<u32>,
    callers: &[Vec<u32>],
    callees: &[Vec<u32>],
    symptom: &[f64],
) -> f64 {
    if Some(c) == alert || callers.iter().all(Vec::is_empty) {
        return 1.0;
    }
    let cu = c as usize;
    if callers[cu].is_empty() && callees[cu].is_empty() {
        return 0.3;
    }
    let path = path_up(c, alert, callers, symptom);
    let above = &path[1..];
    let share = if above.is_empty() {
        0.0
    } else {
        above
            .iter()
            .filter(|n| symptom[**n as usize] >= SYMPTOM_Z)
            .count() as f64
            / above.len() as f64
    };
    match alert {
        None => 0.6 + 0.4 * share,
        Some(a) if path.last() == Some(&a) => 0.6 + 0.4 * share,
        Some(a) if reaches(c, a, callees) => 0.6,
        Some(_) => 0.3 + 0.2 * share,
    }
}

/// Whether `to` can be reached from `from` by following `next`.
fn reaches(from: u32, to: u32, next: &[Vec<u32>]) -> bool {
    let mut seen = vec![false; next.len()];
    let mut stack = vec![from];
    while let Some(x) = stack.pop() {
        if x == to {
            return true;
        }
        if std::mem::replace(&mut seen[x as usize], true) {
            continue;
        }
        stack.extend(next[x as usize].iter().copied());
    }
    false
}

/// The path from `c` up through its callers: to `alert` by the fewest hops
/// (ties to the more symptomatic caller) when it can be reached, otherwise
/// up the most symptomatic callers until an entry point.
pub fn path_up(c: u32, alert: Option<u32>, callers: &[Vec<u32>], symptom: &[f64]) -> Vec<u32> {
    let n = callers.len();
    if let Some(a) = alert {
        // Breadth-first from c over callers.
        let mut prev: Vec<Option<u32>> = vec![None; n];
        let mut seen = vec![false; n];
        seen[c as usize] = true;
        let mut frontier = vec![c];
        while !frontier.is_empty() && !seen[a as usize] {
            let mut next = Vec::new();
            for &x in &frontier {
                let mut ups = callers[x as usize].clone();
                ups.sort_by(|p, q| {
                    symptom[*q as usize]
                        .total_cmp(&symptom[*p as usize])
                        .then(p.cmp(q))
                });
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
        if seen[a as usize] {
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
        let next = callers[x as usize]
            .iter()
            .copied()
            .filter(|u| !path.contains(u))
            .max_by(|p, q| {
                symptom[*p as usize]
                    .total_cmp(&symptom[*q as usize])
                    .then(q.cmp(p))
            });
        match next {
            Some(u) => {
                path.push(u);
                x = u;
            }
            None => return path,
        }
    }
}

/// Which fault the strongest contributions describe.
fn classify(contribs: &[Contribution], is_proxy: bool) -> FaultKind {
    let s = |name: &str| {
        contribs
            .iter()
            .filter(|k| k.signal == name)
            .map(|k| k.sustained)
            .fold(0.0, f64::max)
    };
    let strong = SYMPTOM_Z + 1.0;
    if is_proxy
        && [
            "new_user_agent_share",
            "old_tls_share",
            "http_4xx_share",
            "tls_session_reuse",
        ]
        .iter()
        .any(|n| s(n) >= strong)
    {
        return FaultKind::IngressAbuse;
    }
    if s("goroutines") >= strong {
        return FaultKind::GoroutineLeak;
    }
    if s("pool_pending") >= strong {
        return FaultKind::ConnectionPoolExhaustion;
    }
    if s("exceptions") >= strong || s("exception_logs") >= strong {
        return FaultKind::Exception;
    }
    // A resource that is clearly out of line names the fault before anything
    // it drags along (a leak slows requests; the leak is the cause).
    if s("memory") >= strong && s("memory") >= s("cpu") {
        return FaultKind::MemoryLeak;
    }
    if s("cpu") >= strong {
        return FaultKind::CpuSaturation;
    }
    // Otherwise the strongest contribution that names a kind.
    contribs
        .iter()
        .find_map(|k| match k.signal.as_str() {
            "memory" => Some(FaultKind::MemoryLeak),
            "cpu" => Some(FaultKind::CpuSaturation),
            // Early returns: errors answered, lines skipped, calls not made.
            "error_rate"
            | "http_5xx_rate"
            | "new_error_templates"
            | "missing_log_lines"
            | "call_structure" => Some(FaultKind::ErrorReturn),
            "calls_in_latency" | "self_time" => Some(FaultKind::Latency),
            "client_wait" => Some(FaultKind::ConnectionPoolExhaustion),
            "new_user_agent_share" | "old_tls_share" | "http_4xx_share" | "tls_session_reuse" => {
                Some(FaultKind::IngressAbuse)
            }
            _ => None,
        })
        .unwrap_or(FaultKind::Unknown)
}
