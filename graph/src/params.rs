//! Every number the engine's judgement rests on, in one place, each with the
//! reason for its value. `rca eval --params FILE` reads a TOML or JSON file
//! of the fields to change; the rest keep these defaults.
//!
//! None of these is fitted to a dataset: each is a unit, a physical bound, or
//! a statistical convention, as its comment says.

use serde::{Deserialize, Serialize};

/// The least change of a level that matters: `abs` in the signal's unit, or
/// `rel` of the baseline's median, whichever is larger.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Floor {
    pub abs: f64,
    pub rel: f64,
}

impl Floor {
    pub const fn new(abs: f64, rel: f64) -> Floor {
        Floor { abs, rel }
    }

    /// The floor for a baseline whose median is `median`.
    pub fn at(self, median: f64) -> f64 {
        self.abs.max(self.rel * median.abs())
    }
}

/// The least change that matters, per kind of level signal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LevelFloors {
    /// A twentieth of a core (or five points of a limit): an idle JVM's
    /// garbage collection moves CPU by that much between minutes.
    pub cpu: Floor,
    /// A twentieth of the working set: a managed heap breathes by that much.
    pub memory: Floor,
    /// Five goroutines or 5%: a server's per-connection goroutines come and go.
    pub goroutines: Floor,
    /// One waiting request or a tenth: a pool with a waiter is already full.
    pub pool_pending: Floor,
    /// Five points of resumed sessions: clients reconnecting after a deploy move it that much.
    pub tls_session_reuse: Floor,
    /// A twentieth of a request per second or a fifth: a scanner's few probes a minute is noise.
    pub http_4xx_rate: Floor,
    /// Half a request per second or a fifth: load drifts that much minute to minute.
    pub request_rate: Floor,
    /// 25 ms or a quarter: quantiles are read off histogram buckets (5, 10,
    /// 25, 50 ms, ...) and jump a bucket when a quiet minute holds one slow request.
    pub latency_quantile: Floor,
    /// 1 ms or 15% of a proxy's mean request time, as for per-request times.
    pub proxy_latency: Floor,
    /// One request or a fifth of a proxy's requests per bucket.
    pub proxy_requests: Floor,
    /// A tenth of anything the table does not know.
    pub other: Floor,
}

impl Default for LevelFloors {
    fn default() -> Self {
        LevelFloors {
            cpu: Floor::new(0.05, 0.05),
            memory: Floor::new(1.0, 0.05),
            goroutines: Floor::new(5.0, 0.05),
            pool_pending: Floor::new(1.0, 0.1),
            tls_session_reuse: Floor::new(0.05, 0.05),
            http_4xx_rate: Floor::new(0.05, 0.2),
            request_rate: Floor::new(0.5, 0.2),
            latency_quantile: Floor::new(0.025, 0.25),
            proxy_latency: Floor::new(1000.0, 0.15),
            proxy_requests: Floor::new(1.0, 0.2),
            other: Floor::new(1e-9, 0.1),
        }
    }
}

/// The engine's parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// A signal is evidence when its sustained score reaches three standard
    /// errors (one-sided p ≈ 0.0013): of the few hundred signals of an
    /// incident, chance lets through a handful, which a real cause outscores.
    pub significant_z: f64,
    /// A component is listed as a candidate from two standard errors on:
    /// weaker evidence than that is listed nowhere.
    pub candidate_z: f64,
    /// A cause lasts: a signal's sustained score is the value that this share
    /// of the analysed buckets reach, so a spike shorter than a quarter of
    /// the analysed time does not carry it (BARO and N-sigma score single
    /// points; red herrings are short).
    pub sustained_share: f64,
    /// An operation (or call edge) needs this many baseline requests before
    /// its typical time is known: the median of five has a standard error of
    /// about half a spread (1.25/√5); of fewer, the typical is itself a guess.
    pub min_baseline_requests: usize,
    /// The least per-request change that matters, as a log ratio: a typical
    /// request 15% slower (ln 1.15), about the run-to-run spread of a
    /// service's request time under steady load.
    pub per_request_floor: f64,
    /// The smallest spread of per-request log ratios: 5%, the resolution of
    /// span timing jitter on a busy host; below it the baseline is too quiet to trust.
    pub min_request_spread: f64,
    /// Own time below 100 µs is timer noise (a span's own bookkeeping).
    pub own_soft_us: f64,
    /// Latency below 200 µs is timer noise plus a local hop.
    pub latency_soft_us: f64,
    /// A millisecond more on the wire is jitter of a cluster network; where
    /// the traces show the network's typical wire time, one such hop is used
    /// instead when it is longer.
    pub wire_soft_us: f64,
    /// The least change of an error share that matters: half a percent of
    /// requests, the whole budget of a 99.5% availability objective.
    pub rate_floor: f64,
    /// Without request counts, errors are judged per second: one failed
    /// request every 100 s is the least worth chasing.
    pub error_rate_floor_per_s: f64,
    /// Before the baseline is seen, a rate is believed to sit at its floor
    /// (what a healthy service shows), a belief worth a hundred trials: a
    /// baseline of a few hundred requests speaks for itself, a thinner one
    /// (one fault-free minute of a quiet service) leans on it.
    pub rate_prior_trials: f64,
    /// The least change of a share of log lines: one line in 500; a service
    /// writing a few lines a request turns that into about one request in a hundred.
    pub log_share_floor: f64,
    /// A majority of a component's other callers must see its calls slow
    /// down before the delay is its own; fewer, and the caller's side waits.
    pub consensus_share: f64,
    /// A log line is a flow line of its operation when this share of the
    /// baseline's requests print it (a fifth: rarer lines are branches).
    pub flow_line_share: f64,
    /// A pair of lines is a fixed sequence when the second follows the first
    /// in nine of ten baseline requests.
    pub flow_pair_share: f64,
    /// A missing line is judged when at least five requests should have
    /// printed it (the normal approximation of a binomial needs about five).
    pub flow_min_expected: f64,
    /// Requests ask for different things from minute to minute: 5% of the
    /// expected count is allowed as drift on top of binomial spread.
    pub flow_drift: f64,
    /// A goroutine leak the Go runtime proved (its goroutine-leak profile:
    /// goroutines blocked on what nothing reachable can ever wake) is not a
    /// statistical estimate, so it scores as evidence no correction for the
    /// many tests of an incident could make insignificant: twice the
    /// significance level, 6 standard errors, whose one-sided tail (1e-9) is
    /// the significance level's (0.0013) divided by a million, more tests
    /// than the signals × buckets of any incident. Finite, because the proof
    /// says that the component leaks, not that the leak is what the alert is
    /// about: stronger evidence of a cause elsewhere still ranks first.
    pub proved_leak_z: f64,
    /// The least changes that matter for level signals.
    pub floors: LevelFloors,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            significant_z: 3.0,
            candidate_z: 2.0,
            sustained_share: 0.25,
            min_baseline_requests: 5,
            per_request_floor: 0.15_f64.ln_1p(),
            min_request_spread: 0.05,
            own_soft_us: 100.0,
            latency_soft_us: 200.0,
            wire_soft_us: 1000.0,
            rate_floor: 0.005,
            error_rate_floor_per_s: 0.01,
            rate_prior_trials: 100.0,
            log_share_floor: 0.002,
            consensus_share: 0.5,
            flow_line_share: 0.2,
            flow_pair_share: 0.9,
            flow_min_expected: 5.0,
            flow_drift: 0.05,
            proved_leak_z: 6.0,
            floors: LevelFloors::default(),
        }
    }
}

impl Params {
    /// Reads parameters from JSON; fields not named keep their defaults and
    /// unknown fields are errors. (`Params` is `Deserialize`: the binary
    /// reads TOML files with the same rules.)
    pub fn from_json(text: &str) -> Result<Params, String> {
        let p: Params = serde_json::from_str(text).map_err(|e| e.to_string())?;
        p.validate()?;
        Ok(p)
    }

    /// Checks values that would make the engine meaningless.
    pub fn validate(&self) -> Result<(), String> {
        let mut bad = Vec::new();
        if !(self.significant_z > 0.0) {
            bad.push("significant_z must be positive");
        }
        if !(self.candidate_z > 0.0 && self.candidate_z <= self.significant_z) {
            bad.push("candidate_z must be positive and at most significant_z");
        }
        if !(self.sustained_share > 0.0 && self.sustained_share <= 1.0) {
            bad.push("sustained_share must be in (0, 1]");
        }
        if self.min_baseline_requests == 0 {
            bad.push("min_baseline_requests must be at least 1");
        }
        if !(self.consensus_share > 0.0 && self.consensus_share <= 1.0) {
            bad.push("consensus_share must be in (0, 1]");
        }
        if !(self.min_request_spread > 0.0) {
            bad.push("min_request_spread must be positive");
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let p = Params::default();
        p.validate().unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(Params::from_json(&json).unwrap(), p);
    }

    #[test]
    fn a_partial_file_keeps_the_rest() {
        let p = Params::from_json(
            r#"{"significant_z": 4.0, "floors": {"cpu": {"abs": 0.1, "rel": 0.0}}}"#,
        )
        .unwrap();
        assert_eq!(p.significant_z, 4.0);
        assert_eq!(p.floors.cpu, Floor::new(0.1, 0.0));
        assert_eq!(p.floors.memory, LevelFloors::default().memory);
        assert_eq!(p.rate_floor, Params::default().rate_floor);
    }

    #[test]
    fn unknown_fields_are_errors() {
        assert!(Params::from_json(r#"{"significant": 4.0}"#).is_err());
        let bad = Params {
            candidate_z: 5.0,
            ..Params::default()
        };
        assert!(bad.validate().is_err());
    }
}
