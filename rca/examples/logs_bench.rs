//! The log-store dimension of `scripts/bench-live`: how long `rca serve`'s
//! log collector takes to pull and parse a window of N lines from a real
//! VictoriaLogs, and the memory it needs for it.
//!
//! ```text
//! cargo run --release --example logs_bench -- push URL LINES   # prints the tag
//! cargo run --release --example logs_bench -- pull URL TAG BYTES     # TAG BYTES as push printed them
//! ```
//!
//! `push` writes LINES lines into a 10-minute window (70 % application lines
//! of 40 templates over 20 services, with trace ids; 30 % Envoy JSON access
//! lines of 4 proxies), tagged `rca.bench=TAG`, and waits until VictoriaLogs
//! counts them all. `pull` runs in a fresh process so its peak memory is its
//! own: it asks for the application and access queries at once, as
//! `collect` does, and prints the seconds, the records read, the bytes of
//! the lines pushed, and the peak resident memory above the process's
//! resident memory before the pull (`VmHWM` − `VmRSS`, from /proc).

use std::time::{Duration, Instant};

use ingest::collect::{
    default_log_queries, AccessLogSource, CollectWindow, LogBackend, LogQuery, LogSource,
    LogStoreSource,
};

/// The window's start: a fixed past minute, far from any pushed fixture.
const START_S: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const WINDOW_S: i64 = 600;

fn lines(n: usize, tag: &str) -> (Vec<String>, usize) {
    let mut out = Vec::with_capacity(n);
    let mut bytes = 0;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let t_us = START_S * 1_000_000 + (i as i64 * WINDOW_S * 1_000_000) / n as i64;
        let time = chrono::DateTime::from_timestamp_micros(t_us)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let line = if x % 10 < 7 {
            let svc = x % 20;
            let tpl = (x >> 8) % 40;
            let level = if tpl == 3 { "ERROR" } else { "INFO" };
            serde_json::json!({
                "_time": time,
                "_msg": format!("step {tpl} of order {} took {} ms", x % 100_000, (x >> 20) % 900),
                "service.name": format!("svc-{svc}"),
                "severity_text": level,
                "trace_id": format!("{:032x}", x as u128 * 0x1_0000_0001),
                "span_id": format!("{:016x}", x.rotate_left(9)),
                "rca.bench": tag,
            })
        } else {
            let proxy = x % 4;
            let status = if x.is_multiple_of(50) { 503 } else { 200 };
            let access = serde_json::json!({
                "start_time": time, "method": "GET", "path": format!("/api/v{}/items", x % 7),
                "response_code": status, "response_flags": "-", "bytes_sent": 512,
                "duration": (x >> 12) % 400, "user_agent": "bench/1.0",
                "x_forwarded_for": "10.0.0.1", "upstream_cluster": format!("svc-{}", x % 20),
            })
            .to_string();
            serde_json::json!({
                "_time": time,
                "_msg": access,
                "service.name": format!("edge-{proxy}"),
                "k8s.container.name": "envoy",
                "rca.bench": tag,
            })
        }
        .to_string();
        bytes += line.len() + 1;
        out.push(line);
    }
    (out, bytes)
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn push(url: &str, n: usize) -> anyhow::Result<()> {
    let tag = format!("b{}", chrono::Utc::now().timestamp_micros());
    let (lines, bytes) = lines(n, &tag);
    let client = reqwest::Client::new();
    let insert = format!("{url}/insert/jsonline");
    for chunk in lines.chunks(50_000) {
        let body = chunk.join("\n") + "\n";
        let resp = client
            .post(&insert)
            .header("Content-Type", "application/stream+json")
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "insert: {}", resp.status());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let body = client
            .post(format!("{url}/select/logsql/query"))
            .form(&[("query", format!("rca.bench:={tag:?} | stats count() n"))])
            .send()
            .await?
            .text()
            .await?;
        let got: u64 = serde_json::from_str::<serde_json::Value>(body.trim())
            .ok()
            .and_then(|v| v["n"].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0);
        if got >= n as u64 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {got} of {n} lines searchable after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("pushed {n} lines ({:.1} MB)", bytes as f64 / 1e6);
    println!("{tag} {bytes}");
    Ok(())
}

async fn pull(url: &str, tag: &str, bytes: u64) -> anyhow::Result<()> {
    let queries: Vec<LogQuery> = default_log_queries(LogBackend::VictoriaLogs)
        .into_iter()
        .map(|mut q| {
            q.query = format!("rca.bench:={tag:?} ({})", q.query);
            q
        })
        .collect();
    let source = LogStoreSource::new(
        LogBackend::VictoriaLogs,
        url,
        queries,
        2_000_000,
        Duration::from_secs(60),
    );
    let window = CollectWindow {
        start: START_S * 1_000_000,
        end: (START_S + WINDOW_S) * 1_000_000,
    };
    let before = status_kib("VmRSS:");
    let t0 = Instant::now();
    let (logs, access) = tokio::join!(source.logs(&window), source.access_logs(&window, "edge"));
    let seconds = t0.elapsed().as_secs_f64();
    let (logs, access) = (logs?, access?);
    let peak = status_kib("VmHWM:");
    let records = logs.obs.logs.len() + access.obs.access.len();
    println!(
        "logs: {records} records ({} application, {} access) pulled and parsed in {seconds:.2} s; \
         lines {:.1} MB, peak memory above start {:.1} MB ({:.2}x the lines)",
        logs.obs.logs.len(),
        access.obs.access.len(),
        bytes as f64 / 1e6,
        (peak.saturating_sub(before)) as f64 * 1024.0 / 1e6,
        (peak.saturating_sub(before)) as f64 * 1024.0 / bytes as f64,
    );
    if let Some(p) = logs.partial.or(access.partial) {
        println!("partial: {p}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["push", url, n] => push(url, n.parse()?).await,
        ["pull", url, tag, bytes] => pull(url, tag, bytes.parse()?).await,
        _ => anyhow::bail!("usage: logs_bench push URL LINES | pull URL TAG BYTES"),
    }
}
