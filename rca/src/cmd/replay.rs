//! `rca replay FIXTURE`: localise a recorded incident offline.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use graph::{EngineConfig, Localisation};

use crate::cli::{OutputFormat, ReplayArgs};
use crate::error::{CliError, CliResult};

pub fn run(args: &ReplayArgs) -> CliResult<()> {
    // The store is opened first: a bad setting or a locked data directory
    // fails before the work, not after.
    let rt = match args.store.config() {
        Some(_) => Some(super::graph::runtime()?),
        None => None,
    };
    let store = match (&rt, args.store.config()) {
        (Some(rt), Some(sc)) => Some((
            rt.block_on(graph::store::open(
                sc.clone(),
                &graph::store::Background::default(),
            ))
            .map_err(super::graph::store_error)?,
            sc,
        )),
        _ => None,
    };
    let t0 = std::time::Instant::now();
    let fixture = ingest::load_fixture(&args.fixture)?;
    let read_s = t0.elapsed().as_secs_f64();
    let cfg = EngineConfig {
        window: super::judged_window(&fixture, args.lookback_minutes, args.settle_minutes),
        ..EngineConfig::default()
    };
    let loc = super::localise_loaded(&fixture, &cfg)?;
    tracing::debug!(
        read_s,
        localise_s = t0.elapsed().as_secs_f64() - read_s,
        spans = fixture.observations.spans.len(),
        "replayed"
    );
    if let (Some(rt), Some((store, sc))) = (&rt, &store) {
        let stored = rt.block_on(store_incident(store.as_ref(), sc, &loc, fixture, &cfg));
        rt.block_on(store.close());
        stored?;
    }
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("rca-out").join(&loc.incident.id));
    let report = write_report(&loc, &out_dir, args.jaeger_url.as_deref())?;
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    let printed = match args.format {
        OutputFormat::Json => serde_json::to_writer_pretty(&mut w, &loc)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(w)),
        OutputFormat::Text => w.write_all(summary(&loc, &report).as_bytes()),
    };
    // A closed pipe (`rca replay ... | head`) is not a failure of ours.
    match printed {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::failed(e)),
        _ => Ok(()),
    }
}

/// Stores the incident, and says on stderr where it went. With Neo4j down
/// the incident waits in the outbox of the data directory, which the next
/// rca run with that directory (replay, or serve) writes to Neo4j.
async fn store_incident(
    store: &dyn graph::store::GraphStore,
    sc: &graph::store::StoreConfig,
    loc: &Localisation,
    fixture: ingest::Fixture,
    cfg: &EngineConfig,
) -> CliResult<()> {
    let mut record = graph::store::IncidentRecord::new(loc.clone(), chrono::Utc::now());
    // The window is recorded beside the store, as `rca serve` records its
    // incidents: a replayed fixture is as replayable from the store.
    let dir = sc.data_dir.clone();
    let limits = graph::store::RecordingLimits::default();
    let recordings =
        tokio::task::spawn_blocking(move || graph::store::Recordings::open(&dir, limits))
            .await
            .map_err(CliError::failed)?
            .map_err(CliError::failed)?;
    let recordings = std::sync::Arc::new(recordings);
    let judged = graph::store::JudgedWindow {
        lookback: cfg.window.lookback,
        settle: cfg.window.settle,
    };
    record.recording = super::record_window(
        &recordings,
        record.id(),
        std::sync::Arc::new(fixture.observations),
        fixture.webhook,
        judged,
    )
    .await;
    store
        .put(&record)
        .await
        .map_err(super::graph::store_error)?;
    super::evict_recordings(&recordings, store).await;
    if let Some(r) = &record.recording {
        eprintln!("rca: window recorded in {} ({} bytes)", r.path, r.bytes);
    }
    match &sc.neo4j {
        None => eprintln!(
            "rca: incident {} stored in {}",
            record.id(),
            sc.data_dir.display()
        ),
        Some(neo) => {
            // Earlier incidents still waiting get their chance too.
            let _ = store.flush().await;
            let pending = store.pending();
            if pending == 0 {
                eprintln!(
                    "rca: incident {} stored in neo4j at {}",
                    record.id(),
                    neo.uri
                );
            } else {
                eprintln!(
                    "rca: neo4j at {} is unreachable: incident {} kept in {} ({pending} waiting); \
                     it is written to neo4j by the next rca run with this data directory",
                    neo.uri,
                    record.id(),
                    sc.data_dir.display()
                );
            }
        }
    }
    Ok(())
}

fn write_report(
    loc: &Localisation,
    dir: &std::path::Path,
    jaeger: Option<&str>,
) -> CliResult<PathBuf> {
    let opts = web::ReportOptions {
        jaeger_base_url: jaeger.map(str::to_string),
        generated_by: format!("rca {}", env!("CARGO_PKG_VERSION")),
        ..web::ReportOptions::default()
    };
    let html = web::render_report(loc, &opts).map_err(CliError::failed)?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating {}", dir.display()))
        .map_err(CliError::failed)?;
    let path = dir.join("report.html");
    std::fs::write(&path, html)
        .with_context(|| format!("writing {}", path.display()))
        .map_err(CliError::failed)?;
    Ok(path)
}

/// The text an engineer reads in a terminal: top 5, one line of evidence each.
pub fn summary(loc: &Localisation, report: &std::path::Path) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let inc = &loc.incident;
    let _ = writeln!(
        s,
        "incident {}  alert {} on {}  starts {}",
        inc.id,
        if inc.alert_name.is_empty() {
            "-"
        } else {
            &inc.alert_name
        },
        inc.alert_component.as_deref().unwrap_or("-"),
        inc.starts_at
    );
    let _ = writeln!(
        s,
        "window {} .. {} (baseline until {}, {} s buckets); modalities: {}",
        inc.window_start,
        inc.window_end,
        inc.baseline_end,
        inc.bucket_seconds,
        loc.modalities.join(", ")
    );
    for m in &loc.missing {
        let _ = writeln!(s, "missing {}: {}", m.modality, m.reason);
    }
    if loc.symptom.kind != graph::symptom::SymptomKind::Unknown {
        let _ = writeln!(
            s,
            "symptom: {} of {} (from the {})",
            loc.symptom.kind,
            loc.symptom.component.as_deref().unwrap_or("-"),
            loc.symptom.source
        );
    }
    if loc.ranking.is_empty() && loc.modalities.is_empty() {
        let _ = writeln!(s, "nothing was observed in the window: no ranking");
    } else if loc.ranking.is_empty() {
        let _ = writeln!(s, "no component stands out from its baseline");
    } else if !loc.confident {
        let _ = writeln!(
            s,
            "tentative: no component stands out from its baseline; the strongest changes follow"
        );
    }
    let mut explaining = true;
    for (i, c) in loc.ranking.iter().take(5).enumerate() {
        if explaining && !c.explains_alert {
            explaining = false;
            let _ = writeln!(s, "changed, but does not explain the alert:");
        }
        let ev = c.evidence.first().map(|e| e.summary.as_str()).unwrap_or("");
        let name = if c.address {
            format!("{} (address)", c.component)
        } else {
            c.component.clone()
        };
        let _ = writeln!(
            s,
            "{}. {:<24} {:>7.2}  {:<26} {}",
            i + 1,
            name,
            c.score,
            c.fault.as_str(),
            ev
        );
    }
    if !loc.path.is_empty() {
        let _ = writeln!(s, "path: {}", loc.path.join(" -> "));
    }
    let _ = writeln!(s, "report: {}", report.display());
    s
}
