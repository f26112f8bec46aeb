//! A tiny day of the Nezha dataset, written in its formats (the dataset's
//! README: trace, log and metric CSVs, the fault list, the fault-free
//! minute), and the ways real days have holes in it. Shared by ingest's
//! reader tests and rca's command tests (`#[path]`-included there).
#![allow(dead_code)]

use std::path::Path;

pub const DAY: &str = "2023-01-29";

/// 2023-01-29T00:00:00Z in seconds.
const MIDNIGHT: i64 = 1_674_950_400;

/// `HH:MM:SS` of the day, in nanoseconds since the epoch.
pub fn at(hhmmss: &str) -> i128 {
    let p: Vec<i64> = hhmmss.split(':').map(|x| x.parse().unwrap()).collect();
    i128::from(MIDNIGHT + p[0] * 3600 + p[1] * 60 + p[2]) * 1_000_000_000
}

/// RFC 3339 with nanoseconds, as the log files' `Timestamp` and docker's `time`.
pub fn rfc3339(ns: i128) -> String {
    chrono::DateTime::from_timestamp_nanos(ns as i64)
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string()
}

pub fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

pub const TRACE_HEADER: &str =
    "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n";
pub const LOG_HEADER: &str = "Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log\n";

pub const POD_A: &str = "ts-a-service-5b6-x1";
pub const POD_B: &str = "ts-b-service-7c8-y2";

/// `n` traces a second from `t0_ns`, each `POD_A` calling `POD_B`; `b_us` is
/// the callee's duration in microseconds. Trace ids start at `first_id`.
pub fn trace_rows(t0_ns: i128, n: usize, first_id: usize, b_us: i128) -> String {
    traces_with(t0_ns, n, first_id, |_| (1000, b_us))
}

/// Like [`trace_rows`], with the caller's own time and the callee's duration
/// (both in microseconds) chosen per row by its start.
pub fn traces_with(
    t0_ns: i128,
    n: usize,
    first_id: usize,
    durations: impl Fn(i128) -> (i128, i128),
) -> String {
    let mut s = String::from(TRACE_HEADER);
    for i in 0..n {
        let id = first_id + i;
        let start = t0_ns + i as i128 * 1_000_000_000;
        let (a_self_us, b_us) = durations(start);
        let a_us = b_us + a_self_us;
        s += &format!(
            "{id:032x},{:016x},root,{POD_A},/api/a,{start},{},{a_us}\n",
            2 * id + 1,
            start + a_us * 1000
        );
        s += &format!(
            "{id:032x},{:016x},{:016x},{POD_B},/api/b,{},{},{b_us}\n",
            2 * id + 2,
            2 * id + 1,
            start + 100_000,
            start + 100_000 + b_us * 1000
        );
    }
    s
}

/// One log row of `POD_B` at `t_ns`, with its three readings of the time.
pub fn log_row(stamp: &str, unix_nano: &str, docker_time: &str, level: &str, id: usize) -> String {
    format!(
        "{stamp},{unix_nano},node,{POD_B},server,{id:032x},{:016x},\"{{\"\"log\"\":\"\"16:00:00.000 {level}  b.s.BServiceImpl#42 TraceID: x SpanID: y [done]\\n\"\",\"\"stream\"\":\"\"stdout\"\",\"\"time\"\":\"\"{docker_time}\"\"}}\"\n",
        2 * id + 2
    )
}

/// `n` log lines of `POD_B`, one a second from `t0_ns`.
pub fn log_rows(t0_ns: i128, n: usize, first_id: usize, level: &str) -> String {
    logs_with(t0_ns, n, first_id, |_| level)
}

/// Like [`log_rows`], the level chosen per line by its time.
pub fn logs_with<'a>(
    t0_ns: i128,
    n: usize,
    first_id: usize,
    level: impl Fn(i128) -> &'a str,
) -> String {
    let mut s = String::from(LOG_HEADER);
    for i in 0..n {
        let t = t0_ns + i as i128 * 1_000_000_000;
        let when = rfc3339(t);
        s += &log_row(&when, &t.to_string(), &when, level(t), first_id + i);
    }
    s
}

/// One labelled fault: injected at `inject` (`HH:MM:SS`) into `pod`.
pub struct Case {
    pub inject: &'static str,
    pub pod: &'static str,
    pub fault: &'static str,
}

/// The one case of [`day`]: its files are `08_43`, `08_44`, `08_45`.
pub const ONE: [Case; 1] = [Case {
    inject: "08:43:04",
    pod: POD_B,
    fault: "exception",
}];

/// A day with `cases`, each with its three minute files of traces and logs
/// (30 rows each, starting 50 s before the minute they are named after, as
/// the real files do): from the injection on, the faulty pod is 20 ms slower
/// and `POD_B` logs errors when it is the faulty one. The fault-free minute
/// `08_50` (fast calls, info lines), and both pods' metrics every minute from
/// 08:20 to 09:20.
pub fn day_with(root: &Path, cases: &[Case]) {
    let mut hours: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, c) in cases.iter().enumerate() {
        hours.entry(c.inject[..2].to_string()).or_default().push(format!(
            r#"{{"inject_time": "{DAY} {}", "inject_timestamp": "0", "inject_pod": "{}", "inject_type": "{}"}}"#,
            c.inject, c.pod, c.fault
        ));
        let minute0 = at(&format!("{}:00", &c.inject[..5]));
        for i in 0..3 {
            let named = minute0 + i * 60_000_000_000;
            let t0 = named - 50_000_000_000;
            let name = chrono::DateTime::from_timestamp_nanos(named as i64)
                .format("%H_%M")
                .to_string();
            let id = 10_000 * (k + 1) + 100 * i as usize;
            let inject = at(c.inject);
            let on_b = c.pod == POD_B;
            write(
                root,
                &format!("rca_data/{DAY}/trace/{name}_trace.csv"),
                &traces_with(t0, 30, id, |t| match (t >= inject, on_b) {
                    (false, _) => (1000, 1000),
                    (true, true) => (1000, 21_000),
                    (true, false) => (21_000, 1000),
                }),
            );
            write(
                root,
                &format!("rca_data/{DAY}/log/{name}_log.csv"),
                &logs_with(t0, 30, id, |t| {
                    if t >= inject && on_b {
                        "ERROR"
                    } else {
                        "INFO"
                    }
                }),
            );
            write(
                root,
                &format!("rca_data/{DAY}/traceid/{name}_traceid.csv"),
                "x\n",
            );
        }
    }
    let list: Vec<String> = hours
        .iter()
        .map(|(h, v)| format!("\"{h}\": [{}]", v.join(", ")))
        .collect();
    write(
        root,
        &format!("rca_data/{DAY}/{DAY}-fault_list.json"),
        &format!("{{{}}}", list.join(", ")),
    );
    let t0 = at("08:49:10");
    write(
        root,
        &format!("construct_data/{DAY}/trace/08_50_trace.csv"),
        &trace_rows(t0, 30, 1, 1000),
    );
    write(
        root,
        &format!("construct_data/{DAY}/log/08_50_log.csv"),
        &log_rows(t0, 30, 1, "INFO"),
    );
    write(
        root,
        &format!("construct_data/{DAY}/traceid/08_50_traceid.csv"),
        "x\n",
    );
    for pod in [POD_A, POD_B] {
        let mut m = String::from(
            "Time,TimeStamp,PodName,CpuUsage(m),CpuUsageRate(%),MemoryUsage(Mi),MemoryUsageRate(%)\n",
        );
        for k in 0..60 {
            let t = at("08:20:00") / 1_000_000_000 + k * 60;
            m += &format!("t,{t},{pod},1,{},1,20\n", 5 + k % 3);
        }
        write(root, &format!("rca_data/{DAY}/metric/{pod}_metric.csv"), &m);
    }
}

/// The one-case day.
pub fn day(root: &Path) {
    day_with(root, &ONE);
}

/// Removes a file or directory under `root`.
pub fn remove(root: &Path, rel: &str) {
    let p = root.join(rel);
    if p.is_dir() {
        std::fs::remove_dir_all(&p).unwrap();
    } else {
        std::fs::remove_file(&p).unwrap();
    }
}

/// Every second minute file (in name order) of `trace/` and `log/` (those
/// present), removed; the names removed.
pub fn remove_every_second_minute(root: &Path) -> Vec<String> {
    let mut gone = Vec::new();
    for kind in ["trace", "log"] {
        let dir = root.join(format!("rca_data/{DAY}/{kind}"));
        if !dir.is_dir() {
            continue;
        }
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files.iter().skip(1).step_by(2) {
            gone.push(f.file_name().unwrap().to_string_lossy().into_owned());
            std::fs::remove_file(f).unwrap();
        }
    }
    gone
}
