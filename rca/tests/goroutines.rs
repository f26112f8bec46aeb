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
    let o = rca()
        .arg("goroutines")
        .args(args)
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
                "pattern"
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
