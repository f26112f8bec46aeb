//! `rca eval`: accuracy over labelled incidents (AC@k, Avg@5, time per case).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use graph::EngineConfig;
use serde::Serialize;

use crate::cli::{DatasetFormat, EvalArgs, OutputFormat};
use crate::error::{CliError, CliResult};

/// One evaluated case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub case: String,
    pub truth: String,
    pub ranking: Vec<String>,
    pub seconds: f64,
    /// Fault kind of the truth, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// The report `rca eval` prints.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub cases: usize,
    pub ac_at_1: f64,
    pub ac_at_3: f64,
    pub ac_at_5: f64,
    pub avg_at_5: f64,
    pub per_case: Vec<CaseResult>,
}

impl EvalReport {
    pub fn from_cases(per_case: Vec<CaseResult>) -> EvalReport {
        let n = per_case.len();
        let ac = |k: usize| -> f64 {
            if n == 0 {
                return 0.0;
            }
            let hits = per_case
                .iter()
                .filter(|c| c.ranking.iter().take(k).any(|r| *r == c.truth))
                .count();
            hits as f64 / n as f64
        };
        let avg5 = (1..=5).map(ac).sum::<f64>() / 5.0;
        EvalReport {
            cases: n,
            ac_at_1: ac(1),
            ac_at_3: ac(3),
            ac_at_5: ac(5),
            avg_at_5: avg5,
            per_case,
        }
    }
}

pub fn run(args: &EvalArgs) -> CliResult<()> {
    let report = match args.format {
        DatasetFormat::Fixtures => eval_fixtures(&args.dataset, &EngineConfig::default())?,
    };
    match args.output {
        OutputFormat::Json => {
            let s = serde_json::to_string_pretty(&report).map_err(CliError::failed)?;
            println!("{s}");
        }
        OutputFormat::Text => print!("{}", table(&report)),
    }
    Ok(())
}

/// The fixture directories under `root` that carry a truth.json, sorted.
pub fn fixture_dirs(root: &Path) -> CliResult<Vec<PathBuf>> {
    let entries = std::fs::read_dir(root)
        .with_context(|| format!("reading dataset directory {}", root.display()))
        .map_err(CliError::bad)?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("truth.json").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(CliError::bad(anyhow::anyhow!(
            "{}: no fixture directories with a truth.json",
            root.display()
        )));
    }
    Ok(dirs)
}

pub fn eval_fixtures(root: &Path, cfg: &EngineConfig) -> CliResult<EvalReport> {
    let mut cases = Vec::new();
    for dir in fixture_dirs(root)? {
        let truth = ingest::read_truth(&dir)?
            .ok_or_else(|| CliError::bad(anyhow::anyhow!("{}: no truth.json", dir.display())))?;
        let t0 = Instant::now();
        let loc = super::localise_fixture(&dir, cfg)?;
        let seconds = t0.elapsed().as_secs_f64();
        cases.push(CaseResult {
            case: dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            truth: truth.component,
            ranking: loc
                .ranking
                .iter()
                .take(5)
                .map(|c| c.component.clone())
                .collect(),
            seconds,
            fault: Some(truth.fault),
        });
    }
    Ok(EvalReport::from_cases(cases))
}

pub fn table(r: &EvalReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for c in &r.per_case {
        let rank = c
            .ranking
            .iter()
            .position(|x| *x == c.truth)
            .map(|i| (i + 1).to_string());
        let _ = writeln!(
            s,
            "{:<40} truth {:<22} rank {:<3} top {:<22} {:>6.3} s",
            c.case,
            c.truth,
            rank.as_deref().unwrap_or("-"),
            c.ranking.first().map(String::as_str).unwrap_or("-"),
            c.seconds
        );
    }
    let mut secs: Vec<f64> = r.per_case.iter().map(|c| c.seconds).collect();
    secs.sort_by(|a, b| a.total_cmp(b));
    let median = secs.get(secs.len() / 2).copied().unwrap_or(0.0);
    let _ = writeln!(
        s,
        "cases {}  AC@1 {:.3}  AC@3 {:.3}  AC@5 {:.3}  Avg@5 {:.3}  median {:.3} s/case",
        r.cases, r.ac_at_1, r.ac_at_3, r.ac_at_5, r.avg_at_5, median
    );
    s
}
