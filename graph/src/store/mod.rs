//! The graph store: where incidents, their causal graphs and their
//! attack-path triples (path - detection rule - blocking action) are kept and
//! queried.
//!
//! One trait, [`GraphStore`], with two implementations behind the same
//! contract tests: an embedded one (in-process, persisted under the data
//! directory; the no-server default) and Neo4j. Everything the pages, the API
//! and `rca graph` ask of stored incidents goes through this trait.
//!
//! Writes are idempotent: storing the same incident twice changes nothing,
//! because every record is keyed by our own ids (the incident id is derived
//! from the alert's fingerprint and start), never by a store's internal ids.

//!
//! # Layout
//! - `derive`: what a record holds besides its localisation: attack path,
//!   detection rule, suggested and taken actions.
//! - `embedded`: [`EmbeddedStore`], an append-only JSON-lines file and an index in memory.
//! - `neo4j`: [`Neo4jStore`], Neo4j through Bolt, with a local copy and an outbox.
//! - `recordings`: [`Recordings`], the input each incident was judged on, as fixture
//!   archives beside the store, under caps.
//!
//! [`open`] picks one from a [`StoreConfig`].

mod derive;
mod embedded;
mod neo4j;
mod recordings;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::localisation::{Edge, FaultKind, Localisation};

pub use derive::{
    attack_path_id, detection_rule, suggested_actions, taken_actions, TAKEN_ACTION_ANNOTATIONS,
};
pub use embedded::{parse_rfc3339, EmbeddedStore, DEFAULT_LIMIT};
pub use neo4j::{Neo4jConfig, Neo4jStore};
pub use recordings::{
    recordings_dir, Evicted, JudgedWindow, Recording, RecordingError, RecordingLimits, Recordings,
    DEFAULT_PER_INCIDENT, DEFAULT_TOTAL,
};

/// Which store to open, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// The data directory: the embedded store's file, or, with Neo4j, the
    /// local copy of incidents and the outbox of writes not yet in Neo4j.
    pub data_dir: PathBuf,
    /// Neo4j instead of the embedded store.
    pub neo4j: Option<Neo4jConfig>,
}

/// Where a store runs its background work (Neo4j's outbox retries): on the
/// owner's task tracker, until the owner's token is cancelled. A server passes
/// its own, so that shutdown drains the store's task with its others; a
/// one-shot command takes the default (a tracker and a token of its own) and
/// calls [`GraphStore::close`] when done.
#[derive(Clone, Debug, Default)]
pub struct Background {
    pub tasks: TaskTracker,
    pub stop: CancellationToken,
}

/// Opens the store `cfg` names. With Neo4j down this still succeeds: writes
/// wait in the outbox and a task on `background` retries them until they land.
pub async fn open(
    cfg: StoreConfig,
    background: &Background,
) -> Result<Arc<dyn GraphStore>, StoreError> {
    match cfg.neo4j {
        None => {
            let dir = cfg.data_dir;
            let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(dir))
                .await
                .map_err(StoreError::task("opening the embedded store"))??;
            Ok(Arc::new(store))
        }
        Some(neo) => Ok(Arc::new(
            Neo4jStore::open(neo, &cfg.data_dir, background).await?,
        )),
    }
}

/// A blocking or mitigating action attached to an incident's detection rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// Stable key, e.g. `scale:checkout` or `waf:block-user-agent:<hash>`.
    pub id: String,
    /// What to do, one line an SRE can read.
    pub description: String,
    /// `suggested` by rca, or `taken` (from the alert's annotations).
    pub status: ActionStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Suggested,
    Taken,
}

/// What the store keeps of one incident: the whole localisation (so a page
/// can be rendered from the store alone), the actions tied to it and the
/// verdicts people gave on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    pub localisation: Localisation,
    /// When rca produced it, RFC 3339 in JSON.
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub actions: Vec<Action>,
    /// Every verdict given on it, oldest first; the last one counts. A put
    /// of the record without any keeps what the store has (a replay of the
    /// incident does not erase what people said of it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feedback: Vec<Feedback>,
    /// When the alert resolved (its `endsAt` in the sender's resolved
    /// notification); a put without it keeps the one stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// The recorded window it was judged on, when one was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<Recording>,
}

impl IncidentRecord {
    pub fn id(&self) -> &str {
        &self.localisation.incident.id
    }

    /// The verdict that counts: the latest.
    pub fn verdict(&self) -> Option<&Feedback> {
        self.feedback.last()
    }

    /// The fault a verdict on this incident implies: the one it names, else
    /// for `confirmed` the one rca named for its first-ranked component.
    pub fn fault_of(&self, feedback: &Feedback) -> Option<FaultKind> {
        feedback.fault.or_else(|| {
            (feedback.verdict == Verdict::Confirmed)
                .then(|| self.localisation.ranking.first().map(|c| c.fault))
                .flatten()
        })
    }

    /// How long the alert fired, once it resolved.
    pub fn duration(&self) -> Option<chrono::Duration> {
        Some(self.resolved_at? - self.starts_at().ok()?)
    }
}

/// What a person said of rca's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// rca's first-ranked component was the root cause.
    Confirmed,
    /// It was another component (or another fault).
    Corrected,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::Corrected => "corrected",
        }
    }
}

/// The longest note kept with a verdict, in characters: a few paragraphs.
pub const FEEDBACK_NOTE_MAX: usize = 4000;
/// The longest author, component name or fault given with a verdict, in
/// characters: a name or an e-mail address, not a text.
pub const FEEDBACK_NAME_MAX: usize = 256;

/// One verdict on an incident, with who gave it and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Feedback {
    pub verdict: Verdict,
    /// The component that was the root cause (for `confirmed`, rca's
    /// first-ranked).
    pub root_cause: String,
    /// The fault it had, when the person says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultKind>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// Who gave it.
    pub by: String,
    /// When, RFC 3339 in JSON.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: DateTime<Utc>,
}

impl Feedback {
    /// Checks what a stored verdict must hold: a root cause and an author,
    /// each a name, and a note of at most [`FEEDBACK_NOTE_MAX`] characters.
    pub fn validate(&self) -> Result<(), StoreError> {
        let name = |what: &str, v: &str| {
            if v.trim().is_empty() {
                Err(StoreError::Invalid(format!("feedback: {what} is empty")))
            } else if v.chars().count() > FEEDBACK_NAME_MAX {
                Err(StoreError::Invalid(format!(
                    "feedback: {what} is longer than {FEEDBACK_NAME_MAX} characters"
                )))
            } else if v.chars().any(char::is_control) {
                Err(StoreError::Invalid(format!(
                    "feedback: {what} holds control characters"
                )))
            } else {
                Ok(())
            }
        };
        name("root_cause", &self.root_cause)?;
        name("by", &self.by)?;
        if self.note.chars().count() > FEEDBACK_NOTE_MAX {
            return Err(StoreError::Invalid(format!(
                "feedback: note is longer than {FEEDBACK_NOTE_MAX} characters"
            )));
        }
        Ok(())
    }
}

/// How many days of incidents the running figure of rca's accuracy covers:
/// a month holds enough incidents with a verdict for a figure, and is
/// recent enough to judge the version in use.
pub const TALLY_DAYS: i64 = 30;

/// rca judged on a team's own incidents: of the incidents with a verdict,
/// how many had the confirmed root cause ranked first (AC@1 by component,
/// as `rca eval` counts it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictTally {
    /// Incidents with a verdict.
    pub incidents: usize,
    /// Of those, the ones whose first-ranked component was the root cause.
    pub first_right: usize,
}

impl VerdictTally {
    pub fn of(verdicts: &[Verdicted]) -> VerdictTally {
        VerdictTally {
            incidents: verdicts.len(),
            first_right: verdicts
                .iter()
                .filter(|v| {
                    v.incident.root_cause.as_deref() == Some(v.feedback.root_cause.as_str())
                })
                .count(),
        }
    }

    /// The share right at the first rank; `None` without any verdict.
    pub fn ac1(&self) -> Option<f64> {
        (self.incidents > 0).then(|| self.first_right as f64 / self.incidents as f64)
    }

    /// Over the incidents whose alert started in the last [`TALLY_DAYS`].
    pub async fn recent(
        store: &dyn GraphStore,
        now: DateTime<Utc>,
    ) -> Result<VerdictTally, StoreError> {
        let q = IncidentQuery {
            since: Some(now - chrono::Duration::days(TALLY_DAYS)),
            limit: usize::MAX,
            ..IncidentQuery::default()
        };
        Ok(VerdictTally::of(&store.verdicts(&q).await?))
    }
}

/// An incident with its verdict, for lists and for judging rca on a
/// team's own incidents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdicted {
    pub incident: IncidentSummary,
    /// The verdict that counts (the latest).
    pub feedback: Feedback,
    /// How many verdicts were given in all.
    pub verdicts: usize,
}

/// One line of an incident list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentSummary {
    pub id: String,
    pub alert_name: String,
    pub fingerprint: String,
    /// The fingerprints of the other alerts of the investigation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_fingerprints: Vec<String>,
    /// The alert's start, RFC 3339.
    pub starts_at: String,
    pub created_at: DateTime<Utc>,
    /// The first-ranked component, if any.
    pub root_cause: Option<String>,
    pub fault: Option<FaultKind>,
    pub score: Option<f64>,
}

impl IncidentSummary {
    pub fn of(record: &IncidentRecord) -> IncidentSummary {
        let l = &record.localisation;
        let top = l.ranking.first();
        IncidentSummary {
            id: l.incident.id.clone(),
            alert_name: l.incident.alert_name.clone(),
            fingerprint: l.incident.fingerprint.clone(),
            other_fingerprints: l
                .incident
                .other_alerts
                .iter()
                .map(|a| a.fingerprint.clone())
                .collect(),
            starts_at: l.incident.starts_at.clone(),
            created_at: record.created_at,
            root_cause: top.map(|c| c.component.clone()),
            fault: top.map(|c| c.fault),
            score: top.map(|c| c.score),
        }
    }
}

/// A filter over stored incidents. Times bound the alert's start.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentQuery {
    /// Only incidents in which this component was ranked (any rank).
    pub component: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Newest first; `limit` 0 means the store's default page size.
    pub limit: usize,
    pub offset: usize,
}

/// A component named first-ranked root cause by more than one incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recurring {
    pub component: String,
    pub incidents: u64,
    /// Alert start of the newest such incident, RFC 3339.
    pub last_seen: String,
    /// The fault kinds it was blamed for, most frequent first.
    pub faults: Vec<FaultKind>,
}

/// An attack path that was detected but that no action blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// Stable key of the path (derived from its components in order).
    pub attack_path: String,
    /// Root cause first, alerting component last.
    pub components: Vec<String>,
    /// The alert rule that detected it.
    pub detection_rule: String,
    /// How many incidents followed this path.
    pub incidents: u64,
}

/// One incident's whole stored graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentGraph {
    pub incident: IncidentSummary,
    /// (component, rank, score), best first.
    pub root_causes: Vec<(String, u32, f64)>,
    pub calls: Vec<Edge>,
    /// The attack path: root cause first, alerting component last.
    pub path: Vec<String>,
    pub detection_rule: String,
    pub actions: Vec<Action>,
}

/// What a store error keeps of its cause: the backend's own error, whole.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store operation failed. Every variant says which store, and keeps
/// the cause it came from as its `source` (also quoted in the message, so a
/// log line alone is enough).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached (Neo4j down, connection refused, no
    /// answer in time, a transient server error). Writes that fail this way
    /// are kept and retried.
    #[error("graph store {store} unavailable: {source}")]
    Unavailable {
        store: String,
        #[source]
        source: BoxError,
    },
    /// The store answered and refused or failed the operation (credentials,
    /// a query error). `code` is the server's status code when it gave one,
    /// e.g. `Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists`.
    #[error("graph store {store} refused the operation: {source}")]
    Refused {
        store: String,
        code: Option<String>,
        #[source]
        source: BoxError,
    },
    /// The settings cannot work (a URI that is not Bolt, ...): nothing was
    /// sent anywhere.
    #[error("graph store settings: {0}")]
    Config(String),
    /// The record cannot be stored as it is (no id).
    #[error("incident cannot be stored: {0}")]
    Invalid(String),
    /// A write to a store opened read-only (`rca graph` on a directory a
    /// server holds).
    #[error("the store in {0} is open read-only")]
    ReadOnly(std::path::PathBuf),
    /// A blocking task of the store (file work off the async workers) panicked
    /// or was cancelled; what it was doing may not have happened.
    #[error("graph store task {what} stopped: {source}")]
    TaskStopped {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    /// Reading or writing the embedded store's files.
    #[error("graph store file {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stored record could not be read back.
    #[error("graph store record {what}: {reason}")]
    Corrupt { what: String, reason: String },
}

impl StoreError {
    /// A blocking task's join failure.
    pub(crate) fn task(what: &'static str) -> impl FnOnce(tokio::task::JoinError) -> StoreError {
        move |source| StoreError::TaskStopped { what, source }
    }
}

/// Where incidents live. Implementations must be idempotent on [`put`]
/// (same record twice: no change) and safe to share between tasks.
///
/// [`put`]: GraphStore::put
#[async_trait]
pub trait GraphStore: Send + Sync {
    /// Creates constraints and indexes if they do not exist yet.
    async fn ensure_schema(&self) -> Result<(), StoreError>;
    /// Stores (or re-stores, unchanged) one incident with its graph, attack
    /// path, detection rule and actions.
    async fn put(&self, record: &IncidentRecord) -> Result<(), StoreError>;
    /// One incident, whole.
    async fn get(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError>;
    /// Incidents matching `query`, newest alert start first.
    async fn incidents(&self, query: &IncidentQuery) -> Result<Vec<IncidentSummary>, StoreError>;
    /// The newest incident of the alert with this fingerprint, whether the
    /// alert opened it or joined it.
    async fn latest_for_alert(
        &self,
        fingerprint: &str,
    ) -> Result<Option<IncidentSummary>, StoreError>;
    /// Components named first-ranked root cause by two or more incidents
    /// matching `query` (its component filter ignored), most incidents first.
    async fn recurring(&self, query: &IncidentQuery) -> Result<Vec<Recurring>, StoreError>;
    /// Attack paths with no action (suggested actions do not close a gap;
    /// only taken ones do), most incidents first.
    async fn gaps(&self) -> Result<Vec<Gap>, StoreError>;
    /// One incident's stored graph.
    async fn graph(&self, id: &str) -> Result<Option<IncidentGraph>, StoreError>;
    /// How many accepted writes have not reached the backing server yet
    /// (Neo4j's outbox); 0 for a store without one.
    fn pending(&self) -> usize {
        0
    }
    /// Tries now to write what is pending; `Unavailable` if the server is
    /// still down (the writes keep waiting).
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Adds a verdict to a stored incident (earlier ones stay in its
    /// history) and returns the record as stored; `None` when there is no
    /// such incident. Stores override it to make it atomic; this default
    /// reads, adds and puts.
    async fn add_feedback(
        &self,
        id: &str,
        feedback: Feedback,
    ) -> Result<Option<IncidentRecord>, StoreError> {
        feedback.validate()?;
        let Some(mut record) = self.get(id).await? else {
            return Ok(None);
        };
        record.feedback.push(feedback);
        self.put(&record).await?;
        Ok(Some(record))
    }
    /// Marks a stored incident's alert resolved at `at`; `false` when there
    /// is no such incident. The default reads, sets and puts (a put keeps
    /// the verdicts stored meanwhile).
    async fn mark_resolved(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let Some(mut record) = self.get(id).await? else {
            return Ok(false);
        };
        if record.resolved_at == Some(at) {
            return Ok(true);
        }
        record.resolved_at = Some(at);
        self.put(&record).await?;
        Ok(true)
    }
    /// Incidents with a verdict whose alert started in `query`'s window
    /// (its component filter ignored), newest alert first. This default
    /// reads every matching incident; stores override it with an index.
    async fn verdicts(&self, query: &IncidentQuery) -> Result<Vec<Verdicted>, StoreError> {
        let all = IncidentQuery {
            component: None,
            limit: usize::MAX,
            offset: 0,
            ..query.clone()
        };
        let mut out = Vec::new();
        for s in self.incidents(&all).await? {
            if let Some(r) = self.get(&s.id).await? {
                if let Some(f) = r.verdict() {
                    out.push(Verdicted {
                        feedback: f.clone(),
                        verdicts: r.feedback.len(),
                        incident: s,
                    });
                }
            }
        }
        Ok(out
            .into_iter()
            .skip(query.offset)
            .take(if query.limit == 0 {
                DEFAULT_LIMIT
            } else {
                query.limit
            })
            .collect())
    }
    /// Stops the store's background work and waits for it (what is pending
    /// stays pending, for the next open). Reads and writes after it still
    /// work, without retries; a store without background work does nothing.
    async fn close(&self) {}
}
