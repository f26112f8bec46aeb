//! Caller→callee edges from service-graph metrics in the localisation: alone
//! (no traces at all) they are the call graph; beside traces, the traces win
//! where both see an edge and the metrics add the edges the traces miss.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use graph::{localise, EngineConfig, Localisation};
use ingest::{Alert, EdgeSeries, EdgeSignal, Observations, Series, Signal, Span, SpanKind};

const S: i64 = 1_000_000;
const T0: i64 = 1_767_225_600 * S; // 2026-01-01T00:00:00Z

fn alert(obs: &mut Observations, component: &str, at: i64) {
    obs.alerts.push(Alert {
        status: "firing".into(),
        labels: [("alertname", "HighLatency"), ("service", component)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        annotations: Default::default(),
        starts_at: Utc.timestamp_micros(at).unwrap(),
        ends_at: None,
        generator_url: String::new(),
        fingerprint: "calls".into(),
    });
}

/// A 15 s series of `rate` per second over 30 minutes.
fn edge(obs: &mut Observations, client: &str, server: &str, signal: EdgeSignal, rate: f64) {
    let e = EdgeSeries {
        client: obs.names.intern(client),
        server: obs.names.intern(server),
        signal,
        labels: BTreeMap::from([
            ("client".to_string(), client.to_string()),
            ("server".to_string(), server.to_string()),
        ]),
        samples: (1..=120).map(|k| (T0 + 15 * S * k, rate)).collect(),
    };
    obs.edges.push(e);
}

/// CPU of `component` every 15 s over 30 minutes, rising from minute 20 when `hot`.
fn cpu(obs: &mut Observations, component: &str, hot: bool) {
    let s = Series {
        component: obs.names.intern(component),
        signal: Signal::Cpu,
        labels: BTreeMap::new(),
        samples: (0..=120)
            .map(|k| {
                let t = T0 + 15 * S * k;
                let wiggle = 0.01 * ((k * 7 % 5) as f64);
                let v = if hot && k >= 80 { 0.95 } else { 0.3 + wiggle };
                (t, v)
            })
            .collect(),
    };
    obs.series.push(s);
}

fn edge_of<'a>(loc: &'a Localisation, from: &str, to: &str) -> Option<&'a graph::Edge> {
    loc.edges.iter().find(|e| e.from == from && e.to == to)
}

#[test]
fn without_traces_the_metrics_are_the_call_graph() {
    let mut obs = Observations::default();
    for (c, hot) in [("frontend", false), ("checkout", false), ("payment", true)] {
        cpu(&mut obs, c, hot);
    }
    edge(&mut obs, "frontend", "checkout", EdgeSignal::Calls, 10.0);
    edge(
        &mut obs,
        "frontend",
        "checkout",
        EdgeSignal::CallsFailed,
        0.5,
    );
    edge(&mut obs, "checkout", "payment", EdgeSignal::Calls, 4.0);
    alert(&mut obs, "frontend", T0 + 22 * 60 * S);
    let loc = localise(&obs, &EngineConfig::default()).unwrap();

    assert_eq!(loc.modalities, ["metrics"]);
    let fc = edge_of(&loc, "frontend", "checkout").expect("frontend → checkout");
    // The window is 30 minutes of 15 s samples: 120 of them, 15 s each.
    assert_eq!((fc.calls, fc.errors), (18_000, 900));
    let cp = edge_of(&loc, "checkout", "payment").expect("checkout → payment");
    assert_eq!((cp.calls, cp.errors), (7_200, 0));
    assert_eq!(cp.p99_ms, 0.0, "metrics time no calls");
    assert_eq!(loc.edges.len(), 2);
    assert_eq!(loc.ranking[0].component, "payment", "{:#?}", loc.ranking);
    assert_eq!(
        loc.path,
        ["payment", "checkout", "frontend"],
        "the path runs along the metric edges"
    );
}

/// One traced request a second, frontend → checkout, over 30 minutes.
fn traced(obs: &mut Observations) -> u64 {
    let frontend = obs.names.intern("frontend");
    let checkout = obs.names.intern("checkout");
    let op = obs.names.intern("GET /");
    let mut n = 0;
    for i in 0..1800u64 {
        let t = T0 + i as i64 * S;
        let span = |id, parent, component, kind| Span {
            trace_id: u128::from(i) + 1,
            span_id: id,
            parent_id: parent,
            component,
            operation: op,
            kind,
            start: t,
            duration: 2_000,
            error: false,
            http_status: 200,
            peer: None,
            exception: None,
            event: None,
            proxy: false,
        };
        obs.spans
            .push(span(3 * i + 1, 0, frontend, SpanKind::Server));
        obs.spans
            .push(span(3 * i + 2, 3 * i + 1, frontend, SpanKind::Client));
        obs.spans
            .push(span(3 * i + 3, 3 * i + 2, checkout, SpanKind::Server));
        n += 1;
    }
    n
}

#[test]
fn beside_traces_the_traces_win_and_the_metrics_add_what_they_miss() {
    let mut obs = Observations::default();
    let traced_calls = traced(&mut obs);
    // The metrics count every call, the traces a sample: they disagree.
    edge(&mut obs, "frontend", "checkout", EdgeSignal::Calls, 20.0);
    // An edge no trace shows (an uninstrumented caller, a sampled-away path).
    edge(&mut obs, "checkout", "fraud-check", EdgeSignal::Calls, 2.0);
    edge(
        &mut obs,
        "checkout",
        "fraud-check",
        EdgeSignal::CallsFailed,
        0.1,
    );
    alert(&mut obs, "frontend", T0 + 22 * 60 * S);
    let loc = localise(&obs, &EngineConfig::default()).unwrap();

    assert_eq!(loc.modalities, ["traces", "metrics"]);
    let fc = edge_of(&loc, "frontend", "checkout").expect("frontend → checkout");
    assert_eq!(
        fc.calls, traced_calls,
        "the traces' count, not the metrics'"
    );
    assert!(fc.p99_ms > 0.0);
    let ff = edge_of(&loc, "checkout", "fraud-check").expect("the metrics' own edge");
    assert_eq!((ff.calls, ff.errors), (3_600, 180));
    assert_eq!(loc.edges.len(), 2);
    assert!(
        loc.heatmap.components.iter().any(|c| c == "fraud-check"),
        "a component seen only in edges is a component: {:?}",
        loc.heatmap.components
    );
}
