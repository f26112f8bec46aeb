//! The fixture generator: determinism, variety, size, and that each fault leaves the
//! traces it should in the signals it should.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use rca::generate::{
    self, AccessFormat, FaultKindName, GenerateError, GenerateOptions, GeneratedSummary,
    FAULT_KINDS, FILES, SIZE_CAP_BYTES,
};
use serde_json::Value;

fn run(opts: &GenerateOptions) -> (tempfile::TempDir, GeneratedSummary) {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = generate::generate(opts, dir.path())
        .unwrap_or_else(|e| panic!("generate {:?} failed: {e}", opts));
    (dir, summary)
}

fn opts(seed: u64, fault: FaultKindName) -> GenerateOptions {
    GenerateOptions::new(seed, fault)
}

fn read_json(dir: &Path, name: &str) -> Value {
    let bytes = fs::read(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

#[derive(Debug, Clone)]
struct Span {
    service: String,
    trace: String,
    id: String,
    parent: String,
    kind: i64,
    start: f64,
    end: f64,
    attrs: BTreeMap<String, String>,
    error: bool,
    exception: Option<String>,
}

impl Span {
    fn ms(&self) -> f64 {
        (self.end - self.start) * 1000.0
    }
}

fn nanos(v: &Value) -> f64 {
    v.as_str()
        .expect("nanos as string")
        .parse::<u64>()
        .expect("nanos") as f64
        / 1e9
}

fn attr_value(v: &Value) -> String {
    let (_, inner) = v.as_object().unwrap().iter().next().unwrap();
    inner
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| inner.to_string())
}

fn attrs(list: &Value) -> BTreeMap<String, String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|kv| {
                    (
                        kv["key"].as_str().unwrap().to_string(),
                        attr_value(&kv["value"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn service_name(resource: &Value) -> String {
    attrs(&resource["attributes"])["service.name"].clone()
}

fn spans(dir: &Path) -> Vec<Span> {
    let doc = read_json(dir, "traces.json");
    let mut out = Vec::new();
    for rs in doc["resourceSpans"].as_array().unwrap() {
        let service = service_name(&rs["resource"]);
        for ss in rs["scopeSpans"].as_array().unwrap() {
            for s in ss["spans"].as_array().unwrap() {
                let exception = s["events"].as_array().and_then(|evs| {
                    evs.iter()
                        .find(|e| e["name"] == "exception")
                        .map(|e| attrs(&e["attributes"])["exception.type"].clone())
                });
                out.push(Span {
                    service: service.clone(),
                    trace: s["traceId"].as_str().unwrap().to_string(),
                    id: s["spanId"].as_str().unwrap().to_string(),
                    parent: s["parentSpanId"].as_str().unwrap().to_string(),
                    kind: s["kind"].as_i64().unwrap(),
                    start: nanos(&s["startTimeUnixNano"]),
                    end: nanos(&s["endTimeUnixNano"]),
                    attrs: attrs(&s["attributes"]),
                    error: s["status"]["code"].as_i64() == Some(2),
                    exception,
                });
            }
        }
    }
    out
}

struct Log {
    service: String,
    time: f64,
    severity: String,
    body: String,
    exception: Option<String>,
}

fn logs(dir: &Path) -> Vec<Log> {
    let doc = read_json(dir, "logs.json");
    let mut out = Vec::new();
    for rl in doc["resourceLogs"].as_array().unwrap() {
        let service = service_name(&rl["resource"]);
        for sl in rl["scopeLogs"].as_array().unwrap() {
            for r in sl["logRecords"].as_array().unwrap() {
                out.push(Log {
                    service: service.clone(),
                    time: nanos(&r["timeUnixNano"]),
                    severity: r["severityText"].as_str().unwrap().to_string(),
                    body: r["body"]["stringValue"].as_str().unwrap().to_string(),
                    exception: attrs(&r["attributes"]).get("exception.type").cloned(),
                });
            }
        }
    }
    out
}

/// `(unix seconds, value)` of one signal of one component.
fn series(metrics: &Value, signal: &str, component: &str) -> Option<Vec<(f64, f64)>> {
    let q = metrics["queries"]
        .as_array()?
        .iter()
        .find(|q| q["signal"] == signal)?;
    let r = q["response"]["data"]["result"]
        .as_array()?
        .iter()
        .find(|r| r["metric"]["service"] == component)?;
    Some(
        r["values"]
            .as_array()?
            .iter()
            .map(|p| {
                (
                    p[0].as_f64().unwrap(),
                    p[1].as_str().unwrap().parse::<f64>().unwrap(),
                )
            })
            .collect(),
    )
}

fn mean(xs: impl IntoIterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.into_iter().collect();
    assert!(!v.is_empty(), "mean of nothing");
    v.iter().sum::<f64>() / v.len() as f64
}

fn median(xs: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = xs.into_iter().collect();
    assert!(!v.is_empty(), "median of nothing");
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Mean before onset and mean from `settle` seconds after onset.
fn before_after(s: &[(f64, f64)], onset: f64, settle: f64) -> (f64, f64) {
    let before = mean(s.iter().filter(|p| p.0 < onset).map(|p| p.1));
    let after = mean(s.iter().filter(|p| p.0 >= onset + settle).map(|p| p.1));
    (before, after)
}

/// Exclusive time of each server span: its duration minus its direct client children.
fn exclusive_ms(all: &[Span]) -> BTreeMap<String, f64> {
    let mut child: BTreeMap<&str, f64> = BTreeMap::new();
    for s in all.iter().filter(|s| s.kind == 3) {
        *child.entry(s.parent.as_str()).or_default() += s.ms();
    }
    all.iter()
        .filter(|s| s.kind == 2)
        .map(|s| {
            (
                s.id.clone(),
                s.ms() - child.get(s.id.as_str()).copied().unwrap_or(0.0),
            )
        })
        .collect()
}

const SEEDS: [u64; 3] = [1, 7, 23];

#[test]
fn fault_kind_names_round_trip() {
    assert_eq!(FAULT_KINDS.len(), FaultKindName::ALL.len());
    for (name, kind) in FAULT_KINDS.iter().zip(FaultKindName::ALL) {
        assert_eq!(kind.as_str(), *name);
        assert_eq!(name.parse::<FaultKindName>().unwrap(), kind);
    }
    assert!(matches!(
        "disk_full".parse::<FaultKindName>(),
        Err(GenerateError::UnknownFault(_))
    ));
    for f in AccessFormat::ALL {
        assert_eq!(f.as_str().parse::<AccessFormat>().unwrap(), f);
    }
    assert!("apache".parse::<AccessFormat>().is_err());
}

#[test]
fn same_seed_gives_identical_bytes() {
    for o in [
        opts(42, FaultKindName::Exception),
        GenerateOptions {
            spans: 1500,
            access_format: Some(AccessFormat::NginxUpstream),
            ..opts(9, FaultKindName::ConnectionPoolExhaustion)
        },
        opts(5, FaultKindName::IngressAbuse),
    ] {
        let (a, sa) = run(&o);
        let (b, sb) = run(&o);
        assert_eq!(sa, sb);
        for f in FILES {
            let x = fs::read(a.path().join(f)).unwrap();
            let y = fs::read(b.path().join(f)).unwrap();
            assert!(x == y, "{f} differs between two runs of {o:?}");
        }
    }
}

#[test]
fn seeds_give_different_systems() {
    let mut systems = BTreeSet::new();
    let mut sizes = BTreeSet::new();
    for seed in 0..20 {
        let comps = generate::components(seed);
        assert!((12..=20).contains(&comps.len()), "seed {seed}: {comps:?}");
        sizes.insert(comps.len());
        systems.insert(comps);
    }
    assert!(
        systems.len() >= 18,
        "only {} distinct systems in 20 seeds",
        systems.len()
    );
    assert!(sizes.len() >= 4, "system sizes barely vary: {sizes:?}");

    let (a, sa) = run(&opts(100, FaultKindName::CpuSaturation));
    let (b, sb) = run(&opts(101, FaultKindName::CpuSaturation));
    assert_ne!(sa.components, sb.components);
    assert_ne!(
        fs::read(a.path().join("traces.json")).unwrap(),
        fs::read(b.path().join("traces.json")).unwrap()
    );
}

#[test]
fn every_kind_generates_a_complete_fixture_under_the_cap() {
    for kind in FaultKindName::ALL {
        for seed in SEEDS {
            let (dir, s) = run(&opts(seed, kind));
            let p = dir.path();
            let mut total = 0;
            for f in FILES {
                let len = fs::metadata(p.join(f))
                    .unwrap_or_else(|e| panic!("{f}: {e}"))
                    .len();
                assert!(len > 0, "{kind} seed {seed}: {f} is empty");
                total += len;
            }
            assert_eq!(total, s.bytes);
            assert!(total < SIZE_CAP_BYTES, "{kind} seed {seed}: {total} bytes");
            assert!(
                (1800..=4500).contains(&s.spans),
                "{kind} seed {seed}: {} spans",
                s.spans
            );

            let truth = read_json(p, "truth.json");
            assert_eq!(truth["root_cause"]["component"], s.target.as_str());
            assert_eq!(truth["root_cause"]["fault"], kind.as_str());
            assert!(s.components.contains(&s.target));

            let alert = read_json(p, "alert.json");
            assert_eq!(alert["version"], "4");
            assert_eq!(alert["status"], "firing");
            assert_eq!(alert["receiver"], "rca");
            let a = &alert["alerts"][0];
            assert_eq!(a["labels"]["service"], s.alert_component.as_str());
            assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
            assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16);
            let starts = chrono::DateTime::parse_from_rfc3339(a["startsAt"].as_str().unwrap())
                .unwrap()
                .timestamp_millis() as f64
                / 1000.0;
            let lag = starts - s.onset_unix;
            assert!(
                (59.0..=181.0).contains(&lag),
                "{kind}: alert {lag}s after onset"
            );
            // The alert names a symptom at the edge, not the culprit (unless the culprit
            // is the edge).
            assert_eq!(s.components[0], generate::components(seed)[0]);
            if kind == FaultKindName::IngressAbuse {
                assert_eq!(s.alert_component, s.target);
                assert_eq!(a["labels"]["alertname"], "High4xxRate");
            } else {
                assert_ne!(s.alert_component, s.target);
                assert!(s.components[..2].contains(&s.alert_component));
            }
            let window_start = chrono::DateTime::parse_from_rfc3339(&s.window_start)
                .unwrap()
                .timestamp() as f64;
            let at = (s.onset_unix - window_start) / 1800.0;
            assert!((0.5..=0.7).contains(&at), "onset at {at} of the window");

            // Every line of the access log is in the stated format.
            let access = fs::read_to_string(p.join("access.log")).unwrap();
            assert_eq!(access.lines().count(), s.access_lines);
            for line in access.lines().take(50) {
                match s.access_format {
                    AccessFormat::EnvoyJson => {
                        let v: Value = serde_json::from_str(line).unwrap();
                        assert!(v["downstream_tls_version"].is_string());
                    }
                    AccessFormat::EnvoyText => assert!(line.starts_with("[20")),
                    AccessFormat::NginxUpstream => assert!(line.contains(" - - [")),
                }
            }
        }
    }
}

#[test]
fn traces_nest_the_way_calls_do() {
    let (dir, s) = run(&opts(3, FaultKindName::NetworkDelay));
    let all = spans(dir.path());
    assert_eq!(all.len(), s.spans);
    let by_id: BTreeMap<(&str, &str), &Span> = all
        .iter()
        .map(|x| ((x.trace.as_str(), x.id.as_str()), x))
        .collect();
    let proxy = &s.components[0];
    let roles = generate::component_roles(3);
    let store = |name: &str| {
        roles
            .iter()
            .any(|(n, r)| n == name && (*r == "database" || *r == "cache"))
    };
    let mut roots = 0;
    for x in &all {
        assert!(x.end >= x.start);
        if x.parent.is_empty() {
            roots += 1;
            assert_eq!(&x.service, proxy, "root outside the proxy");
            assert_eq!(x.attrs.get("component").map(String::as_str), Some("proxy"));
            continue;
        }
        let parent = by_id
            .get(&(x.trace.as_str(), x.parent.as_str()))
            .unwrap_or_else(|| panic!("orphan span {x:?}"));
        assert!(
            x.start >= parent.start - 1e-6 && x.end <= parent.end + 1e-6,
            "child outside parent"
        );
        if x.kind == 2 {
            // A server span sits inside its caller's client span, in another service.
            assert_eq!(parent.kind, 3);
            assert_eq!(parent.attrs["peer.service"], x.service);
        } else {
            assert_eq!(parent.kind, 2);
            assert_eq!(parent.service, x.service);
            let peer = &x.attrs["peer.service"];
            if store(peer) {
                assert!(x.attrs.contains_key("db.system"));
            }
        }
    }
    assert_eq!(roots, s.traces);
    // Datastores are not instrumented: they appear only as peers.
    let services: BTreeSet<&str> = all.iter().map(|x| x.service.as_str()).collect();
    for (name, role) in &roles {
        if matches!(*role, "database" | "cache" | "batch") {
            assert!(!services.contains(name.as_str()), "{name} has spans");
        }
    }
    let db_callers: BTreeSet<&str> = all
        .iter()
        .filter(|x| x.attrs.get("db.system").map(String::as_str) == Some("postgresql"))
        .map(|x| x.service.as_str())
        .collect();
    assert!(db_callers.len() >= 2, "database callers: {db_callers:?}");
}

fn check_signal(kind: FaultKindName, seed: u64) {
    let (dir, s) = run(&opts(seed, kind));
    let p = dir.path();
    let onset = s.onset_unix;
    let metrics = read_json(p, "metrics.json");
    let all = spans(p);
    let lg = logs(p);
    let t = s.target.as_str();
    let ctx = format!("{kind} seed {seed} target {t}");
    let roles = generate::component_roles(seed);
    let role = roles.iter().find(|(n, _)| n == t).unwrap().1;
    let after = |x: &&Span| x.start >= onset + 60.0;
    let before = |x: &&Span| x.start < onset;
    match kind {
        FaultKindName::CpuSaturation => {
            let cpu = series(&metrics, "cpu", t).unwrap();
            let (b, a) = before_after(&cpu, onset, 60.0);
            assert!(a > b + 0.3 && a > 0.85, "{ctx}: cpu {b} -> {a}");
            if role == "service" {
                let excl = exclusive_ms(&all);
                let own = |f: &dyn Fn(&&Span) -> bool| {
                    median(
                        all.iter()
                            .filter(|x| x.service == t && x.kind == 2)
                            .filter(f)
                            .map(|x| excl[&x.id]),
                    )
                };
                let (b, a) = (own(&before), own(&after));
                assert!(a > 1.8 * b, "{ctx}: exclusive time {b} -> {a}");
            } else {
                let calls = |f: &dyn Fn(&&Span) -> bool| {
                    median(
                        all.iter()
                            .filter(|x| x.attrs.get("peer.service").map(String::as_str) == Some(t))
                            .filter(f)
                            .map(|x| x.ms()),
                    )
                };
                let (b, a) = (calls(&before), calls(&after));
                assert!(a > 1.8 * b, "{ctx}: calls into {t} {b} -> {a}");
            }
        }
        FaultKindName::MemoryLeak => {
            let mem = series(&metrics, "memory", t).unwrap();
            let (b, a) = before_after(&mem, onset, 300.0);
            assert!(a > 1.3 * b, "{ctx}: memory {b} -> {a}");
        }
        FaultKindName::NetworkDelay => {
            let into = |f: &dyn Fn(&&Span) -> bool| {
                median(
                    all.iter()
                        .filter(|x| {
                            x.kind == 3
                                && x.attrs.get("peer.service").map(String::as_str) == Some(t)
                        })
                        .filter(f)
                        .map(|x| x.ms()),
                )
            };
            let (b, a) = (into(&before), into(&after));
            assert!(a > b + 50.0, "{ctx}: calls into {t} {b} -> {a} ms");
            if role == "service" || role == "frontend" {
                let own = |f: &dyn Fn(&&Span) -> bool| {
                    median(
                        all.iter()
                            .filter(|x| x.service == t && x.kind == 2)
                            .filter(f)
                            .map(|x| x.ms()),
                    )
                };
                let (b, a) = (own(&before), own(&after));
                assert!(
                    a < 1.6 * b + 5.0,
                    "{ctx}: its own spans slowed {b} -> {a} ms"
                );
            }
            let cpu = series(&metrics, "cpu", t).unwrap();
            let (b, a) = before_after(&cpu, onset, 60.0);
            assert!(a < b + 0.1, "{ctx}: cpu moved {b} -> {a}");
        }
        FaultKindName::ErrorReturn | FaultKindName::Exception => {
            let share = |f: &dyn Fn(&&Span) -> bool| {
                let v: Vec<&Span> = all
                    .iter()
                    .filter(|x| x.service == t && x.kind == 2)
                    .filter(f)
                    .collect();
                assert!(v.len() >= 10, "{ctx}: only {} spans", v.len());
                v.iter().filter(|x| x.error).count() as f64 / v.len() as f64
            };
            let (b, a) = (share(&before), share(&after));
            assert!(a >= 0.08 && b <= 0.06, "{ctx}: error share {b} -> {a}");
            let e5 = series(&metrics, "http_5xx_rate", t).unwrap();
            let (b, a) = before_after(&e5, onset, 60.0);
            assert!(a > 10.0 * b, "{ctx}: 5xx rate {b} -> {a}");
            let caller_logs = lg
                .iter()
                .filter(|l| l.service != t && l.body.starts_with(&format!("call to {t} failed: 5")))
                .count();
            assert!(caller_logs >= 5, "{ctx}: {caller_logs} caller log lines");
            let exceptions: Vec<&Span> = all.iter().filter(|x| x.exception.is_some()).collect();
            let exc_logs: Vec<&Log> = lg.iter().filter(|l| l.exception.is_some()).collect();
            if kind == FaultKindName::Exception {
                assert!(
                    exceptions.len() >= 3,
                    "{ctx}: {} exception events",
                    exceptions.len()
                );
                assert!(exceptions
                    .iter()
                    .all(|x| x.service == t && x.start >= onset && x.error));
                assert!(
                    exc_logs.len() >= 5
                        && exc_logs
                            .iter()
                            .all(|l| l.service == t && l.severity == "ERROR")
                );
                let ty = exc_logs[0].exception.clone().unwrap();
                assert!(
                    ty.contains('.') || ty.contains("Error"),
                    "{ctx}: exception type {ty}"
                );
                assert!(exc_logs
                    .iter()
                    .all(|l| l.body.contains('\n') && l.time >= onset));
            } else {
                assert!(
                    exceptions.is_empty() && exc_logs.is_empty(),
                    "{ctx}: error_return threw"
                );
            }
        }
        FaultKindName::GoroutineLeak => {
            let g = series(&metrics, "goroutines", t).expect("a Go service exports goroutines");
            let (b, a) = before_after(&g, onset, 300.0);
            assert!(a > b + 500.0, "{ctx}: goroutines {b} -> {a}");
            let mem = series(&metrics, "memory", t).unwrap();
            let (b, a) = before_after(&mem, onset, 300.0);
            assert!(a > 1.15 * b, "{ctx}: memory {b} -> {a}");
        }
        FaultKindName::ConnectionPoolExhaustion => {
            let pending = series(&metrics, "pool_pending", t).unwrap();
            let (b, a) = before_after(&pending, onset, 60.0);
            assert!(a > b + 8.0, "{ctx}: pool_pending {b} -> {a}");
            let db_calls = |svc: &str, f: &dyn Fn(&&Span) -> bool| -> Option<f64> {
                let v: Vec<f64> = all
                    .iter()
                    .filter(|x| {
                        x.service == svc
                            && x.attrs.get("db.system").map(String::as_str) == Some("postgresql")
                    })
                    .filter(f)
                    .map(|x| x.ms())
                    .collect();
                (v.len() >= 5).then(|| median(v))
            };
            let (b, a) = (db_calls(t, &before).unwrap(), db_calls(t, &after).unwrap());
            assert!(
                a > 3.0 * b + 20.0,
                "{ctx}: its database calls {b} -> {a} ms"
            );
            let others: BTreeSet<&str> = all
                .iter()
                .filter(|x| {
                    x.service != t
                        && x.attrs.get("db.system").map(String::as_str) == Some("postgresql")
                })
                .map(|x| x.service.as_str())
                .collect();
            assert!(!others.is_empty(), "{ctx}: no other database caller");
            for o in others {
                if let (Some(b), Some(a)) = (db_calls(o, &before), db_calls(o, &after)) {
                    assert!(a < 2.0 * b, "{ctx}: {o}'s database calls slowed {b} -> {a}");
                }
            }
            assert!(lg
                .iter()
                .any(|l| l.service == t
                    && l.body.starts_with("timeout acquiring connection from pool")));
        }
        FaultKindName::IngressAbuse => {
            assert_eq!(s.access_format, AccessFormat::EnvoyJson);
            let access = fs::read_to_string(p.join("access.log")).unwrap();
            let mut old_tls = 0;
            let mut agents = BTreeSet::new();
            let mut codes = BTreeMap::<i64, usize>::new();
            for line in access.lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                let tls = v["downstream_tls_version"].as_str().unwrap();
                if tls == "TLSv1" || tls == "TLSv1.1" {
                    old_tls += 1;
                    let at = chrono::DateTime::parse_from_rfc3339(v["start_time"].as_str().unwrap())
                        .unwrap()
                        .timestamp_millis() as f64
                        / 1000.0;
                    assert!(at >= onset, "{ctx}: old TLS before onset");
                    agents.insert(v["user_agent"].as_str().unwrap().to_string());
                    *codes
                        .entry(v["response_code"].as_i64().unwrap())
                        .or_default() += 1;
                }
            }
            assert!(old_tls >= 50, "{ctx}: {old_tls} old-TLS lines");
            assert!((3..=5).contains(&agents.len()), "{ctx}: agents {agents:?}");
            let four = codes
                .iter()
                .filter(|(c, _)| (400..500).contains(*c))
                .map(|(_, n)| n)
                .sum::<usize>();
            assert!(four as f64 > 0.9 * old_tls as f64, "{ctx}: codes {codes:?}");
            let reuse = series(&metrics, "tls_session_reuse", t).unwrap();
            let (b, a) = before_after(&reuse, onset, 60.0);
            assert!(a < 0.8 * b, "{ctx}: session reuse {b} -> {a}");
            let e4 = series(&metrics, "http_4xx_rate", t).unwrap();
            let (b, a) = before_after(&e4, onset, 60.0);
            assert!(a > 5.0 * b, "{ctx}: 4xx {b} -> {a}");
        }
        FaultKindName::ServiceDown => {
            // Silent from the onset: no span, no line; its callers' calls
            // into it fail fast and name no peer.
            assert!(
                all.iter().filter(|x| x.service == t).any(|x| before(&x)),
                "{ctx}"
            );
            assert!(
                !all.iter().any(|x| x.service == t && x.start >= onset + 1.0),
                "{ctx}: spans after the kill"
            );
            assert!(
                !lg.iter().any(|l| l.service == t && l.time >= onset + 1.0),
                "{ctx}: lines after the kill"
            );
            let refused: Vec<&Span> = all
                .iter()
                .filter(|x| x.kind == 3 && x.start >= onset + 1.0 && x.error)
                .filter(|x| !x.attrs.contains_key("peer.service"))
                .collect();
            assert!(
                refused.len() >= 10,
                "{ctx}: {} refused calls",
                refused.len()
            );
            assert!(
                refused.iter().all(|x| x.ms() < 5.0),
                "{ctx}: refused calls are fast"
            );
            assert!(
                lg.iter().any(|l| l.body.contains("connection refused")),
                "{ctx}: callers say the connection was refused"
            );
        }
        FaultKindName::LockContention => {
            let excl = exclusive_ms(&all);
            let own = |f: &dyn Fn(&&Span) -> bool| {
                median(
                    all.iter()
                        .filter(|x| x.service == t && x.kind == 2)
                        .filter(f)
                        .map(|x| excl[&x.id]),
                )
            };
            let (b, a) = (own(&before), own(&after));
            assert!(a > b + 100.0, "{ctx}: own time {b} -> {a} ms");
            let waits = lg
                .iter()
                .filter(|l| l.service == t && l.body.starts_with("Waiting for lock behind"))
                .count();
            assert!(waits >= 20, "{ctx}: {waits} lock lines");
            let cpu = series(&metrics, "cpu", t).unwrap();
            let (b, a) = before_after(&cpu, onset, 60.0);
            assert!(
                a < b + 0.1,
                "{ctx}: a waiting process uses no more CPU: {b} -> {a}"
            );
        }
    }
}

#[test]
fn a_stopped_service_goes_silent_and_its_callers_calls_are_refused() {
    SEEDS
        .iter()
        .for_each(|&s| check_signal(FaultKindName::ServiceDown, s));
}

#[test]
fn lock_contention_is_own_time_with_lines_that_say_so() {
    SEEDS
        .iter()
        .for_each(|&s| check_signal(FaultKindName::LockContention, s));
}

#[test]
fn cpu_saturation_shows_at_the_culprit() {
    SEEDS
        .iter()
        .for_each(|&s| check_signal(FaultKindName::CpuSaturation, s));
}

/// Datastores are not traced: their faults show in their callers' client spans, and a
/// saturated database also in its CPU, while a delayed one keeps its CPU.
#[test]
fn datastore_faults_show_in_calls_into_them() {
    for (seed, kind, role) in [
        (0, FaultKindName::CpuSaturation, "database"),
        (6, FaultKindName::CpuSaturation, "cache"),
        (2, FaultKindName::NetworkDelay, "database"),
        (9, FaultKindName::NetworkDelay, "cache"),
    ] {
        let roles = generate::component_roles(seed);
        let store = roles.iter().find(|r| r.1 == role).unwrap().0.clone();
        let (dir, s) = run(&GenerateOptions {
            target: Some(store.clone()),
            ..opts(seed, kind)
        });
        assert_eq!(s.target, store);
        let ctx = format!("{kind} at {role} {store}, seed {seed}");
        let all = spans(dir.path());
        let calls = |from: f64, to: f64| {
            median(
                all.iter()
                    .filter(|x| x.kind == 3 && x.attrs.get("peer.service") == Some(&store))
                    .filter(|x| x.start >= from && x.start < to)
                    .map(|x| x.ms()),
            )
        };
        let onset = s.onset_unix;
        let (b, a) = (calls(0.0, onset), calls(onset + 60.0, f64::MAX));
        let metrics = read_json(dir.path(), "metrics.json");
        let (cpu_b, cpu_a) = before_after(&series(&metrics, "cpu", &store).unwrap(), onset, 60.0);
        if kind == FaultKindName::CpuSaturation {
            assert!(a > 1.8 * b, "{ctx}: calls {b} -> {a} ms");
            assert!(cpu_a > cpu_b + 0.3, "{ctx}: cpu {cpu_b} -> {cpu_a}");
        } else {
            assert!(a > b + 50.0, "{ctx}: calls {b} -> {a} ms");
            assert!(cpu_a < cpu_b + 0.1, "{ctx}: cpu {cpu_b} -> {cpu_a}");
        }
    }
}

#[test]
fn memory_leak_shows_at_the_culprit() {
    SEEDS
        .iter()
        .for_each(|&s| check_signal(FaultKindName::MemoryLeak, s));
}

#[test]
fn latency_shows_in_calls_into_the_culprit() {
    SEEDS
        .iter()
        .for_each(|&s| check_signal(FaultKindName::NetworkDelay, s));
}

#[test]
fn error_return_shows_at_the_culprit() {
    SEEDS
        .iter()
        .for_each(|&s| check_signal(FaultKindName::ErrorReturn, s));
}

#[test]
fn exception_shows_at_the_culprit() {
    SEEDS
        .iter()
        .for_each(|&s| check_signal(FaultKindName::Exception, s));
}

#[test]
fn goroutine_leak_shows_at_the_culprit() {
    SEEDS
        .iter()
        .for_each(|&s| check_signal(FaultKindName::GoroutineLeak, s));
}

#[test]
fn pool_exhaustion_shows_at_the_culprit_only() {
    SEEDS
        .iter()
        .for_each(|&s| check_signal(FaultKindName::ConnectionPoolExhaustion, s));
}

#[test]
fn ingress_abuse_shows_at_the_proxy() {
    SEEDS
        .iter()
        .for_each(|&s| check_signal(FaultKindName::IngressAbuse, s));
}

#[test]
fn targets_are_checked() {
    let seed = 4;
    let roles = generate::component_roles(seed);
    let named = |role: &str| roles.iter().find(|r| r.1 == role).unwrap().0.clone();
    let dir = tempfile::tempdir().unwrap();
    let attempt = |fault: FaultKindName, target: &str| {
        let o = GenerateOptions {
            target: Some(target.to_string()),
            ..opts(seed, fault)
        };
        generate::generate(&o, dir.path())
    };
    match attempt(FaultKindName::CpuSaturation, "no-such-service") {
        Err(e @ GenerateError::UnknownTarget { .. }) => {
            assert!(e.to_string().contains("no-such-service"), "{e}")
        }
        other => panic!("expected UnknownTarget, got {other:?}"),
    }
    let unsuited = [
        (FaultKindName::CpuSaturation, named("proxy")),
        (FaultKindName::IngressAbuse, named("frontend")),
        (FaultKindName::ConnectionPoolExhaustion, named("database")),
        (FaultKindName::Exception, named("cache")),
        (FaultKindName::MemoryLeak, named("batch")),
    ];
    for (fault, target) in unsuited {
        match attempt(fault, &target) {
            Err(e @ GenerateError::UnsuitedTarget { .. }) => {
                assert!(e.to_string().contains(fault.as_str()), "{e}")
            }
            other => panic!("{fault} at {target}: expected UnsuitedTarget, got {other:?}"),
        }
    }
    // A Java service cannot leak goroutines; a Go one can.
    let go = generate::suitable_targets(seed, FaultKindName::GoroutineLeak);
    let java = roles
        .iter()
        .find(|(n, r)| *r == "service" && !go.contains(n))
        .map(|r| r.0.clone());
    if let Some(java) = java {
        assert!(matches!(
            attempt(FaultKindName::GoroutineLeak, &java),
            Err(GenerateError::UnsuitedTarget { .. })
        ));
    }
    let s = attempt(FaultKindName::GoroutineLeak, &go[0]).unwrap();
    assert_eq!(s.target, go[0]);
    let truth = read_json(dir.path(), "truth.json");
    assert_eq!(truth["root_cause"]["component"], go[0].as_str());
    // Pool exhaustion goes to a database caller.
    for t in generate::suitable_targets(seed, FaultKindName::ConnectionPoolExhaustion) {
        assert_eq!(roles.iter().find(|r| r.0 == t).unwrap().1, "service");
    }
    assert!(matches!(
        generate::generate(
            &GenerateOptions {
                spans: 10,
                ..opts(seed, FaultKindName::NetworkDelay)
            },
            dir.path()
        ),
        Err(GenerateError::TooFewSpans { .. })
    ));
}

#[test]
fn access_format_can_be_chosen_and_varies_by_seed() {
    let mut seen = BTreeSet::new();
    for seed in 0..12 {
        let (_d, s) = run(&GenerateOptions {
            spans: 300,
            ..opts(seed, FaultKindName::NetworkDelay)
        });
        seen.insert(s.access_format.as_str());
    }
    assert_eq!(seen.len(), 3, "formats seen: {seen:?}");
    for f in AccessFormat::ALL {
        let (d, s) = run(&GenerateOptions {
            spans: 300,
            access_format: Some(f),
            ..opts(2, FaultKindName::ErrorReturn)
        });
        assert_eq!(s.access_format, f);
        let text = fs::read_to_string(d.path().join("access.log")).unwrap();
        let first = text.lines().next().unwrap();
        match f {
            AccessFormat::EnvoyJson => assert!(first.starts_with("{\"start_time\":")),
            AccessFormat::EnvoyText => assert!(
                first.starts_with('[') && first.contains("\" 200 ") || first.contains("\" 40")
            ),
            AccessFormat::NginxUpstream => {
                assert!(first.contains(" - - [") && first.contains("[default-"))
            }
        }
    }
}

#[test]
fn larger_runs_scale_traffic_and_keep_every_access_line() {
    let o = GenerateOptions {
        spans: 30_000,
        ..opts(8, FaultKindName::GoroutineLeak)
    };
    let (_d, s) = run(&o);
    let ratio = s.spans as f64 / 30_000.0;
    assert!(
        (0.85..=1.15).contains(&ratio),
        "{} spans for 30000",
        s.spans
    );
    assert_eq!(s.access_lines, s.requests, "large runs log every request");
    assert!((25_000..=35_000).contains(&s.access_lines));
    // Topology does not depend on size.
    assert_eq!(s.components, generate::components(8));
}

/// The `calls` and `calls_failed` series are the simulated calls per caller→callee edge,
/// labelled `client` and `server` at the step of the other series: every edge the traces
/// show is there, whole calls per window, failed ones never more than calls, and the
/// traces hold the traced share of them.
#[test]
fn call_rates_per_edge_agree_with_the_traces() {
    let (dir, summary) = run(&opts(31, FaultKindName::ErrorReturn));
    let obs = ingest::load_fixture(dir.path()).unwrap().observations;
    let name = |s: ingest::Sym| obs.names.name(s).to_string();
    let steps: BTreeSet<i64> = obs.series[0].samples.iter().map(|s| s.0).collect();
    let mut metric: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for e in &obs.edges {
        assert_eq!(e.labels["client"], name(e.client));
        assert_eq!(e.labels["server"], name(e.server));
        assert!(e.samples.iter().all(|s| steps.contains(&s.0)), "same step");
        let total: f64 = e.samples.iter().map(|s| s.1 * 15.0).sum();
        let m = metric.entry((name(e.client), name(e.server))).or_default();
        match e.signal {
            ingest::EdgeSignal::Calls => m.0 += total,
            ingest::EdgeSignal::CallsFailed => m.1 += total,
            // Seconds per call, not rates: not counted here.
            ingest::EdgeSignal::LatencyServer | ingest::EdgeSignal::LatencyClient => {}
        }
    }
    let mut traced: BTreeMap<(String, String), u64> = BTreeMap::new();
    for s in obs
        .spans
        .iter()
        .filter(|s| s.kind == ingest::SpanKind::Client)
    {
        let peer = s.peer.expect("client spans name their peer");
        *traced.entry((name(s.component), name(peer))).or_default() += 1;
    }
    assert!(!metric.is_empty());
    for (edge, (calls, failed)) in &metric {
        assert!(
            (calls - calls.round()).abs() < 0.05,
            "{edge:?}: {calls} calls"
        );
        assert!((failed - failed.round()).abs() < 0.05, "{edge:?}: {failed}");
        assert!(failed <= calls, "{edge:?}: {failed} of {calls} failed");
    }
    for (edge, n) in &traced {
        let (calls, _) = metric
            .get(edge)
            .unwrap_or_else(|| panic!("{edge:?} is traced but has no calls series"));
        assert!(*n as f64 <= *calls, "{edge:?}: {n} traced of {calls}");
    }
    let all: f64 = metric.values().map(|m| m.0).sum();
    let sampled: u64 = traced.values().sum();
    let share = summary.traces as f64 / summary.requests as f64;
    let seen = sampled as f64 / all;
    assert!(
        (seen / share - 1.0).abs() < 0.2,
        "traces hold {seen:.3} of the calls, {share:.3} of the requests"
    );
    let into_target: f64 = metric
        .iter()
        .filter(|(e, _)| e.1 == summary.target)
        .map(|(_, m)| m.1)
        .sum();
    assert!(
        into_target > 0.0,
        "calls into {} fail under error_return",
        summary.target
    );
}

/// With `servicegraph` and without `traces`, the fixture has no traces.json, and its
/// metrics.json holds the same calls series as by default and, from the traced spans,
/// the mean server and client seconds per call of the edges between traced services,
/// the client's never shorter than the server's.
#[test]
fn servicegraph_without_traces_gives_the_four_edge_signals_and_no_traces() {
    let full = opts(31, FaultKindName::ErrorReturn);
    let only = GenerateOptions {
        modalities: generate::Modalities {
            traces: false,
            metrics: false,
            servicegraph: true,
            ..generate::Modalities::default()
        },
        ..full.clone()
    };
    let (a, _) = run(&full);
    let (b, s) = run(&only);
    assert!(!b.path().join("traces.json").exists());
    assert_eq!(s.spans, 0);
    let obs = ingest::load_fixture(b.path()).unwrap().observations;
    assert!(obs.spans.is_empty() && obs.series.is_empty());
    let before = ingest::load_fixture(a.path()).unwrap().observations;
    let key = |o: &ingest::Observations, e: &ingest::EdgeSeries| {
        (
            o.names.name(e.client).to_string(),
            o.names.name(e.server).to_string(),
            e.signal,
        )
    };
    let calls = |o: &ingest::Observations| -> BTreeMap<_, Vec<(i64, f64)>> {
        o.edges
            .iter()
            .filter(|e| {
                matches!(
                    e.signal,
                    ingest::EdgeSignal::Calls | ingest::EdgeSignal::CallsFailed
                )
            })
            .map(|e| (key(o, e), e.samples.clone()))
            .collect()
    };
    assert_eq!(
        calls(&obs),
        calls(&before),
        "the calls series are the default's"
    );
    let latency = |signal| -> BTreeMap<(String, String), Vec<(i64, f64)>> {
        obs.edges
            .iter()
            .filter(|e| e.signal == signal)
            .map(|e| {
                let (c, s, _) = key(&obs, e);
                ((c, s), e.samples.clone())
            })
            .collect()
    };
    let server = latency(ingest::EdgeSignal::LatencyServer);
    let client = latency(ingest::EdgeSignal::LatencyClient);
    assert!(!server.is_empty());
    assert_eq!(
        server.keys().collect::<Vec<_>>(),
        client.keys().collect::<Vec<_>>()
    );
    let steps: BTreeSet<i64> = before.series[0].samples.iter().map(|s| s.0).collect();
    for (edge, ss) in &server {
        let cs = &client[edge];
        assert_eq!(ss.len(), cs.len(), "{edge:?}");
        for (s, c) in ss.iter().zip(cs) {
            assert!(steps.contains(&s.0), "{edge:?}: on the metric step");
            assert_eq!(s.0, c.0);
            assert!(s.1 > 0.0 && s.1 < 60.0, "{edge:?}: {} s", s.1);
            assert!(
                c.1 >= s.1 - 1e-6,
                "{edge:?}: client {} < server {}",
                c.1,
                s.1
            );
        }
        // Only edges the calls series know.
        let calls_key = (edge.0.clone(), edge.1.clone(), ingest::EdgeSignal::Calls);
        assert!(calls(&obs).contains_key(&calls_key), "{edge:?}");
    }
}
