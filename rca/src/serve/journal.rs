//! Accepted alerts on disk until their incident is stored: a webhook answered
//! 202 is a promise, and a restart (a deploy, a crash, a shutdown during the
//! settle wait) must not break it. Each alert is one file,
//! `DATA_DIR/pending/ALERT_ID.json` naming the investigation it belongs to,
//! written (to a temporary name, then renamed) before the 202 goes out and
//! removed once that investigation is stored or has failed for good; at start
//! every file left is queued again, one investigation per investigation id.

use std::io;
use std::path::{Path, PathBuf};

use ingest::Alert;
use serde::{Deserialize, Serialize};
use tracing::warn;

/// The pending alerts of one data directory.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
}

/// One accepted alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The alert's own id (`graph::alert_incident_id`).
    pub id: String,
    /// The investigation it opened or joined; absent in files written before
    /// alerts were grouped, where it is `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investigation: Option<String>,
    pub alert: Alert,
}

impl Entry {
    pub fn investigation(&self) -> &str {
        self.investigation.as_deref().unwrap_or(&self.id)
    }
}

impl Journal {
    /// Opens (creating it) `data_dir/pending`.
    pub fn open(data_dir: &Path) -> io::Result<Journal> {
        let dir = data_dir.join("pending");
        std::fs::create_dir_all(&dir).map_err(|e| annotate(&dir, e))?;
        Ok(Journal { dir })
    }

    fn path(&self, id: &str) -> io::Result<PathBuf> {
        // Ids are the engine's hex digests; anything else never names a file.
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("incident id {id:?} is not a file name"),
            ));
        }
        Ok(self.dir.join(format!("{id}.json")))
    }

    /// Records `alert` (of id `id`, in `investigation`) as accepted,
    /// durably, before the webhook answers.
    pub fn record(&self, id: &str, investigation: &str, alert: &Alert) -> io::Result<()> {
        let path = self.path(id)?;
        self.path(investigation)?;
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(&Entry {
            id: id.to_string(),
            investigation: (investigation != id).then(|| investigation.to_string()),
            alert: alert.clone(),
        })?;
        let write = || -> io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| annotate(&path, e))
    }

    /// Forgets alert `id`: its investigation is stored, or failed for good.
    pub fn done(&self, id: &str) {
        let Ok(path) = self.path(id) else { return };
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => warn!(path = %path.display(), error = %e, "pending alert not removed"),
        }
    }

    /// Every alert still pending, oldest file first. A file that cannot be
    /// read is renamed `*.unreadable` (kept for whoever looks, never retried)
    /// and reported in the log.
    pub fn pending(&self) -> Vec<Entry> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let t = std::fs::metadata(&p)
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (t, p)
            })
            .collect();
        files.sort();
        let mut out = Vec::with_capacity(files.len());
        for (_, path) in files {
            let read = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Entry>(&b).map_err(|e| e.to_string()));
            match read {
                Ok(entry)
                    if self.path(&entry.id).ok().as_deref() == Some(path.as_path())
                        && self.path(entry.investigation()).is_ok() =>
                {
                    out.push(entry)
                }
                Ok(entry) => {
                    warn!(path = %path.display(), id = %entry.id, "pending alert's id does not match its file; left alone")
                }
                Err(reason) => {
                    warn!(path = %path.display(), %reason, "pending alert unreadable; renamed *.unreadable");
                    let _ = std::fs::rename(&path, path.with_extension("unreadable"));
                }
            }
        }
        out
    }
}

fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(fp: &str) -> Alert {
        serde_json::from_value(serde_json::json!({
            "status": "firing", "labels": {"alertname": "A"}, "annotations": {},
            "startsAt": "2026-11-26T08:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": fp
        }))
        .unwrap()
    }

    #[test]
    fn recorded_alerts_survive_until_done_and_bad_files_are_set_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let j = Journal::open(tmp.path()).unwrap();
        j.record("aa01", "aa01", &alert("f1")).unwrap();
        j.record("bb02", "aa01", &alert("f2")).unwrap();
        std::fs::write(tmp.path().join("pending/cc03.json"), b"{\"id\": \"cc0").unwrap();
        let again = Journal::open(tmp.path()).unwrap();
        let pending = again.pending();
        let ids: Vec<&str> = pending.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert!(ids.contains(&"aa01") && ids.contains(&"bb02"), "{ids:?}");
        let first = pending.iter().find(|e| e.id == "aa01").unwrap();
        assert_eq!(first.alert, alert("f1"));
        assert_eq!(first.investigation(), "aa01");
        let joined = pending.iter().find(|e| e.id == "bb02").unwrap();
        assert_eq!(
            joined.investigation(),
            "aa01",
            "the alert that joined names its investigation"
        );
        assert!(tmp.path().join("pending/cc03.unreadable").exists());
        again.done("aa01");
        again.done("aa01"); // twice is fine
        assert_eq!(again.pending().len(), 1);
    }

    #[test]
    fn ids_that_are_not_plain_names_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let j = Journal::open(tmp.path()).unwrap();
        let e = j.record("../etc", "../etc", &alert("f")).unwrap_err();
        assert!(e.to_string().contains("not a file name"), "{e}");
        let e = j.record("aa01", "../etc", &alert("f")).unwrap_err();
        assert!(e.to_string().contains("not a file name"), "{e}");
    }
}
