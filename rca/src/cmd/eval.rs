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
    /// The modalities the case's localisation used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modalities: Vec<String>,
    /// What was missing, when anything was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The labelled place inside the true component (a code region or a
    /// resource), when the dataset labels one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_truth: Option<String>,
    /// The first inner causes over the ranking, `component: region`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inner: Vec<String>,
    /// Rank of the labelled inner cause in `inner` (1-based), when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_rank: Option<usize>,
}

impl CaseResult {
    /// A case's result from its localisation: the top five and what was used.
    pub fn new(
        case: String,
        truth: String,
        fault: Option<String>,
        loc: &graph::Localisation,
        seconds: f64,
    ) -> CaseResult {
        CaseResult {
            case,
            truth,
            ranking: loc
                .ranking
                .iter()
                .take(5)
                .map(|c| c.component.clone())
                .collect(),
            seconds,
            fault,
            modalities: loc.modalities.clone(),
            missing: loc
                .missing
                .iter()
                .map(|m| format!("{}: {}", m.modality, m.reason))
                .collect(),
            inner_truth: None,
            inner: loc
                .ranking
                .iter()
                .flat_map(|c| {
                    c.inner
                        .iter()
                        .map(move |i| format!("{}: {}", c.component, i.region))
                })
                .take(INNER_LISTED)
                .collect(),
            inner_rank: None,
        }
    }

    /// Judges the inner causes against a label: `region` as the engine
    /// names it (`cpu`, `memory`, `network`, or a code region).
    pub fn with_inner_truth(mut self, region: String) -> CaseResult {
        let want = format!("{}: {}", self.truth, region);
        self.inner_rank = self.inner.iter().position(|x| *x == want).map(|i| i + 1);
        self.inner_truth = Some(region);
        self
    }
}

/// Inner causes listed per case, over the ranking.
const INNER_LISTED: usize = 10;

/// Accuracy of the cases of one fault type.
#[derive(Debug, Clone, Serialize)]
pub struct FaultBreakdown {
    pub cases: usize,
    pub ac_at_1: f64,
    pub ac_at_3: f64,
    pub ac_at_5: f64,
}

/// The report `rca eval` prints.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub cases: usize,
    pub ac_at_1: f64,
    pub ac_at_3: f64,
    pub ac_at_5: f64,
    pub avg_at_5: f64,
    /// Median seconds per case, reading included.
    pub median_seconds: f64,
    /// Inner-service accuracy (Nezha's AIS@k): the share of the cases with
    /// a labelled inner root cause whose label is among the first k inner
    /// causes over the ranking (the component must be right too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner_ac_at_1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner_ac_at_3: Option<f64>,
    /// Accuracy per fault type, when the labels name types.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub by_fault: std::collections::BTreeMap<String, FaultBreakdown>,
    pub per_case: Vec<CaseResult>,
}

fn hit_share(cases: &[&CaseResult], k: usize) -> f64 {
    if cases.is_empty() {
        return 0.0;
    }
    let hits = cases
        .iter()
        .filter(|c| c.ranking.iter().take(k).any(|r| *r == c.truth))
        .count();
    hits as f64 / cases.len() as f64
}

impl EvalReport {
    pub fn from_cases(per_case: Vec<CaseResult>) -> EvalReport {
        let all: Vec<&CaseResult> = per_case.iter().collect();
        let ac = |k: usize| hit_share(&all, k);
        let avg5 = (1..=5).map(ac).sum::<f64>() / 5.0;
        let mut secs: Vec<f64> = per_case.iter().map(|c| c.seconds).collect();
        secs.sort_by(|a, b| a.total_cmp(b));
        let median_seconds = match secs.len() {
            0 => 0.0,
            n if n % 2 == 1 => secs[n / 2],
            n => (secs[n / 2 - 1] + secs[n / 2]) / 2.0,
        };
        let mut by_fault = std::collections::BTreeMap::new();
        let mut kinds: Vec<&str> = per_case.iter().filter_map(|c| c.fault.as_deref()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in kinds {
            let of: Vec<&CaseResult> = per_case
                .iter()
                .filter(|c| c.fault.as_deref() == Some(kind))
                .collect();
            by_fault.insert(
                kind.to_string(),
                FaultBreakdown {
                    cases: of.len(),
                    ac_at_1: hit_share(&of, 1),
                    ac_at_3: hit_share(&of, 3),
                    ac_at_5: hit_share(&of, 5),
                },
            );
        }
        let labelled: Vec<&CaseResult> = per_case
            .iter()
            .filter(|c| c.inner_truth.is_some())
            .collect();
        let inner_at = |k: usize| {
            (!labelled.is_empty()).then(|| {
                labelled
                    .iter()
                    .filter(|c| c.inner_rank.is_some_and(|r| r <= k))
                    .count() as f64
                    / labelled.len() as f64
            })
        };
        let (inner_ac_at_1, inner_ac_at_3) = (inner_at(1), inner_at(3));
        EvalReport {
            inner_ac_at_1,
            inner_ac_at_3,
            cases: all.len(),
            ac_at_1: ac(1),
            ac_at_3: ac(3),
            ac_at_5: ac(5),
            avg_at_5: avg5,
            median_seconds,
            by_fault,
            per_case,
        }
    }
}

/// Reads `--params FILE`: TOML, or JSON when the file ends in `.json`.
pub fn read_params(path: Option<&Path>) -> CliResult<graph::Params> {
    let Some(path) = path else {
        return Ok(graph::Params::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading parameters {}", path.display()))
        .map_err(CliError::bad)?;
    let params = if path.extension().is_some_and(|e| e == "json") {
        graph::Params::from_json(&text)
    } else {
        toml::from_str::<graph::Params>(&text)
            .map_err(|e| e.to_string())
            .and_then(|p| p.validate().map(|()| p))
    };
    params.map_err(|e| CliError::bad(anyhow::anyhow!("{}: {e}", path.display())))
}

pub fn run(args: &EvalArgs) -> CliResult<()> {
    let params = read_params(args.params.as_deref())?;
    let report = match args.format {
        DatasetFormat::Fixtures => eval_fixtures(
            &args.dataset,
            &EngineConfig {
                params,
                ..EngineConfig::default()
            },
        )?,
        DatasetFormat::Nezha => {
            let day = args.day.as_deref().ok_or_else(|| {
                CliError::bad(anyhow::anyhow!("--format nezha needs --day YYYY-MM-DD"))
            })?;
            super::nezha::eval(&args.dataset, day, args.case.as_deref(), &params)?
        }
    };
    let text = match args.output {
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(&report).map_err(CliError::failed)?;
            s.push('\n');
            s
        }
        OutputFormat::Text => table(&report),
    };
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        // A closed pipe (`rca eval ... | head`) is not a failure of ours.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::failed(e)),
        _ => Ok(()),
    }
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
        let name = dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        cases.push(CaseResult::new(
            name,
            truth.component,
            Some(truth.fault),
            &loc,
            seconds,
        ));
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
    for (kind, b) in &r.by_fault {
        let _ = writeln!(
            s,
            "  {kind:<28} cases {:<3} AC@1 {:.3}  AC@3 {:.3}  AC@5 {:.3}",
            b.cases, b.ac_at_1, b.ac_at_3, b.ac_at_5
        );
    }
    if let (Some(i1), Some(i3)) = (r.inner_ac_at_1, r.inner_ac_at_3) {
        let _ = writeln!(
            s,
            "  inner-service                AIS@1 {i1:.3}  AIS@3 {i3:.3}"
        );
    }
    let median = r.median_seconds;
    let _ = writeln!(
        s,
        "cases {}  AC@1 {:.3}  AC@3 {:.3}  AC@5 {:.3}  Avg@5 {:.3}  median {:.3} s/case",
        r.cases, r.ac_at_1, r.ac_at_3, r.ac_at_5, r.avg_at_5, median
    );
    s
}
