//! A timing check run by hand, not a test:
//!
//! ```sh
//! cargo run --release -p ingest --example parse_speed [-- SPANS LINES]
//! ```
//!
//! Generates an OTLP JSON trace file (1M spans by default, ~360 bytes each),
//! a Jaeger JSON one, and access logs (1M lines by default) in each of the
//! three formats, in memory, then times each reader on one thread, best of
//! three runs.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use ingest::{read_access_log, read_traces, Observations};

/// xorshift64*: a deterministic stand-in for real variety.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SERVICES: [&str; 8] = [
    "frontend",
    "cart",
    "checkout",
    "payment",
    "shipping",
    "currency",
    "ad",
    "recommendation",
];
const ROUTES: [&str; 6] = [
    "GET /api/v1/orders/{id}",
    "POST /api/v1/cart",
    "GET /api/v1/products",
    "grpc.health.v1.Health/Check",
    "SELECT orders",
    "PaymentService/Charge",
];

fn otlp(spans: usize) -> String {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let per_scope = 1000;
    let mut out = String::with_capacity(spans * 380);
    out.push_str(r#"{"resourceSpans":["#);
    let mut written = 0;
    let mut first_rs = true;
    while written < spans {
        if !first_rs {
            out.push(',');
        }
        first_rs = false;
        let service = SERVICES[rng.below(SERVICES.len() as u64) as usize];
        write!(
            out,
            r#"{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{service}"}}}}]}},"scopeSpans":[{{"scope":{{"name":"otel"}},"spans":["#
        )
        .unwrap();
        for i in 0..per_scope.min(spans - written) {
            if i > 0 {
                out.push(',');
            }
            let trace: u128 = ((rng.next() as u128) << 64) | rng.next() as u128;
            let span = rng.next() | 1;
            let parent = if i % 4 == 0 { 0 } else { rng.next() | 1 };
            let start: u64 = 1_714_557_600_000_000_000 + rng.below(600_000_000_000);
            let end = start + rng.below(2_000_000_000);
            let route = ROUTES[rng.below(ROUTES.len() as u64) as usize];
            let status = [200, 200, 200, 404, 503][rng.below(5) as usize];
            let parent_hex = if parent == 0 {
                String::new()
            } else {
                format!("{parent:016x}")
            };
            write!(
                out,
                r#"{{"traceId":"{trace:032x}","spanId":"{span:016x}","parentSpanId":"{parent_hex}","name":"{route}","kind":{kind},"startTimeUnixNano":"{start}","endTimeUnixNano":"{end}","attributes":[{{"key":"http.response.status_code","value":{{"intValue":"{status}"}}}},{{"key":"server.address","value":{{"stringValue":"{peer}.svc"}}}},{{"key":"net.host.port","value":{{"intValue":8080}}}}],"status":{{"code":{code}}}}}"#,
                kind = 1 + rng.below(3),
                peer = SERVICES[rng.below(SERVICES.len() as u64) as usize],
                code = if status >= 500 { 2 } else { 0 },
            )
            .unwrap();
            written += 1;
        }
        out.push_str("]}]}");
    }
    out.push_str("]}");
    out
}

fn jaeger(spans: usize) -> String {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut out = String::with_capacity(spans * 500);
    out.push_str(r#"{"data":["#);
    let per_trace = 20;
    let mut written = 0;
    while written < spans {
        if written > 0 {
            out.push(',');
        }
        let trace: u128 = ((rng.next() as u128) << 64) | rng.next() as u128;
        write!(out, r#"{{"traceID":"{trace:032x}","spans":["#).unwrap();
        for i in 0..per_trace.min(spans - written) {
            if i > 0 {
                out.push(',');
            }
            let span = rng.next() | 1;
            let parent = rng.next() | 1;
            write!(
                out,
                r#"{{"traceID":"{trace:032x}","spanID":"{span:016x}","operationName":"{op}","references":[{{"refType":"CHILD_OF","traceID":"{trace:032x}","spanID":"{parent:016x}"}}],"startTime":{start},"duration":{dur},"tags":[{{"key":"span.kind","type":"string","value":"server"}},{{"key":"http.status_code","type":"int64","value":200}}],"logs":[],"processID":"p{p}"}}"#,
                op = ROUTES[rng.below(ROUTES.len() as u64) as usize],
                start = 1_714_557_600_000_000u64 + rng.below(600_000_000),
                dur = rng.below(2_000_000),
                p = 1 + rng.below(3),
            )
            .unwrap();
            written += 1;
        }
        out.push_str(r#"],"processes":{"p1":{"serviceName":"cart","tags":[]},"p2":{"serviceName":"checkout","tags":[]},"p3":{"serviceName":"payment","tags":[]}}}"#);
    }
    out.push_str(r#"],"total":0,"limit":0,"offset":0,"errors":null}"#);
    out
}

const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "curl/8.5.0",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
];

fn access(lines: usize, format: &str) -> String {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut out = String::with_capacity(lines * 400);
    for _ in 0..lines {
        let ms = rng.below(600_000);
        let (s, frac) = (ms / 1000, ms % 1000);
        let (mi, se) = (s / 60, s % 60);
        let path = format!("/api/v1/orders/{}", rng.below(2000));
        let status = [200, 200, 200, 201, 404, 503][rng.below(6) as usize];
        let agent = AGENTS[rng.below(4) as usize];
        let client = format!("10.0.{}.{}", rng.below(4), rng.below(250));
        let dur = rng.below(900);
        let id = format!("{:016x}{:016x}", rng.next(), rng.next());
        match format {
            "envoy-json" => writeln!(
                out,
                r#"{{"start_time":"2024-05-01T10:{mi:02}:{se:02}.{frac:03}Z","method":"GET","path":"{path}","protocol":"HTTP/1.1","response_code":{status},"response_flags":"-","bytes_received":0,"bytes_sent":1234,"duration":{dur},"upstream_service_time":"{dur}","x_forwarded_for":null,"user_agent":"{agent}","request_id":"{id}","authority":"shop.example.com","upstream_host":"10.1.2.3:8080","upstream_cluster":"outbound|8080||cart.default.svc.cluster.local","downstream_tls_version":"TLSv1.3","downstream_remote_address":"{client}:51234"}}"#
            ),
            "envoy-text" => writeln!(
                out,
                r#"[2024-05-01T10:{mi:02}:{se:02}.{frac:03}Z] "GET {path} HTTP/1.1" {status} - 0 1234 {dur} {dur} "{client}" "{agent}" "{id}" "shop.example.com" "10.1.2.3:8080""#
            ),
            _ => writeln!(
                out,
                r#"{client} - - [01/May/2024:10:{mi:02}:{se:02} +0000] "GET {path} HTTP/1.1" {status} 1234 "-" "{agent}" 512 0.{dur:03} [default-cart-8080] [] 10.1.2.3:8080 1234 0.{dur:03} {status} {id}"#
            ),
        }
        .unwrap();
    }
    out
}

/// Times `run` three times; the drop of what it built is not timed.
fn best_of_three(run: impl FnMut() -> (u64, Observations)) -> (Duration, u64) {
    best_of(3, run)
}

/// The fastest of `runs` runs, in on-CPU time of this thread where Linux
/// tells it (`/proc/thread-self/schedstat`), else in wall time: the machine
/// is shared, and time spent waiting for a core is not the parser's.
fn best_of(runs: usize, mut run: impl FnMut() -> (u64, Observations)) -> (Duration, u64) {
    let mut best = Duration::MAX;
    let mut n = 0;
    for _ in 0..runs {
        let (cpu0, t) = (cpu_time(), Instant::now());
        let (count, obs) = run();
        let took = match (cpu0, cpu_time()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => t.elapsed(),
        };
        best = best.min(took);
        n = count;
        drop(obs);
    }
    (best, n)
}

fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn report(what: &str, bytes: usize, (took, n): (Duration, u64)) {
    let secs = took.as_secs_f64();
    println!(
        "{what:<28} {n:>9} records {:>7.1} MB  {:>7.3} s  {:>6.0} MB/s  {:>5.0} ns/record",
        bytes as f64 / 1e6,
        secs,
        bytes as f64 / 1e6 / secs,
        secs * 1e9 / n.max(1) as f64
    );
}

fn main() {
    // `parse_speed --traces FILE` / `--access FILE`: time a file on disk instead
    // (`--skip FILE`: serde_json skipping it, the floor);
    // `--write KIND FILE N` writes a generated file (KIND: otlp, jaeger,
    // envoy-text, envoy-json, nginx) for that, or for a profiler.
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, kind, file, rest @ ..] = argv.as_slice() {
        if flag == "--write" {
            let n = rest
                .first()
                .and_then(|n| n.parse().ok())
                .unwrap_or(1_000_000);
            let text = match kind.as_str() {
                "otlp" => otlp(n),
                "jaeger" => jaeger(n),
                format => access(n, format),
            };
            std::fs::write(file, text).expect("write the generated file");
            return;
        }
    }
    if let [flag, file, ..] = argv.as_slice() {
        match flag.as_str() {
            "--skip" => {
                let bytes = std::fs::read(file).expect("read the file");
                let timed = best_of(5, || {
                    let _: serde::de::IgnoredAny =
                        serde_json::from_slice(&bytes).expect("valid JSON");
                    (1, Observations::default())
                });
                report(file, bytes.len(), timed);
                return;
            }
            "--traces" | "--access" => {
                let bytes = std::fs::read(file).expect("read the file");
                let path = Path::new(file);
                let timed = best_of(5, || {
                    let mut obs = Observations::default();
                    let n = if flag == "--traces" {
                        read_traces(path, &bytes, &mut obs)
                    } else {
                        read_access_log(path, &bytes, "ingress", &mut obs)
                    };
                    (n.expect("the file parses"), obs)
                });
                report(file, bytes.len(), timed);
                return;
            }
            _ => {}
        }
    }
    let mut args = argv.into_iter();
    let spans: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let lines: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    // An optional third argument picks cases by name: skip, otlp, jaeger,
    // envoy-text, envoy-json, nginx.
    let only = args.next().unwrap_or_default();
    let want = |name: &str| only.is_empty() || only.split(',').any(|o| name.contains(o));
    let path = Path::new("generated");

    if want("skip") || want("otlp") {
        let file = otlp(spans);
        if want("skip") {
            // The floor: serde_json skipping the same bytes, building nothing.
            report(
                "baseline: skip OTLP JSON",
                file.len(),
                best_of_three(|| {
                    let _: serde::de::IgnoredAny = serde_json::from_str(&file).expect("valid JSON");
                    (spans as u64, Observations::default())
                }),
            );
        }
        if want("otlp") {
            report(
                "traces: OTLP JSON",
                file.len(),
                best_of_three(|| {
                    let mut obs = Observations::default();
                    let n = read_traces(path, file.as_bytes(), &mut obs)
                        .expect("generated OTLP parses");
                    (n, obs)
                }),
            );
        }
    }

    if want("jaeger") {
        let file = jaeger(spans);
        report(
            "traces: Jaeger JSON",
            file.len(),
            best_of_three(|| {
                let mut obs = Observations::default();
                let n =
                    read_traces(path, file.as_bytes(), &mut obs).expect("generated Jaeger parses");
                (n, obs)
            }),
        );
    }

    for format in ["envoy-text", "envoy-json", "nginx"] {
        if !want(format) {
            continue;
        }
        let file = access(lines, format);
        report(
            &format!("access: {format}"),
            file.len(),
            best_of_three(|| {
                let mut obs = Observations::default();
                let n = read_access_log(path, file.as_bytes(), "ingress", &mut obs)
                    .expect("generated access log parses");
                (n, obs)
            }),
        );
    }
}
