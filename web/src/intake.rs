//! The answer of `rca serve`'s webhook (`POST /api/v1/alerts`), here so the
//! OpenAPI document describes it beside the bot API. The route itself is the
//! binary's (`rca::serve::webhook`): `rca replay`'s server has no webhook.

use serde::Serialize;
use utoipa::ToSchema;

/// What the webhook did with the alerts of one body.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAnswer {
    /// The investigations the firing alerts are in, each once.
    pub incidents: Vec<Accepted>,
    /// Each firing alert and the investigation it is in.
    pub alerts: Vec<AlertPlaced>,
    /// The incidents of the resolved alerts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resolved: Vec<Resolved>,
}

/// One investigation of the answer.
#[derive(Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct Accepted {
    /// The investigation (incident) id: the opening alert's.
    pub id: String,
    /// Its page.
    pub url: String,
}

/// One firing alert of the body.
#[derive(Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct AlertPlaced {
    pub fingerprint: String,
    /// The investigation (incident) id.
    pub id: String,
    pub url: String,
    /// `started` (it opened the investigation), `joined` (it joined one
    /// another alert opened, in this body or an earlier one still
    /// settling) or `known` (it was in one already: a re-delivery).
    #[schema(example = "joined")]
    pub status: &'static str,
}

/// One resolved alert of the body.
#[derive(Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct Resolved {
    pub id: String,
    pub url: String,
    /// `stored` (the incident is marked resolved), `pending` (marked when
    /// it is stored), `grouped` (the alert is in an investigation another
    /// alert opened, which that alert's resolution closes) or `unknown`.
    #[schema(example = "stored")]
    pub state: &'static str,
}

/// The document entry of the webhook; never called.
#[utoipa::path(
    post,
    path = "/api/v1/alerts",
    request_body(
        content = Object,
        content_type = "application/json",
        description = "An Alertmanager (v4) or Grafana webhook body. Served by `rca serve` only."
    ),
    responses(
        (status = 202, description = "Every firing alert is durably queued (journal or JetStream), each in one investigation", body = WebhookAnswer),
        (status = 400, description = "Not a webhook body, with what was wrong", body = crate::server::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = crate::server::ErrorBody),
        (status = 413, description = "Larger than the body limit", body = crate::server::ErrorBody),
        (status = 429, description = "The queue is full of investigations; retry after Retry-After", body = crate::server::ErrorBody),
        (status = 503, description = "The shared queue (NATS) or the store is unavailable; nothing was accepted", body = crate::server::ErrorBody)
    )
)]
#[allow(dead_code)]
pub(crate) fn webhook() {}
