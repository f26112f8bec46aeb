//! `rca eval`: accuracy over labelled incidents (AC@k, Avg@5, time per case).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use graph::EngineConfig;
use ingest::sample::TraceSampling;
use serde::Serialize;

use crate::cli::{DatasetFormat, EvalArgs, OutputFormat, TracesAs};
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
    let thin = args.thin_traces.map(|per_slice| TraceSampling {
        per_slice: per_slice.max(1),
        ..TraceSampling::default()
    });
    let dataset = || {
        args.dataset.as_deref().ok_or_else(|| {
            CliError::bad(anyhow::anyhow!(
                "--format fixtures and nezha need --dataset DIR"
            ))
        })
    };
    let text = match args.format {
        DatasetFormat::Store => {
            let rt = super::graph::runtime()?;
            let report = rt.block_on(eval_store(&args.store, args.case.as_deref(), &params))?;
            match args.output {
                OutputFormat::Json => json_text(&report)?,
                OutputFormat::Text => store_table(&report),
            }
        }
        format => {
            let report = match format {
                DatasetFormat::Nezha => {
                    let day = args.day.as_deref().ok_or_else(|| {
                        CliError::bad(anyhow::anyhow!("--format nezha needs --day YYYY-MM-DD"))
                    })?;
                    super::nezha::eval(
                        dataset()?,
                        day,
                        args.case.as_deref(),
                        &params,
                        thin,
                        args.traces_as,
                    )?
                }
                _ => eval_fixtures(
                    dataset()?,
                    &EngineConfig {
                        params,
                        ..EngineConfig::default()
                    },
                    thin,
                    args.traces_as,
                )?,
            };
            match args.output {
                OutputFormat::Json => json_text(&report)?,
                OutputFormat::Text => table(&report),
            }
        }
    };
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        // A closed pipe (`rca eval ... | head`) is not a failure of ours.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::failed(e)),
        _ => Ok(()),
    }
}

fn json_text(v: &impl Serialize) -> CliResult<String> {
    let mut s = serde_json::to_string_pretty(v).map_err(CliError::failed)?;
    s.push('\n');
    Ok(s)
}

/// What `rca eval --format store` prints: the usual report over the
/// incidents with a verdict and a recording, each incident's stored answer
/// against the new one, and the incidents that could not be judged.
#[derive(Debug, Clone, Serialize)]
pub struct StoreReport {
    #[serde(flatten)]
    pub report: EvalReport,
    pub incidents: Vec<StoredVsNew>,
    /// Incidents with a verdict but nothing to replay, each with why.
    pub skipped: Vec<Skipped>,
}

/// One incident with a verdict: what rca said when it was stored, what the
/// current engine says of the same recording, and what the verdict says.
#[derive(Debug, Clone, Serialize)]
pub struct StoredVsNew {
    pub incident: String,
    pub alert_name: String,
    /// `confirmed` or `corrected`.
    pub verdict: String,
    /// The root cause the verdict names.
    pub truth: String,
    pub stored_top: Option<String>,
    pub new_top: Option<String>,
    /// The truth's rank, 1-based, in the stored and the new ranking.
    pub stored_rank: Option<usize>,
    pub new_rank: Option<usize>,
}

impl StoredVsNew {
    /// `same`, `better`, `worse` (by the truth's rank; unranked is last).
    pub fn change(&self) -> &'static str {
        let key = |r: Option<usize>| r.unwrap_or(usize::MAX);
        match key(self.new_rank).cmp(&key(self.stored_rank)) {
            std::cmp::Ordering::Less => "better",
            std::cmp::Ordering::Greater => "worse",
            std::cmp::Ordering::Equal => "same",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub incident: String,
    pub reason: String,
}

/// Where the recording of `record` is: under `data_dir/recordings` when a
/// data directory is given, else where it was written.
fn recording_path(
    record: &graph::store::IncidentRecord,
    data_dir: Option<&Path>,
) -> Result<PathBuf, String> {
    let mut tried = Vec::new();
    let file = record
        .recording
        .as_ref()
        .map_or_else(|| format!("{}.tar.gz", record.id()), |r| r.file.clone());
    if let Some(dir) = data_dir {
        let p = graph::store::recordings_dir(dir).join(&file);
        if p.is_file() {
            return Ok(p);
        }
        tried.push(p.display().to_string());
    }
    if let Some(r) = &record.recording {
        let p = PathBuf::from(&r.path);
        if p.is_file() {
            return Ok(p);
        }
        tried.push(r.path.clone());
    }
    Err(if tried.is_empty() {
        "stored without a recording (recordings were off, or it predates them)".to_string()
    } else {
        format!(
            "its recording is gone (removed to stay under the cap, or on another host): \
             tried {}",
            tried.join(", ")
        )
    })
}

/// Replays every stored incident with a verdict through the current engine.
pub async fn eval_store(
    store_args: &super::graph::StoreArgs,
    case: Option<&str>,
    params: &graph::Params,
) -> CliResult<StoreReport> {
    let store = super::graph::open_for_queries(store_args).await?;
    let all = graph::store::IncidentQuery {
        limit: usize::MAX,
        ..graph::store::IncidentQuery::default()
    };
    let verdicts = store
        .verdicts(&all)
        .await
        .map_err(super::graph::store_error)?;
    let verdicts: Vec<_> = verdicts
        .into_iter()
        .filter(|v| {
            case.is_none_or(|c| v.incident.id.contains(c) || v.incident.alert_name.contains(c))
        })
        .collect();
    let mut cases = Vec::new();
    let mut incidents = Vec::new();
    let mut skipped = Vec::new();
    let total = verdicts.len();
    for (n, v) in verdicts.into_iter().enumerate() {
        let id = v.incident.id.clone();
        let skip = |reason: String| Skipped {
            incident: id.clone(),
            reason,
        };
        let record = match store.get(&id).await.map_err(super::graph::store_error)? {
            Some(r) => r,
            None => {
                skipped.push(skip("listed with a verdict but not found".into()));
                continue;
            }
        };
        let path = match recording_path(&record, store_args.data_dir.as_deref()) {
            Ok(p) => p,
            Err(reason) => {
                skipped.push(skip(reason));
                continue;
            }
        };
        eprintln!(
            "rca: [{}/{total}] {id}: replaying {}",
            n + 1,
            path.display()
        );
        let params = params.clone();
        let t0 = Instant::now();
        let judged = tokio::task::spawn_blocking(move || -> CliResult<graph::Localisation> {
            let fixture = ingest::load_fixture(&path)?;
            let cfg = EngineConfig {
                window: super::judged_window(&fixture, None, None),
                params,
            };
            super::localise_loaded(&fixture, &cfg)
        })
        .await
        .map_err(CliError::failed)?;
        let loc = match judged {
            Ok(l) => l,
            Err(e) => {
                skipped.push(skip(format!("its recording cannot be replayed: {e}")));
                continue;
            }
        };
        let seconds = t0.elapsed().as_secs_f64();
        let truth = v.feedback.root_cause.clone();
        let fault = record.fault_of(&v.feedback);
        let rank = |l: &graph::Localisation| {
            l.ranking
                .iter()
                .position(|c| c.component == truth)
                .map(|i| i + 1)
        };
        incidents.push(StoredVsNew {
            incident: id.clone(),
            alert_name: record.localisation.incident.alert_name.clone(),
            verdict: v.feedback.verdict.as_str().to_string(),
            truth: truth.clone(),
            stored_top: record
                .localisation
                .ranking
                .first()
                .map(|c| c.component.clone()),
            new_top: loc.ranking.first().map(|c| c.component.clone()),
            stored_rank: rank(&record.localisation),
            new_rank: rank(&loc),
        });
        cases.push(CaseResult::new(
            id,
            truth,
            Some(fault.map_or("unknown", |f| f.as_str()).to_string()),
            &loc,
            seconds,
        ));
    }
    store.close().await;
    if cases.is_empty() && skipped.is_empty() {
        return Err(CliError::bad(anyhow::anyhow!(
            "no stored incident has a verdict yet: give some on the incident pages or by \
             POST /api/v1/incidents/{{id}}/feedback"
        )));
    }
    Ok(StoreReport {
        report: EvalReport::from_cases(cases),
        incidents,
        skipped,
    })
}

/// The text of a [`StoreReport`]: the usual table, then stored against new.
pub fn store_table(r: &StoreReport) -> String {
    use std::fmt::Write as _;
    let mut s = table(&r.report);
    let rank = |x: Option<usize>| x.map_or("-".to_string(), |r| r.to_string());
    let _ = writeln!(
        s,
        "\nstored answer against the current engine's, per incident:"
    );
    for i in &r.incidents {
        let _ = writeln!(
            s,
            "{:<18} {:<10} truth {:<22} stored top {:<22} (rank {:<2}) new top {:<22} (rank {:<2}) {}",
            i.incident,
            i.verdict,
            i.truth,
            i.stored_top.as_deref().unwrap_or("-"),
            rank(i.stored_rank),
            i.new_top.as_deref().unwrap_or("-"),
            rank(i.new_rank),
            i.change()
        );
    }
    let count = |c: &str| r.incidents.iter().filter(|i| i.change() == c).count();
    let stored_ac1 = r
        .incidents
        .iter()
        .filter(|i| i.stored_rank == Some(1))
        .count();
    let n = r.incidents.len().max(1) as f64;
    let _ = writeln!(
        s,
        "stored AC@1 {:.3}  new AC@1 {:.3}  better {}  worse {}  same {}",
        stored_ac1 as f64 / n,
        r.report.ac_at_1,
        count("better"),
        count("worse"),
        count("same")
    );
    for k in &r.skipped {
        let _ = writeln!(s, "skipped {}: {}", k.incident, k.reason);
    }
    s
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

/// Every fixture under `root`, each first thinned by `thin` when given,
/// then its traces handed over as `traces_as` says.
pub fn eval_fixtures(
    root: &Path,
    cfg: &EngineConfig,
    thin: Option<TraceSampling>,
    traces_as: TracesAs,
) -> CliResult<EvalReport> {
    let mut cases = Vec::new();
    let mut thinned = ThinTally::default();
    let mut replaced = ServiceGraphTally::default();
    for dir in fixture_dirs(root)? {
        let truth = ingest::read_truth(&dir)?
            .ok_or_else(|| CliError::bad(anyhow::anyhow!("{}: no truth.json", dir.display())))?;
        let t0 = Instant::now();
        let mut fixture = ingest::load_fixture(&dir)?;
        if let Some(rule) = &thin {
            thinned.thin(&mut fixture.observations, rule);
        }
        replaced.apply(&mut fixture.observations, traces_as);
        let loc = super::localise_loaded(&fixture, cfg)?;
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
    thinned.report();
    replaced.report();
    Ok(EvalReport::from_cases(cases))
}

/// The step of the series `--traces-as servicegraph` makes: a minute. The
/// connector's counters are usually scraped every 15 to 60 s and read
/// through `rate(...[1m])`, so per-minute rates are what its users have to
/// go on, and a finer step would credit the engine with detail they lack.
pub const SERVICEGRAPH_STEP: ingest::Micros = 60_000_000;

/// What `--traces-as servicegraph` replaced over all the cases, told on stderr.
#[derive(Default)]
pub struct ServiceGraphTally {
    cases: usize,
    spans: usize,
    edges: usize,
}

impl ServiceGraphTally {
    /// Replaces `obs`'s spans by their service-graph series when `traces_as`
    /// says so ([`ingest::servicegraph::replace_traces`]).
    pub fn apply(&mut self, obs: &mut ingest::Observations, traces_as: TracesAs) {
        if traces_as != TracesAs::Servicegraph {
            return;
        }
        self.cases += 1;
        self.spans += obs.spans.len();
        self.edges += ingest::servicegraph::replace_traces(obs, SERVICEGRAPH_STEP);
    }

    pub fn report(&self) {
        if self.cases == 0 {
            return;
        }
        eprintln!(
            "traces as service-graph series in {} cases: {} caller→callee edges ({} s step) replaced {} spans",
            self.cases,
            self.edges,
            SERVICEGRAPH_STEP / 1_000_000,
            self.spans
        );
    }
}

/// What `--thin-traces` kept over all the cases, told on stderr.
#[derive(Default)]
pub struct ThinTally {
    cases: usize,
    total: ingest::sample::Thinned,
}

impl ThinTally {
    /// Thins `obs`'s spans in the slices the live collector would cut
    /// `rca serve`'s default window into, anchored on the (first) alert.
    pub fn thin(&mut self, obs: &mut ingest::Observations, rule: &TraceSampling) {
        let window = (super::DEFAULT_LOOKBACK_MINUTES + super::DEFAULT_SETTLE_MINUTES) * 60e6;
        let width = (window / f64::from(rule.slices.max(1))).round() as i64;
        let origin = obs.alerts.first().map_or(0, |a| a.starts_at_micros());
        let r = ingest::sample::thin(obs, origin, width, rule.per_slice);
        self.cases += 1;
        self.total += r;
    }

    pub fn report(&self) {
        let t = &self.total;
        if self.cases == 0 {
            return;
        }
        let share = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
        eprintln!(
            "thinned traces of {} cases: kept {} of {} traces ({:.1}%; {} by the sample, {} failing, {} slow), {} of {} spans ({:.1}%)",
            self.cases,
            t.kept,
            t.traces,
            share(t.kept, t.traces),
            t.sampled,
            t.failing,
            t.slow,
            t.spans_kept,
            t.spans,
            share(t.spans_kept, t.spans)
        );
    }
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
