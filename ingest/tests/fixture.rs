//! `load_fixture` and `read_truth` on fixture incident directories, the
//! Alertmanager webhook, and `Observations::merge`.

mod common;

use std::path::Path;

use common::{assert_names_file, bytes, data};
use ingest::{
    load_fixture, read_truth, read_webhook, IngestError, Modality, Observations, SourceStatus,
    Truth,
};

fn status(obs: &Observations, modality: Modality) -> &SourceStatus {
    obs.sources
        .iter()
        .find(|s| s.modality == modality)
        .unwrap_or_else(|| panic!("no status for {modality}"))
}

#[test]
fn webhook_and_the_zero_ends_at() {
    let hook = read_webhook(&data("alert.json"), &bytes("alert.json")).unwrap();
    assert_eq!(hook.version, "4");
    assert_eq!(hook.alerts.len(), 2);
    let firing = &hook.alerts[0];
    assert_eq!(firing.name(), "HighErrorRate");
    assert_eq!(firing.component(), Some("frontend"));
    assert_eq!(firing.starts_at_micros(), 1_714_557_630_000_000);
    assert_eq!(
        firing.ends_at, None,
        "0001-01-01T00:00:00Z means still firing"
    );
    let resolved = &hook.alerts[1];
    assert_eq!(resolved.component(), Some("cart"), "`app` label");
    assert_eq!(resolved.starts_at_micros(), 1_714_549_800_500_000);
    assert_eq!(
        resolved.ends_at.map(|t| t.timestamp_micros()),
        Some(1_714_550_280_000_000)
    );

    let err = read_webhook(&data("alert.broken.json"), &bytes("alert.broken.json")).unwrap_err();
    assert_names_file(&err, "alert.broken.json");
    assert!(err.to_string().contains("line 16"), "{err}");
    for content in [&b""[..], b"{\"version\": \"4\""] {
        let err = read_webhook(&data("alert.json"), content).unwrap_err();
        assert_names_file(&err, "alert.json");
    }
}

#[test]
fn a_whole_fixture() {
    let dir = data("fixture-shop");
    let fx = load_fixture(&dir).unwrap();
    assert_eq!(fx.dir, dir);
    let obs = &fx.observations;
    assert_eq!(fx.webhook.as_ref().map(|w| w.alerts.len()), Some(2));
    assert_eq!(obs.alerts.len(), 2);
    assert_eq!(obs.alerts[0].ends_at, None);

    assert_eq!(obs.spans.len(), 6);
    assert_eq!(obs.series.len(), 3);
    assert_eq!(obs.access.len(), 4);
    assert_eq!(obs.logs.len(), 4);

    // One name table for all: `cart` is one symbol in spans, series and logs.
    let cart = obs.names.get("cart").unwrap();
    assert!(obs.spans.iter().any(|s| s.component == cart));
    assert!(obs.series.iter().any(|s| s.component == cart));
    assert!(obs.logs.iter().any(|l| l.component == cart));
    for span in &obs.spans {
        let _ = obs.names.name(span.operation);
    }

    // `access.log`: the traces show exactly one proxy.
    for record in &obs.access {
        assert_eq!(obs.names.name(record.proxy), "frontend-proxy");
    }

    assert_eq!(
        status(obs, Modality::Traces),
        &SourceStatus {
            modality: Modality::Traces,
            records: 6,
            missing: None,
            note: None,
        }
    );
    let metrics = status(obs, Modality::Metrics);
    assert_eq!(metrics.records, 6);
    assert!(
        metrics
            .missing
            .as_deref()
            .unwrap_or("")
            .contains("1 series"),
        "{metrics:?}"
    );
    assert_eq!(status(obs, Modality::AccessLogs).records, 4);
    assert_eq!(status(obs, Modality::Logs).records, 4);
    assert_eq!(
        obs.modalities(),
        vec![
            Modality::Traces,
            Modality::Metrics,
            Modality::AccessLogs,
            Modality::Logs
        ]
    );

    assert_eq!(
        read_truth(&dir).unwrap(),
        Some(Truth {
            component: "cart".into(),
            fault: "redis connection refused".into()
        })
    );
}

#[test]
fn missing_files_are_missing_modalities() {
    let dir = data("fixture-edge");
    let fx = load_fixture(&dir).unwrap();
    let obs = &fx.observations;
    assert_eq!(obs.spans.len(), 3);
    assert_eq!(obs.access.len(), 6);
    let proxies: Vec<&str> = obs.access.iter().map(|a| obs.names.name(a.proxy)).collect();
    assert_eq!(
        proxies,
        [
            "edge",
            "edge",
            "edge",
            "ingress-nginx",
            "ingress-nginx",
            "ingress-nginx"
        ]
    );
    let logs = status(obs, Modality::Logs);
    assert_eq!(logs.records, 0);
    assert_eq!(
        logs.missing.as_deref(),
        Some(format!("no logs.json in {}", dir.display()).as_str())
    );
    assert!(status(obs, Modality::Metrics)
        .missing
        .as_deref()
        .unwrap()
        .starts_with("no metrics.json"));
    assert_eq!(status(obs, Modality::AccessLogs).records, 6);
    assert_eq!(read_truth(&dir).unwrap(), None);
}

#[test]
fn a_broken_file_fails_the_fixture() {
    let dir = data("fixture-broken");
    let err = load_fixture(&dir).unwrap_err();
    assert_eq!(err.path(), dir.join("traces.json"));
    assert!(err.to_string().contains("empty file"), "{err}");
}

#[test]
fn the_directory_must_exist() {
    let err = load_fixture(&data("no-such-fixture")).unwrap_err();
    assert!(matches!(err, IngestError::Io { .. }), "{err}");
    assert!(err.to_string().contains("no-such-fixture"), "{err}");
    let err = load_fixture(&data("alert.json")).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

fn copy(from: &str, to: &Path) {
    std::fs::write(to, bytes(from)).unwrap();
}

#[test]
fn access_log_proxy_defaults_to_ingress() {
    let tmp = tempfile::tempdir().unwrap();
    copy("access-nginx.log", &tmp.path().join("access.log"));
    let fx = load_fixture(tmp.path()).unwrap();
    let obs = &fx.observations;
    assert!(obs
        .access
        .iter()
        .all(|a| obs.names.name(a.proxy) == "ingress"));
    assert!(fx.webhook.is_none());
    assert!(obs.alerts.is_empty());
    assert_eq!(status(obs, Modality::Traces).records, 0);

    // Jaeger's `driver` is the only component with proxy spans.
    copy("traces-jaeger.json", &tmp.path().join("traces.json"));
    let fx = load_fixture(tmp.path()).unwrap();
    let obs = &fx.observations;
    assert!(obs
        .access
        .iter()
        .all(|a| obs.names.name(a.proxy) == "driver"));
}

#[test]
fn truth_errors() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("truth.json"),
        b"{\"root_cause\": {\"component\": \"a\"}}",
    )
    .unwrap();
    let err = read_truth(tmp.path()).unwrap_err();
    assert!(
        err.to_string().contains("truth.json") && err.to_string().contains("fault"),
        "{err}"
    );
    std::fs::write(tmp.path().join("truth.json"), b"").unwrap();
    assert!(read_truth(tmp.path()).is_err());
}

#[test]
fn merge_remaps_symbols() {
    let read = |name: &str, proxy: &str| {
        let mut obs = Observations::default();
        let path = data(name);
        let content = bytes(name);
        if name.starts_with("traces") {
            ingest::read_traces(&path, &content, &mut obs).unwrap();
        } else if name.starts_with("logs") {
            ingest::read_otlp_logs(&path, &content, &mut obs).unwrap();
        } else if name.starts_with("metrics") {
            ingest::read_metrics(&path, &content, &mut obs).unwrap();
        } else {
            ingest::read_access_log(&path, &content, proxy, &mut obs).unwrap();
        }
        obs
    };
    let parts = [
        read("access-envoy.jsonl", "edge"),
        read("traces-otlp.json", ""),
        read("metrics.json", ""),
        read("logs-otlp.json", ""),
        read("traces-jaeger.json", ""),
        read("access-nginx.log", "nginx"),
    ];
    // What every record says, by name, before merging.
    fn describe(obs: &Observations) -> Vec<String> {
        let n = |s| obs.names.name(s).to_string();
        let o = |s: Option<ingest::Sym>| s.map(n);
        let mut out = Vec::new();
        for s in &obs.spans {
            out.push(format!(
                "{} {} {:?} {:?}",
                n(s.component),
                n(s.operation),
                o(s.peer),
                o(s.exception)
            ));
        }
        for s in &obs.series {
            out.push(format!("{} {}", n(s.component), s.signal));
        }
        for a in &obs.access {
            out.push(format!(
                "{} {:?} {} {} {} {:?} {} {}",
                n(a.proxy),
                o(a.upstream),
                n(a.method),
                n(a.path),
                n(a.user_agent),
                o(a.tls_version),
                n(a.client),
                n(a.response_flags)
            ));
        }
        for l in &obs.logs {
            out.push(format!(
                "{} {} {:?} {:?}",
                n(l.component),
                n(l.template),
                o(l.logger),
                o(l.exception)
            ));
        }
        out
    }
    let mut expected: Vec<String> = parts.iter().flat_map(describe).collect();
    let mut merged = Observations::default();
    for part in parts {
        merged.merge(part);
    }
    let mut got = describe(&merged);
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    // Each name once.
    let mut names: Vec<&str> = merged.names.iter().map(|(_, n)| n).collect();
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count);
    // Symbols that collided before merging now mean different names.
    let frontend = merged.names.get("frontend").unwrap();
    let edge = merged.names.get("edge").unwrap();
    assert_ne!(frontend, edge);
}

/// An access log of about `mb` megabytes: Envoy JSON lines, with a blank
/// line, a CRLF line, an Envoy text line and an nginx line among them, so
/// that it is cut into several chunks when loaded.
fn big_access_log(mb: usize) -> Vec<u8> {
    let paths = ["/api/cart", "/api/checkout?x=1", "/healthz", "/api/ünïcode"];
    let mut out = Vec::new();
    let mut i = 0usize;
    while out.len() < mb << 20 {
        let line = match i % 1000 {
            17 => String::new(),
            18 => "[2024-05-01T10:00:00.123Z] \"GET /text HTTP/1.1\" 200 - 0 512 12 10 \"203.0.113.9\" \"curl/8\" \"id\" \"shop\" \"10.1.2.3:8080\"\r".to_string(),
            19 => "192.168.1.10 - - [01/May/2024:10:00:00 +0000] \"GET /nginx HTTP/1.1\" 200 612 \"-\" \"curl/8\" 123 0.012 [shop-cart-8080] [] 10.1.2.3:8080 612 0.012 200 0123456789abcdef0123456789abcdef".to_string(),
            _ => format!(
                "{{\"start_time\":\"2024-05-01T10:{:02}:{:02}.{:03}Z\",\"method\":\"GET\",\"path\":\"{}\",\"response_code\":{},\"response_flags\":\"-\",\"bytes_sent\":{},\"duration\":{},\"user_agent\":\"agent {}\",\"x_forwarded_for\":\"10.0.{}.{}\",\"upstream_cluster\":\"svc-{}\",\"downstream_tls_version\":\"TLSv1.3\",\"request_id\":\"{:032x}\"}}",
                (i / 60_000) % 60,
                (i / 1000) % 60,
                i % 1000,
                paths[i % paths.len()],
                if i % 97 == 5 { 503 } else { 200 },
                i % 5000,
                i % 300,
                i % 7,
                (i / 256) % 256,
                i % 256,
                i % 5,
                i,
            ),
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        i += 1;
    }
    out
}

/// Every access record with its names resolved.
fn access_lines(obs: &Observations) -> Vec<String> {
    let n = |s| obs.names.name(s);
    obs.access
        .iter()
        .map(|a| {
            format!(
                "{} {} {:?} {} {} {} {} {} {} {:?} {} {}",
                a.time,
                n(a.proxy),
                a.upstream.map(n),
                n(a.method),
                n(a.path),
                a.status,
                a.duration,
                a.bytes_sent,
                n(a.user_agent),
                a.tls_version.map(n),
                n(a.client),
                n(a.response_flags)
            )
        })
        .collect()
}

#[test]
fn a_big_access_log_is_read_in_chunks_as_if_whole() {
    let content = big_access_log(9);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("access.log");
    std::fs::write(&path, &content).unwrap();
    let fx = load_fixture(tmp.path()).unwrap();
    let mut whole = Observations::default();
    let n = ingest::read_access_log(&path, &content, "ingress", &mut whole).unwrap();
    assert_eq!(n as usize, whole.access.len());
    let got = &fx.observations;
    assert_eq!(status(got, Modality::AccessLogs).records, n);
    assert!(access_lines(got) == access_lines(&whole), "records differ");
    // The same names, first seen in the same order.
    let names = |o: &Observations| o.names.iter().map(|(_, n)| n.to_string()).collect();
    let (a, b): (Vec<String>, Vec<String>) = (names(got), names(&whole));
    assert_eq!(a, b);
}

#[test]
fn a_bad_line_deep_in_a_big_log_is_named_by_its_number() {
    let good = big_access_log(9);
    let newlines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count() as u64;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("access-edge.log");
    // Two bad lines past the first chunks: the first one is reported.
    let first = good.len() * 2 / 3;
    let first = first + good[first..].iter().position(|&c| c == b'\n').unwrap() + 1;
    let second = first + 5000;
    let second = second + good[second..].iter().position(|&c| c == b'\n').unwrap() + 1;
    let mut bad = good[..first].to_vec();
    bad.extend_from_slice(b"{\"start_time\": \"yesterday\"}\n");
    bad.extend_from_slice(&good[first..second]);
    bad.extend_from_slice(b"not a log line\n");
    bad.extend_from_slice(&good[second..]);
    std::fs::write(&path, &bad).unwrap();
    let err = load_fixture(tmp.path()).unwrap_err();
    let line = newlines(&good[..first]) + 1;
    match &err {
        IngestError::MalformedLine {
            path: p, line: l, ..
        } => {
            assert_eq!((p, *l), (&path, line), "{err}");
        }
        other => panic!("expected a line error, got {other}"),
    }
    assert!(err.to_string().contains("start_time"), "{err}");

    // Cut inside the last line: that line, called truncated.
    let cut = &good[..good.len() - 20];
    std::fs::write(&path, cut).unwrap();
    let err = load_fixture(tmp.path()).unwrap_err();
    match &err {
        IngestError::MalformedLine { line, .. } => assert_eq!(*line, newlines(cut) + 1),
        other => panic!("expected a line error, got {other}"),
    }
    assert!(err.to_string().contains("truncated"), "{err}");

    // Nothing but blank lines, however many.
    std::fs::write(&path, vec![b'\n'; 9 << 20]).unwrap();
    let err = load_fixture(tmp.path()).unwrap_err();
    assert_eq!(err.path(), path);
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn of_several_broken_files_the_first_in_merge_order_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("access.log"), b"not a log line\n").unwrap();
    std::fs::write(tmp.path().join("logs.json"), b"{").unwrap();
    copy("traces-otlp.broken.json", &tmp.path().join("traces.json"));
    let err = load_fixture(tmp.path()).unwrap_err();
    assert_eq!(err.path(), tmp.path().join("traces.json"), "{err}");
    copy("traces-otlp.json", &tmp.path().join("traces.json"));
    let err = load_fixture(tmp.path()).unwrap_err();
    assert_eq!(err.path(), tmp.path().join("access.log"), "{err}");
}

/// A directory holding `files`, each a copy of the test data of that name.
fn holding(files: &[&str]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for f in files {
        copy(f, &tmp.path().join(f));
    }
    tmp
}

#[test]
fn a_fixture_of_only_metrics_has_every_other_modality_missing() {
    let tmp = holding(&["metrics.json"]);
    let fx = load_fixture(tmp.path()).unwrap();
    let obs = &fx.observations;
    assert!(!obs.series.is_empty());
    assert_eq!(obs.modalities(), vec![Modality::Metrics]);
    for (m, file) in [
        (Modality::Traces, "traces.json"),
        (Modality::AccessLogs, "access.log or access-<proxy>.log"),
        (Modality::Logs, "logs.json"),
    ] {
        assert_eq!(
            status(obs, m).missing.as_deref(),
            Some(format!("no {file} in {}", tmp.path().display()).as_str())
        );
    }
    assert!(
        !obs.sources
            .iter()
            .any(|s| s.modality == Modality::Goroutines),
        "no goroutines directory: Go components are not the rule"
    );
}

#[test]
fn a_fixture_of_only_an_alert_loads_with_every_modality_missing() {
    let tmp = holding(&["alert.json"]);
    let fx = load_fixture(tmp.path()).unwrap();
    let obs = &fx.observations;
    assert_eq!(obs.alerts.len(), 2);
    assert!(obs.modalities().is_empty());
    for m in [
        Modality::Traces,
        Modality::Metrics,
        Modality::AccessLogs,
        Modality::Logs,
    ] {
        let s = status(obs, m);
        assert_eq!(s.records, 0);
        assert!(s.missing.as_deref().unwrap().starts_with("no "), "{s:?}");
    }
}

#[test]
fn a_directory_with_nothing_holds_no_observations() {
    let tmp = tempfile::tempdir().unwrap();
    let err = load_fixture(tmp.path()).unwrap_err();
    assert_eq!(err.path(), tmp.path());
    let msg = err.to_string();
    assert!(
        msg.contains("holds no observations") && msg.contains("alert.json, traces.json"),
        "{msg}"
    );
    // A truth alone, or an empty goroutines directory, is no observation either.
    std::fs::write(
        tmp.path().join("truth.json"),
        br#"{"root_cause": {"component": "a", "fault": "b"}}"#,
    )
    .unwrap();
    std::fs::create_dir(tmp.path().join("goroutines")).unwrap();
    let msg = load_fixture(tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("holds no observations"), "{msg}");
}

#[test]
fn files_that_hold_no_records_and_no_alert_are_no_observations() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("traces.json"), br#"{"resourceSpans": []}"#).unwrap();
    let msg = load_fixture(tmp.path()).unwrap_err().to_string();
    assert!(
        msg.contains("holds no observations (no alert, and no records in traces.json)"),
        "{msg}"
    );
}

#[test]
fn an_empty_goroutines_directory_is_a_missing_modality() {
    let tmp = holding(&["metrics.json"]);
    let g = tmp.path().join("goroutines");
    std::fs::create_dir(&g).unwrap();
    let fx = load_fixture(tmp.path()).unwrap();
    let s = status(&fx.observations, Modality::Goroutines);
    assert_eq!(s.records, 0);
    assert_eq!(
        s.missing.as_deref(),
        Some(format!("no goroutine dumps under {}", g.display()).as_str())
    );
    // A component's directory without dumps: the same.
    std::fs::create_dir(g.join("checkout")).unwrap();
    let fx = load_fixture(tmp.path()).unwrap();
    assert!(fx.observations.goroutines.is_empty());
    assert!(status(&fx.observations, Modality::Goroutines)
        .missing
        .is_some());
}

#[test]
fn a_broken_goroutine_dump_names_its_file() {
    let tmp = holding(&["metrics.json"]);
    let comp = tmp.path().join("goroutines").join("checkout");
    std::fs::create_dir_all(&comp).unwrap();
    std::fs::write(comp.join("1767261600.txt"), b"this is no goroutine dump\n").unwrap();
    let err = load_fixture(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("1767261600.txt"), "{err}");
}
