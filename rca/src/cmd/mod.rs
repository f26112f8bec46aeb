//! One module per subcommand; shared steps live here.

pub mod eval;
pub mod fixtures;
pub mod goroutines;
pub mod graph;
pub mod nezha;
pub mod push;
pub mod replay;
pub mod serve;

use std::path::Path;

use ::graph::{EngineConfig, Heatmap, IncidentInfo, Localisation, Missing};
use anyhow::Context;
use ingest::{Micros, Observations};

use crate::error::{CliError, CliResult};

/// Reads a fixture directory (or a recording's archive) and localises its incident. A fixture whose
/// alert finds nothing observed in its window (only `alert.json`, or files
/// holding no records) is an incident with no ranking that says what was
/// missing, as `rca serve` makes of such an alert; without an alert there is
/// nothing to localise.
pub fn localise_fixture(dir: &Path, cfg: &EngineConfig) -> CliResult<Localisation> {
    localise_loaded(&ingest::load_fixture(dir)?, cfg)
}

/// [`localise_fixture`] of a fixture already loaded.
pub fn localise_loaded(fixture: &ingest::Fixture, cfg: &EngineConfig) -> CliResult<Localisation> {
    let dir = &fixture.dir;
    let obs = &fixture.observations;
    match ::graph::localise(obs, cfg) {
        Ok(loc) => Ok(loc),
        Err(::graph::GraphError::NoData) if !obs.alerts.is_empty() => {
            let at = obs.alerts[0].starts_at_micros();
            Ok(empty_localisation(
                obs,
                at - cfg.window.lookback,
                at + cfg.window.settle,
            ))
        }
        Err(e) => Err(e)
            .with_context(|| format!("localising {}", dir.display()))
            .map_err(CliError::bad),
    }
}

use ingest::rfc3339_secs as rfc3339;

/// An incident with no ranking, for a window `start..end` where nothing was
/// observed: it names the alert and lists every modality missing, with why.
/// The window to judge a fixture with: the minutes given, else those its
/// recording was judged with (a recorded incident replays as it was
/// judged), else 30 before and 10 after the alert, as `rca serve` does.
pub fn judged_window(
    fixture: &ingest::Fixture,
    lookback_minutes: Option<u32>,
    settle_minutes: Option<u32>,
) -> ::graph::WindowConfig {
    let recorded = fixture.manifest.as_ref();
    let minutes = |given: Option<u32>, recorded: Option<f64>, default: f64| {
        given.map_or(recorded.unwrap_or(default), f64::from)
    };
    let us = |m: f64| (m * 60e6).round() as i64;
    ::graph::WindowConfig {
        lookback: us(minutes(
            lookback_minutes,
            recorded.map(|m| m.lookback_minutes),
            DEFAULT_LOOKBACK_MINUTES,
        )),
        settle: us(minutes(
            settle_minutes,
            recorded.map(|m| m.settle_minutes),
            DEFAULT_SETTLE_MINUTES,
        )),
        ..::graph::WindowConfig::default()
    }
}

/// Minutes before the alert a replay judges, when nothing says otherwise.
pub const DEFAULT_LOOKBACK_MINUTES: f64 = 30.0;
/// Minutes after it.
pub const DEFAULT_SETTLE_MINUTES: f64 = 10.0;

pub fn empty_localisation(obs: &Observations, start: Micros, end: Micros) -> Localisation {
    let alert = obs.alerts.first();
    let starts_at = alert
        .map(|a| rfc3339(a.starts_at_micros()))
        .unwrap_or_default();
    let fingerprint = alert.map(|a| a.fingerprint.clone()).unwrap_or_default();
    let mut missing = ::graph::missing_of(obs);
    if missing.is_empty() {
        missing.push(Missing {
            modality: "all".into(),
            reason: "no observations inside the window".into(),
        });
    }
    Localisation {
        symptom: alert.map(::graph::symptom::of_alert).unwrap_or_default(),
        // Nothing came back: no answer to be sure of.
        confident: false,
        incident: IncidentInfo {
            id: alert
                .map(::graph::alert_incident_id)
                .unwrap_or_else(|| ::graph::incident_id(&fingerprint, &starts_at)),
            alert_name: alert.map(|a| a.name().to_string()).unwrap_or_default(),
            alert_component: alert.and_then(|a| a.component()).map(str::to_string),
            fingerprint,
            starts_at,
            window_start: rfc3339(start),
            window_end: rfc3339(end),
            baseline_end: rfc3339(start),
            bucket_seconds: 0.0,
            annotations: alert.map(|a| a.annotations.clone()).unwrap_or_default(),
            other_alerts: ::graph::other_alerts(obs),
        },
        ranking: Vec::new(),
        path: Vec::new(),
        modalities: Vec::new(),
        missing,
        heatmap: Heatmap::default(),
        edges: Vec::new(),
        detail: Default::default(),
    }
}

/// Records `obs`, the window incident `id` was judged on, beside the store
/// (on a blocking thread: it writes and compresses files). A recording that
/// fails is logged, and the incident is stored without one: it is worth
/// keeping all the same.
pub(crate) async fn record_window(
    recordings: &std::sync::Arc<::graph::store::Recordings>,
    id: &str,
    obs: std::sync::Arc<Observations>,
    webhook: Option<ingest::AlertWebhook>,
    window: ::graph::store::JudgedWindow,
) -> Option<::graph::store::Recording> {
    let (recordings, id) = (recordings.clone(), id.to_owned());
    let t0 = std::time::Instant::now();
    let done =
        tokio::task::spawn_blocking(move || recordings.record(&id, &obs, webhook.as_ref(), window))
            .await;
    match done {
        Ok(Ok(r)) => {
            tracing::info!(
                bytes = r.bytes,
                seconds = t0.elapsed().as_secs_f64(),
                sampled = r.sampled.len(),
                "window recorded"
            );
            Some(r)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "recording the window failed; the incident is stored without it");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "recording the window stopped; the incident is stored without it");
            None
        }
    }
}

/// Removes recordings while all of them together are over their cap: the
/// oldest first, those of incidents with a verdict last (they are what `rca
/// eval --format store` judges by). Failures are logged: a cap overrun is
/// not worth failing an incident for.
pub(crate) async fn evict_recordings(
    recordings: &std::sync::Arc<::graph::store::Recordings>,
    store: &dyn ::graph::store::GraphStore,
) {
    let r = recordings.clone();
    let over = tokio::task::spawn_blocking(move || r.total_bytes() > r.limits().total)
        .await
        .unwrap_or(false);
    if !over {
        return;
    }
    let all = ::graph::store::IncidentQuery {
        limit: usize::MAX,
        ..::graph::store::IncidentQuery::default()
    };
    let verdicted: std::collections::HashSet<String> = match store.verdicts(&all).await {
        Ok(v) => v.into_iter().map(|v| v.incident.id).collect(),
        Err(e) => {
            // Without the verdicts nothing can be ordered safely: try at the next incident.
            tracing::warn!(error = %e, "recordings over their cap, but the verdicts are unreadable");
            return;
        }
    };
    let r = recordings.clone();
    match tokio::task::spawn_blocking(move || r.evict(&verdicted)).await {
        Ok(Ok(e)) if !e.ids.is_empty() => tracing::info!(
            removed = e.ids.len(),
            bytes = e.bytes,
            "recordings removed to stay under recordings.max_total_bytes"
        ),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "removing recordings over the cap"),
        Err(e) => tracing::warn!(error = %e, "removing recordings over the cap stopped"),
    }
}
