//! The Nezha layout reader on a tiny day written here in the dataset's formats,
//! its bad-input behaviour, and the holes real days have: every one loads, and
//! its `sources` say what was absent and what that costs.

#[path = "common/nezha_day.rs"]
mod nezha_day;

use std::path::Path;

use ingest::{load_nezha_case, nezha_cases, Modality, NezhaInput, NezhaWindow};
use nezha_day::{at, day, log_row, remove, remove_every_second_minute, write, DAY, LOG_HEADER};

fn load(root: &Path) -> NezhaInput {
    let cases = nezha_cases(root, DAY).unwrap();
    load_nezha_case(root, DAY, &cases[0], &NezhaWindow::default()).unwrap()
}

/// What the case's sources say `modality` lacks ("" when nothing).
fn missing(input: &NezhaInput, modality: Modality) -> String {
    input
        .observations
        .sources
        .iter()
        .find(|s| s.modality == modality)
        .unwrap_or_else(|| panic!("no source for {modality}"))
        .missing
        .clone()
        .unwrap_or_default()
}

fn micros(hhmmss: &str) -> i64 {
    (at(hhmmss) / 1000) as i64
}

/// The case's files start at 08:42:10 and it was injected at 08:43:04.
const CASE_START: &str = "08:42:10";

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
    let input = load(dir.path());
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
    // The reference minute lies just before the case's own data, which
    // begins where the baseline ends.
    assert_eq!(input.baseline_end, micros(CASE_START));
    let base_last = o
        .spans
        .iter()
        .map(|s| s.start)
        .filter(|t| *t < input.baseline_end)
        .max()
        .unwrap();
    assert!(input.baseline_end - base_last < 2_000_000);
    // Server spans are inferred where a parent lives in another service.
    assert!(o.spans.iter().any(|s| s.kind == ingest::SpanKind::Server));
    assert_eq!(missing(&input, Modality::Traces), "");
    assert_eq!(missing(&input, Modality::Logs), "");
    assert_eq!(missing(&input, Modality::Metrics), "");
}

#[test]
fn a_missing_minute_file_is_a_gap_in_the_window() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    remove(dir.path(), &format!("rca_data/{DAY}/trace/08_45_trace.csv"));
    let input = load(dir.path());
    assert_eq!(
        missing(&input, Modality::Traces),
        format!("1 of 3 minute files absent (rca_data/{DAY}/trace/08_45_trace.csv): the window has a gap")
    );
    assert_eq!(input.observations.spans.len(), 3 * 60);
    assert_eq!(missing(&input, Modality::Logs), "");
}

#[test]
fn every_second_minute_file_removed() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    let gone = remove_every_second_minute(dir.path());
    assert_eq!(gone, ["08_44_trace.csv", "08_44_log.csv"]);
    let input = load(dir.path());
    for (modality, file) in [(Modality::Traces, "trace"), (Modality::Logs, "log")] {
        let m = missing(&input, modality);
        assert_eq!(
            m,
            format!("1 of 3 minute files absent (rca_data/{DAY}/{file}/08_44_{file}.csv): the window has a gap")
        );
    }
    assert_eq!(input.observations.spans.len(), 3 * 60);
    assert_eq!(input.observations.logs.len(), 3 * 30);
}

#[test]
fn without_fault_free_traces_the_case_s_earliest_part_is_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    remove(dir.path(), &format!("construct_data/{DAY}/trace"));
    let input = load(dir.path());
    // 30 s before the injection on a bucket edge: 08:42:30, 20 s into the case.
    assert_eq!(input.baseline_end, micros("08:42:30"));
    assert_eq!(
        missing(&input, Modality::Traces),
        format!(
            "fault-free traces absent (construct_data/{DAY}/trace): trace signals judged \
             against the earlier part of the case's window (until 08:42:30)"
        )
    );
    let o = &input.observations;
    assert_eq!(o.spans.len(), 3 * 60, "the case's own spans only");
    assert_eq!(
        o.spans
            .iter()
            .filter(|s| s.start < input.baseline_end)
            .count(),
        2 * 20,
        "the case's first 20 s of traces are the baseline"
    );
    // The fault-free logs are still there, before the case.
    assert_eq!(o.logs.len(), 4 * 30);
    assert!(o.logs.iter().any(|l| l.time < micros(CASE_START)));
    assert_eq!(missing(&input, Modality::Logs), "");
}

#[test]
fn without_fault_free_logs_the_logs_baseline_is_the_case_s_own() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    remove(dir.path(), &format!("construct_data/{DAY}/log"));
    let input = load(dir.path());
    assert_eq!(input.baseline_end, micros("08:42:30"));
    assert_eq!(
        missing(&input, Modality::Logs),
        format!(
            "fault-free logs absent (construct_data/{DAY}/log): log signals judged \
             against the earlier part of the case's window (until 08:42:30)"
        )
    );
    assert_eq!(missing(&input, Modality::Traces), "");
    assert_eq!(input.observations.spans.len(), 4 * 60);
}

#[test]
fn without_the_day_s_fault_free_data_at_all() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    remove(dir.path(), &format!("construct_data/{DAY}"));
    let input = load(dir.path());
    assert_eq!(input.baseline_end, micros("08:42:30"));
    assert!(missing(&input, Modality::Traces).starts_with(&format!(
        "fault-free traces absent (construct_data/{DAY}/trace)"
    )));
    assert!(missing(&input, Modality::Logs).starts_with(&format!(
        "fault-free logs absent (construct_data/{DAY}/log)"
    )));
    // Metrics keep their own history.
    let o = &input.observations;
    assert!(o.series.iter().all(|s| s.samples[0].0 < micros("08:30:00")));
    assert_eq!(missing(&input, Modality::Metrics), "");
}

#[test]
fn the_baseline_keeps_20_s_of_a_case_whose_files_start_late() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    remove(dir.path(), &format!("construct_data/{DAY}"));
    for kind in ["trace", "log"] {
        remove(
            dir.path(),
            &format!("rca_data/{DAY}/{kind}/08_43_{kind}.csv"),
        );
    }
    let input = load(dir.path());
    // The case's data begins at 08:43:10, after the injection.
    assert_eq!(input.baseline_end, micros("08:43:30"));
}

#[test]
fn without_any_logs_of_the_day() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    remove(dir.path(), &format!("rca_data/{DAY}/log"));
    remove(dir.path(), &format!("construct_data/{DAY}/log"));
    let input = load(dir.path());
    assert_eq!(
        missing(&input, Modality::Logs),
        format!(
            "no log files for this case (rca_data/{DAY}/log absent): log signals not judged; \
             fault-free logs absent (construct_data/{DAY}/log)"
        )
    );
    assert!(input.observations.logs.is_empty());
    // Traces have their fault-free minute: their baseline is unchanged.
    assert_eq!(input.baseline_end, micros(CASE_START));
    assert_eq!(missing(&input, Modality::Traces), "");
}

#[test]
fn no_log_files_for_this_case_names_them() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    for m in ["08_43", "08_44", "08_45"] {
        remove(dir.path(), &format!("rca_data/{DAY}/log/{m}_log.csv"));
    }
    let input = load(dir.path());
    assert_eq!(
        missing(&input, Modality::Logs),
        format!(
            "no log files for this case (rca_data/{DAY}/log/08_43_log.csv, 08_44_log.csv, \
             08_45_log.csv): log signals not judged"
        )
    );
    assert_eq!(input.observations.logs.len(), 30, "the fault-free minute");
}

#[test]
fn only_the_metric_files_kept() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    for d in ["trace", "log", "traceid"] {
        remove(dir.path(), &format!("rca_data/{DAY}/{d}"));
    }
    remove(dir.path(), &format!("construct_data/{DAY}"));
    let input = load(dir.path());
    let o = &input.observations;
    assert!(o.spans.is_empty() && o.logs.is_empty());
    assert!(!o.series.is_empty());
    assert!(missing(&input, Modality::Traces).starts_with(&format!(
        "no trace files for this case (rca_data/{DAY}/trace absent): trace signals not judged"
    )));
    assert!(missing(&input, Modality::Logs).starts_with(&format!(
        "no log files for this case (rca_data/{DAY}/log absent): log signals not judged"
    )));
    assert_eq!(missing(&input, Modality::Metrics), "");
}

#[test]
fn without_metric_files() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    remove(dir.path(), &format!("rca_data/{DAY}/metric"));
    let input = load(dir.path());
    assert!(input.observations.series.is_empty());
    assert_eq!(
        missing(&input, Modality::Metrics),
        format!("no metric files (rca_data/{DAY}/metric absent): metric signals not judged")
    );
}

#[test]
fn an_empty_minute_file_is_no_records() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    write(
        dir.path(),
        &format!("rca_data/{DAY}/trace/08_44_trace.csv"),
        "",
    );
    write(
        dir.path(),
        &format!("rca_data/{DAY}/log/08_44_log.csv"),
        LOG_HEADER,
    );
    let input = load(dir.path());
    assert_eq!(
        missing(&input, Modality::Traces),
        format!("1 of 3 minute files hold no records (rca_data/{DAY}/trace/08_44_trace.csv): the window has a gap")
    );
    assert_eq!(
        missing(&input, Modality::Logs),
        format!("1 of 3 minute files hold no records (rca_data/{DAY}/log/08_44_log.csv): the window has a gap")
    );
    assert_eq!(input.observations.spans.len(), 3 * 60);
}

#[test]
fn an_empty_fault_free_file_is_like_an_absent_one() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    write(
        dir.path(),
        &format!("construct_data/{DAY}/trace/08_50_trace.csv"),
        "",
    );
    let input = load(dir.path());
    assert_eq!(input.baseline_end, micros("08:42:30"));
    assert!(
        missing(&input, Modality::Traces).starts_with(&format!(
            "fault-free traces hold no records (construct_data/{DAY}/trace/08_50_trace.csv): \
             trace signals judged against the earlier part"
        )),
        "{}",
        missing(&input, Modality::Traces)
    );
}

#[test]
fn an_overflowed_time_unix_nano_is_read_from_the_row_s_other_times() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    // As in the real 2023-01-30 files: `Timestamp` in milliseconds without a
    // zone, `TimeUnixNano` overflowed to the year 1754, docker's `time` right.
    // Enough such rows that a percentile of the raw times would land in 1754.
    let p = format!("rca_data/{DAY}/log/08_43_log.csv");
    let mut text = std::fs::read_to_string(dir.path().join(&p)).unwrap();
    for i in 0..5 {
        text += &log_row(
            &format!("2023-01-29T08:42:5{i}.707"),
            "-6795364578871345152",
            &format!("2023-01-29T08:42:5{i}.711554592Z"),
            "ERROR",
            900 + i,
        );
    }
    // Only `Timestamp` left to go by (docker's `time` absent from the JSON):
    // read from it, as UTC.
    text += "2023-01-29T08:42:59.500,-6795364578871345152,node,ts-b-service-7c8-y2,server,x,y,\"{\"\"log\"\":\"\"16:00:00.000 ERROR  b.s.BServiceImpl#42 boom\\n\"\"}\"\n";
    // No plausible time at all: skipped, and counted.
    text += &log_row(
        "garbage",
        "-6795364578871345152",
        "also garbage",
        "ERROR",
        999,
    );
    std::fs::write(dir.path().join(&p), text).unwrap();
    let input = load(dir.path());
    assert_eq!(input.baseline_end, micros(CASE_START), "not in 1754");
    let o = &input.observations;
    assert_eq!(o.logs.len(), 4 * 30 + 6);
    for i in 0..5 {
        let want = micros(&format!("08:42:5{i}")) + 711_554;
        assert!(
            o.logs.iter().any(|l| l.time == want),
            "docker time of row {i}"
        );
    }
    assert!(o
        .logs
        .iter()
        .any(|l| l.time == micros("08:42:59") + 500_000));
    assert!(o.logs.iter().all(|l| l.time > micros("08:40:00")));
    assert_eq!(
        missing(&input, Modality::Logs),
        format!(
            "1 log row without a plausible time skipped (rca_data/{DAY}/log/08_43_log.csv: 1): \
             those log rows left out"
        )
    );
}

#[test]
fn garbage_times_cannot_move_where_the_case_begins() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    // A hundred rows agreeing on a wrong time an hour before the case: more
    // than the low percentile skips, but far from the case's minute files.
    let p = format!("rca_data/{DAY}/log/08_44_log.csv");
    let mut text = std::fs::read_to_string(dir.path().join(&p)).unwrap();
    let t = at("07:40:00");
    let when = nezha_day::rfc3339(t);
    for i in 0..100 {
        text += &log_row(&when, &t.to_string(), &when, "INFO", 2000 + i);
    }
    std::fs::write(dir.path().join(&p), text).unwrap();
    let input = load(dir.path());
    assert_eq!(input.baseline_end, micros(CASE_START));
}

#[test]
fn an_overflowed_span_start_is_read_from_its_end_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    let p = format!("rca_data/{DAY}/trace/08_44_trace.csv");
    let mut text = std::fs::read_to_string(dir.path().join(&p)).unwrap();
    let end = at("08:43:40") + 5_000_000;
    text += &format!(
        "{:032x},{:016x},root,ts-a-service-5b6-x1,/api/a,-6795364578871345152,{end},5000\n",
        7777, 7777
    );
    text += &format!(
        "{:032x},{:016x},root,ts-a-service-5b6-x1,/api/a,-6795364578871345152,-6795364578871345152,5000\n",
        7778, 7778
    );
    std::fs::write(dir.path().join(&p), text).unwrap();
    let input = load(dir.path());
    let o = &input.observations;
    let span = o.spans.iter().find(|s| s.span_id == 7777).unwrap();
    assert_eq!(span.start, micros("08:43:40"));
    assert!(!o.spans.iter().any(|s| s.span_id == 7778));
    assert!(missing(&input, Modality::Traces).starts_with(&format!(
        "1 trace row without a plausible time skipped (rca_data/{DAY}/trace/08_44_trace.csv: 1)"
    )));
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
fn a_log_time_that_is_no_number_is_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    let p = dir
        .path()
        .join(format!("construct_data/{DAY}/log/08_50_log.csv"));
    let mut text = std::fs::read_to_string(&p).unwrap();
    text += &log_row("2023-01-29T08:49:50.000", "soon", "", "INFO", 5);
    let line = text.lines().count();
    std::fs::write(&p, text).unwrap();
    let cases = nezha_cases(dir.path(), DAY).unwrap();
    let err = load_nezha_case(dir.path(), DAY, &cases[0], &NezhaWindow::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("08_50_log.csv") && err.contains(&format!(":{line}:")),
        "{err}"
    );
}

#[test]
fn an_empty_metric_file_is_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    day(dir.path());
    let rel = format!("rca_data/{DAY}/metric/ts-a-service-5b6-x1_metric.csv");
    write(dir.path(), &rel, "");
    let cases = nezha_cases(dir.path(), DAY).unwrap();
    let err = load_nezha_case(dir.path(), DAY, &cases[0], &NezhaWindow::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("ts-a-service-5b6-x1_metric.csv"), "{err}");
}

#[test]
fn a_missing_fault_list_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = nezha_cases(dir.path(), DAY).err().unwrap().to_string();
    assert!(err.contains("fault_list.json"), "{err}");
}
