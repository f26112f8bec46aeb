//! Goroutine dumps from each Go component's pprof endpoint
//! (`/debug/pprof/goroutine?debug=2`, or `debug=1` / `debug=0`: the reader
//! tells the formats apart), taken when the window is collected: one dump
//! per component, or two some seconds apart when configured, so that a leak
//! shows as growth and not only as goroutines stuck a minute or more.
//!
//! A component may also (or only) name its goroutine-leak profile
//! (`/debug/pprof/goroutineleak?debug=1`, in a program built with
//! `GOEXPERIMENT=goroutineleakprofile`): taken in every round beside the
//! dump, read by the same reader, it lists the leaks the runtime proved.
//!
//! Dumps taken after the window (the usual case: collection waits for the
//! settle period) are moved back together so that the last sits at the
//! window's last moment, the gap between them kept: goroutines that leaked
//! during the window are still there when the dumps are taken, and the
//! minutes each has waited, which `debug=2` prints, say since when.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::{instrument, warn};

use super::{
    http_client, reqwest_reason, CollectError, CollectWindow, GoroutineDumpSource, Pulled,
};
use crate::goroutines::{read_goroutine_dump, Dump, TimedDump};
use crate::model::{ComponentDumps, Micros, Observations};

/// Largest dump read, in bytes (a `debug=2` dump of 100k goroutines is
/// about 60 MB).
const MAX_DUMP: usize = 512 << 20;

/// Each component's pprof goroutine endpoints.
pub struct PprofSource {
    /// Component -> its URLs (a goroutine dump, a goroutine-leak profile, or
    /// both), each taken in every round.
    endpoints: BTreeMap<String, Vec<String>>,
    client: reqwest::Client,
    /// When set, a second round of dumps this long after the first.
    second: Option<Duration>,
}

impl PprofSource {
    pub fn new(endpoints: BTreeMap<String, Vec<String>>, timeout: Duration) -> PprofSource {
        PprofSource {
            endpoints,
            client: http_client(timeout),
            second: None,
        }
    }

    /// Takes a second dump of every endpoint `after` the first (none when
    /// zero).
    pub fn with_second_dump(mut self, after: Duration) -> PprofSource {
        self.second = (!after.is_zero()).then_some(after);
        self
    }

    /// Every URL of every component, in order.
    fn urls(&self) -> impl Iterator<Item = (&String, &String)> {
        self.endpoints
            .iter()
            .flat_map(|(c, urls)| urls.iter().map(move |u| (c, u)))
    }

    /// One dump of every URL, at once (in the order of [`Self::urls`]); when
    /// they were asked for.
    async fn round(&self) -> (Micros, Vec<Result<(Dump, Arc<[u8]>), CollectError>>) {
        let at = chrono::Utc::now().timestamp_micros();
        let dumps = futures::future::join_all(self.urls().map(|(_, url)| self.take(url))).await;
        (at, dumps)
    }

    /// One dump of `url`, read, and the body it came in.
    async fn take(&self, url: &str) -> Result<(Dump, Arc<[u8]>), CollectError> {
        let unreachable = |e: &reqwest::Error| CollectError::Unreachable {
            backend: "pprof",
            url: url.to_string(),
            reason: reqwest_reason(e),
        };
        let mut resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(&e))? {
            if body.len() + chunk.len() > MAX_DUMP {
                return Err(crate::IngestError::malformed(
                    PathBuf::from(url),
                    format!("dump larger than {MAX_DUMP} bytes"),
                )
                .into());
            }
            body.extend_from_slice(&chunk);
        }
        if status == 404 && url.contains("/goroutineleak") {
            // What net/http/pprof answers for a profile the program lacks.
            return Err(CollectError::Status {
                backend: "pprof",
                url: url.to_string(),
                status,
                body: format!(
                    "{} (the goroutineleak profile needs Go 1.26 or later and a build \
                     with GOEXPERIMENT=goroutineleakprofile)",
                    String::from_utf8_lossy(&body[..body.len().min(100)]).trim()
                ),
            });
        }
        if status != 200 {
            return Err(CollectError::status("pprof", url, status, &body));
        }
        let path = PathBuf::from(url);
        let body: Arc<[u8]> = body.into();
        let bytes = Arc::clone(&body);
        let dump = tokio::task::spawn_blocking(move || read_goroutine_dump(&path, &body))
            .await
            .map_err(CollectError::stopped("dump"))??;
        Ok((dump, bytes))
    }
}

#[async_trait]
impl GoroutineDumpSource for PprofSource {
    fn name(&self) -> &str {
        "pprof"
    }

    #[instrument(skip_all, fields(collector = "pprof", endpoints = self.urls().count()))]
    async fn goroutines(&self, window: &CollectWindow) -> Result<Pulled, CollectError> {
        if self.endpoints.is_empty() {
            return Err(CollectError::NotConfigured(
                "no pprof endpoints configured".into(),
            ));
        }
        let mut rounds = vec![self.round().await];
        if let Some(after) = self.second {
            tokio::time::sleep(after).await;
            rounds.push(self.round().await);
        }
        // Moved back together so the last round sits in the window.
        let last = rounds.last().map_or(window.end, |r| r.0);
        let shift = (last - (window.end - 1)).max(0);
        let mut obs = Observations::default();
        let mut failed = Vec::new();
        let mut by_component: BTreeMap<&String, Vec<TimedDump>> = BTreeMap::new();
        for (at, answers) in rounds {
            let at = (at - shift).max(window.start);
            for ((component, url), answer) in self.urls().zip(answers) {
                let dumps = by_component.entry(component).or_default();
                match answer {
                    Ok((dump, bytes)) => dumps.push(TimedDump {
                        at: Some(at),
                        from: PathBuf::from(url),
                        dump,
                        bytes,
                    }),
                    Err(e) => {
                        warn!(collector = "pprof", component = %component, error = %e, "dump failed");
                        failed.push(format!("{component}: {e}"));
                    }
                }
            }
        }
        for (component, dumps) in by_component {
            if !dumps.is_empty() {
                obs.goroutines.push(ComponentDumps {
                    component: component.clone(),
                    dumps,
                });
            }
        }
        failed.sort();
        failed.dedup();
        if obs.goroutines.is_empty() {
            return Err(CollectError::NotConfigured(format!(
                "every dump failed: {}",
                failed.join("; ")
            )));
        }
        let partial = (!failed.is_empty()).then(|| format!("dumps failed: {}", failed.join("; ")));
        Ok(Pulled { obs, partial })
    }
}
