//! What `rca serve` gives the pages and the bot API (`web::router`): ad-hoc
//! localisations over the live sources (`POST /api/v1/localise`) and whether
//! an alert is still being worked on (the "localising..." page).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use graph::{EngineConfig, GraphError, Localisation, WindowConfig};
use ingest::collect::{collect, CollectWindow, Sources};
use ingest::{Alert, Observations};
use web::{LocaliseError, LocaliseRequest, Localiser};

use super::queue::Incidents;

/// Localises on demand with the service's own sources and engine.
pub struct ServeLocaliser {
    pub sources: Sources,
    pub incidents: Arc<Incidents>,
}

#[async_trait]
impl Localiser for ServeLocaliser {
    #[tracing::instrument(name = "localise", skip_all, fields(services = req.services.len()))]
    async fn localise(&self, req: LocaliseRequest) -> Result<Localisation, LocaliseError> {
        // web's handler has checked the window (non-empty, at most a day,
        // `alert_at` inside it).
        let alert_at = req
            .alert_at
            .unwrap_or_else(|| req.start + (req.end - req.start) / 2);
        let alert = adhoc_alert(alert_at, &req);
        let window = CollectWindow {
            start: req.start.timestamp_micros(),
            end: req.end.timestamp_micros(),
        };
        let (mut obs, reports) = collect(&self.sources, &window, &alert).await;
        if reports.iter().all(|r| r.missing.is_some()) {
            let why: Vec<String> = reports
                .iter()
                .filter_map(|r| r.missing.as_ref().map(|m| format!("{}: {m}", r.modality)))
                .collect();
            return Err(LocaliseError::Unavailable(why.join("; ")));
        }
        if !req.services.is_empty() {
            keep_services(&mut obs, &req.services);
        }
        obs.alerts = vec![alert];
        let cfg = EngineConfig {
            window: WindowConfig {
                lookback: window_micros(alert_at - req.start),
                settle: window_micros(req.end - alert_at),
                ..WindowConfig::default()
            },
            ..EngineConfig::default()
        };
        tokio::task::spawn_blocking(move || graph::localise(&obs, &cfg))
            .await
            .map_err(|e| LocaliseError::Failed(e.to_string()))?
            .map_err(|e| match e {
                GraphError::NoData => LocaliseError::NoData,
            })
    }

    fn pending(&self, fingerprint: &str) -> bool {
        self.incidents.pending_fingerprint(fingerprint)
    }
}

fn window_micros(d: chrono::TimeDelta) -> i64 {
    d.num_microseconds().unwrap_or(i64::MAX)
}

/// The alert an ad-hoc request stands for: its own fingerprint (the window
/// and services), so the same request gives the same incident id.
fn adhoc_alert(at: DateTime<Utc>, req: &LocaliseRequest) -> Alert {
    let mut labels = BTreeMap::new();
    labels.insert("alertname".to_string(), "adhoc".to_string());
    let key = format!(
        "adhoc {} {} {}",
        req.start.to_rfc3339(),
        req.end.to_rfc3339(),
        req.services.join(",")
    );
    Alert {
        status: "firing".into(),
        labels,
        annotations: BTreeMap::new(),
        starts_at: at,
        ends_at: None,
        generator_url: String::new(),
        fingerprint: graph::incident_id(&key, &at.to_rfc3339())[..16].to_string(),
    }
}

/// Only the named services' records are analysed.
fn keep_services(obs: &mut Observations, services: &[String]) {
    let keep: BTreeSet<ingest::Sym> = services.iter().filter_map(|s| obs.names.get(s)).collect();
    obs.spans.retain(|s| keep.contains(&s.component));
    obs.series.retain(|s| keep.contains(&s.component));
    obs.edges
        .retain(|e| keep.contains(&e.client) && keep.contains(&e.server));
    obs.access.retain(|a| keep.contains(&a.proxy));
    obs.logs.retain(|l| keep.contains(&l.component));
}
