//! Recorded windows: the input each stored incident was judged on, kept as
//! a fixture archive beside the store (`DATA_DIR/recordings/<id>.tar.gz`),
//! so that it can be replayed (`rca replay`), downloaded
//! (`GET /api/v1/incidents/{id}/window`) and judged again by a later engine
//! (`rca eval --format store`).
//!
//! An archive holds a fixture directory (see `ingest::record`) and
//! `recording.json`, its manifest: when and by what it was recorded, the
//! window's lookback and settle, what each source answered, what was sampled
//! and what was left out. A confirmed or corrected verdict adds
//! `truth.json`, the file `rca eval` reads.
//!
//! Two caps bound the disk: [`RecordingLimits::per_incident`] (over it the
//! largest of the sampled modalities, then the next, is thinned until the
//! archive fits, and the manifest and the incident say so) and
//! [`RecordingLimits::total`] (over it the oldest recordings go first, those
//! of incidents with a verdict last: they are the ones `rca eval` can use).
//!
//! Every operation is blocking file work; async callers run it in
//! `spawn_blocking`. One lock orders them, so an eviction never removes an
//! archive a verdict is being added to.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use chrono::Utc;
use ingest::record::{write_fixture, Keep, Manifest, Written, SAMPLED};
use ingest::{AlertWebhook, Modality, Observations};
use serde::{Deserialize, Serialize};

/// What a stored incident says of its recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recording {
    /// The archive's file name in the recordings directory (`<id>.tar.gz`).
    pub file: String,
    /// Its full path when it was written (for a store shared by hosts, where
    /// a reader may have another data directory).
    pub path: String,
    /// The archive's size in bytes.
    pub bytes: u64,
    /// One line per modality thinned to fit the per-incident cap, and per
    /// kind of record left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sampled: Vec<String>,
}

/// The caps on recordings, in bytes of archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingLimits {
    /// One incident's archive; over it, the sampled modalities are thinned.
    pub per_incident: u64,
    /// All archives together; over it, the oldest go.
    pub total: u64,
}

/// 64 MiB: a 40-minute window of a busy system (a million spans, about
/// 35 MB gzipped, with its logs) fits whole.
pub const DEFAULT_PER_INCIDENT: u64 = 64 << 20;
/// 5 GiB: at least eighty incidents at the per-incident cap, a quarter's
/// worth for a team paged about once a day.
pub const DEFAULT_TOTAL: u64 = 5 << 30;

impl Default for RecordingLimits {
    fn default() -> Self {
        RecordingLimits {
            per_incident: DEFAULT_PER_INCIDENT,
            total: DEFAULT_TOTAL,
        }
    }
}

/// gzip's default level. Measured on the 2-core machine with zlib-rs, a
/// window of a million spans and a million access lines (640 MB as fixture
/// files) records in 9.9 s to 64.7 MB, within the default cap; level 1 takes
/// 6.7 s but, at 1.4 times the bytes, has to sample that window to fit.
const GZIP_LEVEL: u32 = 6;

/// Attempts at fitting the per-incident cap: each one measures the
/// compression ratio of what it wrote, so a second is nearly always enough.
const FIT_ATTEMPTS: usize = 4;

/// Aim below the cap by this share, so that a ratio a little worse on the
/// thinned data than on the whole still fits.
const FIT_MARGIN: f64 = 0.9;

/// The smallest share of a modality a recording keeps: below it a sample
/// says too little to be worth its bytes, and the next modality is thinned
/// instead.
const MIN_SHARE: f64 = 0.01;

/// The window a recording was judged with, for its manifest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JudgedWindow {
    /// Microseconds before the alert's start.
    pub lookback: i64,
    /// Microseconds after it.
    pub settle: i64,
}

/// Why a recording could not be made, read or changed.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An id that cannot name a file (ids rca makes are hex).
    #[error("incident id {0:?} cannot name a recording")]
    BadId(String),
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> RecordingError + '_ {
    move |source| RecordingError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The recordings of one data directory.
#[derive(Debug)]
pub struct Recordings {
    dir: PathBuf,
    limits: RecordingLimits,
    lock: Mutex<()>,
}

/// What [`Recordings::evict`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evicted {
    pub ids: Vec<String>,
    pub bytes: u64,
}

/// The recordings directory of a data directory.
pub fn recordings_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("recordings")
}

fn check_id(id: &str) -> Result<(), RecordingError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RecordingError::BadId(id.to_string()))
    }
}

impl Recordings {
    /// The recordings under `data_dir/recordings`, created if absent.
    pub fn open(data_dir: &Path, limits: RecordingLimits) -> Result<Recordings, RecordingError> {
        let dir = recordings_dir(data_dir);
        std::fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        // Work a crash cut short: never renamed into place, never referenced.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(".tmp-") {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        }
        Ok(Recordings {
            dir,
            limits,
            lock: Mutex::new(()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn limits(&self) -> RecordingLimits {
        self.limits
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic elsewhere while holding it leaves no half-done state: every
        // change is a rename.
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The archive of incident `id`, when it is there.
    pub fn path(&self, id: &str) -> Option<PathBuf> {
        check_id(id).ok()?;
        let p = self.dir.join(format!("{id}.tar.gz"));
        p.is_file().then_some(p)
    }

    /// A scratch path in the recordings directory (same filesystem, so the
    /// final rename is atomic), removed at the next open if left behind.
    fn scratch(&self, id: &str, what: &str) -> PathBuf {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        self.dir
            .join(format!(".tmp-{id}-{}-{nanos}{what}", std::process::id()))
    }

    /// Records `obs`, the window incident `id` was judged on, replacing any
    /// earlier recording of it, and returns what the incident should say of
    /// it. `webhook` is the notification the alerts came in, when known.
    pub fn record(
        &self,
        id: &str,
        obs: &Observations,
        webhook: Option<&AlertWebhook>,
        window: JudgedWindow,
    ) -> Result<Recording, RecordingError> {
        check_id(id)?;
        let work = self.scratch(id, "");
        let result = self.record_in(&work, id, obs, webhook, window);
        let _ = std::fs::remove_dir_all(&work);
        result
    }

    fn record_in(
        &self,
        work: &Path,
        id: &str,
        obs: &Observations,
        webhook: Option<&AlertWebhook>,
        window: JudgedWindow,
    ) -> Result<Recording, RecordingError> {
        let archive = work.join("archive.tar.gz");
        let mut keep = Keep::default();
        let mut last: Option<(u64, Written)> = None;
        for _ in 0..FIT_ATTEMPTS {
            if let Some((bytes, written)) = &last {
                if *bytes <= self.limits.per_incident {
                    break;
                }
                match thinner(&keep, written, *bytes, self.limits.per_incident) {
                    Some(k) => keep = k,
                    None => break,
                }
            }
            let fixture = work.join("fixture");
            if fixture.exists() {
                std::fs::remove_dir_all(&fixture).map_err(io_at(&fixture))?;
            }
            std::fs::create_dir_all(&fixture).map_err(io_at(&fixture))?;
            let written = write_fixture(&fixture, obs, webhook, &keep).map_err(io_at(&fixture))?;
            let manifest = Manifest {
                incident: id.to_string(),
                recorded_at: Utc::now(),
                recorded_by: concat!("rca ", env!("CARGO_PKG_VERSION")).to_string(),
                lookback_minutes: window.lookback as f64 / 60e6,
                settle_minutes: window.settle as f64 / 60e6,
                sources: obs.sources.clone(),
                sampled: sampled_lines(&written),
                left_out: written.left_out.clone(),
            };
            let mpath = fixture.join(ingest::record::MANIFEST);
            let body = serde_json::to_vec_pretty(&manifest).map_err(io::Error::from);
            body.and_then(|b| std::fs::write(&mpath, b))
                .map_err(io_at(&mpath))?;
            let bytes = ingest::archive::pack(&fixture, id, &archive, GZIP_LEVEL)
                .map_err(io_at(&archive))?;
            last = Some((bytes, written));
        }
        let Some((bytes, written)) = last else {
            unreachable!("FIT_ATTEMPTS is at least one");
        };
        let mut sampled = sampled_lines(&written);
        sampled.extend(written.left_out.iter().cloned());
        if bytes > self.limits.per_incident {
            sampled.push(format!(
                "{bytes} bytes, over the cap of {} per incident: what is left cannot be \
                 sampled (metrics and goroutine dumps are kept whole)",
                self.limits.per_incident
            ));
        }
        let _g = self.guard();
        let dest = self.dir.join(format!("{id}.tar.gz"));
        std::fs::rename(&archive, &dest).map_err(io_at(&dest))?;
        Ok(Recording {
            file: format!("{id}.tar.gz"),
            path: dest.to_string_lossy().into_owned(),
            bytes,
            sampled,
        })
    }

    /// Adds (or replaces) `truth.json` in the recording of `id`: the root
    /// cause a verdict named. `Ok(false)` when there is no recording. The
    /// archive keeps its time, so a verdict does not make it newer to the
    /// eviction order.
    pub fn add_truth(
        &self,
        id: &str,
        component: &str,
        fault: &str,
    ) -> Result<bool, RecordingError> {
        check_id(id)?;
        let _g = self.guard();
        let Some(path) = self.path(id) else {
            return Ok(false);
        };
        let work = self.scratch(id, "-truth");
        let result = (|| {
            let dir = ingest::archive::unpack(&path, &work)?;
            let truth = serde_json::json!({
                "root_cause": {"component": component, "fault": fault},
            });
            let tpath = dir.join("truth.json");
            let body = serde_json::to_vec_pretty(&truth).map_err(io::Error::from);
            body.and_then(|b| std::fs::write(&tpath, b))
                .map_err(io_at(&tpath))?;
            let packed = self.scratch(id, "-truth.tar.gz");
            ingest::archive::pack(&dir, id, &packed, GZIP_LEVEL).map_err(io_at(&packed))?;
            if let Ok(modified) = std::fs::metadata(&path).and_then(|m| m.modified()) {
                let f = std::fs::File::options()
                    .write(true)
                    .open(&packed)
                    .map_err(io_at(&packed))?;
                f.set_modified(modified).map_err(io_at(&packed))?;
            }
            std::fs::rename(&packed, &path).map_err(io_at(&path))?;
            Ok(true)
        })();
        let _ = std::fs::remove_dir_all(&work);
        result
    }

    /// Removes recordings until all of them fit [`RecordingLimits::total`]:
    /// the oldest first, those of the incidents in `verdicted` last.
    pub fn evict(&self, verdicted: &HashSet<String>) -> Result<Evicted, RecordingError> {
        let _g = self.guard();
        let mut all: Vec<(bool, SystemTime, String, u64, PathBuf)> = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(io_at(&self.dir))? {
            let e = e.map_err(io_at(&self.dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".tar.gz") else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            all.push((
                verdicted.contains(id),
                modified,
                id.to_string(),
                meta.len(),
                e.path(),
            ));
        }
        let mut total: u64 = all.iter().map(|r| r.3).sum();
        all.sort();
        let mut out = Evicted::default();
        for (_, _, id, bytes, path) in all {
            if total <= self.limits.total {
                break;
            }
            std::fs::remove_file(&path).map_err(io_at(&path))?;
            total -= bytes;
            out.bytes += bytes;
            out.ids.push(id);
        }
        Ok(out)
    }

    /// Bytes all recordings take.
    pub fn total_bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tar.gz"))
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    }
}

/// One line per thinned modality: `traces: 250,112 of 1,000,448 records kept (25.0%)`.
fn sampled_lines(written: &Written) -> Vec<String> {
    let mut out = Vec::new();
    for m in SAMPLED {
        let (kept, of) = written
            .files
            .iter()
            .filter(|f| f.modality == Some(m))
            .fold((0, 0), |(k, o), f| (k + f.records, o + f.of));
        if kept < of {
            out.push(format!(
                "{m}: {kept} of {of} records kept ({:.1}%), a uniform sample",
                100.0 * kept as f64 / of.max(1) as f64
            ));
        }
    }
    out
}

/// The shares to keep so that the next archive fits `cap`, from the last
/// attempt's: `bytes` of archive from `written`'s files. The excess, in
/// uncompressed bytes at the measured ratio, comes off the largest sampled
/// modality, down to [`MIN_SHARE`] of it, then off the next. `None` when
/// nothing more can be thinned.
fn thinner(keep: &Keep, written: &Written, bytes: u64, cap: u64) -> Option<Keep> {
    let raw = written.bytes().max(1) as f64;
    let ratio = bytes as f64 / raw;
    let target_raw = FIT_MARGIN * cap as f64 / ratio;
    let mut excess = raw - target_raw;
    let mut sizes: Vec<(f64, Modality)> = SAMPLED
        .iter()
        .map(|&m| (written.bytes_of(m) as f64, m))
        .filter(|(b, _)| *b > 0.0)
        .collect();
    sizes.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut next = *keep;
    let mut changed = false;
    for (size, m) in sizes {
        if excess <= 0.0 {
            break;
        }
        let share_now = keep.of(m);
        // The full size of the modality, of which `size` is the share kept.
        let full = size / share_now;
        let floor = MIN_SHARE * full;
        let cut = excess.min(size - floor);
        if cut <= 0.0 {
            continue;
        }
        next.set(m, (size - cut) / full);
        excess -= cut;
        changed = true;
    }
    changed.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(traces: u64, access: u64, metrics: u64) -> Written {
        let f = |name: &str, m, bytes| ingest::record::WrittenFile {
            name: name.into(),
            modality: Some(m),
            bytes,
            records: bytes,
            of: bytes,
        };
        Written {
            files: vec![
                f("traces.json", Modality::Traces, traces),
                f("access-ingress.log", Modality::AccessLogs, access),
                f("metrics.json", Modality::Metrics, metrics),
            ],
            left_out: vec![],
        }
    }

    fn fixture(name: &str) -> ingest::Fixture {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures")
            .join(name);
        ingest::load_fixture(&dir).unwrap()
    }

    const WINDOW: JudgedWindow = JudgedWindow {
        lookback: 30 * 60_000_000,
        settle: 10 * 60_000_000,
    };

    #[test]
    fn a_recording_over_the_cap_is_sampled_to_fit_and_says_so() {
        let f = fixture("network_delay-29");
        let data = tempfile::tempdir().unwrap();
        let whole = Recordings::open(data.path(), RecordingLimits::default()).unwrap();
        let full = whole.record("aa01", &f.observations, None, WINDOW).unwrap();
        assert!(full.sampled.is_empty(), "{:?}", full.sampled);
        let cap = full.bytes / 3;
        let small = Recordings::open(
            data.path(),
            RecordingLimits {
                per_incident: cap,
                total: u64::MAX,
            },
        )
        .unwrap();
        let r = small.record("aa02", &f.observations, None, WINDOW).unwrap();
        assert!(r.bytes <= cap, "{} > cap {cap}", r.bytes);
        assert!(
            r.sampled.iter().any(|l| l.starts_with("traces:")),
            "{:?}",
            r.sampled
        );
        let replayed = ingest::load_fixture(&small.path("aa02").unwrap()).unwrap();
        assert!(replayed.observations.spans.len() < f.observations.spans.len());
        assert_eq!(
            replayed.observations.series.len(),
            f.observations.series.len()
        );
        let m = replayed.manifest.expect("the manifest");
        assert_eq!(m.incident, "aa02");
        assert_eq!(m.sampled, r.sampled);
        assert_eq!((m.lookback_minutes, m.settle_minutes), (30.0, 10.0));
    }

    #[test]
    fn a_verdict_adds_truth_and_keeps_the_recordings_age() {
        let f = fixture("cpu_saturation-23");
        let data = tempfile::tempdir().unwrap();
        let recs = Recordings::open(data.path(), RecordingLimits::default()).unwrap();
        assert!(
            !recs.add_truth("bb01", "x", "y").unwrap(),
            "no recording yet"
        );
        recs.record("bb01", &f.observations, f.webhook.as_ref(), WINDOW)
            .unwrap();
        let path = recs.path("bb01").unwrap();
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(recs
            .add_truth("bb01", "redis-main", "cpu_saturation")
            .unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), old);
        let into = tempfile::tempdir().unwrap();
        let dir = ingest::archive::unpack(&path, into.path()).unwrap();
        let truth = ingest::read_truth(&dir).unwrap().unwrap();
        assert_eq!(
            (truth.component.as_str(), truth.fault.as_str()),
            ("redis-main", "cpu_saturation")
        );
        // A later verdict replaces it.
        assert!(recs.add_truth("bb01", "auth", "unknown").unwrap());
        let into = tempfile::tempdir().unwrap();
        let dir = ingest::archive::unpack(&path, into.path()).unwrap();
        assert_eq!(ingest::read_truth(&dir).unwrap().unwrap().component, "auth");
        // The fixture is still whole.
        let again = ingest::load_fixture(&path).unwrap();
        assert_eq!(again.observations.spans.len(), f.observations.spans.len());
    }

    #[test]
    fn the_total_cap_removes_the_oldest_first_and_verdicts_last() {
        let data = tempfile::tempdir().unwrap();
        let limits = |total| RecordingLimits {
            per_incident: 1 << 20,
            total,
        };
        let recs = Recordings::open(data.path(), limits(3000)).unwrap();
        for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
            let p = recs.dir().join(format!("{id}.tar.gz"));
            std::fs::write(&p, vec![0u8; 1000]).unwrap();
            let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000 + i as u64);
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        let verdicted: HashSet<String> = ["a".to_string()].into();
        let gone = recs.evict(&verdicted).unwrap();
        assert_eq!(gone.ids, vec!["b"], "the oldest without a verdict");
        assert_eq!(recs.total_bytes(), 3000);
        let tighter = Recordings::open(data.path(), limits(1500)).unwrap();
        let gone = tighter.evict(&verdicted).unwrap();
        assert_eq!(gone.ids, vec!["c", "d"]);
        assert!(
            tighter.path("a").is_some(),
            "the verdict's recording goes last"
        );
        let tightest = Recordings::open(data.path(), limits(500)).unwrap();
        assert_eq!(tightest.evict(&verdicted).unwrap().ids, vec!["a"]);
        // Under the cap: nothing goes.
        assert!(tightest.evict(&verdicted).unwrap().ids.is_empty());
    }

    #[test]
    fn ids_that_cannot_name_a_file_are_refused() {
        let data = tempfile::tempdir().unwrap();
        let recs = Recordings::open(data.path(), RecordingLimits::default()).unwrap();
        let obs = Observations::default();
        for id in ["../x", "", "a/b", "a b"] {
            assert!(matches!(
                recs.record(id, &obs, None, WINDOW),
                Err(RecordingError::BadId(_))
            ));
            assert!(recs.path(id).is_none());
        }
    }

    #[test]
    fn the_largest_sampled_modality_is_thinned_first() {
        // 1000 raw bytes packed to 100: a cap of 50 wants 450 raw bytes.
        let k = thinner(&Keep::default(), &written(800, 150, 50), 100, 50).unwrap();
        assert!((k.traces - 250.0 / 800.0).abs() < 1e-9, "{k:?}");
        assert_eq!(k.access, 1.0);
        // When the largest cannot give enough, the next gives the rest.
        let k = thinner(&Keep::default(), &written(500, 450, 50), 100, 20).unwrap();
        assert!((k.traces - MIN_SHARE).abs() < 1e-9, "{k:?}");
        assert!(k.access < 1.0);
        // Metrics alone over the cap: nothing to thin.
        assert_eq!(
            thinner(&Keep::default(), &written(0, 0, 1000), 100, 10),
            None
        );
    }
}
