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

use std::collections::BTreeMap;
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
    thin: Option<ingest::sample::TraceSampling>,
    traces_as: crate::cli::TracesAs,
) -> CliResult<EvalReport> {
    let mut thinned = super::eval::ThinTally::default();
    let mut replaced = super::eval::ServiceGraphTally::default();
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
    let inner = inner_labels(root)?;
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
        if let Some(rule) = &thin {
            thinned.thin(&mut obs, rule);
        }
        replaced.apply(&mut obs, traces_as);
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
        let result = match inner.get(&case.service).and_then(|f| f.get(&case.fault)) {
            Some(label) => result.with_inner_truth(region_of_label(label)),
            None => result,
        };
        out.push(result);
    }
    thinned.report();
    replaced.report();
    Ok(EvalReport::from_cases(out))
}

/// `construct_data/root_cause_ts.json` (or any `root_cause_*.json` there):
/// per service and fault type, the labelled inner-service root cause.
/// Absent: no inner labels (not an error).
fn inner_labels(root: &Path) -> CliResult<BTreeMap<String, BTreeMap<String, String>>> {
    let dir = root.join("construct_data");
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("root_cause_") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    for f in files {
        let bytes = std::fs::read(&f)
            .with_context(|| format!("reading {}", f.display()))
            .map_err(CliError::bad)?;
        let labels: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_slice(&bytes)
            .with_context(|| {
                format!(
                    "{}: not a map of service to fault type to label",
                    f.display()
                )
            })
            .map_err(CliError::bad)?;
        for (service, faults) in labels {
            out.entry(service)
                .or_insert_with(BTreeMap::new)
                .extend(faults);
        }
    }
    Ok(out)
}

/// A label in the engine's terms: the dataset names resources by their
/// metric column (`CpuUsageRate(%)`, `MemoryUsage(Mi)`, `NetworkP90(ms)`)
/// and code regions as the engine does (`before_after`).
fn region_of_label(label: &str) -> String {
    let lower = label.to_ascii_lowercase();
    if lower.starts_with("cpu") {
        "cpu".into()
    } else if lower.starts_with("memory") || lower.starts_with("mem") {
        "memory".into()
    } else if lower.starts_with("network") {
        "network".into()
    } else {
        label.to_string()
    }
}
