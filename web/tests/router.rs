//! The router in-process over the embedded store: the bearer layer, the one error mapping, the
//! alert link and the OpenAPI document's coverage. The browser tests drive the same routes over
//! real HTTP.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use chrono::{TimeZone, Utc};
use graph::store::{EmbeddedStore, GraphStore, IncidentRecord};
use graph::{Heatmap, IncidentInfo, Localisation};
use tower::ServiceExt;
use web::{router, ApiDoc, AppState, PageOptions};

fn localisation(id: &str, fingerprint: &str) -> Localisation {
    Localisation {
        symptom: Default::default(),
        confident: true,
        incident: IncidentInfo {
            id: id.to_owned(),
            alert_name: "HighLatency".to_owned(),
            alert_component: Some("frontend".to_owned()),
            fingerprint: fingerprint.to_owned(),
            starts_at: "2024-05-01T10:43:00Z".to_owned(),
            window_start: "2024-05-01T10:30:00Z".to_owned(),
            window_end: "2024-05-01T10:32:00Z".to_owned(),
            baseline_end: "2024-05-01T10:31:00Z".to_owned(),
            bucket_seconds: 60.0,
            annotations: Default::default(),
            other_alerts: Vec::new(),
        },
        ranking: Vec::new(),
        path: Vec::new(),
        modalities: vec!["traces".to_owned()],
        missing: Vec::new(),
        heatmap: Heatmap {
            components: vec!["frontend".to_owned()],
            buckets: vec![
                "2024-05-01T10:30:00Z".to_owned(),
                "2024-05-01T10:31:00Z".to_owned(),
            ],
            scores: vec![vec![0.0, 7.5]],
            by_modality: Default::default(),
        },
        edges: Vec::new(),
        detail: Default::default(),
    }
}

/// Stores `inc-2`, whose first-ranked component is `db` (CPU saturation).
async fn put_ranked(store: &EmbeddedStore) {
    let mut ranked = localisation("inc-2", "fp-2");
    ranked.ranking.push(graph::Candidate {
        component: "db".into(),
        score: 12.0,
        fault: graph::FaultKind::CpuSaturation,
        evidence: Vec::new(),
        inner: Vec::new(),
        address: false,
        explains_alert: true,
    });
    store
        .put(&IncidentRecord::new(
            ranked,
            Utc.timestamp_opt(1_714_560_100, 0).unwrap(),
        ))
        .await
        .unwrap();
}

async fn app(token: Option<&str>, pending: &[&str]) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    store.ensure_schema().await.unwrap();
    store
        .put(&IncidentRecord {
            localisation: localisation("inc-1", "fp-1"),
            created_at: Utc.timestamp_opt(1_714_560_000, 0).unwrap(),
            actions: Vec::new(),
            feedback: Vec::new(),
            resolved_at: None,
            recording: None,
        })
        .await
        .unwrap();
    // An incident rca named a root cause for, for verdicts.
    put_ranked(&store).await;
    let localiser = common::FixedLocaliser {
        answer: localisation("adhoc", ""),
        pending: pending
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
    };
    let state = AppState::new(
        Arc::new(store),
        Some(Arc::new(localiser)),
        PageOptions {
            token: token.map(str::to_owned),
            ..PageOptions::default()
        },
    )
    .unwrap();
    (router(state), dir)
}

async fn get(app: &Router, uri: &str, token: Option<&str>) -> (StatusCode, String, String) {
    let mut req = Request::get(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    send(app, req.body(Body::empty()).unwrap()).await
}

/// The status, the `Location` header (empty without one) and the body of `req`'s answer.
async fn send(app: &Router, req: Request<Body>) -> (StatusCode, String, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let location = res
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = to_bytes(res.into_body(), 1 << 24).await.unwrap();
    (
        status,
        location,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn the_token_guards_pages_and_api() {
    let (app, _dir) = app(Some("s3cret"), &[]).await;
    for uri in [
        "/",
        "/incidents/inc-1",
        "/incidents/inc-1/heatmap.png",
        "/alerts/fp-1",
        "/api/v1/incidents",
        "/api/v1/incidents/inc-1",
        "/api/openapi.json",
        "/assets/page.js",
    ] {
        let (status, _, body) = get(&app, uri, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri} without a token");
        assert!(body.contains("missing or wrong bearer token"), "{body}");
        let (status, _, _) = get(&app, uri, Some("s3creT")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri} with a wrong token");
        let (status, _, _) = get(&app, uri, Some("s3cret")).await;
        assert!(
            status.is_success() || status.is_redirection(),
            "{uri} with the token: {status}"
        );
    }
}

/// A verdict without the token is refused, by the API and by the form alike.
#[tokio::test]
async fn the_token_guards_verdicts() {
    let (app, _dir) = app(Some("s3cret"), &[]).await;
    for (uri, ct, body) in [
        (
            "/api/v1/incidents/inc-2/feedback",
            JSON,
            r#"{"verdict": "confirmed", "by": "eve"}"#,
        ),
        (
            "/incidents/inc-2/feedback",
            "application/x-www-form-urlencoded",
            "verdict=confirmed&by=eve",
        ),
    ] {
        let (status, _, _) = post(&app, uri, ct, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
    }
}

#[tokio::test]
async fn pages_and_errors_over_the_embedded_store() {
    let (app, _dir) = app(None, &["fp-busy"]).await;
    let (status, _, body) = get(&app, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("href=\"/incidents/inc-1\""), "{body}");
    let (status, _, body) = get(&app, "/incidents/inc-1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<script src=\"/assets/page.js\"></script>"));
    let (status, location, _) = get(&app, "/alerts/fp-1", None).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/incidents/inc-1")
    );
    let (status, location, _) = get(&app, "/alerts/fp-1/heatmap.png", None).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/incidents/inc-1/heatmap.png")
    );
    let (status, _, _) = get(&app, "/alerts/fp-none/heatmap.png", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = get(&app, "/alerts/fp-busy", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Localising") && body.contains("http-equiv=\"refresh\""));
    let (status, _, body) = get(&app, "/api/v1/incidents/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, r#"{"error":"incident \"nope\" not found"}"#);
    let (status, _, body) = get(&app, "/api/v1/incidents?limit=9999", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, body) = get(&app, "/api/v1/incidents?colour=red", None).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown parameters are refused: {body}"
    );
    let (status, _, body) = get(&app, "/api/v1/incidents?component=frontend", None).await;
    assert_eq!(status, StatusCode::OK);
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    // The incident ranks nobody, so a component filter leaves nothing.
    assert_eq!(page["incidents"].as_array().unwrap().len(), 0, "{body}");
}

#[test]
fn the_openapi_document_names_every_api_route() {
    use utoipa::OpenApi;
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
    let paths: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        paths,
        BTreeSet::from([
            "/api/v1/alerts",
            "/api/v1/incidents",
            "/api/v1/incidents/{id}",
            "/api/v1/incidents/{id}/feedback",
            "/api/v1/incidents/{id}/window",
            "/api/v1/localise"
        ])
    );
    assert!(doc["components"]["schemas"]["Localisation"].is_object());
    let answer = &doc["components"]["schemas"]["WebhookAnswer"]["properties"];
    assert!(answer["alerts"].is_object(), "{answer}");
    assert!(answer["incidents"].is_object(), "{answer}");
    assert!(doc["components"]["schemas"]["AlertPlaced"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

async fn post(
    app: &Router,
    uri: &str,
    content_type: &str,
    body: impl Into<Body>,
) -> (StatusCode, String, String) {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap();
    send(app, req).await
}

const JSON: &str = "application/json";

/// A verdict by the API: stored with its author and shown in the incident's JSON; the later one
/// counts; malformed, contradictory or oversized verdicts are refused with 400 or 413 and change
/// nothing; an unknown incident is 404.
#[tokio::test]
async fn verdicts_by_the_api_round_trip_and_bad_ones_change_nothing() {
    let (app, _dir) = app(None, &[]).await;
    let url = "/api/v1/incidents/inc-2/feedback";
    let (status, _, body) = post(
        &app,
        url,
        JSON,
        r#"{"verdict": "confirmed", "by": "alice", "note": "db CPU at 100 %"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["feedback"]["root_cause"], "db",
        "confirmed names rca's first"
    );
    assert_eq!(answer["feedback"]["by"], "alice");

    let bad: [(&str, &str, StatusCode); 8] = [
        (
            r#"{"verdict": "corrected", "by": "bob"}"#,
            "needs the root_cause",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"verdict": "confirmed", "root_cause": "web", "by": "bob"}"#,
            "first-ranked",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"verdict": "corrected", "root_cause": "web", "fault": "gremlins", "by": "bob"}"#,
            "is not one of",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"verdict": "corrected", "root_cause": "web", "by": ""}"#,
            "by is empty",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"verdict": "corrected", "root_cause": "web", "by": "bob", "admin": true}"#,
            "unknown field",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"verdict": "maybe", "by": "bob"}"#,
            "unknown variant",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"verdict": "corrected", "root_cause": "web", "#,
            "",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"verdict": "confirmed", "by": "bob"}"#,
            "not found",
            StatusCode::NOT_FOUND,
        ),
    ];
    for (i, (body, says, want)) in bad.iter().enumerate() {
        let uri = if i == 7 {
            "/api/v1/incidents/nope/feedback"
        } else {
            url
        };
        let (status, _, text) = post(&app, uri, JSON, *body).await;
        assert_eq!(status, *want, "{body}: {text}");
        assert!(text.contains(says), "{body}: {text}");
    }
    let long = format!(
        r#"{{"verdict": "corrected", "root_cause": "web", "by": "bob", "note": "{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let (status, _, text) = post(&app, url, JSON, long).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    let (_, _, body) = get(&app, "/api/v1/incidents/inc-2", None).await;
    let inc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        inc["feedback"].as_array().unwrap().len(),
        1,
        "a bad verdict was stored: {inc}"
    );
    assert_eq!(inc["verdict"]["verdict"], "confirmed");
    assert_eq!(
        inc["incident"]["id"], "inc-2",
        "the Localisation's fields are still there"
    );

    let (status, _, _) = post(
        &app,
        url,
        JSON,
        r#"{"verdict": "corrected", "root_cause": "web", "fault": "memory_leak", "by": "bob"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, body) = get(&app, "/api/v1/incidents/inc-2", None).await;
    let inc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        inc["verdict"]["root_cause"], "web",
        "the later verdict counts"
    );
    assert_eq!(inc["verdict"]["fault"], "memory_leak");
    assert_eq!(
        inc["feedback"].as_array().unwrap().len(),
        2,
        "the history is kept"
    );
}

/// The page's form posts as a browser does (urlencoded), is sent back to the page, and the page
/// shows the verdict with markup in the note as text; the form's CSP allows posting only to
/// this server.
#[tokio::test]
async fn the_verdict_form_stores_and_the_page_shows_it_as_text() {
    let (app, _dir) = app(None, &[]).await;
    let (_, _, page) = get(&app, "/incidents/inc-2", None).await;
    assert!(
        page.contains("action=\"/incidents/inc-2/feedback\""),
        "{page}"
    );
    assert!(page.contains("No verdict yet"));
    let form = "verdict=corrected&root_cause=web&fault=&by=carol&note=%3Cimg+src%3Dx+onerror%3Dalert(1)%3E";
    let (status, location, text) = post(
        &app,
        "/incidents/inc-2/feedback",
        "application/x-www-form-urlencoded",
        form,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{text}");
    assert_eq!(location, "/incidents/inc-2#feedback");
    let res = app
        .clone()
        .oneshot(
            Request::get("/incidents/inc-2")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("form-action 'self'"), "{csp}");
    let page =
        String::from_utf8_lossy(&to_bytes(res.into_body(), 1 << 24).await.unwrap()).into_owned();
    assert!(page.contains("Corrected"), "{page}");
    assert!(page.contains("carol"));
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "the note is not text"
    );
    assert!(!page.contains("<img src=x"), "the note became markup");
}

/// The recorded window: downloaded whole as the archive `rca replay` reads, described in the
/// incident's JSON and linked from its page; a verdict adds the truth to it; none is a 404 that
/// says why.
#[tokio::test]
async fn the_recorded_window_downloads_and_a_verdict_gives_it_its_truth() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    put_ranked(&store).await;
    let recordings = Arc::new(
        graph::store::Recordings::open(dir.path(), graph::store::RecordingLimits::default())
            .unwrap(),
    );
    let state = AppState::new(store.clone(), None, PageOptions::default()).unwrap();
    let without = router(state.clone());
    let app = router(state.with_recordings(recordings.clone()));

    let (status, _, body) = get(&without, "/api/v1/incidents/inc-2/window", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("recordings.enabled"), "{body}");
    let (status, _, body) = get(&app, "/api/v1/incidents/inc-2/window", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("stored without one"), "{body}");
    let (status, _, _) = get(&app, "/api/v1/incidents/nope/window", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let fixture = ingest::load_fixture(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/cpu_saturation-23"),
    )
    .unwrap();
    let window = graph::store::JudgedWindow {
        lookback: 30 * 60_000_000,
        settle: 10 * 60_000_000,
    };
    recordings
        .record("inc-2", &fixture.observations, None, window)
        .unwrap();
    let res = app
        .clone()
        .oneshot(
            Request::get("/api/v1/incidents/inc-2/window")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/gzip");
    assert!(res.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .contains("rca-inc-2.tar.gz"));
    let bytes = to_bytes(res.into_body(), 1 << 26).await.unwrap();
    let on_disk = std::fs::read(recordings.path("inc-2").unwrap()).unwrap();
    assert_eq!(bytes.as_ref(), on_disk.as_slice());
    let saved = dir.path().join("downloaded.tar.gz");
    std::fs::write(&saved, &bytes).unwrap();
    let replayed = ingest::load_fixture(&saved).unwrap();
    assert_eq!(
        replayed.observations.spans.len(),
        fixture.observations.spans.len()
    );

    let (_, _, json) = get(&app, "/api/v1/incidents/inc-2", None).await;
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["recording"]["url"], "/api/v1/incidents/inc-2/window");
    assert_eq!(json["recording"]["bytes"], on_disk.len());
    let (_, _, page) = get(&app, "/incidents/inc-2", None).await;
    assert!(
        page.contains(r#"href="/api/v1/incidents/inc-2/window""#),
        "the page links the recording"
    );

    let (status, _, body) = post(
        &app,
        "/api/v1/incidents/inc-2/feedback",
        JSON,
        r#"{"verdict": "corrected", "root_cause": "frontend", "fault": "memory_leak", "by": "sre"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let into = tempfile::tempdir().unwrap();
    let unpacked =
        ingest::archive::unpack(&recordings.path("inc-2").unwrap(), into.path()).unwrap();
    let truth = ingest::read_truth(&unpacked).unwrap().expect("truth.json");
    assert_eq!(
        (truth.component.as_str(), truth.fault.as_str()),
        ("frontend", "memory_leak")
    );
    // A confirmation takes the fault rca named.
    post(
        &app,
        "/api/v1/incidents/inc-2/feedback",
        JSON,
        r#"{"verdict": "confirmed", "by": "sre"}"#,
    )
    .await;
    let into = tempfile::tempdir().unwrap();
    let unpacked =
        ingest::archive::unpack(&recordings.path("inc-2").unwrap(), into.path()).unwrap();
    let truth = ingest::read_truth(&unpacked).unwrap().unwrap();
    assert_eq!(
        (truth.component.as_str(), truth.fault.as_str()),
        ("db", "cpu_saturation")
    );
}
