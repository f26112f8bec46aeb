//! End to end through the real binary: every shipped fixture is replayed and
//! must name its true root cause first; the report and JSON keep their shape.

use std::path::{Path, PathBuf};
use std::process::Command;

fn rca() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rca"))
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn shipped() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("truth.json").is_file())
        .collect();
    v.sort();
    v
}

fn truth(dir: &Path) -> (String, String) {
    let t = ingest::read_truth(dir).unwrap().expect("truth.json");
    (t.component, t.fault)
}

#[test]
fn ships_at_least_twelve_fixtures_covering_every_fault_under_two_megabytes() {
    let dirs = shipped();
    assert!(dirs.len() >= 12, "{} fixtures", dirs.len());
    for kind in rca::generate::FAULT_KINDS {
        assert!(
            dirs.iter().any(|d| truth(d).1 == kind),
            "no fixture for {kind}"
        );
    }
    for d in &dirs {
        let size: u64 = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(size < 2_000_000, "{} is {size} bytes", d.display());
    }
}

/// Whether `component` is the `service.name` of any resource in the
/// fixture's OTLP traces.
fn emits_spans(dir: &Path, component: &str) -> bool {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("traces.json")).unwrap()).unwrap();
    let spans = v
        .get("resourceSpans")
        .or_else(|| v["result"].get("resourceSpans"));
    spans.and_then(|r| r.as_array()).is_some_and(|rs| {
        rs.iter().any(|r| {
            r["resource"]["attributes"].as_array().is_some_and(|attrs| {
                attrs
                    .iter()
                    .any(|a| a["key"] == "service.name" && a["value"]["stringValue"] == component)
            })
        })
    })
}

/// `rca replay DIR --format json`, its report under `out`.
fn replay_json(dir: &Path, out: &Path) -> serde_json::Value {
    let o = rca()
        .arg("replay")
        .arg(dir)
        .args(["--format", "json", "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}: {}",
        dir.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn every_shipped_fixture_names_its_root_cause_first() {
    let out = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for dir in shipped() {
        let (component, fault) = truth(&dir);
        let loc = replay_json(&dir, out.path());
        let top = &loc["ranking"][0];
        // A delay into a component that emits no spans (a database) is its
        // latency as far as anyone can tell: its work and its network are
        // one call.
        let untraced = !emits_spans(&dir, &component);
        let fault_ok = top["fault"] == fault.as_str()
            || (fault == "network_delay" && untraced && top["fault"] == "latency");
        if top["component"] != component.as_str() || !fault_ok {
            wrong.push(format!(
                "{}: got {} ({}), want {component} ({fault})",
                dir.display(),
                top["component"],
                top["fault"]
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn every_evidence_object_of_every_shipped_fixture_has_one_scale() {
    // `value` and `baseline` are in `unit`, as `after` and `before` are:
    // where the change is given, they are the same numbers.
    let out = tempfile::tempdir().unwrap();
    let mut bad = Vec::new();
    let mut checked = 0;
    for dir in shipped() {
        let loc = replay_json(&dir, out.path());
        for c in loc["ranking"].as_array().unwrap() {
            for e in c["evidence"].as_array().unwrap() {
                let same = |a: &str, b: &str| match (e[a].as_f64(), e[b].as_f64()) {
                    (Some(x), Some(y)) => (x - y).abs() <= 1e-4 * x.abs().max(y.abs()).max(1.0),
                    (_, None) => true,
                    (None, Some(_)) => false,
                };
                checked += 1;
                if !(same("value", "after") && same("baseline", "before")) {
                    bad.push(format!("{}: {e}", dir.display()));
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} evidence objects");
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn replay_json_has_the_contracted_shape_and_writes_a_report() {
    let dir = &shipped()[0];
    let out = tempfile::tempdir().unwrap();
    let o = rca()
        .arg("replay")
        .arg(dir)
        .args(["--format", "json", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["incident"]["id"].is_string());
    for c in v["ranking"].as_array().unwrap() {
        assert!(c["component"].is_string() && c["score"].is_number() && c["fault"].is_string());
        assert!(c["evidence"].is_array());
    }
    assert!(v["path"].as_array().unwrap().iter().all(|p| p.is_string()));
    assert!(v["modalities"].as_array().unwrap().len() >= 3);
    let h = &v["heatmap"];
    let rows = h["scores"].as_array().unwrap();
    assert_eq!(rows.len(), h["components"].as_array().unwrap().len());
    let nb = h["buckets"].as_array().unwrap().len();
    assert!(nb >= 20 && rows.iter().all(|r| r.as_array().unwrap().len() == nb));
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains(v["ranking"][0]["component"].as_str().unwrap()));
}

#[test]
fn replay_text_prints_top_five_and_the_default_report_path() {
    let dir = &shipped()[0];
    let cwd = tempfile::tempdir().unwrap();
    let o = rca()
        .current_dir(cwd.path())
        .arg("replay")
        .arg(std::fs::canonicalize(dir).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("\n1. "), "{text}");
    assert!(
        text.lines()
            .filter(|l| l.len() > 3 && l.as_bytes()[0].is_ascii_digit() && &l[1..3] == ". ")
            .count()
            <= 5
    );
    let report = text
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .expect("report line");
    assert!(report.starts_with("rca-out/"), "{report}");
    assert!(cwd.path().join(report).is_file());
}

#[test]
fn eval_over_the_shipped_fixtures_is_perfect() {
    let o = rca()
        .args([
            "eval",
            "--format",
            "fixtures",
            "--output",
            "json",
            "--dataset",
        ])
        .arg(fixtures_dir())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["cases"].as_u64(), Some(shipped().len() as u64));
    assert_eq!(v["ac_at_1"].as_f64(), Some(1.0), "{v:#}");
    for k in ["ac_at_3", "ac_at_5", "avg_at_5"] {
        assert!(v[k].is_number());
    }
    let case = &v["per_case"][0];
    assert!(
        case["case"].is_string()
            && case["truth"].is_string()
            && case["ranking"].is_array()
            && case["seconds"].is_number()
    );
}

/// A resource fault's fixture cut down to its metrics (with the service-graph
/// `calls` queries, or without them, so without any call graph at all) and
/// its alert: missing modalities lower confidence; the resource still names
/// the root cause first.
#[test]
fn metrics_alone_still_name_a_resource_fault_first() {
    let resource = ["cpu_saturation", "memory_leak", "goroutine_leak"];
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for dir in shipped() {
        let (component, fault) = truth(&dir);
        if !resource.contains(&fault.as_str()) {
            continue;
        }
        for with_calls in [true, false] {
            let cut = tmp.path().join(format!(
                "{}-{with_calls}",
                dir.file_name().unwrap().to_string_lossy()
            ));
            std::fs::create_dir_all(&cut).unwrap();
            std::fs::copy(dir.join("alert.json"), cut.join("alert.json")).unwrap();
            let mut metrics: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).unwrap()).unwrap();
            let queries = metrics["queries"].as_array_mut().unwrap();
            assert!(
                queries.iter().any(|q| q["signal"] == "calls"),
                "{}: generated fixtures carry a calls query",
                dir.display()
            );
            if !with_calls {
                queries.retain(|q| !q["signal"].as_str().unwrap().starts_with("calls"));
            }
            std::fs::write(cut.join("metrics.json"), metrics.to_string()).unwrap();
            let o = rca()
                .arg("replay")
                .arg(&cut)
                .args(["--format", "json", "--out"])
                .arg(tmp.path().join("out"))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let loc: graph::Localisation = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(
                loc.ranking.first().map(|c| c.component.as_str()),
                Some(component.as_str()),
                "{} with metrics only (calls: {with_calls}): {:?}",
                dir.display(),
                loc.ranking.iter().map(|c| &c.component).collect::<Vec<_>>()
            );
            assert!(
                loc.missing.iter().any(|m| m.modality == "traces"),
                "{:?}",
                loc.missing
            );
            if with_calls {
                assert!(!loc.edges.is_empty(), "the calls queries give edges");
            } else {
                assert!(loc.edges.is_empty());
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "{checked} cut-down fixtures");
}
