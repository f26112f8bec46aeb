//! The pages and the bot API as one axum [`Router`] over a [`GraphStore`]; `rca serve` mounts it
//! beside its webhook, health and metrics routes.
//!
//! Pages: `/` (recent incidents), `/incidents/{id}` (the incident page, with its verdict form,
//! posted to `/incidents/{id}/feedback`), `/incidents/{id}/heatmap.png` (for chat previews),
//! `/alerts/{fingerprint}` (a stable link per alert: the newest incident, or a page that refreshes
//! itself while it is being localised) and `/alerts/{fingerprint}/heatmap.png`. API:
//! `/api/v1/incidents`, `/api/v1/incidents/{id}`, `POST /api/v1/incidents/{id}/feedback`,
//! `POST /api/v1/localise`, and `/api/openapi.json`, generated from the handlers below by utoipa.
//! Every error reaches HTTP through [`ApiError`]'s one mapping.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Form, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use graph::store::{
    Feedback, GraphStore, IncidentQuery, IncidentRecord, IncidentSummary, Recordings, StoreError,
    Verdict, VerdictTally, TALLY_DAYS,
};
use graph::{FaultKind, Localisation};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::require_bearer;
use crate::report::{jaeger_base, Script, CSS, PAGE_JS, PAGE_JS_PATH};
use crate::text::{full_time, score, visible};
use crate::{render_report, ReportOptions, WebError};

/// Incidents per page of the list, unless asked otherwise.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;
/// The longest window `POST /api/v1/localise` accepts.
const MAX_WINDOW_HOURS: i64 = 24;
/// How often the "localising..." page reloads itself.
const REFRESH_SECONDS: u32 = 3;
/// The largest verdict body: a note of `FEEDBACK_NOTE_MAX` characters of
/// any script (4 bytes each in UTF-8, 3 characters per byte once a form
/// percent-encodes them) and the short fields fit.
const FEEDBACK_BODY_MAX: usize = 64 * 1024;

/// Localises on demand; `rca serve` implements it over its collectors and queue.
#[async_trait]
pub trait Localiser: Send + Sync {
    /// Localises an ad-hoc window over the given services (all when empty).
    async fn localise(&self, req: LocaliseRequest) -> Result<Localisation, LocaliseError>;
    /// Whether an alert with this fingerprint is queued or being localised now.
    fn pending(&self, fingerprint: &str) -> bool;
}

#[derive(Debug, thiserror::Error)]
pub enum LocaliseError {
    /// The request cannot be answered as asked (unknown service, window outside retention).
    #[error("{0}")]
    BadRequest(String),
    /// The sources had nothing in the window.
    #[error("no observations in the window")]
    NoData,
    /// A source could not be reached.
    #[error("a data source is unavailable: {0}")]
    Unavailable(String),
    #[error("localisation failed: {0}")]
    Failed(String),
}

/// An ad-hoc localisation: a window and, optionally, the services to look at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocaliseRequest {
    /// Start of the analysed window (RFC 3339).
    pub start: DateTime<Utc>,
    /// End of the analysed window (RFC 3339); at most 24 hours after `start`.
    pub end: DateTime<Utc>,
    /// Only these services (all when empty).
    #[serde(default)]
    pub services: Vec<String>,
    /// Where the trouble was noticed; the baseline ends 5 minutes before it (default: the
    /// middle of the window).
    #[serde(default)]
    pub alert_at: Option<DateTime<Utc>>,
}

/// How pages are rendered and guarded.
#[derive(Clone, Debug, Default)]
pub struct PageOptions {
    /// Jaeger UI base URL for trace links (http or https).
    pub jaeger_base_url: Option<String>,
    /// The public URL of this server, e.g. `https://rca.example.com`, for absolute links in API
    /// answers; relative links without it.
    pub base_url: Option<String>,
    /// When set, every route answers 401 without `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Shown in page footers.
    pub generated_by: String,
}

/// What the routes share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn GraphStore>,
    /// `None`: `POST /api/v1/localise` answers 503 and no alert is ever pending.
    pub localiser: Option<Arc<dyn Localiser>>,
    pub options: Arc<PageOptions>,
    /// The recorded windows beside the store; `None`: recordings are off, and
    /// `GET /api/v1/incidents/{id}/window` answers 404.
    pub recordings: Option<Arc<Recordings>>,
}

impl AppState {
    /// Serves the recorded windows too (and adds `truth.json` to one when a
    /// verdict is given).
    pub fn with_recordings(mut self, recordings: Arc<Recordings>) -> AppState {
        self.recordings = Some(recordings);
        self
    }

    /// Fails when the Jaeger URL is not a plain http(s) URL.
    pub fn new(
        store: Arc<dyn GraphStore>,
        localiser: Option<Arc<dyn Localiser>>,
        mut options: PageOptions,
    ) -> Result<AppState, WebError> {
        if let Some(url) = &options.jaeger_base_url {
            jaeger_base(url)?;
        }
        if options.generated_by.is_empty() {
            options.generated_by = ReportOptions::default().generated_by;
        }
        options.base_url = options.base_url.map(|b| b.trim_end_matches('/').to_owned());
        Ok(AppState {
            store,
            localiser,
            options: Arc::new(options),
            recordings: None,
        })
    }
}

/// The pages and the API; guarded by the bearer token when one is configured.
pub fn router(state: AppState) -> Router {
    let token = state.options.token.clone();
    let routes = Router::new()
        .route("/", get(index))
        .route("/incidents/{id}", get(incident_page))
        .route("/incidents/{id}/heatmap.png", get(heatmap_png))
        .route("/alerts/{fingerprint}", get(alert_link))
        .route("/alerts/{fingerprint}/heatmap.png", get(alert_heatmap))
        .route(PAGE_JS_PATH, get(page_js))
        .route("/api/v1/incidents", get(list_incidents))
        .route("/api/v1/incidents/{id}", get(get_incident))
        .route("/api/v1/incidents/{id}/window", get(get_window))
        .route(
            "/api/v1/incidents/{id}/feedback",
            post(post_feedback).layer(DefaultBodyLimit::max(FEEDBACK_BODY_MAX)),
        )
        .route(
            "/incidents/{id}/feedback",
            post(form_feedback).layer(DefaultBodyLimit::max(FEEDBACK_BODY_MAX)),
        )
        .route("/api/v1/localise", post(localise))
        .route("/api/openapi.json", get(openapi_json))
        .with_state(state);
    require_bearer(routes, token)
}

/// The OpenAPI document of the API, generated from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(title = "rca", description = "Root-cause localisation for alerts: the bot API."),
    paths(list_incidents, get_incident, get_window, post_feedback, localise, crate::intake::webhook),
    components(schemas(
        IncidentPage, IncidentItem, ErrorBody, LocaliseRequest, Localisation, IncidentJson,
        FeedbackRequest, FeedbackAnswer, Feedback, Verdict, RecordingJson,
        crate::intake::WebhookAnswer
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// Every error of every HTTP route of rca (the pages, the bot API and, in
/// `rca serve`, the webhook), and its one mapping to a status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The body is larger than the configured limit, in bytes.
    #[error("request body larger than the limit of {0} bytes")]
    TooLarge(usize),
    /// The work queue is full, with this many waiting: try again later.
    #[error("queue full ({0} investigations waiting): try again later")]
    QueueFull(usize),
    /// The shared work queue (NATS JetStream) did not take the work: nothing
    /// was accepted, try again later.
    #[error("the work queue is unavailable, nothing was accepted: {0}")]
    QueueUnavailable(String),
    #[error("ad-hoc localisation is not available on this server")]
    NoLocaliser,
    /// The server failed in a way the client cannot help (a journal write).
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Localise(#[from] LocaliseError),
    #[error(transparent)]
    Page(#[from] WebError),
}

/// How long a client told to wait (429) should wait, in seconds: about the
/// time one queued incident takes to collect and localise.
const RETRY_AFTER_S: &str = "30";

impl ApiError {
    /// A body axum refused to extract: over `limit` bytes is 413, anything
    /// else (malformed, wrong type) 400 with axum's reason.
    pub fn rejected(status: StatusCode, reason: String, limit: usize) -> ApiError {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(limit)
        } else {
            ApiError::BadRequest(reason)
        }
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_)
            | ApiError::Localise(LocaliseError::BadRequest(_))
            | ApiError::Store(StoreError::Invalid(_)) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::QueueFull(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Localise(LocaliseError::NoData) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NoLocaliser
            | ApiError::QueueUnavailable(_)
            | ApiError::Store(StoreError::Unavailable { .. })
            | ApiError::Localise(LocaliseError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_)
            | ApiError::Store(_)
            | ApiError::Localise(_)
            | ApiError::Page(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The body of every error answer.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Both are worth retrying as they are, once the queue has room or is back.
        let retry = status == StatusCode::TOO_MANY_REQUESTS
            || matches!(self, ApiError::QueueUnavailable(_));
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let mut resp = (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response();
        if retry {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(RETRY_AFTER_S),
            );
        }
        resp
    }
}

/// Query of `GET /api/v1/incidents`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only incidents in which this component was ranked.
    pub component: Option<String>,
    /// Only incidents whose alert started at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only incidents whose alert started before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<usize>,
    /// How many to skip (default 0).
    pub offset: Option<usize>,
}

/// One page of incidents, newest alert first.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct IncidentPage {
    pub incidents: Vec<IncidentItem>,
    pub limit: usize,
    pub offset: usize,
    /// The offset of the next page, when there is one.
    pub next_offset: Option<usize>,
}

/// One incident of a list.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct IncidentItem {
    pub id: String,
    pub alert_name: String,
    pub fingerprint: String,
    /// The alert's start, RFC 3339.
    pub starts_at: String,
    /// When rca localised it, RFC 3339.
    pub created_at: String,
    /// The first-ranked component.
    pub root_cause: Option<String>,
    pub fault: Option<FaultKind>,
    pub score: Option<f64>,
    /// The incident page.
    pub page_url: String,
    /// The Localisation JSON.
    pub api_url: String,
}

impl AppState {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.options.base_url.as_deref().unwrap_or(""))
    }

    fn item(&self, s: IncidentSummary) -> IncidentItem {
        let id = segment(&s.id);
        IncidentItem {
            page_url: self.url(&format!("/incidents/{id}")),
            api_url: self.url(&format!("/api/v1/incidents/{id}")),
            id: s.id,
            alert_name: s.alert_name,
            fingerprint: s.fingerprint,
            starts_at: s.starts_at,
            created_at: s.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            root_cause: s.root_cause,
            fault: s.fault,
            score: s.score,
        }
    }

    async fn page_of(&self, p: &ListParams) -> Result<IncidentPage, ApiError> {
        let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit must be 1 to {MAX_LIMIT}"
            )));
        }
        let offset = p.offset.unwrap_or(0);
        let query = IncidentQuery {
            component: p.component.clone().filter(|c| !c.is_empty()),
            since: p.since,
            until: p.until,
            // One more than asked, to know whether there is a next page.
            limit: limit + 1,
            offset,
        };
        let mut found = self.store.incidents(&query).await?;
        let more = found.len() > limit;
        found.truncate(limit);
        Ok(IncidentPage {
            incidents: found.into_iter().map(|s| self.item(s)).collect(),
            limit,
            offset,
            next_offset: more.then_some(offset + limit),
        })
    }

    async fn localisation(&self, id: &str) -> Result<Localisation, ApiError> {
        Ok(self.record(id).await?.localisation)
    }

    async fn record(&self, id: &str) -> Result<IncidentRecord, ApiError> {
        match self.store.get(id).await? {
            Some(r) => Ok(r),
            None => Err(ApiError::NotFound(format!("incident {id:?}"))),
        }
    }

    /// Checks a verdict against the incident and stores it.
    async fn add_feedback(&self, id: &str, req: FeedbackRequest) -> Result<Feedback, ApiError> {
        let record = self.record(id).await?;
        let feedback = req.feedback_for(&record)?;
        match self.store.add_feedback(id, feedback.clone()).await? {
            Some(_) => {
                self.add_truth(id, &record, &feedback).await;
                Ok(feedback)
            }
            None => Err(ApiError::NotFound(format!("incident {id:?}"))),
        }
    }

    /// Gives the incident's recording the `truth.json` the verdict implies.
    /// The verdict is stored whatever becomes of this: a recording that
    /// cannot be rewritten is logged, and its next verdict tries again.
    async fn add_truth(&self, id: &str, record: &IncidentRecord, feedback: &Feedback) {
        let Some(recordings) = self.recordings.clone() else {
            return;
        };
        let fault = record
            .fault_of(feedback)
            .map_or("unknown", |f| f.as_str())
            .to_owned();
        let (id, component) = (id.to_owned(), feedback.root_cause.clone());
        let done =
            tokio::task::spawn_blocking(move || recordings.add_truth(&id, &component, &fault))
                .await;
        match done {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "adding truth.json to the recording"),
            Err(e) => tracing::warn!(error = %e, "adding truth.json to the recording stopped"),
        }
    }

    /// What the API and the page say of the incident's recording, when its
    /// archive is there.
    fn recording_of(&self, record: &IncidentRecord) -> Option<RecordingJson> {
        let recordings = self.recordings.as_ref()?;
        let path = recordings.path(record.id())?;
        let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
        Some(RecordingJson {
            url: format!("/api/v1/incidents/{}/window", segment(record.id())),
            bytes,
            sampled: record
                .recording
                .as_ref()
                .map(|r| r.sampled.clone())
                .unwrap_or_default(),
        })
    }
}

/// An incident's recorded window, as the API describes it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RecordingJson {
    /// Where to download it: a `.tar.gz` fixture that `rca replay` reads.
    pub url: String,
    pub bytes: u64,
    /// What was thinned to fit the per-incident cap, one line each.
    pub sampled: Vec<String>,
}

/// Percent-encodes `s` as one URL path segment.
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Recent incidents, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    params(ListParams),
    responses(
        (status = 200, description = "A page of incidents, newest alert first", body = IncidentPage),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 503, description = "The graph store is unavailable", body = ErrorBody)
    )
)]
#[tracing::instrument(skip_all)]
async fn list_incidents(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<IncidentPage>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(Json(state.page_of(&p).await?))
}

/// One incident: its Localisation, with the verdicts people gave on it.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct IncidentJson {
    #[serde(flatten)]
    pub localisation: Localisation,
    /// The verdict that counts (the latest), if anyone gave one.
    pub verdict: Option<Feedback>,
    /// Every verdict, oldest first.
    pub feedback: Vec<Feedback>,
    /// When the alert resolved, RFC 3339, once its resolved notification came.
    #[schema(value_type = Option<String>)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// From the alert's start to its resolution, in seconds.
    pub duration_seconds: Option<f64>,
    /// The window it was judged on, when it is kept.
    pub recording: Option<RecordingJson>,
}

/// A verdict on an incident, as a bot or the page's form sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    pub verdict: Verdict,
    /// The component that was the root cause: required for `corrected`; for
    /// `confirmed` rca's first-ranked, which it may repeat.
    #[serde(default)]
    pub root_cause: Option<String>,
    /// Its fault kind (`cpu_saturation`, `memory_leak`, ...), if known.
    #[serde(default)]
    pub fault: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// Who gives the verdict.
    pub by: String,
}

impl FeedbackRequest {
    /// The verdict as stored, or what is wrong with it.
    fn feedback_for(self, record: &IncidentRecord) -> Result<Feedback, ApiError> {
        let given = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let top = record
            .localisation
            .ranking
            .first()
            .map(|c| c.component.as_str());
        let root = given(self.root_cause);
        let root_cause =
            match (self.verdict, top, root) {
                (Verdict::Confirmed, None, _) => return Err(ApiError::BadRequest(
                    "rca named no root cause to confirm: send \"corrected\" with the root_cause"
                        .into(),
                )),
                (Verdict::Confirmed, Some(t), Some(r)) if r != t => {
                    return Err(ApiError::BadRequest(format!(
                    "\"confirmed\" confirms rca's first-ranked {t:?}, not {r:?}: send \"corrected\""
                )))
                }
                (Verdict::Confirmed, Some(t), _) => t.to_owned(),
                (Verdict::Corrected, _, Some(r)) => r,
                (Verdict::Corrected, _, None) => {
                    return Err(ApiError::BadRequest(
                        "\"corrected\" needs the root_cause it was".into(),
                    ))
                }
            };
        let fault = match given(self.fault) {
            None => None,
            Some(f) => Some(FaultKind::parse(&f).ok_or_else(|| {
                let known: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
                ApiError::BadRequest(format!("fault {f:?} is not one of {}", known.join(", ")))
            })?),
        };
        let feedback = Feedback {
            verdict: self.verdict,
            root_cause,
            fault,
            note: self.note.unwrap_or_default().trim().to_owned(),
            by: self.by.trim().to_owned(),
            at: Utc::now(),
        };
        feedback.validate()?;
        Ok(feedback)
    }
}

/// The answer to a verdict.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct FeedbackAnswer {
    pub incident: String,
    /// The verdict as stored (it now counts).
    pub feedback: Feedback,
}

/// One incident's Localisation and verdicts.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}",
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The Localisation, with `verdict` and `feedback`", body = IncidentJson),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 503, description = "The graph store is unavailable", body = ErrorBody)
    )
)]
#[tracing::instrument(skip_all, fields(id = %id))]
async fn get_incident(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IncidentJson>, ApiError> {
    let r = state.record(&id).await?;
    Ok(Json(IncidentJson {
        recording: state.recording_of(&r),
        resolved_at: r.resolved_at,
        duration_seconds: r.duration().map(|d| d.num_milliseconds() as f64 / 1000.0),
        verdict: r.verdict().cloned(),
        feedback: r.feedback,
        localisation: r.localisation,
    }))
}

/// The window an incident was judged on: a fixture archive (`.tar.gz`) that
/// `rca replay` reads as it reads a fixture directory.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}/window",
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The recording, application/gzip", content_type = "application/gzip"),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No such incident, or no recording of it (recordings off, or removed to stay under the cap)", body = ErrorBody),
        (status = 503, description = "The graph store is unavailable", body = ErrorBody)
    )
)]
#[tracing::instrument(skip_all, fields(id = %id))]
async fn get_window(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = state.record(&id).await?;
    let Some(recordings) = state.recordings.as_ref() else {
        return Err(ApiError::NotFound(
            "a recording: this server keeps none (recordings.enabled is false)".to_owned(),
        ));
    };
    let Some(path) = recordings.path(record.id()) else {
        return Err(ApiError::NotFound(format!(
            "a recording of incident {id:?} (it was stored without one, or it was removed to \
             keep the recordings under their cap)"
        )));
    };
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("opening {}: {e}", path.display())))?;
    let len = file.metadata().await.map(|m| m.len()).ok();
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut resp = (
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"rca-{}.tar.gz\"", segment(&id)),
            ),
        ],
        body,
    )
        .into_response();
    if let Some(len) = len.and_then(|l| HeaderValue::from_str(&l.to_string()).ok()) {
        resp.headers_mut().insert(header::CONTENT_LENGTH, len);
    }
    Ok(resp)
}

/// Records a verdict on an incident: rca was right (`confirmed`) or the root
/// cause was another component (`corrected`). A later verdict counts; the
/// earlier ones are kept.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/feedback",
    params(("id" = String, Path, description = "Incident id")),
    request_body = FeedbackRequest,
    responses(
        (status = 200, description = "Stored", body = FeedbackAnswer),
        (status = 400, description = "A malformed verdict: unknown field or fault, no author, a note too long, `confirmed` naming another component", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 413, description = "A body over 64 KiB", body = ErrorBody),
        (status = 503, description = "The graph store is unavailable", body = ErrorBody)
    )
)]
#[tracing::instrument(skip_all, fields(id = %id))]
async fn post_feedback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<FeedbackRequest>, JsonRejection>,
) -> Result<Json<FeedbackAnswer>, ApiError> {
    let Json(req) =
        body.map_err(|e| ApiError::rejected(e.status(), e.body_text(), FEEDBACK_BODY_MAX))?;
    let feedback = state.add_feedback(&id, req).await?;
    Ok(Json(FeedbackAnswer {
        incident: id,
        feedback,
    }))
}

/// The page's verdict form: stored as the API stores it, then back to the page.
#[tracing::instrument(skip_all, fields(id = %id))]
async fn form_feedback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Form<FeedbackRequest>, FormRejection>,
) -> Result<Response, ApiError> {
    let Form(req) =
        body.map_err(|e| ApiError::rejected(e.status(), e.body_text(), FEEDBACK_BODY_MAX))?;
    state.add_feedback(&id, req).await?;
    Ok(Redirect::to(&format!("/incidents/{}#feedback", segment(&id))).into_response())
}

/// Localises an ad-hoc window.
#[utoipa::path(
    post,
    path = "/api/v1/localise",
    request_body = LocaliseRequest,
    responses(
        (status = 200, description = "The Localisation", body = Localisation),
        (status = 400, description = "A bad request: malformed body, or a window that is empty, reversed or longer than 24 hours", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 422, description = "No observations in the window", body = ErrorBody),
        (status = 503, description = "No localiser on this server, or a source is unavailable", body = ErrorBody)
    )
)]
#[tracing::instrument(skip_all)]
async fn localise(
    State(state): State<AppState>,
    body: Result<Json<LocaliseRequest>, JsonRejection>,
) -> Result<Json<Localisation>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if req.end <= req.start {
        return Err(ApiError::BadRequest("end must be after start".into()));
    }
    if req.end - req.start > chrono::Duration::hours(MAX_WINDOW_HOURS) {
        return Err(ApiError::BadRequest(format!(
            "the window is longer than {MAX_WINDOW_HOURS} hours"
        )));
    }
    if let Some(at) = req.alert_at.filter(|at| *at < req.start || *at > req.end) {
        return Err(ApiError::BadRequest(format!(
            "alert_at {at} is outside the window"
        )));
    }
    let localiser = state.localiser.as_ref().ok_or(ApiError::NoLocaliser)?;
    Ok(Json(localiser.localise(req).await?))
}

async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serialises"),
    )
        .into_response()
}

async fn page_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE_JS,
    )
        .into_response()
}

/// Headers every page carries: its CSP (also as a header, where `frame-ancestors` works).
fn html_response(status: StatusCode, csp: String, body: String) -> Response {
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("{csp}; frame-ancestors 'none'")) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// Pages without any script.
const STATIC_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
                          base-uri 'none'; form-action 'self'";

#[tracing::instrument(skip_all, fields(id = %id))]
async fn incident_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = state.record(&id).await?;
    let opts = ReportOptions {
        jaeger_base_url: state.options.jaeger_base_url.clone(),
        generated_by: state.options.generated_by.clone(),
        modality_heatmaps: true,
        script: Script::Linked,
        resolved: record.resolved_at.zip(record.duration()),
        recording: state
            .recording_of(&record)
            .map(|r| crate::report::RecordingLink {
                href: r.url,
                bytes: r.bytes,
                sampled: r.sampled,
            }),
        feedback: Some(crate::report::FeedbackForm {
            action: format!("/incidents/{}/feedback", segment(&id)),
            verdicts: record.feedback,
        }),
    };
    let html = render_report(&record.localisation, &opts)?;
    Ok(html_response(StatusCode::OK, Script::Linked.csp(), html))
}

#[tracing::instrument(skip_all, fields(id = %id))]
async fn heatmap_png(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let loc = state.localisation(&id).await?;
    let png = crate::png::heatmap_png(&loc)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        png,
    )
        .into_response())
}

/// The newest incident's heatmap.png, so a notification can carry a preview image for an alert.
#[tracing::instrument(skip_all, fields(fingerprint = %fingerprint))]
async fn alert_heatmap(
    State(state): State<AppState>,
    Path(fingerprint): Path<String>,
) -> Result<Response, ApiError> {
    match state.store.latest_for_alert(&fingerprint).await? {
        Some(s) => {
            Ok(Redirect::to(&format!("/incidents/{}/heatmap.png", segment(&s.id))).into_response())
        }
        None => Err(ApiError::NotFound(format!(
            "an incident of alert {fingerprint:?}"
        ))),
    }
}

#[tracing::instrument(skip_all, fields(fingerprint = %fingerprint))]
async fn alert_link(
    State(state): State<AppState>,
    Path(fingerprint): Path<String>,
) -> Result<Response, ApiError> {
    let pending = state
        .localiser
        .as_ref()
        .is_some_and(|l| l.pending(&fingerprint));
    if !pending {
        if let Some(s) = state.store.latest_for_alert(&fingerprint).await? {
            return Ok(Redirect::to(&format!("/incidents/{}", segment(&s.id))).into_response());
        }
    }
    let (status, title, text) = if pending {
        (
            StatusCode::OK,
            "Localising…",
            "rca is localising this alert now; this page reloads itself until the incident is ready.",
        )
    } else {
        (
            StatusCode::NOT_FOUND,
            "No incident yet",
            "rca has no incident for this alert yet (the alert may not have reached it); this page \
             reloads itself.",
        )
    };
    let body = shell(
        title,
        &state.options.generated_by,
        Some(REFRESH_SECONDS),
        html! {
            h1 { (title) }
            p { (text) }
            p.muted { "Alert fingerprint " span.mono { (visible(&fingerprint)) } }
            p { a href="/" { "Recent incidents" } }
        },
    );
    Ok(html_response(status, STATIC_CSP.to_owned(), body))
}

#[tracing::instrument(skip_all)]
async fn index(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let page = state.page_of(&p).await?;
    let tally = VerdictTally::recent(state.store.as_ref(), Utc::now()).await?;
    let next = page.next_offset.map(|o| {
        let mut q = format!("?offset={o}&limit={}", page.limit);
        if let Some(c) = &p.component {
            q.push_str(&format!("&component={}", segment(c)));
        }
        q
    });
    let body = shell(
        "Recent incidents",
        &state.options.generated_by,
        None,
        html! {
            p.kicker { "rca" }
            h1 { "Recent incidents" }
            p.tally {
                @match tally.ac1() {
                    Some(ac1) => {
                        "On your incidents of the last " (TALLY_DAYS) " days with a verdict, rca's first-ranked component was the root cause in "
                        strong { (tally.first_right) " of " (tally.incidents) }
                        " (AC@1 " (format!("{ac1:.2}")) ")."
                    }
                    None => span.muted { "No verdicts in the last " (TALLY_DAYS) " days: confirm or correct an incident on its page, and rca's accuracy on your own system shows here." },
                }
            }
            form.controls method="get" action="/" {
                label { "Component " input type="text" name="component" value=[p.component.as_deref()]; }
                button type="submit" { "Filter" }
            }
            @if page.incidents.is_empty() {
                p.muted { "No incidents." }
            } @else {
                table #incidents {
                    thead { tr {
                        th { "Alert started" } th { "Alert" } th { "Root cause" } th { "Fault" }
                        th.num { "Score" } th { "Preview" }
                    } }
                    tbody {
                        @for i in &page.incidents {
                            tr {
                                td { (full_time(&i.starts_at)) }
                                td { a href={ "/incidents/" (segment(&i.id)) } {
                                    @if i.alert_name.is_empty() { "(no alert name)" } @else { (visible(&i.alert_name)) }
                                } }
                                td { @match &i.root_cause {
                                    Some(c) => span.comp { (visible(c)) },
                                    None => span.muted { "none" },
                                } }
                                td { @if let Some(f) = i.fault { code { (f.as_str()) } } }
                                td.num { @if let Some(s) = i.score { (score(s)) } }
                                td { a href={ "/incidents/" (segment(&i.id)) "/heatmap.png" } { "heatmap.png" } }
                            }
                        }
                    }
                }
            }
            @if let Some(q) = next {
                p { a href=(q) { "Older incidents →" } }
            }
        },
    );
    Ok(html_response(StatusCode::OK, STATIC_CSP.to_owned(), body))
}

/// A small page with the report's styles.
fn shell(title: &str, generated_by: &str, refresh: Option<u32>, main: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(STATIC_CSP);
                meta name="referrer" content="no-referrer";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="dark light";
                @if let Some(s) = refresh {
                    meta http-equiv="refresh" content=(s);
                }
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main { (main) }
                footer { "Generated by " (visible(generated_by)) " · times in UTC" }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("5f82a06f0656337a"), "5f82a06f0656337a");
        assert_eq!(segment("a/../b?c#d"), "a%2F..%2Fb%3Fc%23d");
        assert_eq!(segment("\"><x"), "%22%3E%3Cx");
    }
}
