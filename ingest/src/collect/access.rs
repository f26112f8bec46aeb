//! Access logs from a directory of proxy log files, read for the window only.
//!
//! Files: `access.log` (credited to the proxy the traces show, else
//! `ingress`) and `access-<proxy>.log`, each with its rotated generations
//! `NAME.1`, `NAME.2`, ... (compressed ones are skipped). A proxy writes its
//! lines in time order give or take a request's duration, so each file is
//! searched by bisection for the first line near the window's start, then
//! read forward in chunks until its lines pass the window's end: a big log is
//! never read whole, and a file entirely outside the window costs a few
//! small reads.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tracing::{debug, instrument};

use super::{AccessLogSource, CollectError, CollectWindow, Pulled};
use crate::access::read_lines;
use crate::error::IngestError;
use crate::model::{Micros, Observations};

/// Lines may be out of order by up to this much (a request's duration).
const SLACK: Micros = 120_000_000;
/// Bytes read at a time going forward.
const CHUNK: usize = 4 << 20;
/// Bisection stops when the range is this small, and reads a line from
/// at most this far past a probe.
const PROBE: u64 = 64 << 10;

/// Access logs in a directory.
pub struct AccessLogDir {
    dir: PathBuf,
}

impl AccessLogDir {
    pub fn new(dir: impl Into<PathBuf>) -> AccessLogDir {
        AccessLogDir { dir: dir.into() }
    }
}

#[async_trait]
impl AccessLogSource for AccessLogDir {
    fn name(&self) -> &str {
        "access_log_dir"
    }

    #[instrument(skip_all, fields(collector = "access_logs", dir = %self.dir.display()))]
    async fn access_logs(
        &self,
        window: &CollectWindow,
        proxy: &str,
    ) -> Result<Pulled, CollectError> {
        let dir = self.dir.clone();
        let window = window.clone();
        let proxy = proxy.to_string();
        tokio::task::spawn_blocking(move || read_dir_window(&dir, &window, &proxy))
            .await
            .map_err(CollectError::stopped("access-log"))?
    }
}

/// The log files of `dir` with the proxy each belongs to, in a fixed order.
fn log_files(dir: &Path, default_proxy: &str) -> Result<Vec<(PathBuf, String)>, IngestError> {
    let io = |source| IngestError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // `NAME.log` or `NAME.log.<digits>` (a rotated generation).
        let Some((stem, rotation)) = name.split_once(".log") else {
            continue;
        };
        let rotated_ok = rotation.is_empty()
            || (rotation.len() > 1
                && rotation.starts_with('.')
                && rotation[1..].bytes().all(|b| b.is_ascii_digit()));
        if !rotated_ok {
            continue;
        }
        let proxy = if stem == "access" {
            default_proxy.to_string()
        } else if let Some(p) = stem.strip_prefix("access-").filter(|p| !p.is_empty()) {
            p.to_string()
        } else {
            continue;
        };
        files.push((entry.path(), proxy));
    }
    files.sort();
    Ok(files)
}

fn read_dir_window(
    dir: &Path,
    window: &CollectWindow,
    default_proxy: &str,
) -> Result<Pulled, CollectError> {
    let files = log_files(dir, default_proxy)?;
    if files.is_empty() {
        return Err(CollectError::NotConfigured(format!(
            "no access.log or access-<proxy>.log in {}",
            dir.display()
        )));
    }
    let mut out = Observations::default();
    let mut failed = Vec::new();
    for (path, proxy) in &files {
        match read_file_window(path, window, proxy) {
            Ok(obs) => out.merge(obs),
            Err(e) => failed.push(e.to_string()),
        }
    }
    if failed.len() == files.len() {
        return Err(CollectError::NotConfigured(failed.join("; ")));
    }
    let partial = (!failed.is_empty()).then(|| failed.join("; "));
    Ok(Pulled { obs: out, partial })
}

/// The records of one file inside `window`.
pub(crate) fn read_file_window(
    path: &Path,
    window: &CollectWindow,
    proxy: &str,
) -> Result<Observations, IngestError> {
    let io = |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let mut obs = Observations::default();
    if size == 0 {
        return Ok(obs);
    }
    let from = first_offset(&mut file, size, window.start - SLACK, proxy).map_err(io)?;
    debug!(file = %path.display(), size, from, "reading access log from offset");
    file.seek(SeekFrom::Start(from)).map_err(io)?;
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut carry: Vec<u8> = Vec::new();
    let mut offset = from;
    loop {
        buf.clear();
        buf.extend_from_slice(&carry);
        carry.clear();
        let want = CHUNK.saturating_sub(buf.len()).max(PROBE as usize);
        let got = (&mut file)
            .take(want as u64)
            .read_to_end(&mut buf)
            .map_err(io)?;
        let at_end = got == 0;
        // Whole lines only; a last line without its newline is still being
        // written (or is the file's last line, taken at the end).
        let cut = if at_end {
            buf.len()
        } else {
            match memchr::memrchr(b'\n', &buf) {
                Some(i) => i + 1,
                None => {
                    carry = std::mem::take(&mut buf);
                    continue;
                }
            }
        };
        carry.extend_from_slice(&buf[cut..]);
        let lines = &buf[..cut];
        if lines.is_empty() {
            break;
        }
        let mut part = Observations::default();
        read_lines(lines, proxy, &mut part).map_err(|e| {
            IngestError::malformed(
                path,
                format!("line {} after byte {offset}: {}", e.line, e.what),
            )
        })?;
        offset += cut as u64;
        let past_end = part
            .access
            .last()
            .is_some_and(|r| r.time > window.end + SLACK);
        part.access.retain(|r| window.contains(r.time));
        obs.merge(part);
        if past_end || at_end {
            break;
        }
    }
    Ok(obs)
}

/// Where to start reading so that no line at or after `target` is missed:
/// the start of a line at or before the first line whose time is `target`
/// or later.
fn first_offset(file: &mut File, size: u64, target: Micros, proxy: &str) -> std::io::Result<u64> {
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > PROBE {
        let mid = lo + (hi - lo) / 2;
        match time_after(file, mid, proxy)? {
            Some((t, _)) if t < target => lo = mid,
            Some(_) => hi = mid,
            // No readable line in reach: do not guess, read from `lo`.
            None => break,
        }
    }
    if lo == 0 {
        return Ok(0);
    }
    // The start of the first whole line after `lo`.
    Ok(time_after(file, lo, proxy)?.map_or(lo, |(_, start)| start))
}

/// The time of the first whole line that starts after `offset` (at `offset`
/// when it is 0), and where that line starts.
fn time_after(file: &mut File, offset: u64, proxy: &str) -> std::io::Result<Option<(Micros, u64)>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(PROBE as usize);
    file.take(PROBE).read_to_end(&mut buf)?;
    let mut pos = if offset == 0 {
        0
    } else {
        match memchr::memchr(b'\n', &buf) {
            Some(i) => i + 1,
            None => return Ok(None),
        }
    };
    // A few lines, in case one is blank or unreadable.
    for _ in 0..8 {
        let Some(len) = memchr::memchr(b'\n', &buf[pos..]) else {
            return Ok(None);
        };
        let line = &buf[pos..pos + len + 1];
        let mut scratch = Observations::default();
        if read_lines(line, proxy, &mut scratch).is_ok() {
            if let Some(r) = scratch.access.first() {
                return Ok(Some((r.time, offset + pos as u64)));
            }
        }
        pos += len + 1;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn envoy_line(secs: i64) -> String {
        let t = chrono::DateTime::from_timestamp(secs, 0).unwrap();
        format!(
            "[{}] \"GET /a HTTP/1.1\" 200 - 0 10 5 4 \"1.2.3.4\" \"curl/8\" \"id\" \"host\" \"10.0.0.1:80\"\n",
            t.format("%Y-%m-%dT%H:%M:%S%.3fZ")
        )
    }

    #[test]
    fn reads_only_the_window_across_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let base = 1_700_000_000i64;
        // The older generation holds the first hour, the live file the second.
        let mut old = File::create(dir.path().join("access.log.1")).unwrap();
        for s in 0..3600 {
            old.write_all(envoy_line(base + s).as_bytes()).unwrap();
        }
        let mut live = File::create(dir.path().join("access-edge.log")).unwrap();
        for s in 3600..7200 {
            live.write_all(envoy_line(base + s).as_bytes()).unwrap();
        }
        // Not logs of ours.
        std::fs::write(dir.path().join("access.log.2.gz"), b"\x1f\x8b").unwrap();
        std::fs::write(dir.path().join("error.log"), b"x").unwrap();
        let window = CollectWindow {
            start: (base + 3000) * 1_000_000,
            end: (base + 4000) * 1_000_000,
        };
        let pulled = read_dir_window(dir.path(), &window, "ingress").unwrap();
        assert!(pulled.partial.is_none());
        let obs = pulled.obs;
        assert_eq!(obs.access.len(), 1000);
        assert!(obs.access.iter().all(|r| window.contains(r.time)));
        let by = |p: &str| {
            obs.access
                .iter()
                .filter(|r| obs.names.name(r.proxy) == p)
                .count()
        };
        assert_eq!(by("ingress"), 600);
        assert_eq!(by("edge"), 400);
    }

    #[test]
    fn a_window_outside_the_file_reads_nothing_and_a_missing_dir_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = File::create(dir.path().join("access.log")).unwrap();
        for s in 0..5000 {
            f.write_all(envoy_line(1_700_000_000 + s).as_bytes())
                .unwrap();
        }
        let later = CollectWindow {
            start: 1_800_000_000_000_000,
            end: 1_800_000_600_000_000,
        };
        let pulled = read_dir_window(dir.path(), &later, "ingress").unwrap();
        assert!(pulled.obs.access.is_empty());
        let err = read_dir_window(&dir.path().join("nope"), &later, "ingress").unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
