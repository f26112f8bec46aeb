//! `read_otlp_logs` on OTLP JSON logs, and on broken, truncated and empty files.

mod common;

use common::{assert_names_file, bytes, data, truncated};
use ingest::{read_otlp_logs, IngestError, LogLevel, Observations};

fn read_bytes(name: &str, content: &[u8]) -> Result<Observations, IngestError> {
    let mut obs = Observations::default();
    let n = read_otlp_logs(&data(name), content, &mut obs)?;
    assert_eq!(n as usize, obs.logs.len());
    Ok(obs)
}

#[test]
fn otlp_json_logs() {
    let obs = read_bytes("logs-otlp.json", &bytes("logs-otlp.json")).unwrap();
    let name = |s| obs.names.name(s);
    assert_eq!(obs.logs.len(), 4);

    let first = &obs.logs[0];
    assert_eq!(first.time, 1_714_557_600_100_000);
    assert_eq!(name(first.component), "cart");
    assert_eq!(first.level, LogLevel::Error);
    assert_eq!(
        name(first.template),
        "redis GET <*> failed after <*> retries: connection to <*> refused"
    );
    assert_eq!(first.trace_id, Some(0x5b8efff798038103d269b633813fc60c));
    assert_eq!(first.exception.map(name), Some("redis.ConnectionError"));
    assert_eq!(first.logger.map(name), Some("cart.store"), "scope name");

    let second = &obs.logs[1];
    assert_eq!(
        second.time, 1_714_557_600_200_000,
        "observed time stands in"
    );
    assert_eq!(second.level, LogLevel::Warn, "severityText");
    assert_eq!(
        name(second.template),
        "cache miss for user <*>",
        "first line only"
    );
    assert_eq!(
        second.logger.map(name),
        Some("cart.cache"),
        "logger.name attribute"
    );
    assert_eq!(second.trace_id, None);
    assert_eq!(second.exception, None);

    let third = &obs.logs[2];
    assert_eq!(third.level, LogLevel::Info, "severity by enum name");
    assert_eq!(
        third.exception.map(name),
        Some("java.net.SocketTimeoutException")
    );
    assert_eq!(third.trace_id, None, "empty traceId");

    let fourth = &obs.logs[3];
    assert_eq!(name(fourth.component), "unknown");
    assert_eq!(fourth.level, LogLevel::Fatal);
    assert_eq!(name(fourth.template), "<*>", "a non-string body as text");
    assert_eq!(fourth.logger, None);
}

#[test]
fn broken_twin() {
    let err = read_bytes("logs-otlp.broken.json", &bytes("logs-otlp.broken.json")).unwrap_err();
    assert_names_file(&err, "logs-otlp.broken.json");
    assert!(err.to_string().contains("xyz-not-an-id"), "{err}");
    assert!(err.to_string().contains("log record 1"), "{err}");
}

#[test]
fn malformed_truncated_and_empty() {
    let good = bytes("logs-otlp.json");
    let err = read_bytes("logs.json", truncated(&good)).unwrap_err();
    assert_names_file(&err, "logs.json");
    assert!(matches!(err, IngestError::Json { .. }), "{err}");
    for (content, says) in [
        (&b""[..], "empty file"),
        (b"{", "invalid JSON"),
        (br#"{"resourceSpans": []}"#, "resourceLogs"),
        (br#"{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}}]}]}]}"#, "timeUnixNano"),
        (br#"{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": {}}]}]}]}"#, "line 1"),
    ] {
        let err = read_bytes("logs.json", content).unwrap_err();
        assert_names_file(&err, "logs.json");
        assert!(err.to_string().contains(says), "{err}");
    }
}
