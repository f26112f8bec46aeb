//! The engine's entry point: observations in, a [`Localisation`] out.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ingest::{Micros, Modality, Observations};
use sha2::{Digest, Sha256};

use crate::features::{self, FeatureSet};
use crate::params::Params;
use crate::rank::{self, Ranked, Suspect};
use crate::score;
use crate::signal::SignalKind;
use crate::window::{choose_buckets, Buckets, WindowConfig};
use crate::{
    AlertRef, Candidate, Count, Edge, Evidence, Heatmap, IncidentInfo, InnerCause, InnerKind,
    Localisation, Missing,
};

/// Engine settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EngineConfig {
    pub window: WindowConfig,
    pub params: Params,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("no observations inside the window: nothing to localise")]
    NoData,
}

/// How many candidates a localisation lists.
const MAX_CANDIDATES: usize = 10;
/// How many evidence items each candidate carries.
const MAX_EVIDENCE: usize = 4;

pub(crate) use ingest::rfc3339_secs as rfc3339;

fn hhmmss(t: Micros) -> String {
    DateTime::<Utc>::from_timestamp_micros(t)
        .unwrap_or_default()
        .format("%H:%M:%S")
        .to_string()
}

/// The id of the incident of `alert`: its fingerprint and its start in
/// whole seconds. The one formula: the engine, `rca serve`'s queue (which
/// knows the id before the incident exists) and the empty incident of a
/// window with no data all call it.
pub fn alert_incident_id(alert: &ingest::Alert) -> String {
    incident_id(&alert.fingerprint, &rfc3339(alert.starts_at_micros()))
}

/// A stable id: the same alert (fingerprint and start) gives the same id.
pub fn incident_id(fingerprint: &str, starts_at: &str) -> String {
    let mut h = Sha256::new();
    h.update(fingerprint.as_bytes());
    h.update([0]);
    h.update(starts_at.as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// The alerts of `obs` besides the first, the one that names the incident.
pub fn other_alerts(obs: &Observations) -> Vec<AlertRef> {
    obs.alerts
        .iter()
        .skip(1)
        .map(|a| AlertRef {
            fingerprint: a.fingerprint.clone(),
            alert_name: a.name().to_string(),
            alert_component: a.component().map(str::to_string),
            starts_at: rfc3339(a.starts_at_micros()),
            explained: None,
        })
        .collect()
}

/// The modalities `obs` lacks, each with why, as its sources reported them.
pub fn missing_of(obs: &Observations) -> Vec<Missing> {
    obs.sources
        .iter()
        .filter_map(|s| {
            s.missing.as_ref().map(|r| Missing {
                modality: s.modality.to_string(),
                reason: r.clone(),
            })
        })
        .collect()
}

/// Localises the incident in `obs`. Its first alert (if any) names the
/// incident; every alert's component is a symptom (their requests are the
/// ones judged, and the path ends at the nearest of them); the window spans every alert's start: from the
/// earliest less the lookback to the latest plus the settle period, with the
/// baseline ending before the earliest (an alert storm of one outage is one
/// investigation, and no alert's onset may fall in its baseline).
pub fn localise(obs: &Observations, cfg: &EngineConfig) -> Result<Localisation, GraphError> {
    let alert = obs.alerts.first();
    let starts = obs.alerts.iter().map(|a| a.starts_at_micros());
    let (first, last) = (starts.clone().min(), starts.max());
    let mut window = cfg.window.clone();
    if let (Some(f), Some(l)) = (first, last) {
        window.settle += l - f;
    }
    let buckets = choose_buckets(obs, first, &window).ok_or(GraphError::NoData)?;
    // Every alerting component is a symptom: the opener's first.
    let mut alerting_names: Vec<&str> = Vec::new();
    for name in obs.alerts.iter().filter_map(|a| a.component()) {
        if !alerting_names.contains(&name) {
            alerting_names.push(name);
        }
    }
    let ctx = features::Context {
        params: &cfg.params,
        alerts: alerting_names
            .iter()
            .filter_map(|name| obs.names.get(name))
            .collect(),
    };
    let t0 = std::time::Instant::now();
    let set = features::build(obs, &buckets, &ctx);
    let features_s = t0.elapsed().as_secs_f64();
    if set.components.is_empty() {
        return Err(GraphError::NoData);
    }
    let component_of = |name: &str| {
        set.components
            .iter()
            .position(|c| c == name)
            .map(|i| i as u32)
    };
    let alerting: Vec<u32> = alerting_names
        .iter()
        .filter_map(|n| component_of(n))
        .collect();
    let symptom = alert.map(crate::symptom::of_alert).unwrap_or_default();
    let question = rank::Question {
        symptom: symptom.kind,
        alerting: alerting.clone(),
        fired: !obs.alerts.is_empty(),
    };
    let ranked = rank::rank(&set, &buckets, &cfg.params, &question);
    tracing::debug!(
        features_s,
        rank_s = t0.elapsed().as_secs_f64() - features_s,
        "engine"
    );
    // Which alerting components the named cause accounts for: itself, and
    // every component that calls it, directly or through others.
    let above_cause = ranked
        .suspects
        .first()
        .map(|top| ranked.graph.above(top.component));
    let explained = |a: &ingest::Alert| -> Option<bool> {
        let up = above_cause.as_ref()?;
        let c = component_of(a.component()?)?;
        Some(up[c as usize])
    };

    let starts_at = alert
        .map(|a| rfc3339(a.starts_at_micros()))
        .unwrap_or_else(|| rfc3339(buckets.window.start));
    let fingerprint = alert.map(|a| a.fingerprint.clone()).unwrap_or_default();
    let id = match alert {
        Some(a) if !fingerprint.is_empty() => alert_incident_id(a),
        _ => incident_id(
            &format!("window:{}:{}", buckets.window.start, buckets.window.end),
            &starts_at,
        ),
    };
    let incident = IncidentInfo {
        id,
        alert_name: alert.map(|a| a.name().to_string()).unwrap_or_default(),
        alert_component: alert.and_then(|a| a.component()).map(str::to_string),
        fingerprint,
        starts_at,
        window_start: rfc3339(buckets.window.start),
        window_end: rfc3339(buckets.window.end),
        baseline_end: rfc3339(buckets.start_of(buckets.baseline_end)),
        bucket_seconds: buckets.width as f64 / 1e6,
        annotations: alert.map(|a| a.annotations.clone()).unwrap_or_default(),
        other_alerts: other_alerts(obs)
            .into_iter()
            .zip(obs.alerts.iter().skip(1))
            .map(|(r, a)| AlertRef {
                explained: explained(a),
                ..r
            })
            .collect(),
    };

    let ranking: Vec<Candidate> = ranked
        .suspects
        .iter()
        .take(MAX_CANDIDATES)
        .map(|s| candidate(s, &set, &ranked, &buckets, obs))
        .collect();

    let path = match ranked.suspects.first() {
        Some(top) => ranked
            .graph
            .path_up(top.component, &alerting, &ranked.symptom)
            .into_iter()
            .map(|c| set.components[c as usize].clone())
            .collect(),
        None => Vec::new(),
    };

    let modalities = obs.modalities().iter().map(|m| m.to_string()).collect();
    let mut missing = missing_of(obs);
    missing.extend(judged_notes(&set, &ranked, &buckets, &cfg.params));

    let heatmap = heatmap(&set, &ranked, &buckets);
    let detail = crate::detail::build(
        &set,
        &ranked,
        &buckets,
        obs,
        &heatmap.components,
        &cfg.params,
    );
    Ok(Localisation {
        incident,
        symptom,
        confident: !ranked.tentative,
        heatmap,
        edges: edges(&set),
        ranking,
        path,
        modalities,
        missing,
        detail,
    })
}

/// What the baseline could not judge, and why a ranking is empty.
fn judged_notes(set: &FeatureSet, ranked: &Ranked, b: &Buckets, p: &Params) -> Vec<Missing> {
    let mut out = Vec::new();
    let thin: Vec<&rank::Scored> = ranked.scored.iter().filter(|s| s.thin).collect();
    if !thin.is_empty() {
        let mut names: Vec<String> = thin
            .iter()
            .map(|s| set.features[s.feature].name().to_string())
            .collect();
        names.sort_unstable();
        names.dedup();
        out.push(Missing {
            modality: "baseline".into(),
            reason: format!(
                "{} series have fewer than 3 points before {} ({}): judged only against the least change that matters, not against their own spread",
                thin.len(),
                rfc3339(b.start_of(b.baseline_end)),
                names.join(", ")
            ),
        });
    }
    let unjudged: usize = set.unjudged_operations.iter().map(|(_, k)| k).sum();
    if unjudged > 0 {
        out.push(Missing {
            modality: "baseline".into(),
            reason: format!(
                "{unjudged} operations of {} components have fewer than {} requests in the baseline: their own time, latency and calls are not judged",
                set.unjudged_operations.len(),
                p.min_baseline_requests
            ),
        });
    }
    let judged = ranked.scored.len() + ranked.edge_scores.iter().filter(|e| e.judged()).count();
    if ranked.suspects.is_empty() || ranked.tentative {
        let reason = if judged == 0 {
            format!(
                "nothing to judge: no signal has data both in the baseline (before {}) and after it",
                rfc3339(b.start_of(b.baseline_end))
            )
        } else {
            // Own evidence and symptoms apart: a symptom is inclusive of
            // what a component calls, so a strong one says where to look,
            // not who caused it.
            let strongest = |role_is_symptom: bool| {
                ranked
                    .scored
                    .iter()
                    .filter(|s| {
                        let f = &set.features[s.feature];
                        (f.kind.spec().role == crate::signal::Role::Symptom) == role_is_symptom
                    })
                    .max_by(|x, y| x.sustained.total_cmp(&y.sustained))
                    .map(|s| {
                        let f = &set.features[s.feature];
                        format!(
                            "{} of {} at {:.1}",
                            f.name(),
                            set.components[f.component as usize],
                            s.sustained
                        )
                    })
            };
            let own = strongest(false)
                .map(|s| format!(" (the strongest: {s})"))
                .unwrap_or_default();
            let symptom = strongest(true)
                .map(|s| format!("; the strongest symptom, {s}, includes what that component calls and no callee's own change accounts for it"))
                .unwrap_or_default();
            let listed = if ranked.tentative {
                "; the strongest changes are listed as a tentative answer"
            } else {
                ""
            };
            format!(
                "no component stands out from its baseline: {judged} signals judged, no component's own evidence reached {:.1} standard errors{own}{symptom}{listed}",
                p.candidate_z
            )
        };
        out.push(Missing {
            modality: "ranking".into(),
            reason,
        });
    }
    out
}

fn candidate(
    s: &Suspect,
    set: &FeatureSet,
    ranked: &Ranked,
    b: &Buckets,
    obs: &Observations,
) -> Candidate {
    let component = set.components[s.component as usize].clone();
    let address = crate::localisation::is_address(&component);
    let mut evidence: Vec<Evidence> = Vec::new();
    for k in s.contributions.iter().take(MAX_EVIDENCE) {
        let item = match (k.scored, k.charge) {
            (Some(si), _) => {
                let mut e = scored_evidence(&ranked.scored[si], set, b, obs);
                if set.features[ranked.scored[si].feature].kind != k.kind {
                    // Derived from a scored feature (an unexplained symptom).
                    e.signal = k.kind.name().to_string();
                    e.deviation = round2(k.z);
                    if let Some(note) = &k.note {
                        e.summary = format!("{}: {note} ({})", k.kind.name(), e.summary);
                    }
                }
                e
            }
            (None, Some(ci)) => {
                let ch = &ranked.charges[ci];
                let first = ch.edges.first().map(|&e| &ranked.edge_scores[e]);
                let at = ch
                    .onset
                    .or_else(|| peak(&ch.z, b))
                    .unwrap_or(b.baseline_end);
                let before = first.map_or(f64::NAN, |e| e.typical_us / 1000.0);
                let after = first.map_or(f64::NAN, |e| e.now_us / 1000.0);
                Evidence {
                    signal: k.kind.name().to_string(),
                    modality: Modality::Traces.to_string(),
                    at: rfc3339(b.start_of(at)),
                    value: round4(after),
                    baseline: round4(before),
                    deviation: round2(k.z),
                    // The note lists each charged edge's wire time before → after, in ms.
                    summary: format!("{}: {} (score {:.1})", k.kind.name(), ch.note, k.z),
                    unit: "ms".into(),
                    before: finite4(before),
                    after: finite4(after),
                    quantile: "p50".into(),
                    ..Evidence::default()
                }
            }
            (None, None) => Evidence {
                signal: k.kind.name().to_string(),
                modality: k.modality().to_string(),
                // Derived evidence with no series of its own (the share of the
                // symptom, a leak in dumps, skipped lines) is dated when the
                // component's significant evidence began.
                at: rfc3339(b.start_of(k.onset.or(s.onset).unwrap_or(b.baseline_end))),
                value: round2(k.z),
                baseline: 0.0,
                deviation: round2(k.z),
                summary: format!(
                    "{}: {} (score {:.1})",
                    k.kind.name(),
                    k.note.as_deref().unwrap_or(""),
                    k.z
                ),
                ..Evidence::default()
            },
        };
        evidence.push(item);
    }
    Candidate {
        component,
        score: round2(s.score),
        fault: s.fault,
        evidence,
        inner: inner_causes(s, set),
        address,
        explains_alert: s.explains_alert,
    }
}

/// How many inner causes a candidate lists.
const MAX_INNER: usize = 5;

/// Where inside the component: the resources its significant evidence
/// names, the flow events its requests stopped passing (missing log
/// lines), and its most frequent new error template, strongest first.
fn inner_causes(s: &Suspect, set: &FeatureSet) -> Vec<InnerCause> {
    let mut out: Vec<InnerCause> = Vec::new();
    let mut resource = |region: &str, z: f64| match out
        .iter_mut()
        .find(|c| c.kind == InnerKind::Resource && c.region == region)
    {
        Some(c) => c.score = c.score.max(round2(z)),
        None => out.push(InnerCause {
            kind: InnerKind::Resource,
            operation: None,
            region: region.to_string(),
            score: round2(z),
        }),
    };
    for k in &s.contributions {
        match k.kind {
            SignalKind::Cpu => resource("cpu", k.z),
            SignalKind::Memory => resource("memory", k.z),
            SignalKind::WireIn
            | SignalKind::WireOut
            | SignalKind::SlowCallee
            | SignalKind::ClientWait
            | SignalKind::ClientLatency => resource("network", k.z),
            _ => {}
        }
    }
    for m in set
        .missing_lines
        .iter()
        .filter(|m| m.component == s.component)
    {
        out.push(InnerCause {
            kind: InnerKind::Code,
            operation: Some(m.operation.clone()),
            region: m.region.clone(),
            score: round2(m.z),
        });
    }
    let new_errors = s
        .contributions
        .iter()
        .filter(|k| k.kind == SignalKind::NewErrorTemplates)
        .map(|k| k.z)
        .fold(0.0, f64::max);
    if let Some((_, t, _)) = set.new_templates.iter().find(|(c, _, _)| *c == s.component) {
        if new_errors > 0.0 {
            out.push(InnerCause {
                kind: InnerKind::Code,
                operation: None,
                region: t.clone(),
                score: round2(new_errors),
            });
        }
    }
    // A resource out of line comes before the network it slows (see
    // `signal::Specificity`), then the rest by score.
    // Among code regions, where the flow broke off (a missing line) before
    // what the component printed instead (a new error).
    let tier = |c: &InnerCause| match (c.kind, c.region.as_str()) {
        (InnerKind::Resource, "network") => 1,
        (InnerKind::Resource, _) => 0,
        (InnerKind::Code, _) if c.operation.is_some() => 1,
        (InnerKind::Code, _) => 2,
    };
    out.sort_by(|a, b| tier(a).cmp(&tier(b)).then(b.score.total_cmp(&a.score)));
    out.truncate(MAX_INNER);
    out
}

/// The analysed bucket with the largest score.
fn peak(z: &[f64], b: &Buckets) -> Option<usize> {
    z[b.analysed()]
        .iter()
        .enumerate()
        .filter(|(_, x)| x.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i + b.baseline_end)
}

fn scored_evidence(
    sc: &rank::Scored,
    set: &FeatureSet,
    b: &Buckets,
    obs: &Observations,
) -> Evidence {
    let f = &set.features[sc.feature];
    let peak_at = sc.peak.unwrap_or(b.baseline_end);
    // Evidence is dated when its signal changed; its score is its peak's.
    let at = sc.onset.unwrap_or(peak_at);
    let value = crate::detail::value_at(f, peak_at);
    let unit = f.kind.spec().unit.as_str();
    let from = sc
        .onset
        .map(|o| format!(", from {}", hhmmss(b.start_of(o))))
        .unwrap_or_default();
    let thin = if sc.thin { ", thin baseline" } else { "" };
    let change = before_after(f, sc, at, set, b, obs);
    let summary = match &change.text {
        Some(text) => format!(
            "{} {text} (score {:.1}{}{})",
            f.name(),
            sc.z[peak_at],
            from,
            thin
        ),
        None => format!(
            "{} {} vs baseline {} (score {:.1}{}{})",
            f.name(),
            fmt_value(value, unit),
            fmt_value(sc.baseline, unit),
            sc.z[peak_at],
            from,
            thin
        ),
    };
    let trace_ids = if f.kind.spec().modality == Modality::Traces {
        let mut ids: Vec<String> = Vec::new();
        let start = sc.onset.unwrap_or(at);
        for bi in [at, start].into_iter().chain(start..b.count) {
            if let Some(v) = set.examples.get(&(f.component, bi)) {
                for id in v {
                    let s = format!("{id:032x}");
                    if !ids.contains(&s) {
                        ids.push(s);
                    }
                }
            }
            if ids.len() >= 3 {
                break;
            }
        }
        ids.truncate(3);
        ids
    } else {
        Vec::new()
    };
    let (top_user_agents, tls_versions) = match set.proxies.get(&f.component) {
        Some(p) if f.kind.spec().modality == Modality::AccessLogs => {
            let agents = if p.new_agents.is_empty() {
                &p.agents
            } else {
                &p.new_agents
            };
            let counts = |v: &Vec<(ingest::Sym, u64)>| {
                v.iter()
                    .map(|(s, n)| Count {
                        value: obs.names.name(*s).to_string(),
                        count: *n,
                    })
                    .collect::<Vec<_>>()
            };
            (counts(agents), counts(&p.tls))
        }
        _ => (Vec::new(), Vec::new()),
    };
    // One scale per evidence object: `value` (the signal since its change)
    // and `baseline` are in `unit`, as `after` and `before` are.
    let shown = |v: f64, fallback: f64| {
        if v.is_finite() {
            v
        } else {
            fallback * change.scale
        }
    };
    Evidence {
        signal: f.name().to_string(),
        modality: f.kind.spec().modality.to_string(),
        at: rfc3339(b.start_of(at)),
        value: round4(shown(change.after, value)),
        baseline: round4(shown(change.before, sc.baseline)),
        deviation: round2(sc.z[peak_at]),
        summary,
        trace_ids,
        top_user_agents,
        tls_versions,
        unit: change.unit.to_string(),
        before: finite4(change.before),
        after: finite4(change.after),
        quantile: change.quantile.to_string(),
        operation: change.operation,
    }
}

/// A signal before and after its change, in its own unit.
struct Change {
    unit: &'static str,
    /// What a value in the series' own unit is multiplied by to be in
    /// `unit` (NaN: no linear map, as from a per-request ratio to ms).
    scale: f64,
    before: f64,
    after: f64,
    quantile: &'static str,
    operation: Option<String>,
    /// The change in words, when it reads better than `value vs baseline`.
    text: Option<String>,
}

/// Per-request times: the operation that lost the most time since `from`,
/// its p50 and p99 before and after, in milliseconds. Rates: the share
/// before and since. Levels: the baseline's median and the median since.
fn before_after(
    f: &features::Feature,
    sc: &rank::Scored,
    from: usize,
    set: &FeatureSet,
    b: &Buckets,
    obs: &Observations,
) -> Change {
    use features::Values;
    let spec = f.kind.spec();
    let from = from.max(b.baseline_end);
    match &f.values {
        Values::PerRequest { .. } => {
            let own = f.kind == SignalKind::SelfTime;
            let what = if own { "own time" } else { "latency" };
            match slowest_operation(set, f.component, own, from, b) {
                Some(op) => {
                    let name = obs.names.name(op.operation).to_string();
                    let text = format!(
                        "`{name}` {what} p50 {} → {}, p99 {} → {} ({} requests since)",
                        fmt_ms(op.before[0]),
                        fmt_ms(op.after[0]),
                        fmt_ms(op.before[1]),
                        fmt_ms(op.after[1]),
                        op.count
                    );
                    Change {
                        unit: "ms",
                        scale: f64::NAN,
                        before: op.before[0],
                        after: op.after[0],
                        quantile: "p50",
                        operation: Some(name),
                        text: Some(text),
                    }
                }
                None => Change {
                    unit: "x",
                    scale: 1.0,
                    before: sc.baseline,
                    after: f64::NAN,
                    quantile: "p50",
                    operation: None,
                    text: None,
                },
            }
        }
        Values::Rate { num, den, .. } => {
            let (n, d) = (from..b.count).fold((0.0, 0.0), |(n, d), i| (n + num[i], d + den[i]));
            let after = if d > 0.0 { n / d } else { f64::NAN };
            let text = format!(
                "{:.1}% → {:.1}% ({n:.0} of {d:.0} since)",
                sc.baseline * 100.0,
                after * 100.0
            );
            Change {
                unit: "%",
                scale: 100.0,
                before: sc.baseline * 100.0,
                after: after * 100.0,
                quantile: "share",
                operation: None,
                text: after.is_finite().then_some(text),
            }
        }
        Values::Level { values, .. } => {
            let mut since: Vec<f64> = values[from..]
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            let after = score::median(&mut since).unwrap_or(f64::NAN);
            let unit = spec.unit.as_str();
            let text = format!(
                "median {} → {}",
                fmt_value(sc.baseline, unit),
                fmt_value(after, unit)
            );
            let (unit, scale) = match spec.unit {
                crate::signal::Unit::Seconds => ("ms", 1000.0),
                crate::signal::Unit::Micros => ("ms", 1e-3),
                crate::signal::Unit::Share => ("%", 100.0),
                u => (u.as_str(), 1.0),
            };
            Change {
                unit,
                scale,
                before: sc.baseline * scale,
                after: after * scale,
                quantile: "p50",
                operation: None,
                text: after.is_finite().then_some(text),
            }
        }
    }
}

/// One operation's requests before and after, milliseconds.
struct OperationChange {
    operation: ingest::Sym,
    /// p50, p99.
    before: [f64; 2],
    after: [f64; 2],
    count: usize,
}

/// The component's operation whose requests since `from` lost the most
/// time against its baseline median (own time, or latency): how many
/// requests times how much slower their median is.
fn slowest_operation(
    set: &FeatureSet,
    component: u32,
    own: bool,
    from: usize,
    b: &Buckets,
) -> Option<OperationChange> {
    let mut best: Option<(f64, OperationChange)> = None;
    for (&(c, op), times) in &set.op_times {
        if c != component {
            continue;
        }
        let pick = |r: &features::RequestTimes| if own { r.own } else { r.latency };
        let (mut base, mut now): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
        for r in times {
            let v = f64::from(pick(r));
            if !v.is_finite() {
                continue;
            }
            if (r.bucket as usize) < b.baseline_end {
                base.push(v);
            } else if r.bucket as usize >= from {
                now.push(v);
            }
        }
        if base.len() < 2 || now.is_empty() {
            continue;
        }
        let q = |v: &mut Vec<f64>| -> [f64; 2] {
            v.sort_unstable_by(f64::total_cmp);
            let at = |p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
            [at(0.5) / 1000.0, at(0.99) / 1000.0]
        };
        let (before, after) = (q(&mut base), q(&mut now));
        let lost = now.len() as f64 * (after[0] - before[0]);
        let better = best
            .as_ref()
            .is_none_or(|(l, o)| lost > *l || (lost == *l && op < o.operation));
        if better {
            best = Some((
                lost,
                OperationChange {
                    operation: op,
                    before,
                    after,
                    count: now.len(),
                },
            ));
        }
    }
    best.map(|(_, o)| o)
}

/// Milliseconds as people read them: 0.42 ms, 7.3 ms, 510 ms, 2.65 s.
fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() {
        "n/a".into()
    } else if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn finite4(v: f64) -> Option<f64> {
    v.is_finite().then(|| round4(v))
}

fn fmt_value(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    match unit {
        "ms" => format!("{:.1} ms", v / 1000.0),
        "x" => format!("{v:.2}× typical"),
        "%" => format!("{:.1}%", v * 100.0),
        "bytes" => format!("{:.1} MiB", v / (1024.0 * 1024.0)),
        "" => format!("{v:.3}"),
        u => format!("{v:.3} {u}"),
    }
}

fn round2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        0.0
    }
}

fn round4(v: f64) -> f64 {
    if v.is_finite() {
        (v * 10_000.0).round() / 10_000.0
    } else {
        0.0
    }
}

/// Components (ranked first, then by name) by buckets; each cell the largest
/// score of any of the component's signals there, also split by modality.
fn heatmap(set: &FeatureSet, ranked: &Ranked, b: &Buckets) -> Heatmap {
    let nc = set.components.len();
    let mut order: Vec<u32> = ranked.suspects.iter().map(|s| s.component).collect();
    let mut rest: Vec<u32> = (0..nc as u32).filter(|c| !order.contains(c)).collect();
    rest.sort_by(|x, y| set.components[*x as usize].cmp(&set.components[*y as usize]));
    order.extend(rest);
    let row_of: Vec<usize> = {
        let mut r = vec![0; nc];
        for (i, c) in order.iter().enumerate() {
            r[*c as usize] = i;
        }
        r
    };
    // NaN until a signal of the component has data in the bucket: a
    // component that went silent shows "no data", not "normal".
    let mut all = vec![vec![f64::NAN; b.count]; nc];
    let mut by: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
    let mut put = |modality: Modality, c: u32, z: &[f64], has: &dyn Fn(usize) -> bool| {
        let m = by
            .entry(modality.to_string())
            .or_insert_with(|| vec![vec![f64::NAN; b.count]; nc]);
        let r = row_of[c as usize];
        for (i, v) in z.iter().enumerate() {
            if !has(i) {
                continue;
            }
            let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
            m[r][i] = if m[r][i].is_nan() { v } else { m[r][i].max(v) };
            all[r][i] = if all[r][i].is_nan() {
                v
            } else {
                all[r][i].max(v)
            };
        }
    };
    for s in &ranked.scored {
        let f = &set.features[s.feature];
        put(f.kind.spec().modality, f.component, &s.z, &|i| {
            crate::detail::has_data(f, i)
        });
    }
    for ch in &ranked.charges {
        put(Modality::Traces, ch.component, &ch.z, &|i| {
            ch.z[i].is_finite()
        });
    }
    // A row per component with goroutine dumps, leaking or not.
    for g in &set.goroutine_leaks {
        put(Modality::Goroutines, g.component, &g.heat, &|_| true);
    }
    let round = |m: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        m.into_iter()
            .map(|row| row.into_iter().map(|v| (v * 10.0).round() / 10.0).collect())
            .collect()
    };
    Heatmap {
        components: order
            .iter()
            .map(|c| set.components[*c as usize].clone())
            .collect(),
        buckets: (0..b.count).map(|i| rfc3339(b.start_of(i))).collect(),
        scores: round(all),
        by_modality: by.into_iter().map(|(k, v)| (k, round(v))).collect(),
    }
}

fn edges(set: &FeatureSet) -> Vec<Edge> {
    set.edges
        .iter()
        .map(|e| {
            let mut d = e.durations.clone();
            let p99 = if d.is_empty() {
                0.0
            } else {
                let last = d.len() - 1;
                let k = (((d.len() as f64) * 0.99).ceil() as usize)
                    .saturating_sub(1)
                    .min(last);
                let (_, v, _) = d.select_nth_unstable(k);
                *v as f64 / 1000.0
            };
            Edge {
                from: set.components[e.caller as usize].clone(),
                to: set.components[e.callee as usize].clone(),
                calls: e.calls,
                errors: e.errors,
                p99_ms: round2(p99),
            }
        })
        .collect()
}
