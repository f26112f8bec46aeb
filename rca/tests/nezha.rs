//! `rca eval --format nezha` through the real binary on a tiny day with the
//! holes real days have: it finishes (exit 0), reports every case, and each
//! case's `missing` says what was absent.

#[path = "../../ingest/tests/common/nezha_day.rs"]
mod nezha_day;

use std::path::Path;
use std::process::Command;

use nezha_day::{day_with, remove, remove_every_second_minute, Case, DAY, POD_A, POD_B};

const CASES: [Case; 3] = [
    Case {
        inject: "08:43:04",
        pod: POD_B,
        fault: "exception",
    },
    Case {
        inject: "08:53:04",
        pod: POD_A,
        fault: "return",
    },
    // Nothing of this one is left: no minute files, no metrics that late.
    Case {
        inject: "11:00:04",
        pod: POD_B,
        fault: "cpu_contention",
    },
];

fn eval(root: &Path) -> (Option<i32>, serde_json::Value, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_rca"))
        .args([
            "eval",
            "--format",
            "nezha",
            "--dataset",
            root.to_str().unwrap(),
            "--day",
            DAY,
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o.status.code(), v, stderr)
}

fn case<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["per_case"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case"] == id)
        .unwrap_or_else(|| panic!("case {id} missing from {report:#}"))
}

fn missing(c: &serde_json::Value) -> String {
    c["missing"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|x| x.as_str().unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[test]
fn a_day_full_of_holes_is_evaluated_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    day_with(root, &CASES);
    for kind in ["trace", "log", "traceid"] {
        for m in ["10_59", "11_00", "11_01", "11_02"] {
            let _ =
                std::fs::remove_file(root.join(format!("rca_data/{DAY}/{kind}/{m}_{kind}.csv")));
        }
    }
    // The day of the held-out system that stopped `rca eval`: no fault-free
    // traces or logs at all, and no logs of its own.
    remove(root, &format!("construct_data/{DAY}"));
    remove(root, &format!("rca_data/{DAY}/log"));
    let gone = remove_every_second_minute(root);
    assert_eq!(
        gone,
        ["08_44_trace.csv", "08_53_trace.csv", "08_55_trace.csv"]
    );

    let (code, report, stderr) = eval(root);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(report["cases"], 3, "{report:#}");

    let a = case(&report, "08:43:04-ts-b-service");
    let m = missing(a);
    for want in [
        format!("traces: 1 of 3 minute files absent (rca_data/{DAY}/trace/08_44_trace.csv): the window has a gap"),
        format!("fault-free traces absent (construct_data/{DAY}/trace): trace signals judged against the earlier part of the case's window (until 08:42:30)"),
        format!("logs: no log files for this case (rca_data/{DAY}/log absent): log signals not judged"),
        format!("fault-free logs absent (construct_data/{DAY}/log)"),
    ] {
        assert!(m.contains(&want), "{want:?} not in {m}");
    }
    // Judged against its own first 20 s, before the injection: found.
    assert_eq!(a["ranking"][0], "ts-b-service", "{a:#}");

    let b = case(&report, "08:53:04-ts-a-service");
    assert!(
        missing(b).contains("2 of 3 minute files absent (rca_data/2023-01-29/trace/08_53_trace.csv, 08_55_trace.csv)"),
        "{}",
        missing(b)
    );

    // Nothing at all: reported, unranked, with why.
    let c = case(&report, "11:00:04-ts-b-service");
    assert_eq!(c["ranking"].as_array().unwrap().len(), 0);
    let m = missing(c);
    assert!(m.contains("traces: no trace files for this case"), "{m}");
    assert!(m.contains("metrics: no metric rows between"), "{m}");
    assert!(m.contains("metric signals not judged"), "{m}");
}

#[test]
fn a_broken_minute_file_still_stops_the_evaluation_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    day_with(root, &CASES[..1]);
    let p = root.join(format!("rca_data/{DAY}/log/08_44_log.csv"));
    let mut text = std::fs::read_to_string(&p).unwrap();
    text += "2023-01-29T08:43:50.000,not-a-number,node,pod,server,x,y,\"{}\"\n";
    let line = text.lines().count();
    std::fs::write(&p, text).unwrap();
    let (code, _, stderr) = eval(root);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("08_44_log.csv") && stderr.contains(&format!(":{line}:")),
        "{stderr}"
    );
}
