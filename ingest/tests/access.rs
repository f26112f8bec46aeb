//! `read_access_log` on Envoy JSON lines, Envoy's default text format and
//! ingress-nginx's `upstreaminfo` format, and on broken, truncated and empty files.

mod common;

use common::{assert_names_file, assert_names_line, bytes, data, truncated};
use ingest::{read_access_log, AccessRecord, IngestError, Observations};

const T0: i64 = 1_714_557_600_000_000;

fn read_bytes(name: &str, content: &[u8]) -> Result<Observations, IngestError> {
    let mut obs = Observations::default();
    let n = read_access_log(&data(name), content, "edge", &mut obs)?;
    assert_eq!(n as usize, obs.access.len());
    Ok(obs)
}

fn read(name: &str) -> Result<Observations, IngestError> {
    read_bytes(name, &bytes(name))
}

/// A record with its names resolved, for comparing whole records.
#[derive(Debug, PartialEq)]
struct Line<'a> {
    time: i64,
    proxy: &'a str,
    upstream: Option<&'a str>,
    method: &'a str,
    path: &'a str,
    status: u16,
    duration: i64,
    bytes_sent: u64,
    user_agent: &'a str,
    tls_version: Option<&'a str>,
    client: &'a str,
    response_flags: &'a str,
}

fn line<'a>(obs: &'a Observations, r: &AccessRecord) -> Line<'a> {
    let n = |s| obs.names.name(s);
    Line {
        time: r.time,
        proxy: n(r.proxy),
        upstream: r.upstream.map(n),
        method: n(r.method),
        path: n(r.path),
        status: r.status,
        duration: r.duration,
        bytes_sent: r.bytes_sent,
        user_agent: n(r.user_agent),
        tls_version: r.tls_version.map(n),
        client: n(r.client),
        response_flags: n(r.response_flags),
    }
}

fn lines(obs: &Observations) -> Vec<Line<'_>> {
    obs.access.iter().map(|r| line(obs, r)).collect()
}

#[test]
fn envoy_json_lines() {
    let obs = read("access-envoy.jsonl").unwrap();
    assert_eq!(
        lines(&obs),
        vec![
            Line {
                time: T0 + 123_000,
                proxy: "edge",
                upstream: Some("outbound|8080||cart.shop.svc.cluster.local"),
                method: "GET",
                path: "/api/cart",
                status: 200,
                duration: 12_000,
                bytes_sent: 512,
                user_agent: "Mozilla/5.0 (X11; Linux x86_64)",
                tls_version: Some("TLSv1.3"),
                client: "203.0.113.9",
                response_flags: "-",
            },
            Line {
                time: T0 + 1_000_000,
                proxy: "edge",
                upstream: Some("checkout"),
                method: "POST",
                path: "/api/checkout",
                status: 503,
                duration: 250_000,
                bytes_sent: 91,
                user_agent: "curl/8.5.0",
                tls_version: None,
                client: "2001:db8::7",
                response_flags: "UF",
            },
            Line {
                time: T0 + 2_500_000,
                proxy: "edge",
                upstream: None,
                method: "GET",
                path: "/healthz",
                status: 0,
                duration: 0,
                bytes_sent: 0,
                user_agent: "kube-probe/1.29 \"quoted\"",
                tls_version: None,
                client: "-",
                response_flags: "UH",
            },
        ]
    );
}

#[test]
fn envoy_default_text_format() {
    let obs = read("access-envoy.log").unwrap();
    let got = lines(&obs);
    assert_eq!(got.len(), 4);
    assert_eq!(
        got[0],
        Line {
            time: T0 + 123_000,
            proxy: "edge",
            upstream: None,
            method: "GET",
            path: "/api/cart",
            status: 200,
            duration: 12_000,
            bytes_sent: 512,
            user_agent: "Mozilla/5.0 (X11; Linux x86_64)",
            tls_version: None,
            client: "203.0.113.9",
            response_flags: "-",
        }
    );
    assert_eq!(
        (
            got[1].method,
            got[1].status,
            got[1].response_flags,
            got[1].client,
            got[1].duration
        ),
        ("POST", 503, "UF", "-", 250_000)
    );
    assert_eq!(
        (
            got[2].method,
            got[2].path,
            got[2].status,
            got[2].response_flags
        ),
        ("-", "-", 0, "UH"),
        "a reset before any request"
    );
    assert_eq!(got[3].path, "/search");
    assert_eq!(got[3].user_agent, "agent \"with\" quotes", "escaped quotes");
}

#[test]
fn ingress_nginx_upstreaminfo_format() {
    let obs = read("access-nginx.log").unwrap();
    let got = lines(&obs);
    assert_eq!(
        got[0],
        Line {
            time: T0,
            proxy: "edge",
            upstream: Some("shop-cart-8080"),
            method: "GET",
            path: "/api/cart",
            status: 200,
            duration: 12_000,
            bytes_sent: 612,
            user_agent: "Mozilla/5.0 (X11; Linux x86_64)",
            tls_version: None,
            client: "192.168.1.10",
            response_flags: "-",
        }
    );
    // Retries: the upstream fields are lists.
    assert_eq!(got[1].time, T0 + 1_000_000, "+0200 taken into account");
    assert_eq!(got[1].upstream, Some("shop-checkout-80"));
    assert_eq!(got[1].status, 502);
    assert_eq!(got[1].duration, 1_502_000);
    // A TLS handshake on the plain port: no request line to speak of.
    assert_eq!((got[2].method, got[2].path, got[2].status), ("-", "-", 400));
    assert_eq!(got[2].upstream, None);
    assert_eq!(got.len(), 3);
}

#[test]
fn formats_are_told_per_line() {
    let mut mixed = Vec::new();
    for name in ["access-nginx.log", "access-envoy.jsonl", "access-envoy.log"] {
        mixed.extend_from_slice(&bytes(name));
    }
    let obs = read_bytes("mixed.log", &mixed).unwrap();
    assert_eq!(obs.access.len(), 3 + 3 + 4);
    let crlf = String::from_utf8(bytes("access-envoy.log"))
        .unwrap()
        .replace('\n', "\r\n");
    let obs = read_bytes("crlf.log", crlf.as_bytes()).unwrap();
    assert_eq!(obs.access.len(), 4);
}

#[test]
fn broken_twins_name_the_line() {
    for (name, line) in [
        ("access-envoy.broken.jsonl", 2),
        ("access-envoy.broken.log", 3),
        ("access-nginx.broken.log", 2),
    ] {
        let err = read(name).unwrap_err();
        assert_names_line(&err, name, line);
    }
}

#[test]
fn truncated_and_empty() {
    for name in ["access-envoy.jsonl", "access-envoy.log", "access-nginx.log"] {
        let good = bytes(name);
        // Cut inside the last line: no newline at the end, and unparseable.
        let cut = &good[..good.len() - 20];
        let err = read_bytes(name, cut).unwrap_err();
        let last = cut.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        assert_names_line(&err, name, last);
        assert!(err.to_string().contains("truncated"), "{err}");

        let half = truncated(&good);
        let err = read_bytes(name, half).unwrap_err();
        assert_names_file(&err, name);
    }
    for content in [&b""[..], b"\n\n  \n"] {
        let err = read_bytes("access.log", content).unwrap_err();
        assert_names_file(&err, "access.log");
        assert!(err.to_string().contains("empty"), "{err}");
    }
}

#[test]
fn a_complete_last_line_needs_no_newline() {
    let good = bytes("access-envoy.log");
    let trimmed = good.strip_suffix(b"\n").unwrap();
    assert_eq!(read_bytes("a.log", trimmed).unwrap().access.len(), 4);
}

#[test]
fn invalid_utf8_in_a_field_is_kept_not_fatal() {
    let line = b"[2024-05-01T10:00:00.123Z] \"GET / HTTP/1.1\" 200 - 0 1 1 - \"-\" \"bad \xff agent\" \"-\" \"-\" \"-\"\n";
    let obs = read_bytes("a.log", line).unwrap();
    assert_eq!(
        obs.names.name(obs.access[0].user_agent),
        "bad \u{fffd} agent"
    );
}

#[test]
fn garbage_lines_are_errors() {
    for (content, says) in [
        (&b"hello world\n"[..], "nginx"),
        (
            b"[2024-05-01T10:00:00Z] \"GET / HTTP/1.1\" 200\n",
            "RESPONSE_FLAGS",
        ),
        (
            b"[yesterday] \"GET / HTTP/1.1\" 200 - 0 1 1 - \"-\" \"-\" \"-\" \"-\" \"-\"\n",
            "START_TIME",
        ),
        (b"{\"method\": \"GET\"}\n", "start_time"),
        (
            b"{\"start_time\": \"2024-05-01T10:00:00Z\", \"duration\": -5}\n",
            "negative",
        ),
        (
            b"{\"start_time\": \"2024-05-01T10:00:00Z\"} trailing\n",
            "trailing",
        ),
    ] {
        let err = read_bytes("access.log", content).unwrap_err();
        assert_names_line(&err, "access.log", 1);
        assert!(err.to_string().contains(says), "{err}");
    }
}
