//! The embedded store: the no-server default, in-process and persisted under
//! the data directory.
//!
//! One append-only file, `incidents.jsonl`, one [`IncidentRecord`] as JSON per
//! line. A put appends a line and `fsync`s before it returns, so an
//! acknowledged incident survives a crash; at open the file is read once into
//! an index in memory (summaries, ranked components, attack paths, actions and
//! where each record's line lies), and whole records are read back from the
//! file by offset, so memory stays small however big the heatmaps are. A line
//! cut short by a crash while it was written (never acknowledged) is cut off
//! at open; any other unreadable line is an error naming the file and line.
//! Re-storing an incident with new content appends a line that supersedes the
//! old one; when superseded lines outnumber live ones the file is rewritten at
//! open (to a temporary file, then renamed).
//!
//! One process at a time: `store.lock` in the data directory is locked for as
//! long as the store is open, and a second open (from another process or the
//! same one) fails with an error saying the directory is in use.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracing::{debug, warn};

use super::derive::parse_time;
use super::{
    ActionStatus, Feedback, Gap, GraphStore, IncidentGraph, IncidentQuery, IncidentRecord,
    IncidentSummary, Recurring, StoreError, Verdicted,
};
use crate::localisation::FaultKind;

/// The page size of a query whose `limit` is 0.
pub const DEFAULT_LIMIT: usize = 100;

const FILE: &str = "incidents.jsonl";
const LOCK: &str = "store.lock";

/// The embedded [`GraphStore`]. Cheap to clone; clones share one store.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    file_path: PathBuf,
    state: Mutex<State>,
}

struct State {
    /// Appends go here; `None` when opened read-only.
    append: Option<File>,
    /// Whole records are read from here by offset.
    read: File,
    /// Where the next line starts.
    end: u64,
    entries: HashMap<String, Entry>,
    /// Held (locked) for as long as the store is open; `None` read-only.
    _lock: Option<File>,
}

/// What the index keeps of one incident.
#[derive(Clone)]
struct Entry {
    summary: IncidentSummary,
    starts: DateTime<Utc>,
    /// Every ranked component, best first.
    ranked: Vec<String>,
    path: Vec<String>,
    path_id: Option<String>,
    rule: Option<String>,
    taken: bool,
    digest: String,
    /// Its verdicts, oldest first (kept across puts that carry none).
    feedback: Vec<Feedback>,
    /// When its alert resolved (kept across puts that carry none).
    resolved_at: Option<DateTime<Utc>>,
    offset: u64,
    len: u64,
}

impl Entry {
    fn of(record: &IncidentRecord, offset: u64, len: u64) -> Result<Entry, StoreError> {
        Ok(Entry {
            summary: IncidentSummary::of(record),
            starts: record.starts_at()?,
            ranked: record
                .localisation
                .ranking
                .iter()
                .map(|c| c.component.clone())
                .collect(),
            path: record.localisation.path.clone(),
            path_id: record.attack_path_id(),
            rule: record.detection_rule().map(str::to_string),
            taken: record
                .actions
                .iter()
                .any(|a| a.status == ActionStatus::Taken),
            digest: record.content_digest(),
            feedback: record.feedback.clone(),
            resolved_at: record.resolved_at,
            offset,
            len,
        })
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl EmbeddedStore {
    /// Opens (creating it if needed) the store in `dir`, reading its file
    /// into the index.
    pub fn open(dir: impl AsRef<Path>) -> Result<EmbeddedStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock = lock(&dir)?;
        let file_path = dir.join(FILE);
        let (entries, end, lines) = load(&file_path, true)?;
        let live = entries.len();
        let mut store_state = State {
            append: Some(open_append(&file_path)?),
            read: File::open(&file_path).map_err(io_err(&file_path))?,
            end,
            entries,
            _lock: Some(lock),
        };
        if lines > 2 * live + 64 {
            compact(&dir, &file_path, &mut store_state)?;
        }
        debug!(dir = %dir.display(), incidents = live, "embedded store open");
        Ok(EmbeddedStore::new(dir, file_path, store_state))
    }

    /// A snapshot for reading, beside a process that may have the store
    /// open for writing (`rca graph` while `rca serve` runs): takes no lock,
    /// changes nothing on disk (an unfinished last line is skipped, not cut),
    /// and refuses puts. A missing directory reads as an empty store.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<EmbeddedStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let file_path = dir.join(FILE);
        let (entries, end, _) = load(&file_path, false)?;
        let read = match File::open(&file_path) {
            Ok(f) => f,
            // Nothing stored yet: an empty store (reads never touch the file).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                File::open("/dev/null").map_err(io_err(&file_path))?
            }
            Err(e) => return Err(io_err(&file_path)(e)),
        };
        let state = State {
            append: None,
            read,
            end,
            entries,
            _lock: None,
        };
        Ok(EmbeddedStore::new(dir, file_path, state))
    }

    fn new(dir: PathBuf, file_path: PathBuf, state: State) -> EmbeddedStore {
        EmbeddedStore {
            inner: Arc::new(Inner {
                dir,
                file_path,
                state: Mutex::new(state),
            }),
        }
    }

    /// The data directory it lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// How many incidents it holds.
    pub fn len(&self) -> usize {
        self.inner.state().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`GraphStore::put`] without a runtime: appends and syncs on this thread.
    pub fn put_blocking(&self, record: &IncidentRecord) -> Result<(), StoreError> {
        self.inner.put(record)
    }

    /// [`GraphStore::get`] without a runtime.
    pub fn get_blocking(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        self.inner.get(id)
    }

    /// [`GraphStore::incidents`] without a runtime.
    pub fn incidents_now(&self, q: &IncidentQuery) -> Vec<IncidentSummary> {
        let st = self.inner.state();
        let mut hits: Vec<&Entry> = st
            .entries
            .values()
            .filter(|e| in_time(e, q))
            .filter(|e| match &q.component {
                Some(c) => e.ranked.iter().any(|r| r == c),
                None => true,
            })
            .collect();
        newest_first(&mut hits);
        page(hits, q).map(|e| e.summary.clone()).collect()
    }

    /// [`GraphStore::recurring`] without a runtime.
    pub fn recurring_now(&self, q: &IncidentQuery) -> Vec<Recurring> {
        let st = self.inner.state();
        struct Acc<'a> {
            n: u64,
            last: &'a Entry,
            faults: BTreeMap<FaultKind, u64>,
        }
        let mut by: BTreeMap<&str, Acc> = BTreeMap::new();
        for e in st.entries.values().filter(|e| in_time(e, q)) {
            let Some(root) = e.summary.root_cause.as_deref() else {
                continue;
            };
            let acc = by.entry(root).or_insert(Acc {
                n: 0,
                last: e,
                faults: BTreeMap::new(),
            });
            acc.n += 1;
            if (e.starts, &e.summary.id) > (acc.last.starts, &acc.last.summary.id) {
                acc.last = e;
            }
            if let Some(f) = e.summary.fault {
                *acc.faults.entry(f).or_default() += 1;
            }
        }
        let mut out: Vec<Recurring> = by
            .into_iter()
            .filter(|(_, a)| a.n >= 2)
            .map(|(c, a)| {
                let mut faults: Vec<(FaultKind, u64)> = a.faults.into_iter().collect();
                faults.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.as_str().cmp(y.0.as_str())));
                Recurring {
                    component: c.to_string(),
                    incidents: a.n,
                    last_seen: a.last.summary.starts_at.clone(),
                    faults: faults.into_iter().map(|f| f.0).collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.incidents
                .cmp(&a.incidents)
                .then(a.component.cmp(&b.component))
        });
        page(out, q).collect()
    }

    /// [`GraphStore::gaps`] without a runtime.
    pub fn gaps_now(&self) -> Vec<Gap> {
        let st = self.inner.state();
        // (path, rule) -> (components, incidents, any action taken)
        let mut by: BTreeMap<(&str, &str), (&[String], u64, bool)> = BTreeMap::new();
        for e in st.entries.values() {
            let (Some(p), Some(r)) = (e.path_id.as_deref(), e.rule.as_deref()) else {
                continue;
            };
            let acc = by.entry((p, r)).or_insert((&e.path, 0, false));
            acc.1 += 1;
            acc.2 |= e.taken;
        }
        let mut out: Vec<Gap> = by
            .into_iter()
            .filter(|(_, (_, _, taken))| !taken)
            .map(|((p, r), (components, n, _))| Gap {
                attack_path: p.to_string(),
                components: components.to_vec(),
                detection_rule: r.to_string(),
                incidents: n,
            })
            .collect();
        sort_gaps(&mut out);
        out
    }

    /// [`GraphStore::verdicts`] without a runtime.
    pub fn verdicts_now(&self, q: &IncidentQuery) -> Vec<Verdicted> {
        let st = self.inner.state();
        let mut hits: Vec<&Entry> = st
            .entries
            .values()
            .filter(|e| !e.feedback.is_empty() && in_time(e, q))
            .collect();
        newest_first(&mut hits);
        page(hits, q)
            .filter_map(|e| {
                Some(Verdicted {
                    incident: e.summary.clone(),
                    feedback: e.feedback.last()?.clone(),
                    verdicts: e.feedback.len(),
                })
            })
            .collect()
    }

    /// [`GraphStore::latest_for_alert`] without a runtime.
    pub fn latest_for_alert_now(&self, fingerprint: &str) -> Option<IncidentSummary> {
        let st = self.inner.state();
        st.entries
            .values()
            .filter(|e| {
                e.summary.fingerprint == fingerprint
                    || e.summary
                        .other_fingerprints
                        .iter()
                        .any(|f| f == fingerprint)
            })
            .max_by(|a, b| (a.starts, &a.summary.id).cmp(&(b.starts, &b.summary.id)))
            .map(|e| e.summary.clone())
    }
}

/// Most incidents first, then by key: the order both stores answer in.
pub(crate) fn sort_gaps(gaps: &mut [Gap]) {
    gaps.sort_by(|a, b| {
        b.incidents
            .cmp(&a.incidents)
            .then(a.attack_path.cmp(&b.attack_path))
            .then(a.detection_rule.cmp(&b.detection_rule))
    });
}

fn in_time(e: &Entry, q: &IncidentQuery) -> bool {
    q.since.is_none_or(|s| e.starts >= s) && q.until.is_none_or(|u| e.starts < u)
}

fn newest_first(hits: &mut [&Entry]) {
    hits.sort_by(|a, b| (b.starts, &b.summary.id).cmp(&(a.starts, &a.summary.id)));
}

fn page<T>(items: Vec<T>, q: &IncidentQuery) -> impl Iterator<Item = T> {
    let limit = if q.limit == 0 { DEFAULT_LIMIT } else { q.limit };
    items.into_iter().skip(q.offset).take(limit)
}

/// Locks the data directory for this store, or says who holds it.
fn lock(dir: &Path) -> Result<File, StoreError> {
    let lock_path = dir.join(LOCK);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Io {
            path: lock_path,
            source: std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "the data directory is in use by another rca process (or another store in this one)",
            ),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(&lock_path)(e)),
    }
}

fn open_append(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err(path))
}

/// Reads the file into an index: (entries, end of the last whole line,
/// lines). An unfinished last line is cut off the file when `repair`, else
/// only skipped.
fn load(path: &Path, repair: bool) -> Result<(HashMap<String, Entry>, u64, usize), StoreError> {
    let mut entries = HashMap::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((entries, 0, 0)),
        Err(e) => return Err(io_err(path)(e)),
    };
    let total = file.metadata().map_err(io_err(path))?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let mut offset = 0u64;
    let mut lines = 0usize;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io_err(path))? as u64;
        if n == 0 {
            break;
        }
        lines += 1;
        let whole = line.last() == Some(&b'\n');
        let parsed = serde_json::from_slice::<IncidentRecord>(&line);
        let record = match parsed {
            Ok(r) if whole => r,
            // The last line, cut short by a crash during its write: it was
            // never acknowledged, so it is dropped.
            _ if offset + n == total && !whole => {
                if repair {
                    warn!(file = %path.display(), line = lines, "dropping an unfinished last line");
                    cut(path, offset)?;
                }
                lines -= 1;
                break;
            }
            Ok(_) => {
                return Err(StoreError::Corrupt {
                    what: format!("{}:{}", path.display(), lines),
                    reason: "a line without its newline before the end of the file".into(),
                })
            }
            Err(e) => {
                return Err(StoreError::Corrupt {
                    what: format!("{}:{}", path.display(), lines),
                    reason: e.to_string(),
                })
            }
        };
        let entry = Entry::of(&record, offset, n).map_err(|e| StoreError::Corrupt {
            what: format!("{}:{}", path.display(), lines),
            reason: e.to_string(),
        })?;
        entries.insert(record.id().to_string(), entry);
        offset += n;
    }
    Ok((entries, offset, lines))
}

fn cut(path: &Path, len: u64) -> Result<(), StoreError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    f.set_len(len).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// Rewrites the file with only the live line of each incident.
fn compact(dir: &Path, path: &Path, st: &mut State) -> Result<(), StoreError> {
    let tmp = dir.join(format!("{FILE}.tmp"));
    let mut out = File::create(&tmp).map_err(io_err(&tmp))?;
    let mut ids: Vec<(u64, String)> = st
        .entries
        .iter()
        .map(|(id, e)| (e.offset, id.clone()))
        .collect();
    ids.sort();
    let mut offset = 0u64;
    let mut moved = Vec::with_capacity(ids.len());
    for (_, id) in ids {
        let e = &st.entries[&id];
        let mut buf = vec![0; e.len as usize];
        st.read
            .read_exact_at(&mut buf, e.offset)
            .map_err(io_err(path))?;
        out.write_all(&buf).map_err(io_err(&tmp))?;
        moved.push((id, offset));
        offset += e.len;
    }
    out.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_dir(dir)?;
    for (id, off) in moved {
        if let Some(e) = st.entries.get_mut(&id) {
            e.offset = off;
        }
    }
    st.append = Some(open_append(path)?);
    st.read = File::open(path).map_err(io_err(path))?;
    st.end = offset;
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held happened before the index was
        // updated (updates come last and cannot panic), so the state is whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, record: &IncidentRecord) -> Result<(), StoreError> {
        record.validate()?;
        let mut st = self.state();
        self.put_locked(&mut st, record.clone())
    }

    /// Adds a verdict under the lock, so that two at once both stay.
    fn add_feedback(
        &self,
        id: &str,
        feedback: Feedback,
    ) -> Result<Option<IncidentRecord>, StoreError> {
        feedback.validate()?;
        let mut st = self.state();
        let Some(e) = st.entries.get(id) else {
            return Ok(None);
        };
        let mut record = self.read_entry(&st, id, e)?;
        record.feedback.push(feedback);
        self.put_locked(&mut st, record.clone())?;
        Ok(Some(record))
    }

    fn put_locked(&self, st: &mut State, mut record: IncidentRecord) -> Result<(), StoreError> {
        if st.append.is_none() {
            return Err(self.read_only());
        }
        if let Some(old) = st.entries.get(record.id()) {
            // Verdicts only ever grow: a put with fewer (a replay, a
            // re-analysis, a read-add-put that lost a race) keeps the ones
            // people gave.
            if old.feedback.len() > record.feedback.len() {
                record.feedback = old.feedback.clone();
            }
            if record.resolved_at.is_none() {
                record.resolved_at = old.resolved_at;
            }
            if old.digest == record.content_digest() {
                return Ok(());
            }
            // Re-analysed: the new content, but the incident was first stored
            // when it was.
            record.created_at = old.summary.created_at;
        }
        let mut line = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt {
            what: format!("incident {}", record.id()),
            reason: e.to_string(),
        })?;
        line.push(b'\n');
        let first = st.end == 0;
        let offset = st.end;
        let Some(append) = st.append.as_mut() else {
            return Err(self.read_only());
        };
        let written = append.write_all(&line).and_then(|_| append.sync_data());
        if let Err(e) = written {
            // Leave no half line for the next append to follow.
            let _ = append.set_len(offset);
            return Err(io_err(&self.file_path)(e));
        }
        if first {
            sync_dir(&self.dir)?;
        }
        let entry = Entry::of(&record, offset, line.len() as u64)?;
        st.end = offset + line.len() as u64;
        st.entries.insert(record.id().to_string(), entry);
        Ok(())
    }

    fn read_only(&self) -> StoreError {
        StoreError::ReadOnly(self.dir.clone())
    }

    fn get(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        let st = self.state();
        let Some(e) = st.entries.get(id) else {
            return Ok(None);
        };
        self.read_entry(&st, id, e).map(Some)
    }

    /// The whole record an index entry points at.
    fn read_entry(&self, st: &State, id: &str, e: &Entry) -> Result<IncidentRecord, StoreError> {
        let mut buf = vec![0; e.len as usize];
        st.read
            .read_exact_at(&mut buf, e.offset)
            .map_err(io_err(&self.file_path))?;
        serde_json::from_slice(&buf).map_err(|err| StoreError::Corrupt {
            what: format!("incident {id} in {}", self.file_path.display()),
            reason: err.to_string(),
        })
    }
}

#[async_trait]
impl GraphStore for EmbeddedStore {
    async fn ensure_schema(&self) -> Result<(), StoreError> {
        // The index is built at open; there is nothing else to create.
        Ok(())
    }

    async fn put(&self, record: &IncidentRecord) -> Result<(), StoreError> {
        // Appending and syncing block: off the async workers.
        let inner = Arc::clone(&self.inner);
        let record = record.clone();
        tokio::task::spawn_blocking(move || inner.put(&record))
            .await
            .map_err(StoreError::task("writing an incident"))?
    }

    async fn get(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        self.inner.get(id)
    }

    async fn add_feedback(
        &self,
        id: &str,
        feedback: Feedback,
    ) -> Result<Option<IncidentRecord>, StoreError> {
        // Appending and syncing block: off the async workers.
        let inner = Arc::clone(&self.inner);
        let id = id.to_string();
        tokio::task::spawn_blocking(move || inner.add_feedback(&id, feedback))
            .await
            .map_err(StoreError::task("adding feedback"))?
    }

    async fn verdicts(&self, query: &IncidentQuery) -> Result<Vec<Verdicted>, StoreError> {
        Ok(self.verdicts_now(query))
    }

    async fn incidents(&self, query: &IncidentQuery) -> Result<Vec<IncidentSummary>, StoreError> {
        Ok(self.incidents_now(query))
    }

    async fn latest_for_alert(
        &self,
        fingerprint: &str,
    ) -> Result<Option<IncidentSummary>, StoreError> {
        Ok(self.latest_for_alert_now(fingerprint))
    }

    async fn recurring(&self, query: &IncidentQuery) -> Result<Vec<Recurring>, StoreError> {
        Ok(self.recurring_now(query))
    }

    async fn gaps(&self) -> Result<Vec<Gap>, StoreError> {
        Ok(self.gaps_now())
    }

    async fn graph(&self, id: &str) -> Result<Option<IncidentGraph>, StoreError> {
        Ok(self.inner.get(id)?.map(|r| IncidentGraph::of(&r)))
    }
}

/// The time of an RFC 3339 text, for callers that filter by it.
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    parse_time(s)
}
