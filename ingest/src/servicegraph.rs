//! Service-graph series from spans: the caller→callee series the
//! OpenTelemetry Collector's `servicegraph` connector would have written for
//! the same spans (what Tempo's metrics generator writes too), so that the
//! engine can be developed and measured on recorded traces as it runs for
//! those who have no traces, only these metrics.
//!
//! The connector's rules, as far as the model allows:
//!
//! - A call A→B is a span of component B whose parent span (same trace) is a
//!   span of component A, A ≠ B. A span whose parent is not among the spans
//!   makes no call (the connector would wait for the other side and expire
//!   the edge); a span under a span of its own component neither.
//! - Its server duration is that span's duration. Its client duration is the
//!   parent's when the parent is the client side of the call: kind client or
//!   producer, or of unknown kind with no child in its own component (a span
//!   that only calls out); otherwise no client span was seen and there is no
//!   wire to add, so the client duration is the server's.
//! - It failed when the server span did: error status, or HTTP status 500
//!   and above. Readers that carry no status (Nezha's CSVs) give no failures.
//! - A call falls in the interval of its start (the client span's, else the
//!   server's), as the engine judges a request by when it began: samples
//!   are at multiples of `step`, the one at `t` standing for `(t − step, t]`.
//!
//! Per edge, four series labelled `client` and `server`: `calls` and
//! `calls_failed` in calls per second, from the edge's first interval with a
//! call on, at every interval in which any edge has a call, 0 where this one
//! had none (Prometheus' `rate` of the connector's counters, which exist
//! from their edge's first call on and then stay: an edge that goes quiet
//! reads as no calls rather than as no data; an interval without any call at
//! all is left out, so a bad timestamp cannot ask for years of zeros);
//! `latency_server` and
//! `latency_client` in mean seconds per call, only for intervals with calls
//! (elsewhere `rate(sum) / rate(count)` is 0/0, which readers drop).

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use crate::model::{
    EdgeSeries, EdgeSignal, Micros, Modality, Observations, SourceStatus, Span, SpanKind, Sym,
};

/// Whether the server span of a call failed, as the connector reads it.
fn failed(s: &Span) -> bool {
    s.error || s.http_status >= 500
}

/// What the calls of one edge in one interval add up to.
#[derive(Clone, Copy, Default)]
struct Interval {
    calls: u64,
    failed: u64,
    /// Summed server durations, µs.
    server: i128,
    /// Summed client durations, µs.
    client: i128,
}

/// The index of the interval `t` falls in: `k` for `((k − 1)·step, k·step]`.
fn interval_of(t: Micros, step: Micros) -> i64 {
    t.div_euclid(step) + i64::from(t.rem_euclid(step) != 0)
}

/// The service-graph series of `obs.spans`, at `step` (µs, > 0; a smaller
/// one is taken as 1 µs). Edges in order of caller, then callee name; each
/// edge's series in the order of [`EdgeSignal::ALL`], samples ascending.
pub fn from_spans(obs: &Observations, step: Micros) -> Vec<EdgeSeries> {
    let step = step.max(1);
    let spans = &obs.spans;
    let mut by_id: FxHashMap<(u128, u64), u32> = FxHashMap::default();
    by_id.reserve(spans.len());
    for (i, s) in spans.iter().enumerate() {
        by_id.entry((s.trace_id, s.span_id)).or_insert(i as u32);
    }
    let parent: Vec<Option<usize>> = spans
        .iter()
        .map(|s| {
            (s.parent_id != 0)
                .then(|| by_id.get(&(s.trace_id, s.parent_id)))
                .flatten()
                .map(|&p| p as usize)
                .filter(|&p| spans[p].span_id != s.span_id)
        })
        .collect();
    drop(by_id);
    // Spans with a child in their own component: not only calling out.
    let mut local_child = vec![false; spans.len()];
    for (i, p) in parent.iter().enumerate() {
        if let Some(p) = *p {
            if spans[p].component == spans[i].component {
                local_child[p] = true;
            }
        }
    }
    let client_side = |p: usize| match spans[p].kind {
        SpanKind::Client | SpanKind::Producer => true,
        SpanKind::Unspecified => !local_child[p],
        _ => false,
    };

    let mut edges: BTreeMap<(Sym, Sym), BTreeMap<i64, Interval>> = BTreeMap::new();
    // Every interval with a call on some edge.
    let mut active: BTreeSet<i64> = BTreeSet::new();
    for (s, p) in spans.iter().zip(&parent) {
        let Some(p) = *p else { continue };
        let caller = &spans[p];
        if caller.component == s.component {
            continue;
        }
        let (client, start) = if client_side(p) {
            (caller.duration, caller.start)
        } else {
            (s.duration, s.start)
        };
        let k = interval_of(start, step);
        active.insert(k);
        let cell = edges
            .entry((caller.component, s.component))
            .or_default()
            .entry(k)
            .or_default();
        cell.calls += 1;
        cell.failed += u64::from(failed(s));
        cell.server += i128::from(s.duration.max(0));
        cell.client += i128::from(client.max(0));
    }

    let name = |s: Sym| obs.names.name(s);
    let mut order: Vec<(Sym, Sym)> = edges.keys().copied().collect();
    order.sort_by(|a, b| (name(a.0), name(a.1)).cmp(&(name(b.0), name(b.1))));
    let seconds = step as f64 / 1e6;
    let mut out = Vec::with_capacity(order.len() * EdgeSignal::ALL.len());
    for key in order {
        let cells = &edges[&key];
        let Some(&first) = cells.keys().next() else {
            continue;
        };
        let (client, server) = key;
        let at = |k: i64| k.saturating_mul(step);
        let mut calls = Vec::new();
        let mut failed = Vec::new();
        for &k in active.range(first..) {
            let c = cells.get(&k).copied().unwrap_or_default();
            calls.push((at(k), c.calls as f64 / seconds));
            failed.push((at(k), c.failed as f64 / seconds));
        }
        let mean = |sum: fn(&Interval) -> i128| -> Vec<(Micros, f64)> {
            cells
                .iter()
                .map(|(&k, c)| (at(k), sum(c) as f64 / c.calls as f64 / 1e6))
                .collect()
        };
        let labels: BTreeMap<String, String> = [
            ("client".to_string(), name(client).to_string()),
            ("server".to_string(), name(server).to_string()),
        ]
        .into_iter()
        .collect();
        for signal in EdgeSignal::ALL {
            let samples = match signal {
                EdgeSignal::Calls => std::mem::take(&mut calls),
                EdgeSignal::CallsFailed => std::mem::take(&mut failed),
                EdgeSignal::LatencyServer => mean(|c| c.server),
                EdgeSignal::LatencyClient => mean(|c| c.client),
            };
            out.push(EdgeSeries {
                client,
                server,
                signal,
                labels: labels.clone(),
                samples,
            });
        }
    }
    out
}

/// Replaces `obs`'s traces by their service-graph series ([`from_spans`]):
/// the series are appended to `obs.edges`, the spans removed, and the
/// traces' source says so. Returns the number of caller→callee edges.
///
/// Nothing else in [`Observations`] is made from the spans alone: log lines
/// keep the trace and span ids they were written with (as logs do where no
/// trace is kept), and the names only spans used stay interned, unused.
/// The traces' [`SourceStatus`] keeps its `missing` (what was absent of the
/// traces is absent of the series made from them too) and its `records`
/// (the spans read); the replacement is its `note`, not a lack.
pub fn replace_traces(obs: &mut Observations, step: Micros) -> usize {
    let series = from_spans(obs, step);
    let edges = series
        .iter()
        .filter(|e| e.signal == EdgeSignal::Calls)
        .count();
    let spans = std::mem::take(&mut obs.spans).len();
    obs.edges.extend(series);
    let note = format!(
        "replaced by service-graph series ({edges} edges from {spans} spans, step {} s)",
        step.max(1) as f64 / 1e6
    );
    let mut told = false;
    for s in obs
        .sources
        .iter_mut()
        .filter(|s| s.modality == Modality::Traces)
    {
        s.note = Some(note.clone());
        told = true;
    }
    if !told {
        obs.sources.push(SourceStatus {
            modality: Modality::Traces,
            records: spans as u64,
            missing: None,
            note: Some(note),
        });
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Micros = 1_000_000;
    const STEP: Micros = 60 * S;
    /// A round minute.
    const T0: Micros = 1_675_000_000 * S - (1_675_000_000 % 60) * S;

    struct Build {
        obs: Observations,
        next: u64,
    }

    impl Build {
        fn new() -> Self {
            Build {
                obs: Observations::default(),
                next: 1,
            }
        }

        /// A span of `component` under `parent` (0: a root), in trace
        /// `trace`; returns its id.
        #[allow(clippy::too_many_arguments)]
        fn span(
            &mut self,
            trace: u128,
            parent: u64,
            component: &str,
            kind: SpanKind,
            start: Micros,
            duration: Micros,
            error: bool,
            http_status: u16,
        ) -> u64 {
            let id = self.next;
            self.next += 1;
            let component = self.obs.names.intern(component);
            let operation = self.obs.names.intern("op");
            self.obs.spans.push(Span {
                trace_id: trace,
                span_id: id,
                parent_id: parent,
                component,
                operation,
                kind,
                start,
                duration,
                error,
                http_status,
                peer: None,
                exception: None,
                event: None,
                proxy: false,
            });
            id
        }
    }

    /// `(client, server, signal)` → samples, by name.
    fn by_name(
        obs: &Observations,
        series: &[EdgeSeries],
    ) -> BTreeMap<(String, String, EdgeSignal), Vec<(Micros, f64)>> {
        series
            .iter()
            .map(|e| {
                assert_eq!(e.labels["client"], obs.names.name(e.client));
                assert_eq!(e.labels["server"], obs.names.name(e.server));
                (
                    (
                        obs.names.name(e.client).to_string(),
                        obs.names.name(e.server).to_string(),
                        e.signal,
                    ),
                    e.samples.clone(),
                )
            })
            .collect()
    }

    fn close(got: &[(Micros, f64)], want: &[(Micros, f64)]) {
        assert_eq!(got.len(), want.len(), "{got:?} against {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.0, w.0, "{got:?} against {want:?}");
            assert!((g.1 - w.1).abs() < 1e-9, "{got:?} against {want:?}");
        }
    }

    /// web → api → db: web's server span calls out through a client span,
    /// api's server span calls db from an internal span (so no client span:
    /// the client side is the server's time).
    fn three_services() -> Observations {
        use SpanKind::*;
        let mut b = Build::new();
        // Minute 1 (T0, T0 + 60 s]: two requests, one failing at db (500).
        for (i, (api_ms, db_ms, db_status)) in [(40, 10, 200), (80, 30, 503)].iter().enumerate() {
            let t = T0 + (i as i64 + 1) * S;
            let root = b.span(i as u128 + 1, 0, "web", Server, t, 200_000, false, 200);
            let call = b.span(
                i as u128 + 1,
                root,
                "web",
                Client,
                t + 1000,
                100_000,
                false,
                200,
            );
            let api = b.span(
                i as u128 + 1,
                call,
                "api",
                Server,
                t + 2000,
                api_ms * 1000,
                false,
                200,
            );
            let inner = b.span(
                i as u128 + 1,
                api,
                "api",
                Internal,
                t + 3000,
                5000,
                false,
                0,
            );
            b.span(
                i as u128 + 1,
                inner,
                "db",
                Server,
                t + 4000,
                db_ms * 1000,
                false,
                *db_status,
            );
        }
        // Minute 2: a request that enters at api (no call into it), 50 ms at db.
        let t = T0 + STEP + 30 * S;
        let root = b.span(8, 0, "api", Server, t, 70_000, false, 200);
        let inner = b.span(8, root, "api", Internal, t + 10, 60_000, false, 0);
        b.span(8, inner, "db", Server, t + 20, 50_000, false, 200);
        // Minute 3: one request, web's call to api an error status; db not called.
        let t = T0 + 2 * STEP + 10 * S;
        let root = b.span(9, 0, "web", Server, t, 300_000, false, 0);
        let call = b.span(9, root, "web", Unspecified, t, 250_000, false, 0);
        b.span(9, call, "api", Server, t + 1000, 120_000, true, 0);
        b.obs
    }

    #[test]
    fn three_services_give_calls_failures_and_both_sides_means_per_interval() {
        let obs = three_services();
        let series = from_spans(&obs, STEP);
        let got = by_name(&obs, &series);
        let key = |c: &str, s: &str, sig| (c.to_string(), s.to_string(), sig);
        let (m1, m2, m3) = (T0 + STEP, T0 + 2 * STEP, T0 + 3 * STEP);
        let per_s = |n: f64| n / 60.0;
        assert_eq!(
            got.len(),
            8,
            "two edges, four series each: {:?}",
            got.keys()
        );

        // web → api: two calls, then none, then one failed.
        close(
            &got[&key("web", "api", EdgeSignal::Calls)],
            &[(m1, per_s(2.0)), (m2, 0.0), (m3, per_s(1.0))],
        );
        close(
            &got[&key("web", "api", EdgeSignal::CallsFailed)],
            &[(m1, 0.0), (m2, 0.0), (m3, per_s(1.0))],
        );
        close(
            &got[&key("web", "api", EdgeSignal::LatencyServer)],
            &[(m1, 0.060), (m3, 0.120)],
        );
        // The client spans' 100 ms each; then an unknown-kind span that only calls out.
        close(
            &got[&key("web", "api", EdgeSignal::LatencyClient)],
            &[(m1, 0.100), (m3, 0.250)],
        );

        // api → db: two calls in minute 1, one of them a 503, one in minute
        // 2; the edge goes on as no calls in the last interval.
        close(
            &got[&key("api", "db", EdgeSignal::Calls)],
            &[(m1, per_s(2.0)), (m2, per_s(1.0)), (m3, 0.0)],
        );
        close(
            &got[&key("api", "db", EdgeSignal::CallsFailed)],
            &[(m1, per_s(1.0)), (m2, 0.0), (m3, 0.0)],
        );
        close(
            &got[&key("api", "db", EdgeSignal::LatencyServer)],
            &[(m1, 0.020), (m2, 0.050)],
        );
        // api's internal span is no client span: no wire, the server's time.
        close(
            &got[&key("api", "db", EdgeSignal::LatencyClient)],
            &[(m1, 0.020), (m2, 0.050)],
        );

        // Caller then callee by name, signals in ALL's order.
        let order: Vec<(String, String, EdgeSignal)> = series
            .iter()
            .map(|e| {
                (
                    obs.names.name(e.client).to_string(),
                    obs.names.name(e.server).to_string(),
                    e.signal,
                )
            })
            .collect();
        let mut want = Vec::new();
        for (c, s) in [("api", "db"), ("web", "api")] {
            for sig in EdgeSignal::ALL {
                want.push(key(c, s, sig));
            }
        }
        assert_eq!(order, want);
    }

    #[test]
    fn an_interval_without_any_call_has_no_sample() {
        let mut b = Build::new();
        for (trace, t) in [(1, T0 - 30 * S), (2, T0 + 2 * STEP - 30 * S)] {
            let call = b.span(trace, 0, "a", SpanKind::Client, t, 1000, false, 0);
            b.span(trace, call, "b", SpanKind::Server, t + 1, 500, false, 0);
        }
        let series = from_spans(&b.obs, STEP);
        let times: Vec<Micros> = series[0].samples.iter().map(|s| s.0).collect();
        assert_eq!(times, vec![T0, T0 + 2 * STEP]);
    }

    #[test]
    fn a_call_on_an_interval_end_belongs_to_that_interval() {
        let mut b = Build::new();
        let root = b.span(1, 0, "a", SpanKind::Client, T0, 1000, false, 0);
        b.span(1, root, "b", SpanKind::Server, T0 + 1, 500, false, 0);
        let series = from_spans(&b.obs, STEP);
        // The client span starts on T0: the sample at T0 stands for (T0 − step, T0].
        assert_eq!(series[0].samples, vec![(T0, 1.0 / 60.0)]);
    }

    #[test]
    fn no_edge_without_the_parent_nor_inside_a_component() {
        use SpanKind::*;
        let mut b = Build::new();
        // The parent (id 999) was never recorded.
        b.span(1, 999, "api", Server, T0, 1000, false, 0);
        // Parent and child in one component: a call inside it.
        let root = b.span(2, 0, "api", Server, T0, 5000, false, 0);
        b.span(2, root, "api", Internal, T0 + 10, 1000, false, 0);
        let call = b.span(2, root, "api", Client, T0 + 20, 1000, false, 0);
        b.span(2, call, "api", Server, T0 + 30, 500, false, 0);
        // The same span id in another trace is another span.
        b.span(3, root, "db", Server, T0, 1000, false, 0);
        assert!(from_spans(&b.obs, STEP).is_empty());
    }

    #[test]
    fn replacing_traces_moves_them_to_edges_and_says_so() {
        let mut obs = three_services();
        let spans = obs.spans.len();
        obs.sources.push(SourceStatus {
            modality: Modality::Traces,
            records: spans as u64,
            missing: None,
            note: None,
        });
        let edges = replace_traces(&mut obs, STEP);
        assert_eq!(edges, 2);
        assert!(obs.spans.is_empty());
        assert_eq!(obs.edges.len(), 8);
        assert_eq!(obs.modalities(), vec![Modality::Metrics]);
        let traces = &obs.sources[0];
        assert_eq!(traces.missing, None, "a replacement is no lack");
        assert_eq!(traces.records, spans as u64);
        assert_eq!(
            traces.note.as_deref(),
            Some("replaced by service-graph series (2 edges from 16 spans, step 60 s)")
        );

        // Without a traces source, one is added.
        let mut obs = three_services();
        replace_traces(&mut obs, STEP);
        assert_eq!(obs.sources.len(), 1);
        assert!(obs.sources[0].note.is_some());
    }
}
