//! `rca eval --format nezha`: every labelled fault of a day of the Nezha
//! dataset is one case; the alert time is the injection time.
//!
//! Window: the case's three minute files (from about a minute before the
//! injection to two after), preceded by the day's fault-free minute of traces
//! and logs as their baseline, and by fifteen minutes of each pod's metrics as
//! theirs. Buckets are ten seconds. The alert names no component.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
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
        let loc = graph::localise(&obs, &cfg)
            .with_context(|| format!("localising case {}", case.id))
            .map_err(CliError::bad)?;
        let seconds = t0.elapsed().as_secs_f64();
        out.push(CaseResult::new(
            case.id.clone(),
            case.service.clone(),
            Some(case.fault.clone()),
            &loc,
            seconds,
        ));
    }
    Ok(EvalReport::from_cases(out))
}
