//! The engine's entry point: observations in, a [`Localisation`] out.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use ingest::{Micros, Modality, Observations};
use sha2::{Digest, Sha256};

use crate::features::{self, FeatureSet, Values};
use crate::rank::{self, Ranked, Suspect};
use crate::window::{choose_buckets, Buckets, WindowConfig};
use crate::{Candidate, Count, Edge, Evidence, Heatmap, IncidentInfo, Localisation, Missing};

/// Engine settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EngineConfig {
    pub window: WindowConfig,
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

pub(crate) fn rfc3339(t: Micros) -> String {
    DateTime::<Utc>::from_timestamp_micros(t)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn hhmmss(t: Micros) -> String {
    DateTime::<Utc>::from_timestamp_micros(t)
        .unwrap_or_default()
        .format("%H:%M:%S")
        .to_string()
}

/// A stable id: the same alert (fingerprint and start) gives the same id.
pub fn incident_id(fingerprint: &str, starts_at: &str) -> String {
    let mut h = Sha256::new();
    h.update(fingerprint.as_bytes());
    h.update([0]);
    h.update(starts_at.as_bytes());
    hex::encode(&h.finalize()[..8])
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

/// Localises the incident in `obs`: its first alert (if any) sets the window.
pub fn localise(obs: &Observations, cfg: &EngineConfig) -> Result<Localisation, GraphError> {
    let alert = obs.alerts.first();
    let alert_start = alert.map(|a| a.starts_at_micros());
    let buckets = choose_buckets(obs, alert_start, &cfg.window).ok_or(GraphError::NoData)?;
    let set = features::build(obs, &buckets);
    if set.components.is_empty() {
        return Err(GraphError::NoData);
    }
    let alert_component = alert
        .and_then(|a| a.component())
        .and_then(|name| set.components.iter().position(|c| c == name))
        .map(|i| i as u32);
    let ranked = rank::rank(&set, &buckets, alert_component);

    let starts_at = alert
        .map(|a| rfc3339(a.starts_at_micros()))
        .unwrap_or_else(|| rfc3339(buckets.window.start));
    let fingerprint = alert.map(|a| a.fingerprint.clone()).unwrap_or_default();
    let id = if fingerprint.is_empty() {
        incident_id(
            &format!("window:{}:{}", buckets.window.start, buckets.window.end),
            &starts_at,
        )
    } else {
        incident_id(&fingerprint, &starts_at)
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
    };

    let ranking: Vec<Candidate> = ranked
        .suspects
        .iter()
        .take(MAX_CANDIDATES)
        .map(|s| candidate(s, &set, &ranked, &buckets, obs))
        .collect();

    let path = match ranked.suspects.first() {
        Some(top) => {
            let mut callers = vec![Vec::new(); set.components.len()];
            for e in &set.edges {
                callers[e.callee as usize].push(e.caller);
            }
            rank::path_up(top.component, alert_component, &callers, &ranked.symptom)
                .into_iter()
                .map(|c| set.components[c as usize].clone())
                .collect()
        }
        None => Vec::new(),
    };

    let modalities = obs.modalities().iter().map(|m| m.to_string()).collect();
    let missing = missing_of(obs);

    let heatmap = heatmap(&set, &ranked, &buckets);
    let detail = crate::detail::build(&set, &ranked, &buckets, obs, &heatmap.components);
    Ok(Localisation {
        incident,
        heatmap,
        edges: edges(&set),
        ranking,
        path,
        modalities,
        missing,
        detail,
    })
}

fn candidate(
    s: &Suspect,
    set: &FeatureSet,
    ranked: &Ranked,
    b: &Buckets,
    obs: &Observations,
) -> Candidate {
    let component = set.components[s.component as usize].clone();
    let mut evidence: Vec<Evidence> = Vec::new();
    for k in s.contributions.iter().take(MAX_EVIDENCE) {
        let item = match k.scored {
            Some(si) => scored_evidence(&ranked.scored[si], set, b, obs),
            None => Evidence {
                signal: k.signal.clone(),
                modality: if k.signal == "goroutine_leak" {
                    Modality::Goroutines
                } else {
                    Modality::Traces
                }
                .to_string(),
                at: rfc3339(b.start_of(b.baseline_end)),
                value: round2(k.sustained),
                baseline: 0.0,
                deviation: round2(k.sustained),
                summary: format!(
                    "{}: {} (sustained score {:.1})",
                    k.signal,
                    k.note.as_deref().unwrap_or(""),
                    k.sustained
                ),
                trace_ids: Vec::new(),
                top_user_agents: Vec::new(),
                tls_versions: Vec::new(),
            },
        };
        evidence.push(item);
    }
    Candidate {
        component,
        score: round2(s.score),
        fault: s.fault,
        evidence,
    }
}

fn scored_evidence(
    sc: &rank::Scored,
    set: &FeatureSet,
    b: &Buckets,
    obs: &Observations,
) -> Evidence {
    let f = &set.features[sc.feature];
    let at = sc.peak.unwrap_or(b.baseline_end);
    let value = match &f.values {
        Values::Level { values, .. } => values[at],
        Values::Samples { sum, n, .. } => {
            if n[at] > 0.0 {
                (sum[at] / n[at]).exp()
            } else {
                f64::NAN
            }
        }
        Values::Rate { num, den, .. } => {
            if den[at] > 0.0 {
                num[at] / den[at]
            } else {
                f64::NAN
            }
        }
    };
    let from = sc
        .onset
        .map(|o| format!(", from {}", hhmmss(b.start_of(o))))
        .unwrap_or_default();
    let summary = format!(
        "{} {} vs baseline {} (score {:.1}{})",
        f.signal,
        fmt_value(value, f.unit),
        fmt_value(sc.baseline, f.unit),
        sc.z[at],
        from
    );
    let trace_ids = if f.modality == Modality::Traces {
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
        Some(p) if f.modality == Modality::AccessLogs => {
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
    Evidence {
        signal: f.signal.clone(),
        modality: f.modality.to_string(),
        at: rfc3339(b.start_of(at)),
        value: round4(value),
        baseline: round4(sc.baseline),
        deviation: round2(sc.z[at]),
        summary,
        trace_ids,
        top_user_agents,
        tls_versions,
    }
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
    let mut all = vec![vec![0.0f64; b.count]; nc];
    let mut by: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
    let mut put = |modality: Modality, c: u32, z: &[f64]| {
        let m = by
            .entry(modality.to_string())
            .or_insert_with(|| vec![vec![0.0; b.count]; nc]);
        let r = row_of[c as usize];
        for (i, v) in z.iter().enumerate() {
            if v.is_finite() {
                m[r][i] = m[r][i].max(*v);
                all[r][i] = all[r][i].max(*v);
            }
        }
    };
    for s in &ranked.scored {
        let f = &set.features[s.feature];
        put(f.modality, f.component, &s.z);
    }
    for (e, z) in set.edges.iter().zip(&ranked.edge_z) {
        put(Modality::Traces, e.callee, z);
    }
    // A row per component with goroutine dumps, leaking or not.
    for g in &set.goroutine_leaks {
        put(Modality::Goroutines, g.component, &g.heat);
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
