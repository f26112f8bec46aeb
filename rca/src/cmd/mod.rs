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

/// Reads a fixture directory and localises its incident. A fixture whose
/// alert finds nothing observed in its window (only `alert.json`, or files
/// holding no records) is an incident with no ranking that says what was
/// missing, as `rca serve` makes of such an alert; without an alert there is
/// nothing to localise.
pub fn localise_fixture(dir: &Path, cfg: &EngineConfig) -> CliResult<Localisation> {
    let fixture = ingest::load_fixture(dir)?;
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
