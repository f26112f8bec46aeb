//! The Neo4j store, through Bolt (neo4rs).
//!
//! The graph, per incident:
//! `(Incident)-[:ROOT_CAUSE {rank, score, fault}]->(Component)`,
//! `(Component)-[:CALLS {incident, calls, errors, p99}]->(Component)`,
//! `(Incident)-[:FOLLOWED]->(AttackPath)-[:TRAVERSES {order}]->(Component)`,
//! `(AttackPath)-[:DETECTED_BY]->(DetectionRule)<-[:DETECTED_BY]-(Incident)`,
//! `(Incident)-[:ACTION {order, status}]->(Action)` and
//! `(DetectionRule)-[:MITIGATED_BY {incident, attack_path, status}]->(Action)` and, once
//! someone gave a verdict, `(Incident)-[:CONFIRMED_ROOT_CAUSE {verdict, fault, by, at, note,
//! verdicts}]->(Component)` for the latest (the history is in the record).
//! `Component`, `AttackPath`, `DetectionRule` and `Action` are shared between
//! incidents, keyed by our own keys under uniqueness constraints; relationships
//! that belong to one incident carry its id or hang off its node, so
//! re-storing an incident with new content replaces exactly its own. The
//! whole record is kept as JSON on the `Incident` node so `get` needs nothing
//! else.
//!
//! **Every value is a parameter**: the Cypher texts below are constants, and
//! component names, user agents and alert labels (which attackers choose)
//! only ever travel as `$parameters`. Writes are batched with `UNWIND $rows`
//! and idempotent (`MERGE` on our keys, a digest of the content on the
//! incident: the same incident twice writes nothing the second time).
//!
//! With a data directory ([`Neo4jStore::open`]) the store keeps a local copy
//! of every incident (an [`EmbeddedStore`] there) and an outbox of the ids not
//! yet written to Neo4j, both synced to disk before `put` returns. A put while
//! Neo4j is down succeeds; a background task retries the outbox until every
//! write lands, across restarts of rca. Reads of a whole incident come from
//! the local copy first; queries go to Neo4j and, while it is down, are
//! answered from the local copy (with a warning). Without a data directory
//! ([`Neo4jStore::connect`], for `rca graph`) everything goes to Neo4j and a
//! down server is an error.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use neo4rs::{BoltType, Graph, Query, Txn};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use super::derive::parse_time;
use super::embedded::sort_gaps;
use super::{
    Action, ActionStatus, Background, EmbeddedStore, Feedback, Gap, GraphStore, IncidentGraph,
    IncidentQuery, IncidentRecord, IncidentSummary, Recurring, StoreError, Verdict, Verdicted,
    DEFAULT_LIMIT,
};
use crate::localisation::{Edge, FaultKind};

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// How to reach Neo4j.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neo4jConfig {
    /// `bolt://host:7687` (or `neo4j://`, `bolt+s://`, ...).
    pub uri: String,
    pub user: String,
    /// Empty when the server runs without authentication.
    pub password: String,
}

impl Neo4jConfig {
    /// `user` defaults to `neo4j`, `password` to none.
    pub fn new(uri: impl Into<String>, user: Option<String>, password: Option<String>) -> Self {
        Neo4jConfig {
            uri: uri.into(),
            user: user.unwrap_or_else(|| "neo4j".into()),
            password: password.unwrap_or_default(),
        }
    }
}

impl Neo4jConfig {
    /// The URI names a Bolt scheme and a host.
    pub fn validate(&self) -> Result<(), StoreError> {
        const SCHEMES: [&str; 6] = [
            "bolt",
            "bolt+s",
            "bolt+ssc",
            "neo4j",
            "neo4j+s",
            "neo4j+ssc",
        ];
        let ok = self
            .uri
            .split_once("://")
            .is_some_and(|(scheme, rest)| SCHEMES.contains(&scheme) && !rest.is_empty());
        if ok {
            Ok(())
        } else {
            Err(StoreError::Config(format!(
                "neo4j uri {:?} is not bolt://HOST[:PORT] (or neo4j://, bolt+s://, neo4j+s://)",
                self.uri
            )))
        }
    }
}

/// One operation (a transaction) against Neo4j gives up after this long: a
/// server that stopped answering is treated as down.
const OP_TIMEOUT: Duration = Duration::from_secs(30);
/// The outbox is retried at least this often, and backs off to at most the
/// second figure while Neo4j stays down.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(15);

/// Neo4j's answer when a concurrent client created the same constraint or
/// index between our `IF NOT EXISTS` check and our creation.
const EQUIVALENT_SCHEMA_RULE: &str = "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists";

const SCHEMA: [&str; 9] = [
    "CREATE CONSTRAINT incident_id IF NOT EXISTS FOR (n:Incident) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT component_name IF NOT EXISTS FOR (n:Component) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT detection_rule_name IF NOT EXISTS FOR (n:DetectionRule) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT attack_path_id IF NOT EXISTS FOR (n:AttackPath) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT action_id IF NOT EXISTS FOR (n:Action) REQUIRE n.id IS UNIQUE",
    "CREATE INDEX incident_fingerprint IF NOT EXISTS FOR (n:Incident) ON (n.fingerprint)",
    "CREATE INDEX incident_starts IF NOT EXISTS FOR (n:Incident) ON (n.starts_at_ms)",
    "CREATE INDEX calls_incident IF NOT EXISTS FOR ()-[r:CALLS]-() ON (r.incident)",
    "CREATE INDEX mitigated_incident IF NOT EXISTS FOR ()-[r:MITIGATED_BY]-() ON (r.incident)",
];

/// The Neo4j [`GraphStore`]. Cheap to clone; clones share one connection
/// pool, local copy and outbox.
#[derive(Clone)]
pub struct Neo4jStore {
    shared: Arc<Shared>,
}

struct Shared {
    graph: Graph,
    uri: String,
    schema_ready: AtomicBool,
    local: Option<Local>,
}

struct Local {
    store: EmbeddedStore,
    outbox: Arc<Mutex<Outbox>>,
    /// One flush at a time (the background task's or a caller's).
    flushing: tokio::sync::Mutex<()>,
    wake: Arc<tokio::sync::Notify>,
    /// Cancelled by [`GraphStore::close`] or by the owner's token
    /// ([`Background::stop`]): the retry task ends.
    stop: CancellationToken,
    retry_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Neo4jStore {
    /// Neo4j alone, no local copy: every call goes to the server and fails
    /// with [`StoreError::Unavailable`] while it is down.
    pub async fn connect(cfg: Neo4jConfig) -> Result<Neo4jStore, StoreError> {
        Ok(Neo4jStore {
            shared: Arc::new(Shared::new(&cfg, None).await?),
        })
    }

    /// Neo4j with a local copy and an outbox in `data_dir` (see the module
    /// docs). Succeeds while Neo4j is down; must be called inside a tokio
    /// runtime. The task that retries the outbox runs on `background`'s
    /// tracker and ends when its token is cancelled, at [`GraphStore::close`]
    /// or when the last clone is dropped.
    pub async fn open(
        cfg: Neo4jConfig,
        data_dir: &Path,
        background: &Background,
    ) -> Result<Neo4jStore, StoreError> {
        let dir = data_dir.to_path_buf();
        let (store, outbox) = tokio::task::spawn_blocking(move || {
            let store = EmbeddedStore::open(&dir)?;
            let outbox = Outbox::open(&dir)?;
            Ok::<_, StoreError>((store, outbox))
        })
        .await
        .map_err(StoreError::task("opening the data directory"))??;
        let pending = outbox.pending.len();
        let wake = Arc::new(tokio::sync::Notify::new());
        let stop = background.stop.child_token();
        let local = Local {
            store,
            outbox: Arc::new(Mutex::new(outbox)),
            flushing: tokio::sync::Mutex::new(()),
            wake: Arc::clone(&wake),
            stop: stop.clone(),
            retry_task: Mutex::new(None),
        };
        let shared = Arc::new(Shared::new(&cfg, Some(local)).await?);
        if pending > 0 {
            info!(pending, uri = %cfg.uri, "incidents waiting in the outbox for Neo4j");
        }
        let task = background
            .tasks
            .spawn(retry_outbox(Arc::downgrade(&shared), wake, stop));
        if let Some(l) = &shared.local {
            *l.retry_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        }
        Ok(Neo4jStore { shared })
    }
}

impl Shared {
    async fn new(cfg: &Neo4jConfig, local: Option<Local>) -> Result<Shared, StoreError> {
        cfg.validate()?;
        let config = neo4rs::ConfigBuilder::default()
            .uri(cfg.uri.as_str())
            .user(cfg.user.as_str())
            .password(cfg.password.as_str())
            .max_connections(8)
            .fetch_size(1000)
            .build()
            .map_err(|e| StoreError::Config(format!("neo4j settings for {}: {e}", cfg.uri)))?;
        // The pool connects lazily: this does not touch the network, and so
        // only fails on settings.
        let graph = Graph::connect(config)
            .await
            .map_err(|e| StoreError::Config(format!("neo4j uri {}: {e}", cfg.uri)))?;
        Ok(Shared {
            graph,
            uri: cfg.uri.clone(),
            schema_ready: AtomicBool::new(false),
            local,
        })
    }

    /// The store's name in errors.
    fn name(&self) -> String {
        format!("neo4j at {}", self.uri)
    }

    /// Down (retry later) or refused (do not), keeping neo4rs's error whole.
    fn err(&self, e: neo4rs::Error) -> StoreError {
        use neo4rs::Error as E;
        let store = self.name();
        let down = match &e {
            E::IOError { .. } | E::ConnectionError => true,
            E::Neo4j(n) => n.kind() == neo4rs::Neo4jErrorKind::Transient,
            _ => false,
        };
        if down {
            return StoreError::Unavailable {
                store,
                source: Box::new(e),
            };
        }
        let code = match &e {
            E::Neo4j(n) => Some(n.code().to_string()),
            _ => None,
        };
        StoreError::Refused {
            store,
            code,
            source: Box::new(e),
        }
    }

    /// Runs `f` in one transaction, committed if it succeeds, under
    /// [`OP_TIMEOUT`]. A transient failure (a deadlock between concurrent
    /// writers, a lock timeout) rolls back and runs `f` again, a few times.
    async fn in_txn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: for<'t> Fn(&'t mut Txn) -> BoxFuture<'t, Result<T, neo4rs::Error>>,
    {
        let work = async {
            let mut attempt = 0u32;
            loop {
                attempt += 1;
                let mut txn = self.graph.start_txn().await?;
                let out = match f(&mut txn).await {
                    Ok(v) => txn.commit().await.map(|_| v),
                    Err(e) => {
                        let _ = txn.rollback().await;
                        Err(e)
                    }
                };
                match out {
                    Err(neo4rs::Error::Neo4j(e))
                        if attempt < 10 && e.kind() == neo4rs::Neo4jErrorKind::Transient =>
                    {
                        debug!(
                            code = e.code(),
                            attempt, "transient neo4j error, running again"
                        );
                        // Writers that collided pause for different times.
                        let jitter = (u64::from(attempt) * 2_654_435_761
                            + u64::from(std::process::id()))
                            % 50;
                        let ms = (20u64 << attempt.min(5)) + jitter;
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    other => return other,
                }
            }
        };
        match tokio::time::timeout(OP_TIMEOUT, work).await {
            Ok(r) => r.map_err(|e| self.err(e)),
            Err(_) => Err(StoreError::Unavailable {
                store: self.name(),
                source: Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", OP_TIMEOUT.as_secs()),
                )),
            }),
        }
    }

    async fn ensure_schema(&self) -> Result<(), StoreError> {
        if self.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        // Schema changes cannot share a transaction with anything else.
        for stmt in SCHEMA {
            let made = self
                .in_txn(|txn| Box::pin(async move { txn.run(neo4rs::query(stmt)).await }))
                .await;
            match made {
                // Another client created the same rule between our check
                // and our creation: what we wanted exists.
                Err(StoreError::Refused { code: Some(c), .. }) if c == EQUIVALENT_SCHEMA_RULE => {}
                other => other?,
            }
        }
        self.schema_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Writes one record to Neo4j; nothing if it is there unchanged.
    async fn write(&self, record: &IncidentRecord) -> Result<(), StoreError> {
        record.validate()?;
        self.ensure_schema().await?;
        let rows = Arc::new(Rows::of(record)?);
        self.in_txn(|txn| {
            let rows = Arc::clone(&rows);
            Box::pin(async move { rows.write(txn).await })
        })
        .await
    }

    /// Adds a verdict to the record Neo4j holds, in one transaction.
    async fn add_feedback(
        &self,
        id: &str,
        feedback: &Feedback,
    ) -> Result<Option<IncidentRecord>, StoreError> {
        self.ensure_schema().await?;
        self.in_txn(|txn| {
            let id = id.to_string();
            let feedback = feedback.clone();
            Box::pin(async move {
                let q = neo4rs::query(
                    "MATCH (i:Incident {id: $id}) SET i.writing = true RETURN i.record AS record",
                )
                .param("id", id.as_str());
                let rows = collect(txn, q).await?;
                let Some(json) = rows.first().and_then(|r| r.get::<String>("record").ok()) else {
                    return Ok(None);
                };
                let mut record: IncidentRecord = serde_json::from_str(&json).map_err(|e| {
                    neo4rs::Error::UnexpectedMessage(format!("incident record in neo4j: {e}"))
                })?;
                record.feedback.push(feedback);
                let rows = Rows::of(&record)
                    .map_err(|e| neo4rs::Error::UnexpectedMessage(e.to_string()))?;
                rows.write(txn).await?;
                Ok(Some(record))
            })
        })
        .await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let Some(local) = &self.local else {
            return Ok(());
        };
        let _one = local.flushing.lock().await;
        let ids: Vec<String> = local.outbox().pending.clone();
        for id in ids {
            match local.store.get(&id).await? {
                Some(rec) => self.write(&rec).await?,
                // Not in the local copy (cannot happen: the copy is written
                // first); nothing to send.
                None => warn!(incident = %id, "outbox names an incident the local copy lacks"),
            }
            local.outbox_do(move |ob| ob.done(&id)).await?;
        }
        Ok(())
    }

    /// Answers from Neo4j; while it is down, from the local copy if there is one.
    async fn read<T>(
        &self,
        what: &'static str,
        remote: impl std::future::Future<Output = Result<T, StoreError>>,
        local: impl FnOnce(&EmbeddedStore) -> T,
    ) -> Result<T, StoreError> {
        match (remote.await, &self.local) {
            (Err(e @ StoreError::Unavailable { .. }), Some(l)) => {
                warn!(query = what, error = %e, "neo4j down: answering from the local copy");
                Ok(local(&l.store))
            }
            (r, _) => r,
        }
    }
}

impl Local {
    /// The outbox, for reading (its writes sync a file: [`Local::outbox_do`]).
    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        lock(&self.outbox)
    }

    /// Changes the outbox on a blocking thread: each change is synced to
    /// disk before it returns, which must not stall an async worker.
    async fn outbox_do(
        &self,
        f: impl FnOnce(&mut Outbox) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        let outbox = Arc::clone(&self.outbox);
        tokio::task::spawn_blocking(move || f(&mut lock(&outbox)))
            .await
            .map_err(StoreError::task("syncing the neo4j outbox"))?
    }
}

fn lock(outbox: &Mutex<Outbox>) -> std::sync::MutexGuard<'_, Outbox> {
    outbox.lock().unwrap_or_else(|p| p.into_inner())
}

/// Retries the outbox until `stop` is cancelled or the store is dropped:
/// promptly after a put that could not land, then with a growing pause while
/// Neo4j stays down.
async fn retry_outbox(
    shared: Weak<Shared>,
    wake: Arc<tokio::sync::Notify>,
    stop: CancellationToken,
) {
    let mut pause = RETRY_MIN;
    loop {
        if stop.is_cancelled() {
            return;
        }
        {
            let Some(s) = shared.upgrade() else {
                return;
            };
            let pending = s.local.as_ref().map_or(0, |l| l.outbox().pending.len());
            if pending > 0 {
                match s.flush().await {
                    Ok(()) => {
                        info!(written = pending, "outbox written to neo4j");
                        pause = RETRY_MIN;
                    }
                    Err(e) => {
                        debug!(error = %e, pending, "outbox not written yet");
                        pause = (pause * 2).min(RETRY_MAX);
                    }
                }
            } else {
                pause = RETRY_MAX;
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

#[async_trait]
impl GraphStore for Neo4jStore {
    async fn ensure_schema(&self) -> Result<(), StoreError> {
        self.shared.ensure_schema().await
    }

    #[instrument(skip_all, fields(incident = %record.id()))]
    async fn put(&self, record: &IncidentRecord) -> Result<(), StoreError> {
        record.validate()?;
        let s = &self.shared;
        let Some(local) = &s.local else {
            return s.write(record).await;
        };
        // Durable here first: from now on the incident cannot be lost.
        local.store.put(record).await?;
        let stored = local
            .store
            .get(record.id())
            .await?
            .unwrap_or_else(|| record.clone());
        self.send(local, &stored).await
    }

    async fn add_feedback(
        &self,
        id: &str,
        feedback: Feedback,
    ) -> Result<Option<IncidentRecord>, StoreError> {
        feedback.validate()?;
        if let Some(local) = &self.shared.local {
            // Atomic in the local copy, then to Neo4j as a put is.
            if let Some(stored) = local.store.add_feedback(id, feedback.clone()).await? {
                self.send(local, &stored).await?;
                return Ok(Some(stored));
            }
        }
        // Only in Neo4j: read, add and write in one transaction, which
        // holds the incident's lock, so two at once both stay.
        let Some(record) = self.shared.add_feedback(id, &feedback).await? else {
            return Ok(None);
        };
        if let Some(local) = &self.shared.local {
            local.store.put(&record).await?;
        }
        Ok(Some(record))
    }

    async fn verdicts(&self, query: &IncidentQuery) -> Result<Vec<Verdicted>, StoreError> {
        let s = &self.shared;
        let remote = s.in_txn(|txn| {
            let q = query.clone();
            Box::pin(async move {
                let text = "MATCH (i:Incident)-[f:CONFIRMED_ROOT_CAUSE]->(c:Component) \
                     WHERE ($since IS NULL OR i.starts_at_ms >= $since) \
                       AND ($until IS NULL OR i.starts_at_ms < $until) \
                     RETURN i AS i, f AS f, c.name AS root \
                     ORDER BY i.starts_at_ms DESC, i.id DESC SKIP $skip LIMIT $limit";
                let rows = collect(txn, with_window(neo4rs::query(text), &q)).await?;
                rows.iter().map(verdicted).collect()
            })
        });
        s.read("verdicts", remote, |l| l.verdicts_now(query)).await
    }

    async fn get(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        if let Some(l) = &self.shared.local {
            if let Some(r) = l.store.get(id).await? {
                return Ok(Some(r));
            }
        }
        let answer = self
            .shared
            .in_txn(|txn| {
                let q = neo4rs::query("MATCH (i:Incident {id: $id}) RETURN i.record AS record")
                    .param("id", id);
                Box::pin(async move {
                    let rows = collect(txn, q).await?;
                    Ok(rows.first().and_then(|r| r.get::<String>("record").ok()))
                })
            })
            .await;
        let json: Option<String> = match answer {
            Ok(j) => j,
            // Down, with a local copy: what this instance stored is in it,
            // and nothing else can be known now.
            Err(e @ StoreError::Unavailable { .. }) if self.shared.local.is_some() => {
                tracing::warn!(query = "get", error = %e, "neo4j down: answering from the local copy");
                None
            }
            Err(e) => return Err(e),
        };
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| StoreError::Corrupt {
                what: "incident record in neo4j".into(),
                reason: e.to_string(),
            })
        })
        .transpose()
    }

    async fn incidents(&self, query: &IncidentQuery) -> Result<Vec<IncidentSummary>, StoreError> {
        let s = &self.shared;
        let remote = s.in_txn(|txn| {
            let q = query.clone();
            Box::pin(async move {
                let text = if q.component.is_some() {
                    "MATCH (:Component {name: $component})<-[:ROOT_CAUSE]-(i:Incident) \
                     WHERE ($since IS NULL OR i.starts_at_ms >= $since) \
                       AND ($until IS NULL OR i.starts_at_ms < $until) \
                     RETURN DISTINCT i AS i ORDER BY i.starts_at_ms DESC, i.id DESC SKIP $skip LIMIT $limit"
                } else {
                    "MATCH (i:Incident) \
                     WHERE ($since IS NULL OR i.starts_at_ms >= $since) \
                       AND ($until IS NULL OR i.starts_at_ms < $until) \
                     RETURN i AS i ORDER BY i.starts_at_ms DESC, i.id DESC SKIP $skip LIMIT $limit"
                };
                let rows = collect(txn, with_window(neo4rs::query(text), &q)).await?;
                rows.iter().map(|r| summary(&r.get::<neo4rs::Node>("i").map_err(de)?)).collect()
            })
        });
        s.read("incidents", remote, |l| l.incidents_now(query))
            .await
    }

    async fn latest_for_alert(
        &self,
        fingerprint: &str,
    ) -> Result<Option<IncidentSummary>, StoreError> {
        let s = &self.shared;
        let remote = s.in_txn(|txn| {
            let q = neo4rs::query(
                "MATCH (i:Incident) \
                 WHERE i.fingerprint = $fp OR $fp IN coalesce(i.other_fingerprints, []) \
                 RETURN i AS i ORDER BY i.starts_at_ms DESC, i.id DESC LIMIT 1",
            )
            .param("fp", fingerprint);
            Box::pin(async move {
                let rows = collect(txn, q).await?;
                rows.first()
                    .map(|r| summary(&r.get::<neo4rs::Node>("i").map_err(de)?))
                    .transpose()
            })
        });
        s.read("latest_for_alert", remote, |l| {
            l.latest_for_alert_now(fingerprint)
        })
        .await
    }

    async fn recurring(&self, query: &IncidentQuery) -> Result<Vec<Recurring>, StoreError> {
        let s = &self.shared;
        let remote = s.in_txn(|txn| {
            let q = query.clone();
            Box::pin(async move {
                let text = "MATCH (i:Incident) \
                     WHERE i.root_cause IS NOT NULL \
                       AND ($since IS NULL OR i.starts_at_ms >= $since) \
                       AND ($until IS NULL OR i.starts_at_ms < $until) \
                     WITH i ORDER BY i.starts_at_ms DESC, i.id DESC \
                     WITH i.root_cause AS component, collect(i.starts_at) AS starts, collect(i.fault) AS faults \
                     WHERE size(starts) >= 2 \
                     RETURN component, size(starts) AS n, starts[0] AS last_seen, faults \
                     ORDER BY n DESC, component SKIP $skip LIMIT $limit";
                let rows = collect(txn, with_window(neo4rs::query(text), &q)).await?;
                rows.iter()
                    .map(|r| {
                        let faults: Vec<String> = r.get("faults").map_err(de)?;
                        Ok(Recurring {
                            component: r.get("component").map_err(de)?,
                            incidents: r.get::<i64>("n").map_err(de)? as u64,
                            last_seen: r.get("last_seen").map_err(de)?,
                            faults: by_frequency(&faults),
                        })
                    })
                    .collect()
            })
        });
        s.read("recurring", remote, |l| l.recurring_now(query))
            .await
    }

    async fn gaps(&self) -> Result<Vec<Gap>, StoreError> {
        let s = &self.shared;
        let remote = s.in_txn(|txn| {
            Box::pin(async move {
                // A (path, rule) pair is covered once any incident that
                // followed the path and fired the rule has a taken action.
                let text = "MATCH (p:AttackPath)-[:DETECTED_BY]->(r:DetectionRule) \
                     WHERE NOT EXISTS { \
                       MATCH (r)-[m:MITIGATED_BY]->(:Action) \
                       WHERE m.attack_path = p.id AND m.status = 'taken' } \
                     CALL { WITH p, r \
                       MATCH (i:Incident)-[:FOLLOWED]->(p) WHERE (i)-[:DETECTED_BY]->(r) \
                       RETURN count(i) AS n } \
                     WITH p, r, n WHERE n > 0 \
                     RETURN p.id AS id, p.components AS components, r.name AS rule, n";
                let rows = collect(txn, neo4rs::query(text)).await?;
                let mut gaps = rows
                    .iter()
                    .map(|r| {
                        Ok(Gap {
                            attack_path: r.get("id").map_err(de)?,
                            components: r.get("components").map_err(de)?,
                            detection_rule: r.get("rule").map_err(de)?,
                            incidents: r.get::<i64>("n").map_err(de)? as u64,
                        })
                    })
                    .collect::<Result<Vec<_>, neo4rs::Error>>()?;
                sort_gaps(&mut gaps);
                Ok(gaps)
            })
        });
        s.read("gaps", remote, |l| l.gaps_now()).await
    }

    /// How many incidents wait in the outbox (0 without a data directory).
    fn pending(&self) -> usize {
        self.shared
            .local
            .as_ref()
            .map_or(0, |l| l.outbox().pending.len())
    }

    /// Writes every incident waiting in the outbox now.
    async fn flush(&self) -> Result<(), StoreError> {
        self.shared.flush().await
    }

    /// Stops the retry task and waits for it, so that once the last clone
    /// is dropped the data directory is free for another open at once.
    /// What is pending stays in the outbox for the next open.
    async fn close(&self) {
        let Some(local) = &self.shared.local else {
            return;
        };
        local.stop.cancel();
        let task = local
            .retry_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    async fn graph(&self, id: &str) -> Result<Option<IncidentGraph>, StoreError> {
        let s = &self.shared;
        let remote = s.in_txn(|txn| Box::pin(read_graph(txn, id.to_string())));
        match (remote.await, &s.local) {
            (Err(e @ StoreError::Unavailable { .. }), Some(l)) => {
                warn!(error = %e, "neo4j down: the incident graph from the local copy");
                Ok(l.store.get(id).await?.map(|r| IncidentGraph::of(&r)))
            }
            (r, _) => r,
        }
    }
}

impl Neo4jStore {
    /// Writes a record the local copy holds to Neo4j, through the outbox: on
    /// disk there first, so a Neo4j that is down only delays it.
    async fn send(&self, local: &Local, stored: &IncidentRecord) -> Result<(), StoreError> {
        let s = &self.shared;
        let id = stored.id().to_string();
        let added = id.clone();
        local.outbox_do(move |ob| ob.add(&added)).await?;
        let more = local.outbox().pending.len() > 1;
        match s.write(stored).await {
            Ok(()) => {
                local.outbox_do(move |ob| ob.done(&id)).await?;
                if more {
                    local.wake.notify_one();
                }
                Ok(())
            }
            Err(e @ StoreError::Unavailable { .. }) => {
                warn!(error = %e, "neo4j down: the incident waits in the outbox");
                local.wake.notify_one();
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// One incident's graph, read back from its relationships (not from the
/// record JSON): what Neo4j holds is what is shown.
async fn read_graph(txn: &mut Txn, id: String) -> Result<Option<IncidentGraph>, neo4rs::Error> {
    let one = |text: &str| neo4rs::query(text).param("id", id.clone());
    let rows = collect(txn, one("MATCH (i:Incident {id: $id}) RETURN i AS i")).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let incident = summary(&row.get::<neo4rs::Node>("i").map_err(de)?)?;
    let mut root_causes = Vec::new();
    let q = one("MATCH (:Incident {id: $id})-[r:ROOT_CAUSE]->(c:Component) \
         RETURN c.name AS c, r.rank AS rank, r.score AS score ORDER BY r.rank");
    for r in collect(txn, q).await? {
        root_causes.push((
            r.get::<String>("c").map_err(de)?,
            r.get::<i64>("rank").map_err(de)? as u32,
            r.get::<f64>("score").map_err(de)?,
        ));
    }
    let mut calls = Vec::new();
    let q = one(
        "MATCH (a:Component)-[c:CALLS {incident: $id}]->(b:Component) \
         RETURN a.name AS a, b.name AS b, c.calls AS calls, c.errors AS errors, c.p99 AS p99 \
         ORDER BY a, b",
    );
    for r in collect(txn, q).await? {
        calls.push(Edge {
            from: r.get("a").map_err(de)?,
            to: r.get("b").map_err(de)?,
            calls: r.get::<i64>("calls").map_err(de)? as u64,
            errors: r.get::<i64>("errors").map_err(de)? as u64,
            p99_ms: r.get("p99").map_err(de)?,
        });
    }
    let q = one("MATCH (:Incident {id: $id})-[:FOLLOWED]->(p:AttackPath) RETURN p.components AS c");
    let path: Vec<String> = match collect(txn, q).await?.first() {
        Some(r) => r.get("c").map_err(de)?,
        None => Vec::new(),
    };
    let q = one("MATCH (:Incident {id: $id})-[:DETECTED_BY]->(r:DetectionRule) RETURN r.name AS r");
    let detection_rule: String = match collect(txn, q).await?.first() {
        Some(r) => r.get("r").map_err(de)?,
        None => String::new(),
    };
    let mut actions = Vec::new();
    let q = one("MATCH (:Incident {id: $id})-[x:ACTION]->(a:Action) \
         RETURN a.id AS id, a.description AS d, x.status AS s ORDER BY x.order");
    for r in collect(txn, q).await? {
        let status: String = r.get("s").map_err(de)?;
        actions.push(Action {
            id: r.get("id").map_err(de)?,
            description: r.get("d").map_err(de)?,
            status: if status == "taken" {
                ActionStatus::Taken
            } else {
                ActionStatus::Suggested
            },
        });
    }
    Ok(Some(IncidentGraph {
        incident,
        root_causes,
        calls,
        path,
        detection_rule,
        actions,
    }))
}

fn de(e: neo4rs::DeError) -> neo4rs::Error {
    neo4rs::Error::DeserializationError(e)
}

async fn collect(txn: &mut Txn, q: Query) -> Result<Vec<neo4rs::Row>, neo4rs::Error> {
    let mut stream = txn.execute(q).await?;
    let mut rows = Vec::new();
    while let Some(row) = stream.next(txn.handle()).await? {
        rows.push(row);
    }
    Ok(rows)
}

fn with_window(q: Query, iq: &IncidentQuery) -> Query {
    let limit = if iq.limit == 0 {
        DEFAULT_LIMIT
    } else {
        iq.limit
    };
    q.param("component", iq.component.clone())
        .param("since", iq.since.map(|t| t.timestamp_millis()))
        .param("until", iq.until.map(|t| t.timestamp_millis()))
        .param("skip", i64::try_from(iq.offset).unwrap_or(i64::MAX))
        // `usize::MAX` ("all") would wrap to a negative LIMIT.
        .param("limit", i64::try_from(limit).unwrap_or(i64::MAX))
}

/// One row of `verdicts`: the incident, its latest verdict and the component.
fn verdicted(r: &neo4rs::Row) -> Result<Verdicted, neo4rs::Error> {
    let f: neo4rs::Relation = r.get("f").map_err(de)?;
    let text = |k: &str| f.get::<String>(k).map_err(de);
    let verdict = match text("verdict")?.as_str() {
        "confirmed" => Verdict::Confirmed,
        "corrected" => Verdict::Corrected,
        other => {
            return Err(neo4rs::Error::UnexpectedMessage(format!(
                "verdict {other:?} is neither confirmed nor corrected"
            )))
        }
    };
    let at = text("at")?;
    let fault: Option<String> = f.get("fault").ok();
    Ok(Verdicted {
        incident: summary(&r.get::<neo4rs::Node>("i").map_err(de)?)?,
        feedback: Feedback {
            verdict,
            root_cause: r.get("root").map_err(de)?,
            fault: fault.as_deref().and_then(FaultKind::parse),
            note: f.get::<String>("note").unwrap_or_default(),
            by: text("by")?,
            at: parse_time(&at).ok_or_else(|| {
                neo4rs::Error::UnexpectedMessage(format!("verdict time {at:?} is not RFC 3339"))
            })?,
        },
        verdicts: f.get::<i64>("verdicts").unwrap_or(1).max(1) as usize,
    })
}

fn summary(n: &neo4rs::Node) -> Result<IncidentSummary, neo4rs::Error> {
    let created: String = n.get("created_at").map_err(de)?;
    let fault: Option<String> = n.get("fault").ok();
    Ok(IncidentSummary {
        id: n.get("id").map_err(de)?,
        alert_name: n.get("alert_name").map_err(de)?,
        fingerprint: n.get("fingerprint").map_err(de)?,
        // Absent on incidents stored before investigations grouped alerts.
        other_fingerprints: n.get("other_fingerprints").unwrap_or_default(),
        starts_at: n.get("starts_at").map_err(de)?,
        created_at: parse_time(&created).ok_or_else(|| {
            neo4rs::Error::UnexpectedMessage(format!("created_at {created:?} is not RFC 3339"))
        })?,
        root_cause: n.get("root_cause").ok(),
        fault: fault.as_deref().and_then(FaultKind::parse),
        score: n.get("score").ok(),
    })
}

/// Fault kinds by how often they appear, most first (ties by name).
fn by_frequency(faults: &[String]) -> Vec<FaultKind> {
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for f in faults {
        *counts.entry(f.as_str()).or_default() += 1;
    }
    let mut v: Vec<(&str, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.into_iter()
        .filter_map(|(f, _)| FaultKind::parse(f))
        .collect()
}

/// Everything one incident writes, as parameters.
struct Rows {
    id: String,
    digest: String,
    record: IncidentRecord,
    components: Vec<String>,
    rule: Option<String>,
    path_id: Option<String>,
}

fn map(entries: impl IntoIterator<Item = (&'static str, BoltType)>) -> BoltType {
    let m: HashMap<&str, BoltType> = entries.into_iter().collect();
    BoltType::from(m)
}

impl Rows {
    fn of(record: &IncidentRecord) -> Result<Rows, StoreError> {
        let l = &record.localisation;
        let mut components: Vec<String> = l
            .ranking
            .iter()
            .map(|c| c.component.clone())
            .chain(l.path.iter().cloned())
            .chain(l.edges.iter().flat_map(|e| [e.from.clone(), e.to.clone()]))
            .collect();
        components.sort_unstable();
        components.dedup();
        Ok(Rows {
            id: record.id().to_string(),
            digest: record.content_digest(),
            record: record.clone(),
            components,
            rule: record.detection_rule().map(str::to_string),
            path_id: record.attack_path_id(),
        })
    }

    async fn write(&self, txn: &mut Txn) -> Result<(), neo4rs::Error> {
        let mut record = self.record.clone();
        let id = self.id.clone();
        let q = |text: &str| neo4rs::query(text).param("id", id.clone());
        // The incident's node first, with a property written so this
        // transaction holds its lock: a concurrent write of the same incident
        // waits here, then finds it written. Unchanged since the last write:
        // nothing else to do (the marker goes again, so nothing changed).
        // Changed: the incident's own relationships go, and are created anew
        // below (CREATE, not MERGE: under the lock they cannot exist, and
        // MERGE would scan every relationship between two busy components);
        // it keeps the time it was first stored.
        let existing = collect(
            txn,
            q(
                "MERGE (i:Incident {id: $id}) ON CREATE SET i.created_at = $created_at \
               SET i.writing = true \
               RETURN i.digest AS digest, i.created_at AS created, i.feedback AS feedback, \
                      i.resolved_at AS resolved",
            )
            .param("created_at", rfc3339(record.created_at)),
        )
        .await?;
        // Verdicts only ever grow: a put with fewer than Neo4j holds (a
        // replay without any, or a write that lost a race to a newer one)
        // keeps the ones held.
        let mut digest_now = self.digest.clone();
        let held = existing
            .first()
            .and_then(|row| row.get::<String>("feedback").ok())
            .and_then(|j| serde_json::from_str::<Vec<Feedback>>(&j).ok())
            .unwrap_or_default();
        if held.len() > record.feedback.len() {
            record.feedback = held;
            digest_now = record.content_digest();
        }
        // So does the time the alert resolved.
        if record.resolved_at.is_none() {
            let resolved = existing
                .first()
                .and_then(|row| row.get::<String>("resolved").ok())
                .as_deref()
                .and_then(parse_time);
            if resolved.is_some() {
                record.resolved_at = resolved;
                digest_now = record.content_digest();
            }
        }
        let previous = existing
            .first()
            .and_then(|row| Some((row.get::<String>("digest").ok()?, row)));
        if let Some((digest, row)) = previous {
            if digest == digest_now {
                txn.run(q("MATCH (i:Incident {id: $id}) REMOVE i.writing"))
                    .await?;
                return Ok(());
            }
            if let Some(t) = row
                .get::<String>("created")
                .ok()
                .as_deref()
                .and_then(parse_time)
            {
                record.created_at = t;
            }
            txn.run(q("MATCH (i:Incident {id: $id})-[r:ROOT_CAUSE|FOLLOWED|DETECTED_BY|ACTION|CONFIRMED_ROOT_CAUSE]->() DELETE r"))
                .await?;
            txn.run(q("MATCH ()-[c:CALLS {incident: $id}]->() DELETE c"))
                .await?;
            txn.run(q("MATCH ()-[m:MITIGATED_BY {incident: $id}]->() DELETE m"))
                .await?;
        }
        let rec = &record;
        let l = &rec.localisation;
        let top = l.ranking.first();
        let json = serde_json::to_string(rec).map_err(|e| {
            neo4rs::Error::UnexpectedMessage(format!("serialising the record: {e}"))
        })?;
        let starts_ms = parse_time(&l.incident.starts_at).map(|t| t.timestamp_millis());
        txn.run(
            q("MATCH (i:Incident {id: $id}) REMOVE i.writing \
               SET i.alert_name = $alert_name, i.fingerprint = $fingerprint, \
                   i.other_fingerprints = $other_fingerprints, \
                   i.starts_at = $starts_at, i.starts_at_ms = $starts_ms, \
                   i.created_at = $created_at, i.root_cause = $root_cause, i.fault = $fault, \
                   i.score = $score, i.detection_rule = $rule, i.attack_path = $path_id, \
                   i.digest = $digest, i.record = $record, i.feedback = $feedback, \
                   i.resolved_at = $resolved, i.recording = $recording")
            .param("alert_name", l.incident.alert_name.as_str())
            .param("fingerprint", l.incident.fingerprint.as_str())
            .param(
                "other_fingerprints",
                l.incident
                    .other_alerts
                    .iter()
                    .map(|a| a.fingerprint.clone())
                    .collect::<Vec<String>>(),
            )
            .param("starts_at", l.incident.starts_at.as_str())
            .param("starts_ms", starts_ms)
            .param("created_at", rfc3339(rec.created_at))
            .param("root_cause", top.map(|c| c.component.clone()))
            .param("fault", top.map(|c| c.fault.as_str()))
            .param("score", top.map(|c| c.score))
            .param("rule", self.rule.clone())
            .param("path_id", self.path_id.clone())
            .param("digest", digest_now.as_str())
            .param("record", json)
            .param("resolved", rec.resolved_at.map(rfc3339))
            // The recorded window is a file beside the data directory; the
            // graph holds where it was written.
            .param("recording", rec.recording.as_ref().map(|r| r.path.clone()))
            .param(
                "feedback",
                (!rec.feedback.is_empty())
                    .then(|| serde_json::to_string(&rec.feedback).unwrap_or_default()),
            ),
        )
        .await?;
        txn.run(
            neo4rs::query("UNWIND $names AS name MERGE (:Component {name: name})")
                .param("names", self.components.clone()),
        )
        .await?;
        let ranking: Vec<BoltType> = l
            .ranking
            .iter()
            .enumerate()
            .map(|(i, c)| {
                map([
                    ("component", c.component.as_str().into()),
                    ("rank", (i as i64 + 1).into()),
                    ("score", c.score.into()),
                    ("fault", c.fault.as_str().into()),
                ])
            })
            .collect();
        txn.run(
            q("MATCH (i:Incident {id: $id}) UNWIND $rows AS row \
               MATCH (c:Component {name: row.component}) \
               CREATE (i)-[:ROOT_CAUSE {rank: row.rank, score: row.score, fault: row.fault}]->(c)")
            .param("rows", ranking),
        )
        .await?;
        let edges: Vec<BoltType> = l
            .edges
            .iter()
            .map(|e| {
                map([
                    ("from", e.from.as_str().into()),
                    ("to", e.to.as_str().into()),
                    ("calls", (e.calls as i64).into()),
                    ("errors", (e.errors as i64).into()),
                    ("p99", e.p99_ms.into()),
                ])
            })
            .collect();
        txn.run(
            q("UNWIND $rows AS row \
               MATCH (a:Component {name: row.from}), (b:Component {name: row.to}) \
               CREATE (a)-[:CALLS {incident: $id, calls: row.calls, errors: row.errors, p99: row.p99}]->(b)")
            .param("rows", edges),
        )
        .await?;
        if let Some(pid) = &self.path_id {
            let hops: Vec<BoltType> = l
                .path
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    map([
                        ("component", c.as_str().into()),
                        ("order", (k as i64).into()),
                    ])
                })
                .collect();
            txn.run(
                q("MATCH (i:Incident {id: $id}) \
                   MERGE (p:AttackPath {id: $path_id}) SET p.components = $components \
                   CREATE (i)-[:FOLLOWED]->(p) \
                   WITH p UNWIND $rows AS row \
                   MATCH (c:Component {name: row.component}) \
                   MERGE (p)-[:TRAVERSES {order: row.order}]->(c)")
                .param("path_id", pid.as_str())
                .param("components", l.path.clone())
                .param("rows", hops),
            )
            .await?;
        }
        if let Some(rule) = &self.rule {
            txn.run(
                q("MATCH (i:Incident {id: $id}) \
                   MERGE (r:DetectionRule {name: $rule}) \
                   CREATE (i)-[:DETECTED_BY]->(r) \
                   WITH r MATCH (p:AttackPath {id: $path_id}) \
                   MERGE (p)-[:DETECTED_BY]->(r)")
                .param("rule", rule.as_str())
                .param("path_id", self.path_id.clone()),
            )
            .await?;
        }
        if let Some(f) = rec.verdict() {
            txn.run(
                q(
                    "MATCH (i:Incident {id: $id}) MERGE (c:Component {name: $root}) \
                   CREATE (i)-[:CONFIRMED_ROOT_CAUSE {verdict: $verdict, fault: $fault, by: $by, \
                       at: $at, note: $note, verdicts: $verdicts}]->(c)",
                )
                .param("root", f.root_cause.as_str())
                .param("verdict", f.verdict.as_str())
                .param("fault", f.fault.map(|k| k.as_str()))
                .param("by", f.by.as_str())
                .param("at", rfc3339(f.at))
                .param("note", f.note.as_str())
                .param("verdicts", rec.feedback.len() as i64),
            )
            .await?;
        }
        let actions: Vec<BoltType> = rec
            .actions
            .iter()
            .enumerate()
            .map(|(k, a)| {
                map([
                    ("id", a.id.as_str().into()),
                    ("description", a.description.as_str().into()),
                    ("status", status(a.status).into()),
                    ("order", (k as i64).into()),
                ])
            })
            .collect();
        txn.run(
            q("MATCH (i:Incident {id: $id}) UNWIND $rows AS row \
               MERGE (a:Action {id: row.id}) SET a.description = row.description \
               CREATE (i)-[:ACTION {order: row.order, status: row.status}]->(a)")
            .param("rows", actions.clone()),
        )
        .await?;
        if let Some(rule) = &self.rule {
            txn.run(
                q("MATCH (r:DetectionRule {name: $rule}) UNWIND $rows AS row \
                   MATCH (a:Action {id: row.id}) \
                   CREATE (r)-[:MITIGATED_BY {incident: $id, attack_path: $path_id, status: row.status}]->(a)")
                .param("rows", actions)
                .param("rule", rule.as_str())
                .param("path_id", self.path_id.clone()),
            )
            .await?;
        }
        Ok(())
    }
}

fn status(s: ActionStatus) -> &'static str {
    match s {
        ActionStatus::Suggested => "suggested",
        ActionStatus::Taken => "taken",
    }
}

/// `created_at` as chrono's serde writes it (as precise as the value): a
/// summary read back from Neo4j then equals the record's, to the nanosecond.
fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The ids written locally but not yet to Neo4j, persisted as a JSON-lines
/// log of `{"put": id}` and `{"done": id}` in `neo4j-outbox.jsonl`, synced
/// before each call returns, rewritten with only what is pending at open.
struct Outbox {
    path: PathBuf,
    file: File,
    /// Oldest first.
    pending: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OutboxLine {
    Put(String),
    Done(String),
}

impl Outbox {
    const FILE: &'static str = "neo4j-outbox.jsonl";

    fn open(dir: &Path) -> Result<Outbox, StoreError> {
        let path = dir.join(Self::FILE);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let mut pending: Vec<String> = Vec::new();
        match File::open(&path) {
            Ok(f) => {
                for (i, line) in BufReader::new(f).lines().enumerate() {
                    let line = line.map_err(io)?;
                    match serde_json::from_str::<OutboxLine>(&line) {
                        Ok(OutboxLine::Put(id)) => {
                            if !pending.contains(&id) {
                                pending.push(id);
                            }
                        }
                        Ok(OutboxLine::Done(id)) => pending.retain(|p| *p != id),
                        // A line cut short by a crash: its put was not
                        // acknowledged, and the local copy still has the
                        // incident; a lost `done` only means one more
                        // (idempotent) write.
                        Err(e) => {
                            warn!(file = %path.display(), line = i + 1, error = %e, "skipping an unreadable outbox line")
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        // Rewritten with only what is pending, then appended to.
        let tmp = dir.join(format!("{}.tmp", Self::FILE));
        let mut out = File::create(&tmp).map_err(io)?;
        for id in &pending {
            let line = serde_json::to_string(&OutboxLine::Put(id.clone())).unwrap_or_default();
            writeln!(out, "{line}").map_err(io)?;
        }
        out.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        let file = OpenOptions::new().append(true).open(&path).map_err(io)?;
        Ok(Outbox {
            path,
            file,
            pending,
        })
    }

    fn append(&mut self, line: &OutboxLine) -> Result<(), StoreError> {
        let mut text = serde_json::to_vec(line).unwrap_or_default();
        text.push(b'\n');
        self.file
            .write_all(&text)
            .and_then(|_| self.file.sync_data())
            .map_err(|source| StoreError::Io {
                path: self.path.clone(),
                source,
            })
    }

    fn add(&mut self, id: &str) -> Result<(), StoreError> {
        if self.pending.iter().any(|p| p == id) {
            return Ok(());
        }
        self.append(&OutboxLine::Put(id.to_string()))?;
        self.pending.push(id.to_string());
        Ok(())
    }

    fn done(&mut self, id: &str) -> Result<(), StoreError> {
        if !self.pending.iter().any(|p| p == id) {
            return Ok(());
        }
        self.append(&OutboxLine::Done(id.to_string()))?;
        self.pending.retain(|p| p != id);
        Ok(())
    }
}
