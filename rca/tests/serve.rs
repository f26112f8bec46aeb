//! `rca serve` over HTTP without any backend: the webhook's answers (202,
//! 400, 413, 429), re-delivery, and partial incidents when every collector's
//! backend is down.

mod common;

use std::time::Duration;

use chrono::{SecondsFormat, Utc};

/// Backends on a port nothing listens on: collectors fail at once.
const NOWHERE: [(&str, &str); 4] = [
    ("RCA_JAEGER_URL", "http://127.0.0.1:9"),
    ("RCA_PROMETHEUS_URL", "http://127.0.0.1:9"),
    ("RCA_LOGS_URL", "http://127.0.0.1:9"),
    ("RCA_ACCESS_LOG_DIR", "/nonexistent/rca-access-logs"),
];

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The body of a GET, as text.
async fn text(url: String) -> String {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn minutes_ago(m: i64) -> String {
    (Utc::now() - chrono::Duration::minutes(m)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[tokio::test]
async fn unreachable_backends_give_a_partial_incident_quickly_and_redelivery_reuses_it() {
    let data = tempfile::tempdir().unwrap();
    let mut env = NOWHERE.to_vec();
    env.push(("RCA_WAIT_FOR_SETTLE", "false"));
    let server = common::start(common::config("", &env), "127.0.0.1:0", data.path()).await;
    let body = common::webhook("checkout", &minutes_ago(20), "f00dfeed00000001");
    let t0 = std::time::Instant::now();
    let resp = send_webhook(&server, body.clone()).await;
    assert_eq!(resp.status(), 202);
    let answer: serde_json::Value = resp.json().await.unwrap();
    let incidents = answer["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1);
    let id = incidents[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        incidents[0]["url"].as_str().unwrap(),
        format!("http://{}/incidents/{id}", server.addr)
    );

    server.wait_done(&id, Duration::from_secs(20)).await;
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t0.elapsed()
    );
    let record = server.store.get(&id).await.unwrap().expect("stored");
    let missing: Vec<(String, String)> = record
        .localisation
        .missing
        .iter()
        .map(|m| (m.modality.clone(), m.reason.clone()))
        .collect();
    for modality in ["traces", "metrics", "access_logs", "logs"] {
        let why = missing
            .iter()
            .find(|(m, _)| m == modality)
            .map(|(_, r)| r.as_str())
            .unwrap_or_else(|| panic!("{modality} not reported missing: {missing:?}"));
        assert!(!why.is_empty());
    }
    assert!(
        missing
            .iter()
            .any(|(_, r)| r.contains("jaeger at http://127.0.0.1:9")),
        "{missing:?}"
    );
    // One reason for every query that failed alike, not one URL a query.
    let (_, metrics_why) = missing.iter().find(|(m, _)| m == "metrics").unwrap();
    assert!(
        metrics_why.contains("every query failed: cpu, memory")
            && metrics_why.contains("connection failed")
            && !metrics_why.contains("query_range"),
        "{metrics_why}"
    );
    assert!(record.localisation.ranking.is_empty());
    assert!(
        !record.localisation.confident,
        "nothing came back: no confident answer"
    );

    // The page of the stored incident renders.
    let page = client()
        .get(server.url(&format!("/incidents/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(&id));

    // Re-delivery: the same id, no second incident.
    let again: serde_json::Value = send_webhook(&server, body).await.json().await.unwrap();
    assert_eq!(again["incidents"][0]["id"].as_str(), Some(id.as_str()));
    let metrics = text(server.url("/metrics")).await;
    assert!(
        metrics.contains("rca_incidents_total{outcome=\"stored\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rca_webhook_requests_total{code=\"202\"} 2"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_webhooks_get_400_naming_what_is_wrong() {
    let data = tempfile::tempdir().unwrap();
    let server = common::start(common::config("", &NOWHERE), "127.0.0.1:0", data.path()).await;
    let cases = [
        ("{\"version\": \"4\", \"alerts\": [", "invalid JSON"),
        ("{\"version\": \"4\"}", "missing field `alerts`"),
        (
            "{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":{}}]}",
            "startsAt",
        ),
        (
            "{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"startsAt\":\"yesterday\"}]}",
            "input contains invalid characters",
        ),
    ];
    for (body, says) in cases {
        let resp = send_webhook(&server, body).await;
        assert_eq!(resp.status(), 400, "{body}");
        let err: serde_json::Value = resp.json().await.unwrap();
        let text = err["error"].as_str().unwrap_or_default();
        assert!(text.contains(says), "{body}: {text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let data = tempfile::tempdir().unwrap();
    let mut env = NOWHERE.to_vec();
    env.push(("RCA_BODY_LIMIT_BYTES", "4096"));
    let server = common::start(common::config("", &env), "127.0.0.1:0", data.path()).await;
    let padding = "x".repeat(8192);
    let body = common::webhook("checkout", &minutes_ago(20), "ab")
        .replace("\"test\"", &format!("\"{padding}\""));
    let resp = send_webhook(&server, body).await;
    assert_eq!(resp.status(), 413);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert!(
        err["error"].as_str().unwrap().contains("4096 bytes"),
        "{err}"
    );
    // A body under the limit still goes through.
    let ok = client()
        .post(server.url("/api/v1/alerts"))
        .body(common::webhook("checkout", &minutes_ago(20), "ab"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 202);
    server.stop().await;
}

#[tokio::test]
async fn a_full_queue_answers_429_and_the_service_stays_up() {
    let data = tempfile::tempdir().unwrap();
    let mut env = NOWHERE.to_vec();
    env.push(("RCA_QUEUE_CAPACITY", "1"));
    env.push(("RCA_WORKERS", "1"));
    // Each alert its own investigation: joining is tested below.
    env.push(("RCA_GROUPING", "false"));
    let server = common::start(common::config("", &env), "127.0.0.1:0", data.path()).await;
    // Alerts that just started: the worker waits out their settle period,
    // so the first occupies it, the second the queue, the third is refused.
    let now = minutes_ago(0);
    let mut codes = Vec::new();
    for fp in ["01", "02", "03"] {
        let resp = send_webhook(&server, common::webhook("checkout", &now, fp)).await;
        codes.push(resp.status().as_u16());
        if resp.status() == 429 {
            // Alertmanager and bots are told when to come back.
            assert_eq!(
                resp.headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap()),
                Some("30")
            );
            let err: serde_json::Value = resp.json().await.unwrap();
            assert!(
                err["error"].as_str().unwrap().contains("queue full"),
                "{err}"
            );
        }
        if fp == "01" {
            // Let the worker take the first before the second arrives.
            for _ in 0..100 {
                if server.handle.incidents.pending() == 1
                    && text(server.url("/metrics"))
                        .await
                        .contains("rca_queue_depth 0")
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    assert_eq!(codes, vec![202, 202, 429]);
    let health = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // Shutdown does not wait for the settle periods.
    tokio::time::timeout(Duration::from_secs(15), server.stop())
        .await
        .expect("stops promptly");
}

/// The pages and the bot API are served beside the webhook: the incident a
/// webhook made is listed, has its page and its JSON, and the alert link
/// leads to it.
#[tokio::test]
async fn the_incident_of_a_webhook_has_its_page_its_json_and_its_alert_link() {
    let data = tempfile::tempdir().unwrap();
    let mut env = NOWHERE.to_vec();
    env.push(("RCA_WAIT_FOR_SETTLE", "false"));
    let server = common::start(common::config("", &env), "127.0.0.1:0", data.path()).await;
    let fp = "f00dfeed000000aa";
    let id = common::post_alert(&server.base(), "checkout", 20, fp).await;
    server.wait_done(&id, Duration::from_secs(20)).await;

    let page = client()
        .get(server.url(&format!("/incidents/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&id), "the page names its incident");

    let list: serde_json::Value = client()
        .get(server.url("/api/v1/incidents"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list.to_string().contains(&id),
        "the list holds the incident: {list}"
    );
    let one: serde_json::Value = client()
        .get(server.url(&format!("/api/v1/incidents/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["incident"]["id"], id.as_str());

    let link = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(server.url(&format!("/alerts/{fp}")))
        .send()
        .await
        .unwrap();
    assert!(link.status().is_redirection(), "{}", link.status());
    let to = link.headers()["location"].to_str().unwrap();
    assert!(to.ends_with(&format!("/incidents/{id}")), "{to}");

    let spec = client()
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(spec.status(), 200);
    // The webhook is documented, with the fields its answers have.
    let spec: serde_json::Value = spec.json().await.unwrap();
    assert!(spec["paths"]["/api/v1/alerts"]["post"]["responses"]["202"].is_object());
    let schemas = &spec["components"]["schemas"];
    let fields = |name: &str| -> Vec<String> {
        let mut v: Vec<String> = schemas[name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} in the document"))
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    };
    assert_eq!(fields("WebhookAnswer"), ["alerts", "incidents", "resolved"]);
    assert_eq!(
        fields("AlertPlaced"),
        ["fingerprint", "id", "status", "url"]
    );
}

/// With a token, the webhook, the pages and the API ask for it; health and
/// metrics do not.
#[tokio::test]
async fn a_configured_token_guards_webhook_pages_and_api_but_not_health() {
    let data = tempfile::tempdir().unwrap();
    let mut env = NOWHERE.to_vec();
    env.push(("RCA_TOKEN", "s3cret"));
    let server = common::start(common::config("", &env), "127.0.0.1:0", data.path()).await;
    let body = common::webhook("checkout", &minutes_ago(20), "f00dfeed000000bb");
    let denied = send_webhook(&server, body.clone()).await;
    assert_eq!(denied.status(), 401);
    for path in ["/", "/api/v1/incidents"] {
        let r = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    for path in ["/healthz", "/metrics"] {
        let r = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let allowed = client()
        .post(server.url("/api/v1/alerts"))
        .bearer_auth("s3cret")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 202);
}

/// An alert answered 202 is not lost when the service stops before its
/// incident is stored (here: during the settle wait); the next start on the
/// same data directory takes it up and stores it.
#[tokio::test]
async fn an_accepted_alert_survives_a_restart_before_its_incident_is_stored() {
    let data = tempfile::tempdir().unwrap();
    let waiting = common::config("[window]\nsettle_seconds = 3600\n", &NOWHERE);
    assert!(waiting.window.wait_for_settle);
    let server = common::start(waiting, "127.0.0.1:0", data.path()).await;
    let id = common::post_alert(&server.base(), "checkout", 1, "f00dfeed000000d1").await;
    let pending = data.path().join("pending").join(format!("{id}.json"));
    assert!(pending.exists(), "{} not written", pending.display());
    server.stop().await;
    assert!(pending.exists(), "the stop forgot the accepted alert");
    assert!(server_store_lacks(data.path(), &id).await);

    let mut env = NOWHERE.to_vec();
    env.push(("RCA_WAIT_FOR_SETTLE", "false"));
    let server = common::start(common::config("", &env), "127.0.0.1:0", data.path()).await;
    server.wait_done(&id, Duration::from_secs(20)).await;
    let record = server.store.get(&id).await.unwrap().expect("stored");
    assert_eq!(
        record.localisation.incident.alert_component.as_deref(),
        Some("checkout")
    );
    assert!(
        !pending.exists(),
        "a stored incident's alert is still pending"
    );
    server.stop().await;
}

async fn server_store_lacks(data: &std::path::Path, id: &str) -> bool {
    common::open_store(data).get(id).await.unwrap().is_none()
}

/// A verdict posted to the API of a running server is stored, counted on
/// the list page and in /metrics (rca's accuracy on this system's own
/// incidents), and listed by `rca graph feedback` over the data directory.
#[tokio::test]
async fn verdicts_are_counted_on_the_list_in_metrics_and_by_rca_graph_feedback() {
    let data = tempfile::tempdir().unwrap();
    let mut env = NOWHERE.to_vec();
    env.push(("RCA_WAIT_FOR_SETTLE", "false"));
    let server = common::start(common::config("", &env), "127.0.0.1:0", data.path()).await;
    let id = common::post_alert(&server.base(), "checkout", 20, "f00dfeed000000cc").await;
    server.wait_done(&id, Duration::from_secs(20)).await;
    // A second incident that names a root cause, to be confirmed.
    let mut ranked = server.store.get(&id).await.unwrap().unwrap();
    ranked.localisation.incident.id = format!("{id}-ranked");
    ranked.localisation.ranking.push(graph::Candidate {
        component: "db".into(),
        score: 9.0,
        fault: graph::FaultKind::CpuSaturation,
        evidence: Vec::new(),
        inner: Vec::new(),
        address: false,
        explains_alert: true,
    });
    server.store.put(&ranked).await.unwrap();

    let post = |id: String, body: serde_json::Value| {
        let url = server.url(&format!("/api/v1/incidents/{id}/feedback"));
        async move { client().post(url).json(&body).send().await.unwrap() }
    };
    // Nobody confirms an incident without a root cause.
    let r = post(
        id.clone(),
        serde_json::json!({"verdict": "confirmed", "by": "oncall"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = post(
        id.clone(),
        serde_json::json!({"verdict": "corrected", "root_cause": "checkout", "by": "oncall"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = post(
        format!("{id}-ranked"),
        serde_json::json!({"verdict": "confirmed", "by": "oncall", "note": "db was pegged"}),
    )
    .await;
    assert_eq!(r.status(), 200);

    let metrics = text(server.url("/metrics")).await;
    assert!(metrics.contains("rca_verdict_incidents 2"), "{metrics}");
    assert!(metrics.contains("rca_verdict_ac1 0.5"), "{metrics}");
    let list = text(server.url("/")).await;
    assert!(list.contains("1 of 2"), "{list}");
    server.stop().await;

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rca"))
        .args(["graph", "feedback", "--format", "json", "--data-dir"])
        .arg(data.path())
        .env_remove("RCA_NEO4J_URI")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tally"]["incidents"], 2, "{v}");
    assert_eq!(v["tally"]["first_right"], 1, "{v}");
    assert_eq!(v["verdicts"].as_array().unwrap().len(), 2);
}

/// The webhook body Alertmanager sends when `fingerprint`'s alert resolves.
fn resolved_webhook(starts_at: &str, ends_at: &str, fingerprint: &str) -> String {
    common::webhook("checkout", starts_at, fingerprint)
        .replace("\"firing\"", "\"resolved\"")
        .replace("0001-01-01T00:00:00Z", ends_at)
}

/// Posts a webhook body to the server.
async fn send_webhook(
    server: &common::Running,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    client()
        .post(server.url("/api/v1/alerts"))
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn post_webhook(server: &common::Running, body: String) -> serde_json::Value {
    let resp = send_webhook(server, body).await;
    assert_eq!(resp.status(), 202);
    resp.json().await.unwrap()
}

/// A resolved notification marks the stored incident resolved at its
/// `endsAt`: the API gives the time and the duration, the page says it; one
/// for an alert rca never saw is answered `unknown`.
#[tokio::test]
async fn a_resolved_alert_marks_its_stored_incident_with_its_end_and_duration() {
    let data = tempfile::tempdir().unwrap();
    let mut env = NOWHERE.to_vec();
    env.push(("RCA_WAIT_FOR_SETTLE", "false"));
    let server = common::start(common::config("", &env), "127.0.0.1:0", data.path()).await;
    let start = Utc::now() - chrono::Duration::minutes(40);
    let starts = start.to_rfc3339_opts(SecondsFormat::Secs, true);
    let ends = (start + chrono::Duration::minutes(15)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let fp = "f00dfeed000000dd";
    let a = post_webhook(&server, common::webhook("checkout", &starts, fp)).await;
    let id = a["incidents"][0]["id"].as_str().unwrap().to_string();
    server.wait_done(&id, Duration::from_secs(20)).await;

    for _ in 0..2 {
        // Alertmanager re-sends resolved notifications: the same answer.
        let r = post_webhook(&server, resolved_webhook(&starts, &ends, fp)).await;
        assert_eq!(r["resolved"][0]["id"], id.as_str(), "{r}");
        assert_eq!(r["resolved"][0]["state"], "stored", "{r}");
        assert_eq!(r["incidents"].as_array().unwrap().len(), 0, "{r}");
    }
    let one: serde_json::Value =
        serde_json::from_str(&text(server.url(&format!("/api/v1/incidents/{id}"))).await).unwrap();
    assert_eq!(one["resolved_at"], ends.as_str(), "{}", one["resolved_at"]);
    assert_eq!(one["duration_seconds"], 900.0);
    let page = text(server.url(&format!("/incidents/{id}"))).await;
    assert!(
        page.contains("(after 15 min)"),
        "the page does not say it resolved"
    );

    let r = post_webhook(&server, resolved_webhook(&starts, &ends, "never-seen")).await;
    assert_eq!(r["resolved"][0]["state"], "unknown", "{r}");
    server.stop().await;
}

/// A resolved notification that comes while its incident still waits for
/// its settle period is applied when the incident is stored.
#[tokio::test]
async fn a_resolved_alert_that_comes_before_its_incident_is_stored_is_kept() {
    let data = tempfile::tempdir().unwrap();
    let cfg = common::config("[window]\nsettle_seconds = 2\n", &NOWHERE);
    let server = common::start(cfg, "127.0.0.1:0", data.path()).await;
    let start = Utc::now();
    let starts = start.to_rfc3339_opts(SecondsFormat::Secs, true);
    let ends = (start + chrono::Duration::seconds(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let fp = "f00dfeed000000ee";
    let a = post_webhook(&server, common::webhook("checkout", &starts, fp)).await;
    let id = a["incidents"][0]["id"].as_str().unwrap().to_string();
    let r = post_webhook(&server, resolved_webhook(&starts, &ends, fp)).await;
    assert_eq!(r["resolved"][0]["state"], "pending", "{r}");
    server.wait_done(&id, Duration::from_secs(30)).await;
    let stored = server.store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        stored
            .resolved_at
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        Some(ends)
    );
    server.stop().await;
}

/// A webhook of `alerts` (service, fingerprint, startsAt), one Alertmanager
/// group, with `labels` added to each alert.
fn group_webhook(alerts: &[(String, String, String)], labels: serde_json::Value) -> String {
    let alerts: Vec<serde_json::Value> = alerts
        .iter()
        .map(|(service, fp, starts)| {
            let mut l = serde_json::json!({"alertname": "HighErrorRate", "service": service});
            for (k, v) in labels.as_object().unwrap() {
                l[k] = v.clone();
            }
            serde_json::json!({
                "status": "firing", "labels": l, "annotations": {},
                "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z", "fingerprint": fp
            })
        })
        .collect();
    serde_json::json!({"version": "4", "status": "firing", "receiver": "rca",
        "groupKey": "{}:{alertname=\"HighErrorRate\"}", "alerts": alerts})
    .to_string()
}

fn metric(metrics: &str, name: &str) -> f64 {
    common::metric_value(metrics, name)
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{metrics}"))
}

/// One webhook of 20 firing alerts (an outage seen by 20 services) is one
/// investigation: one incident, its window spanning every start, every
/// fingerprint linked to it, the 19 others listed in it.
#[tokio::test]
async fn twenty_alerts_of_one_webhook_are_one_investigation() {
    let data = tempfile::tempdir().unwrap();
    let mut env = NOWHERE.to_vec();
    env.push(("RCA_WAIT_FOR_SETTLE", "false"));
    let server = common::start(common::config("", &env), "127.0.0.1:0", data.path()).await;
    // Starts spread over two minutes, the earliest last in the body: the
    // investigation is named after the earliest, whatever the order.
    let alerts: Vec<(String, String, String)> = (0..20)
        .map(|i| {
            let at = (Utc::now() - chrono::Duration::seconds(1200 - 6 * i))
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            (format!("svc-{i:02}"), format!("fa11{i:012}"), at)
        })
        .rev()
        .collect();
    let resp = send_webhook(&server, group_webhook(&alerts, serde_json::json!({}))).await;
    assert_eq!(resp.status(), 202);
    let answer: serde_json::Value = resp.json().await.unwrap();
    let incidents = answer["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{answer}");
    let id = incidents[0]["id"].as_str().unwrap().to_string();
    let placed = answer["alerts"].as_array().unwrap();
    assert_eq!(placed.len(), 20, "{answer}");
    assert!(placed.iter().all(|a| a["id"] == id.as_str()), "{answer}");
    let started: Vec<&serde_json::Value> =
        placed.iter().filter(|a| a["status"] == "started").collect();
    assert_eq!(started.len(), 1, "{answer}");
    assert_eq!(
        started[0]["fingerprint"], "fa11000000000000",
        "the earliest opens it"
    );
    assert_eq!(
        placed.iter().filter(|a| a["status"] == "joined").count(),
        19
    );

    server.wait_done(&id, Duration::from_secs(30)).await;
    let record: serde_json::Value = client()
        .get(server.url(&format!("/api/v1/incidents/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let incident = &record["incident"];
    assert_eq!(incident["fingerprint"], "fa11000000000000", "{incident}");
    assert_eq!(
        incident["other_alerts"].as_array().unwrap().len(),
        19,
        "{incident}"
    );
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (_, fp, _) in &alerts {
        let link = no_redirect
            .get(server.url(&format!("/alerts/{fp}")))
            .send()
            .await
            .unwrap();
        assert!(link.status().is_redirection(), "{fp}: {}", link.status());
        let to = link.headers()["location"].to_str().unwrap();
        assert!(to.ends_with(&format!("/incidents/{id}")), "{fp}: {to}");
    }
    let m = text(server.url("/metrics")).await;
    assert_eq!(metric(&m, "rca_investigations_total"), 1.0);
    assert_eq!(metric(&m, "rca_alerts_joined_total"), 19.0);

    // The same group sent again (Alertmanager repeats it) starts nothing.
    let again = send_webhook(&server, group_webhook(&alerts, serde_json::json!({}))).await;
    let again: serde_json::Value = again.json().await.unwrap();
    assert!(
        again["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "known" && a["id"] == id.as_str()),
        "{again}"
    );
    server.stop().await;
}

/// Alerts of later webhooks join an investigation that is still settling,
/// when the configured labels agree; joining takes no queue slot, so a
/// storm of one outage is not turned away, while another system's alert
/// opens its own investigation (and finds the queue full).
#[tokio::test]
async fn later_alerts_join_a_settling_investigation_of_the_same_system() {
    let data = tempfile::tempdir().unwrap();
    let mut env = NOWHERE.to_vec();
    env.push(("RCA_QUEUE_CAPACITY", "1"));
    env.push(("RCA_WORKERS", "1"));
    let cfg = common::config("[grouping]\nlabels = [\"cluster\"]\n", &env);
    let server = common::start(cfg, "127.0.0.1:0", data.path()).await;
    let one = |service: &str, fp: &str, cluster: &str| {
        group_webhook(
            &[(service.to_string(), fp.to_string(), minutes_ago(0))],
            serde_json::json!({ "cluster": cluster }),
        )
    };
    let post = |body: String| {
        let server = &server;
        async move {
            let resp = send_webhook(server, body).await;
            let code = resp.status().as_u16();
            (code, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (code, first) = post(one("checkout", "a1", "east")).await;
    assert_eq!(code, 202, "{first}");
    let id = first["incidents"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(first["alerts"][0]["status"], "started");
    // The worker takes it and waits out its settle period, queued still.
    for _ in 0..100 {
        if text(server.url("/metrics"))
            .await
            .contains("rca_queue_depth 0")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for fp in ["a2", "a3", "a4"] {
        let (code, joined) = post(one("payment", fp, "east")).await;
        assert_eq!(code, 202, "{joined}");
        assert_eq!(joined["alerts"][0]["status"], "joined", "{joined}");
        assert_eq!(joined["alerts"][0]["id"], id.as_str(), "{joined}");
    }
    // Another cluster is another system: a new investigation fills the
    // queue's one slot, and the next one is refused.
    let (code, other) = post(one("checkout", "b1", "west")).await;
    assert_eq!(code, 202, "{other}");
    assert_eq!(other["alerts"][0]["status"], "started", "{other}");
    assert_ne!(other["incidents"][0]["id"], id.as_str());
    let (code, refused) = post(one("checkout", "c1", "north")).await;
    assert_eq!(code, 429, "{refused}");
    let m = text(server.url("/metrics")).await;
    assert_eq!(metric(&m, "rca_investigations_total"), 2.0);
    assert_eq!(metric(&m, "rca_alerts_joined_total"), 3.0);
    tokio::time::timeout(Duration::from_secs(15), server.stop())
        .await
        .expect("stops promptly");
}
