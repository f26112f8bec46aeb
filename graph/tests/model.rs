//! The engine's model on small hand-built incidents with a known answer,
//! judged through the public `graph::localise`: scores on one scale, the
//! network, own time per request, where errors start, cause and effect,
//! inner causes, and properties that hold for any incident.
//!
//! Every incident runs 30 minutes (baseline to minute 15, fault from minute
//! 16, alert at minute 20), a few components, a few hundred requests.

mod common_model;

use common_model::*;
use graph::{FaultKind, InnerKind, Localisation};
use ingest::{EdgeSignal, LogLevel, Micros, Signal, SpanKind};
use proptest::prelude::*;

/// CPU around 0.3 cores (salted wiggle) that steps to `to` from `from`.
fn cpu_step(inc: &mut Incident, comp: &str, salt: u64, from: Micros, to: f64) {
    inc.series(comp, Signal::Cpu, move |k, t| {
        if t >= from {
            to
        } else {
            0.30 + 0.02 * unit(k, salt)
        }
    });
}

// ---------------------------------------------------------------------------
// 1. Scores on one scale.
// ---------------------------------------------------------------------------

#[test]
fn a_level_far_outside_a_one_point_baseline_ranks_and_the_baseline_is_called_thin() {
    let mut inc = Incident::new();
    inc.series("steady", Signal::Cpu, |k, _| 0.30 + 0.02 * unit(k, 1));
    // One baseline point (minute 12), then a sample every 2 minutes.
    let mut samples = vec![(T0 + 12 * MIN, 0.20)];
    let mut t = FAULT_AT;
    while t < END {
        samples.push((t, 0.90));
        t += 2 * MIN;
    }
    inc.samples("worker", Signal::Cpu, samples);
    inc.alert("worker", ALERT_AT);
    let loc = inc.localise();

    let c = top(&loc);
    assert_eq!(c.component, "worker", "{}", show(&loc));
    assert_eq!(c.fault, FaultKind::CpuSaturation, "{}", show(&loc));
    assert_eq!(c.evidence[0].signal, "cpu", "{}", show(&loc));
    assert!(
        c.evidence[0].summary.contains("thin baseline"),
        "{}",
        show(&loc)
    );
    assert_eq!(rank_of(&loc, "steady"), None, "{}", show(&loc));
    let thin = loc
        .missing
        .iter()
        .find(|m| m.modality == "baseline" && m.reason.contains("fewer than 3 points"))
        .unwrap_or_else(|| panic!("no thin-baseline note:\n{}", show(&loc)));
    assert!(
        thin.reason.starts_with("1 series") && thin.reason.contains("cpu"),
        "{}",
        thin.reason
    );
}

/// A 5xx rate that is exactly 0 in the baseline and 4% of 0.6 requests/s after.
fn five_xx_from_zero() -> Incident {
    let mut inc = Incident::new();
    inc.series("api", Signal::RequestRate, |_, _| 0.6);
    inc.series("api", Signal::Http5xxRate, |_, t| {
        if t >= FAULT_AT {
            0.024
        } else {
            0.0
        }
    });
    inc.series("api", Signal::Cpu, |k, _| 0.30 + 0.02 * unit(k, 2));
    inc.series("cache", Signal::Cpu, |k, _| 0.50 + 0.02 * unit(k, 3));
    inc.alert("api", ALERT_AT);
    inc
}

#[test]
fn a_5xx_rate_from_exactly_zero_to_four_percent_of_requests_enters_the_ranking() {
    let loc = five_xx_from_zero().localise();
    let c = candidate(&loc, "api").unwrap_or_else(|| panic!("api not ranked:\n{}", show(&loc)));
    assert!(
        c.evidence
            .iter()
            .any(|e| e.summary.contains("http_5xx_rate")),
        "{}",
        show(&loc)
    );
    assert_eq!(rank_of(&loc, "api"), Some(0), "{}", show(&loc));
    assert_eq!(rank_of(&loc, "cache"), None, "{}", show(&loc));
}

#[test]
fn a_5xx_rise_nothing_explains_is_an_error_fault() {
    // The only evidence is the 5xx rate: the fault it points at is errors
    // returned, not latency.
    let loc = five_xx_from_zero().localise();
    let c = candidate(&loc, "api").unwrap_or_else(|| panic!("api not ranked:\n{}", show(&loc)));
    assert_eq!(c.fault, FaultKind::ErrorReturn, "{}", show(&loc));
}

#[test]
fn equal_strongest_evidence_is_ordered_by_the_earlier_onset_not_by_name() {
    let mut inc = Incident::new();
    // `alpha` sorts first by name and comes first in the data; `zeta`'s
    // identical CPU step starts six minutes earlier.
    cpu_step(&mut inc, "alpha", 7, T0 + 22 * MIN, 0.9);
    cpu_step(&mut inc, "zeta", 7, FAULT_AT, 0.9);
    let loc = inc.localise();
    let order: Vec<&str> = loc.ranking.iter().map(|c| c.component.as_str()).collect();
    assert_eq!(order, ["zeta", "alpha"], "{}", show(&loc));
    assert_eq!(loc.ranking[0].score, loc.ranking[1].score, "{}", show(&loc));
}

#[test]
fn equal_strongest_evidence_is_ordered_by_more_modalities_not_by_name() {
    let mut inc = Incident::new();
    cpu_step(&mut inc, "alpha", 7, FAULT_AT, 0.9);
    cpu_step(&mut inc, "zeta", 7, FAULT_AT, 0.9);
    // `zeta` also writes a new kind of error line from the same minute.
    let mut t = T0;
    let mut k = 0;
    while t < END {
        let info = Line {
            level: LogLevel::Info,
            template: "z.Worker#10".into(),
            message: "tick <*>".into(),
        };
        inc.line(t, "zeta", &info, None, None);
        if t >= FAULT_AT && k % 3 == 0 {
            let err = Line {
                level: LogLevel::Error,
                template: "z.Worker#55".into(),
                message: "cache refresh failed <*>".into(),
            };
            inc.line(t + 1, "zeta", &err, None, None);
        }
        t += 10 * S;
        k += 1;
    }
    let loc = inc.localise();
    let order: Vec<&str> = loc.ranking.iter().map(|c| c.component.as_str()).collect();
    assert_eq!(order, ["zeta", "alpha"], "{}", show(&loc));
    let cpu = |c: &str| {
        candidate(&loc, c)
            .and_then(|c| c.evidence.iter().find(|e| e.signal == "cpu"))
            .map(|e| e.deviation)
    };
    assert_eq!(cpu("zeta"), cpu("alpha"), "the same strongest evidence");
}

#[test]
fn a_huge_but_finite_score_is_not_printed_as_zero() {
    // Scores are not clipped: evidence far beyond any other still ranks
    // first with a score at least its own.
    let mut inc = Incident::new();
    cpu_step(&mut inc, "runaway", 4, FAULT_AT, 1e160);
    cpu_step(&mut inc, "quiet", 5, T0 + 40 * MIN, 0.0);
    let loc = inc.localise();
    let c = top(&loc);
    assert_eq!(c.component, "runaway", "{}", show(&loc));
    assert!(
        c.score.is_finite() && c.score >= c.evidence[0].deviation,
        "score {} for evidence of {}",
        c.score,
        c.evidence[0].deviation
    );
}

// ---------------------------------------------------------------------------
// 2. The network.
// ---------------------------------------------------------------------------

/// front → a → x and front → b → x; from the fault on, the wire of both
/// calls into x is 20 ms slower.
fn calls_into_x_slower() -> Incident {
    let mut inc = Incident::new();
    inc.requests(3 * S, |i, on| {
        let slow = if on { 20_000 } else { 0 };
        Call::new("front", jit(2_000.0, 0.3, i, 1))
            .call(
                Call::new("a", jit(3_000.0, 0.3, i, 2))
                    .wire(jit(800.0, 0.5, i, 3))
                    .call(
                        Call::new("x", jit(4_000.0, 0.3, i, 4)).wire(jit(800.0, 0.5, i, 5) + slow),
                    ),
            )
            .call(
                Call::new("b", jit(2_500.0, 0.3, i, 6))
                    .wire(jit(800.0, 0.5, i, 7))
                    .call(
                        Call::new("x", jit(4_000.0, 0.3, i, 8)).wire(jit(800.0, 0.5, i, 9) + slow),
                    ),
            )
    });
    inc.alert("front", ALERT_AT);
    inc
}

#[test]
fn calls_into_x_slower_on_the_wire_for_all_its_callers_is_x_network_in() {
    let loc = calls_into_x_slower().localise();
    let c = top(&loc);
    assert_eq!(c.component, "x", "{}", show(&loc));
    assert_eq!(c.fault, FaultKind::NetworkDelay, "{}", show(&loc));
    assert!(
        signals(&loc, "x").iter().any(|s| s == "network_in"),
        "{}",
        show(&loc)
    );
    for caller in ["a", "b", "front"] {
        assert_before(&loc, "x", caller);
    }
}

#[test]
fn x_calls_to_two_callees_slower_while_they_serve_others_as_before_is_x_network_out() {
    let mut inc = Incident::new();
    inc.requests(3 * S, |i, on| {
        let slow = if on { 15_000 } else { 0 };
        let callee = |name: &str, salt: u64, extra: Micros| {
            Call::new(name, jit(3_000.0, 0.3, i, salt)).wire(jit(800.0, 0.5, i, salt + 1) + extra)
        };
        Call::new("front", jit(2_000.0, 0.3, i, 1))
            .call(
                Call::new("x", jit(3_000.0, 0.3, i, 2))
                    .wire(jit(800.0, 0.5, i, 3))
                    .calls(vec![callee("p", 10, slow), callee("q", 12, slow)]),
            )
            .call(
                Call::new("y", jit(3_000.0, 0.3, i, 4))
                    .wire(jit(800.0, 0.5, i, 5))
                    .calls(vec![callee("p", 14, 0), callee("q", 16, 0)]),
            )
    });
    inc.alert("front", ALERT_AT);
    let loc = inc.localise();
    let c = top(&loc);
    assert_eq!(c.component, "x", "{}", show(&loc));
    assert_eq!(c.fault, FaultKind::NetworkDelay, "{}", show(&loc));
    assert!(
        signals(&loc, "x").iter().any(|s| s == "network_out"),
        "{}",
        show(&loc)
    );
    for callee in ["p", "q"] {
        assert!(
            !signals(&loc, callee).iter().any(|s| s == "network_in"),
            "{callee} serves y as before:\n{}",
            show(&loc)
        );
    }
}

#[test]
fn one_callers_calls_to_y_slower_while_y_serves_others_as_before_is_that_callers_client() {
    let mut inc = Incident::new();
    inc.requests(3 * S, |i, on| {
        let slow = if on { 20_000 } else { 0 };
        Call::new("front", jit(2_000.0, 0.3, i, 1))
            .call(
                Call::new("a", jit(3_000.0, 0.3, i, 2))
                    .wire(jit(800.0, 0.5, i, 3))
                    .call(
                        Call::new("y", jit(4_000.0, 0.3, i, 4)).wire(jit(800.0, 0.5, i, 5) + slow),
                    ),
            )
            .call(
                Call::new("b", jit(2_500.0, 0.3, i, 6))
                    .wire(jit(800.0, 0.5, i, 7))
                    .call(Call::new("y", jit(4_000.0, 0.3, i, 8)).wire(jit(800.0, 0.5, i, 9))),
            )
    });
    inc.alert("front", ALERT_AT);
    let loc = inc.localise();
    let c = top(&loc);
    assert_eq!(c.component, "a", "{}", show(&loc));
    assert_eq!(
        c.fault,
        FaultKind::ConnectionPoolExhaustion,
        "{}",
        show(&loc)
    );
    assert!(
        signals(&loc, "a").iter().any(|s| s == "client_wait"),
        "{}",
        show(&loc)
    );
    assert!(
        !signals(&loc, "y").iter().any(|s| s == "network_in"),
        "{}",
        show(&loc)
    );
}

#[test]
fn a_delay_present_in_the_whole_window_still_names_x_by_the_network_reference() {
    let mut inc = Incident::new();
    inc.requests(3 * S, |i, _| {
        let hop = |salt: u64| jit(800.0, 0.5, i, salt);
        Call::new("front", jit(2_000.0, 0.3, i, 1))
            .call(
                Call::new("a", jit(3_000.0, 0.3, i, 2))
                    .wire(hop(3))
                    .call(Call::new("x", jit(4_000.0, 0.3, i, 4)).wire(20_000 + hop(5))),
            )
            .call(
                Call::new("b", jit(2_500.0, 0.3, i, 6))
                    .wire(hop(7))
                    .call(Call::new("x", jit(4_000.0, 0.3, i, 8)).wire(20_000 + hop(9))),
            )
            .call(
                Call::new("c", jit(2_000.0, 0.3, i, 10))
                    .wire(hop(11))
                    .call(Call::new("e", jit(2_000.0, 0.3, i, 12)).wire(hop(13))),
            )
            .call(Call::new("d", jit(2_000.0, 0.3, i, 14)).wire(hop(15)))
    });
    inc.alert("front", ALERT_AT);
    let loc = inc.localise();
    let c = top(&loc);
    assert_eq!(c.component, "x", "{}", show(&loc));
    assert_eq!(c.fault, FaultKind::NetworkDelay, "{}", show(&loc));
    assert!(
        signals(&loc, "x").iter().any(|s| s == "network_in"),
        "{}",
        show(&loc)
    );
}

// ---------------------------------------------------------------------------
// 3. Own time per request.
// ---------------------------------------------------------------------------

#[test]
fn a_handler_span_beside_the_client_span_it_waits_on_is_not_own_time() {
    // In a: server span S with two children side by side: a handler span H
    // (internal) covering nearly all of S, and the client span C into y.
    // y's own work grows by 50 ms; a only waits for it.
    let mut inc = Incident::new();
    let mut t = T0;
    let mut i = 0u64;
    while t < END {
        let on = t >= FAULT_AT;
        let trace = inc.new_trace();
        let y_dur = jit(4_000.0, 0.3, i, 1) + if on { 50_000 } else { 0 };
        let wire = jit(800.0, 0.5, i, 2);
        let (before, after) = (jit(1_500.0, 0.3, i, 3), jit(1_500.0, 0.3, i, 4));
        let c_dur = y_dur + wire;
        let a_dur = before + c_dur + after;
        let fa_wire = jit(800.0, 0.5, i, 5);
        let front_dur = 1_000 + a_dur + fa_wire + 1_000;
        let root = inc.span(
            trace,
            0,
            "front",
            "GET /",
            SpanKind::Server,
            t,
            front_dur,
            false,
            None,
        );
        let fa = inc.span(
            trace,
            root,
            "front",
            "call a",
            SpanKind::Client,
            t + 1_000,
            a_dur + fa_wire,
            false,
            Some("a"),
        );
        let sa_start = t + 1_000 + fa_wire / 2;
        let sa = inc.span(
            trace,
            fa,
            "a",
            "a op",
            SpanKind::Server,
            sa_start,
            a_dur,
            false,
            None,
        );
        inc.span(
            trace,
            sa,
            "a",
            "handle",
            SpanKind::Internal,
            sa_start + 50,
            a_dur - 100,
            false,
            None,
        );
        let c = inc.span(
            trace,
            sa,
            "a",
            "call y",
            SpanKind::Client,
            sa_start + before,
            c_dur,
            false,
            Some("y"),
        );
        inc.span(
            trace,
            c,
            "y",
            "y op",
            SpanKind::Server,
            sa_start + before + wire / 2,
            y_dur,
            false,
            None,
        );
        t += 3 * S;
        i += 1;
    }
    inc.alert("front", ALERT_AT);
    let loc = inc.localise();
    let c = top(&loc);
    assert_eq!(c.component, "y", "{}", show(&loc));
    assert_eq!(c.fault, FaultKind::Latency, "{}", show(&loc));
    assert!(
        !signals(&loc, "a").iter().any(|s| s == "self_time"),
        "{}",
        show(&loc)
    );
    assert_before(&loc, "y", "a");
}

#[test]
fn spans_of_unspecified_kind_calling_only_elsewhere_are_client_spans() {
    // No span says its kind. a's and b's spans into y have only y's span
    // below them: they are the callers' side of the call, so the 20 ms more
    // between them and y's span is the wire's, not a's or b's own time.
    let mut inc = Incident::new();
    let u = SpanKind::Unspecified;
    inc.requests(3 * S, |i, on| {
        let slow = if on { 20_000 } else { 0 };
        Call::new("front", jit(2_000.0, 0.3, i, 1))
            .kinds(u, u)
            .call(
                Call::new("a", jit(3_000.0, 0.3, i, 2))
                    .kinds(u, u)
                    .wire(jit(800.0, 0.5, i, 3))
                    .call(
                        Call::new("y", jit(4_000.0, 0.3, i, 4))
                            .kinds(u, u)
                            .wire(jit(800.0, 0.5, i, 5) + slow),
                    ),
            )
            .call(
                Call::new("b", jit(2_500.0, 0.3, i, 6))
                    .kinds(u, u)
                    .wire(jit(800.0, 0.5, i, 7))
                    .call(
                        Call::new("y", jit(4_000.0, 0.3, i, 8))
                            .kinds(u, u)
                            .wire(jit(800.0, 0.5, i, 9) + slow),
                    ),
            )
    });
    inc.alert("front", ALERT_AT);
    let loc = inc.localise();
    let c = top(&loc);
    assert_eq!(c.component, "y", "{}", show(&loc));
    assert!(
        signals(&loc, "y").iter().any(|s| s == "network_in"),
        "{}",
        show(&loc)
    );
    for caller in ["a", "b", "front"] {
        assert!(
            !signals(&loc, caller).iter().any(|s| s == "self_time"),
            "{caller}'s own time did not change:\n{}",
            show(&loc)
        );
    }
}

// ---------------------------------------------------------------------------
// 4. Errors.
// ---------------------------------------------------------------------------

/// frontend → orders → ledger, 30% of requests failing from the fault on;
/// `build(i, fail)` shapes each request.
fn errors_incident(build: impl Fn(u64, bool) -> Call) -> Localisation {
    let mut inc = Incident::new();
    inc.requests(3 * S, |i, on| build(i, on && unit(i, 40) < 0.3));
    inc.alert("frontend", ALERT_AT);
    inc.localise()
}

#[test]
fn an_error_status_at_the_deepest_failing_span_ranks_it_above_callers_passing_it_on() {
    let loc = errors_incident(|i, fail| {
        Call::new("frontend", jit(2_000.0, 0.3, i, 1))
            .error(fail)
            .call(
                Call::new("orders", jit(3_000.0, 0.3, i, 2))
                    .wire(jit(800.0, 0.5, i, 3))
                    .error(fail)
                    .client_error(fail)
                    .call(
                        Call::new("ledger", jit(4_000.0, 0.3, i, 4))
                            .wire(jit(800.0, 0.5, i, 5))
                            .error(fail)
                            .client_error(fail),
                    ),
            )
    });
    let c = top(&loc);
    assert_eq!(c.component, "ledger", "{}", show(&loc));
    assert_eq!(c.fault, FaultKind::ErrorReturn, "{}", show(&loc));
    assert_eq!(c.evidence[0].signal, "error_rate", "{}", show(&loc));
    for caller in ["orders", "frontend"] {
        assert_before(&loc, "ledger", caller);
        assert!(
            !signals(&loc, caller).iter().any(|s| s == "error_rate"),
            "{caller} only passes the error on:\n{}",
            show(&loc)
        );
    }
}

#[test]
fn an_error_line_in_the_deepest_span_marks_where_the_error_starts() {
    // ledger's spans carry no error status; it writes an error line in
    // the span of each request it fails. Its callers answer 500.
    let loc = errors_incident(|i, fail| {
        let mut ledger = Call::new("ledger", jit(4_000.0, 0.3, i, 4))
            .wire(jit(800.0, 0.5, i, 5))
            .client_error(fail)
            .log(LogLevel::Info, "l.Ledger#10", "posting entry <*>");
        if fail {
            ledger = ledger.log(
                LogLevel::Error,
                "l.Ledger#22",
                "entry rejected by constraint <*>",
            );
        }
        Call::new("frontend", jit(2_000.0, 0.3, i, 1))
            .error(fail)
            .call(
                Call::new("orders", jit(3_000.0, 0.3, i, 2))
                    .wire(jit(800.0, 0.5, i, 3))
                    .error(fail)
                    .client_error(fail)
                    .call(ledger),
            )
    });
    let c = top(&loc);
    assert_eq!(c.component, "ledger", "{}", show(&loc));
    assert_eq!(c.fault, FaultKind::ErrorReturn, "{}", show(&loc));
    assert!(
        signals(&loc, "ledger").iter().any(|s| s == "error_rate"),
        "{}",
        show(&loc)
    );
    for caller in ["orders", "frontend"] {
        assert_before(&loc, "ledger", caller);
        assert!(
            !signals(&loc, caller).iter().any(|s| s == "error_rate"),
            "{caller} only passes the error on:\n{}",
            show(&loc)
        );
    }
}

#[test]
fn a_callers_error_line_naming_the_callee_counts_for_the_callee() {
    // ledger's spans look fine (the answer was unusable); orders' client
    // span fails and orders writes "call to ledger failed" in it.
    let loc = errors_incident(|i, fail| {
        let mut ledger = Call::new("ledger", jit(4_000.0, 0.3, i, 4))
            .wire(jit(800.0, 0.5, i, 5))
            .client_error(fail);
        if fail {
            ledger = ledger.client_log(
                LogLevel::Error,
                "o.s.Orders#77",
                "call to ledger failed: bad response <*>",
            );
        }
        Call::new("frontend", jit(2_000.0, 0.3, i, 1))
            .error(fail)
            .call(
                Call::new("orders", jit(3_000.0, 0.3, i, 2))
                    .wire(jit(800.0, 0.5, i, 3))
                    .error(fail)
                    .client_error(fail)
                    .log(LogLevel::Info, "o.s.Orders#12", "order received <*>")
                    .call(ledger),
            )
    });
    let c = top(&loc);
    assert_eq!(c.component, "ledger", "{}", show(&loc));
    assert_eq!(c.fault, FaultKind::ErrorReturn, "{}", show(&loc));
    assert!(
        signals(&loc, "ledger")
            .iter()
            .any(|s| s == "named_in_errors"),
        "{}",
        show(&loc)
    );
    let orders = signals(&loc, "orders");
    assert!(
        !orders
            .iter()
            .any(|s| s == "new_error_templates" || s == "error_rate"),
        "the line is about ledger, not orders' own error:\n{}",
        show(&loc)
    );
    assert_before(&loc, "ledger", "orders");
}

#[test]
fn a_callers_error_line_in_its_handler_naming_the_callee_counts_for_the_callee() {
    // As above, but orders writes the line in its own server span (the
    // client span had ended when the handler logged).
    let loc = errors_incident(|i, fail| {
        let ledger = Call::new("ledger", jit(4_000.0, 0.3, i, 4))
            .wire(jit(800.0, 0.5, i, 5))
            .client_error(fail);
        let mut orders = Call::new("orders", jit(3_000.0, 0.3, i, 2))
            .wire(jit(800.0, 0.5, i, 3))
            .error(fail)
            .client_error(fail)
            .log(LogLevel::Info, "o.s.Orders#12", "order received <*>");
        if fail {
            orders = orders.log(
                LogLevel::Error,
                "o.s.Orders#77",
                "call to ledger failed: bad response <*>",
            );
        }
        Call::new("frontend", jit(2_000.0, 0.3, i, 1))
            .error(fail)
            .call(orders.call(ledger))
    });
    let c = top(&loc);
    assert_eq!(c.component, "ledger", "{}", show(&loc));
    assert!(
        signals(&loc, "ledger")
            .iter()
            .any(|s| s == "named_in_errors"),
        "{}",
        show(&loc)
    );
    assert!(
        !signals(&loc, "orders")
            .iter()
            .any(|s| s == "new_error_templates" || s == "error_rate"),
        "the line is about ledger, not orders' own error:\n{}",
        show(&loc)
    );
}

#[test]
fn a_callers_error_line_naming_an_uninstrumented_callee_counts_for_the_callee() {
    // ledger-db emits no spans; orders calls it (a client span with its
    // peer name, no error status) and, in its handler's span, writes
    // "call to ledger-db failed: connection refused" before answering 500.
    let loc = errors_incident(|i, fail| {
        let mut orders = Call::new("orders", jit(3_000.0, 0.3, i, 2))
            .wire(jit(800.0, 0.5, i, 3))
            .error(fail)
            .client_error(fail)
            .log(LogLevel::Info, "o.s.Orders#12", "order received <*>");
        if fail {
            orders = orders.log(
                LogLevel::Error,
                "o.s.Orders#80",
                "call to ledger-db failed: connection refused",
            );
        }
        Call::new("frontend", jit(2_000.0, 0.3, i, 1))
            .error(fail)
            .call(orders.call(Call::new("ledger-db", jit(2_000.0, 0.3, i, 4)).uninstrumented()))
    });
    let c = top(&loc);
    assert_eq!(c.component, "ledger-db", "{}", show(&loc));
    assert!(
        !signals(&loc, "orders")
            .iter()
            .any(|s| s == "new_error_templates" || s == "error_rate"),
        "the line is about ledger-db, not orders' own error:\n{}",
        show(&loc)
    );
}

/// orders calls ledger, then notify; `cut(i, on)` says whether request `i`
/// skips notify, `fail(i, on)` whether ledger fails it (orders then stops).
fn two_calls(cut: impl Fn(u64, bool) -> bool, fail: impl Fn(u64, bool) -> bool) -> Localisation {
    let mut inc = Incident::new();
    inc.requests(3 * S, |i, on| {
        let fail = fail(i, on);
        let mut calls = vec![Call::new("ledger", jit(4_000.0, 0.3, i, 4))
            .wire(jit(800.0, 0.5, i, 5))
            .error(fail)
            .client_error(fail)];
        if !fail && !cut(i, on) {
            calls.push(Call::new("notify", jit(2_000.0, 0.3, i, 6)).wire(jit(800.0, 0.5, i, 7)));
        }
        Call::new("frontend", jit(2_000.0, 0.3, i, 1))
            .error(fail)
            .call(
                Call::new("orders", jit(3_000.0, 0.3, i, 2))
                    .wire(jit(800.0, 0.5, i, 3))
                    .error(fail)
                    .client_error(fail)
                    .calls(calls),
            )
    });
    inc.alert("frontend", ALERT_AT);
    inc.localise()
}

#[test]
fn a_request_whose_call_failed_is_not_cut_short() {
    let loc = two_calls(|_, _| false, |i, on| on && unit(i, 40) < 0.3);
    let c = top(&loc);
    assert_eq!(c.component, "ledger", "{}", show(&loc));
    assert!(
        loc.ranking
            .iter()
            .all(|c| c.evidence.iter().all(|e| e.signal != "call_structure")),
        "orders stopped because its call failed:\n{}",
        show(&loc)
    );
}

#[test]
fn a_request_cut_short_by_its_own_component_is_call_structure() {
    // The control of the test above: orders skips notify on its own.
    let loc = two_calls(|i, on| on && unit(i, 40) < 0.3, |_, _| false);
    let c = top(&loc);
    assert_eq!(c.component, "orders", "{}", show(&loc));
    assert_eq!(c.fault, FaultKind::ErrorReturn, "{}", show(&loc));
    assert!(
        signals(&loc, "orders")
            .iter()
            .any(|s| s == "call_structure"),
        "{}",
        show(&loc)
    );
}

// ---------------------------------------------------------------------------
// 5. Cause and effect.
// ---------------------------------------------------------------------------

/// front → mid → back; from the fault on, back's own work takes `rise` µs
/// more; the alert on front.
fn chain(inc: &mut Incident, every: Micros, rise: Micros) {
    chain_requests(inc, every, rise);
    inc.alert("front", ALERT_AT);
}

fn chain_requests(inc: &mut Incident, every: Micros, rise: Micros) {
    inc.requests(every, |i, on| {
        Call::new("front", jit(2_000.0, 0.3, i, 1)).call(
            Call::new("mid", jit(3_000.0, 0.3, i, 2))
                .wire(jit(800.0, 0.5, i, 3))
                .call(
                    Call::new("back", jit(4_000.0, 0.3, i, 4) + if on { rise } else { 0 })
                        .wire(jit(800.0, 0.5, i, 5)),
                ),
        )
    });
}

#[test]
fn the_component_whose_own_time_accounts_for_the_slowdown_explains_the_symptom() {
    let mut inc = Incident::new();
    chain(&mut inc, 3 * S, 40_000);
    let loc = inc.localise();
    let c = top(&loc);
    assert_eq!(c.component, "back", "{}", show(&loc));
    assert!(
        signals(&loc, "back")
            .iter()
            .any(|s| s == "explains_symptom"),
        "{}",
        show(&loc)
    );
    for other in ["front", "mid"] {
        assert!(
            !signals(&loc, other).iter().any(|s| s == "explains_symptom"),
            "{}",
            show(&loc)
        );
    }
}

#[test]
fn a_component_in_no_call_ranks_after_the_connected_cause() {
    let mut inc = Incident::new();
    chain(&mut inc, 3 * S, 40_000);
    // A batch job nobody calls, with a far larger CPU rise.
    cpu_step(&mut inc, "batch", 9, FAULT_AT, 8.0);
    let loc = inc.localise();
    assert_eq!(top(&loc).component, "back", "{}", show(&loc));
    let batch = candidate(&loc, "batch")
        .unwrap_or_else(|| panic!("the batch job's CPU is still listed:\n{}", show(&loc)));
    let back = candidate(&loc, "back").unwrap();
    assert!(
        batch.score > back.score,
        "the batch job's evidence is stronger, its place is not:\n{}",
        show(&loc)
    );
    assert_before(&loc, "back", "batch");
}

#[test]
fn with_metrics_only_a_latency_symptom_alone_ranks_after_a_cpu_rise() {
    let mut inc = Incident::new();
    inc.series("web", Signal::LatencyP99, |k, t| {
        if t >= FAULT_AT {
            2.0
        } else {
            0.10 + 0.005 * unit(k, 1)
        }
    });
    cpu_step(&mut inc, "db", 2, FAULT_AT, 0.9);
    inc.alert("web", ALERT_AT);
    let loc = inc.localise();
    assert_eq!(top(&loc).component, "db", "{}", show(&loc));
    assert_eq!(top(&loc).fault, FaultKind::CpuSaturation, "{}", show(&loc));
    let web = candidate(&loc, "web")
        .unwrap_or_else(|| panic!("web's latency is still listed:\n{}", show(&loc)));
    assert!(web.score > top(&loc).score, "{}", show(&loc));
    assert_before(&loc, "db", "web");
}

#[test]
fn with_a_calls_graph_a_callers_latency_covered_by_its_callee_does_not_outrank_it() {
    let mut inc = Incident::new();
    inc.calls("web", "api", EdgeSignal::Calls, 5.0);
    // web's latency: api's plus 50 ms of its own, steady. api's baseline
    // is noisy (its score is the lower), web's quiet.
    let api = |k: u64, t: Micros| {
        let base = if k.is_multiple_of(2) { 0.05 } else { 0.15 };
        if t >= FAULT_AT {
            base + 1.0
        } else {
            base
        }
    };
    inc.series_from("api", Signal::LatencyP99, T0, 30 * S, api);
    inc.series_from("web", Signal::LatencyP99, T0, 30 * S, move |k, t| {
        let base = 0.15 + 0.004 * unit(k, 3);
        if t >= FAULT_AT {
            base + 1.0
        } else {
            base
        }
    });
    inc.alert("web", ALERT_AT);
    let loc = inc.localise();
    assert_eq!(top(&loc).component, "api", "{}", show(&loc));
    assert_before(&loc, "api", "web");
}

// ---------------------------------------------------------------------------
// 6. Inner causes.
// ---------------------------------------------------------------------------

#[test]
fn a_missing_line_after_a_fixed_predecessor_is_the_inner_cause() {
    let mut inc = Incident::new();
    inc.requests(3 * S, |i, on| {
        let mut orders = Call::new("orders", jit(3_000.0, 0.3, i, 2))
            .op("POST /orders")
            .wire(jit(800.0, 0.5, i, 3))
            .log(LogLevel::Info, "o.s.OrderService#31", "validated order <*>");
        if !(on && unit(i, 60) < 0.4) {
            orders = orders.log(LogLevel::Info, "o.s.OrderService#40", "saved order <*>");
        }
        Call::new("frontend", jit(2_000.0, 0.3, i, 1)).call(orders)
    });
    inc.alert("frontend", ALERT_AT);
    let loc = inc.localise();
    let c = top(&loc);
    assert_eq!(c.component, "orders", "{}", show(&loc));
    let inner = c
        .inner
        .first()
        .unwrap_or_else(|| panic!("no inner cause:\n{}", show(&loc)));
    assert_eq!(inner.kind, InnerKind::Code, "{}", show(&loc));
    assert_eq!(
        inner.region,
        "o.s.OrderService#31_o.s.OrderService#40",
        "{}",
        show(&loc)
    );
    assert_eq!(
        inner.operation.as_deref(),
        Some("POST /orders"),
        "{}",
        show(&loc)
    );
}

#[test]
fn a_cpu_rise_is_the_inner_cause_before_the_network() {
    let mut inc = calls_into_x_slower();
    // x's CPU rises too, less strongly than its calls slow down.
    cpu_step(&mut inc, "x", 5, FAULT_AT, 0.6);
    let loc = inc.localise();
    let c = top(&loc);
    assert_eq!(c.component, "x", "{}", show(&loc));
    assert_eq!(c.fault, FaultKind::CpuSaturation, "{}", show(&loc));
    let regions: Vec<&str> = c
        .inner
        .iter()
        .filter(|k| k.kind == InnerKind::Resource)
        .map(|k| k.region.as_str())
        .collect();
    assert_eq!(regions, ["cpu", "network"], "{}", show(&loc));
    let score = |r: &str| c.inner.iter().find(|k| k.region == r).map(|k| k.score);
    assert!(
        score("network") > score("cpu"),
        "the network's score is the larger, its place is not:\n{}",
        show(&loc)
    );
}

// ---------------------------------------------------------------------------
// 7. Properties.
// ---------------------------------------------------------------------------

/// A healthy component that calls nobody and nobody calls: its own steady
/// spans (`spans`) or CPU series, every `period` from `T0 + offset`.
#[derive(Clone, Copy, Debug)]
struct Lonely {
    spans: bool,
    period: Micros,
    offset: Micros,
    level: f64,
    /// Its spans keep inside the chain's requests of each part (the baseline,
    /// the analysed period): none starts after the last request of a part.
    inside: bool,
}

/// The chain of `chain` (alerted on front, or not), with `lonely` beside it.
fn with_lonely(rise: Micros, every: Micros, alert: bool, lonely: Option<Lonely>) -> Localisation {
    let mut inc = Incident::new();
    chain_requests(&mut inc, every, rise);
    if alert {
        inc.alert("front", ALERT_AT);
    }
    // The chain's last request starts here; nothing else may end the data later.
    let last = T0 + (END - T0 - 1) / every * every;
    let last_base = T0 + (15 * MIN - 1) / every * every;
    if let Some(Lonely {
        spans,
        period,
        offset,
        level,
        inside,
    }) = lonely
    {
        if spans {
            let mut t = T0 + offset;
            let mut i = 0;
            while t < last {
                if inside && t > last_base && t < T0 + 15 * MIN {
                    t += period;
                    continue;
                }
                let d = jit(level * 1_000.0, 0.3, i, 77);
                let trace = inc.new_trace();
                inc.span(
                    trace,
                    0,
                    "lonely",
                    "lonely op",
                    SpanKind::Server,
                    t,
                    d,
                    false,
                    None,
                );
                t += period;
                i += 1;
            }
        } else {
            inc.series_from("lonely", Signal::Cpu, T0 + offset, period, move |k, _| {
                level + 0.02 * unit(k, 78)
            });
        }
    }
    inc.localise()
}

/// `before` and `after` (with a lonely component) agree on the top
/// candidate and on every other candidate's score and fault.
fn same_verdict_for_the_others(
    before: &Localisation,
    after: &Localisation,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        before.ranking.first().map(|c| &c.component),
        after.ranking.first().map(|c| &c.component),
        "before:\n{}after:\n{}",
        show(before),
        show(after)
    );
    for c in &before.ranking {
        let now = candidate(after, &c.component);
        prop_assert_eq!(
            now.map(|n| (n.score, n.fault)),
            Some((c.score, c.fault)),
            "{}: before:\n{}after:\n{}",
            c.component,
            show(before),
            show(after)
        );
    }
    for c in after.ranking.iter().filter(|c| c.component != "lonely") {
        prop_assert!(
            candidate(before, &c.component).is_some(),
            "{} appeared: before:\n{}after:\n{}",
            c.component,
            show(before),
            show(after)
        );
    }
    Ok(())
}

/// Property runs are reproducible: a fixed seed, no files written.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x6d6f_64656c),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn an_unrelated_healthy_component_changes_neither_the_top_nor_the_others_scores(
        rise_ms in 10i64..80,
        every_ms in 2_500i64..5_000,
        spans in any::<bool>(),
        period_ms in 2_000i64..15_000,
        offset_ms in 0i64..2_000,
        level in 0.2f64..4.0,
    ) {
        let (rise, every) = (rise_ms * 1_000, every_ms * 1_000);
        let lonely = Lonely { spans, period: period_ms * 1_000, offset: offset_ms * 1_000, level, inside: false };
        let before = with_lonely(rise, every, true, None);
        let after = with_lonely(rise, every, true, Some(lonely));
        same_verdict_for_the_others(&before, &after)?;
    }

    #[test]
    fn without_an_alert_an_unrelated_healthy_component_changes_nothing_else(
        rise_ms in 10i64..80,
        every_ms in 2_500i64..5_000,
        spans in any::<bool>(),
        period_ms in 1_000i64..15_000,
        offset_ms in 0i64..1_000,
        level in 0.2f64..4.0,
    ) {
        // No alert names the entry: the engine judges the symptom on every
        // trace's root. The lonely spans keep inside the chain's parts, so
        // that only that can differ.
        let (rise, every) = (rise_ms * 1_000, every_ms * 1_000);
        let lonely = Lonely { spans, period: period_ms * 1_000, offset: offset_ms * 1_000, level, inside: true };
        let before = with_lonely(rise, every, false, None);
        let after = with_lonely(rise, every, false, Some(lonely));
        same_verdict_for_the_others(&before, &after)?;
    }

    #[test]
    fn in_a_chain_the_component_whose_own_time_rises_outranks_those_that_inherit_it(
        every_ms in 2_000i64..5_000,
        own in (1_000.0f64..10_000.0, 1_000.0f64..10_000.0, 1_000.0f64..10_000.0),
        spread in 0.0f64..0.6,
        wire in 200.0f64..3_000.0,
        factor in 1.0f64..10.0,
        salt in 0u64..1_000,
    ) {
        let (front, mid, back) = own;
        // At least the back's own typical again: twice as slow or more.
        let rise = (back * factor).round() as Micros;
        let mut inc = Incident::new();
        inc.requests(every_ms * 1_000, |i, on| {
            Call::new("front", jit(front, spread, i, salt)).call(
                Call::new("mid", jit(mid, spread, i, salt + 1))
                    .wire(jit(wire, spread, i, salt + 2))
                    .call(
                        Call::new("back", jit(back, spread, i, salt + 3) + if on { rise } else { 0 })
                            .wire(jit(wire, spread, i, salt + 4)),
                    ),
            )
        });
        inc.alert("front", ALERT_AT);
        let loc = inc.localise();
        prop_assert_eq!(rank_of(&loc, "back"), Some(0), "{}", show(&loc));
        for other in ["mid", "front"] {
            if let Some(r) = rank_of(&loc, other) {
                prop_assert!(r > 0, "{}", show(&loc));
            }
        }
    }

    #[test]
    fn the_same_observations_give_the_same_localisation(
        rise_ms in 0i64..60,
        every_ms in 2_000i64..6_000,
        fail_share in 0.0f64..0.5,
        cpu_to in 0.2f64..3.0,
        with_calls in any::<bool>(),
        salt in 0u64..1_000,
    ) {
        let mut inc = Incident::new();
        inc.requests(every_ms * 1_000, |i, on| {
            let fail = on && unit(i, salt + 9) < fail_share;
            let mut back = Call::new("back", jit(4_000.0, 0.4, i, salt) + if on { rise_ms * 1_000 } else { 0 })
                .wire(jit(800.0, 0.5, i, salt + 1))
                .error(fail)
                .client_error(fail)
                .log(LogLevel::Info, "b.Back#3", "read row <*>");
            if fail {
                back = back.log(LogLevel::Error, "b.Back#9", "row locked <*>");
            } else {
                back = back.log(LogLevel::Info, "b.Back#5", "row written <*>");
            }
            Call::new("front", jit(2_000.0, 0.4, i, salt + 2))
                .error(fail)
                .call(
                    Call::new("mid", jit(3_000.0, 0.4, i, salt + 3))
                        .wire(jit(800.0, 0.5, i, salt + 4))
                        .error(fail)
                        .client_error(fail)
                        .call(back)
                        .call(Call::new("cache", jit(500.0, 0.4, i, salt + 5)).uninstrumented()),
                )
        });
        cpu_step(&mut inc, "back", salt, FAULT_AT, cpu_to);
        cpu_step(&mut inc, "batch", salt + 1, T0 + 18 * MIN, cpu_to * 2.0);
        if with_calls {
            inc.calls("front", "search", EdgeSignal::Calls, 3.0);
            inc.series("search", Signal::LatencyP99, move |k, t| {
                0.2 + 0.01 * unit(k, salt) + if t >= FAULT_AT { cpu_to } else { 0.0 }
            });
        }
        inc.alert("front", ALERT_AT);
        let cfg = graph::EngineConfig::default();
        let once = serde_json::to_string(&graph::localise(&inc.obs, &cfg).unwrap()).unwrap();
        let twice = serde_json::to_string(&graph::localise(&inc.obs, &cfg).unwrap()).unwrap();
        let copy = serde_json::to_string(&graph::localise(&inc.obs.clone(), &cfg).unwrap()).unwrap();
        prop_assert!(once == twice, "two runs differ");
        prop_assert!(once == copy, "a copy of the observations differs");
    }

    #[test]
    fn scores_are_finite_and_non_negative_for_random_series(
        series in proptest::collection::vec(
            (
                0usize..4,
                0usize..SIGNALS.len(),
                0usize..STEPS.len(),
                proptest::collection::vec(value(), 1..120),
            ),
            1..8,
        ),
        alert in proptest::option::of(0usize..4),
    ) {
        let mut inc = Incident::new();
        for (comp, signal, step, values) in &series {
            let step = STEPS[*step];
            let samples: Vec<(Micros, f64)> = values
                .iter()
                .enumerate()
                .map(|(k, v)| (T0 + step * k as Micros, *v))
                .filter(|(t, _)| *t < END)
                .collect();
            inc.samples(COMPS[*comp], SIGNALS[*signal].parse().unwrap(), samples);
        }
        if let Some(a) = alert {
            inc.alert(COMPS[a], ALERT_AT);
        }
        let Ok(loc) = graph::localise(&inc.obs, &graph::EngineConfig::default()) else {
            return Ok(());
        };
        for c in &loc.ranking {
            // A listed candidate has evidence of at least candidate_z (2),
            // or, in a tentative answer, some change: a score of 0 would be
            // a non-finite score rounded away.
            let least = if loc.confident { 2.0 } else { 0.01 };
            prop_assert!(c.score.is_finite() && c.score >= least, "{}", show(&loc));
            for e in &c.evidence {
                prop_assert!(e.deviation.is_finite() && e.deviation >= 0.0, "{}", show(&loc));
            }
        }
        for row in &loc.heatmap.scores {
            for v in row {
                // NaN is "no data"; a score is never negative or infinite.
                prop_assert!(v.is_nan() || (v.is_finite() && *v >= 0.0), "heatmap {v}");
            }
        }
        for cell in &loc.detail.cells {
            for s in &cell.signals {
                prop_assert!(s.score.is_finite() && s.score >= 0.0, "cell {} {}", s.signal, s.score);
            }
        }
    }
}

const COMPS: [&str; 4] = ["svc-a", "svc-b", "svc-c", "svc-d"];
const SIGNALS: [&str; 10] = [
    "cpu",
    "memory",
    "http_5xx_rate",
    "request_rate",
    "latency_p99",
    "latency_p50",
    "goroutines",
    "pool_pending",
    "tls_session_reuse",
    "queue_depth",
];
const STEPS: [Micros; 5] = [5 * S, 15 * S, 30 * S, 60 * S, 300 * S];

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0f64..2.0,
        2 => -1e12f64..1e12,
        1 => Just(0.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(1e300),
    ]
}
