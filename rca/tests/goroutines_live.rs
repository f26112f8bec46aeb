//! Live goroutine dumps from a real Go program: one of the leak
//! reproductions in `fixtures/goleaks` (a send nobody receives), built with
//! the Go toolchain and run on a free port. Read through `PprofSource` in
//! two of pprof's formats beside an endpoint that is down, and through
//! `rca serve` into an incident that names the leak; built with
//! `GOEXPERIMENT=goroutineleakprofile` (Go 1.26 on), its goroutine-leak
//! profile proves a leak too young for a dump to show.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use ingest::collect::{CollectWindow, GoroutineDumpSource, PprofSource};

/// The running reproduction; killed when dropped.
struct Program(Child);

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Builds and starts `fixtures/goleaks/<case>` on `port`, calling the leaky
/// code `cap` times, one every `every` (a Go duration).
fn start(case: &str, port: u16, out: &Path, cap: u32, every: &str) -> Program {
    start_built(case, port, out, cap, every, None)
}

/// [`start`], built with `GOEXPERIMENT=goroutineleakprofile`: the program
/// also serves `/debug/pprof/goroutineleak`.
fn start_proving(case: &str, port: u16, out: &Path, cap: u32, every: &str) -> Program {
    start_built(case, port, out, cap, every, Some("goroutineleakprofile"))
}

fn start_built(
    case: &str,
    port: u16,
    out: &Path,
    cap: u32,
    every: &str,
    experiment: Option<&str>,
) -> Program {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/goleaks");
    let bin: PathBuf = out.join(case);
    let mut go = Command::new("go");
    go.args(["build", "-mod=vendor", "-o"])
        .arg(&bin)
        .arg(format!("./{case}"))
        .current_dir(&dir)
        .env("GOTOOLCHAIN", "local");
    if let Some(x) = experiment {
        go.env("GOEXPERIMENT", x);
    }
    let built = go.output().unwrap_or_else(|e| {
        panic!("cannot run `go` ({e}): install the Go toolchain (https://go.dev/dl/)")
    });
    let needs = match experiment {
        Some(x) => format!(
            " with GOEXPERIMENT={x} (needs Go 1.26 or later: `go version`; https://go.dev/dl/)"
        ),
        None => String::new(),
    };
    assert!(
        built.status.success(),
        "go build ./{case}{needs}: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let child = Command::new(&bin)
        .args([
            "-port",
            &port.to_string(),
            "-cap",
            &cap.to_string(),
            "-every",
            every,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    Program(child)
}

/// Goroutines in the leaking closure.
fn blocked_in_send(d: &ingest::Dump) -> u64 {
    in_closure(d, |_| true)
}

/// Goroutines of a `debug=2` dump waiting in `chan send` in the leaking closure.
fn waiting_in_send(d: &ingest::Dump) -> u64 {
    in_closure(d, |g| g.state == "chan send")
}

fn in_closure(d: &ingest::Dump, keep: impl Fn(&ingest::Goroutine) -> bool) -> u64 {
    d.goroutines
        .iter()
        .filter(|g| keep(g))
        .filter(|g| {
            g.frames
                .iter()
                .any(|f| f.function.contains("main.lookup.func1"))
        })
        .map(|g| g.count)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dumps_of_a_leaking_go_program_come_through_pprof_and_a_dead_endpoint_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _program = start("chan_send", port, tmp.path(), 300, "2ms");
    let base = format!("http://127.0.0.1:{port}/debug/pprof/goroutine");
    let dead = format!(
        "http://127.0.0.1:{}/debug/pprof/goroutine?debug=2",
        free_port()
    );
    // Built without the experiment: the program has no goroutineleak profile.
    let no_proof = format!("http://127.0.0.1:{port}/debug/pprof/goroutineleak?debug=1");
    let endpoints: BTreeMap<String, Vec<String>> = [
        ("prices".to_string(), vec![format!("{base}?debug=2")]),
        (
            "prices-grouped".to_string(),
            vec![format!("{base}?debug=1"), no_proof],
        ),
        ("gone".to_string(), vec![dead]),
    ]
    .into();
    let source = PprofSource::new(endpoints, Duration::from_secs(5));
    let now = chrono::Utc::now().timestamp_micros();
    let window = CollectWindow {
        start: now - 600_000_000,
        end: now - 60_000_000,
    };

    // The driver makes 300 calls, one every 2 ms: wait until most leaked.
    let started = Instant::now();
    let pulled = loop {
        if let Ok(p) = source.goroutines(&window).await {
            let of = |name: &str, count: fn(&ingest::Dump) -> u64| {
                p.obs
                    .goroutines
                    .iter()
                    .find(|c| c.component == name)
                    .and_then(|c| c.dumps.first())
                    .map_or(0, |d| count(&d.dump))
            };
            // In `chan send`, not merely started (a goroutine just spawned
            // is in the closure but still runnable), in both dumps, which
            // are taken a moment apart.
            if of("prices", waiting_in_send) >= 250 && of("prices-grouped", blocked_in_send) >= 250
            {
                break p;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the program's pprof endpoint did not show 250 stuck senders within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let by: BTreeMap<&str, &ingest::ComponentDumps> = pulled
        .obs
        .goroutines
        .iter()
        .map(|c| (c.component.as_str(), c))
        .collect();
    assert_eq!(
        by.keys().copied().collect::<Vec<_>>(),
        ["prices", "prices-grouped"]
    );
    let full = &by["prices"].dumps[0];
    let grouped = &by["prices-grouped"].dumps[0];
    assert_eq!(full.dump.format, ingest::DumpFormat::Full);
    assert_eq!(grouped.dump.format, ingest::DumpFormat::Grouped);
    assert!(blocked_in_send(&grouped.dump) >= 250);
    // debug=2 names the wait: the stuck senders are in `chan send`.
    let sending = waiting_in_send(&full.dump);
    assert!(sending >= 250, "{sending} goroutines in chan send");
    // Taken after the window: placed in its last moment.
    assert_eq!(full.at, Some(window.end - 1));
    let partial = pulled.partial.expect("the dead endpoint is reported");
    assert!(
        partial.contains("gone") && partial.contains("unreachable"),
        "{partial}"
    );
    // The missing leak profile is named with what it takes; the component's
    // dump still came.
    assert_eq!(by["prices-grouped"].dumps.len(), 1);
    assert!(
        partial.contains("prices-grouped: pprof answered 404")
            && partial.contains("GOEXPERIMENT=goroutineleakprofile"),
        "{partial}"
    );
}

/// Waits (at most `within`) until a `debug=2` dump of `url` satisfies
/// `ready`, which `what` describes for the failure.
async fn until_dump(
    url: &str,
    within: Duration,
    what: &str,
    ready: impl Fn(&ingest::Dump) -> bool,
) {
    let source = PprofSource::new(
        [("p".to_string(), vec![url.to_string()])].into(),
        Duration::from_secs(5),
    );
    let now = chrono::Utc::now().timestamp_micros();
    let window = CollectWindow {
        start: now - 1,
        end: now + 1,
    };
    let started = Instant::now();
    loop {
        if let Ok(p) = source.goroutines(&window).await {
            if ready(&p.obs.goroutines[0].dumps[0].dump) {
                return;
            }
        }
        assert!(
            started.elapsed() < within,
            "{url} did not show {what} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Senders stuck a minute or more (the runtime prints waits from one
/// minute on): from one dump, goroutines blocked that long are what tells a
/// leak from work in flight.
fn stuck_a_minute(d: &ingest::Dump) -> usize {
    d.goroutines
        .iter()
        .filter(|g| g.state == "chan send" && g.wait_minutes.unwrap_or(0) >= 1)
        .count()
}

/// The incident `rca serve` makes of an alert on `prices`, whose goroutines
/// are at `url`, with `goroutines` settings beside the endpoint; every
/// other backend is down.
async fn incident_of_prices(url: &str, settings: &str, data: &Path) -> graph::Localisation {
    incident_of_prices_at(&format!("\"{url}\""), settings, data).await
}

/// [`incident_of_prices`] with the endpoint as its TOML value (a URL in
/// quotes, or a table of `dump` and `leaks`).
async fn incident_of_prices_at(endpoint: &str, settings: &str, data: &Path) -> graph::Localisation {
    let toml = format!(
        "[window]\nwait_for_settle = false\n[goroutines]\n{settings}\n[goroutines.endpoints]\nprices = {endpoint}\n"
    );
    let cfg = common::config(
        &toml,
        &[
            ("RCA_JAEGER_URL", "http://127.0.0.1:9"),
            ("RCA_PROMETHEUS_URL", "http://127.0.0.1:9"),
            ("RCA_LOGS_URL", "http://127.0.0.1:9"),
            ("RCA_ACCESS_LOG_DIR", "/nonexistent/rca-access-logs"),
        ],
    );
    let server = common::start(cfg, "127.0.0.1:0", data).await;
    let id = common::post_alert(&server.base(), "prices", 2, "90a1eac000000001").await;
    server.wait_done(&id, Duration::from_secs(30)).await;
    let l = server
        .store
        .get(&id)
        .await
        .unwrap()
        .expect("stored")
        .localisation;
    server.stop().await;
    assert!(
        l.modalities.iter().any(|m| m == "goroutines"),
        "{:?} missing {:?}",
        l.modalities,
        l.missing
    );
    assert!(
        !l.missing.iter().any(|m| m.modality == "goroutines"),
        "{:?}",
        l.missing
    );
    l
}

/// The evidence of the first suspect, which must be `prices`.
fn first_is_prices(l: &graph::Localisation) -> String {
    let first = l.ranking.first().expect("a ranking");
    assert_eq!(first.component, "prices", "{:?}", l.ranking);
    serde_json::to_string(&first).unwrap()
}

/// `rca serve` with the program's endpoint configured (the default: one
/// dump per incident): the incident of an alert on it uses the dump and
/// puts the leaking component first, naming where its goroutines are stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rca_serve_takes_a_dump_per_incident_and_names_the_leak() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _program = start("chan_send", port, tmp.path(), 300, "2ms");
    let url = format!("http://127.0.0.1:{port}/debug/pprof/goroutine?debug=2");
    until_dump(
        &url,
        Duration::from_secs(150),
        "250 senders stuck a minute",
        |d| stuck_a_minute(d) >= 250,
    )
    .await;
    let l = incident_of_prices(&url, "", &tmp.path().join("data")).await;
    let evidence = first_is_prices(&l);
    assert!(evidence.contains("main.lookup.func1"), "{evidence}");
}

/// With a second dump configured, a leak seconds old (nothing has waited
/// a minute yet, so one dump would show no leak at all) shows as growth
/// between the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_dump_shows_a_young_leak_by_its_growth() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    // About 50 stuck senders a second, for longer than the test runs.
    let _program = start("chan_send", port, tmp.path(), 100_000, "20ms");
    let url = format!("http://127.0.0.1:{port}/debug/pprof/goroutine?debug=2");
    until_dump(&url, Duration::from_secs(30), "20 stuck senders", |d| {
        blocked_in_send(d) >= 20
    })
    .await;
    let l = incident_of_prices(&url, "second_dump_seconds = 3", &tmp.path().join("data")).await;
    let evidence = first_is_prices(&l);
    assert!(evidence.contains("main.lookup.func1"), "{evidence}");
    let grew = evidence
        .match_indices("goroutines (+")
        .any(|(i, m)| evidence[i + m.len()..].starts_with(|c: char| ('1'..='9').contains(&c)));
    assert!(grew, "no growth in {evidence}");
}

/// A program built with the leak experiment, and both its dump and its
/// goroutine-leak profile configured: a leak seconds old, which one dump
/// cannot show (nothing has waited a minute), is proved by the runtime,
/// puts the component first and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rca_serve_takes_the_leak_profile_and_a_young_leak_is_proved() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _program = start_proving("chan_send", port, tmp.path(), 100_000, "20ms");
    let base = format!("http://127.0.0.1:{port}/debug/pprof");
    let dump = format!("{base}/goroutine?debug=2");
    until_dump(&dump, Duration::from_secs(30), "20 stuck senders", |d| {
        blocked_in_send(d) >= 20
    })
    .await;
    let started = Instant::now();

    // The dump alone: no goroutine leak yet.
    let alone = incident_of_prices(&dump, "", &tmp.path().join("alone")).await;
    let seen = serde_json::to_string(&alone.ranking).unwrap();
    assert!(!seen.contains("main.lookup.func1"), "{seen}");

    let endpoint = format!("{{ dump = \"{dump}\", leaks = \"{base}/goroutineleak?debug=0\" }}");
    let l = incident_of_prices_at(&endpoint, "", &tmp.path().join("proved")).await;
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "too slow: the senders may have waited a minute, and the dump alone would show them"
    );
    let evidence = first_is_prices(&l);
    assert!(evidence.contains("main.lookup.func1"), "{evidence}");
    assert!(
        evidence.contains("proved leaked by the Go runtime (goroutineleak profile)"),
        "{evidence}"
    );
    assert!(evidence.contains("created by main.lookup ("), "{evidence}");
    let first = &l.ranking[0];
    assert_eq!(first.fault, graph::FaultKind::GoroutineLeak, "{evidence}");
    let leak = first
        .evidence
        .iter()
        .find(|e| e.signal == "goroutine_leak")
        .expect("goroutine_leak evidence");
    assert!(leak.deviation >= 6.0, "{leak:?}");
}
