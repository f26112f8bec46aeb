//! End to end against real servers: a fixture pushed into Jaeger, Prometheus
//! and VictoriaLogs (application and access logs), its alert fired through
//! Alertmanager into `rca serve`, and the stored incident's ranking compared
//! with the offline replay of the same fixture. And Jaeger, or VictoriaLogs,
//! going away between the webhook and the collection.
//!
//! The servers' addresses come from the environment (the defaults are
//! `scripts/stack`'s); a server that does not answer fails the test with
//! how to start it. Start them all with
//! `scripts/stack up jaeger prometheus alertmanager victorialogs`.
//!
//! Alertmanager posts to `RCA_SERVE_ADDR` (default 127.0.0.1:8080, the
//! address `scripts/stack.d/alertmanager.sh` points it at), so the test
//! server binds that address.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use graph::Localisation;

use common::{
    alertmanager_url, fire_through_alertmanager, jaeger_grpc_url, jaeger_url, loop_until, otlp_url,
    prometheus_url, require, serve_addr, victorialogs_url, wait_for_alertmanager,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/cpu_saturation-23")
}

/// The fixture without what no live collector reads (the truth), localised
/// offline as `rca replay` does.
fn offline(fixture: &Path, scratch: &Path) -> Localisation {
    common::copy_fixture_without(fixture, scratch, &["truth.json"]);
    common::localise_offline(scratch)
}

fn top5(l: &Localisation) -> Vec<String> {
    l.ranking
        .iter()
        .take(5)
        .map(|c| c.component.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_through_alertmanager_gives_the_offline_ranking() {
    require("jaeger", &format!("{}/api/v3/services", jaeger_url())).await;
    require("prometheus", &format!("{}/-/ready", prometheus_url())).await;
    require("alertmanager", &format!("{}/-/ready", alertmanager_url())).await;
    require("victorialogs", &format!("{}/health", victorialogs_url())).await;
    let tmp = tempfile::tempdir().unwrap();
    let expected = offline(&fixture(), &tmp.path().join("offline"));

    // Push the fixture, shifted to the present.
    let logs = tmp.path().join("access-logs");
    let config_path = tmp.path().join("rca.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_rca"))
        .args(["fixtures", "push"])
        .arg(fixture())
        .args(["--otlp", &otlp_url(), "--prometheus", &prometheus_url()])
        .args(["--logs-url", &victorialogs_url()])
        .arg("--access-log-dir")
        .arg(&logs)
        .arg("--write-config")
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "push failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pushed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(pushed["spans"].as_u64().unwrap() > 1000, "{pushed}");
    assert!(pushed["samples"].as_u64().unwrap() > 100, "{pushed}");
    assert!(pushed["log_lines"].as_u64().unwrap() > 10, "{pushed}");
    assert!(pushed["access_lines"].as_u64().unwrap() > 100, "{pushed}");
    assert!(
        !logs.exists(),
        "with --logs-url no access-log directory is written"
    );
    let alert = pushed["webhook"]["alerts"][0].clone();
    let starts_at: DateTime<Utc> = alert["startsAt"].as_str().unwrap().parse().unwrap();

    // Jaeger stores what its OTLP receiver took a moment later: wait until
    // every pushed span can be found, as an alert's settle period would.
    let window = ingest::collect::CollectWindow {
        start: starts_at.timestamp_micros() - 30 * 60_000_000,
        end: starts_at.timestamp_micros() + 10 * 60_000_000,
    };
    let jaeger_source = ingest::collect::JaegerSource::new(
        &jaeger_url(),
        Vec::new(),
        vec!["jaeger".into(), "rca".into()],
        100_000,
        Duration::from_secs(10),
    );
    let want = pushed["spans"].as_u64().unwrap() as usize;
    loop_until(Duration::from_secs(30), || async {
        use ingest::collect::TraceSource;
        let got = jaeger_source.traces(&window).await.ok()?.obs.spans.len();
        (got >= want).then_some(())
    })
    .await
    .expect("jaeger holds every pushed span within 30 s");
    // VictoriaLogs makes what it took searchable a moment later, too.
    let want_lines =
        pushed["log_lines"].as_u64().unwrap() + pushed["access_lines"].as_u64().unwrap();
    let push_id = pushed["logs_push"]
        .as_str()
        .expect("the push's id")
        .to_string();
    loop_until(Duration::from_secs(30), || {
        let q = format!("rca.push:={push_id:?} | stats count() n");
        async move {
            let body = reqwest::Client::new()
                .post(format!("{}/select/logsql/query", victorialogs_url()))
                .form(&[("query", q)])
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            let n: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
            let n: u64 = n["n"].as_str()?.parse().ok()?;
            (n >= want_lines).then_some(())
        }
    })
    .await
    .expect("victorialogs holds every pushed line within 30 s");

    // rca serve, reading what was pushed, where Alertmanager posts.
    let toml = std::fs::read_to_string(&config_path).unwrap();
    let cfg = common::config(
        &toml,
        &[
            ("RCA_JAEGER_URL", &jaeger_url()),
            ("RCA_PROMETHEUS_URL", &prometheus_url()),
        ],
    );
    let server = common::start(cfg, &serve_addr(), &tmp.path().join("data")).await;

    // Fire the alert through Alertmanager; the worker runs on its webhook.
    let id = fire_through_alertmanager(&alert).await;
    wait_for_alertmanager(&server, &id).await;
    let record = server
        .store
        .get(&id)
        .await
        .unwrap()
        .expect("incident stored");
    let live = &record.localisation;
    for m in ["traces", "metrics", "access_logs", "logs"] {
        assert!(
            live.modalities.iter().any(|x| x == m),
            "{m} not used: {:?} missing {:?}",
            live.modalities,
            live.missing
        );
    }
    // Nothing is missing but what the trace sample says of itself: the
    // stack's Jaeger is shared with the other tests, whose healthy spans
    // (status OK) its memory store answers to a search for failing ones.
    let missing: Vec<_> = live
        .missing
        .iter()
        .filter(|m| !(m.modality == "traces" && m.reason.contains("cannot select them")))
        .collect();
    assert!(missing.is_empty(), "{missing:?}");
    if top5(live) != top5(&expected) {
        // Both localisations, for whoever has to find out why.
        let dump = std::env::temp_dir().join(format!("rca-live-{id}.json"));
        let _ = std::fs::write(
            &dump,
            serde_json::to_vec_pretty(&(live, &expected)).unwrap_or_default(),
        );
        eprintln!(
            "live and offline localisations written to {}",
            dump.display()
        );
    }
    assert_eq!(
        top5(live),
        top5(&expected),
        "live ranking differs from the offline replay"
    );
    assert_eq!(live.path, expected.path);
    assert_eq!(live.ranking[0].fault, expected.ranking[0].fault);

    // The window the worker judged, downloaded as a user would: it replays
    // offline to the very ranking stored.
    // It is written just after the incident is stored: wait for it a little.
    let url = server.url(&format!("/api/v1/incidents/{id}/window"));
    let mut res = reqwest::get(&url).await.unwrap();
    for _ in 0..100 {
        if res.status() == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        res = reqwest::get(&url).await.unwrap();
    }
    assert_eq!(res.status(), 200, "the recording within 20 s");
    let archive = tmp.path().join("window.tar.gz");
    std::fs::write(&archive, res.bytes().await.unwrap()).unwrap();
    let recorded = ingest::load_fixture(&archive).unwrap();
    let manifest = recorded.manifest.as_ref().expect("recording.json");
    assert!(manifest.sampled.is_empty(), "{:?}", manifest.sampled);
    let cfg = graph::EngineConfig {
        window: rca::cmd::judged_window(&recorded, None, None),
        ..graph::EngineConfig::default()
    };
    let again = graph::localise(&recorded.observations, &cfg).unwrap();
    assert_eq!(
        serde_json::to_value(&again.ranking).unwrap(),
        serde_json::to_value(&live.ranking).unwrap(),
        "the recording replays to the stored ranking"
    );
    assert_eq!(again.path, live.path);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_gone_between_webhook_and_collection_leaves_a_partial_incident_that_says_so() {
    let jaeger = jaeger_url();
    require("jaeger", &format!("{jaeger}/api/v3/services")).await;
    require("prometheus", &format!("{}/-/ready", prometheus_url())).await;
    let tmp = tempfile::tempdir().unwrap();
    // rca reaches Jaeger through a relay this test can stop: to rca, Jaeger
    // is up when the webhook arrives and gone when the window is collected.
    let relay = Relay::start(jaeger.trim_start_matches("http://")).await;
    let cfg = common::config(
        "[window]\nsettle_seconds = 2\n",
        &[
            ("RCA_JAEGER_URL", &format!("http://{}", relay.addr)),
            ("RCA_PROMETHEUS_URL", &prometheus_url()),
            ("RCA_LOGS_URL", ""),
            (
                "RCA_ACCESS_LOG_DIR",
                tmp.path().join("none").to_str().unwrap(),
            ),
            ("RCA_COLLECT_TIMEOUT_SECONDS", "5"),
        ],
    );
    let server = common::start(cfg, "127.0.0.1:0", &tmp.path().join("data")).await;
    let relayed = reqwest::get(format!("http://{}/api/v3/services", relay.addr))
        .await
        .unwrap();
    assert!(relayed.status().is_success(), "relay works before the stop");

    let id = common::post_alert(&server.base(), "checkout", 0, "de1e7ed0000000aa").await;
    relay.stop().await;

    server.wait_done(&id, Duration::from_secs(30)).await;
    let record = server.store.get(&id).await.unwrap().expect("stored");
    let traces = record
        .localisation
        .missing
        .iter()
        .find(|m| m.modality == "traces")
        .unwrap_or_else(|| panic!("traces not missing: {:?}", record.localisation.missing));
    assert!(
        traces.reason.starts_with("jaeger: ") && traces.reason.contains("unreachable"),
        "{}",
        traces.reason
    );
    server.stop().await;
}

/// A TCP relay to a real server that can be stopped: its listener closes
/// and every relayed connection is cut.
struct Relay {
    addr: std::net::SocketAddr,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: &str) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let target = target.to_string();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let tracker = tokio_util::task::TaskTracker::new();
            loop {
                let (mut inbound, _) = tokio::select! {
                    _ = token.cancelled() => break,
                    c = listener.accept() => match c { Ok(c) => c, Err(_) => break },
                };
                let target = target.clone();
                let token = token.clone();
                tracker.spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = token.cancelled() => {},
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {},
                    }
                });
            }
            drop(listener);
            tracker.close();
            tracker.wait().await;
        });
        Relay { addr, stop, task }
    }

    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// OTLP JSON for one span of `service`.
fn otlp_span(
    service: &str,
    trace: u128,
    span: u64,
    parent: u64,
    name: &str,
    start: DateTime<Utc>,
) -> serde_json::Value {
    let start_ns = start.timestamp_nanos_opt().unwrap();
    serde_json::json!({
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "rca-test"}, "spans": [{
            "traceId": format!("{trace:032x}"),
            "spanId": format!("{span:016x}"),
            "parentSpanId": if parent == 0 { String::new() } else { format!("{parent:016x}") },
            "name": name,
            "kind": 2,
            "startTimeUnixNano": start_ns.to_string(),
            "endTimeUnixNano": (start_ns + 5_000_000).to_string(),
        }]}]
    })
}

async fn push_otlp(resource_spans: Vec<serde_json::Value>) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/traces", otlp_url()))
        .json(&serde_json::json!({ "resourceSpans": resource_spans }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "OTLP push: {}", resp.status());
}

/// The covering search finds what searching every service finds: traces
/// through the entry service, and a background job's traces that start at a
/// called service and never pass the entry (older than any sample of it, so
/// found through its operation no trace in hand has). And a search that hits
/// `max_traces` says traces may be missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_covering_trace_search_finds_every_trace_and_says_when_it_was_cut_short() {
    use ingest::collect::{CollectWindow, JaegerSource, TraceSearch, TraceSource};
    require("jaeger", &format!("{}/api/v3/services", jaeger_url())).await;
    let run = Utc::now().timestamp_nanos_opt().unwrap() as u64;
    let front = format!("front-{run}");
    let back = format!("back-{run}");
    let now = Utc::now();
    let t0 = now - chrono::Duration::minutes(5);
    let trace_base = u128::from(run) << 32;

    // First the back service's own job, five traces of one span.
    let jobs: Vec<_> = (0..5u64)
        .map(|i| {
            let start = t0 + chrono::Duration::seconds(i as i64);
            otlp_span(
                &back,
                trace_base + 1000 + u128::from(i),
                9000 + i,
                0,
                "cleanup",
                start,
            )
        })
        .collect();
    push_otlp(jobs).await;
    let source = |search, max| {
        JaegerSource::new(
            &jaeger_url(),
            vec![front.clone(), back.clone()],
            Vec::new(),
            max,
            Duration::from_secs(10),
        )
        .with_search(search)
    };
    let window = CollectWindow {
        start: (now - chrono::Duration::minutes(10)).timestamp_micros(),
        end: (now + chrono::Duration::minutes(1)).timestamp_micros(),
    };
    let count = |search, max| {
        let source = source(search, max);
        let window = window.clone();
        async move {
            let pulled = source.traces(&window).await.ok()?;
            Some((pulled.obs.spans.len(), pulled.partial))
        }
    };
    loop_until(Duration::from_secs(30), || async {
        (count(TraceSearch::EveryService, 100_000).await?.0 == 5).then_some(())
    })
    .await
    .expect("jaeger holds the job's spans within 30 s");

    // Then 100 requests through the front, each calling the back.
    let mut requests = Vec::new();
    for i in 0..100u64 {
        let trace = trace_base + u128::from(i);
        let start = t0 + chrono::Duration::seconds(10 + i as i64);
        requests.push(otlp_span(&front, trace, 2 * i + 1, 0, "GET /x", start));
        requests.push(otlp_span(
            &back,
            trace,
            2 * i + 2,
            2 * i + 1,
            "GET /back",
            start,
        ));
    }
    push_otlp(requests).await;
    let every = loop_until(Duration::from_secs(30), || async {
        count(TraceSearch::EveryService, 100_000)
            .await
            .filter(|(n, _)| *n == 205)
    })
    .await
    .expect("jaeger holds every pushed span within 30 s");
    assert_eq!(every.1, None);

    let covering = count(TraceSearch::Covering, 100_000)
        .await
        .expect("covering search");
    assert_eq!(covering, (205, None), "the covering search misses spans");

    let (spans, partial) = count(TraceSearch::Covering, 10)
        .await
        .expect("capped search");
    assert!(spans < 205, "{spans} spans with 10 traces a search");
    let partial = partial.expect("a capped search says so");
    assert!(partial.contains("jaeger.max_traces"), "{partial}");
    assert!(partial.contains(&front), "{partial}");
}

/// Jaeger's gRPC query service and its HTTP API give the same spans, field
/// for field: kinds, error statuses, HTTP statuses, peers, exception
/// events, parents. A gRPC address where nothing listens falls back to the
/// HTTP API and gives them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_query_service_gives_what_the_http_api_gives() {
    use ingest::collect::{CollectWindow, JaegerSource, TraceSource};
    require("jaeger", &format!("{}/api/v3/services", jaeger_url())).await;
    let run = Utc::now().timestamp_nanos_opt().unwrap() as u64;
    let front = format!("front-{run}");
    let back = format!("back-{run}");
    let now = Utc::now();
    // Two hours back: outside the windows of the other tests on this Jaeger.
    let t0 = now - chrono::Duration::hours(2);
    let trace_base = u128::from(run) << 32;
    let mut spans = Vec::new();
    for i in 0..30u64 {
        let trace = trace_base + u128::from(i);
        let start = t0 + chrono::Duration::seconds(i as i64);
        let mut root = otlp_span(&front, trace, 2 * i + 1, 0, "GET /x", start);
        root["scopeSpans"][0]["spans"][0]["attributes"] = serde_json::json!([
            {"key": "http.response.status_code", "value": {"intValue": if i % 5 == 0 { "503" } else { "200" }}}
        ]);
        let mut call = otlp_span(&back, trace, 2 * i + 2, 2 * i + 1, "GET /back", start);
        let call_span = &mut call["scopeSpans"][0]["spans"][0];
        call_span["kind"] = 3.into();
        call_span["attributes"] = serde_json::json!([
            {"key": "peer.service", "value": {"stringValue": "db"}},
            {"key": "net.peer.name", "value": {"stringValue": "db-host"}}
        ]);
        if i % 5 == 0 {
            call_span["status"] = serde_json::json!({"code": 2});
            call_span["events"] = serde_json::json!([{
                "name": "exception",
                "timeUnixNano": start.timestamp_nanos_opt().unwrap().to_string(),
                "attributes": [{"key": "exception.type", "value": {"stringValue": "Timeout"}}]
            }]);
        }
        spans.push(root);
        spans.push(call);
    }
    push_otlp(spans).await;
    let window = CollectWindow {
        start: (t0 - chrono::Duration::minutes(1)).timestamp_micros(),
        end: (t0 + chrono::Duration::minutes(2)).timestamp_micros(),
    };
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let source_at = |http: &str| {
        JaegerSource::new(
            http,
            vec![front.clone(), back.clone()],
            Vec::new(),
            100_000,
            Duration::from_secs(10),
        )
    };
    let source = || source_at(&jaeger_url());
    let described = |obs: &ingest::Observations| {
        let mut v = obs.span_lines();
        v.sort();
        v
    };
    let http = loop_until(Duration::from_secs(30), || async {
        let pulled = source().traces(&window).await.ok()?;
        (pulled.obs.spans.len() == 60).then_some(pulled)
    })
    .await
    .expect("jaeger holds every pushed span within 30 s");
    let http = described(&http.obs);
    // The HTTP API of this one is where nothing listens: only gRPC can
    // answer it.
    let grpc = source_at(&closed)
        .with_grpc(&jaeger_grpc_url())
        .unwrap()
        .traces(&window)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "over gRPC at {}: {e} (start Jaeger with scripts/stack up jaeger)",
                jaeger_grpc_url()
            )
        });
    assert_eq!(described(&grpc.obs), http, "gRPC and HTTP disagree");
    assert_eq!(grpc.partial, None);
    let text = http.join("\n");
    assert!(text.contains("Timeout") && text.contains("503") && text.contains("\"db\""));

    // Nothing listens at this gRPC address: the HTTP API answers instead.
    let fallback = source()
        .with_grpc(&closed)
        .unwrap()
        .traces(&window)
        .await
        .expect("the HTTP API after a silent gRPC address");
    assert_eq!(described(&fallback.obs), http);
}

/// A sampled search reads at most its size per slice of the window, and
/// every failing and every slow trace in full, however old; and says it
/// sampled. Unsampled, the same window is read whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_search_reads_a_bounded_sample_and_every_failing_and_slow_trace() {
    use ingest::collect::{CollectWindow, JaegerSource, TraceSource};
    use ingest::sample::TraceSampling;
    require("jaeger", &format!("{}/api/v3/services", jaeger_url())).await;
    let run = Utc::now().timestamp_nanos_opt().unwrap() as u64;
    let front = format!("front-{run}");
    let back = format!("back-{run}");
    let now = Utc::now();
    // Three hours back: outside the window of any other test sharing this
    // Jaeger (theirs are about now), whose rankings its failing and slow
    // requests would otherwise join.
    let t0 = now - chrono::Duration::hours(3);
    let trace_base = u128::from(run) << 32;
    // One request: front's root span and back's span under it.
    let request = |i: u64, fails: bool, slow: bool| {
        let trace = trace_base + u128::from(i);
        let start = t0 + chrono::Duration::milliseconds(2_000 * i as i64);
        let mut root = otlp_span(&front, trace, 2 * i + 1, 0, "GET /x", start);
        if slow {
            let end = start.timestamp_nanos_opt().unwrap() + 200_000_000;
            root["scopeSpans"][0]["spans"][0]["endTimeUnixNano"] = end.to_string().into();
        }
        let mut call = otlp_span(&back, trace, 2 * i + 2, 2 * i + 1, "GET /back", start);
        // Status OK (1) or ERROR (2), as instrumented servers set it.
        let status = serde_json::json!({"code": if fails { 2 } else { 1 }});
        call["scopeSpans"][0]["spans"][0]["status"] = status.clone();
        root["scopeSpans"][0]["spans"][0]["status"] = status;
        vec![root, call]
    };
    // The failing and slow requests first, so they are the oldest Jaeger
    // holds and no "most recent" sample reaches them.
    let (failing, slow) = ([1u64, 2, 3], [4u64, 5]);
    let mut first = Vec::new();
    for i in failing {
        first.extend(request(i, true, false));
    }
    for i in slow {
        first.extend(request(i, false, true));
    }
    push_otlp(first).await;
    let mut rest = Vec::new();
    for i in 6..=200u64 {
        rest.extend(request(i, false, false));
    }
    push_otlp(rest).await;

    let window = CollectWindow {
        start: t0.timestamp_micros(),
        end: (t0 + chrono::Duration::minutes(8)).timestamp_micros(),
    };
    let source = |sampling| {
        JaegerSource::new(
            &jaeger_url(),
            vec![front.clone(), back.clone()],
            Vec::new(),
            100_000,
            Duration::from_secs(10),
        )
        .with_sampling(sampling)
    };
    let whole = loop_until(Duration::from_secs(30), || async {
        let pulled = source(None).traces(&window).await.ok()?;
        (pulled.obs.spans.len() == 400).then_some(pulled)
    })
    .await
    .expect("jaeger holds every pushed span within 30 s");
    assert_eq!(whole.partial, None);

    // Two slices of four minutes, 120 requests in the first, 80 in the second.
    let rule = TraceSampling {
        per_slice: 20,
        slices: 2,
    };
    // Over the HTTP API, then over gRPC: the same rule, the same bounds.
    for grpc in [false, true] {
        let mut sampler = source(Some(rule));
        if grpc {
            sampler = sampler.with_grpc(&jaeger_grpc_url()).unwrap();
        }
        let sampled = sampler
            .traces(&window)
            .await
            .unwrap_or_else(|e| panic!("sampled search (gRPC: {grpc}): {e}"));
        let traces: std::collections::HashSet<u128> =
            sampled.obs.spans.iter().map(|s| s.trace_id).collect();
        assert!(
        traces.len() >= 40 && traces.len() <= 40 + 5 + 32,
        "{} traces read: the two slices' 20, the 5 failing or slow, and at most front's and back's \
         samples of 32 that no slice covers",
        traces.len()
    );
        for i in slow {
            assert!(
                traces.contains(&(trace_base + u128::from(i))),
                "slow request {i} was not read"
            );
        }
        let partial = sampled.partial.expect("a sample says so");
        assert!(partial.contains("sampled: 2 of 2 slices"), "{partial}");
        assert!(partial.contains("jaeger.sample_per_slice"), "{partial}");
        // Jaeger v1.76's in-memory store answers `error=true` with the traces
        // that did not fail (it reads the tag as a string, and a string as
        // false): none of those is kept as failing, and the incident says the
        // failing traces could not be selected. A backend that selects them
        // gives the failing requests in full instead.
        let every_failing_read = failing
            .iter()
            .all(|i| traces.contains(&(trace_base + u128::from(*i))));
        assert!(
            every_failing_read || partial.contains("cannot select them"),
            "failing requests missing and not said: {partial}"
        );
        let failing_spans = sampled.obs.spans.iter().filter(|s| s.error).count();
        assert!(
        traces.len() <= 40 + 5 + 32,
        "the non-failing traces of the failing search were kept: {} traces, {failing_spans} failing spans",
        traces.len()
    );
    }
}

/// `rca serve` (the binary, as users run it) exports its own pipeline's
/// spans to Jaeger over OTLP, even with its log lines turned down to
/// warnings: the webhook, the incident, each collector, the correlation and
/// the store show up as traces of its `telemetry.service_name`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rca_serve_exports_its_own_spans_to_jaeger() {
    require("jaeger", &format!("{}/api/v3/services", jaeger_url())).await;
    let tmp = tempfile::tempdir().unwrap();
    let run = Utc::now().timestamp_nanos_opt().unwrap();
    let service = format!("rca-selftest-{run}");
    let config = tmp.path().join("rca.toml");
    std::fs::write(
        &config,
        format!(
            "[window]\nwait_for_settle = false\n[prometheus]\nurl = \"http://127.0.0.1:9\"\n\
             [access_logs]\ndir = \"/nonexistent/rca\"\n\
             [telemetry]\notlp_endpoint = \"{}\"\nservice_name = \"{service}\"\n",
            otlp_url()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rca"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .env("RCA_LOG", "warn")
        .env("RCA_JAEGER_URL", jaeger_url())
        .stderr(std::fs::File::create(tmp.path().join("serve.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    loop_until(Duration::from_secs(20), || async {
        http.get(format!("{base}/healthz")).send().await.ok()?;
        Some(())
    })
    .await
    .expect("rca serve answers /healthz within 20 s");
    let id = common::post_alert(&base, "checkout", 2, "5e1f0000000000a1").await;
    loop_until(Duration::from_secs(30), || async {
        let r = http
            .get(format!("{base}/api/v1/incidents/{id}"))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())
    })
    .await
    .expect("the incident is stored within 30 s");
    // SIGTERM: the service stops and flushes what it has not exported yet.
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("rca serve stops within 20 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "rca serve exited with {status}");

    let window = ingest::collect::CollectWindow {
        start: (Utc::now() - chrono::Duration::minutes(5)).timestamp_micros(),
        end: (Utc::now() + chrono::Duration::minutes(1)).timestamp_micros(),
    };
    let source = ingest::collect::JaegerSource::new(
        &jaeger_url(),
        vec![service.clone()],
        Vec::new(),
        1000,
        Duration::from_secs(10),
    );
    let wanted = ["webhook", "incident", "collect", "correlate", "store"];
    let names = loop_until(Duration::from_secs(20), || async {
        use ingest::collect::TraceSource;
        let obs = source.traces(&window).await.ok()?.obs;
        let names: std::collections::BTreeSet<String> = obs
            .spans
            .iter()
            .map(|s| obs.names.name(s.operation).to_string())
            .collect();
        wanted.iter().all(|w| names.contains(*w)).then_some(names)
    })
    .await;
    assert!(
        names.is_some(),
        "Jaeger has no spans {wanted:?} of service {service} within 20 s; rca serve's log:\n{}",
        std::fs::read_to_string(tmp.path().join("serve.log")).unwrap_or_default()
    );
}

/// A VictoriaLogs of this test's own, from the binary `scripts/stack`
/// built, on a free port: the test stops it without touching the stack's.
struct OwnVictoriaLogs {
    child: std::process::Child,
    url: String,
    _data: tempfile::TempDir,
}

impl OwnVictoriaLogs {
    async fn start() -> OwnVictoriaLogs {
        let cache = std::env::var("RCA_STACK_CACHE").unwrap_or_else(|_| {
            format!(
                "{}/.cache/rca-stack",
                std::env::var("HOME").unwrap_or_default()
            )
        });
        let bin = Path::new(&cache).join("victorialogs-v1.52.1/victoria-logs");
        assert!(
            bin.is_file(),
            "no VictoriaLogs binary at {}; build it with scripts/stack up victorialogs",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data = tempfile::tempdir().unwrap();
        let child = Command::new(&bin)
            .arg(format!("-storageDataPath={}", data.path().display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-retentionPeriod=100y")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        loop_until(Duration::from_secs(30), || {
            let health = format!("{url}/health");
            async move {
                reqwest::get(health)
                    .await
                    .ok()?
                    .status()
                    .is_success()
                    .then_some(())
            }
        })
        .await
        .expect("our VictoriaLogs answers within 30 s");
        OwnVictoriaLogs {
            child,
            url,
            _data: data,
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnVictoriaLogs {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victorialogs_stopped_before_the_collection_leaves_a_partial_incident_in_time() {
    require("prometheus", &format!("{}/-/ready", prometheus_url())).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut vl = OwnVictoriaLogs::start().await;
    let timeout = 4.0;
    let cfg = common::config(
        "[window]\nsettle_seconds = 2\n",
        &[
            ("RCA_JAEGER_URL", ""),
            ("RCA_PROMETHEUS_URL", &prometheus_url()),
            ("RCA_LOGS_URL", &vl.url),
            ("RCA_COLLECT_TIMEOUT_SECONDS", "4"),
        ],
    );
    let server = common::start(cfg, "127.0.0.1:0", &tmp.path().join("data")).await;
    let id = common::post_alert(&server.base(), "checkout", 0, "de1e7ed0000000bb").await;
    vl.stop();
    let t0 = std::time::Instant::now();
    // The settle period (2 s), then every collector under the 4 s timeout.
    server.wait_done(&id, Duration::from_secs(30)).await;
    let took = t0.elapsed().as_secs_f64();
    assert!(
        took < 2.0 + timeout + 5.0,
        "the incident took {took:.1} s, beyond the settle period and the collector timeout"
    );
    let record = server.store.get(&id).await.unwrap().expect("stored");
    let missing = &record.localisation.missing;
    for modality in ["logs", "access_logs"] {
        let m = missing
            .iter()
            .find(|m| m.modality == modality)
            .unwrap_or_else(|| panic!("{modality} not missing: {missing:?}"));
        assert!(
            m.reason.starts_with("victorialogs: ") && m.reason.contains("unreachable"),
            "{modality}: {}",
            m.reason
        );
    }
    server.stop().await;
}
