//! Ranking root causes: each component's own change, with what its callees
//! and the wire explain taken out, on one scale.
//!
//! The rules, in the order and with the numbers ARCHITECTURE.md's "5.
//! Ranking" gives them:
//!
//! 1. A component is suspect for what it does *itself* (the signals whose
//!    role is `Own` in the table): its own time, the errors it originates,
//!    its exceptions, its resources, its log lines, what its proxy admits,
//!    and the wire time charged to it (`explain`). Inherited latency and
//!    errors do not count, except the part of a metric-only symptom that
//!    none of its callees' rises covers.
//! 2. Its score is the length of the vector of its strongest evidence per
//!    channel (each modality, and the explained share of the symptom),
//!    `√(Σ_m max_{s∈m} z_s²)`: one channel's strongest signal alone, or
//!    independent channels agreeing, each on the same scale of standard
//!    errors (signals of one modality measure the same thing and are not
//!    added).
//! 3. A component that took part in no call, while others did, cannot have
//!    passed its trouble on through calls: it ranks after every component
//!    that did (a batch job, a cron task, a service nobody called).
//!    Without any call graph (metrics only, no `calls` series), a symptom
//!    cannot be told from its victims' symptoms: a component whose only
//!    evidence is a symptom ranks after every component with evidence of
//!    its own (so that, with metrics only, resource faults come first).
//! 4. Ties are broken by evidence, never by name: the earlier onset, then
//!    more independent modalities.
//! 5. The fault is what the strongest *mechanism* among its significant
//!    signals points at (a resource, an exception, a leak, a pool, a lock
//!    its lines name, calls it no longer answers, an abusive client mix),
//!    else the wire's (the network), else the strongest manifestation's
//!    (self time, or `queueing` when the added own time sits before the
//!    calls; originated errors, changed call structure, skipped log lines);
//!    see `signal::Specificity`.

use ingest::Modality;

use crate::explain::{self, Charge, EdgeScore, Graph};
use crate::features::{log_ratio, Feature, FeatureSet, Values};
use crate::params::Params;
use crate::score;
use crate::signal::{Role, SignalKind, Specificity};
use crate::symptom::{self, SymptomKind};
use crate::window::Buckets;
use crate::FaultKind;

/// What the ranking is asked to explain: the alert's kind of symptom and
/// the components that alerted (ids in the feature set).
#[derive(Clone, Debug, Default)]
pub struct Question {
    pub symptom: SymptomKind,
    pub alerting: Vec<u32>,
    /// An alert fired: the answer is never empty.
    pub fired: bool,
}

/// A feature after scoring.
pub struct Scored {
    /// Index into `FeatureSet::features`.
    pub feature: usize,
    pub z: Vec<f64>,
    /// Baseline median (levels), pooled rate (rates), typical ratio (per request).
    pub baseline: f64,
    pub sustained: f64,
    /// Bucket of the largest score in the analysed period.
    pub peak: Option<usize>,
    pub onset: Option<usize>,
    /// The baseline had too few points to know its spread.
    pub thin: bool,
}

/// One piece of a component's suspicion.
#[derive(Clone, Debug)]
pub struct Contribution {
    pub kind: SignalKind,
    /// The scored feature behind it, if it is one.
    pub scored: Option<usize>,
    /// The charged edges behind it, if it is one (index into `Ranked::charges`).
    pub charge: Option<usize>,
    pub z: f64,
    pub onset: Option<usize>,
    pub note: Option<String>,
    /// For a derived contribution, the kind of signal it was derived from.
    pub via: Option<SignalKind>,
}

impl Contribution {
    pub fn modality(&self) -> Modality {
        self.kind.spec().modality
    }

    /// Independent lines of evidence: each modality, and the component's
    /// share of the symptom (impact, measured apart from its own change).
    fn channel(&self) -> Option<Modality> {
        (self.kind != SignalKind::ExplainsSymptom).then(|| self.modality())
    }
}

/// A component's verdict.
pub struct Suspect {
    pub component: u32,
    pub score: f64,
    pub fault: FaultKind,
    /// Strongest first.
    pub contributions: Vec<Contribution>,
    pub onset: Option<usize>,
    /// Modalities with evidence.
    pub modalities: usize,
    /// On no call path while others are.
    pub isolated: bool,
    /// Its only evidence is a symptom, and no call graph says whether it
    /// was inherited.
    pub symptom_only: bool,
    /// Its evidence can explain the alert: some of it is of a kind that
    /// causes the alert's symptom (`symptom::explains`), and it lies on a
    /// call path through an alerting component (that component, what it
    /// calls, or what calls it), where the graph says.
    pub explains_alert: bool,
}

/// Everything the ranking worked out, for evidence, the heatmap and the page.
pub struct Ranked {
    pub scored: Vec<Scored>,
    pub suspects: Vec<Suspect>,
    /// Per component: the strongest sustained symptom.
    pub symptom: Vec<f64>,
    pub edge_scores: Vec<EdgeScore>,
    pub charges: Vec<Charge>,
    pub graph: Graph,
    /// No component reached `candidate_z`: the suspects are the strongest
    /// changes there were, listed because an alert asked, not because any
    /// stands out.
    pub tentative: bool,
}

pub fn score_features(set: &FeatureSet, b: &Buckets, p: &Params) -> Vec<Scored> {
    set.features
        .iter()
        .enumerate()
        .filter_map(|(i, f)| score_feature(i, f, b, p))
        .collect()
}

fn score_feature(i: usize, f: &Feature, b: &Buckets, p: &Params) -> Option<Scored> {
    let dir = f.kind.spec().direction;
    match &f.values {
        Values::Level { values, floor } => {
            let base = score::level_baseline(&values[..b.baseline_end], *floor)?;
            Some(finish(
                i,
                score::level_z(values, &base, dir),
                base.median,
                base.thin(),
                false,
                b,
                p,
            ))
        }
        Values::PerRequest {
            values,
            stats,
            floor,
        } => {
            let z = score::median_z(values, *stats, *floor, dir);
            let mut scored = finish(i, z, stats.center.exp(), false, true, b, p);
            let from = score::pool_from(scored.onset, b.baseline_end, b.count, p.sustained_share);
            let pooled = score::pooled_median_z(values, from, *stats, *floor, dir);
            scored.sustained = scored.sustained.max(pooled);
            Some(scored)
        }
        Values::Rate { num, den, floor } => {
            let prior = score::RatePrior {
                mean: *floor,
                trials: p.rate_prior_trials,
            };
            let (z, p0) = score::rate_z(num, den, b.baseline_end, prior, *floor, dir);
            let mut scored = finish(i, z, p0, false, true, b, p);
            // A rate is better judged on all the requests since the onset (or
            // the whole analysed period) than bucket by bucket: a quiet
            // component has few requests per bucket.
            let from = score::pool_from(scored.onset, b.baseline_end, b.count, p.sustained_share);
            let pooled = score::pooled_rate_z(num, den, b.baseline_end, from, prior, *floor, dir);
            scored.sustained = scored.sustained.max(pooled);
            Some(scored)
        }
    }
}

fn finish(
    feature: usize,
    z: Vec<f64>,
    baseline: f64,
    thin: bool,
    empty_is_quiet: bool,
    b: &Buckets,
    p: &Params,
) -> Scored {
    let analysed = &z[b.analysed()];
    let sustained = score::sustained(analysed, p.sustained_share, empty_is_quiet);
    let peak = analysed
        .iter()
        .enumerate()
        .filter(|(_, x)| x.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i + b.baseline_end);
    let onset = score::onset(analysed, p.significant_z).map(|i| i + b.baseline_end);
    Scored {
        feature,
        z,
        baseline,
        sustained,
        peak,
        onset,
        thin,
    }
}

pub fn rank(set: &FeatureSet, b: &Buckets, p: &Params, q: &Question) -> Ranked {
    let nc = set.components.len();
    let scored = score_features(set, b, p);
    let graph = Graph::new(set);

    // Symptoms: the strongest inclusive latency or error signal per component.
    // Latency as the traces measure it, request by request, where they do: a
    // metric's per-minute tail quantile of the same component is the tail of
    // a few requests and never says more than the traces.
    let mut traced_latency: Vec<Option<f64>> = vec![None; nc];
    for s in &scored {
        let f = &set.features[s.feature];
        if f.kind == SignalKind::Latency {
            traced_latency[f.component as usize] = Some(s.sustained);
        }
    }
    let mut symptom = vec![0.0f64; nc];
    let mut contributions: Vec<Vec<Contribution>> = vec![Vec::new(); nc];
    let mut named: Vec<usize> = Vec::new();
    for (si, s) in scored.iter().enumerate() {
        let f = &set.features[s.feature];
        let c = f.component as usize;
        tracing::trace!(component = %set.components[c], signal = %f.name(), sustained = s.sustained, onset = ?s.onset, "scored");
        if f.kind == SignalKind::NamedInErrors {
            // Whose side it is depends on how the named component fares.
            named.push(si);
            continue;
        }
        match f.kind.spec().role {
            Role::Own => contributions[c].push(Contribution {
                kind: f.kind,
                scored: Some(si),
                charge: None,
                z: s.sustained,
                onset: s.onset,
                note: None,
                via: None,
            }),
            Role::Symptom => {
                let mut z = s.sustained;
                if f.kind.is_metric_latency() {
                    if let Some(traced) = traced_latency[c] {
                        z = z.min(traced);
                    }
                }
                symptom[c] = symptom[c].max(z);
            }
            Role::Context => {}
        }
    }

    // Others' errors that name a component are about it, unless it serves
    // requests in the analysed period and shows nothing wrong of its own
    // (no significant own signal, no errors answered): then, as with a slow
    // edge, the writer's side failed (its client, its discovery, its pool).
    let healthy: Vec<bool> = (0..nc)
        .map(|c| {
            let serving = set.features.iter().any(|f| {
                f.component as usize == c
                    && f.kind == SignalKind::ErrorsAnswered
                    && matches!(&f.values, Values::Rate { den, .. } if den[b.baseline_end..].iter().sum::<f64>() > 0.0)
            });
            serving
                && symptom[c] < p.significant_z
                && contributions[c].iter().all(|k| k.z < p.significant_z)
        })
        .collect();
    // A component that fails only because its own calls fail (errors
    // answered, none originated) passes its callers' complaints on: they
    // are about where its errors start, which counts them as its own.
    let passes_on: Vec<bool> = (0..nc)
        .map(|c| {
            let z = |kind: SignalKind| {
                scored
                    .iter()
                    .filter(|s| {
                        let f = &set.features[s.feature];
                        f.component as usize == c && f.kind == kind
                    })
                    .map(|s| s.sustained)
                    .fold(0.0, f64::max)
            };
            z(SignalKind::ErrorsAnswered) >= p.significant_z
                && z(SignalKind::ErrorOrigin) < p.significant_z
        })
        .collect();
    for si in named {
        let f = &set.features[scored[si].feature];
        let (about, writer) = (f.component as usize, f.peer.map(|w| w as usize));
        if passes_on[about] {
            continue;
        }
        let (c, note) = match writer {
            Some(w) if healthy[about] => (
                w,
                format!(
                    "its errors name {}, which serves its other callers as before",
                    set.components[about]
                ),
            ),
            Some(w) => (about, format!("errors of {} name it", set.components[w])),
            None => (about, String::new()),
        };
        contributions[c].push(Contribution {
            kind: SignalKind::NamedInErrors,
            scored: Some(si),
            charge: None,
            z: scored[si].sustained,
            onset: scored[si].onset,
            note: Some(note),
            via: None,
        });
    }

    // The wire, charged to the endpoint the slowed edges share.
    let edge_scores = explain::score_edges(&set.edges, b, p);
    let charges = explain::charge_edges(set, &graph, &edge_scores, b, p);
    for (ci, ch) in charges.iter().enumerate() {
        contributions[ch.component as usize].push(Contribution {
            kind: ch.kind,
            scored: None,
            charge: Some(ci),
            z: ch.sustained,
            onset: ch.onset,
            note: Some(ch.note.clone()),
            via: None,
        });
    }

    // The strongest deficit of each component is its evidence (the rest name
    // inner causes).
    for (i, m) in set.missing_lines.iter().enumerate() {
        if i > 0 && set.missing_lines[i - 1].component == m.component {
            continue;
        }
        contributions[m.component as usize].push(Contribution {
            kind: SignalKind::MissingLogLines,
            scored: None,
            charge: None,
            z: m.z,
            onset: None,
            note: Some(m.note.clone()),
            via: None,
        });
    }
    for g in set.goroutine_leaks.iter().filter(|g| g.score > 0.0) {
        contributions[g.component as usize].push(Contribution {
            kind: SignalKind::GoroutineLeak,
            scored: None,
            charge: None,
            z: g.score,
            onset: None,
            note: Some(g.note.clone()),
            via: None,
        });
    }

    // Symptoms known only from metrics: the part no callee's rise covers is
    // the component's own.
    for (si, s) in scored.iter().enumerate() {
        let f = &set.features[s.feature];
        let c = f.component;
        if set.traced[c as usize]
            || f.kind.spec().role != Role::Symptom
            || s.sustained < p.candidate_z
        {
            continue;
        }
        let Some(up) = explain::rise(&f.values, b).filter(|r| *r > 0.0) else {
            continue;
        };
        let covered = graph
            .callees(c)
            .into_iter()
            .filter_map(|d| {
                scored
                    .iter()
                    .filter(|o| {
                        let g = &set.features[o.feature];
                        g.component == d && g.kind == f.kind && o.sustained >= p.candidate_z
                    })
                    .filter_map(|o| explain::rise(&set.features[o.feature].values, b))
                    .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))))
            })
            .fold(0.0f64, f64::max);
        let share = (1.0 - covered / up).clamp(0.0, 1.0);
        if share <= 0.0 {
            continue;
        }
        let note = if graph.callees(c).is_empty() {
            format!(
                "{} rose and it calls nothing that could explain it",
                f.name()
            )
        } else {
            format!(
                "{} rose; its callees' rises cover {:.0}% of it",
                f.name(),
                (1.0 - share) * 100.0
            )
        };
        contributions[c as usize].push(Contribution {
            kind: SignalKind::UnexplainedSymptom,
            scored: Some(si),
            charge: None,
            z: s.sustained * share,
            onset: s.onset,
            note: Some(note),
            via: Some(f.kind),
        });
    }

    for (c, z, note) in explained(set, &charges, p) {
        contributions[c as usize].push(Contribution {
            kind: SignalKind::ExplainsSymptom,
            scored: None,
            charge: None,
            z,
            onset: None,
            note: Some(note),
            via: None,
        });
    }

    // Components on a call path through an alerting one (rule 3): where
    // the graph has edges and an alerting component is in it.
    let on_path: Option<Vec<bool>> = (graph.has_edges() && !q.alerting.is_empty()).then(|| {
        let mut on = vec![false; nc];
        for &a in &q.alerting {
            for (c, (x, y)) in graph.below(a).into_iter().zip(graph.above(a)).enumerate() {
                on[c] |= x || y;
            }
        }
        on
    });
    // Never an empty answer when an alert fired: if nobody reaches the
    // candidate level, the strongest changes are listed, marked tentative.
    let reaches = |k: &Contribution| k.z >= p.candidate_z;
    let tentative = q.fired && !contributions.iter().flatten().any(reaches);
    // A tentative answer lists any change that shows at the precision
    // scores are given in (two decimals): a 0.00 says nothing.
    let least = if tentative { 0.01 } else { p.candidate_z };
    if tentative {
        // What moved at all, symptoms included: a component seen only
        // through its symptom is still a place to look.
        for (si, s) in scored.iter().enumerate() {
            let f = &set.features[s.feature];
            if f.kind.spec().role == Role::Symptom && s.sustained >= least {
                contributions[f.component as usize].push(Contribution {
                    kind: SignalKind::UnexplainedSymptom,
                    scored: Some(si),
                    charge: None,
                    z: s.sustained,
                    onset: s.onset,
                    note: Some(format!("{} changed (inclusive of what it calls)", f.name())),
                    via: Some(f.kind),
                });
            }
        }
    }
    let mut suspects: Vec<Suspect> = Vec::new();
    for (c, contribs) in contributions.into_iter().enumerate() {
        let mut contribs: Vec<Contribution> =
            contribs.into_iter().filter(|k| k.z >= least).collect();
        if contribs.is_empty() {
            continue;
        }
        contribs.sort_by(|a, b| b.z.total_cmp(&a.z).then(a.kind.cmp(&b.kind)));
        // The strongest evidence per channel, combined as a vector length.
        let mut best: Vec<(Option<Modality>, f64)> = Vec::new();
        for k in &contribs {
            if !best.iter().any(|(m, _)| *m == k.channel()) {
                best.push((k.channel(), k.z));
            }
        }
        // √(Σ z²), scaled by the largest so that huge scores do not overflow.
        let top = best.iter().map(|(_, z)| *z).fold(0.0, f64::max);
        let score = if top > 0.0 {
            top * best
                .iter()
                .map(|(_, z)| (z / top).powi(2))
                .sum::<f64>()
                .sqrt()
        } else {
            0.0
        };
        let onset = contribs
            .iter()
            .filter(|k| k.z >= p.significant_z)
            .filter_map(|k| k.onset)
            .min();
        let isolated = graph.has_edges() && graph.degree(c as u32) == 0;
        let symptom_only = !graph.has_edges()
            && contribs
                .iter()
                .all(|k| k.kind == SignalKind::UnexplainedSymptom);
        let explains_alert = on_path.as_ref().is_none_or(|on| on[c])
            && contribs
                .iter()
                .any(|k| symptom::explains(k.kind, k.via, q.symptom));
        let mut fault = classify(&contribs, set.is_proxy[c], p);
        if fault == FaultKind::Latency {
            let own = contribs
                .iter()
                .find(|k| k.kind == SignalKind::SelfTime && k.z >= p.significant_z);
            if let Some(k) = own {
                let from = k.onset.unwrap_or(b.baseline_end).max(b.baseline_end);
                if queues_before_calls(set, c as u32, from, b, p) {
                    fault = FaultKind::Queueing;
                }
            }
        }
        tracing::debug!(
            component = %set.components[c],
            score,
            isolated,
            symptom = symptom[c],
            contributions = ?contribs.iter().map(|k| (k.kind.name(), (k.z * 10.0).round() / 10.0)).collect::<Vec<_>>(),
            "suspect"
        );
        suspects.push(Suspect {
            component: c as u32,
            score,
            fault,
            modalities: best.len(),
            contributions: contribs,
            onset,
            isolated,
            symptom_only,
            explains_alert,
        });
    }
    suspects.sort_by(|a, b| {
        (!a.explains_alert, a.isolated, a.symptom_only)
            .cmp(&(!b.explains_alert, b.isolated, b.symptom_only))
            .then(b.score.total_cmp(&a.score))
            .then(match (a.onset, b.onset) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then(b.modalities.cmp(&a.modalities))
            .then(a.component.cmp(&b.component))
    });
    Ranked {
        scored,
        suspects,
        symptom,
        edge_scores,
        charges,
        graph,
        tentative,
    }
}

/// How much of the symptom each component's own change accounts for, on
/// the engine's scale: the symptom's own score (how far the judged entry
/// requests' latency moved from the baseline) times the component's share
/// of the time they took beyond their typical, read off the requests
/// (`features::Attribution`): its own time beyond its operations' typical,
/// and the wire time of the edges charged to it.
///
/// Failures are not split this way: where error status is missing, errors
/// are read from logs, and a component that fails all day in the analysed
/// window (and did not in a short baseline) would take them all; a failing
/// component's own errors already count as its `error_rate`.
fn explained(set: &FeatureSet, charges: &[Charge], p: &Params) -> Vec<(u32, f64, String)> {
    let a = &set.attribution;
    let nc = set.components.len();
    let mut base = a.base_latency.clone();
    let latency_z =
        match score::sample_stats(&mut base, p.min_baseline_requests, p.min_request_spread) {
            Some(st) if !a.now_latency.is_empty() => {
                let mut now = a.now_latency.clone();
                st.z(
                    score::median_f32(&mut now),
                    now.len(),
                    p.per_request_floor,
                    score::Direction::Up,
                )
            }
            _ => 0.0,
        };
    if !(latency_z >= p.significant_z) {
        return Vec::new();
    }
    let mut time = a.own_us.clone();
    time.resize(nc, 0.0);
    for ch in charges {
        for &k in &ch.edges {
            time[ch.component as usize] += a.wire_us.get(k).copied().unwrap_or(0.0);
        }
    }
    let all_time: f64 = a.own_us.iter().sum::<f64>() + a.wire_us.iter().sum::<f64>();
    if all_time <= 0.0 {
        return Vec::new();
    }
    (0..nc)
        .filter(|&c| time[c] > 0.0)
        .map(|c| {
            let share = time[c] / all_time;
            let note = format!(
                "accounts for {:.0}% of the {:.1} s the judged requests took beyond their typical (symptom score {latency_z:.1})",
                share * 100.0,
                a.excess_us / 1e6
            );
            (c as u32, latency_z * share, note)
        })
        .collect()
}

/// Whether a component's added own time is a wait before its calls go out
/// (a worker pool, a client-side queue) rather than slower work: since
/// `from`, its requests' own time grew, more of the growth lies before
/// their last call than halfway between the baseline's share of own time
/// before calls (what a uniform slowdown keeps) and all of it (what a queue
/// in front of the calls adds), and its calls themselves take as long as
/// before (their median duration within the per-request floor).
fn queues_before_calls(set: &FeatureSet, c: u32, from: usize, b: &Buckets, p: &Params) -> bool {
    let (mut base_own, mut base_before) = (0.0f64, 0.0f64);
    let (mut added_own, mut added_before) = (0.0f64, 0.0f64);
    for (&(comp, _), times) in &set.op_times {
        if comp != c {
            continue;
        }
        let mut acc = [[0.0f64; 3]; 2]; // [base, now] × [n, own, before]
        for r in times {
            if !(r.own.is_finite() && r.before_calls.is_finite()) {
                continue;
            }
            let part = if (r.bucket as usize) < b.baseline_end {
                0
            } else if r.bucket as usize >= from {
                1
            } else {
                continue;
            };
            acc[part][0] += 1.0;
            acc[part][1] += f64::from(r.own);
            acc[part][2] += f64::from(r.before_calls);
        }
        let [[bn, bo, bb], [nn, no, nb]] = acc;
        if bn < p.min_baseline_requests as f64 || nn == 0.0 {
            continue;
        }
        base_own += bo;
        base_before += bb;
        // The growth of this operation's mean, over the requests since.
        added_own += no - nn * bo / bn;
        added_before += nb - nn * bb / bn;
    }
    if !(added_own > 0.0 && base_own > 0.0) {
        return false;
    }
    let p0 = (base_before / base_own).clamp(0.0, 1.0);
    if added_before / added_own <= (1.0 + p0) / 2.0 {
        return false;
    }
    let Some(calls) = set.client_times.get(&c) else {
        return false;
    };
    let (mut base, mut now): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for &(bi, d) in calls {
        if (bi as usize) < b.baseline_end {
            base.push(f64::from(d));
        } else if bi as usize >= from {
            now.push(f64::from(d));
        }
    }
    match (score::median(&mut base), score::median(&mut now)) {
        (Some(before), Some(after)) => {
            log_ratio(after, before, p.latency_soft_us) <= p.per_request_floor
        }
        _ => false,
    }
}

/// Which fault the strongest evidence describes: the strongest significant
/// mechanism's, else the strongest manifestation's (rule 5).
fn classify(contribs: &[Contribution], is_proxy: bool, p: &Params) -> FaultKind {
    // An unexplained symptom points at what the symptom is: a latency rise
    // at latency, a 5xx rise at errors.
    let fault_of = |k: &Contribution| match (k.kind, k.via) {
        (SignalKind::UnexplainedSymptom, Some(via)) => via.spec().fault,
        (kind, _) => kind.spec().fault,
    };
    let applies = |k: &Contribution| match fault_of(k) {
        Some(FaultKind::IngressAbuse) => is_proxy,
        Some(_) => true,
        None => false,
    };
    // Leaked goroutines hold memory (their stacks and what they reference);
    // a leak of memory starts no goroutines: where both are out of line,
    // the goroutines explain the memory.
    let goroutines = contribs.iter().any(|k| {
        matches!(k.kind, SignalKind::Goroutines | SignalKind::GoroutineLeak)
            && k.z >= p.significant_z
    });
    let explained = |k: &Contribution| goroutines && k.kind == SignalKind::Memory;
    let strongest = |spec: Specificity, least: f64| {
        contribs
            .iter()
            .filter(|k| {
                k.kind.spec().specificity == spec && k.z >= least && applies(k) && !explained(k)
            })
            .max_by(|a, b| a.z.total_cmp(&b.z))
            .and_then(fault_of)
    };
    let tiers = [
        Specificity::Mechanism,
        Specificity::Transport,
        Specificity::Manifestation,
    ];
    tiers
        .iter()
        .find_map(|&t| strongest(t, p.significant_z))
        .or_else(|| tiers.iter().find_map(|&t| strongest(t, 0.0)))
        .unwrap_or(FaultKind::Unknown)
}
