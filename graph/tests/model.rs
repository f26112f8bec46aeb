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

fn top(loc: &Localisation) -> &graph::Candidate {
    loc.ranking
        .first()
        .unwrap_or_else(|| panic!("nobody ranked:\n{}", show(loc)))
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
