//! The bounded queue of alerts, the table of incidents this process knows,
//! and the workers that turn an alert into a stored incident.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use graph::store::{Background, GraphStore, IncidentRecord, JudgedWindow, Recordings};
use graph::{EngineConfig, WindowConfig};
use ingest::collect::{collect, CollectWindow, Sources};
use ingest::Alert;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, instrument, warn, Instrument};

use super::journal::Journal;
use super::metrics::Metrics;
use super::Config;

/// One alert to work on.
#[derive(Debug)]
pub struct Job {
    pub id: String,
    pub alert: Alert,
    pub received: Instant,
}

/// Where an incident this process has seen stands.
#[derive(Clone, Debug, PartialEq)]
pub enum IncidentState {
    Queued,
    Running,
    /// Stored; `seconds` from webhook to stored.
    Done {
        seconds: f64,
    },
    Failed {
        reason: String,
    },
}

/// Incidents seen since start, by id: what makes a re-delivery cheap and
/// lets a page say "in progress".
#[derive(Default)]
pub struct Incidents {
    states: Mutex<HashMap<String, IncidentState>>,
    /// The alert fingerprint of each incident id, for the alert links.
    fingerprints: Mutex<HashMap<String, String>>,
    /// Resolved notifications that came while their incident was queued or
    /// running: applied by the worker when it stores the incident.
    resolved: Mutex<HashMap<String, DateTime<Utc>>>,
    changed: tokio::sync::Notify,
}

impl Incidents {
    pub fn get(&self, id: &str) -> Option<IncidentState> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, IncidentState>> {
        // A panic elsewhere while holding the lock leaves a map that is
        // still consistent (each write is one insert).
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set(&self, id: &str, state: IncidentState) {
        self.lock().insert(id.to_string(), state);
        self.changed.notify_waiters();
    }

    /// Marks the ids not yet known (or failed before) as queued, all at
    /// once; returns which ones were new.
    pub(crate) fn claim(&self, ids: &[String]) -> Vec<bool> {
        let mut map = self.lock();
        ids.iter()
            .map(|id| match map.get(id) {
                None | Some(IncidentState::Failed { .. }) => {
                    map.insert(id.clone(), IncidentState::Queued);
                    true
                }
                Some(_) => false,
            })
            .collect()
    }

    pub(crate) fn forget(&self, ids: &[String]) {
        let mut map = self.lock();
        for id in ids {
            map.remove(id);
        }
    }

    /// Waits until `id` is done or failed, at most `timeout`.
    pub async fn wait_finished(&self, id: &str, timeout: Duration) -> Option<IncidentState> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if let Some(s @ (IncidentState::Done { .. } | IncidentState::Failed { .. })) =
                self.get(id)
            {
                return Some(s);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.get(id);
            }
        }
    }

    /// Notes that the alert of a queued or running incident resolved at
    /// `at`; `false` (and nothing noted) when the incident is neither.
    pub(crate) fn note_resolved(&self, id: &str, at: DateTime<Utc>) -> bool {
        let states = self.lock();
        if !matches!(
            states.get(id),
            Some(IncidentState::Queued | IncidentState::Running)
        ) {
            return false;
        }
        self.resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), at);
        true
    }

    fn take_resolved(&self, id: &str) -> Option<DateTime<Utc>> {
        self.resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
    }

    pub(crate) fn note_fingerprint(&self, id: &str, fingerprint: &str) {
        self.fingerprints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), fingerprint.to_string());
    }

    /// Whether an incident of the alert with this fingerprint is queued or
    /// running.
    pub fn pending_fingerprint(&self, fingerprint: &str) -> bool {
        let ids: Vec<String> = self
            .fingerprints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, fp)| fp.as_str() == fingerprint)
            .map(|(id, _)| id.clone())
            .collect();
        let states = self.lock();
        ids.iter().any(|id| {
            matches!(
                states.get(id),
                Some(IncidentState::Queued | IncidentState::Running)
            )
        })
    }

    /// Queued or running.
    pub fn pending(&self) -> usize {
        self.lock()
            .values()
            .filter(|s| matches!(s, IncidentState::Queued | IncidentState::Running))
            .count()
    }
}

/// Everything a worker needs.
struct Worker {
    store: Arc<dyn GraphStore>,
    sources: Sources,
    incidents: Arc<Incidents>,
    metrics: Arc<Metrics>,
    lookback: i64,
    settle: i64,
    wait_for_settle: bool,
    cancel: CancellationToken,
    journal: Arc<Journal>,
    /// Where each incident's window is recorded; `None`: recordings are off.
    recordings: Option<Arc<Recordings>>,
}

/// Starts the workers; returns the queue's sending side and the incident table.
pub(crate) fn start(
    cfg: &Config,
    store: Arc<dyn GraphStore>,
    sources: Sources,
    metrics: Arc<Metrics>,
    journal: Arc<Journal>,
    recordings: Option<Arc<Recordings>>,
    background: &Background,
) -> (mpsc::Sender<Job>, Arc<Incidents>) {
    let (tracker, cancel) = (&background.tasks, background.stop.clone());
    let (tx, rx) = mpsc::channel::<Job>(cfg.queue_capacity);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let incidents = Arc::new(Incidents::default());
    let worker = Arc::new(Worker {
        store,
        sources,
        incidents: incidents.clone(),
        metrics,
        lookback: (cfg.window.lookback_seconds as i64) * 1_000_000,
        settle: (cfg.window.settle_seconds as i64) * 1_000_000,
        wait_for_settle: cfg.window.wait_for_settle,
        cancel: cancel.clone(),
        journal: journal.clone(),
        recordings,
    });
    for n in 0..cfg.workers {
        let rx = rx.clone();
        let worker = worker.clone();
        let cancel = cancel.clone();
        tracker.spawn(async move {
            loop {
                let job = tokio::select! {
                    _ = cancel.cancelled() => break,
                    job = async { rx.lock().await.recv().await } => match job {
                        Some(j) => j,
                        None => break,
                    },
                };
                worker.metrics.queue_depth.dec();
                worker.run(job).await;
            }
            tracing::debug!(worker = n, "worker stopped");
        });
    }
    restore(&worker, tx.clone(), tracker);
    (tx, incidents)
}

/// Queues again the alerts accepted before the last stop and not stored
/// then (their incidents, when stored after all, are only forgotten).
fn restore(worker: &Arc<Worker>, tx: mpsc::Sender<Job>, tracker: &TaskTracker) {
    let pending = worker.journal.pending();
    if pending.is_empty() {
        return;
    }
    info!(
        alerts = pending.len(),
        "queueing again the alerts accepted before the last stop"
    );
    let ids: Vec<String> = pending.iter().map(|(id, _)| id.clone()).collect();
    worker.incidents.claim(&ids);
    let worker = worker.clone();
    tracker.spawn(async move {
        for (id, alert) in pending {
            if let Ok(Some(_)) = worker.store.get(&id).await {
                worker.journal.done(&id);
                worker.incidents.forget(std::slice::from_ref(&id));
                continue;
            }
            worker.incidents.note_fingerprint(&id, &alert.fingerprint);
            worker.metrics.queue_depth.inc();
            let job = Job {
                id,
                alert,
                received: Instant::now(),
            };
            tokio::select! {
                _ = worker.cancel.cancelled() => break,
                sent = tx.send(job) => if sent.is_err() { break },
            }
        }
    });
}

impl Worker {
    #[instrument(name = "incident", skip_all, fields(id = %job.id, alert = %job.alert.name()))]
    async fn run(&self, job: Job) {
        self.incidents.set(&job.id, IncidentState::Running);
        let outcome = self.localise(&job).await;
        let seconds = job.received.elapsed().as_secs_f64();
        match outcome {
            Ok(to_record) => {
                self.metrics.incidents.with_label_values(&["stored"]).inc();
                self.metrics.incident_seconds.observe(seconds);
                info!(seconds, "incident stored");
                self.journal.done(&job.id);
                self.incidents.set(&job.id, IncidentState::Done { seconds });
                // A resolved notification noted while the incident was being
                // stored (once it is Done, the webhook marks the store itself).
                if let Some(at) = self.incidents.take_resolved(&job.id) {
                    if let Err(e) = self.store.mark_resolved(&job.id, at).await {
                        warn!(error = %e, "marking the incident resolved");
                    }
                }
                if let Some(pending) = to_record {
                    self.record_after(pending).await;
                }
            }
            Err(reason) => {
                self.metrics.incidents.with_label_values(&["failed"]).inc();
                error!(%reason, "incident failed");
                // Cut short by a shutdown: the next start takes it up again.
                if !self.cancel.is_cancelled() {
                    self.journal.done(&job.id);
                }
                self.incidents
                    .set(&job.id, IncidentState::Failed { reason });
            }
        }
    }

    async fn localise(&self, job: &Job) -> Result<Option<ToRecord>, String> {
        let start = job.alert.starts_at_micros();
        if self.wait_for_settle {
            let until = start + self.settle;
            let now = Utc::now().timestamp_micros();
            if until > now {
                let wait = Duration::from_micros((until - now) as u64);
                info!(wait_s = wait.as_secs(), "waiting for the settle period");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {},
                    _ = self.cancel.cancelled() => return Err("shut down while waiting for the settle period".into()),
                }
            }
        }
        let window = CollectWindow {
            start: start - self.lookback,
            end: start + self.settle,
        };
        let (obs, reports) = collect(&self.sources, &window, &job.alert).await;
        for r in &reports {
            self.metrics
                .collector_seconds
                .with_label_values(&[r.modality.as_str()])
                .observe(r.seconds);
            if r.missing.is_some() {
                self.metrics
                    .collector_missing
                    .with_label_values(&[r.modality.as_str()])
                    .inc();
            }
        }
        let cfg = EngineConfig {
            window: WindowConfig {
                lookback: self.lookback,
                settle: self.settle,
                ..WindowConfig::default()
            },
            ..EngineConfig::default()
        };
        let span = tracing::info_span!(
            "correlate",
            spans = obs.spans.len(),
            series = obs.series.len(),
            access = obs.access.len()
        );
        let obs = Arc::new(obs);
        let judged = obs.clone();
        let localisation = tokio::task::spawn_blocking(move || {
            let _g = span.enter();
            match graph::localise(&judged, &cfg) {
                Ok(l) => l,
                // Nothing came back (every backend down, or an empty
                // window): still an incident, one that says what is missing.
                Err(graph::GraphError::NoData) => {
                    crate::cmd::empty_localisation(&judged, window.start, window.end)
                }
            }
        })
        .await
        .map_err(|e| format!("localisation stopped: {e}"))?;
        let record = IncidentRecord {
            localisation,
            created_at: Utc::now(),
            actions: Vec::new(),
            feedback: Vec::new(),
            resolved_at: self.incidents.take_resolved(&job.id),
            recording: None,
        };
        self.store
            .put(&record)
            .instrument(tracing::info_span!("store"))
            .await
            .map_err(|e| e.to_string())?;
        Ok(self
            .recordings
            .is_some()
            .then_some(ToRecord { record, obs }))
    }

    /// Records the window of an incident already stored, and stores it again
    /// with the reference. After the incident is `Done`: the page does not
    /// wait for the compression (ten seconds for a million spans), while the
    /// worker does, so at most one window per worker is held in memory.
    async fn record_after(&self, pending: ToRecord) {
        let Some(r) = &self.recordings else { return };
        if self.cancel.is_cancelled() {
            return;
        }
        let ToRecord { mut record, obs } = pending;
        let judged = JudgedWindow {
            lookback: self.lookback,
            settle: self.settle,
        };
        record.recording = crate::cmd::record_window(r, record.id(), obs, None, judged)
            .instrument(tracing::info_span!("record"))
            .await;
        if record.recording.is_none() {
            return;
        }
        // Verdicts and the resolved time given meanwhile are kept: a put
        // never takes them away.
        if let Err(e) = self.store.put(&record).await {
            warn!(error = %e, "storing the recording's reference");
        }
        crate::cmd::evict_recordings(r, self.store.as_ref()).await;
    }
}

/// A stored incident whose window is still to be recorded.
struct ToRecord {
    record: IncidentRecord,
    obs: Arc<ingest::Observations>,
}

/// The id the engine gives the incident of `alert` (whose fingerprint is set).
pub fn incident_id_of(alert: &Alert) -> String {
    graph::alert_incident_id(alert)
}
