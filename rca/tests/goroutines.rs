//! `rca goroutines` through the real binary, and a goroutine leak with real
//! dumps localised end to end.

use std::path::{Path, PathBuf};
use std::process::Command;

fn rca() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rca"))
}

fn goleaks(case: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/goleaks")
        .join(case)
        .join("dumps")
        .join(file)
}

fn json(args: &[&std::ffi::OsStr]) -> serde_json::Value {
    json_of(args.iter().map(|a| a.as_ref()))
}

fn json_of<'a>(args: impl IntoIterator<Item = &'a std::path::Path>) -> serde_json::Value {
    let args: Vec<&std::ffi::OsStr> = args.into_iter().map(|p| p.as_os_str()).collect();
    let o = rca()
        .arg("goroutines")
        .args(&args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn json_names_the_pattern_and_both_sites_in_every_format() {
    for format in ["debug2.txt", "debug1.txt", "debug0.pb.gz"] {
        let (a, b) = (
            goleaks("waitgroup_never_done", &format!("1.{format}")),
            goleaks("waitgroup_never_done", &format!("2.{format}")),
        );
        let v = json(&[a.as_os_str(), b.as_os_str()]);
        assert!(v["goroutines"].as_u64().unwrap() > 100, "{v}");
        let leak = &v["leaks"][0];
        assert_eq!(leak["pattern"], "waitgroup_never_done", "{format}: {v}");
        let site = leak["blocking_site"].as_str().unwrap();
        assert!(
            site.starts_with("main.resizeAll (") && site.ends_with("main.go:27)"),
            "{site}"
        );
        assert!(leak["growth"].as_i64().unwrap() >= 40);
        let keys: Vec<&String> = leak.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "blocked_in",
                "blocking_site",
                "count",
                "created_by",
                "growth",
                "max_wait_minutes",
                "pattern",
                "proved"
            ]
        );
        if format == "debug2.txt" {
            assert!(leak["created_by"]
                .as_str()
                .unwrap()
                .starts_with("goleaks/common.Drive ("));
            assert_eq!(leak["max_wait_minutes"], 1);
        } else {
            assert_eq!(leak["created_by"], "");
        }
    }
}

#[test]
fn a_healthy_dump_gives_empty_leaks_and_a_bad_one_exit_code_2() {
    let v = json(&[goleaks("healthy", "2.debug2.txt").as_os_str()]);
    assert_eq!(v["leaks"], serde_json::json!([]));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("cut.txt");
    std::fs::write(&bad, "goroutine 1 [running]:\nmain.main()\n").unwrap();
    let o = rca().arg("goroutines").arg(&bad).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cut.txt:2: frame main.main has no file line"),
        "{err}"
    );
}

#[test]
fn the_leak_with_real_dumps_is_first_with_its_site_in_the_evidence() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/goroutine_leak_dumps-107");
    let truth = ingest::read_truth(&dir).unwrap().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = rca()
        .arg("replay")
        .arg(&dir)
        .args(["--format", "json", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let top = &v["ranking"][0];
    assert_eq!(top["component"], truth.component.as_str());
    assert_eq!(top["fault"], "goroutine_leak");
    let leak = top["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["signal"] == "goroutine_leak")
        .expect("the dumps' evidence");
    assert_eq!(leak["modality"], "goroutines");
    let summary = leak["summary"].as_str().unwrap();
    for part in [
        "main.lookup.func1 (",
        "created by main.lookup (",
        "pattern chan_send",
        "(+",
    ] {
        assert!(summary.contains(part), "{part} not in {summary}");
    }
    // A goroutines row for both Go components with dumps; the healthy one stays cold.
    let h = &v["heatmap"];
    let rows = h["by_modality"]["goroutines"].as_array().unwrap();
    let row = |name: &str| {
        let i = h["components"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| c == name)
            .unwrap();
        rows[i]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .fold(0.0, f64::max)
    };
    assert!(row(&truth.component) >= 3.0);
    let others: Vec<&serde_json::Value> = v["ranking"].as_array().unwrap()[1..].iter().collect();
    assert!(others.iter().all(|c| c["fault"] != "goroutine_leak"));
    assert!(v["modalities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "goroutines"));
}

#[test]
fn json_says_which_leaks_the_runtime_proved() {
    let files = |case: &str, names: &[&str]| -> Vec<PathBuf> {
        names.iter().map(|n| goleaks(case, n)).collect()
    };
    // A leak the profile lists: proved, with what the full dumps show of it.
    for proof in ["2.leak.debug1.txt", "2.leak.debug0.pb.gz"] {
        let args = files("chan_send", &["1.debug2.txt", "2.debug2.txt", proof]);
        let v = json_of(args.iter().map(PathBuf::as_path));
        assert_eq!(v["proved_leaked"], 200, "{proof}: {v}");
        let leak = &v["leaks"][0];
        assert_eq!(leak["proved"], true, "{proof}: {v}");
        assert_eq!(leak["count"], 200);
        assert_eq!(leak["pattern"], "chan_send");
        assert!(leak["created_by"]
            .as_str()
            .unwrap()
            .starts_with("main.lookup ("));
    }
    // A send on a global queue: inferred from the dumps, and the profile
    // beside them lists nothing (it cannot prove what is still reachable).
    let args = files(
        "handler_without_context",
        &["1.debug2.txt", "2.debug2.txt", "2.leak.debug1.txt"],
    );
    let v = json_of(args.iter().map(PathBuf::as_path));
    assert_eq!(v["proved_leaked"], 0, "{v}");
    assert_eq!(v["leaks"][0]["pattern"], "handler_without_context", "{v}");
    assert_eq!(v["leaks"][0]["proved"], false);
    // Without a profile there is no proof either way.
    let v = json(&[goleaks("healthy", "2.debug2.txt").as_os_str()]);
    assert_eq!(v["proved_leaked"], serde_json::Value::Null);
    let v = json(&[goleaks("healthy", "2.leak.debug0.pb.gz").as_os_str()]);
    assert_eq!(
        (&v["proved_leaked"], &v["leaks"]),
        (&serde_json::json!(0), &serde_json::json!([]))
    );
}

/// A copy of `goroutine_leak_dumps-107` whose leaking component's dumps are
/// replaced by `files` of the chan_send reproduction (each `(seconds after
/// the alert, file)`).
fn fixture_107_with(files: &[(i64, &str)]) -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/goroutine_leak_dumps-107");
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
        }
    }
    let truth = ingest::read_truth(&src).unwrap().unwrap();
    let alert = src.join("alert.json");
    let hook = ingest::read_webhook(&alert, &std::fs::read(&alert).unwrap()).unwrap();
    let at = hook.alerts[0].starts_at.timestamp();
    for comp in std::fs::read_dir(src.join("goroutines")).unwrap() {
        let comp = comp.unwrap();
        let to = dir.path().join("goroutines").join(comp.file_name());
        std::fs::create_dir_all(&to).unwrap();
        if comp.file_name() == truth.component.as_str() {
            for (after, file) in files {
                let ext = if file.ends_with(".gz") {
                    "pb.gz"
                } else {
                    "txt"
                };
                let from = goleaks("chan_send", file);
                std::fs::copy(from, to.join(format!("{}.{ext}", at + after))).unwrap();
            }
            continue;
        }
        for f in std::fs::read_dir(comp.path()).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    }
    dir
}

/// `rca replay --format json` of `dir`, and the page it writes.
fn replay(dir: &Path) -> (serde_json::Value, String) {
    let out = tempfile::tempdir().unwrap();
    let o = rca()
        .arg("replay")
        .arg(dir)
        .args(["--format", "json", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    (serde_json::from_slice(&o.stdout).unwrap(), page)
}

fn goroutine_evidence(v: &serde_json::Value, component: &str) -> Option<serde_json::Value> {
    v["ranking"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == component)?["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["signal"] == "goroutine_leak")
        .cloned()
}

#[test]
fn a_proved_leak_too_young_for_the_dumps_is_strong_evidence_on_the_page() {
    let truth = ingest::read_truth(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/goroutine_leak_dumps-107"),
    )
    .unwrap()
    .unwrap();
    // One dump 5 s into the leak: nobody has waited a minute, so the dump
    // alone shows no leak.
    let young = fixture_107_with(&[(60, "1.debug2.txt")]);
    let (v, _) = replay(young.path());
    assert_eq!(goroutine_evidence(&v, &truth.component), None, "{v}");
    // With the runtime's leak profile taken beside it, the leak is certain.
    let proved = fixture_107_with(&[(60, "1.debug2.txt"), (61, "1.leak.debug1.txt")]);
    let (v, page) = replay(proved.path());
    let e = goroutine_evidence(&v, &truth.component).expect("the proof's evidence");
    assert!(e["deviation"].as_f64().unwrap() >= 6.0, "{e}");
    let summary = e["summary"].as_str().unwrap();
    for part in [
        "proved leaked by the Go runtime (goroutineleak profile)",
        "main.lookup.func1 (",
        "created by main.lookup (",
        "pattern chan_send",
    ] {
        assert!(summary.contains(part), "{part} not in {summary}");
    }
    assert_eq!(v["ranking"][0]["component"], truth.component.as_str());
    assert_eq!(v["ranking"][0]["fault"], "goroutine_leak");
    assert!(
        page.contains("proved leaked by the Go runtime (goroutineleak profile)"),
        "the incident page says which leak the runtime proved"
    );
}
