//! `rca eval --format nezha`: every labelled fault of a day of the Nezha
//! dataset is one case; the alert time is the injection time.
//!
//! Window: the case's three minute files (from about a minute before the
//! injection to two after), preceded by the day's fault-free minute of traces
//! and logs as their baseline, and by fifteen minutes of each pod's metrics as
//! theirs. Buckets are ten seconds. The alert names no component.
//!
//! Absent data never stops the evaluation: a case is localised from what its
//! files hold (without fault-free traces or logs, against the earliest part of
//! its own window), and a case with nothing at all in its window is still
//! reported, unranked, with everything it lacked. Broken files are errors.

use std::path::Path;
use std::time::Instant;

use chrono::TimeZone;
use graph::{EngineConfig, WindowConfig};
use ingest::{Alert, NezhaWindow};

use super::eval::{CaseResult, EvalReport};
use crate::error::{CliError, CliResult};

pub fn eval(
    root: &Path,
    day: &str,
    only: Option<&str>,
    params: &graph::Params,
) -> CliResult<EvalReport> {
    let mut cases = ingest::nezha_cases(root, day)?;
    if let Some(only) = only {
        cases.retain(|c| c.id.contains(only));
    }
    if cases.is_empty() {
        return Err(CliError::bad(anyhow::anyhow!(
            "{}: no labelled cases for {day}",
            root.display()
        )));
    }
    let w = NezhaWindow::default();
    let mut out = Vec::with_capacity(cases.len());
    for case in &cases {
        let t0 = Instant::now();
        let input = ingest::load_nezha_case(root, day, case, &w)?;
        let mut obs = input.observations;
        let start = case.inject_time.timestamp_micros();
        obs.alerts.push(Alert {
            status: "firing".into(),
            labels: [("alertname".to_string(), "FaultInjected".to_string())]
                .into_iter()
                .collect(),
            annotations: Default::default(),
            starts_at: chrono::Utc
                .timestamp_micros(start)
                .single()
                .unwrap_or(case.inject_time),
            ends_at: None,
            generator_url: String::new(),
            fingerprint: case.id.clone(),
        });
        let cfg = EngineConfig {
            window: WindowConfig {
                lookback: w.metric_lookback,
                settle: 4 * 60_000_000,
                guard: 0,
                target_buckets: 100,
                baseline_end: Some(input.baseline_end),
            },
            params: params.clone(),
        };
        let result = match graph::localise(&obs, &cfg) {
            Ok(loc) => CaseResult::new(
                case.id.clone(),
                case.service.clone(),
                Some(case.fault.clone()),
                &loc,
                t0.elapsed().as_secs_f64(),
            ),
            // Nothing of the case was there: a miss that says why, not the
            // end of the evaluation.
            Err(graph::GraphError::NoData) => CaseResult::new(
                case.id.clone(),
                case.service.clone(),
                Some(case.fault.clone()),
                &super::empty_localisation(
                    &obs,
                    start - cfg.window.lookback,
                    start + cfg.window.settle,
                ),
                t0.elapsed().as_secs_f64(),
            ),
        };
        out.push(result);
    }
    Ok(EvalReport::from_cases(out))
}
