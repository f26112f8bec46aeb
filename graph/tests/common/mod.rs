//! The contract every [`GraphStore`] passes: the same checks run against the
//! embedded store (`store_embedded.rs`) and Neo4j (`store_neo4j.rs`).
//!
//! A Neo4j database is shared between runs, so every name a check writes
//! (components, alerts, fingerprints, ids) starts with a namespace unique to
//! the run, and every check looks only at its own names.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use graph::store::{ActionStatus, GraphStore, IncidentQuery, IncidentRecord, IncidentSummary};
use graph::{Candidate, Count, Edge, Evidence, FaultKind, Heatmap, IncidentInfo, Localisation};

/// A namespace no earlier run used.
pub fn namespace(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{tag}{:x}{:x}-", nanos, std::process::id())
}

pub fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 4, 10, 0, 0).unwrap() + chrono::Duration::minutes(minute.into())
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What a test incident looks like.
pub struct Spec<'a> {
    pub ns: &'a str,
    pub n: u32,
    pub alert: &'a str,
    /// Ranked components, best first (names without the namespace).
    pub ranking: &'a [(&'a str, FaultKind)],
    /// Root cause first, alerting component last.
    pub path: &'a [&'a str],
    pub minute: u32,
    pub annotations: &'a [(&'a str, &'a str)],
    pub user_agents: &'a [&'a str],
}

impl Spec<'_> {
    pub fn record(&self) -> IncidentRecord {
        let name = |c: &str| format!("{}{c}", self.ns);
        let starts = at(self.minute);
        let ranking: Vec<Candidate> = self
            .ranking
            .iter()
            .enumerate()
            .map(|(i, (c, fault))| Candidate {
                component: name(c),
                score: 20.0 - i as f64 * 3.5,
                fault: *fault,
                evidence: vec![Evidence {
                    signal: "cpu".into(),
                    modality: "metrics".into(),
                    at: rfc(starts),
                    value: 0.97,
                    baseline: 0.31,
                    deviation: 12.5,
                    summary: format!("cpu of {} at 97%", name(c)),
                    trace_ids: vec!["4bf92f3577b34da6a3ce929d0e0e4736".into()],
                    top_user_agents: self
                        .user_agents
                        .iter()
                        .enumerate()
                        .map(|(k, ua)| Count {
                            value: ua.to_string(),
                            count: 100 - k as u64,
                        })
                        .collect(),
                    tls_versions: vec![],
                    ..Default::default()
                }],
                inner: Vec::new(),
                address: false,
                explains_alert: true,
            })
            .collect();
        let path: Vec<String> = self.path.iter().map(|c| name(c)).collect();
        let edges: Vec<Edge> = path
            .windows(2)
            .map(|w| Edge {
                from: w[1].clone(),
                to: w[0].clone(),
                calls: 812,
                errors: 3,
                p99_ms: 41.25,
            })
            .collect();
        let annotations: BTreeMap<String, String> = self
            .annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let loc = Localisation {
            symptom: Default::default(),
            confident: true,
            incident: IncidentInfo {
                id: format!("{}inc-{}", self.ns, self.n),
                alert_name: if self.alert.is_empty() {
                    String::new()
                } else {
                    name(self.alert)
                },
                alert_component: path.last().cloned(),
                fingerprint: format!("{}fp-{}", self.ns, self.alert),
                starts_at: rfc(starts),
                window_start: rfc(starts - chrono::Duration::minutes(30)),
                window_end: rfc(starts + chrono::Duration::minutes(10)),
                baseline_end: rfc(starts - chrono::Duration::minutes(5)),
                bucket_seconds: 30.0,
                annotations,
                other_alerts: Vec::new(),
            },
            ranking,
            path,
            modalities: vec!["traces".into(), "metrics".into()],
            missing: vec![],
            heatmap: Heatmap {
                components: vec![name("a"), name("b")],
                buckets: vec![rfc(starts), rfc(starts + chrono::Duration::seconds(30))],
                scores: vec![vec![0.0, 3.5], vec![1.25, 0.0]],
                by_modality: BTreeMap::new(),
            },
            edges,
            detail: Default::default(),
        };
        IncidentRecord::new(loc, at(self.minute + 2))
    }
}

pub fn spec<'a>(
    ns: &'a str,
    n: u32,
    ranking: &'a [(&'a str, FaultKind)],
    path: &'a [&'a str],
    minute: u32,
) -> Spec<'a> {
    Spec {
        ns,
        n,
        alert: "HighLatency",
        ranking,
        path,
        minute,
        annotations: &[],
        user_agents: &[],
    }
}

fn ours<'a>(ns: &str, v: &'a [IncidentSummary]) -> Vec<&'a str> {
    v.iter()
        .filter(|s| s.id.starts_with(ns))
        .map(|s| s.id.strip_prefix(ns).unwrap())
        .collect()
}

fn query(component: Option<String>) -> IncidentQuery {
    IncidentQuery {
        component,
        limit: 1000,
        ..IncidentQuery::default()
    }
}

/// A put reads back whole; a second put of the same incident (even made
/// later) changes nothing; new content replaces the old but keeps the first
/// `created_at`; unknown ids are `None`.
pub async fn put_get_idempotent(store: &dyn GraphStore, ns: &str) {
    store.ensure_schema().await.unwrap();
    store
        .ensure_schema()
        .await
        .expect("ensure_schema is idempotent");
    use FaultKind::*;
    let rec = spec(
        ns,
        1,
        &[("db", CpuSaturation), ("api", Latency)],
        &["db", "api", "web"],
        0,
    )
    .record();
    store.put(&rec).await.unwrap();
    assert_eq!(store.get(rec.id()).await.unwrap().as_ref(), Some(&rec));

    let mut again = rec.clone();
    again.created_at = rec.created_at + chrono::Duration::hours(1);
    store.put(&again).await.unwrap();
    store.put(&rec).await.unwrap();
    assert_eq!(
        store.get(rec.id()).await.unwrap().as_ref(),
        Some(&rec),
        "replay changed the record"
    );
    let listed = store
        .incidents(&query(Some(format!("{ns}db"))))
        .await
        .unwrap();
    assert_eq!(
        ours(ns, &listed),
        ["inc-1"],
        "replay duplicated the incident"
    );
    let g = store.graph(rec.id()).await.unwrap().unwrap();
    assert_eq!(
        g.calls.len(),
        2,
        "replay duplicated CALLS edges: {:?}",
        g.calls
    );
    assert_eq!(g.root_causes.len(), 2);

    // Re-analysed: a different root cause replaces the old one.
    let mut changed = spec(ns, 1, &[("api", Latency)], &["api", "web"], 0).record();
    changed.created_at = rec.created_at + chrono::Duration::hours(2);
    store.put(&changed).await.unwrap();
    let got = store.get(rec.id()).await.unwrap().unwrap();
    assert_eq!(got.localisation, changed.localisation);
    assert_eq!(got.created_at, rec.created_at, "first stored time is kept");
    let by_db = store
        .incidents(&query(Some(format!("{ns}db"))))
        .await
        .unwrap();
    assert!(ours(ns, &by_db).is_empty(), "stale ROOT_CAUSE left behind");
    let g = store.graph(rec.id()).await.unwrap().unwrap();
    assert_eq!(g.root_causes, vec![(format!("{ns}api"), 1, 20.0)]);
    assert_eq!(g.calls.len(), 1, "stale CALLS left behind: {:?}", g.calls);
    assert_eq!(g.path, vec![format!("{ns}api"), format!("{ns}web")]);

    assert_eq!(store.get(&format!("{ns}nope")).await.unwrap(), None);
    assert_eq!(store.graph(&format!("{ns}nope")).await.unwrap(), None);
}

/// Incidents by component (any rank) and by alert start, newest first,
/// paged; the newest of an alert.
pub async fn incidents_by_component_and_time(store: &dyn GraphStore, ns: &str) {
    store.ensure_schema().await.unwrap();
    use FaultKind::*;
    for (n, minute, ranking) in [
        (1, 10, &[("db", CpuSaturation), ("api", Latency)][..]),
        (2, 20, &[("api", Latency)][..]),
        (3, 30, &[("cache", MemoryLeak), ("db", Latency)][..]),
        (4, 40, &[("cache", MemoryLeak)][..]),
    ] {
        store
            .put(&spec(ns, n, ranking, &["web"], minute).record())
            .await
            .unwrap();
    }
    let db = store
        .incidents(&query(Some(format!("{ns}db"))))
        .await
        .unwrap();
    assert_eq!(ours(ns, &db), ["inc-3", "inc-1"]);
    let top = db.iter().find(|s| s.id.ends_with("inc-3")).unwrap();
    assert_eq!(
        top.root_cause.as_deref(),
        Some(format!("{ns}cache").as_str())
    );
    assert_eq!(top.fault, Some(MemoryLeak));
    assert_eq!(top.starts_at, "2026-03-04T10:30:00Z");

    let window = IncidentQuery {
        since: Some(at(20)),
        until: Some(at(40)),
        ..query(None)
    };
    let mid = store.incidents(&window).await.unwrap();
    assert_eq!(
        ours(ns, &mid),
        ["inc-3", "inc-2"],
        "since is inclusive, until exclusive"
    );

    let paged = IncidentQuery {
        component: Some(format!("{ns}cache")),
        limit: 1,
        offset: 1,
        ..IncidentQuery::default()
    };
    assert_eq!(ours(ns, &store.incidents(&paged).await.unwrap()), ["inc-3"]);

    let latest = store
        .latest_for_alert(&format!("{ns}fp-HighLatency"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.id, format!("{ns}inc-4"));
    assert_eq!(
        store
            .latest_for_alert(&format!("{ns}fp-none"))
            .await
            .unwrap(),
        None
    );

    // An alert that joined an investigation links to it as its opener does.
    let mut grouped = spec(ns, 5, &[("db", Latency)], &["web"], 5).record();
    let joined = format!("{ns}fp-joined");
    grouped.localisation.incident.other_alerts = vec![graph::AlertRef {
        fingerprint: joined.clone(),
        alert_name: "ErrorBudgetBurn".into(),
        alert_component: Some(format!("{ns}web")),
        starts_at: grouped.localisation.incident.starts_at.clone(),
        explained: Some(true),
    }];
    store.put(&grouped).await.unwrap();
    let by_joined = store.latest_for_alert(&joined).await.unwrap().unwrap();
    assert_eq!(by_joined.id, format!("{ns}inc-5"));
    assert_eq!(by_joined.other_fingerprints, vec![joined.clone()]);
    let back = store.get(&by_joined.id).await.unwrap().unwrap();
    assert_eq!(back.localisation.incident.other_alerts.len(), 1);
}

/// Components first-ranked by two or more incidents, most first, with their
/// faults by frequency and the newest start.
pub async fn recurring_root_causes(store: &dyn GraphStore, ns: &str) {
    store.ensure_schema().await.unwrap();
    use FaultKind::*;
    #[allow(clippy::type_complexity)]
    let specs: [(u32, u32, &[(&str, FaultKind)]); 6] = [
        (1, 1, &[("db", CpuSaturation)]),
        (2, 2, &[("db", MemoryLeak)]),
        (3, 3, &[("db", CpuSaturation), ("api", Latency)]),
        (4, 4, &[("api", Latency)]),
        (5, 5, &[("api", Latency)]),
        (6, 6, &[("queue", Exception)]),
    ];
    for (n, minute, ranking) in specs {
        store
            .put(&spec(ns, n, ranking, &["web"], minute).record())
            .await
            .unwrap();
    }
    let all = store.recurring(&query(None)).await.unwrap();
    let mine: Vec<_> = all.iter().filter(|r| r.component.starts_with(ns)).collect();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert_eq!(mine[0].component, format!("{ns}db"));
    assert_eq!(mine[0].incidents, 3);
    assert_eq!(mine[0].faults, vec![CpuSaturation, MemoryLeak]);
    assert_eq!(mine[0].last_seen, "2026-03-04T10:03:00Z");
    assert_eq!(mine[1].component, format!("{ns}api"));
    assert_eq!(mine[1].incidents, 2);

    let late = IncidentQuery {
        since: Some(at(3)),
        ..query(Some("ignored".into()))
    };
    let mine: Vec<_> = store
        .recurring(&late)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.component.starts_with(ns))
        .collect();
    assert_eq!(
        mine.len(),
        1,
        "the time filter applies, the component filter not: {mine:?}"
    );
    assert_eq!(mine[0].component, format!("{ns}api"));
}

/// Attack paths detected by a rule that no taken action mitigates; a
/// suggested action is not enough, a taken one closes the gap.
pub async fn coverage_gaps(store: &dyn GraphStore, ns: &str) {
    store.ensure_schema().await.unwrap();
    use FaultKind::*;
    let open = spec(ns, 1, &[("db", CpuSaturation)], &["db", "api", "web"], 1).record();
    let open2 = spec(ns, 2, &[("db", CpuSaturation)], &["db", "api", "web"], 2).record();
    assert!(open
        .actions
        .iter()
        .all(|a| a.status == ActionStatus::Suggested));
    assert!(!open.actions.is_empty(), "cpu saturation suggests scaling");
    let closed = Spec {
        annotations: &[("action", "scaled ingress to 6 replicas")],
        ..spec(ns, 3, &[("ingress", CpuSaturation)], &["ingress", "web"], 3)
    }
    .record();
    let closed_later = spec(ns, 4, &[("ingress", CpuSaturation)], &["ingress", "web"], 4).record();
    // Same path, another rule: a gap of its own.
    let other_rule = Spec {
        alert: "High5xx",
        ..spec(ns, 5, &[("ingress", CpuSaturation)], &["ingress", "web"], 5)
    }
    .record();
    // No alert name: no detection rule, so no gap.
    let undetected = Spec {
        alert: "",
        ..spec(ns, 6, &[("batch", CpuSaturation)], &["batch"], 6)
    }
    .record();
    for r in [
        &open,
        &open2,
        &closed,
        &closed_later,
        &other_rule,
        &undetected,
    ] {
        store.put(r).await.unwrap();
    }
    let gaps: Vec<_> = store
        .gaps()
        .await
        .unwrap()
        .into_iter()
        .filter(|g| {
            g.detection_rule.starts_with(ns) || g.components.iter().any(|c| c.starts_with(ns))
        })
        .collect();
    assert_eq!(gaps.len(), 2, "{gaps:#?}");
    assert_eq!(
        gaps[0].components,
        [format!("{ns}db"), format!("{ns}api"), format!("{ns}web")]
    );
    assert_eq!(gaps[0].detection_rule, format!("{ns}HighLatency"));
    assert_eq!(gaps[0].incidents, 2);
    assert_eq!(gaps[0].attack_path, open.attack_path_id().unwrap());
    assert_eq!(
        gaps[1].components,
        [format!("{ns}ingress"), format!("{ns}web")]
    );
    assert_eq!(gaps[1].detection_rule, format!("{ns}High5xx"));
    assert_eq!(gaps[1].incidents, 1);
}

/// One incident's whole graph, and values an attacker chose (quotes, braces,
/// Cypher) stored and read back as values.
pub async fn whole_graph_and_hostile_values(store: &dyn GraphStore, ns: &str) {
    store.ensure_schema().await.unwrap();
    use FaultKind::*;
    let hostile = "ingress'}) DETACH DELETE n //\"`$x";
    let agents = [
        "curl/8.0 ' OR 1=1",
        "Mozilla\"}) MATCH (n) DETACH DELETE n //",
        "bot`",
    ];
    let rec = Spec {
        user_agents: &agents,
        annotations: &[("runbook_action", "rate-limited '$user' at the edge")],
        ..spec(
            ns,
            1,
            &[(hostile, IngressAbuse), ("api", Latency)],
            &[hostile, "api", "web"],
            7,
        )
    }
    .record();
    store.put(&rec).await.unwrap();
    assert_eq!(store.get(rec.id()).await.unwrap().as_ref(), Some(&rec));
    let g = store.graph(rec.id()).await.unwrap().unwrap();
    let name = format!("{ns}{hostile}");
    assert_eq!(g.incident.root_cause.as_deref(), Some(name.as_str()));
    assert_eq!(g.root_causes[0], (name.clone(), 1, 20.0));
    assert_eq!(g.root_causes[1].1, 2);
    assert_eq!(g.path, rec.localisation.path);
    assert_eq!(g.detection_rule, format!("{ns}HighLatency"));
    let mut calls = g.calls.clone();
    calls.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    let mut want = rec.localisation.edges.clone();
    want.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    assert_eq!(calls, want);
    // The taken action from the annotation, then the WAF rule for the agents.
    assert_eq!(g.actions, rec.actions);
    assert_eq!(g.actions[0].status, ActionStatus::Taken);
    assert!(
        g.actions[1].id.starts_with("waf:block-user-agent:"),
        "{:?}",
        g.actions
    );
    assert!(g.actions[1].description.contains("curl/8.0 ' OR 1=1"));
    let by = store.incidents(&query(Some(name))).await.unwrap();
    assert_eq!(ours(ns, &by), ["inc-1"]);
}

/// Tasks writing at once, each incident twice: every one stored once.
pub async fn concurrent_puts(store: std::sync::Arc<dyn GraphStore>, ns: &str) {
    store.ensure_schema().await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..40u32 {
        let store = store.clone();
        let rec = spec(
            ns,
            n % 20,
            &[("db", FaultKind::CpuSaturation)],
            &["db", "web"],
            n % 20,
        )
        .record();
        tasks.spawn(async move { store.put(&rec).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    let all = store
        .incidents(&query(Some(format!("{ns}db"))))
        .await
        .unwrap();
    assert_eq!(ours(ns, &all).len(), 20);
}

/// Where the test Neo4j listens: `RCA_TEST_NEO4J_URI`, default the one
/// `scripts/stack up neo4j` starts.
pub fn neo4j_uri() -> String {
    std::env::var("RCA_TEST_NEO4J_URI").unwrap_or_else(|_| "bolt://127.0.0.1:7687".into())
}

pub fn neo4j_config() -> graph::store::Neo4jConfig {
    graph::store::Neo4jConfig::new(
        neo4j_uri(),
        std::env::var("RCA_TEST_NEO4J_USER").ok(),
        std::env::var("RCA_TEST_NEO4J_PASSWORD").ok(),
    )
}

/// A Neo4j store with no local copy; fails the test, saying how to start
/// the server, if Neo4j does not answer.
pub async fn neo4j_direct() -> graph::store::Neo4jStore {
    let store = graph::store::Neo4jStore::connect(neo4j_config())
        .await
        .unwrap();
    if let Err(e) = store.ensure_schema().await {
        panic!(
            "Neo4j is not reachable at {} ({e}); start it with scripts/stack up neo4j \
             (or point RCA_TEST_NEO4J_URI at one)",
            neo4j_uri()
        );
    }
    store
}

/// A verdict as a person gives it.
pub fn verdict(
    ns: &str,
    v: graph::store::Verdict,
    root: &str,
    by: &str,
    minute: u32,
) -> graph::store::Feedback {
    graph::store::Feedback {
        verdict: v,
        root_cause: format!("{ns}{root}"),
        fault: Some(FaultKind::MemoryLeak),
        note: String::new(),
        by: by.into(),
        at: at(minute),
    }
}

/// Verdicts round-trip with their author, time and note; a later one
/// counts and the earlier stays in the history; a replay of the incident
/// (a put without verdicts) keeps them; a bad verdict changes nothing; two
/// at once both stay; `verdicts` lists the latest per incident, by alert
/// start, in the window.
pub async fn feedback_round_trips(store: std::sync::Arc<dyn GraphStore>, ns: &str) {
    use graph::store::{StoreError, Verdict};
    use FaultKind::*;
    store.ensure_schema().await.unwrap();
    let rec = spec(
        ns,
        1,
        &[("db", CpuSaturation), ("api", Latency)],
        &["db", "api", "web"],
        0,
    )
    .record();
    let other = spec(ns, 2, &[("api", Latency)], &["api", "web"], 30).record();
    store.put(&rec).await.unwrap();
    store.put(&other).await.unwrap();

    let mut first = verdict(ns, Verdict::Confirmed, "db", "alice@example.com", 5);
    first.note = "<script>alert(1)</script> '}) DETACH DELETE n //".into();
    let stored = store
        .add_feedback(rec.id(), first.clone())
        .await
        .unwrap()
        .expect("the incident exists");
    assert_eq!(stored.feedback, vec![first.clone()]);
    let second = verdict(ns, Verdict::Corrected, "api", "bob", 9);
    store.add_feedback(rec.id(), second.clone()).await.unwrap();
    let got = store.get(rec.id()).await.unwrap().unwrap();
    assert_eq!(
        got.feedback,
        vec![first.clone(), second.clone()],
        "history kept"
    );
    assert_eq!(got.verdict(), Some(&second), "the later verdict counts");
    assert_eq!(
        got.localisation, rec.localisation,
        "the answer is unchanged"
    );

    // A replay of the incident keeps what people said of it.
    store.put(&rec).await.unwrap();
    assert_eq!(
        store.get(rec.id()).await.unwrap().unwrap().feedback.len(),
        2
    );

    // Bad verdicts: refused, nothing changed.
    for bad in [
        graph::store::Feedback {
            by: " ".into(),
            ..second.clone()
        },
        graph::store::Feedback {
            note: "x".repeat(graph::store::FEEDBACK_NOTE_MAX + 1),
            ..second.clone()
        },
        graph::store::Feedback {
            root_cause: "db\u{0}".into(),
            ..second.clone()
        },
    ] {
        let e = store.add_feedback(rec.id(), bad).await.unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)), "{e}");
    }
    assert_eq!(
        store.get(rec.id()).await.unwrap().unwrap().feedback.len(),
        2
    );
    assert_eq!(
        store
            .add_feedback(&format!("{ns}nope"), second.clone())
            .await
            .unwrap(),
        None
    );

    // Two at once: both stay.
    let (a, b) = tokio::join!(
        store.add_feedback(
            other.id(),
            verdict(ns, Verdict::Confirmed, "api", "carol", 31)
        ),
        store.add_feedback(
            other.id(),
            verdict(ns, Verdict::Confirmed, "api", "dave", 32)
        ),
    );
    a.unwrap();
    b.unwrap();
    let both = store.get(other.id()).await.unwrap().unwrap();
    let mut by: Vec<&str> = both.feedback.iter().map(|f| f.by.as_str()).collect();
    by.sort_unstable();
    assert_eq!(by, ["carol", "dave"], "a concurrent verdict was lost");

    // Listed: newest alert first, the latest verdict of each, in the window.
    let listed = store
        .verdicts(&IncidentQuery {
            since: Some(at(0)),
            until: Some(at(60)),
            limit: 1000,
            ..IncidentQuery::default()
        })
        .await
        .unwrap();
    let ours: Vec<&graph::store::Verdicted> = listed
        .iter()
        .filter(|v| v.incident.id.starts_with(ns))
        .collect();
    assert_eq!(ours.len(), 2, "{listed:?}");
    assert_eq!(ours[0].incident.id, other.id());
    assert_eq!(ours[0].verdicts, 2);
    assert_eq!(ours[1].incident.id, rec.id());
    assert_eq!(ours[1].feedback, second);
    assert_eq!(ours[1].verdicts, 2);
    let later = store
        .verdicts(&IncidentQuery {
            since: Some(at(20)),
            limit: 1000,
            ..IncidentQuery::default()
        })
        .await
        .unwrap();
    assert!(
        !later.iter().any(|v| v.incident.id == rec.id()),
        "the window was ignored"
    );
}

/// The time an alert resolved round-trips, survives a replay of the
/// incident and a verdict, and gives the incident's duration.
pub async fn resolution_round_trips(store: &dyn GraphStore, ns: &str) {
    store.ensure_schema().await.unwrap();
    let rec = spec(ns, 1, &[("db", FaultKind::Latency)], &["db", "web"], 0).record();
    store.put(&rec).await.unwrap();
    assert!(store.mark_resolved(rec.id(), at(25)).await.unwrap());
    assert!(!store
        .mark_resolved(&format!("{ns}nope"), at(25))
        .await
        .unwrap());
    store.put(&rec).await.unwrap();
    store
        .add_feedback(
            rec.id(),
            verdict(ns, graph::store::Verdict::Confirmed, "db", "oncall", 30),
        )
        .await
        .unwrap();
    let got = store.get(rec.id()).await.unwrap().unwrap();
    assert_eq!(
        got.resolved_at,
        Some(at(25)),
        "a replay or a verdict lost it"
    );
    assert_eq!(got.duration(), Some(chrono::Duration::minutes(25)));
    assert_eq!(got.feedback.len(), 1);
}
