//! Recorded goroutine dumps: a directory of them, one subdirectory per
//! component. (Live dumps come from `collect::PprofSource`.)

use std::path::{Path, PathBuf};

use super::{read_goroutine_dump, Dump};
use crate::error::IngestError;
use crate::model::Micros;

/// A dump and when it was taken, if known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedDump {
    pub at: Option<Micros>,
    /// The file or URL it came from.
    pub from: PathBuf,
    pub dump: Dump,
    /// The dump as it came (file or answer body), for a recording to keep.
    pub bytes: std::sync::Arc<[u8]>,
}

/// Gives the goroutine dumps of the components it knows.
pub trait GoroutineSource {
    /// The components it has dumps of (or an endpoint for), sorted.
    fn components(&self) -> Vec<String>;
    /// The dumps of `component`, oldest first: for a live source, one taken now.
    fn dumps(&self, component: &str) -> Result<Vec<TimedDump>, IngestError>;
}

/// Recorded dumps: `DIR/<component>/<file>`, any of the three formats per
/// file. A file name starting with digits (`1767261600.txt`) was taken at that
/// Unix second; others have no time and are ordered by name.
#[derive(Clone, Debug)]
pub struct DirGoroutineSource {
    pub dir: PathBuf,
}

impl GoroutineSource for DirGoroutineSource {
    fn components(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        out.sort();
        out
    }

    fn dumps(&self, component: &str) -> Result<Vec<TimedDump>, IngestError> {
        read_dump_dir(&self.dir.join(component))
    }
}

/// Reads every dump in `dir` (one component's), oldest first.
pub fn read_dump_dir(dir: &Path) -> Result<Vec<TimedDump>, IngestError> {
    let io = |source| IngestError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<(Option<Micros>, String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
        let at = match digits.parse::<i64>() {
            // A Unix second, not a sequence number.
            Ok(s) if digits.len() >= 9 => s.checked_mul(1_000_000),
            _ => None,
        };
        files.push((at, name, entry.path()));
    }
    files.sort();
    files
        .into_iter()
        .map(|(at, _, path)| {
            let bytes = std::fs::read(&path).map_err(|source| IngestError::Io {
                path: path.clone(),
                source,
            })?;
            let dump = read_goroutine_dump(&path, &bytes)?;
            Ok(TimedDump {
                at,
                from: path,
                dump,
                bytes: bytes.into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/goleaks/chan_send/dumps")
    }

    #[test]
    fn a_dump_dir_gives_each_component_its_dumps_with_their_times() {
        let dir = tempfile::tempdir().unwrap();
        let comp = dir.path().join("orders");
        std::fs::create_dir(&comp).unwrap();
        let bytes = std::fs::read(recorded().join("2.debug2.txt")).unwrap();
        std::fs::write(comp.join("1767261600.txt"), &bytes).unwrap();
        std::fs::write(comp.join("first.txt"), &bytes).unwrap();
        let from_dir = DirGoroutineSource {
            dir: dir.path().to_path_buf(),
        };
        assert_eq!(from_dir.components(), vec!["orders".to_string()]);
        let dumps = from_dir.dumps("orders").unwrap();
        assert_eq!(dumps.len(), 2);
        assert_eq!(dumps[0].at, None, "untimed files first");
        assert_eq!(dumps[1].at, Some(1_767_261_600_000_000));
        assert_eq!(
            dumps[1].dump,
            read_goroutine_dump(&comp.join("first.txt"), &bytes).unwrap()
        );
    }
}
