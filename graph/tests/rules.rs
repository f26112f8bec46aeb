//! The ranking rules on small hand-built incidents: each test builds the
//! traces of one situation an SRE would recognise and checks the verdict.

use chrono::{TimeZone, Utc};
use graph::{localise, EngineConfig, FaultKind};
use ingest::{Alert, Observations, Span, SpanKind};

const MIN: i64 = 60_000_000;
const T0: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

struct Sim {
    obs: Observations,
    next: u64,
}

impl Sim {
    fn new() -> Sim {
        Sim {
            obs: Observations::default(),
            next: 1,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        &mut self,
        trace: u128,
        parent: u64,
        comp: &str,
        kind: SpanKind,
        start: i64,
        dur: i64,
        error: bool,
        peer: Option<&str>,
    ) -> u64 {
        let id = self.next;
        self.next += 1;
        let component = self.obs.names.intern(comp);
        let operation = self.obs.names.intern("op");
        let peer = peer.map(|p| self.obs.names.intern(p));
        self.obs.spans.push(Span {
            trace_id: trace,
            span_id: id,
            parent_id: parent,
            component,
            operation,
            kind,
            start,
            duration: dur,
            error,
            http_status: if error { 500 } else { 200 },
            peer,
            exception: None,
            event: None,
            proxy: false,
        });
        id
    }

    /// front -> {a, b} -> db (uninstrumented). `slow_a_db`/`slow_b_db` add
    /// wait to the client spans of a's / b's calls to the database after
    /// minute 20; `a_self` adds own work in a; `a_err` makes a fail.
    fn request(
        &mut self,
        i: u64,
        t: i64,
        slow_a_db: i64,
        slow_b_db: i64,
        a_self: i64,
        a_err: bool,
    ) {
        let trace = i as u128 + 1;
        let jitter = (i % 7) as i64 * 300;
        let a_db = 2_000 + jitter + slow_a_db;
        let b_db = 2_000 + jitter + slow_b_db;
        let a_dur = 5_000 + a_self + a_db;
        let b_dur = 4_000 + b_db;
        let front = 3_000 + a_dur + b_dur + 400;
        let root = self.span(trace, 0, "front", SpanKind::Server, t, front, a_err, None);
        let ca = self.span(
            trace,
            root,
            "front",
            SpanKind::Client,
            t + 100,
            a_dur + 200,
            a_err,
            Some("a"),
        );
        let sa = self.span(
            trace,
            ca,
            "a",
            SpanKind::Server,
            t + 200,
            a_dur,
            a_err,
            None,
        );
        self.span(
            trace,
            sa,
            "a",
            SpanKind::Client,
            t + 300,
            a_db,
            false,
            Some("db"),
        );
        let cb = self.span(
            trace,
            root,
            "front",
            SpanKind::Client,
            t + a_dur + 300,
            b_dur + 200,
            false,
            Some("b"),
        );
        let sb = self.span(
            trace,
            cb,
            "b",
            SpanKind::Server,
            t + a_dur + 400,
            b_dur,
            false,
            None,
        );
        self.span(
            trace,
            sb,
            "b",
            SpanKind::Client,
            t + a_dur + 500,
            b_db,
            false,
            Some("db"),
        );
    }

    fn alert_on(&mut self, comp: &str, at: i64) {
        self.alert_named("HighLatency", comp, at);
    }

    fn alert_named(&mut self, name: &str, comp: &str, at: i64) {
        self.obs.alerts.push(Alert {
            status: "firing".into(),
            labels: [
                ("alertname".to_string(), name.to_string()),
                ("service".to_string(), comp.to_string()),
            ]
            .into_iter()
            .collect(),
            annotations: Default::default(),
            starts_at: Utc.timestamp_micros(at).unwrap(),
            ends_at: None,
            generator_url: String::new(),
            fingerprint: format!("fp-{comp}"),
        });
    }
}

/// 30 minutes, 20 requests a minute; the fault from minute 18, the alert at 20.
fn incident(fault: impl Fn(bool) -> (i64, i64, i64, bool)) -> Observations {
    let mut sim = Sim::new();
    for i in 0..600u64 {
        let t = T0 + i as i64 * 3_000_000;
        let on = t >= T0 + 18 * MIN;
        let (sa, sb, aself, aerr) = fault(on);
        sim.request(i, t, sa, sb, aself, aerr && i % 2 == 0);
    }
    sim.alert_on("front", T0 + 20 * MIN);
    sim.obs
}

#[test]
fn one_caller_waiting_on_a_shared_database_is_the_caller() {
    let obs = incident(|on| {
        if on {
            (80_000, 0, 0, false)
        } else {
            (0, 0, 0, false)
        }
    });
    let loc = localise(&obs, &EngineConfig::default()).unwrap();
    assert_eq!(loc.ranking[0].component, "a", "{:#?}", loc.ranking);
    assert_eq!(loc.ranking[0].fault, FaultKind::ConnectionPoolExhaustion);
    assert_eq!(loc.path, vec!["a", "front"]);
}

#[test]
fn all_callers_waiting_on_the_database_is_the_database() {
    let obs = incident(|on| {
        if on {
            (80_000, 80_000, 0, false)
        } else {
            (0, 0, 0, false)
        }
    });
    let loc = localise(&obs, &EngineConfig::default()).unwrap();
    assert_eq!(loc.ranking[0].component, "db", "{:#?}", loc.ranking);
    assert_eq!(loc.ranking[0].fault, FaultKind::Latency);
    assert_eq!(loc.path.first().map(String::as_str), Some("db"));
    assert_eq!(loc.path.last().map(String::as_str), Some("front"));
}

#[test]
fn own_slowness_beats_inherited_slowness() {
    let obs = incident(|on| {
        if on {
            (0, 0, 60_000, false)
        } else {
            (0, 0, 0, false)
        }
    });
    let loc = localise(&obs, &EngineConfig::default()).unwrap();
    assert_eq!(loc.ranking[0].component, "a", "{:#?}", loc.ranking);
    assert!(
        loc.ranking
            .iter()
            .all(|c| c.component != "front" || c.score < loc.ranking[0].score / 2.0),
        "the caller only inherits the latency: {:#?}",
        loc.ranking
    );
}

#[test]
fn originated_errors_beat_propagated_ones() {
    let obs = incident(|on| (0, 0, 0, on));
    let loc = localise(&obs, &EngineConfig::default()).unwrap();
    assert_eq!(loc.ranking[0].component, "a", "{:#?}", loc.ranking);
    assert_eq!(loc.ranking[0].fault, FaultKind::ErrorReturn);
    let ev = &loc.ranking[0].evidence[0];
    assert_eq!(ev.signal, "error_rate");
    assert!(!ev.trace_ids.is_empty(), "errors come with example traces");
}

#[test]
fn spans_whose_parents_form_a_cycle_leave_the_verdict_alone() {
    // Broken data: two failing spans of one trace, each the other's parent
    // (ids reused within the trace). Carrying their failures up must end,
    // and must not drown the real cause.
    let mut obs = incident(|on| (0, 0, 0, on));
    let mut sim = Sim {
        obs: std::mem::take(&mut obs),
        next: 1 << 40,
    };
    let t = T0 + 25 * MIN;
    let x = sim.span(9_999, 0, "b", SpanKind::Server, t, 1_000, true, None);
    let y = sim.span(9_999, x, "b", SpanKind::Internal, t + 10, 500, true, None);
    let n = sim.obs.spans.len();
    sim.obs.spans[n - 2].parent_id = y;
    let loc = localise(&sim.obs, &EngineConfig::default()).unwrap();
    assert_eq!(loc.ranking[0].component, "a", "{:#?}", loc.ranking);
}

#[test]
fn a_quiet_incident_names_nobody() {
    let mut obs = incident(|_| (0, 0, 0, false));
    obs.alerts.clear();
    let loc = localise(&obs, &EngineConfig::default()).unwrap();
    assert!(loc.ranking.is_empty(), "{:#?}", loc.ranking);
    assert_eq!(loc.heatmap.components.len(), 4);
    assert_eq!(loc.heatmap.scores.len(), 4);
    assert!(loc
        .heatmap
        .scores
        .iter()
        .all(|r| r.len() == loc.heatmap.buckets.len()));
}

/// a waits on the database from minute 18; the storm's alerts fire on
/// `alerting`, the first opening the investigation.
fn storm(alerting: &[&str]) -> graph::Localisation {
    let mut obs = incident(|on| {
        if on {
            (80_000, 0, 0, false)
        } else {
            (0, 0, 0, false)
        }
    });
    obs.alerts.clear();
    let mut sim = Sim { obs, next: 0 };
    for (k, comp) in alerting.iter().enumerate() {
        sim.alert_on(comp, T0 + 20 * MIN + k as i64 * 30_000_000);
    }
    localise(&sim.obs, &EngineConfig::default()).unwrap()
}

#[test]
fn every_alert_of_a_storm_is_a_symptom_the_verdict_accounts_for() {
    // Opened by an alert on b, whose requests are healthy: the slowed
    // requests of front, which alerted too, are still the ones judged, and
    // the path ends at front, the alerting component a reaches.
    let loc = storm(&["b", "front"]);
    assert_eq!(loc.ranking[0].component, "a", "{:#?}", loc.ranking);
    assert_eq!(loc.path, vec!["a", "front"]);
    assert!(
        loc.ranking[0]
            .evidence
            .iter()
            .any(|e| e.signal == "explains_symptom"),
        "front's slowed requests are judged, and a accounts for them: {:#?}",
        loc.ranking[0].evidence
    );
    assert_eq!(loc.incident.alert_component.as_deref(), Some("b"));
    let front = &loc.incident.other_alerts[0];
    assert_eq!(front.alert_component.as_deref(), Some("front"));
    assert_eq!(front.explained, Some(true), "a is called by front");

    // The same outage opened by front: b's alert is one a cannot account
    // for (a is not below b), and the verdict says so.
    let loc = storm(&["front", "b"]);
    assert_eq!(loc.ranking[0].component, "a", "{:#?}", loc.ranking);
    assert_eq!(loc.path, vec!["a", "front"]);
    assert_eq!(loc.incident.other_alerts[0].explained, Some(false));
}

#[test]
fn a_client_library_traced_under_its_callees_name_is_that_callee() {
    // front -> a, and a's handler queries a database through a client
    // library with a tracer of its own, named after the database: a client
    // span of component "db" (peer db) directly under a's server span, as
    // HotROD's `SQL SELECT` of `mysql` sits under customer's handler. From
    // minute 18 the queries take 60 ms more. Nothing else measures db: the
    // span is its time, so db is the cause, not a (whose own work is as
    // before) and not an unknown.
    let mut sim = Sim::new();
    for i in 0..600u64 {
        let t = T0 + i as i64 * 3_000_000;
        let slow = if t >= T0 + 18 * MIN { 60_000 } else { 0 };
        let trace = i as u128 + 1;
        let q = 2_000 + (i % 7) as i64 * 300 + slow;
        let root = sim.span(
            trace,
            0,
            "front",
            SpanKind::Server,
            t,
            q + 6_000,
            false,
            None,
        );
        let ca = sim.span(
            trace,
            root,
            "front",
            SpanKind::Client,
            t + 100,
            q + 5_000,
            false,
            Some("a"),
        );
        let sa = sim.span(
            trace,
            ca,
            "a",
            SpanKind::Server,
            t + 200,
            q + 4_800,
            false,
            None,
        );
        sim.span(
            trace,
            sa,
            "db",
            SpanKind::Client,
            t + 300,
            q,
            false,
            Some("db"),
        );
    }
    sim.alert_on("front", T0 + 20 * MIN);
    let loc = localise(&sim.obs, &EngineConfig::default()).unwrap();
    assert_eq!(loc.ranking[0].component, "db", "{:#?}", loc.ranking);
    assert_eq!(loc.ranking[0].fault, FaultKind::Latency);
    assert_eq!(loc.path, vec!["db", "a", "front"]);
}

#[test]
fn a_quiet_window_with_an_alert_gets_a_tentative_answer_that_says_so() {
    // An alert fired, but nothing moved: the strongest changes are still
    // listed, every score low, the verdict marked tentative with why.
    let obs = incident(|_| (0, 0, 0, false));
    let loc = localise(&obs, &EngineConfig::default()).unwrap();
    assert!(!loc.confident);
    assert!(!loc.ranking.is_empty(), "never an empty answer to an alert");
    let p = graph::Params::default();
    assert!(
        loc.ranking.iter().all(|c| c.score < p.candidate_z),
        "a healthy window stays recognisable: {:#?}",
        loc.ranking
    );
    let why = loc
        .missing
        .iter()
        .find(|m| m.modality == "ranking")
        .expect("a reason");
    assert!(why.reason.contains("tentative"), "{}", why.reason);
    // And an incident that stands out is confident.
    let loc = localise(
        &incident(|on| (0, 0, 60_000 * on as i64, false)),
        &EngineConfig::default(),
    )
    .unwrap();
    assert!(loc.confident);
}

/// front -> a and front -> b. From minute 18, a fails one request in ten
/// (its own error) and b's own work takes eight times as long, no errors.
fn errors_here_latency_there(alert: &str) -> graph::Localisation {
    localise(
        &errors_here_latency_there_obs(alert, None),
        &EngineConfig::default(),
    )
    .unwrap()
}

/// The same, and optionally a job apart from it (`job -> store`, never
/// reaching front) whose store slows `lonely.0` times and fails every
/// `lonely.1`-th call (0: never).
fn errors_here_latency_there_obs(alert: &str, lonely: Option<(i64, u64)>) -> Observations {
    let mut sim = Sim::new();
    for i in 0..600u64 {
        let t = T0 + i as i64 * 3_000_000;
        let on = t >= T0 + 18 * MIN;
        let trace = i as u128 + 1;
        let j = (i % 7) as i64 * 300;
        let a_err = on && i % 10 == 0;
        let b = if on { 8 * (4_000 + j) } else { 4_000 + j };
        let root = sim.span(
            trace,
            0,
            "front",
            SpanKind::Server,
            t,
            12_000 + b,
            a_err,
            None,
        );
        let ca = sim.span(
            trace,
            root,
            "front",
            SpanKind::Client,
            t + 100,
            5_200,
            a_err,
            Some("a"),
        );
        sim.span(
            trace,
            ca,
            "a",
            SpanKind::Server,
            t + 200,
            5_000 + j,
            a_err,
            None,
        );
        let cb = sim.span(
            trace,
            root,
            "front",
            SpanKind::Client,
            t + 5_400,
            b + 200,
            false,
            Some("b"),
        );
        sim.span(trace, cb, "b", SpanKind::Server, t + 5_500, b, false, None);
        if let Some((times, every)) = lonely {
            let trace = trace + 1_000_000;
            let d = if on { times * (3_000 + j) } else { 3_000 + j };
            let fail = on && every > 0 && i % every == 0;
            let root = sim.span(trace, 0, "job", SpanKind::Server, t, d + 1_000, fail, None);
            let c = sim.span(
                trace,
                root,
                "job",
                SpanKind::Client,
                t + 100,
                d + 200,
                fail,
                Some("store"),
            );
            sim.span(trace, c, "store", SpanKind::Server, t + 200, d, fail, None);
        }
    }
    sim.alert_named(alert, "front", T0 + 20 * MIN);
    sim.obs
}

#[test]
fn the_alert_says_which_change_is_the_answer() {
    // Asked nothing in particular, the larger change comes first: b.
    let loc = errors_here_latency_there("FaultInjected");
    assert_eq!(loc.ranking[0].component, "b", "{:#?}", loc.ranking);
    // Low availability on the front end: the component whose own errors
    // reach it, not the one whose latency rose more and which fails nothing.
    let loc = errors_here_latency_there("LowAvailability");
    assert_eq!(loc.symptom.kind, graph::symptom::SymptomKind::Errors);
    assert_eq!(loc.ranking[0].component, "a", "{:#?}", loc.ranking);
    let b = loc
        .ranking
        .iter()
        .find(|c| c.component == "b")
        .expect("b changed");
    assert!(!b.explains_alert, "listed as changed, but not explaining");
    // The same window under a latency alert: b.
    let loc = errors_here_latency_there("HighLatency");
    assert_eq!(loc.ranking[0].component, "b", "{:#?}", loc.ranking);
    assert!(loc
        .ranking
        .iter()
        .find(|c| c.component == "a")
        .is_none_or(|a| !a.explains_alert));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]
    #[test]
    fn a_change_off_every_path_to_the_alert_moves_nobody_on_one(
        times in 2i64..40,
        every in 0u64..6,
        errors_alert in proptest::bool::ANY,
    ) {
        let alert = if errors_alert { "HighErrorRate" } else { "HighLatency" };
        let cfg = EngineConfig::default();
        let on_path = |loc: &graph::Localisation| -> Vec<String> {
            loc.ranking
                .iter()
                .map(|c| c.component.clone())
                .filter(|c| c != "job" && c != "store")
                .collect()
        };
        let alone = localise(&errors_here_latency_there_obs(alert, None), &cfg).unwrap();
        let with = localise(&errors_here_latency_there_obs(alert, Some((times, every))), &cfg).unwrap();
        proptest::prop_assert_eq!(on_path(&alone), on_path(&with));
        // What lies off the paths does not explain the alert, and comes
        // after everything that does.
        let off = |c: &graph::Candidate| c.component == "job" || c.component == "store";
        proptest::prop_assert!(with.ranking.iter().filter(|c| off(c)).all(|c| !c.explains_alert));
        if let Some(k) = with.ranking.iter().position(off) {
            proptest::prop_assert!(with.ranking[k..].iter().all(|c| !c.explains_alert));
        }
    }
}
