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
//! Alerts of later webhooks do not join an investigation in this mode: the
//! message is what is durable, and it is fixed once published.

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
    consumer: PullConsumer,
}

/// What claiming an alert found.
pub enum Claim {
    /// This webhook claimed it for the investigation named.
    Ours,
    /// Another webhook did, for this investigation.
    Theirs(String),
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
                let bucket = format!("{}-alerts", self.stream);
                let claims = match js.get_key_value(&bucket).await {
                    Ok(kv) => kv,
                    Err(_) => js
                        .create_key_value(kv::Config {
                            bucket: bucket.clone(),
                            history: 1,
                            max_age: CLAIM_AGE,
                            storage: stream::StorageType::File,
                            ..Default::default()
                        })
                        .await
                        .map_err(|e| format!("key-value bucket {bucket}: {e}"))?,
                };
                info!(stream = %self.stream, "JetStream queue ready");
                Ok::<Ready, String>(Ready {
                    js,
                    claims,
                    consumer,
                })
            })
            .await
    }

    /// The investigation alert `alert_id` was claimed for, if any.
    pub async fn claimed(&self, alert_id: &str) -> Result<Option<String>, String> {
        let r = self.ready().await?;
        let v = r
            .claims
            .get(alert_id)
            .await
            .map_err(|e| format!("reading the claim of {alert_id}: {e}"))?;
        Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Claims `alert_id` for `investigation`, unless another webhook did.
    pub async fn claim(&self, alert_id: &str, investigation: &str) -> Result<Claim, String> {
        let r = self.ready().await?;
        match r
            .claims
            .create(alert_id, investigation.as_bytes().to_vec().into())
            .await
        {
            Ok(_) => Ok(Claim::Ours),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(Claim::Theirs(
                self.claimed(alert_id)
                    .await?
                    .unwrap_or_else(|| investigation.to_string()),
            )),
            Err(e) => Err(format!("claiming {alert_id}: {e}")),
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
