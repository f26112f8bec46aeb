//! Live goroutine dumps from a real Go program: one of the leak
//! reproductions in `fixtures/goleaks` (a send nobody receives), built with
//! the Go toolchain and run on a free port. Read through `PprofSource` in
//! two of pprof's formats beside an endpoint that is down, and through
//! `rca serve` into an incident that names the leak.

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

/// Builds and starts `fixtures/goleaks/<case>` on `port`.
fn start(case: &str, port: u16, out: &Path) -> Program {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/goleaks");
    let bin: PathBuf = out.join(case);
    let built = Command::new("go")
        .args(["build", "-mod=vendor", "-o"])
        .arg(&bin)
        .arg(format!("./{case}"))
        .current_dir(&dir)
        .env("GOTOOLCHAIN", "local")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `go` ({e}): install the Go toolchain (https://go.dev/dl/)")
        });
    assert!(
        built.status.success(),
        "go build ./{case}: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let child = Command::new(&bin)
        .args(["-port", &port.to_string(), "-cap", "300", "-every", "2ms"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    Program(child)
}

fn blocked_in_send(d: &ingest::Dump) -> u64 {
    d.goroutines
        .iter()
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
    let _program = start("chan_send", port, tmp.path());
    let base = format!("http://127.0.0.1:{port}/debug/pprof/goroutine");
    let dead = format!(
        "http://127.0.0.1:{}/debug/pprof/goroutine?debug=2",
        free_port()
    );
    let endpoints: BTreeMap<String, String> = [
        ("prices".to_string(), format!("{base}?debug=2")),
        ("prices-grouped".to_string(), format!("{base}?debug=1")),
        ("gone".to_string(), dead),
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
            let leaked = p
                .obs
                .goroutines
                .iter()
                .find(|c| c.component == "prices")
                .map(|c| blocked_in_send(&c.dumps[0].dump))
                .unwrap_or(0);
            if leaked >= 250 {
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
    let sending = full
        .dump
        .goroutines
        .iter()
        .filter(|g| g.state == "chan send")
        .filter(|g| {
            g.frames
                .iter()
                .any(|f| f.function.contains("main.lookup.func1"))
        })
        .count();
    assert!(sending >= 250, "{sending} goroutines in chan send");
    // Taken after the window: placed in its last moment.
    assert_eq!(full.at, Some(window.end - 1));
    let partial = pulled.partial.expect("the dead endpoint is reported");
    assert!(
        partial.contains("gone") && partial.contains("unreachable"),
        "{partial}"
    );
}

/// Waits until the program's pprof endpoint shows `n` stuck senders that
/// have waited a minute (the runtime prints waits from one minute on): from
/// one dump, goroutines blocked that long are what tells a leak from work in
/// flight.
async fn until_stuck_a_minute(url: &str, n: usize) {
    let source = PprofSource::new(
        [("p".to_string(), url.to_string())].into(),
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
            let stuck = p.obs.goroutines[0].dumps[0]
                .dump
                .goroutines
                .iter()
                .filter(|g| g.state == "chan send" && g.wait_minutes.unwrap_or(0) >= 1)
                .count();
            if stuck >= n {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "{url} did not show {n} senders stuck a minute within 150 s"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `rca serve` with the program's endpoint configured: the incident of an
/// alert on it uses the goroutine dump and puts the leaking component first,
/// naming where its goroutines are stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rca_serve_takes_a_dump_per_incident_and_names_the_leak() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _program = start("chan_send", port, tmp.path());
    let url = format!("http://127.0.0.1:{port}/debug/pprof/goroutine?debug=2");
    until_stuck_a_minute(&url, 250).await;

    let toml =
        format!("[window]\nwait_for_settle = false\n[goroutines.endpoints]\nprices = \"{url}\"\n");
    let cfg = common::config(
        &toml,
        &[
            ("RCA_JAEGER_URL", "http://127.0.0.1:9"),
            ("RCA_PROMETHEUS_URL", "http://127.0.0.1:9"),
            ("RCA_ACCESS_LOG_DIR", "/nonexistent/rca-access-logs"),
        ],
    );
    let server = common::start(cfg, "127.0.0.1:0", &tmp.path().join("data")).await;
    let id = common::post_alert(&server.base(), "prices", 2, "90a1eac000000001").await;
    server.wait_done(&id, Duration::from_secs(30)).await;
    let l = server
        .store
        .get(&id)
        .await
        .unwrap()
        .expect("stored")
        .localisation;
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
    let first = l.ranking.first().expect("a ranking");
    assert_eq!(first.component, "prices", "{:?}", l.ranking);
    let evidence = serde_json::to_string(&first).unwrap();
    assert!(evidence.contains("main.lookup.func1"), "{evidence}");
    server.stop().await;
}
