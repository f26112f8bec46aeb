//! Fixture incidents: a directory holding what was observed around one alert,
//! in the wire formats the readers take.
//!
//! | file | reader |
//! | --- | --- |
//! | `alert.json` | Alertmanager webhook (v4) body, [`AlertWebhook`] |
//! | `traces.json` | [`read_traces`](crate::read_traces) |
//! | `logs.json` | [`read_otlp_logs`](crate::read_otlp_logs) |
//! | `metrics.json` | [`read_metrics`](crate::read_metrics) |
//! | `access.log`, `access-<proxy>.log` | [`read_access_log`](crate::read_access_log) |
//! | `goroutines/<component>/*` | [`read_dump_dir`](crate::read_dump_dir): goroutine dumps, any pprof format, each named by the Unix second it was taken (`1767261600.txt`) |
//! | `truth.json` | [`read_truth`], never by [`load_fixture`]: the engine must not see it |
//!
//! Files are read and parsed in parallel by one worker per core, each piece
//! of work into its own [`Observations`], then merged in a fixed order so
//! the result does not depend on timing. The work: each JSON file whole (the
//! traces first, as they take longest), and each access log in chunks cut at
//! newlines, which whichever worker is free takes next (see `files`). A
//! missing file is a missing modality, recorded in [`Observations::sources`];
//! a directory with no alert and no records at all is an error (it holds no
//! observations); a present file that is empty or broken is an error, and of several broken
//! files the one reported is the first in merge order, at its first bad line,
//! as if the files were read one after another.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::access::{read_lines, LineError, LinesRead};
use crate::alert::read_webhook;
use crate::error::IngestError;
use crate::files::{read_whole, LineChunks, PageBuf};
use crate::logs::read_otlp_logs;
use crate::metrics::read_metrics_detailed;
use crate::model::{AlertWebhook, Modality, Observations, SourceStatus};
use crate::traces::read_traces;

/// The files a fixture may hold, for saying that it holds none.
const FILES: &str = "alert.json, traces.json, metrics.json, access.log, access-<proxy>.log, \
                     logs.json or goroutines/<component>/ dumps";

/// The proxy an `access.log` is credited to when the traces do not name one.
pub const DEFAULT_PROXY: &str = "ingress";

/// One fixture incident, loaded.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub dir: PathBuf,
    /// The Alertmanager webhook body from `alert.json`, when there is one;
    /// its alerts are also in `observations.alerts`.
    pub webhook: Option<AlertWebhook>,
    pub observations: Observations,
    /// `recording.json`, when the fixture is an incident rca recorded: the
    /// window it was judged with, what its sources answered, what was
    /// sampled. One that cannot be read is ignored, with a warning: the
    /// files are the fixture.
    pub manifest: Option<crate::record::Manifest>,
}

/// The known root cause of a fixture incident, for scoring the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truth {
    pub component: String,
    pub fault: String,
}

#[derive(Deserialize)]
struct TruthFile {
    root_cause: Truth,
}

/// Reads `truth.json` of a fixture directory; `Ok(None)` when there is none.
pub fn read_truth(dir: &Path) -> Result<Option<Truth>, IngestError> {
    let path = dir.join("truth.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(IngestError::Io { path, source }),
    };
    let text = crate::wire::json_text(&path, &bytes)?;
    let file: TruthFile =
        serde_json::from_str(text).map_err(|e| crate::wire::json_error(&path, e))?;
    Ok(Some(file.root_cause))
}

/// One file of a fixture and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Alert,
    Traces,
    Metrics,
    /// An access log; `None` for `access.log`, whose proxy is decided later.
    Access(Option<String>),
    Logs,
}

/// What one file produced.
struct Loaded {
    part: Part,
    obs: Observations,
    records: u64,
    webhook: Option<AlertWebhook>,
    /// Why part of the file was not used, when it was not all used.
    partial: Option<String>,
}

/// Loads a fixture directory: every file present, read in parallel. A
/// fixture archive (`.tar.gz`, as rca records incidents) is unpacked into a
/// temporary directory first and read the same way; the fixture's `dir` is
/// then the archive.
pub fn load_fixture(dir: &Path) -> Result<Fixture, IngestError> {
    let meta = std::fs::metadata(dir).map_err(|source| IngestError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if meta.is_file() && crate::archive::is_archive(dir) {
        let tmp = tempfile::tempdir().map_err(|source| IngestError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let inner = crate::archive::unpack(dir, tmp.path())?;
        let mut fixture = load_fixture(&inner)?;
        fixture.dir = dir.to_path_buf();
        return Ok(fixture);
    }
    if !meta.is_dir() {
        return Err(IngestError::malformed(
            dir,
            "not a directory, nor a fixture archive (.tar.gz)",
        ));
    }
    let files = list_parts(dir)?;
    // Each worker keeps a chunk buffer of its own: a bound on that memory.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(16));
    let mut loaded = load_parts(&files, threads)?;

    // `access.log` is credited to the one proxy the traces show, if one.
    let proxy = trace_proxy(&loaded).unwrap_or_else(|| DEFAULT_PROXY.to_string());
    for part in loaded.iter_mut().filter(|l| l.part == Part::Access(None)) {
        if proxy != DEFAULT_PROXY {
            let sym = part.obs.names.intern(&proxy);
            for record in &mut part.obs.access {
                record.proxy = sym;
            }
        }
    }

    let mut observations = Observations::default();
    let mut webhook = None;
    let status = |modality: Modality, file: &str, present: &[&Loaded]| {
        if present.is_empty() {
            return SourceStatus {
                modality,
                records: 0,
                missing: Some(format!("no {file} in {}", dir.display())),
                note: None,
            };
        }
        let records = present.iter().map(|l| l.records).sum();
        let partial: Vec<&str> = present
            .iter()
            .filter_map(|l| l.partial.as_deref())
            .collect();
        let missing = if records == 0 {
            Some(format!("{file} in {} holds no records", dir.display()))
        } else if !partial.is_empty() {
            Some(partial.join("; "))
        } else {
            None
        };
        SourceStatus {
            modality,
            records,
            missing,
            note: None,
        }
    };
    let of = |pred: &dyn Fn(&Part) -> bool| -> Vec<&Loaded> {
        loaded.iter().filter(|l| pred(&l.part)).collect()
    };
    let sources = vec![
        status(
            Modality::Traces,
            "traces.json",
            &of(&|p| *p == Part::Traces),
        ),
        status(
            Modality::Metrics,
            "metrics.json",
            &of(&|p| *p == Part::Metrics),
        ),
        status(
            Modality::AccessLogs,
            "access.log or access-<proxy>.log",
            &of(&|p| matches!(p, Part::Access(_))),
        ),
        status(Modality::Logs, "logs.json", &of(&|p| *p == Part::Logs)),
    ];

    // Merge in a fixed order: `list_parts` sorted the files.
    for part in loaded {
        if let Some(w) = part.webhook {
            observations.alerts.extend(w.alerts.iter().cloned());
            webhook = Some(w);
        }
        observations.merge(part.obs);
    }
    observations.sources.extend(sources);
    read_goroutines(dir, &mut observations)?;
    // Any one file is an incident to show, however partial; none is a
    // mistake (the wrong directory, a copy that failed), not missing data.
    if observations.alerts.is_empty() && observations.modalities().is_empty() {
        let read: Vec<String> = files
            .iter()
            .filter_map(|(_, p)| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        let what = if read.is_empty() {
            format!("no {FILES}")
        } else {
            format!("no alert, and no records in {}", read.join(", "))
        };
        return Err(IngestError::malformed(
            dir,
            format!("holds no observations ({what})"),
        ));
    }
    Ok(Fixture {
        dir: dir.to_path_buf(),
        webhook,
        observations,
        manifest: read_manifest(dir),
    })
}

/// Reads `recording.json` when there is one.
fn read_manifest(dir: &Path) -> Option<crate::record::Manifest> {
    let path = dir.join(crate::record::MANIFEST);
    let bytes = std::fs::read(&path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "unreadable recording manifest ignored");
            None
        }
    }
}

/// Reads `goroutines/<component>/` when the fixture has it. Go components
/// are not the rule: no dumps is no missing modality.
fn read_goroutines(dir: &Path, obs: &mut Observations) -> Result<(), IngestError> {
    use crate::goroutines::GoroutineSource;
    let root = dir.join("goroutines");
    if !root.is_dir() {
        return Ok(());
    }
    let source = crate::goroutines::DirGoroutineSource { dir: root };
    let mut records = 0;
    for component in source.components() {
        let dumps = source.dumps(&component)?;
        records += dumps.len() as u64;
        if !dumps.is_empty() {
            obs.goroutines
                .push(crate::model::ComponentDumps { component, dumps });
        }
    }
    obs.sources.push(SourceStatus {
        modality: Modality::Goroutines,
        records,
        missing: (records == 0).then(|| {
            format!(
                "no goroutine dumps under {}",
                dir.join("goroutines").display()
            )
        }),
        note: None,
    });
    Ok(())
}

/// The files of `dir` that a reader takes, in merge order.
fn list_parts(dir: &Path) -> Result<Vec<(Part, PathBuf)>, IngestError> {
    let io = |source| IngestError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut access: Vec<(String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == "access.log" {
            access.push((String::new(), entry.path()));
        } else if let Some(proxy) = name
            .strip_prefix("access-")
            .and_then(|n| n.strip_suffix(".log"))
        {
            if !proxy.is_empty() {
                access.push((proxy.to_string(), entry.path()));
            }
        }
    }
    access.sort();
    let mut parts = Vec::new();
    for (part, file) in [
        (Part::Alert, "alert.json"),
        (Part::Traces, "traces.json"),
        (Part::Metrics, "metrics.json"),
    ] {
        let path = dir.join(file);
        if path.is_file() {
            parts.push((part, path));
        }
    }
    for (proxy, path) in access {
        let proxy = (!proxy.is_empty()).then_some(proxy);
        parts.push((Part::Access(proxy), path));
    }
    let logs = dir.join("logs.json");
    if logs.is_file() {
        parts.push((Part::Logs, logs));
    }
    Ok(parts)
}

/// One piece of work for a loading worker.
#[derive(Clone, Copy)]
enum Task {
    /// The part at this index of the list, a whole file.
    Whole(usize),
    /// Chunk `.1` of the access log at index `.0`.
    Chunk(usize, usize),
}

impl Task {
    /// Order of precedence among errors: by file in merge order, then by chunk.
    fn rank(self) -> u64 {
        let (part, chunk) = match self {
            Task::Whole(p) => (p, 0),
            Task::Chunk(p, c) => (p, c),
        };
        ((part as u64) << 32) | (chunk as u64 & 0xFFFF_FFFF)
    }
}

enum ChunkError {
    Io(io::Error),
    Line(LineError),
}

type ChunkRead = Result<(Observations, LinesRead), ChunkError>;

/// The chunks of one access log, joined in file order as they are read, so
/// that little is left to do once the last one is.
struct Joined {
    /// Chunks read but not joined yet, by index.
    waiting: Vec<Option<ChunkRead>>,
    /// The next chunk to join.
    next: usize,
    obs: Observations,
    records: u64,
    /// Lines in the chunks joined so far.
    lines: u64,
    /// The first error in file order; nothing is joined after it.
    error: Option<IngestError>,
}

impl Joined {
    fn new(chunks: usize) -> Joined {
        Joined {
            waiting: std::iter::repeat_with(|| None).take(chunks).collect(),
            next: 0,
            obs: Observations::default(),
            records: 0,
            lines: 0,
            error: None,
        }
    }

    /// Takes the result of chunk `c` and joins every chunk now in order.
    fn offer(&mut self, c: usize, read: ChunkRead, path: &Path) {
        if let Some(slot) = self.waiting.get_mut(c) {
            *slot = Some(read);
        }
        while self.error.is_none() {
            let Some(read) = self.waiting.get_mut(self.next).and_then(Option::take) else {
                break;
            };
            self.next += 1;
            match read {
                Ok((obs, read)) => {
                    self.obs.merge(obs);
                    self.records += read.records;
                    self.lines += read.lines;
                }
                Err(ChunkError::Line(e)) => self.error = Some(e.in_file(path, self.lines)),
                Err(ChunkError::Io(source)) => {
                    self.error = Some(IngestError::Io {
                        path: path.to_path_buf(),
                        source,
                    })
                }
            }
        }
    }

    /// The whole log, once every chunk has been offered.
    fn finish(self, part: Part, path: &Path) -> Result<Loaded, IngestError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.next < self.waiting.len() {
            return Err(not_read(path));
        }
        if self.records == 0 {
            return Err(IngestError::malformed(path, "empty file"));
        }
        Ok(Loaded {
            part,
            obs: self.obs,
            records: self.records,
            webhook: None,
            partial: None,
        })
    }
}

/// A part left unread: only when a worker panicked, or after an earlier
/// part's error, which is the one reported then.
fn not_read(path: &Path) -> IngestError {
    IngestError::malformed(path, "not read: a reader thread failed")
}

/// Reads and parses every part, `threads` workers taking the next task as
/// they become free; returns the parts in the order given.
fn load_parts(files: &[(Part, PathBuf)], threads: usize) -> Result<Vec<Loaded>, IngestError> {
    // The JSON files are parsed whole: read them first, the big ones by all
    // workers at once. Each is dropped as soon as it is parsed.
    let whole: Vec<usize> = (0..files.len())
        .filter(|&i| !matches!(files[i].0, Part::Access(_)))
        .collect();
    let paths: Vec<&Path> = whole.iter().map(|&i| files[i].1.as_path()).collect();
    let started = std::time::Instant::now();
    let mut contents: Vec<Mutex<Option<io::Result<PageBuf>>>> =
        std::iter::repeat_with(|| Mutex::new(None))
            .take(files.len())
            .collect();
    for (&i, content) in whole.iter().zip(read_whole(&paths, threads)) {
        if let Some(slot) = contents.get_mut(i) {
            *slot = Mutex::new(Some(content));
        }
    }
    let wholes: Vec<Mutex<Option<Result<Loaded, IngestError>>>> =
        std::iter::repeat_with(|| Mutex::new(None))
            .take(files.len())
            .collect();
    let read = started.elapsed();
    // Access logs, in chunks.
    let chunked: Vec<Option<io::Result<LineChunks>>> = files
        .iter()
        .map(|(part, path)| matches!(part, Part::Access(_)).then(|| LineChunks::open(path)))
        .collect();
    let joined: Vec<Mutex<Joined>> = chunked
        .iter()
        .map(|c| {
            let chunks = match c {
                Some(Ok(chunks)) => chunks.count(),
                _ => 0,
            };
            Mutex::new(Joined::new(chunks))
        })
        .collect();

    // Longest first: the traces, then the other JSON files, then the chunks.
    let mut tasks: Vec<Task> = whole
        .iter()
        .filter(|&&i| files[i].0 == Part::Traces)
        .chain(whole.iter().filter(|&&i| files[i].0 != Part::Traces))
        .map(|&i| Task::Whole(i))
        .collect();
    for (i, chunks) in chunked.iter().enumerate() {
        if let Some(Ok(chunks)) = chunks {
            tasks.extend((0..chunks.count()).map(|c| Task::Chunk(i, c)));
        }
    }

    let next = AtomicUsize::new(0);
    // The rank of the first task known to have failed: later ones are not
    // worth doing, as their errors or results will not be used.
    let failed = AtomicU64::new(u64::MAX);
    let work = || {
        let mut buf = Vec::new();
        while let Some(&task) = tasks.get(next.fetch_add(1, Ordering::Relaxed)) {
            if task.rank() > failed.load(Ordering::Relaxed) {
                continue;
            }
            let ok = match task {
                Task::Whole(i) => {
                    let (part, path) = &files[i];
                    let content = contents[i].lock().ok().and_then(|mut c| c.take());
                    let loaded = load_whole(part.clone(), path, content);
                    let ok = loaded.is_ok();
                    if let Ok(mut slot) = wholes[i].lock() {
                        *slot = Some(loaded);
                    }
                    ok
                }
                Task::Chunk(i, c) => {
                    let (part, path) = &files[i];
                    let proxy = match part {
                        Part::Access(Some(p)) => p.as_str(),
                        _ => DEFAULT_PROXY,
                    };
                    let read = match &chunked[i] {
                        Some(Ok(chunks)) => load_chunk(chunks, c, proxy, &mut buf),
                        // Not a task unless opened.
                        _ => Err(ChunkError::Io(io::ErrorKind::NotFound.into())),
                    };
                    let ok = read.is_ok();
                    if let Ok(mut j) = joined[i].lock() {
                        j.offer(c, read, path);
                    }
                    ok
                }
            };
            if !ok {
                failed.fetch_min(task.rank(), Ordering::Relaxed);
            }
        }
    };
    // All workers on threads of their own, so that a panic in one is an
    // error, not a crash.
    std::thread::scope(|scope| {
        let workers = threads.clamp(1, tasks.len().max(1));
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
        for handle in handles {
            // What a panicked worker left undone is reported below.
            let _ = handle.join();
        }
    });

    tracing::debug!(
        files = files.len(),
        tasks = tasks.len(),
        threads,
        read_whole_s = read.as_secs_f64(),
        parse_s = (started.elapsed() - read).as_secs_f64(),
        "fixture files read"
    );

    // In order, so that the first error is the one in the first file.
    let mut loaded = Vec::with_capacity(files.len());
    for (i, ((part, path), (whole, joined))) in
        files.iter().zip(wholes.into_iter().zip(joined)).enumerate()
    {
        let result = match &chunked[i] {
            None => whole
                .into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(not_read(path))),
            Some(Err(e)) => Err(IngestError::Io {
                path: path.clone(),
                source: io::Error::new(e.kind(), e.to_string()),
            }),
            Some(Ok(_)) => match joined.into_inner() {
                Ok(j) => j.finish(part.clone(), path),
                Err(_) => Err(not_read(path)),
            },
        };
        loaded.push(result?);
    }
    Ok(loaded)
}

/// Reads chunk `c` of an access log, using `buf` for its bytes.
fn load_chunk(chunks: &LineChunks, c: usize, proxy: &str, buf: &mut Vec<u8>) -> ChunkRead {
    let range = chunks.read(c, buf).map_err(ChunkError::Io)?;
    let mut obs = Observations::default();
    let bytes = buf.get(range).unwrap_or_default();
    let read = read_lines(bytes, proxy, &mut obs).map_err(ChunkError::Line)?;
    Ok((obs, read))
}

/// Parses a part read whole.
fn load_whole(
    part: Part,
    path: &Path,
    content: Option<io::Result<PageBuf>>,
) -> Result<Loaded, IngestError> {
    let page_buf = match content {
        Some(Ok(bytes)) => bytes,
        Some(Err(source)) => {
            return Err(IngestError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
        None => return Err(IngestError::malformed(path, "not read")),
    };
    let bytes = page_buf.bytes();
    let mut obs = Observations::default();
    let mut webhook = None;
    let mut partial = None;
    let records = match &part {
        Part::Alert => {
            let w = read_webhook(path, bytes)?;
            let n = w.alerts.len() as u64;
            webhook = Some(w);
            n
        }
        Part::Traces => read_traces(path, bytes, &mut obs)?,
        Part::Metrics => {
            let read = read_metrics_detailed(path, bytes, &mut obs)?;
            if read.skipped_series > 0 {
                partial = Some(format!(
                    "{} series in {} name no component (or no client or server) and were skipped",
                    read.skipped_series,
                    path.display()
                ));
            }
            read.samples
        }
        // Read in chunks by `load_chunk`.
        Part::Access(_) => return Err(IngestError::malformed(path, "an access log read whole")),
        Part::Logs => read_otlp_logs(path, bytes, &mut obs)?,
    };
    // The file's bytes go now, not when every other part is done.
    drop(page_buf);
    Ok(Loaded {
        part,
        obs,
        records,
        webhook,
        partial,
    })
}

/// The component whose spans are marked `proxy`, when exactly one is.
fn trace_proxy(loaded: &[Loaded]) -> Option<String> {
    let traces = loaded.iter().find(|l| l.part == Part::Traces)?;
    proxy_of(&traces.obs)
}

/// The one component whose spans carry `component=proxy`, if exactly one
/// does: the proxy an unnamed `access.log` belongs to.
pub(crate) fn proxy_of(obs: &Observations) -> Option<String> {
    let mut found: Option<crate::model::Sym> = None;
    for span in obs.spans.iter().filter(|s| s.proxy) {
        match found {
            None => found = Some(span.component),
            Some(sym) if sym == span.component => {}
            Some(_) => return None,
        }
    }
    found.map(|sym| obs.names.name(sym).to_string())
}
