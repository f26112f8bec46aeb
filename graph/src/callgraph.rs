//! The call graph from service-graph metrics: caller→callee edges with their
//! calls and failed calls over the window, read off [`Observations::edges`]
//! (what the OpenTelemetry Collector's `servicegraph` connector, Tempo's
//! metrics generator, Istio and Linkerd write), for systems whose traces are
//! missing or cover only part of the calls.
//!
//! A series holds per-second rates, one sample a query step. Each sample
//! stands for the interval that ends at it: as long as the gap to the sample
//! before, but never longer than the series' step (the smallest gap between
//! two of its samples), so a hole in a series (no traffic, a missed scrape)
//! counts as no calls rather than as the next rate stretched back over it.
//! The first sample of a series stands for one step; a series of a single
//! sample takes the smallest step of the other edge series, or one bucket.
//! An edge's calls over the window are Σ rate × interval over the samples
//! whose interval's middle lies in the window, and its rate in a bucket is
//! the time-weighted mean of the rates of the samples there (NaN where none
//! is). Series of one edge and signal (Istio's, one per response code, say)
//! add up.
//!
//! Pure: observations and buckets in, edges between component ids out. The
//! ids are positions in the list of component names it is given, which it
//! extends with components that appear only in edges.

use std::collections::BTreeMap;

use ingest::{EdgeSignal, Micros, Observations, Sym};
use rustc_hash::FxHashMap;

use crate::window::Buckets;

/// One caller→callee edge as service-graph metrics see it.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricEdge {
    pub caller: u32,
    pub callee: u32,
    /// Calls over the window (Σ rate × interval); never fewer than `failed`.
    pub calls: f64,
    /// Failed calls over the window.
    pub failed: f64,
    /// Calls per second in each bucket; NaN where no sample fell.
    pub calls_rate: Vec<f64>,
    /// Failed calls per second in each bucket; NaN where no sample fell.
    pub failed_rate: Vec<f64>,
    /// Time on the wire, µs, one per sample with both a `latency_client`
    /// and a `latency_server` value, with its bucket: the caller's mean
    /// time of a call less the callee's (what the network and the caller's
    /// client add), never below zero.
    pub wire: Vec<(u32, f32)>,
    /// The caller's mean time of a call, µs, per `latency_client` sample.
    pub client_us: Vec<u32>,
}

impl MetricEdge {
    /// An edge with no calls counted and no times yet, over `b`'s buckets.
    fn empty(caller: u32, callee: u32, b: &Buckets) -> MetricEdge {
        MetricEdge {
            caller,
            callee,
            calls: 0.0,
            failed: 0.0,
            calls_rate: vec![f64::NAN; b.count],
            failed_rate: vec![f64::NAN; b.count],
            wire: Vec::new(),
            client_us: Vec::new(),
        }
    }
}

/// What one series (or several of the same edge and signal) adds up to.
struct Tally {
    total: f64,
    rate: Vec<f64>,
}

/// The smallest positive gap between consecutive samples, µs.
fn step_of(samples: &[(Micros, f64)]) -> Option<Micros> {
    samples
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .filter(|&d| d > 0)
        .min()
}

/// The edges of `obs.edges` over the window of `b`, sorted by (caller,
/// callee). Component names are looked up in `components`; a name not
/// there is appended, its id its position. Edges from a component to
/// itself are left out: they are calls inside it, not between components.
pub fn metric_edges(
    obs: &Observations,
    b: &Buckets,
    components: &mut Vec<String>,
) -> Vec<MetricEdge> {
    if obs.edges.is_empty() {
        return Vec::new();
    }
    let fallback_step = obs
        .edges
        .iter()
        .filter_map(|e| step_of(&e.samples))
        .min()
        .unwrap_or(b.width);
    let mut index: FxHashMap<String, u32> = components
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i as u32))
        .collect();
    let mut id = |sym: Sym, components: &mut Vec<String>| -> u32 {
        let name = obs.names.name(sym);
        if let Some(&i) = index.get(name) {
            return i;
        }
        let i = components.len() as u32;
        components.push(name.to_string());
        index.insert(name.to_string(), i);
        i
    };

    let mut tallies: BTreeMap<(u32, u32, EdgeSignal), Tally> = BTreeMap::new();
    // Per edge: (sample time -> (Σ client s, n), (Σ server s, n)), and the step.
    type Times = BTreeMap<Micros, [(f64, u32); 2]>;
    let mut latency: BTreeMap<(u32, u32), (Times, Micros)> = BTreeMap::new();
    for series in &obs.edges {
        let side = match series.signal {
            EdgeSignal::LatencyClient => Some(0),
            EdgeSignal::LatencyServer => Some(1),
            _ => None,
        };
        if let (Some(side), false) = (side, series.client == series.server) {
            let caller = id(series.client, components);
            let callee = id(series.server, components);
            let step = step_of(&series.samples).unwrap_or(fallback_step);
            let (times, s) = latency
                .entry((caller, callee))
                .or_insert_with(|| (Times::new(), step));
            *s = (*s).min(step);
            // Series of one edge and side (one per response code, say) are
            // averaged: each is a mean time per call.
            for &(t, secs) in series
                .samples
                .iter()
                .filter(|(_, v)| v.is_finite() && *v >= 0.0)
            {
                let cell = &mut times.entry(t).or_default()[side];
                cell.0 += secs;
                cell.1 += 1;
            }
            continue;
        }
        // The latency signals time calls; only the calls signals count them.
        let counts = matches!(series.signal, EdgeSignal::Calls | EdgeSignal::CallsFailed);
        if series.client == series.server || !counts {
            continue;
        }
        let caller = id(series.client, components);
        let callee = id(series.server, components);
        let step = step_of(&series.samples).unwrap_or(fallback_step);
        // Per bucket: calls and time covered, of this series alone.
        let mut calls = vec![0.0f64; b.count];
        let mut covered = vec![0.0f64; b.count];
        let mut total = 0.0;
        let mut before: Option<Micros> = None;
        for &(t, rate) in &series.samples {
            let span = before.map_or(step, |p| (t - p).clamp(0, step));
            before = Some(t);
            if span == 0 || !rate.is_finite() {
                continue;
            }
            let Some(bi) = b.index(t - span / 2) else {
                continue;
            };
            let seconds = span as f64 / 1e6;
            let n = rate.max(0.0) * seconds;
            total += n;
            calls[bi] += n;
            covered[bi] += seconds;
        }
        let tally = tallies
            .entry((caller, callee, series.signal))
            .or_insert_with(|| Tally {
                total: 0.0,
                rate: vec![f64::NAN; b.count],
            });
        tally.total += total;
        for (bi, (n, s)) in calls.iter().zip(&covered).enumerate() {
            if *s > 0.0 {
                let r = &mut tally.rate[bi];
                *r = if r.is_nan() { n / s } else { *r + n / s };
            }
        }
    }

    let mut edges: BTreeMap<(u32, u32), MetricEdge> = BTreeMap::new();
    for ((caller, callee, signal), tally) in tallies {
        let e = edges
            .entry((caller, callee))
            .or_insert_with(|| MetricEdge::empty(caller, callee, b));
        match signal {
            EdgeSignal::Calls => {
                e.calls = tally.total;
                e.calls_rate = tally.rate;
            }
            EdgeSignal::CallsFailed => {
                e.failed = tally.total;
                e.failed_rate = tally.rate;
            }
            // Read above, per sample.
            EdgeSignal::LatencyServer | EdgeSignal::LatencyClient => {}
        }
    }
    for ((caller, callee), (times, step)) in latency {
        let e = edges
            .entry((caller, callee))
            .or_insert_with(|| MetricEdge::empty(caller, callee, b));
        for (t, [(client, nc), (server, ns)]) in times {
            // A sample stands for the step that ends at it.
            let Some(bi) = b.index(t - step / 2) else {
                continue;
            };
            let client = (nc > 0).then(|| client / f64::from(nc) * 1e6);
            let server = (ns > 0).then(|| server / f64::from(ns) * 1e6);
            if let Some(c) = client {
                e.client_us.push(c.round().min(f64::from(u32::MAX)) as u32);
            }
            if let (Some(c), Some(s)) = (client, server) {
                e.wire.push((bi as u32, (c - s).max(0.0) as f32));
            }
        }
    }
    edges
        .into_values()
        .map(|mut e| {
            // A failed call is a call, whichever series saw more of them.
            e.calls = e.calls.max(e.failed);
            e
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest::{EdgeSeries, TimeWindow};

    const S: Micros = 1_000_000;
    /// A round start, so 30 s buckets fall on it.
    const T0: Micros = 1_714_557_600 * S;

    /// Ten 30 s buckets from `T0`.
    fn buckets() -> Buckets {
        Buckets {
            window: TimeWindow {
                start: T0,
                end: T0 + 300 * S,
            },
            width: 30 * S,
            count: 10,
            baseline_end: 5,
        }
    }

    fn series(
        obs: &mut Observations,
        client: &str,
        server: &str,
        signal: EdgeSignal,
        samples: &[(Micros, f64)],
    ) {
        let e = EdgeSeries {
            client: obs.names.intern(client),
            server: obs.names.intern(server),
            signal,
            labels: BTreeMap::new(),
            samples: samples.to_vec(),
        };
        obs.edges.push(e);
    }

    /// Rate `r` every 15 s, the first sample at `T0 + 15 s` (it stands for
    /// the first 15 s), for `n` samples.
    fn steady(r: f64, n: i64) -> Vec<(Micros, f64)> {
        (1..=n).map(|k| (T0 + 15 * S * k, r)).collect()
    }

    #[test]
    fn calls_are_rate_times_sample_spacing_and_rates_are_kept_per_bucket() {
        let mut obs = Observations::default();
        // Two calls a second for the first minute, then four.
        let mut calls = steady(2.0, 4);
        calls.extend((5..=8).map(|k| (T0 + 15 * S * k, 4.0)));
        series(&mut obs, "frontend", "checkout", EdgeSignal::Calls, &calls);
        series(
            &mut obs,
            "frontend",
            "checkout",
            EdgeSignal::CallsFailed,
            &steady(0.5, 2),
        );
        let mut names = vec!["frontend".to_string(), "checkout".to_string()];
        let edges = metric_edges(&obs, &buckets(), &mut names);
        assert_eq!(names.len(), 2, "known components keep their ids");
        assert_eq!(edges.len(), 1);
        let e = &edges[0];
        assert_eq!((e.caller, e.callee), (0, 1));
        assert!(
            (e.calls - (2.0 * 60.0 + 4.0 * 60.0)).abs() < 1e-9,
            "{}",
            e.calls
        );
        assert!((e.failed - 15.0).abs() < 1e-9, "{}", e.failed);
        assert_eq!(&e.calls_rate[..4], &[2.0, 2.0, 4.0, 4.0]);
        assert!(
            e.calls_rate[4..].iter().all(|r| r.is_nan()),
            "no samples there"
        );
        assert_eq!(e.failed_rate[0], 0.5);
        assert!(e.failed_rate[1].is_nan());
    }

    #[test]
    fn a_hole_in_a_series_is_no_calls_not_the_next_rate_stretched_back() {
        let mut obs = Observations::default();
        // Samples at 15 s, 30 s, then nothing until 120 s.
        let samples = [(T0 + 15 * S, 1.0), (T0 + 30 * S, 1.0), (T0 + 120 * S, 1.0)];
        series(&mut obs, "a", "b", EdgeSignal::Calls, &samples);
        let edges = metric_edges(&obs, &buckets(), &mut Vec::new());
        assert!((edges[0].calls - 45.0).abs() < 1e-9, "{}", edges[0].calls);
        let rate = &edges[0].calls_rate;
        assert_eq!(rate[0], 1.0);
        assert!(rate[1].is_nan() && rate[2].is_nan());
        assert_eq!(rate[3], 1.0, "the sample at 120 s stands for 105..120 s");
    }

    #[test]
    fn only_samples_inside_the_window_count() {
        let mut obs = Observations::default();
        let samples: Vec<(Micros, f64)> = (-3..=24).map(|k| (T0 + 15 * S * k, 1.0)).collect();
        series(&mut obs, "a", "b", EdgeSignal::Calls, &samples);
        let edges = metric_edges(&obs, &buckets(), &mut Vec::new());
        assert!((edges[0].calls - 300.0).abs() < 1e-9, "{}", edges[0].calls);
    }

    #[test]
    fn names_only_in_edges_become_components_and_self_calls_are_left_out() {
        let mut obs = Observations::default();
        series(
            &mut obs,
            "gateway",
            "orders",
            EdgeSignal::Calls,
            &steady(1.0, 2),
        );
        series(
            &mut obs,
            "orders",
            "orders",
            EdgeSignal::Calls,
            &steady(1.0, 2),
        );
        series(
            &mut obs,
            "orders",
            "db",
            EdgeSignal::CallsFailed,
            &steady(0.2, 2),
        );
        let mut names = vec!["orders".to_string()];
        let edges = metric_edges(&obs, &buckets(), &mut names);
        assert_eq!(names, ["orders", "gateway", "db"]);
        let pairs: Vec<(u32, u32)> = edges.iter().map(|e| (e.caller, e.callee)).collect();
        assert_eq!(pairs, [(0, 2), (1, 0)], "sorted by ids, no orders→orders");
        let db = &edges[0];
        assert!((db.failed - 6.0).abs() < 1e-9, "{}", db.failed);
        assert_eq!(db.calls, db.failed, "failed calls are calls, seen or not");
        assert!(db.calls_rate.iter().all(|r| r.is_nan()), "no calls series");
    }

    #[test]
    fn series_of_one_edge_add_up_and_a_lone_sample_takes_the_others_step() {
        let mut obs = Observations::default();
        // Istio: one series per response code.
        series(&mut obs, "web", "api", EdgeSignal::Calls, &steady(3.0, 2));
        series(&mut obs, "web", "api", EdgeSignal::Calls, &steady(1.0, 2));
        series(
            &mut obs,
            "web",
            "cache",
            EdgeSignal::Calls,
            &[(T0 + 15 * S, 2.0)],
        );
        let edges = metric_edges(&obs, &buckets(), &mut Vec::new());
        let api = &edges[0];
        assert!((api.calls - 120.0).abs() < 1e-9, "{}", api.calls);
        assert_eq!(api.calls_rate[0], 4.0);
        let cache = &edges[1];
        assert!(
            (cache.calls - 30.0).abs() < 1e-9,
            "15 s step: {}",
            cache.calls
        );
    }

    #[test]
    fn no_edge_series_no_edges() {
        let mut names = vec!["x".to_string()];
        assert!(metric_edges(&Observations::default(), &buckets(), &mut names).is_empty());
        assert_eq!(names, ["x"]);
    }

    #[test]
    fn client_less_server_time_per_sample_is_the_wire_and_latency_alone_makes_an_edge() {
        let mut obs = Observations::default();
        // Client 12 ms, server 10 ms a call for a minute, then client 60 ms.
        let client: Vec<(Micros, f64)> = (1..=8)
            .map(|k| (T0 + 15 * S * k, if k <= 4 { 0.012 } else { 0.060 }))
            .collect();
        series(&mut obs, "web", "db", EdgeSignal::LatencyClient, &client);
        series(
            &mut obs,
            "web",
            "db",
            EdgeSignal::LatencyServer,
            &steady(0.010, 8),
        );
        // A server sample with no client sample at its time gives no wire.
        series(
            &mut obs,
            "web",
            "db",
            EdgeSignal::LatencyServer,
            &[(T0 + 200 * S, 0.5)],
        );
        let mut names = Vec::new();
        let edges = metric_edges(&obs, &buckets(), &mut names);
        assert_eq!(names, ["web", "db"]);
        let e = &edges[0];
        assert_eq!(e.wire.len(), 8);
        let (first, last) = (e.wire[0], e.wire[7]);
        assert_eq!(first.0, 0);
        assert!((first.1 - 2_000.0).abs() < 1.0, "{first:?}");
        assert!((last.1 - 50_000.0).abs() < 1.0, "{last:?}");
        assert_eq!(e.client_us.len(), 8);
        assert_eq!(
            e.calls, 0.0,
            "latency series time calls, they do not count them"
        );
    }
}
