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

async fn app(token: Option<&str>, pending: &[&str]) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    store.ensure_schema().await.unwrap();
    store
        .put(&IncidentRecord {
            localisation: localisation("inc-1", "fp-1"),
            created_at: Utc.timestamp_opt(1_714_560_000, 0).unwrap(),
            actions: Vec::new(),
        })
        .await
        .unwrap();
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
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
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
            "/api/v1/incidents",
            "/api/v1/incidents/{id}",
            "/api/v1/localise"
        ])
    );
    assert!(doc["components"]["schemas"]["Localisation"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
