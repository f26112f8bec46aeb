//! How fast the graph stores are: the write of one big incident (100
//! components, 1,000 call edges) and the coverage-gap query over many stored
//! incidents, in Neo4j and in the embedded store.
//!
//! ```sh
//! scripts/stack up neo4j
//! cargo run --release -p rca --example store_bench -- [--neo4j-uri URI] [--incidents N]
//! ```
//! (`scripts/bench-store` does both.) The incidents it loads into Neo4j are
//! named `bench-…` and are left there, so a second run writes nothing new
//! (their digests match) and measures the query over the same data.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use graph::store::{EmbeddedStore, GraphStore, IncidentRecord, Neo4jConfig, Neo4jStore};
use graph::{Candidate, Edge, Evidence, FaultKind, Heatmap, IncidentInfo, Localisation};

const BUCKETS: usize = 60;

/// A synthetic incident: `components` components, `edges` distinct call
/// edges, ten ranked candidates, a path of up to four hops; `rule` and
/// `taken` decide its detection rule and whether an action was taken.
fn incident(
    id: &str,
    components: usize,
    edges: usize,
    path: &[usize],
    rule: &str,
    taken: bool,
    minute: i64,
) -> IncidentRecord {
    let name = |i: usize| format!("bench-svc-{i:03}");
    let starts =
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(minute);
    let rfc = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut edge_list = Vec::with_capacity(edges);
    'outer: for step in 1..components {
        for from in 0..components {
            if edge_list.len() == edges {
                break 'outer;
            }
            edge_list.push(Edge {
                from: name(from),
                to: name((from + step) % components),
                calls: 1000 + (from * 7 + step) as u64,
                errors: (from % 5) as u64,
                p99_ms: 10.0 + (from % 17) as f64,
            });
        }
    }
    let fault = [
        FaultKind::CpuSaturation,
        FaultKind::MemoryLeak,
        FaultKind::Latency,
    ][path[0] % 3];
    let ranking: Vec<Candidate> = (0..10.min(components))
        .map(|k| Candidate {
            component: name((path[0] + k) % components),
            score: 30.0 - k as f64,
            fault,
            evidence: vec![Evidence {
                signal: "cpu".into(),
                modality: "metrics".into(),
                at: rfc(starts),
                value: 0.9,
                baseline: 0.3,
                deviation: 12.0,
                summary: "cpu up".into(),
                trace_ids: vec![],
                top_user_agents: vec![],
                tls_versions: vec![],
                ..Default::default()
            }],
            inner: Vec::new(),
            address: false,
            explains_alert: true,
        })
        .collect();
    let mut annotations = BTreeMap::new();
    if taken {
        annotations.insert("action".to_string(), format!("scaled {}", name(path[0])));
    }
    let loc = Localisation {
        symptom: Default::default(),
        confident: true,
        incident: IncidentInfo {
            id: id.to_string(),
            alert_name: rule.to_string(),
            alert_component: Some(name(*path.last().unwrap())),
            fingerprint: format!("fp-{rule}"),
            starts_at: rfc(starts),
            window_start: rfc(starts - chrono::Duration::minutes(30)),
            window_end: rfc(starts + chrono::Duration::minutes(10)),
            baseline_end: rfc(starts - chrono::Duration::minutes(5)),
            bucket_seconds: 30.0,
            annotations,
            other_alerts: Vec::new(),
        },
        ranking,
        path: path.iter().map(|&i| name(i)).collect(),
        modalities: vec!["traces".into(), "metrics".into()],
        missing: vec![],
        heatmap: Heatmap {
            components: (0..components).map(name).collect(),
            buckets: (0..BUCKETS)
                .map(|b| rfc(starts + chrono::Duration::seconds(30 * b as i64)))
                .collect(),
            scores: (0..components)
                .map(|c| (0..BUCKETS).map(|b| ((c * b) % 7) as f64 * 0.5).collect())
                .collect(),
            by_modality: BTreeMap::new(),
        },
        edges: edge_list,
        detail: Default::default(),
    };
    IncidentRecord::new(loc, starts)
}

/// The n-th of the many small incidents for the gap query: 500 distinct
/// paths, 8 rules, one incident in seven with an action taken.
fn small(n: usize) -> IncidentRecord {
    let p = n % 500;
    let path = [p % 100, (p / 5 + 1) % 100, (p / 25 + 2) % 100];
    let rule = format!("BenchRule{}", n % 8);
    incident(
        &format!("bench-small-{n:06}"),
        12,
        20,
        &path,
        &rule,
        n.is_multiple_of(7),
        n as i64,
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

async fn big_writes(store: &dyn GraphStore, label: &str, run: &str) {
    let mut first = Vec::new();
    let mut again = Vec::new();
    for k in 0..7 {
        let rec = incident(
            &format!("bench-big-{run}-{k}"),
            100,
            1000,
            &[k, k + 1, k + 2, k + 3],
            "BenchBig",
            false,
            k as i64,
        );
        let t = Instant::now();
        store.put(&rec).await.expect("write");
        first.push(t.elapsed());
        let t = Instant::now();
        store.put(&rec).await.expect("rewrite");
        again.push(t.elapsed());
    }
    println!(
        "{label}: write of one incident, 100 components / 1,000 edges: {} median of 7 ({} min); the same incident again (no change): {}",
        ms(median(first.clone())),
        ms(*first.iter().min().unwrap()),
        ms(median(again))
    );
}

async fn gap_query(store: &dyn GraphStore, label: &str) {
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..7 {
        let t = Instant::now();
        n = store.gaps().await.expect("gaps").len();
        times.push(t.elapsed());
    }
    println!(
        "{label}: coverage-gap query: {} median of 7 ({} min), {n} gaps",
        ms(median(times.clone())),
        ms(*times.iter().min().unwrap())
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut uri = std::env::var("RCA_NEO4J_URI").unwrap_or_else(|_| "bolt://127.0.0.1:7687".into());
    let mut count = 10_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--neo4j-uri" => uri = args.next().expect("--neo4j-uri URI"),
            "--incidents" => {
                count = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--incidents N")
            }
            _ => {
                eprintln!("usage: store_bench [--neo4j-uri URI] [--incidents N]");
                std::process::exit(2);
            }
        }
    }
    let run = format!("{}", Utc::now().timestamp());

    // Embedded.
    let dir = tempfile::tempdir().expect("temp dir");
    let emb = EmbeddedStore::open(dir.path()).expect("embedded store");
    big_writes(&emb, "embedded", &run).await;
    let t = Instant::now();
    for n in 0..count {
        emb.put(&small(n)).await.expect("write");
    }
    println!(
        "embedded: {count} small incidents written in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    drop(emb);
    let t = Instant::now();
    let emb = EmbeddedStore::open(dir.path()).expect("reopen");
    println!(
        "embedded: reopened with {} incidents in {}",
        emb.len(),
        ms(t.elapsed())
    );
    gap_query(&emb, &format!("embedded, {} incidents", emb.len())).await;

    // Neo4j.
    let neo = Neo4jStore::connect(Neo4jConfig::new(
        uri.clone(),
        std::env::var("RCA_NEO4J_USER").ok(),
        std::env::var("RCA_NEO4J_PASSWORD").ok(),
    ))
    .await
    .expect("neo4j settings");
    if let Err(e) = neo.ensure_schema().await {
        eprintln!("neo4j at {uri}: {e}; start it with scripts/stack up neo4j");
        std::process::exit(1);
    }
    big_writes(&neo, "neo4j", &run).await;
    let t = Instant::now();
    let neo = std::sync::Arc::new(neo);
    let mut tasks = tokio::task::JoinSet::new();
    let workers = 2;
    for w in 0..workers {
        let neo = neo.clone();
        tasks.spawn(async move {
            for n in (w..count).step_by(workers) {
                neo.put(&small(n)).await.expect("write");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("writer");
    }
    println!(
        "neo4j: {count} small incidents written (or found unchanged) in {:.1} s, {workers} writers",
        t.elapsed().as_secs_f64()
    );
    let total = neo
        .incidents(&graph::store::IncidentQuery {
            limit: usize::MAX >> 1,
            ..Default::default()
        })
        .await
        .expect("count")
        .len();
    gap_query(neo.as_ref(), &format!("neo4j, {total} incidents")).await;
}
