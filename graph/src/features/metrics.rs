//! Metric features: each series a level per bucket (the mean of its samples
//! there), except error rates, which are judged as rates: the errors a
//! bucket holds (rate × seconds) among the requests it received when a
//! request rate is known, else among its seconds (a Poisson count), so that
//! a rate that starts at zero is judged by its volume like any other.

use ingest::{Micros, Observations, Signal, Sym};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{EdgeStats, Feature, FeatureSet, Registry, Values};
use crate::params::{Floor, Params};
use crate::signal::{SignalKind, Test};
use crate::window::Buckets;

/// The least change of a level signal that matters.
fn floor_of(kind: SignalKind, p: &Params) -> Floor {
    let f = &p.floors;
    match kind {
        SignalKind::Cpu => f.cpu,
        SignalKind::Memory => f.memory,
        SignalKind::Goroutines => f.goroutines,
        SignalKind::PoolPending => f.pool_pending,
        SignalKind::TlsSessionReuse => f.tls_session_reuse,
        SignalKind::Http4xxRate => f.http_4xx_rate,
        SignalKind::RequestRate => f.request_rate,
        SignalKind::ProxyLatency => f.proxy_latency,
        SignalKind::ProxyRequests => f.proxy_requests,
        k if k.is_metric_latency() || k == SignalKind::ClientLatency => f.latency_quantile,
        _ => f.other,
    }
}

/// The time each sample of a series stands for: the median gap between its
/// samples (one scrape interval or query step).
fn sample_seconds(samples: &[(Micros, f64)]) -> f64 {
    let mut gaps: Vec<f64> = samples
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) as f64 / 1e6)
        .filter(|g| *g > 0.0)
        .collect();
    crate::score::median(&mut gaps).unwrap_or(60.0)
}

/// Per-bucket sums of `rate × seconds` over a component's series of one signal.
fn counts(series: &[&ingest::Series], b: &Buckets) -> Vec<f64> {
    let mut out = vec![0.0; b.count];
    for s in series {
        let secs = sample_seconds(&s.samples);
        for &(t, v) in &s.samples {
            if let Some(i) = b.index(t) {
                if v.is_finite() {
                    out[i] += v.max(0.0) * secs;
                }
            }
        }
    }
    out
}

pub(super) fn build(
    obs: &Observations,
    b: &Buckets,
    p: &Params,
    reg: &mut Registry,
    set: &mut FeatureSet,
) {
    // Error and request rates per component, for the rates judged as such.
    let mut errors: FxHashMap<Sym, Vec<&ingest::Series>> = FxHashMap::default();
    let mut requests: FxHashMap<Sym, Vec<&ingest::Series>> = FxHashMap::default();
    for s in &obs.series {
        match s.signal {
            Signal::Http5xxRate => errors.entry(s.component).or_default().push(s),
            Signal::RequestRate => requests.entry(s.component).or_default().push(s),
            _ => {}
        }
    }
    for s in &obs.series {
        let kind = SignalKind::of_metric(&s.signal);
        if kind.spec().test == Test::Rate {
            continue;
        }
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
        set.features.push(Feature {
            component: c,
            kind,
            label: (kind == SignalKind::OtherMetric).then(|| s.signal.as_str().to_string()),
            peer: None,
            values: Values::Level {
                values,
                floor: floor_of(kind, p),
            },
        });
    }
    let mut comps: Vec<Sym> = errors.keys().copied().collect();
    comps.sort_unstable();
    for comp in comps {
        let num = counts(&errors[&comp], b);
        if num.iter().all(|x| *x == 0.0) && errors[&comp].iter().all(|s| s.samples.is_empty()) {
            continue;
        }
        let (den, floor) = match requests.get(&comp) {
            // Errors among requests: a share.
            Some(r) => (counts(r, b), p.rate_floor),
            // Errors among seconds: a Poisson rate per second.
            None => {
                let mut secs = vec![0.0; b.count];
                for s in &errors[&comp] {
                    let step = sample_seconds(&s.samples);
                    for &(t, _) in &s.samples {
                        if let Some(i) = b.index(t) {
                            secs[i] += step;
                        }
                    }
                }
                (secs, p.error_rate_floor_per_s)
            }
        };
        set.features.push(Feature::new(
            reg.id(comp),
            SignalKind::Http5xxRate,
            Values::Rate { num, den, floor },
        ));
    }
}

/// Caller-to-callee edges from service-graph metrics, for the pairs the
/// traces do not already show (traces win where both have an edge).
pub(super) fn edges(
    obs: &Observations,
    b: &Buckets,
    names: &mut Vec<String>,
    edges: &mut Vec<EdgeStats>,
) {
    let traced: FxHashSet<(u32, u32)> = edges.iter().map(|e| (e.caller, e.callee)).collect();
    for m in crate::callgraph::metric_edges(obs, b, names) {
        if !traced.contains(&(m.caller, m.callee)) {
            // With client and server times per call the wire is the
            // network's alone, as between two traced components: one wait
            // per sample (a mean over its calls).
            let timed = !m.wire.is_empty();
            edges.push(EdgeStats {
                caller: m.caller,
                callee: m.callee,
                calls: m.calls.round() as u64,
                errors: m.failed.round() as u64,
                waits: m.wire,
                durations: m.client_us,
                source: super::EdgeSource::Metrics,
                callee_traced: timed,
            });
        }
    }
}
