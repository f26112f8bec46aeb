//! The HTTP side of the intake: the webhook, health and metrics. Errors reach
//! HTTP through `web::ApiError`, the one mapping from error to status.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use graph::store::GraphStore;
use ingest::Alert;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tracing::{info, instrument, warn};
use web::intake::{Accepted, AlertPlaced, Resolved, WebhookAnswer};
use web::ApiError;

use super::journal::Journal;
use super::metrics::Metrics;
use super::nats::{Claim, Investigation, Nats};
use super::queue::{incident_id_of, split, Dispatch, Incidents, Job, Placed, Placement};

/// What the webhook, health and metrics routes share (the pages and the bot
/// API have `web::Intake`).
pub struct Intake {
    pub base_url: String,
    pub body_limit: usize,
    pub store: Arc<dyn GraphStore>,
    /// Where accepted investigations wait for a worker (and, locally, the
    /// journal where their alerts wait on disk until stored).
    pub dispatch: Dispatch,
    pub incidents: Arc<Incidents>,
    pub metrics: Arc<Metrics>,
}

/// The routes of `rca serve` besides the pages and the bot API (those are
/// `web::router`'s): the webhook (behind the bearer token when one is set),
/// health and the service's own metrics (never behind it).
pub fn router(state: Arc<Intake>, token: Option<String>) -> Router {
    let limit = state.body_limit;
    let webhook = web::require_bearer(Router::new().route("/api/v1/alerts", post(alerts)), token);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(webhook)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

#[instrument(name = "webhook", skip_all, fields(bytes))]
async fn alerts(State(state): State<Arc<Intake>>, body: Result<Bytes, BytesRejection>) -> Response {
    let answer = accept(&state, body).await;
    let code = match &answer {
        Ok(_) => StatusCode::ACCEPTED,
        Err(e) => e.status(),
    };
    state
        .metrics
        .webhooks
        .with_label_values(&[code.as_str()])
        .inc();
    match answer {
        Ok(a) => (StatusCode::ACCEPTED, Json(a)).into_response(),
        Err(e) => {
            warn!(status = code.as_u16(), error = %e, "webhook refused");
            e.into_response()
        }
    }
}

async fn accept(
    state: &Intake,
    body: Result<Bytes, BytesRejection>,
) -> Result<WebhookAnswer, ApiError> {
    let body = body.map_err(|r| {
        ApiError::rejected(
            r.status(),
            format!("reading the body: {}", r.body_text()),
            state.body_limit,
        )
    })?;
    tracing::Span::current().record("bytes", body.len());
    let (alerts, ended) = read_alerts(&body)?;
    let resolved = mark_resolved(state, &ended).await?;
    let alerts: Vec<(String, Alert)> = alerts
        .into_iter()
        .map(|a| (incident_id_of(&a), a))
        .collect();

    // Alerts stored by an earlier run of the service count as known.
    let mut stored: HashMap<String, String> = HashMap::new();
    for (id, alert) in &alerts {
        if stored.contains_key(id) || state.incidents.investigation_of(id).is_some() {
            continue;
        }
        if let Some(inv) = stored_investigation(state.store.as_ref(), id, alert).await? {
            stored.insert(id.clone(), inv);
        }
    }
    let fresh: Vec<(String, Alert)> = alerts
        .iter()
        .filter(|(id, _)| !stored.contains_key(id))
        .cloned()
        .collect();

    let placed = match &state.dispatch {
        Dispatch::Local { queue, journal } => queue_locally(state, queue, journal, &fresh)?,
        Dispatch::Nats(nats) => queue_shared(state, nats, &fresh).await?,
    };
    let count = |k: Placed| placed.iter().filter(|p| p.placed == k).count() as u64;
    let (started, joined) = (count(Placed::Started), count(Placed::Joined));
    state.metrics.investigations.inc_by(started);
    state.metrics.alerts_joined.inc_by(joined);
    info!(alerts = alerts.len(), started, joined, "webhook accepted");
    let url = |id: &str| format!("{}/incidents/{id}", state.base_url);
    let mut answer = WebhookAnswer {
        resolved,
        incidents: Vec::new(),
        alerts: Vec::with_capacity(alerts.len()),
    };
    let mut seen = HashSet::new();
    for (id, alert) in &alerts {
        let (inv, status) = match stored.get(id) {
            Some(inv) => (inv.clone(), Placed::Known),
            None => match placed.iter().find(|p| &p.alert == id) {
                Some(p) => (p.investigation.clone(), p.placed),
                None => continue,
            },
        };
        if seen.insert(inv.clone()) {
            answer.incidents.push(Accepted {
                url: url(&inv),
                id: inv.clone(),
            });
        }
        answer.alerts.push(AlertPlaced {
            fingerprint: alert.fingerprint.clone(),
            url: url(&inv),
            id: inv,
            status: status.as_str(),
        });
    }
    Ok(answer)
}

/// Places `fresh` in this process's table and queue, journalled before the
/// answer. Queue slots are for new investigations only: alerts that join one
/// take none, so a storm of one outage is never turned away.
fn queue_locally(
    state: &Intake,
    queue: &mpsc::Sender<Job>,
    journal: &Journal,
    fresh: &[(String, Alert)],
) -> Result<Vec<Placement>, ApiError> {
    let (placed, permits) = state
        .incidents
        .place(fresh, |n| {
            if n == 0 {
                Ok(None)
            } else {
                queue.try_reserve_many(n).map(Some).map_err(|_| ())
            }
        })
        .map_err(|()| ApiError::QueueFull(queue.max_capacity() - queue.capacity()))?;

    // On disk before the 202: a restart must not lose an accepted alert.
    let new: Vec<&Placement> = placed
        .iter()
        .filter(|p| p.placed != Placed::Known)
        .collect();
    for p in &new {
        let alert = &fresh
            .iter()
            .find(|(id, _)| *id == p.alert)
            .expect("placed from the fresh alerts")
            .1;
        if let Err(e) = journal.record(&p.alert, &p.investigation, alert) {
            for p in &new {
                journal.done(&p.alert);
            }
            state.incidents.unplace(&placed);
            return Err(ApiError::Internal(format!(
                "the alert could not be recorded: {e}"
            )));
        }
    }
    let received = Instant::now();
    if let Some(mut permits) = permits {
        for p in placed.iter().filter(|p| p.placed == Placed::Started) {
            if let Some(permit) = permits.next() {
                state.metrics.queue_depth.inc();
                permit.send(Job {
                    id: p.investigation.clone(),
                    received,
                });
            }
        }
    }
    Ok(placed)
}

/// Claims each alert of `fresh` in JetStream and either joins it to the
/// settling investigation of its system (with joining on, and within one
/// settle period of its opener) or publishes the investigations the rest
/// make; answers only once JetStream holds every one. Anything that fails
/// gives up this webhook's claims not yet queued: the sender's retry finds
/// the rest as it left them.
async fn queue_shared(
    state: &Intake,
    nats: &Nats,
    fresh: &[(String, Alert)],
) -> Result<Vec<Placement>, ApiError> {
    let down = ApiError::QueueUnavailable;
    let mut placed = Vec::with_capacity(fresh.len());
    let mut new = Vec::new();
    // The alerts each claimed investigation's record lists (None: no record).
    let mut listed: HashMap<String, Option<HashSet<String>>> = HashMap::new();
    for (id, alert) in fresh {
        let Some(claim) = nats.claimed(id).await.map_err(down)? else {
            new.push((id.clone(), alert.clone()));
            continue;
        };
        let inv = claim.investigation;
        if !listed.contains_key(&inv) {
            let rec = nats.record(&inv).await.map_err(down)?;
            let ids = rec.map(|r| r.shared.alerts.into_iter().map(|(a, _)| a).collect());
            listed.insert(inv.clone(), ids);
        }
        if listed[&inv].as_ref().is_some_and(|ids| ids.contains(id)) {
            placed.push(Placement {
                alert: id.clone(),
                investigation: inv,
                placed: Placed::Known,
            });
        } else if claim.age < super::nats::CLAIM_GRACE {
            return Err(down(format!(
                "alert {id} is being accepted by another replica; retry"
            )));
        } else {
            // Claimed by a replica that died before queueing it.
            warn!(alert = %id, investigation = %inv, "an abandoned claim is taken over");
            nats.unclaim(std::slice::from_ref(id)).await;
            new.push((id.clone(), alert.clone()));
        }
    }
    let rest = if state.incidents.joins() {
        join_shared(state, nats, new, &mut placed).await?
    } else {
        new
    };
    for group in split(&rest, state.incidents.within()) {
        let inv = rest[group[0]].0.clone();
        let mut ours: Vec<String> = Vec::with_capacity(group.len());
        let mut members = Vec::with_capacity(group.len());
        for &i in &group {
            let (id, alert) = &rest[i];
            match nats.claim(id, &inv).await {
                Ok(Claim::Ours) => {
                    ours.push(id.clone());
                    members.push((id.clone(), alert.clone()));
                }
                Ok(Claim::Theirs(other)) if i != group[0] => placed.push(Placement {
                    alert: id.clone(),
                    investigation: other,
                    placed: Placed::Known,
                }),
                // The same webhook accepted by another replica at this
                // very moment: that replica opens it.
                Ok(Claim::Theirs(_)) => {
                    return Err(down(format!(
                        "alert {id} is being accepted by another replica; retry"
                    )))
                }
                Err(e) => {
                    nats.unclaim(&ours).await;
                    return Err(down(e));
                }
            }
        }
        let investigation = Investigation {
            id: inv.clone(),
            alerts: members,
            received_at: chrono::Utc::now(),
        };
        if let Err(e) = nats.publish(&investigation).await {
            nats.unclaim(&ours).await;
            return Err(down(e));
        }
        // Published: the investigation is durable whatever happens next. A
        // record not made only means later alerts open their own.
        let labels = state.incidents.key_of(&investigation.alerts[0].1);
        if let Err(e) = nats.share(&investigation, &labels).await {
            warn!(investigation = %inv, error = %e, "not shared: later alerts will not join it");
        }
        for (n, id) in ours.into_iter().enumerate() {
            placed.push(Placement {
                alert: id,
                investigation: inv.clone(),
                placed: if n == 0 {
                    Placed::Started
                } else {
                    Placed::Joined
                },
            });
        }
    }
    Ok(placed)
}

/// Joins each alert of `new` to the settling investigation its system's
/// labels name, when it starts within one settle period of its opener;
/// gives back the alerts that joined none.
async fn join_shared(
    state: &Intake,
    nats: &Nats,
    new: Vec<(String, Alert)>,
    placed: &mut Vec<Placement>,
) -> Result<Vec<(String, Alert)>, ApiError> {
    let down = ApiError::QueueUnavailable;
    let within = state.incidents.within();
    // By labels: the joinable investigation and its opener's start.
    let mut open: HashMap<Vec<Option<String>>, Option<(String, i64)>> = HashMap::new();
    let mut joining: BTreeMap<String, Vec<(String, Alert)>> = BTreeMap::new();
    let mut rest = Vec::new();
    for (id, alert) in new {
        let labels = state.incidents.key_of(&alert);
        if !open.contains_key(&labels) {
            let found = nats.joinable(&labels).await.map_err(down)?;
            let found = found.map(|(inv, rec)| (inv, rec.shared.alerts[0].1.starts_at_micros()));
            open.insert(labels.clone(), found);
        }
        match &open[&labels] {
            Some((inv, opener)) if (alert.starts_at_micros() - opener).abs() <= within => {
                joining.entry(inv.clone()).or_default().push((id, alert))
            }
            _ => rest.push((id, alert)),
        }
    }
    for (inv, alerts) in joining {
        let mut ours = Vec::with_capacity(alerts.len());
        for (id, alert) in alerts {
            match nats.claim(&id, &inv).await {
                Ok(Claim::Ours) => ours.push((id, alert)),
                Ok(Claim::Theirs(other)) => placed.push(Placement {
                    alert: id,
                    investigation: other,
                    placed: Placed::Known,
                }),
                Err(e) => {
                    let ids: Vec<String> = ours.into_iter().map(|(id, _)| id).collect();
                    nats.unclaim(&ids).await;
                    return Err(down(e));
                }
            }
        }
        if ours.is_empty() {
            continue;
        }
        let ids: Vec<String> = ours.iter().map(|(id, _)| id.clone()).collect();
        match nats.join(&inv, &ours).await {
            Ok(true) => placed.extend(ids.into_iter().map(|alert| Placement {
                alert,
                investigation: inv.clone(),
                placed: Placed::Joined,
            })),
            // Closed meanwhile: these open their own.
            Ok(false) => {
                nats.unclaim(&ids).await;
                rest.extend(ours);
            }
            Err(e) => {
                nats.unclaim(&ids).await;
                return Err(down(e));
            }
        }
    }
    Ok(rest)
}

/// The stored investigation alert `id` opened or joined, if any (of the
/// newest incident that lists its fingerprint).
async fn stored_investigation(
    store: &dyn GraphStore,
    id: &str,
    alert: &Alert,
) -> Result<Option<String>, ApiError> {
    if store.get(id).await.map_err(ApiError::Store)?.is_some() {
        return Ok(Some(id.to_string()));
    }
    let Some(newest) = store
        .latest_for_alert(&alert.fingerprint)
        .await
        .map_err(ApiError::Store)?
    else {
        return Ok(None);
    };
    if !newest.other_fingerprints.contains(&alert.fingerprint) {
        return Ok(None);
    }
    let Some(record) = store.get(&newest.id).await.map_err(ApiError::Store)? else {
        return Ok(None);
    };
    let start = alert.starts_at_micros();
    let listed = record.localisation.incident.other_alerts.iter().any(|a| {
        a.fingerprint == alert.fingerprint
            && chrono::DateTime::parse_from_rfc3339(&a.starts_at)
                .is_ok_and(|t| t.timestamp_micros() == start)
    });
    Ok(listed.then_some(newest.id))
}

/// Marks the incidents of resolved alerts: in the store when stored, in the
/// incident table while queued or running (the worker applies it). An
/// investigation is resolved when the alert that opened it is.
async fn mark_resolved(state: &Intake, ended: &[Alert]) -> Result<Vec<Resolved>, ApiError> {
    let mut out = Vec::new();
    for alert in ended {
        let id = incident_id_of(alert);
        let inv = match state.incidents.investigation_of(&id) {
            Some(inv) => inv,
            None => stored_investigation(state.store.as_ref(), &id, alert)
                .await?
                .unwrap_or_else(|| id.clone()),
        };
        // Alertmanager sets endsAt on a resolved alert; without it, now.
        let at = alert
            .ends_at
            .filter(|t| *t > alert.starts_at)
            .unwrap_or_else(chrono::Utc::now);
        let state_of = if inv != id {
            "grouped"
        } else if state.incidents.note_resolved(&id, at) {
            "pending"
        } else if state.store.mark_resolved(&id, at).await? {
            "stored"
        } else {
            "unknown"
        };
        info!(incident = %inv, alert = %id, state = state_of, "alert resolved");
        out.push(Resolved {
            url: format!("{}/incidents/{inv}", state.base_url),
            id: inv,
            state: state_of,
        });
    }
    Ok(out)
}

/// The firing and the resolved alerts of an Alertmanager (v4) or Grafana
/// webhook body, each with a fingerprint (from its labels when the sender
/// gave none); the same checks for both.
pub fn read_alerts(body: &[u8]) -> Result<(Vec<Alert>, Vec<Alert>), ApiError> {
    let webhook = ingest::read_webhook(Path::new("webhook body"), body)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut out = Vec::new();
    let mut ended = Vec::new();
    for (i, mut alert) in webhook.alerts.into_iter().enumerate() {
        // An alert without a status takes the webhook's.
        let status = if alert.status.is_empty() {
            webhook.status.as_str()
        } else {
            alert.status.as_str()
        };
        let resolved = match status {
            "firing" => false,
            "resolved" => true,
            other => {
                return Err(ApiError::BadRequest(format!(
                "webhook body: alert {}: status {other:?} is neither \"firing\" nor \"resolved\"",
                i + 1
            )))
            }
        };
        if alert.starts_at.timestamp() <= 0 {
            return Err(ApiError::BadRequest(format!(
                "webhook body: alert {}: startsAt is not set",
                i + 1
            )));
        }
        if alert.fingerprint.is_empty() {
            alert.fingerprint = fingerprint_of(&alert.labels);
        }
        if resolved {
            ended.push(alert);
        } else {
            out.push(alert);
        }
    }
    Ok((out, ended))
}

/// A stable fingerprint of a label set, for senders that send none.
fn fingerprint_of(labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update([0xff]);
        h.update(v.as_bytes());
        h.update([0xff]);
    }
    hex::encode(&h.finalize()[..8])
}

async fn healthz(State(state): State<Arc<Intake>>) -> Response {
    Json(serde_json::json!({
        "status": "ok",
        "pending": state.incidents.pending(),
    }))
    .into_response()
}

async fn metrics(State(state): State<Arc<Intake>>) -> Response {
    // rca's accuracy on this system's own incidents, as of now; a store that
    // cannot answer leaves the last figure.
    match graph::store::VerdictTally::recent(state.store.as_ref(), chrono::Utc::now()).await {
        Ok(t) => {
            state.metrics.verdicts.set(t.incidents as i64);
            state.metrics.verdict_ac1.set(t.ac1().unwrap_or(f64::NAN));
        }
        Err(e) => warn!(error = %e, "verdicts for /metrics"),
    }
    // With the shared queue, the depth is JetStream's: every replica's.
    if let Dispatch::Nats(nats) = &state.dispatch {
        match nats.depth().await {
            Ok((waiting, _)) => state.metrics.queue_depth.set(waiting as i64),
            Err(e) => warn!(error = %e, "queue depth for /metrics"),
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALERTMANAGER: &str = r#"{"version":"4","status":"firing","receiver":"rca","groupKey":"{}","alerts":[
        {"status":"firing","labels":{"alertname":"HighErrorRate","service":"checkout"},"annotations":{},
         "startsAt":"2026-03-03T19:20:35.591Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"4bc1ede3025b1c5a"},
        {"status":"resolved","labels":{"alertname":"Old","service":"cart"},"startsAt":"2026-03-03T18:00:00Z",
         "endsAt":"2026-03-03T18:30:00Z","fingerprint":"aaaa"}]}"#;

    // Grafana unified alerting's webhook: version 1, extra fields everywhere.
    const GRAFANA: &str = r#"{"receiver":"rca","status":"firing","orgId":1,"alerts":[{"status":"firing",
        "labels":{"alertname":"Latency","grafana_folder":"svc","service":"payment"},"annotations":{"summary":"slow"},
        "startsAt":"2026-03-03T19:20:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://grafana/alerting/grafana/x/view",
        "fingerprint":"57c6d9296de2ad39","silenceURL":"http://grafana/alerting/silence/new","dashboardURL":"","panelURL":"",
        "values":{"B":0.9,"C":1},"valueString":"[ var='B' labels={} value=0.9 ]"}],
        "groupLabels":{"alertname":"Latency"},"commonLabels":{"alertname":"Latency"},"commonAnnotations":{},
        "externalURL":"http://grafana/","version":"1","groupKey":"{}:{alertname=\"Latency\"}","truncatedAlerts":0,
        "title":"[FIRING:1] Latency","state":"alerting","message":"**Firing**"}"#;

    #[test]
    fn firing_alerts_of_alertmanager_and_grafana() {
        let a = read_alerts(ALERTMANAGER.as_bytes()).unwrap().0;
        assert_eq!(a.len(), 1, "the resolved alert is no incident");
        assert_eq!(a[0].component(), Some("checkout"));
        let g = read_alerts(GRAFANA.as_bytes()).unwrap().0;
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].fingerprint, "57c6d9296de2ad39");
        assert_eq!(g[0].component(), Some("payment"));
    }

    #[test]
    fn same_alert_same_id_and_a_fingerprint_when_none_is_sent() {
        let body = ALERTMANAGER.replace(
            "\"fingerprint\":\"4bc1ede3025b1c5a\"",
            "\"fingerprint\":\"\"",
        );
        let a = read_alerts(body.as_bytes()).unwrap().0;
        let b = read_alerts(body.as_bytes()).unwrap().0;
        assert_eq!(a[0].fingerprint.len(), 16);
        assert_eq!(incident_id_of(&a[0]), incident_id_of(&b[0]));
        let other = body.replace("checkout", "cart");
        let c = read_alerts(other.as_bytes()).unwrap().0;
        assert_ne!(incident_id_of(&a[0]), incident_id_of(&c[0]));
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        let cases = [
            ("{", "invalid JSON"),
            (r#"{"version":"4"}"#, "missing field `alerts`"),
            (r#"{"version":"4","alerts":[{"labels":{}}]}"#, "startsAt"),
            (
                r#"{"version":"4","alerts":[{"status":"odd","startsAt":"2026-03-03T19:20:00Z"}]}"#,
                "neither",
            ),
        ];
        for (body, says) in cases {
            let e = read_alerts(body.as_bytes()).unwrap_err();
            assert!(matches!(e, ApiError::BadRequest(_)), "{body}");
            assert!(e.to_string().contains(says), "{body}: {e}");
        }
    }
}
