//! What rca says around the verdict, on small hand-built incidents: evidence
//! in the signal's own unit, fault kinds that name the mechanism (a stopped
//! service, a lock, a queue before calls), no component made of a bare
//! address, and "no data" told from "normal" in the heatmap.
//!
//! The clock and the request simulator are the model tests' (baseline to
//! minute 15, fault from minute 16, alert at minute 20).

mod common_model;

use common_model::*;
use graph::{FaultKind, Localisation};
use ingest::{LogLevel, Micros};

/// `api` calls `users` (which calls `db-proxy`) and `prices` on every request.
fn shop(i: u64, users: Call) -> Call {
    Call::new("api", jit(2_000.0, 0.3, i, 1))
        .call(users)
        .call(Call::new("prices", jit(1_500.0, 0.3, i, 4)).wire(jit(600.0, 0.5, i, 5)))
}

fn users(i: u64) -> Call {
    Call::new("users", jit(3_000.0, 0.3, i, 2)).wire(jit(700.0, 0.5, i, 3))
}

#[test]
fn a_killed_callee_is_scored_down_and_its_callers_refused_calls_are_not_their_own_errors() {
    let mut inc = Incident::new();
    // From minute 16 `users` is gone: `api`'s calls into it are refused
    // within a millisecond, with no server address and no span of `users`.
    inc.requests(2 * S, |i, on| {
        shop(i, users(i).down(on).wire(if on { 800 } else { 700 }))
            .error(on)
            .client_log(LogLevel::Info, "x", "x")
    });
    inc.alert("api", ALERT_AT);
    let loc = inc.localise();

    let c = top(&loc);
    assert_eq!(c.component, "users", "{}", show(&loc));
    assert_eq!(c.fault, FaultKind::ServiceDown, "{}", show(&loc));
    let e = &c.evidence[0];
    assert_eq!(e.signal, "unanswered_calls", "{}", show(&loc));
    assert_eq!(e.unit, "%");
    assert_eq!(e.before, Some(0.0), "{}", show(&loc));
    assert_eq!(e.after, Some(100.0), "{}", show(&loc));
    // Dated when the calls stopped being answered (minute 16), not at the
    // end of the baseline.
    assert_eq!(e.at, "2026-01-01T00:16:00Z", "{}", show(&loc));
    assert!(
        candidate(&loc, "api").is_none_or(|a| !a.evidence.iter().any(|e| e.signal == "error_rate")),
        "the caller's refused calls are not errors it started:\n{}",
        show(&loc)
    );

    // Its heatmap row after the kill is "no data" (null), unlike a healthy row.
    let row = |name: &str| {
        let r = loc
            .heatmap
            .components
            .iter()
            .position(|c| c == name)
            .unwrap();
        &loc.heatmap.scores[r]
    };
    let first_analysed = loc
        .heatmap
        .buckets
        .iter()
        .position(|b| b.as_str() >= "2026-01-01T00:17:00Z")
        .unwrap();
    let (users_row, prices_row) = (row("users"), row("prices"));
    // `users` still has its unanswered calls scored in its traces row; its
    // own signals are silent, so the metrics-free row is drawn from those.
    assert!(
        prices_row[first_analysed..].iter().all(|v| v.is_finite()),
        "a healthy component has data in every bucket: {prices_row:?}"
    );
    assert!(
        users_row[..first_analysed - 4]
            .iter()
            .all(|v| v.is_finite()),
        "{users_row:?}"
    );
    let json = serde_json::to_value(&loc).unwrap();
    let back: Localisation = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back.heatmap.scores.len(), loc.heatmap.scores.len());
    assert!(json["heatmap"]["scores"].is_array());
}

#[test]
fn a_silent_component_with_no_callers_to_answer_shows_no_data_in_the_heatmap() {
    let mut inc = Incident::new();
    // `cron` runs every 10 s until minute 16, then writes nothing at all.
    inc.requests(2 * S, |i, _| shop(i, users(i)));
    let mut t = T0;
    let mut i = 0;
    while t < FAULT_AT {
        inc.request(t, &Call::new("cron", jit(5_000.0, 0.3, i, 9)));
        t += 10 * S;
        i += 1;
    }
    inc.alert("api", ALERT_AT);
    let loc = inc.localise();
    let r = loc
        .heatmap
        .components
        .iter()
        .position(|c| c == "cron")
        .unwrap();
    let last = loc.heatmap.buckets.len() - 1;
    assert!(
        loc.heatmap.scores[r][last].is_nan(),
        "a silent row is no data, not 0: {:?}",
        loc.heatmap.scores[r]
    );
    assert!(loc.heatmap.scores[r][0].is_finite());
    let json = serde_json::to_string(&loc.heatmap).unwrap();
    assert!(json.contains("null"), "no data is null in JSON");
    let back: graph::Heatmap = serde_json::from_str(&json).unwrap();
    assert!(back.scores[r][last].is_nan());
}

#[test]
fn a_call_whose_server_span_was_lost_is_the_known_callee_not_a_component_named_by_its_address() {
    let mut inc = Incident::new();
    // One call in fifty loses the server span of `users`; its client span
    // names only the address it connected to.
    inc.requests(2 * S, |i, _| {
        let lost = i % 50 == 7 && i > 20;
        shop(i, users(i).lost_as(lost.then_some("127.0.0.1")))
    });
    inc.alert("api", ALERT_AT);
    let loc = inc.localise();
    assert!(
        !loc.heatmap.components.iter().any(|c| c == "127.0.0.1"),
        "components: {:?}",
        loc.heatmap.components
    );
    assert!(!loc.edges.iter().any(|e| e.to == "127.0.0.1"));
    assert!(
        loc.ranking.iter().all(|c| c.score < 10.0),
        "a few lost spans are no incident:\n{}",
        show(&loc)
    );
}

#[test]
fn an_address_no_baseline_call_names_stays_a_component() {
    let mut inc = Incident::new();
    // Every call to this peer is uninstrumented: nothing else is known of it.
    inc.requests(2 * S, |i, _| {
        shop(i, users(i)).call(Call::new("10.0.0.7:5432", jit(900.0, 0.3, i, 8)).uninstrumented())
    });
    inc.alert("api", ALERT_AT);
    let loc = inc.localise();
    assert!(
        loc.heatmap.components.iter().any(|c| c == "10.0.0.7:5432"),
        "{:?}",
        loc.heatmap.components
    );
    assert!(graph::is_address("10.0.0.7:5432"));
    assert!(graph::is_address("127.0.0.1") && graph::is_address("[::1]:8080"));
    assert!(graph::is_address("db.internal:5432"));
    assert!(!graph::is_address("checkout") && !graph::is_address("GET /a:b"));
}

#[test]
fn an_address_that_ranks_is_labelled_as_one() {
    let mut inc = Incident::new();
    // The uninstrumented address slows down for its only caller.
    inc.requests(2 * S, |i, on| {
        shop(i, users(i)).call(
            Call::new(
                "10.0.0.7:5432",
                jit(900.0, 0.3, i, 8) + if on { 200_000 } else { 0 },
            )
            .uninstrumented(),
        )
    });
    inc.alert("api", ALERT_AT);
    let loc = inc.localise();
    let c = candidate(&loc, "10.0.0.7:5432").unwrap_or_else(|| panic!("{}", show(&loc)));
    assert!(c.address, "{}", show(&loc));
    assert!(loc
        .ranking
        .iter()
        .filter(|c| c.component != "10.0.0.7:5432")
        .all(|c| !c.address));
}

/// `orders` slows by `rise` µs of own time from minute 16, its lines saying
/// `line` when given, the added time before its calls when `queue`.
fn slowed_orders(rise: Micros, line: Option<&str>, queue: bool) -> Localisation {
    let mut inc = Incident::new();
    inc.requests(2 * S, |i, on| {
        let mut orders = Call::new(
            "orders",
            jit(4_000.0, 0.3, i, 11) + if on && !queue { rise } else { 0 },
        )
        .wire(jit(600.0, 0.5, i, 12))
        .wait_before_calls(if on && queue { rise } else { 0 })
        .call(Call::new("stock", jit(2_000.0, 0.3, i, 13)).wire(jit(500.0, 0.5, i, 14)));
        if let (true, Some(l)) = (on, line) {
            orders = orders.log(LogLevel::Info, l, l);
        } else {
            orders = orders.log(LogLevel::Info, "order accepted", "order accepted");
        }
        Call::new("api", jit(2_000.0, 0.3, i, 1)).call(orders)
    });
    inc.alert("api", ALERT_AT);
    inc.localise()
}

#[test]
fn own_time_evidence_is_in_milliseconds_before_and_after_with_the_operation_named() {
    let loc = slowed_orders(300_000, None, false);
    let c = top(&loc);
    assert_eq!(c.component, "orders", "{}", show(&loc));
    assert_eq!(c.fault, FaultKind::Latency, "{}", show(&loc));
    let e = c
        .evidence
        .iter()
        .find(|e| e.signal == "self_time")
        .unwrap_or_else(|| panic!("{}", show(&loc)));
    assert_eq!(e.unit, "ms");
    assert_eq!(e.quantile, "p50");
    assert_eq!(e.operation.as_deref(), Some("orders op"));
    // Own time about 4.6 ms (4 ms + up to 30%, median) before, 300 ms more after.
    let (before, after) = (e.before.unwrap(), e.after.unwrap());
    assert!((4.0..5.2).contains(&before), "{before}");
    assert!((300.0..310.0).contains(&after), "{after}");
    assert!(
        e.summary.contains("`orders op` own time p50"),
        "{}",
        e.summary
    );
    assert!(!e.summary.contains("typical"), "{}", e.summary);
}

#[test]
fn own_time_with_lines_that_say_it_waits_for_a_lock_is_lock_contention() {
    let loc = slowed_orders(
        300_000,
        Some("Waiting for lock behind <*> transactions"),
        false,
    );
    let c = top(&loc);
    assert_eq!(c.component, "orders", "{}", show(&loc));
    assert_eq!(c.fault, FaultKind::LockContention, "{}", show(&loc));
    assert!(
        c.evidence.iter().any(|e| e.signal == "contention_lines"),
        "{}",
        show(&loc)
    );
}

#[test]
fn own_time_added_before_the_calls_go_out_while_they_take_as_long_is_queueing() {
    let loc = slowed_orders(300_000, None, true);
    let c = top(&loc);
    assert_eq!(c.component, "orders", "{}", show(&loc));
    assert_eq!(c.fault, FaultKind::Queueing, "{}", show(&loc));
}

#[test]
fn own_time_with_lines_that_say_it_waits_for_a_pooled_connection_is_pool_exhaustion() {
    let loc = slowed_orders(
        300_000,
        Some("timeout acquiring connection from pool after <*> ms"),
        false,
    );
    let c = top(&loc);
    assert_eq!(c.component, "orders", "{}", show(&loc));
    assert_eq!(
        c.fault,
        FaultKind::ConnectionPoolExhaustion,
        "{}",
        show(&loc)
    );
    assert!(
        c.evidence.iter().any(|e| e.signal == "pool_wait_lines"),
        "{}",
        show(&loc)
    );
}

#[test]
fn lines_that_only_mention_a_timeout_name_no_lock() {
    let loc = slowed_orders(300_000, Some("request timeout after <*> ms"), false);
    let c = top(&loc);
    assert_eq!(c.component, "orders", "{}", show(&loc));
    assert_ne!(c.fault, FaultKind::LockContention, "{}", show(&loc));
    assert_ne!(
        c.fault,
        FaultKind::ConnectionPoolExhaustion,
        "{}",
        show(&loc)
    );
}
