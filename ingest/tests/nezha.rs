//! The Nezha layout reader on a tiny day written here in the dataset's formats,
//! and its bad-input behaviour.

use std::path::Path;

use ingest::{load_nezha_case, nezha_cases, Modality, NezhaWindow};

const DAY: &str = "2023-01-29";

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn trace_rows(t0_ns: i128, n: usize) -> String {
    let mut s = String::from("TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n");
    for i in 0..n {
        let start = t0_ns + i as i128 * 1_000_000_000;
        s += &format!(
            "{:032x},{:016x},root,ts-a-service-5b6-x1,/api/a,{start},{},2000\n",
            i + 1,
            2 * i + 1,
            start + 2_000_000
        );
        s += &format!(
            "{:032x},{:016x},{:016x},ts-b-service-7c8-y2,/api/b,{},{},1000\n",
            i + 1,
            2 * i + 2,
            2 * i + 1,
            start + 100_000,
            start + 1_100_000
        );
    }
    s
}

fn log_rows(t0_ns: i128, n: usize, level: &str) -> String {
    let mut s = String::from("Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log\n");
    for i in 0..n {
        let t = t0_ns + i as i128 * 1_000_000_000;
        s += &format!(
            "2023-01-29T08:00:00Z,{t},node,ts-b-service-7c8-y2,server,{:032x},{:016x},\"{{\"\"log\"\":\"\"16:00:00.000 {level}  b.s.BServiceImpl#42 TraceID: x SpanID: y [done]\\n\"\",\"\"stream\"\":\"\"stdout\"\"}}\"\n",
            i + 1,
            2 * i + 2
        );
    }
    s
}

fn day(root: &Path) {
    // The case: injected at 08:43:04 (UTC, as the data's clock), files 08_43..08_45.
    write(
        root,
        &format!("rca_data/{DAY}/{DAY}-fault_list.json"),
        r#"{"08": [{"inject_time": "2023-01-29 08:43:04", "inject_timestamp": "1674953044", "inject_pod": "ts-b-service-7c8-y2", "inject_type": "exception"}]}"#,
    );
    let minute = |m: i128| (1_674_981_720 + (m - 42) * 60) * 1_000_000_000; // 08:42:00 + ...
    for (i, name) in ["08_43", "08_44", "08_45"].iter().enumerate() {
        let t0 = minute(42 + i as i128) + 10_000_000_000;
        write(
            root,
            &format!("rca_data/{DAY}/trace/{name}_trace.csv"),
            &trace_rows(t0, 30),
        );
        write(
            root,
            &format!("rca_data/{DAY}/log/{name}_log.csv"),
            &log_rows(t0, 30, "ERROR"),
        );
    }
    write(
        root,
        &format!("construct_data/{DAY}/trace/08_50_trace.csv"),
        &trace_rows(minute(49) + 10_000_000_000, 30),
    );
    write(
        root,
        &format!("construct_data/{DAY}/log/08_50_log.csv"),
        &log_rows(minute(49) + 10_000_000_000, 30, "INFO"),
    );
    let mut m = String::from(
        "Time,TimeStamp,PodName,CpuUsage(m),CpuUsageRate(%),MemoryUsage(Mi),MemoryUsageRate(%)\n",
    );
    for k in 0..30 {
        m += &format!(
            "t,{},ts-b-service-7c8-y2,1,{},1,20\n",
            1_674_981_000 + k * 60,
            5 + k % 3
        );
    }
    write(
        root,
        &format!("rca_data/{DAY}/metric/ts-b-service-7c8-y2_metric.csv"),
        &m,
    );
}

#[test]
fn a_case_reads_its_minutes_the_reference_minute_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    let cases = nezha_cases(dir.path(), DAY).unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].service, "ts-b-service");
    assert_eq!(
        cases[0].inject_time.to_rfc3339(),
        "2023-01-29T08:43:04+00:00",
        "inject_time is UTC"
    );
    let input = load_nezha_case(dir.path(), DAY, &cases[0], &NezhaWindow::default()).unwrap();
    let o = &input.observations;
    assert_eq!(
        o.spans.len(),
        4 * 60,
        "three case minutes and the reference minute"
    );
    assert_eq!(o.logs.len(), 4 * 30);
    assert!(o
        .series
        .iter()
        .any(|s| o.names.name(s.component) == "ts-b-service" && s.signal == ingest::Signal::Cpu));
    // The reference minute lies just before the case's own data.
    let case_first = o
        .spans
        .iter()
        .map(|s| s.start)
        .filter(|t| *t >= input.baseline_end)
        .min()
        .unwrap();
    let base_last = o
        .spans
        .iter()
        .map(|s| s.start)
        .filter(|t| *t < input.baseline_end)
        .max()
        .unwrap();
    assert!(base_last < input.baseline_end && case_first - input.baseline_end < 10_000_000);
    // Server spans are inferred where a parent lives in another service.
    assert!(o.spans.iter().any(|s| s.kind == ingest::SpanKind::Server));
    let logs = o
        .sources
        .iter()
        .find(|s| s.modality == Modality::Logs)
        .unwrap();
    assert!(logs.missing.is_none());
}

#[test]
fn missing_minute_files_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    std::fs::remove_file(
        dir.path()
            .join(format!("rca_data/{DAY}/trace/08_45_trace.csv")),
    )
    .unwrap();
    let cases = nezha_cases(dir.path(), DAY).unwrap();
    let input = load_nezha_case(dir.path(), DAY, &cases[0], &NezhaWindow::default()).unwrap();
    let traces = input
        .observations
        .sources
        .iter()
        .find(|s| s.modality == Modality::Traces)
        .unwrap();
    assert!(traces
        .missing
        .as_deref()
        .unwrap()
        .contains("08_45_trace.csv"));
}

#[test]
fn a_broken_row_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    let p = dir
        .path()
        .join(format!("rca_data/{DAY}/trace/08_44_trace.csv"));
    let mut text = std::fs::read_to_string(&p).unwrap();
    text += "zz-not-hex,1,root,ts-a-service-5b6-x1,/api/a,1,2,3\n";
    let line = text.lines().count();
    std::fs::write(&p, text).unwrap();
    let cases = nezha_cases(dir.path(), DAY).unwrap();
    let err = load_nezha_case(dir.path(), DAY, &cases[0], &NezhaWindow::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("08_44_trace.csv") && err.contains(&format!(":{line}:")),
        "{err}"
    );
}

#[test]
fn a_missing_fault_list_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = nezha_cases(dir.path(), DAY).err().unwrap().to_string();
    assert!(err.contains("fault_list.json"), "{err}");
}
