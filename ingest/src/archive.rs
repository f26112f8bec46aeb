//! Fixture archives: a fixture directory as one gzipped tar file
//! (`<name>.tar.gz`), the form a recorded incident is kept and downloaded in.
//! Its entries sit under one top directory, so `tar xzf` gives a fixture
//! directory; [`load_fixture`](crate::load_fixture) reads an archive as it
//! reads a directory.
//!
//! Unpacking trusts nothing in the archive: only plain files and
//! directories, with plain relative names at most [`MAX_DEPTH`] deep, up to
//! [`MAX_UNPACKED`] bytes in all; anything else is an error naming the entry.

use std::io;
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::error::IngestError;

/// The deepest entry a fixture has: `top/goroutines/<component>/<dump>`.
pub const MAX_DEPTH: usize = 4;

/// Bytes an archive may unpack to: a guard against a decompression bomb,
/// above any fixture rca writes (ten million spans are about 3.5 GB).
pub const MAX_UNPACKED: u64 = 16 << 30;

/// Whether `path` names a fixture archive (by its name: `.tar.gz`, `.tgz`).
pub fn is_archive(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// Packs the files under `dir` into `out` as a gzipped tar, each under
/// `top/`, in name order (so the same directory packs to the same bytes).
/// Returns the archive's size. `level` is gzip's (1 fastest, 9 smallest).
pub fn pack(dir: &Path, top: &str, out: &Path, level: u32) -> io::Result<u64> {
    let file = std::fs::File::create(out)?;
    let gz = GzEncoder::new(
        io::BufWriter::with_capacity(1 << 16, file),
        Compression::new(level),
    );
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    let mut files = Vec::new();
    list(dir, Path::new(""), &mut files)?;
    files.sort();
    for rel in files {
        let name = Path::new(top).join(&rel);
        tar.append_path_with_name(dir.join(&rel), name)?;
    }
    let gz = tar.into_inner()?;
    let buffered = gz.finish()?;
    let file = buffered
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    Ok(file.metadata()?.len())
}

/// The plain files under `dir/rel`, relative to `dir`.
fn list(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir.join(rel))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let name = rel.join(entry.file_name());
        if kind.is_dir() {
            list(dir, &name, out)?;
        } else if kind.is_file() {
            out.push(name);
        }
    }
    Ok(())
}

/// Unpacks the fixture archive `archive` into the directory `into` (which
/// should be empty) and returns the fixture directory: the archive's one top
/// directory, or `into` itself when its files sit at the top.
pub fn unpack(archive: &Path, into: &Path) -> Result<PathBuf, IngestError> {
    let io_err = |source| IngestError::Io {
        path: archive.to_path_buf(),
        source,
    };
    let bad = |what: String| IngestError::malformed(archive, what);
    let file = std::fs::File::open(archive).map_err(io_err)?;
    let mut tar = tar::Archive::new(GzDecoder::new(io::BufReader::new(file)));
    let mut tops: Vec<String> = Vec::new();
    let mut top_files = false;
    let mut total = 0u64;
    let entries = tar
        .entries()
        .map_err(|e| bad(format!("not a gzipped tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("cut short or not a tar archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("an entry's name is unreadable: {e}")))?
            .into_owned();
        let shown = path.display().to_string();
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            return Err(bad(format!(
                "entry {shown:?} is not a plain file or directory"
            )));
        }
        // `./x` is `x`; anything but plain names (`..`, `/`, a prefix) is refused.
        let parts: Vec<&std::ffi::OsStr> = path
            .components()
            .filter(|c| *c != Component::CurDir)
            .map(|c| match c {
                Component::Normal(p) => Ok(p),
                _ => Err(bad(format!("entry {shown:?} is not a plain relative name"))),
            })
            .collect::<Result<_, _>>()?;
        if parts.is_empty() {
            continue;
        }
        if parts.len() > MAX_DEPTH {
            return Err(bad(format!(
                "entry {shown:?} is deeper than a fixture's files ({MAX_DEPTH} levels)"
            )));
        }
        if kind.is_file() {
            total = total.saturating_add(entry.header().size().unwrap_or(u64::MAX));
            if total > MAX_UNPACKED {
                return Err(bad(format!(
                    "unpacks to more than {MAX_UNPACKED} bytes: not a fixture"
                )));
            }
            if parts.len() == 1 {
                top_files = true;
            }
        }
        let top = parts[0].to_string_lossy().into_owned();
        if (parts.len() > 1 || kind.is_dir()) && !tops.contains(&top) {
            tops.push(top);
        }
        let target: PathBuf = parts.iter().collect();
        let dest = into.join(&target);
        if kind.is_dir() {
            std::fs::create_dir_all(&dest).map_err(io_err)?;
            continue;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io_err)?;
        }
        let mut out = std::fs::File::create(&dest).map_err(io_err)?;
        io::copy(&mut entry, &mut out)
            .map_err(|e| bad(format!("entry {shown:?} is cut short or unreadable: {e}")))?;
    }
    match (tops.as_slice(), top_files) {
        ([], false) => Err(bad("holds no files".to_string())),
        ([top], false) => Ok(into.join(top)),
        _ => Ok(into.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_directory_unpacks_to_the_same_files() {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("alert.json"), b"{}").unwrap();
        std::fs::create_dir_all(src.path().join("goroutines/orders")).unwrap();
        std::fs::write(
            src.path().join("goroutines/orders/1-0000.dump"),
            b"goroutine 1",
        )
        .unwrap();
        let out = tempfile::tempdir().unwrap();
        let archive = out.path().join("x.tar.gz");
        let bytes = pack(src.path(), "abc", &archive, 6).unwrap();
        assert!(bytes > 0 && is_archive(&archive));
        let into = tempfile::tempdir().unwrap();
        let dir = unpack(&archive, into.path()).unwrap();
        assert_eq!(dir, into.path().join("abc"));
        assert_eq!(std::fs::read(dir.join("alert.json")).unwrap(), b"{}");
        assert_eq!(
            std::fs::read(dir.join("goroutines/orders/1-0000.dump")).unwrap(),
            b"goroutine 1"
        );
        // The same directory packs to the same bytes.
        let again = out.path().join("y.tar.gz");
        pack(src.path(), "abc", &again, 6).unwrap();
        assert_eq!(
            std::fs::read(&archive).unwrap(),
            std::fs::read(&again).unwrap()
        );
    }

    fn archive_with(entries: &[(&str, tar::EntryType, &[u8])]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.tar.gz");
        let gz = GzEncoder::new(std::fs::File::create(&path).unwrap(), Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, kind, body) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            // Written raw, so names `set_path` would refuse get in.
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            tar.append(&h, *body).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        (dir, path)
    }

    #[test]
    fn unpacking_refuses_what_a_fixture_never_holds() {
        let cases: [(&str, tar::EntryType, &str); 4] = [
            (
                "../escape.json",
                tar::EntryType::Regular,
                "plain relative name",
            ),
            (
                "/etc/x.json",
                tar::EntryType::Regular,
                "plain relative name",
            ),
            ("top/link", tar::EntryType::Symlink, "not a plain file"),
            ("a/b/c/d/e.json", tar::EntryType::Regular, "deeper"),
        ];
        for (name, kind, want) in cases {
            let (_keep, archive) = archive_with(&[(name, kind, b"{}")]);
            let into = tempfile::tempdir().unwrap();
            let err = unpack(&archive, into.path()).unwrap_err().to_string();
            assert!(err.contains(want), "{name}: {err}");
            assert!(!into.path().parent().unwrap().join("escape.json").exists());
        }
        let dir = tempfile::tempdir().unwrap();
        let cut = dir.path().join("cut.tar.gz");
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("traces.json"), vec![b'x'; 100_000]).unwrap();
        pack(src.path(), "t", &cut, 1).unwrap();
        let bytes = std::fs::read(&cut).unwrap();
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let into = tempfile::tempdir().unwrap();
        let err = unpack(&cut, into.path()).unwrap_err().to_string();
        assert!(err.contains("cut short"), "{err}");
    }
}
