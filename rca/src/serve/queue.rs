//! The bounded queue of investigations, the table of those this process
//! knows, and the workers that turn one into a stored incident.
//!
//! An investigation is the unit of work: the alerts of one webhook, and the
//! alerts of later webhooks that joined it while it waited (see
//! [`Incidents::place`]). Its id is the id of the alert that opened it.

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
use super::nats::{Delivery, Investigation, Nats};
use super::Config;

/// One investigation to work on; its alerts are in the incident table until
/// a worker takes them.
#[derive(Debug)]
pub struct Job {
    pub id: String,
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

/// Which alerts make one investigation (the config's `[grouping]`).
#[derive(Clone, Debug, Default)]
pub struct Grouping {
    /// Alerts of later webhooks may join a queued investigation.
    pub join: bool,
    /// Labels whose values must agree for an alert to join.
    pub labels: Vec<String>,
    /// How far, in microseconds, an alert's start may lie from the start of
    /// the alert that opened the investigation: the settle period. The
    /// window then ends at most one settle period later than the opener's
    /// alone would, and onsets further apart are not one onset.
    pub within: i64,
}

/// How an alert of a webhook was placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    /// It opened a new investigation.
    Started,
    /// It joined one, queued, of this webhook or an earlier one.
    Joined,
    /// It was placed before (a re-delivery): nothing new.
    Known,
}

impl Placed {
    pub fn as_str(self) -> &'static str {
        match self {
            Placed::Started => "started",
            Placed::Joined => "joined",
            Placed::Known => "known",
        }
    }
}

/// One alert's placement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The alert's own id.
    pub alert: String,
    pub investigation: String,
    pub placed: Placed,
}

/// The alerts of one investigation; the first opened it.
#[derive(Clone, Debug)]
struct Group {
    key: Vec<Option<String>>,
    opener_start: i64,
    alerts: Vec<(String, Alert)>,
}

#[derive(Default)]
struct Table {
    /// By investigation id.
    states: HashMap<String, IncidentState>,
    groups: HashMap<String, Group>,
    /// Alert id to the investigation it belongs to.
    of_alert: HashMap<String, String>,
    /// Resolved notifications that came while the investigation was queued
    /// or running: applied by the worker when it stores the incident.
    resolved: HashMap<String, DateTime<Utc>>,
}

/// Investigations seen since start, by id: what makes a re-delivery cheap,
/// lets later alerts join, and lets a page say "in progress".
#[derive(Default)]
pub struct Incidents {
    table: Mutex<Table>,
    grouping: Grouping,
    changed: tokio::sync::Notify,
}

/// The investigations the alerts of one webhook make by themselves: earliest
/// start first, each alert joins the first whose opener started within
/// `within` of it, else opens one. Indexes into `alerts`, each group's
/// opener first; an alert id given twice is placed once.
pub(crate) fn split(alerts: &[(String, Alert)], within: i64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..alerts.len()).collect();
    order.sort_by_key(|&i| alerts[i].1.starts_at_micros());
    let mut seen = std::collections::HashSet::new();
    let mut groups: Vec<(i64, Vec<usize>)> = Vec::new();
    for i in order {
        if !seen.insert(alerts[i].0.as_str()) {
            continue;
        }
        let start = alerts[i].1.starts_at_micros();
        match groups.iter_mut().find(|(s, _)| (start - s).abs() <= within) {
            Some((_, g)) => g.push(i),
            None => groups.push((start, vec![i])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// What a worker finds when it comes to an investigation.
enum Take {
    /// Its alerts, now that it runs.
    Run(Vec<(String, Alert)>),
    /// Still settling until this time (microseconds since the epoch).
    Wait(i64),
    /// No longer queued (forgotten, or taken already).
    Gone,
}

impl Incidents {
    pub fn new(grouping: Grouping) -> Incidents {
        Incidents {
            grouping,
            ..Incidents::default()
        }
    }

    /// How far apart, in microseconds, the onsets of one investigation may lie.
    pub fn within(&self) -> i64 {
        self.grouping.within
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic elsewhere while holding the lock leaves a table that is
        // still consistent (every change is made after every check).
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state of investigation `id`.
    pub fn get(&self, id: &str) -> Option<IncidentState> {
        self.lock().states.get(id).cloned()
    }

    /// The investigation alert `alert_id` opened or joined, if this process
    /// placed it.
    pub fn investigation_of(&self, alert_id: &str) -> Option<String> {
        self.lock().of_alert.get(alert_id).cloned()
    }

    pub(crate) fn set(&self, id: &str, state: IncidentState) {
        self.lock().states.insert(id.to_string(), state);
        self.changed.notify_waiters();
    }

    /// Whether alerts of later webhooks join a settling investigation.
    pub fn joins(&self) -> bool {
        self.grouping.join
    }

    /// The values of `grouping.labels` of `alert`: its system.
    pub(crate) fn key_of(&self, alert: &Alert) -> Vec<Option<String>> {
        self.grouping
            .labels
            .iter()
            .map(|l| alert.labels.get(l).cloned())
            .collect()
    }

    /// Places the firing alerts of one webhook (with their ids): each one
    /// known already stays where it is; the others, earliest start first,
    /// join an investigation this webhook opened, or (with joining on) a
    /// queued one of the same label values, when their start lies within
    /// one settle period of its opener's; else they open a new one.
    /// `reserve` gets the number of new investigations before anything is
    /// changed: when it fails, nothing is, and its error is returned.
    pub(crate) fn place<R, E>(
        &self,
        alerts: &[(String, Alert)],
        reserve: impl FnOnce(usize) -> Result<R, E>,
    ) -> Result<(Vec<Placement>, R), E> {
        let mut t = self.lock();
        let mut order: Vec<usize> = (0..alerts.len()).collect();
        order.sort_by_key(|&i| alerts[i].1.starts_at_micros());
        let mut placed: Vec<Option<Placement>> = vec![None; alerts.len()];
        // New investigations of this webhook: (id, key, opener start).
        let mut opened: Vec<(String, Vec<Option<String>>, i64)> = Vec::new();
        let within = self.grouping.within;
        for i in order {
            let (id, alert) = &alerts[i];
            let known = t.of_alert.get(id).filter(|inv| {
                !matches!(
                    t.states.get(*inv),
                    Some(IncidentState::Failed { .. }) | None
                )
            });
            if let Some(inv) = known {
                placed[i] = Some(Placement {
                    alert: id.clone(),
                    investigation: inv.clone(),
                    placed: Placed::Known,
                });
                continue;
            }
            // The same alert twice in one webhook.
            if let Some(p) = placed.iter().flatten().find(|p| &p.alert == id) {
                placed[i] = Some(Placement {
                    placed: Placed::Known,
                    ..p.clone()
                });
                continue;
            }
            let start = alert.starts_at_micros();
            let key = self.key_of(alert);
            // This webhook's own investigations group regardless of labels:
            // the sender grouped these alerts.
            let ours = opened
                .iter()
                .find(|(_, _, s)| (start - s).abs() <= within)
                .map(|(inv, _, _)| inv.clone());
            let theirs = || {
                t.groups
                    .iter()
                    .filter(|(inv, g)| {
                        t.states.get(*inv) == Some(&IncidentState::Queued)
                            && g.key == key
                            && (start - g.opener_start).abs() <= within
                    })
                    .min_by_key(|(inv, g)| ((start - g.opener_start).abs(), (*inv).clone()))
                    .map(|(inv, _)| inv.clone())
            };
            let joined = ours.or_else(|| if self.grouping.join { theirs() } else { None });
            placed[i] = Some(match joined {
                Some(inv) => Placement {
                    alert: id.clone(),
                    investigation: inv,
                    placed: Placed::Joined,
                },
                None => {
                    opened.push((id.clone(), key, start));
                    Placement {
                        alert: id.clone(),
                        investigation: id.clone(),
                        placed: Placed::Started,
                    }
                }
            });
        }
        let reservation = reserve(opened.len())?;
        let placed: Vec<Placement> = placed.into_iter().flatten().collect();
        for (inv, key, opener_start) in opened {
            t.states.insert(inv.clone(), IncidentState::Queued);
            t.groups.insert(
                inv,
                Group {
                    key,
                    opener_start,
                    alerts: Vec::new(),
                },
            );
        }
        // In the webhook's order, the opener first.
        for p in placed.iter().filter(|p| p.placed != Placed::Known) {
            let alert = alerts
                .iter()
                .find(|(id, _)| *id == p.alert)
                .map(|(_, a)| a.clone())
                .expect("placed from these alerts");
            t.of_alert.insert(p.alert.clone(), p.investigation.clone());
            let g = t
                .groups
                .get_mut(&p.investigation)
                .expect("opened above or queued");
            if p.placed == Placed::Started {
                g.alerts.insert(0, (p.alert.clone(), alert));
            } else {
                g.alerts.push((p.alert.clone(), alert));
            }
        }
        drop(t);
        self.changed.notify_waiters();
        Ok((placed, reservation))
    }

    /// Undoes [`Incidents::place`]'s new placements (the alerts could not be
    /// recorded): investigations opened are forgotten, alerts that joined
    /// leave theirs.
    pub(crate) fn unplace(&self, placed: &[Placement]) {
        let mut t = self.lock();
        for p in placed {
            match p.placed {
                Placed::Known => {}
                Placed::Started => {
                    t.states.remove(&p.investigation);
                    if let Some(g) = t.groups.remove(&p.investigation) {
                        for (a, _) in g.alerts {
                            t.of_alert.remove(&a);
                        }
                    }
                }
                Placed::Joined => {
                    t.of_alert.remove(&p.alert);
                    if let Some(g) = t.groups.get_mut(&p.investigation) {
                        g.alerts.retain(|(a, _)| *a != p.alert);
                    }
                }
            }
        }
    }

    /// Puts an investigation restored from the journal in the table, queued.
    fn restore(&self, id: &str, alerts: Vec<(String, Alert)>) {
        let mut t = self.lock();
        let Some(opener) = alerts.first().map(|(_, a)| a) else {
            return;
        };
        let group = Group {
            key: self.key_of(opener),
            opener_start: opener.starts_at_micros(),
            alerts,
        };
        for (a, _) in &group.alerts {
            t.of_alert.insert(a.clone(), id.to_string());
        }
        t.states.insert(id.to_string(), IncidentState::Queued);
        t.groups.insert(id.to_string(), group);
    }

    /// Marks investigation `id` running and gives its alerts, unless it
    /// must still settle (`settle`: microseconds after the latest start).
    fn take(&self, id: &str, settle: Option<i64>) -> Take {
        let mut t = self.lock();
        if t.states.get(id) != Some(&IncidentState::Queued) {
            return Take::Gone;
        }
        let Some(g) = t.groups.get(id) else {
            return Take::Gone;
        };
        if let Some(settle) = settle {
            let latest = g.alerts.iter().map(|(_, a)| a.starts_at_micros()).max();
            let until = latest.unwrap_or(g.opener_start) + settle;
            if until > Utc::now().timestamp_micros() {
                return Take::Wait(until);
            }
        }
        let alerts = g.alerts.clone();
        t.states.insert(id.to_string(), IncidentState::Running);
        drop(t);
        self.changed.notify_waiters();
        Take::Run(alerts)
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

    /// Notes that the alert that opened a queued or running investigation
    /// resolved at `at`; `false` (and nothing noted) when it is neither.
    pub(crate) fn note_resolved(&self, id: &str, at: DateTime<Utc>) -> bool {
        let mut t = self.lock();
        if !matches!(
            t.states.get(id),
            Some(IncidentState::Queued | IncidentState::Running)
        ) {
            return false;
        }
        t.resolved.insert(id.to_string(), at);
        true
    }

    fn take_resolved(&self, id: &str) -> Option<DateTime<Utc>> {
        self.lock().resolved.remove(id)
    }

    /// Whether an investigation with an alert of this fingerprint is queued
    /// or running.
    pub fn pending_fingerprint(&self, fingerprint: &str) -> bool {
        let t = self.lock();
        t.groups.iter().any(|(inv, g)| {
            matches!(
                t.states.get(inv),
                Some(IncidentState::Queued | IncidentState::Running)
            ) && g.alerts.iter().any(|(_, a)| a.fingerprint == fingerprint)
        })
    }

    /// Investigations queued or running.
    pub fn pending(&self) -> usize {
        self.lock()
            .states
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
    /// The local journal; `None` with the shared queue (JetStream keeps the
    /// work there).
    journal: Option<Arc<Journal>>,
    /// Where each incident's window is recorded; `None`: recordings are off.
    recordings: Option<Arc<Recordings>>,
}

/// Where accepted investigations wait for a worker.
pub enum Dispatch {
    /// This process's bounded queue, with its journal on disk.
    Local {
        queue: mpsc::Sender<Job>,
        journal: Arc<Journal>,
    },
    /// The JetStream queue replicas share.
    Nats(Arc<Nats>),
}

/// How a worker left an investigation.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Stored,
    /// Failed for good.
    Failed,
    /// Cut short by a shutdown: to be taken up again.
    Stopped,
    /// Not queued any more: nothing to do.
    Gone,
}

/// Starts the workers on the queue `cfg.queue` names; returns where the
/// webhook puts work, and the incident table.
pub(crate) async fn start(
    cfg: &Config,
    store: Arc<dyn GraphStore>,
    sources: Sources,
    metrics: Arc<Metrics>,
    recordings: Option<Arc<Recordings>>,
    background: &Background,
) -> anyhow::Result<(Dispatch, Arc<Incidents>)> {
    let (tracker, cancel) = (&background.tasks, background.stop.clone());
    let settle = (cfg.window.settle_seconds as i64) * 1_000_000;
    let shared = !cfg.queue.url.is_empty();
    let incidents = Arc::new(Incidents::new(Grouping {
        // Shared, later alerts join through the queue's records.
        join: cfg.grouping.enabled,
        labels: cfg.grouping.labels.clone(),
        within: settle,
    }));
    let journal = if shared {
        None
    } else {
        Some(Arc::new(
            Journal::open(&cfg.data_dir).map_err(|e| anyhow::anyhow!("pending alerts: {e}"))?,
        ))
    };
    let worker = Arc::new(Worker {
        store,
        sources,
        incidents: incidents.clone(),
        metrics,
        lookback: (cfg.window.lookback_seconds as i64) * 1_000_000,
        settle,
        wait_for_settle: cfg.window.wait_for_settle,
        cancel: cancel.clone(),
        journal: journal.clone(),
        recordings,
    });
    if shared {
        let nats = Arc::new(
            Nats::connect(
                &cfg.queue.url,
                &cfg.queue.stream,
                Duration::from_secs(cfg.queue.ack_wait_seconds),
            )
            .await?,
        );
        for n in 0..cfg.workers {
            let (worker, nats, cancel) = (worker.clone(), nats.clone(), cancel.clone());
            tracker.spawn(async move {
                loop {
                    let next = tokio::select! {
                        _ = cancel.cancelled() => break,
                        next = nats.next() => next,
                    };
                    match next {
                        Ok(Some(delivery)) => worker.run_delivery(&nats, delivery).await,
                        Ok(None) => {}
                        Err(e) => {
                            warn!(error = %e, "the shared queue does not answer; retrying");
                            tokio::select! {
                                _ = cancel.cancelled() => break,
                                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                            }
                        }
                    }
                }
                tracing::debug!(worker = n, "worker stopped");
            });
        }
        return Ok((Dispatch::Nats(nats), incidents));
    }
    let journal = journal.expect("opened without a shared queue");
    let (tx, rx) = mpsc::channel::<Job>(cfg.queue_capacity);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
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
    restore(&worker, &journal, tx.clone(), tracker);
    Ok((Dispatch::Local { queue: tx, journal }, incidents))
}

/// Queues again the investigations accepted before the last stop and not
/// stored then (those stored after all are only forgotten).
fn restore(worker: &Arc<Worker>, journal: &Journal, tx: mpsc::Sender<Job>, tracker: &TaskTracker) {
    let pending = journal.pending();
    if pending.is_empty() {
        return;
    }
    // Oldest first, the alert that opened each investigation first in it.
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<(String, Alert)>> = HashMap::new();
    for e in pending {
        let inv = e.investigation().to_string();
        if !groups.contains_key(&inv) {
            order.push(inv.clone());
        }
        let g = groups.entry(inv.clone()).or_default();
        if e.id == inv {
            g.insert(0, (e.id, e.alert));
        } else {
            g.push((e.id, e.alert));
        }
    }
    info!(
        investigations = order.len(),
        alerts = groups.values().map(Vec::len).sum::<usize>(),
        "queueing again the investigations accepted before the last stop"
    );
    let worker = worker.clone();
    tracker.spawn(async move {
        for inv in order {
            let alerts = groups.remove(&inv).unwrap_or_default();
            if let Ok(Some(_)) = worker.store.get(&inv).await {
                worker.journal_done(&alerts);
                continue;
            }
            worker.incidents.restore(&inv, alerts);
            worker.metrics.queue_depth.inc();
            let job = Job {
                id: inv,
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
    fn journal_done(&self, alerts: &[(String, Alert)]) {
        if let Some(j) = &self.journal {
            for (id, _) in alerts {
                j.done(id);
            }
        }
    }

    /// Works on an investigation delivered by the shared queue and
    /// acknowledges it once stored (or failed on its last delivery); gives
    /// it back when this replica stops first.
    #[instrument(name = "delivery", skip_all, fields(delivered = delivery.delivered()))]
    async fn run_delivery(&self, nats: &Nats, delivery: Delivery) {
        let Some(inv) = delivery.investigation().await else {
            return;
        };
        // Stored by a replica that died before acknowledging it.
        match self.store.get(&inv.id).await {
            Ok(Some(_)) => {
                info!(id = %inv.id, "already stored; acknowledged without doing it again");
                if let Err(e) = delivery.done().await {
                    warn!(error = %e, "acknowledging");
                }
                return;
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "checking the store before working; working anyway"),
        }
        let since = (Utc::now() - inv.received_at).to_std().unwrap_or_default();
        let received = Instant::now()
            .checked_sub(since)
            .unwrap_or_else(Instant::now);
        let id = inv.id.clone();
        let alive = delivery.keep_alive();
        let alerts = match self.settle_shared(nats, &inv).await {
            Ok(alerts) => alerts,
            Err(why) => {
                alive.abort();
                info!(id = %inv.id, %why, "given back");
                return delivery.give_back().await;
            }
        };
        self.incidents.restore(&id, alerts);
        let outcome = self.run(Job { id, received }).await;
        alive.abort();
        let last_try = delivery.delivered() >= super::nats::MAX_DELIVER;
        match outcome {
            Outcome::Stored | Outcome::Gone => {}
            Outcome::Failed if last_try => {}
            Outcome::Failed | Outcome::Stopped => return delivery.give_back().await,
        }
        if let Err(e) = delivery.done().await {
            // Delivered again after the ack wait: the store check above
            // then acknowledges it without doing it again.
            warn!(error = %e, "acknowledging a stored investigation");
        }
    }

    /// Waits out the settle period of a shared investigation while later
    /// alerts may join it, then closes it to joins; its alerts as closed.
    /// `Err` (why) when this replica stops or NATS fails meanwhile: the
    /// message is then given back.
    async fn settle_shared(
        &self,
        nats: &Nats,
        inv: &Investigation,
    ) -> Result<Vec<(String, Alert)>, String> {
        loop {
            let Some(rec) = nats.record(&inv.id).await? else {
                // Published, never shared: nothing can have joined it.
                if nats.close_unshared(&inv.id, &inv.alerts).await? {
                    return Ok(inv.alerts.clone());
                }
                continue;
            };
            if rec.shared.closed {
                return Ok(rec.shared.alerts);
            }
            if self.wait_for_settle {
                let latest = rec
                    .shared
                    .alerts
                    .iter()
                    .map(|(_, a)| a.starts_at_micros())
                    .max();
                let until = latest.unwrap_or(i64::MIN) + self.settle;
                let now = Utc::now().timestamp_micros();
                if until > now {
                    let wait = Duration::from_micros((until - now) as u64);
                    info!(wait_s = wait.as_secs(), "waiting for the settle period");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => continue,
                        _ = self.cancel.cancelled() => return Err("stopping".into()),
                    }
                }
            }
            if nats.close(&inv.id, &rec).await? {
                return Ok(rec.shared.alerts);
            }
        }
    }

    #[instrument(name = "incident", skip_all, fields(id = %job.id, alerts))]
    async fn run(&self, job: Job) -> Outcome {
        // Queued while it settles, so that later alerts can still join.
        let settle = self.wait_for_settle.then_some(self.settle);
        let alerts = loop {
            match self.incidents.take(&job.id, settle) {
                Take::Run(alerts) => break alerts,
                Take::Gone => return Outcome::Gone,
                Take::Wait(until) => {
                    let now = Utc::now().timestamp_micros();
                    let wait = Duration::from_micros((until - now).max(0) as u64);
                    info!(wait_s = wait.as_secs(), "waiting for the settle period");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {},
                        _ = self.cancel.cancelled() => {
                            self.incidents.set(&job.id, IncidentState::Failed {
                                reason: "shut down while waiting for the settle period".into(),
                            });
                            return Outcome::Stopped;
                        }
                    }
                }
            }
        };
        tracing::Span::current().record("alerts", alerts.len());
        let outcome = self.localise(&job.id, &alerts).await;
        let seconds = job.received.elapsed().as_secs_f64();
        match outcome {
            Ok(to_record) => {
                self.metrics.incidents.with_label_values(&["stored"]).inc();
                self.metrics.incident_seconds.observe(seconds);
                info!(seconds, "incident stored");
                self.journal_done(&alerts);
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
                Outcome::Stored
            }
            Err(reason) => {
                self.metrics.incidents.with_label_values(&["failed"]).inc();
                error!(%reason, "incident failed");
                // Cut short by a shutdown: the next start takes it up again.
                let stopped = self.cancel.is_cancelled();
                if !stopped {
                    self.journal_done(&alerts);
                }
                self.incidents
                    .set(&job.id, IncidentState::Failed { reason });
                if stopped {
                    Outcome::Stopped
                } else {
                    Outcome::Failed
                }
            }
        }
    }

    /// Collects the window that spans every alert of the investigation and
    /// localises it: the opening alert names the incident, the others are
    /// listed with it.
    async fn localise(
        &self,
        id: &str,
        alerts: &[(String, Alert)],
    ) -> Result<Option<ToRecord>, String> {
        let Some((_, opener)) = alerts.first() else {
            return Err("the investigation has no alert".into());
        };
        let starts = alerts.iter().map(|(_, a)| a.starts_at_micros());
        let (first, last) = (
            starts.clone().min().unwrap_or_default(),
            starts.max().unwrap_or_default(),
        );
        let window = CollectWindow {
            start: first - self.lookback,
            end: last + self.settle,
        };
        let (mut obs, reports) = collect(&self.sources, &window, opener).await;
        obs.alerts = alerts.iter().map(|(_, a)| a.clone()).collect();
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
        if localisation.incident.id != id {
            // The engine names the incident after its first alert, as the
            // webhook did; anything else would lose the link.
            return Err(format!(
                "the engine named the incident {} where the webhook answered {id}",
                localisation.incident.id
            ));
        }
        let record = IncidentRecord {
            localisation,
            created_at: Utc::now(),
            actions: Vec::new(),
            feedback: Vec::new(),
            resolved_at: self.incidents.take_resolved(id),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(fp: &str, start: &str, cluster: &str) -> (String, Alert) {
        let a: Alert = serde_json::from_value(serde_json::json!({
            "status": "firing", "labels": {"alertname": "A", "cluster": cluster},
            "startsAt": start, "fingerprint": fp
        }))
        .unwrap();
        (incident_id_of(&a), a)
    }

    fn grouping(join: bool) -> Incidents {
        Incidents::new(Grouping {
            join,
            labels: vec!["cluster".into()],
            within: 600 * 1_000_000,
        })
    }

    #[test]
    fn a_webhook_splits_only_where_onsets_lie_more_than_a_settle_period_apart() {
        let t = grouping(true);
        let alerts = [
            alert("b", "2026-12-01T10:09:00Z", "east"),
            alert("a", "2026-12-01T10:00:00Z", "west"),
            alert("c", "2026-12-01T10:30:00Z", "east"),
        ];
        let (placed, opened) = t.place(&alerts, Ok::<_, ()>).unwrap();
        assert_eq!(opened, 2, "{placed:?}");
        // The sender grouped them, so labels do not split a webhook; 30
        // minutes apart is another onset.
        let of = |fp: &str| {
            placed
                .iter()
                .find(|p| p.alert == alerts.iter().find(|(_, a)| a.fingerprint == fp).unwrap().0)
                .unwrap()
        };
        assert_eq!(of("a").placed, Placed::Started);
        assert_eq!(of("b").placed, Placed::Joined);
        assert_eq!(of("b").investigation, of("a").investigation);
        assert_eq!(of("c").placed, Placed::Started);
    }

    #[test]
    fn a_refused_reservation_changes_nothing_and_joining_follows_the_labels() {
        let t = grouping(true);
        let first = [alert("a", "2026-12-01T10:00:00Z", "east")];
        assert!(t.place(&first, |_| Err::<(), _>("full")).is_err());
        assert_eq!(t.pending(), 0, "nothing placed when the queue refused");
        t.place(&first, |_| Ok::<_, ()>(())).unwrap();
        let later = [
            alert("b", "2026-12-01T10:05:00Z", "east"),
            alert("c", "2026-12-01T10:05:00Z", "west"),
        ];
        let (placed, ()) = t
            .place(&later[..1], |n| {
                assert_eq!(n, 0);
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(placed[0].placed, Placed::Joined);
        let (placed, ()) = t
            .place(&later[1..], |n| {
                assert_eq!(n, 1);
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(
            placed[0].placed,
            Placed::Started,
            "another cluster, another system"
        );
        // Once it runs, nothing joins it any more.
        let id = &first[0].0;
        assert!(matches!(t.take(id, None), Take::Run(a) if a.len() == 2));
        let (placed, ()) = t
            .place(&[alert("d", "2026-12-01T10:06:00Z", "east")], |_| {
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(placed[0].placed, Placed::Started);
        // Without joining, each webhook is its own investigation.
        let solo = grouping(false);
        solo.place(&first, |_| Ok::<_, ()>(())).unwrap();
        let (placed, ()) = solo.place(&later[..1], |_| Ok::<_, ()>(())).unwrap();
        assert_eq!(placed[0].placed, Placed::Started);
    }
}
