//! `read_traces` on OTLP JSON, Jaeger v2 (`/api/v3/traces`, base64 IDs) and
//! Jaeger JSON, and on broken, truncated and empty files.

mod common;

use common::{assert_names_file, bytes, data, truncated};
use ingest::{read_traces, IngestError, Observations, Span, SpanKind};

fn read(name: &str) -> Result<(u64, Observations), IngestError> {
    let mut obs = Observations::default();
    let n = read_traces(&data(name), &bytes(name), &mut obs)?;
    Ok((n, obs))
}

fn read_bytes(name: &str, content: &[u8]) -> Result<Observations, IngestError> {
    let mut obs = Observations::default();
    read_traces(&data(name), content, &mut obs)?;
    Ok(obs)
}

fn name(obs: &Observations, sym: ingest::Sym) -> &str {
    obs.names.name(sym)
}

fn opt_name(obs: &Observations, sym: Option<ingest::Sym>) -> Option<&str> {
    sym.map(|s| obs.names.name(s))
}

fn by_id(obs: &Observations, id: u64) -> &Span {
    obs.spans
        .iter()
        .find(|s| s.span_id == id)
        .unwrap_or_else(|| panic!("no span {id:016x}"))
}

const TRACE: u128 = 0x5b8efff798038103d269b633813fc60c;
const T0: i64 = 1_714_557_600_000_000;

#[test]
fn otlp_json() {
    let (n, obs) = read("traces-otlp.json").unwrap();
    assert_eq!(n, 6);
    assert_eq!(obs.spans.len(), 6);

    let root = by_id(&obs, 0xeee19b7ec3c1b174);
    assert_eq!(root.trace_id, TRACE);
    assert_eq!(root.parent_id, 0);
    assert_eq!(name(&obs, root.component), "frontend");
    assert_eq!(name(&obs, root.operation), "GET /checkout");
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(root.start, T0);
    assert_eq!(root.duration, 250_000);
    assert_eq!(root.http_status, 503);
    // A 5xx alone is not an error: only the status (or an error tag) says so.
    assert!(!root.error);
    assert_eq!(root.peer, None);
    assert!(!root.proxy);

    let client = by_id(&obs, 0xeee19b7ec3c1b175);
    assert_eq!(client.parent_id, 0xeee19b7ec3c1b174);
    assert_eq!(client.kind, SpanKind::Client, "kind by name");
    assert_eq!(client.start, T0 + 10_000, "times as JSON numbers");
    assert_eq!(client.duration, 230_000);
    assert_eq!(
        opt_name(&obs, client.peer),
        Some("cart"),
        "peer.service first"
    );
    assert_eq!(client.http_status, 503, "http.status_code as a number");
    assert!(client.error, "status code 2");

    // This resource's attributes come after its spans in the file.
    let cart = by_id(&obs, 0xaaa19b7ec3c1b176);
    assert_eq!(name(&obs, cart.component), "cart");
    assert!(cart.error, "STATUS_CODE_ERROR");
    assert_eq!(
        opt_name(&obs, cart.exception),
        Some("redis.ConnectionError")
    );

    let db = by_id(&obs, 0xaaa19b7ec3c1b177);
    assert_eq!(name(&obs, db.component), "cart");
    assert_eq!(
        opt_name(&obs, db.peer),
        Some("redis"),
        "db.system as the peer"
    );
    assert!(!db.error);

    let proxy = by_id(&obs, 0xbbb19b7ec3c1b100);
    assert_eq!(name(&obs, proxy.component), "frontend-proxy");
    assert!(proxy.proxy);
    assert_eq!(proxy.parent_id, 0, "no parentSpanId: a root");
    assert_eq!(proxy.http_status, 503, "status code as a string");

    let cron = by_id(&obs, 0xb7ad6b7169203331);
    assert_eq!(name(&obs, cron.component), "unknown");
    assert_eq!(cron.kind, SpanKind::Internal);
    assert_eq!(cron.duration, 500);
}

#[test]
fn otlp_json_broken_twin() {
    let err = read("traces-otlp.broken.json").unwrap_err();
    assert_names_file(&err, "traces-otlp.broken.json");
    let msg = err.to_string();
    assert!(
        msg.contains("spanId") && msg.contains("not-a-span-id!"),
        "{msg}"
    );
    assert!(msg.contains("line 81"), "says where: {msg}");
}

#[test]
fn jaeger_v3_answer_with_base64_ids_in_two_chunks() {
    let (n, obs) = read("traces-jaeger-v3.json").unwrap();
    assert_eq!(n, 3);
    let root = by_id(&obs, 0xeee19b7ec3c1b174);
    assert_eq!(root.trace_id, TRACE);
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(name(&obs, root.component), "checkout");
    assert_eq!(name(&obs, root.operation), "PlaceOrder");
    assert!(!root.error);

    let charge = by_id(&obs, 0xeee19b7ec3c1b175);
    assert_eq!(charge.parent_id, 0xeee19b7ec3c1b174);
    assert!(charge.error);
    assert_eq!(
        opt_name(&obs, charge.peer),
        Some("payment"),
        "net.peer.name"
    );

    // The second chunk's names are re-interned into the same table.
    let server = by_id(&obs, 0x0102030405060708);
    assert_eq!(server.parent_id, 0xeee19b7ec3c1b175);
    assert_eq!(name(&obs, server.component), "payment");
    assert_eq!(
        server.operation, charge.operation,
        "one symbol for `Charge`"
    );
}

#[test]
fn jaeger_v3_broken_twin() {
    let err = read("traces-jaeger-v3.broken.json").unwrap_err();
    assert_names_file(&err, "traces-jaeger-v3.broken.json");
    assert!(err.to_string().contains("spanId"), "{err}");
}

#[test]
fn jaeger_json() {
    let (n, obs) = read("traces-jaeger.json").unwrap();
    assert_eq!(n, 3);

    let root = by_id(&obs, 0xeee19b7ec3c1b174);
    assert_eq!(root.trace_id, TRACE);
    assert_eq!(name(&obs, root.component), "frontend");
    assert_eq!(name(&obs, root.operation), "HTTP GET /dispatch");
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(root.start, T0);
    assert_eq!(root.duration, 250_000);
    assert_eq!(root.http_status, 500);
    assert!(root.error, "error=true tag");
    assert_eq!(root.parent_id, 0);

    let driver = by_id(&obs, 0xeee19b7ec3c1b175);
    assert_eq!(name(&obs, driver.component), "driver");
    assert_eq!(
        driver.parent_id, 0xeee19b7ec3c1b174,
        "CHILD_OF before FOLLOWS_FROM"
    );
    assert_eq!(driver.kind, SpanKind::Client);
    assert_eq!(opt_name(&obs, driver.peer), Some("redis"));
    assert!(driver.proxy);
    assert_eq!(
        opt_name(&obs, driver.exception),
        Some("TimeoutError"),
        "error.kind"
    );
    assert!(!driver.error);

    let orphan = by_id(&obs, 0xeee19b7ec3c1b176);
    assert_eq!(
        name(&obs, orphan.component),
        "unknown",
        "process p9 is not listed"
    );
    assert!(orphan.error, "error tag as the string \"true\"");
    assert_eq!(
        opt_name(&obs, orphan.exception),
        Some("error"),
        "event=error"
    );
}

#[test]
fn jaeger_json_broken_twin() {
    let err = read("traces-jaeger.broken.json").unwrap_err();
    assert_names_file(&err, "traces-jaeger.broken.json");
    assert!(err.to_string().contains("yesterday"), "{err}");
}

#[test]
fn malformed_truncated_and_empty_files_name_the_file() {
    for good in [
        "traces-otlp.json",
        "traces-jaeger-v3.json",
        "traces-jaeger.json",
    ] {
        let content = bytes(good);
        let err = read_bytes(good, truncated(&content)).unwrap_err();
        assert_names_file(&err, good);
        assert!(matches!(err, IngestError::Json { .. }), "{err}");
    }
    let cases: [(&[u8], &str); 8] = [
        (b"", "empty file"),
        (b"  \n\t ", "empty file"),
        (b"hello", "invalid JSON"),
        (b"[1, 2]", "OTLP"),
        (br#"{"foo": 1}"#, "neither OTLP nor Jaeger"),
        (
            br#"{"error": {"code": 5, "message": "trace not found"}}"#,
            "trace not found",
        ),
        (
            br#"{"data": null, "errors": [{"code": 500, "msg": "storage down"}]}"#,
            "storage down",
        ),
        (b"\xff\xfe{}", "not UTF-8"),
    ];
    for (content, says) in cases {
        let err = read_bytes("traces.json", content).unwrap_err();
        assert_names_file(&err, "traces.json");
        assert!(
            err.to_string().contains(says),
            "{:?}: {err}",
            String::from_utf8_lossy(content)
        );
    }
}

#[test]
fn valid_files_without_spans() {
    for content in [
        &br#"{"resourceSpans": []}"#[..],
        br#"{"result": {"resourceSpans": null}}"#,
        br#"{"data": [], "total": 0, "errors": null}"#,
        b"\xEF\xBB\xBF{\"resourceSpans\": []}",
    ] {
        let obs = read_bytes("traces.json", content).unwrap();
        assert!(obs.spans.is_empty());
    }
}

#[test]
fn spans_need_ids_and_a_start() {
    let span = |fields: &str| {
        format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{{fields}}}]}}]}}]}}"#)
    };
    for (fields, says) in [
        (
            r#""spanId":"eee19b7ec3c1b174","startTimeUnixNano":"1""#,
            "traceId",
        ),
        (
            r#""traceId":"5b8efff798038103d269b633813fc60c","startTimeUnixNano":"1""#,
            "spanId",
        ),
        (
            r#""traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174""#,
            "startTimeUnixNano",
        ),
        (
            r#""traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"??","startTimeUnixNano":"1""#,
            "parentSpanId",
        ),
        (
            r#""traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","startTimeUnixNano":"soon""#,
            "soon",
        ),
    ] {
        let err = read_bytes("t.json", span(fields).as_bytes()).unwrap_err();
        assert_names_file(&err, "t.json");
        assert!(err.to_string().contains(says), "{fields}: {err}");
    }
}

#[test]
fn reading_twice_into_one_observations_shares_names() {
    let mut obs = Observations::default();
    let path = data("traces-otlp.json");
    let content = bytes("traces-otlp.json");
    read_traces(&path, &content, &mut obs).unwrap();
    let names = obs.names.len();
    read_traces(&path, &content, &mut obs).unwrap();
    assert_eq!(obs.spans.len(), 12);
    assert_eq!(obs.names.len(), names, "no name interned twice");
    assert_eq!(obs.spans[0], obs.spans[6]);
}

#[test]
fn a_failed_read_adds_no_spans() {
    let mut obs = Observations::default();
    read_traces(
        &data("traces-otlp.json"),
        &bytes("traces-otlp.json"),
        &mut obs,
    )
    .unwrap();
    let before = obs.spans.clone();
    for broken in [
        "traces-otlp.broken.json",
        "traces-jaeger.broken.json",
        "traces-jaeger-v3.broken.json",
    ] {
        read_traces(&data(broken), &bytes(broken), &mut obs).unwrap_err();
        assert_eq!(obs.spans, before, "{broken}");
    }
}

#[test]
fn a_span_keeps_the_name_of_its_first_event_that_is_not_an_exception() {
    // OTLP JSON: span events, an exception among them.
    let otlp = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"mysql"}}]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"SQL SELECT","kind":2,"startTimeUnixNano":"1714557600000000000","endTimeUnixNano":"1714557600250000000","events":[{"name":"exception","attributes":[{"key":"exception.type","value":{"stringValue":"IOError"}}]},{"name":"Waiting for lock behind 3 transactions"},{"name":"Acquired lock with 0 transactions waiting behind"}]}]}]}]}"#;
    let obs = read_bytes("events.json", otlp.as_bytes()).unwrap();
    let s = &obs.spans[0];
    assert_eq!(opt_name(&obs, s.exception), Some("IOError"));
    assert_eq!(
        opt_name(&obs, s.event),
        Some("Waiting for lock behind 3 transactions")
    );

    // Jaeger JSON: span logs, an error log first, then a message.
    let jaeger = r#"{"data":[{"traceID":"5b8efff798038103d269b633813fc60c","spans":[{"traceID":"5b8efff798038103d269b633813fc60c","spanID":"eee19b7ec3c1b174","operationName":"SQL SELECT","references":[],"startTime":1714557600000000,"duration":250000,"tags":[],"logs":[{"timestamp":1714557600000001,"fields":[{"key":"event","type":"string","value":"error"}]},{"timestamp":1714557600000002,"fields":[{"key":"message","type":"string","value":"Waiting for lock behind 2 transactions"}]}],"processID":"p1"}],"processes":{"p1":{"serviceName":"mysql","tags":[]}}}]}"#;
    let obs = read_bytes("events-jaeger.json", jaeger.as_bytes()).unwrap();
    let s = &obs.spans[0];
    assert_eq!(opt_name(&obs, s.exception), Some("error"));
    assert_eq!(
        opt_name(&obs, s.event),
        Some("Waiting for lock behind 2 transactions")
    );
}
