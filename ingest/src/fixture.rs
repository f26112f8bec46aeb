//! Fixture incidents: a directory holding what was observed around one alert,
//! in the wire formats the readers take.
//!
//! | file | reader |
//! | --- | --- |
//! | `alert.json` | Alertmanager webhook (v4) body, [`AlertWebhook`] |
//! | `traces.json` | [`read_traces`](crate::read_traces) |
//! | `logs.json` | [`read_otlp_logs`](crate::read_otlp_logs) |
//! | `metrics.json` | [`read_metrics`](crate::read_metrics) |
//! | `access.log`, `access-<proxy>.log` | [`read_access_log`](crate::read_access_log) |
//! | `truth.json` | [`read_truth`], never by [`load_fixture`]: the engine must not see it |
//!
//! Files are read in parallel, one thread each, into their own
//! [`Observations`], then merged in a fixed order so the result does not
//! depend on timing. A missing file is a missing modality, recorded in
//! [`Observations::sources`]; a present file that is empty or broken is an
//! error.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::access::read_access_log;
use crate::alert::read_webhook;
use crate::error::IngestError;
use crate::logs::read_otlp_logs;
use crate::metrics::read_metrics_detailed;
use crate::model::{AlertWebhook, Modality, Observations, SourceStatus};
use crate::traces::read_traces;

/// The proxy an `access.log` is credited to when the traces do not name one.
pub const DEFAULT_PROXY: &str = "ingress";

/// One fixture incident, loaded.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub dir: PathBuf,
    /// The Alertmanager webhook body from `alert.json`, when there is one;
    /// its alerts are also in `observations.alerts`.
    pub webhook: Option<AlertWebhook>,
    pub observations: Observations,
}

/// The known root cause of a fixture incident, for scoring the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truth {
    pub component: String,
    pub fault: String,
}

#[derive(Deserialize)]
struct TruthFile {
    root_cause: Truth,
}

/// Reads `truth.json` of a fixture directory; `Ok(None)` when there is none.
pub fn read_truth(dir: &Path) -> Result<Option<Truth>, IngestError> {
    let path = dir.join("truth.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(IngestError::Io { path, source }),
    };
    let text = crate::wire::json_text(&path, &bytes)?;
    let file: TruthFile =
        serde_json::from_str(text).map_err(|e| crate::wire::json_error(&path, e))?;
    Ok(Some(file.root_cause))
}

/// One file of a fixture and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Alert,
    Traces,
    Metrics,
    /// An access log; `None` for `access.log`, whose proxy is decided later.
    Access(Option<String>),
    Logs,
}

/// What one reader thread produced.
struct Loaded {
    part: Part,
    obs: Observations,
    records: u64,
    webhook: Option<AlertWebhook>,
    /// Why part of the file was not used, when it was not all used.
    partial: Option<String>,
}

/// Loads a fixture directory: every file present, read in parallel.
pub fn load_fixture(dir: &Path) -> Result<Fixture, IngestError> {
    let meta = std::fs::metadata(dir).map_err(|source| IngestError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(IngestError::malformed(dir, "not a directory"));
    }
    let files = list_parts(dir)?;

    let results: Vec<Result<Loaded, IngestError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .map(|(part, path)| (path, scope.spawn(move || load_part(part.clone(), path))))
            .collect();
        handles
            .into_iter()
            .map(|(path, handle)| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(IngestError::malformed(path, "reader thread panicked")))
            })
            .collect()
    });
    let mut loaded = results.into_iter().collect::<Result<Vec<_>, _>>()?;

    // `access.log` is credited to the one proxy the traces show, if one.
    let proxy = trace_proxy(&loaded).unwrap_or_else(|| DEFAULT_PROXY.to_string());
    for part in loaded.iter_mut().filter(|l| l.part == Part::Access(None)) {
        if proxy != DEFAULT_PROXY {
            let sym = part.obs.names.intern(&proxy);
            for record in &mut part.obs.access {
                record.proxy = sym;
            }
        }
    }

    let mut observations = Observations::default();
    let mut webhook = None;
    let status = |modality: Modality, file: &str, present: &[&Loaded]| {
        if present.is_empty() {
            return SourceStatus {
                modality,
                records: 0,
                missing: Some(format!("no {file} in {}", dir.display())),
            };
        }
        let records = present.iter().map(|l| l.records).sum();
        let partial: Vec<&str> = present
            .iter()
            .filter_map(|l| l.partial.as_deref())
            .collect();
        let missing = if records == 0 {
            Some(format!("{file} in {} holds no records", dir.display()))
        } else if !partial.is_empty() {
            Some(partial.join("; "))
        } else {
            None
        };
        SourceStatus {
            modality,
            records,
            missing,
        }
    };
    let of = |pred: &dyn Fn(&Part) -> bool| -> Vec<&Loaded> {
        loaded.iter().filter(|l| pred(&l.part)).collect()
    };
    let sources = vec![
        status(
            Modality::Traces,
            "traces.json",
            &of(&|p| *p == Part::Traces),
        ),
        status(
            Modality::Metrics,
            "metrics.json",
            &of(&|p| *p == Part::Metrics),
        ),
        status(
            Modality::AccessLogs,
            "access.log or access-<proxy>.log",
            &of(&|p| matches!(p, Part::Access(_))),
        ),
        status(Modality::Logs, "logs.json", &of(&|p| *p == Part::Logs)),
    ];

    // Merge in a fixed order: `list_parts` sorted the files.
    for part in loaded {
        if let Some(w) = part.webhook {
            observations.alerts.extend(w.alerts.iter().cloned());
            webhook = Some(w);
        }
        observations.merge(part.obs);
    }
    observations.sources.extend(sources);
    Ok(Fixture {
        dir: dir.to_path_buf(),
        webhook,
        observations,
    })
}

/// The files of `dir` that a reader takes, in merge order.
fn list_parts(dir: &Path) -> Result<Vec<(Part, PathBuf)>, IngestError> {
    let io = |source| IngestError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut access: Vec<(String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == "access.log" {
            access.push((String::new(), entry.path()));
        } else if let Some(proxy) = name
            .strip_prefix("access-")
            .and_then(|n| n.strip_suffix(".log"))
        {
            if !proxy.is_empty() {
                access.push((proxy.to_string(), entry.path()));
            }
        }
    }
    access.sort();
    let mut parts = Vec::new();
    for (part, file) in [
        (Part::Alert, "alert.json"),
        (Part::Traces, "traces.json"),
        (Part::Metrics, "metrics.json"),
    ] {
        let path = dir.join(file);
        if path.is_file() {
            parts.push((part, path));
        }
    }
    for (proxy, path) in access {
        let proxy = (!proxy.is_empty()).then_some(proxy);
        parts.push((Part::Access(proxy), path));
    }
    let logs = dir.join("logs.json");
    if logs.is_file() {
        parts.push((Part::Logs, logs));
    }
    Ok(parts)
}

fn load_part(part: Part, path: &Path) -> Result<Loaded, IngestError> {
    let bytes = std::fs::read(path).map_err(|source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut obs = Observations::default();
    let mut webhook = None;
    let mut partial = None;
    let records = match &part {
        Part::Alert => {
            let w = read_webhook(path, &bytes)?;
            let n = w.alerts.len() as u64;
            webhook = Some(w);
            n
        }
        Part::Traces => read_traces(path, &bytes, &mut obs)?,
        Part::Metrics => {
            let read = read_metrics_detailed(path, &bytes, &mut obs)?;
            if read.skipped_series > 0 {
                partial = Some(format!(
                    "{} series in {} name no component and were skipped",
                    read.skipped_series,
                    path.display()
                ));
            }
            read.samples
        }
        Part::Access(proxy) => read_access_log(
            path,
            &bytes,
            proxy.as_deref().unwrap_or(DEFAULT_PROXY),
            &mut obs,
        )?,
        Part::Logs => read_otlp_logs(path, &bytes, &mut obs)?,
    };
    Ok(Loaded {
        part,
        obs,
        records,
        webhook,
        partial,
    })
}

/// The component whose spans are marked `proxy`, when exactly one is.
fn trace_proxy(loaded: &[Loaded]) -> Option<String> {
    let traces = loaded.iter().find(|l| l.part == Part::Traces)?;
    let mut found: Option<crate::model::Sym> = None;
    for span in traces.obs.spans.iter().filter(|s| s.proxy) {
        match found {
            None => found = Some(span.component),
            Some(sym) if sym == span.component => {}
            Some(_) => return None,
        }
    }
    found.map(|sym| traces.obs.names.name(sym).to_string())
}
