//! The work queue that replicas share: NATS JetStream (`--queue nats://...`).
//!
//! - Each investigation a webhook opens is one message on the stream
//!   `STREAM` (subject `STREAM.investigations`, work-queue retention, file
//!   storage), published with `Nats-Msg-Id` set to the investigation id
//!   (JetStream drops a second publish of it within the duplicate window)
//!   and the webhook answers 202 only once JetStream has acknowledged it.
//! - Each alert is claimed first in the key-value bucket `STREAM-alerts`
//!   (`create` succeeds once per key across all replicas): an alert is in
//!   one investigation however many replicas it is posted to.
//! - Every replica pulls from the one durable consumer `STREAM-workers`;
//!   a message is acknowledged only after its incident is stored, with
//!   progress acknowledgements while the worker settles and localises. A
//!   replica that dies leaves the message unacknowledged: JetStream gives it
//!   to another replica after the ack wait. Before working, a replica checks
//!   the store, so an incident stored by a replica that died before its
//!   acknowledgement is not made twice.
//!
//! - While an investigation settles, its alerts are shared in the bucket
//!   `STREAM-investigations` (key `inv.ID`), and `sys.HASH` names the one
//!   last opened for each system (the values of `grouping.labels`). Alerts
//!   of a later webhook, to any replica, join it there with a
//!   compare-and-set on the key's revision; the worker that takes the
//!   message closes it the same way once the settle period has passed, and
//!   works on the alerts it closed (a join that lost the race opens an
//!   investigation of its own). A redelivered message finds the record
//!   closed, with the same alerts.
//! - A claim names its investigation and when it was made. An alert whose
//!   claim the investigation's record does not list is one a replica
//!   claimed and then died before queueing: after [`CLAIM_GRACE`] a later
//!   webhook takes it over (before that, it answers 503: another replica is
//!   accepting it at this moment).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{
    self, consumer::pull, consumer::AckPolicy, consumer::PullConsumer, kv, message::PublishMessage,
    stream, AckKind,
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use ingest::Alert;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use tracing::{info, warn};

/// One investigation, as it travels on the stream.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Investigation {
    pub id: String,
    /// Its alerts with their ids, the one that opened it first.
    pub alerts: Vec<(String, Alert)>,
    /// When the webhook that opened it was accepted.
    pub received_at: DateTime<Utc>,
}

/// How long JetStream remembers a message id to drop a second publish of it:
/// an hour, longer than a settle period (ten minutes by default) and a
/// collection, so a webhook retried while its investigation waits is never
/// queued twice; after that the claims bucket and the store answer.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);
/// How long an alert's claim is kept: a day, past Alertmanager's default
/// repeat interval (4 h) of a still-firing alert; later re-sends are
/// recognised by the store.
const CLAIM_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long an alert may be claimed without its investigation's record
/// listing it before the claim counts as abandoned: a minute, far beyond
/// one webhook's claims, publish and record (a few NATS requests of at most
/// a few seconds each); only a replica that died mid-webhook leaves one.
pub(crate) const CLAIM_GRACE: Duration = Duration::from_secs(60);
/// How many times a join or a close retries a compare-and-set that another
/// replica's change beat; each retry reads the newer value first, and a
/// storm's webhooks are far fewer at one moment than this.
const CAS_TRIES: usize = 32;
/// Deliveries of one investigation at most: one that kills its worker every
/// time is given up after five replicas tried (and logged by JetStream as
/// a max-deliveries advisory).
pub(crate) const MAX_DELIVER: i64 = 5;
/// How long each pull waits for a message before asking again.
const PULL_WAIT: Duration = Duration::from_secs(5);

/// A connection to the shared queue, set up (stream, consumer, bucket) on
/// first use, and again after a failure: a replica starts while NATS is
/// down, and answers 503 until it is up.
pub struct Nats {
    client: async_nats::Client,
    url: String,
    stream: String,
    ack_wait: Duration,
    ready: OnceCell<Ready>,
}

struct Ready {
    js: jetstream::Context,
    claims: kv::Store,
    open: kv::Store,
    consumer: PullConsumer,
}

/// What claiming an alert found.
pub enum Claim {
    /// This webhook claimed it for the investigation named.
    Ours,
    /// Another webhook did, for this investigation.
    Theirs(String),
}

/// An alert's claim: its investigation and how long ago it was made.
pub struct Claimed {
    pub investigation: String,
    pub age: Duration,
}

/// An investigation's alerts as the replicas share them while it settles.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Shared {
    /// Its alerts with their ids, the one that opened it first.
    pub alerts: Vec<(String, Alert)>,
    /// Taken by a worker: nothing joins any more.
    pub closed: bool,
}

/// A [`Shared`] as read, with the revision a change must name.
pub struct Record {
    pub shared: Shared,
    revision: u64,
}

/// The key-value bucket `name`, made if it is not there: one value per
/// key, kept as long as a claim.
async fn bucket(js: &jetstream::Context, name: String) -> Result<kv::Store, String> {
    match js.get_key_value(&name).await {
        Ok(kv) => Ok(kv),
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: name.clone(),
                history: 1,
                max_age: CLAIM_AGE,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("key-value bucket {name}: {e}")),
    }
}

/// The key naming a system's latest investigation: a hash of its
/// `grouping.labels` values (label values may hold any character; keys may
/// not).
fn system_key(labels: &[Option<String>]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(labels).unwrap_or_default());
    format!("sys.{}", hex::encode(&h.finalize()[..12]))
}

fn record_key(id: &str) -> String {
    format!("inv.{id}")
}

impl Nats {
    /// Connects in the background (retrying): the service starts even while
    /// NATS is down.
    pub async fn connect(url: &str, stream: &str, ack_wait: Duration) -> anyhow::Result<Nats> {
        let client = async_nats::ConnectOptions::new()
            .name("rca serve")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("connecting to NATS at {url}: {e}"))?;
        Ok(Nats {
            client,
            url: url.to_string(),
            stream: stream.to_string(),
            ack_wait,
            ready: OnceCell::new(),
        })
    }

    fn subject(&self) -> String {
        format!("{}.investigations", self.stream)
    }

    async fn ready(&self) -> Result<&Ready, String> {
        // Fail at once while disconnected: a request would wait out its
        // timeout, and a webhook sender is waiting for the answer.
        // Two seconds of grace covers a connection being made (at start,
        // or a reconnect after a blip), far below a sender's timeout.
        let connected =
            || self.client.connection_state() == async_nats::connection::State::Connected;
        let mut waited = Duration::ZERO;
        while !connected() {
            if waited >= Duration::from_secs(2) {
                return Err(format!("not connected to NATS at {}", self.url));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        self.ready
            .get_or_try_init(|| async {
                let js = jetstream::new(self.client.clone());
                let stream = js
                    .get_or_create_stream(stream::Config {
                        name: self.stream.clone(),
                        subjects: vec![self.subject()],
                        retention: stream::RetentionPolicy::WorkQueue,
                        storage: stream::StorageType::File,
                        duplicate_window: DUPLICATE_WINDOW,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| format!("stream {}: {e}", self.stream))?;
                let name = format!("{}-workers", self.stream);
                // Creates, or updates the ack wait of, the one consumer.
                let consumer: PullConsumer = stream
                    .create_consumer(pull::Config {
                        durable_name: Some(name.clone()),
                        ack_policy: AckPolicy::Explicit,
                        ack_wait: self.ack_wait,
                        max_deliver: MAX_DELIVER,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| format!("consumer {name}: {e}"))?;
                let claims = bucket(&js, format!("{}-alerts", self.stream)).await?;
                let open = bucket(&js, format!("{}-investigations", self.stream)).await?;
                info!(stream = %self.stream, "JetStream queue ready");
                Ok::<Ready, String>(Ready {
                    js,
                    claims,
                    open,
                    consumer,
                })
            })
            .await
    }

    /// The claim of alert `alert_id`, if any.
    pub async fn claimed(&self, alert_id: &str) -> Result<Option<Claimed>, String> {
        let r = self.ready().await?;
        let v = r
            .claims
            .get(alert_id)
            .await
            .map_err(|e| format!("reading the claim of {alert_id}: {e}"))?;
        Ok(v.map(|b| {
            // `INVESTIGATION@UNIX_SECONDS`.
            let text = String::from_utf8_lossy(&b);
            let (inv, at) = text.split_once('@').unwrap_or((&text, ""));
            let at = at.parse::<i64>().unwrap_or(0);
            let age = (Utc::now().timestamp() - at).max(0) as u64;
            Claimed {
                investigation: inv.to_string(),
                age: Duration::from_secs(age),
            }
        }))
    }

    /// Claims `alert_id` for `investigation`, unless another webhook did.
    pub async fn claim(&self, alert_id: &str, investigation: &str) -> Result<Claim, String> {
        let r = self.ready().await?;
        let value = format!("{investigation}@{}", Utc::now().timestamp());
        match r.claims.create(alert_id, value.into_bytes().into()).await {
            Ok(_) => Ok(Claim::Ours),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(Claim::Theirs(
                self.claimed(alert_id)
                    .await?
                    .map(|c| c.investigation)
                    .unwrap_or_else(|| investigation.to_string()),
            )),
            Err(e) => Err(format!("claiming {alert_id}: {e}")),
        }
    }

    /// The shared record of investigation `id`, if there is one.
    pub async fn record(&self, id: &str) -> Result<Option<Record>, String> {
        let r = self.ready().await?;
        let entry = r
            .open
            .entry(record_key(id))
            .await
            .map_err(|e| format!("reading investigation {id}: {e}"))?;
        let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
            return Ok(None);
        };
        let shared = serde_json::from_slice(&entry.value)
            .map_err(|e| format!("investigation {id} as shared is unreadable: {e}"))?;
        Ok(Some(Record {
            shared,
            revision: entry.revision,
        }))
    }

    /// Shares a just published investigation for later alerts to join, and
    /// names it its system's latest. A record there already (the worker
    /// took the message first, or this is a retry) is left as it is.
    pub async fn share(
        &self,
        inv: &Investigation,
        labels: &[Option<String>],
    ) -> Result<(), String> {
        let r = self.ready().await?;
        let shared = Shared {
            alerts: inv.alerts.clone(),
            closed: false,
        };
        let value = serde_json::to_vec(&shared).map_err(|e| e.to_string())?;
        match r.open.create(record_key(&inv.id), value.into()).await {
            Ok(_) => {}
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => return Ok(()),
            Err(e) => return Err(format!("sharing investigation {}: {e}", inv.id)),
        }
        r.open
            .put(system_key(labels), inv.id.clone().into_bytes().into())
            .await
            .map_err(|e| format!("naming investigation {} its system's latest: {e}", inv.id))?;
        Ok(())
    }

    /// The investigation last opened for the system of `labels`, with its
    /// record, if it still takes alerts.
    pub async fn joinable(
        &self,
        labels: &[Option<String>],
    ) -> Result<Option<(String, Record)>, String> {
        let r = self.ready().await?;
        let Some(id) = r
            .open
            .get(system_key(labels))
            .await
            .map_err(|e| format!("reading the system's latest investigation: {e}"))?
        else {
            return Ok(None);
        };
        let id = String::from_utf8_lossy(&id).into_owned();
        Ok(self
            .record(&id)
            .await?
            .filter(|rec| !rec.shared.closed && !rec.shared.alerts.is_empty())
            .map(|rec| (id, rec)))
    }

    /// Adds `alerts` to investigation `id` unless it was closed (`false`).
    pub async fn join(&self, id: &str, alerts: &[(String, Alert)]) -> Result<bool, String> {
        let r = self.ready().await?;
        for _ in 0..CAS_TRIES {
            let Some(mut rec) = self.record(id).await? else {
                return Ok(false);
            };
            if rec.shared.closed {
                return Ok(false);
            }
            rec.shared.alerts.extend(alerts.iter().cloned());
            let value = serde_json::to_vec(&rec.shared).map_err(|e| e.to_string())?;
            match r
                .open
                .update(record_key(id), value.into(), rec.revision)
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(format!("joining investigation {id}: {e}")),
            }
        }
        Err(format!(
            "joining investigation {id}: changed by others {CAS_TRIES} times in a row"
        ))
    }

    /// Closes investigation `id` as read in `rec`: `false` when it changed
    /// since (an alert joined; read it again).
    pub async fn close(&self, id: &str, rec: &Record) -> Result<bool, String> {
        let r = self.ready().await?;
        let shared = Shared {
            closed: true,
            ..rec.shared.clone()
        };
        let value = serde_json::to_vec(&shared).map_err(|e| e.to_string())?;
        match r
            .open
            .update(record_key(id), value.into(), rec.revision)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(e) => Err(format!("closing investigation {id}: {e}")),
        }
    }

    /// Records investigation `id`, which has no record (its webhook's
    /// replica died between publishing and sharing it), closed with the
    /// message's alerts: `false` when a record appeared meanwhile.
    pub async fn close_unshared(
        &self,
        id: &str,
        alerts: &[(String, Alert)],
    ) -> Result<bool, String> {
        let r = self.ready().await?;
        let shared = Shared {
            alerts: alerts.to_vec(),
            closed: true,
        };
        let value = serde_json::to_vec(&shared).map_err(|e| e.to_string())?;
        match r.open.create(record_key(id), value.into()).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(format!("closing investigation {id}: {e}")),
        }
    }

    /// Gives up claims this webhook made and could not queue.
    pub async fn unclaim(&self, alert_ids: &[String]) {
        let Ok(r) = self.ready().await else { return };
        for id in alert_ids {
            if let Err(e) = r.claims.purge(id).await {
                warn!(alert = %id, error = %e, "claim not given up; the alert is known until it ages out");
            }
        }
    }

    /// Publishes one investigation and waits for JetStream to have it.
    pub async fn publish(&self, inv: &Investigation) -> Result<(), String> {
        let r = self.ready().await?;
        let payload = serde_json::to_vec(inv).map_err(|e| e.to_string())?;
        let ack =
            r.js.send_publish(
                self.subject(),
                PublishMessage::build()
                    .message_id(&inv.id)
                    .payload(payload.into()),
            )
            .await
            .map_err(|e| format!("publishing {}: {e}", inv.id))?;
        ack.await
            .map_err(|e| format!("JetStream did not acknowledge {}: {e}", inv.id))?;
        Ok(())
    }

    /// Investigations on the stream not yet delivered to a worker, and
    /// those delivered and not yet acknowledged.
    pub async fn depth(&self) -> Result<(u64, usize), String> {
        let r = self.ready().await?;
        let mut c = r.consumer.clone();
        let info = c.info().await.map_err(|e| e.to_string())?;
        Ok((info.num_pending, info.num_ack_pending))
    }

    /// The next investigation for this replica, waiting at most a few
    /// seconds; `Ok(None)` when there was none.
    pub async fn next(&self) -> Result<Option<Delivery>, String> {
        let r = self.ready().await?;
        let mut batch = r
            .consumer
            .batch()
            .max_messages(1)
            .expires(PULL_WAIT)
            .messages()
            .await
            .map_err(|e| format!("pulling: {e}"))?;
        let Some(msg) = batch.next().await else {
            return Ok(None);
        };
        let msg = msg.map_err(|e| format!("pulling: {e}"))?;
        Ok(Some(Delivery {
            message: Arc::new(msg),
            ack_wait: self.ack_wait,
        }))
    }
}

/// One investigation delivered to this replica, not yet acknowledged.
pub struct Delivery {
    message: Arc<jetstream::Message>,
    ack_wait: Duration,
}

impl Delivery {
    /// The investigation, or why the message is not one (it is then
    /// terminated: no replica could do better).
    pub async fn investigation(&self) -> Option<Investigation> {
        match serde_json::from_slice::<Investigation>(&self.message.payload) {
            Ok(inv) => Some(inv),
            Err(e) => {
                warn!(error = %e, "a message on the queue is no investigation; terminated");
                let _ = self.message.ack_with(AckKind::Term).await;
                None
            }
        }
    }

    /// How many times JetStream has delivered it (1 the first time).
    pub fn delivered(&self) -> i64 {
        self.message.info().map(|i| i.delivered).unwrap_or(1)
    }

    /// Tells JetStream, every third of the ack wait, that the work goes on,
    /// until the returned guard is dropped.
    pub fn keep_alive(&self) -> tokio::task::JoinHandle<()> {
        let msg = self.message.clone();
        let every = self.ack_wait / 3;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = msg.ack_with(AckKind::Progress).await {
                    warn!(error = %e, "progress acknowledgement");
                }
            }
        })
    }

    /// Done for good (stored, or failed for good): JetStream confirms it
    /// removed the message.
    pub async fn done(&self) -> Result<(), String> {
        self.message.double_ack().await.map_err(|e| e.to_string())
    }

    /// Not done (this replica stops): another replica may take it now.
    pub async fn give_back(&self) {
        if let Err(e) = self.message.ack_with(AckKind::Nak(None)).await {
            warn!(error = %e, "giving an investigation back; it returns after the ack wait");
        }
    }
}
