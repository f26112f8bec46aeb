//! Reading big input files fast, for [`load_fixture`](crate::load_fixture).
//!
//! Three costs dominate reading a file of hundreds of megabytes on a small
//! machine, besides parsing it, each measured on the 2-core benchmark
//! machine for a 589 MB file already in the page cache:
//!
//! - the kernel's copy into our memory: 0.10 s when the destination address
//!   and the file offset agree modulo 64 bytes, 0.39 s when they do not (the
//!   CPU's string copy is slow when source and destination are misaligned to
//!   each other), and `malloc` aligns big blocks to 16 bytes only. So a whole
//!   file is read to a page boundary ([`PageBuf`]), and a chunk to an address
//!   that agrees with its file offset.
//! - the page faults of memory touched for the first time: another 0.3 s, as
//!   much as the copy. So a file of lines (an access log) is never held whole:
//!   it is cut into chunks of about [`CHUNK`] bytes just after a newline
//!   ([`LineChunks`]), which any thread may read, with positioned reads, into
//!   a buffer of its own reused from chunk to chunk, and parse on its own.
//! - a file that must be parsed as one text (JSON) cannot avoid the faults, so
//!   it is read by several threads at once, each into its own part of one
//!   buffer, faults included ([`read_whole`]).
//!
//! Only `std` positioned reads (`FileExt::read_at`); no memory mapping.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

/// The size a line-oriented file is cut at: small enough that a chunk just
/// read is still in the CPU's cache when it is parsed, large enough that the
/// per-chunk costs (a name table, a merge) do not show.
pub(crate) const CHUNK: u64 = 4 << 20;

/// Below this many bytes in all, whole files are read by one thread.
const PARALLEL_READ_MIN: u64 = 16 << 20;

/// How much of a file one thread reads at a time when several share it.
const READ_PIECE: usize = 32 << 20;

const PAGE: usize = 4096;

/// The offset in `buf` of its first byte on a page boundary.
fn page_start(buf: &[u8]) -> usize {
    buf.as_ptr().align_offset(PAGE).min(PAGE)
}

/// Bytes that start on a page boundary (see the module's notes).
pub(crate) struct PageBuf {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl PageBuf {
    /// `len` zero bytes. Zeroed memory this big comes from the kernel
    /// untouched: each page is faulted in by the thread that first writes it.
    fn zeroed(len: usize) -> PageBuf {
        let buf = vec![0; len.saturating_add(PAGE)];
        let start = page_start(&buf);
        PageBuf { buf, start, len }
    }

    fn from_vec(buf: Vec<u8>) -> PageBuf {
        let len = buf.len();
        PageBuf { buf, start: 0, len }
    }

    pub fn bytes(&self) -> &[u8] {
        self.buf
            .get(self.start..self.start + self.len)
            .unwrap_or_default()
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        self.buf
            .get_mut(self.start..self.start + self.len)
            .unwrap_or_default()
    }
}

/// Reads `buf.len()` bytes at `offset`, or fewer at the end of the file;
/// returns how many were read.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let Some(rest) = buf.get_mut(done..) else {
            break;
        };
        match file.read_at(rest, offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Reads whole files, by up to `threads` threads at once when they are big
/// enough to be worth it. The files come back in the order given.
pub(crate) fn read_whole(paths: &[&Path], threads: usize) -> Vec<io::Result<PageBuf>> {
    let opened: Vec<io::Result<(File, PageBuf)>> = paths
        .iter()
        .map(|path| {
            let file = File::open(path)?;
            let len = usize::try_from(file.metadata()?.len())
                .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
            Ok((file, PageBuf::zeroed(len)))
        })
        .collect();
    let total: u64 = opened.iter().flatten().map(|(_, b)| b.len as u64).sum();
    let threads = if total >= PARALLEL_READ_MIN {
        threads.max(1)
    } else {
        1
    };

    let mut opened = opened;
    // Every piece of every file, handed out one at a time; (file, wanted, read).
    let outcomes: Mutex<Vec<(usize, usize, io::Result<usize>)>> = Mutex::new(Vec::new());
    {
        let mut pieces: Vec<(usize, &File, u64, &mut [u8])> = Vec::new();
        for (i, o) in opened.iter_mut().enumerate() {
            if let Ok((file, buf)) = o {
                let file = &*file;
                for (k, piece) in buf.bytes_mut().chunks_mut(READ_PIECE).enumerate() {
                    pieces.push((i, file, (k * READ_PIECE) as u64, piece));
                }
            }
        }
        let queue = Mutex::new(pieces.into_iter());
        let work = || loop {
            let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
            let Some((i, file, offset, piece)) = next else {
                break;
            };
            let read = read_full_at(file, piece, offset);
            if let Ok(mut o) = outcomes.lock() {
                o.push((i, piece.len(), read));
            }
        };
        std::thread::scope(|scope| {
            for _ in 1..threads {
                scope.spawn(work);
            }
            work();
        });
    }

    let mut outcomes = outcomes.into_inner().unwrap_or_default();
    opened
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let (mut file, buf) = o?;
            let mut short = false;
            for (_, wanted, read) in outcomes.iter_mut().filter(|(f, _, _)| *f == i) {
                match read {
                    Ok(n) => short |= *n < *wanted,
                    Err(e) => return Err(io::Error::new(e.kind(), e.to_string())),
                }
            }
            // The file shrank or grew as we read it: read it again, simply.
            let mut probe = [0u8; 1];
            if short || read_full_at(&file, &mut probe, buf.len as u64)? > 0 {
                file.rewind()?;
                let mut all = Vec::new();
                file.read_to_end(&mut all)?;
                return Ok(PageBuf::from_vec(all));
            }
            Ok(buf)
        })
        .collect()
}

/// A file of lines cut into chunks that can be read and parsed independently.
///
/// Chunk `i` holds the lines that start in bytes `[i * CHUNK, (i + 1) *
/// CHUNK)` of the file: every line is in exactly one chunk, whole, and only
/// the chunk with the file's last line can end without a newline. A chunk
/// where no line starts is empty. A leading UTF-8 byte-order mark is left out.
///
/// Something that is not a regular file (a pipe, a character device) has no
/// length to cut by: it is read whole, as one chunk.
#[derive(Debug)]
pub(crate) struct LineChunks {
    file: File,
    len: u64,
    chunk: u64,
    /// The content of what is not a regular file.
    whole: Option<Vec<u8>>,
}

impl LineChunks {
    pub fn open(path: &Path) -> io::Result<LineChunks> {
        Self::with_chunk(path, CHUNK)
    }

    fn with_chunk(path: &Path, chunk: u64) -> io::Result<LineChunks> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            let mut whole = Vec::new();
            file.read_to_end(&mut whole)?;
            let len = whole.len() as u64;
            return Ok(LineChunks {
                file,
                len,
                chunk: len.max(1),
                whole: Some(whole),
            });
        }
        Ok(LineChunks {
            file,
            len: meta.len(),
            chunk: chunk.max(1),
            whole: None,
        })
    }

    /// How many chunks there are; 0 for an empty file.
    pub fn count(&self) -> usize {
        usize::try_from(self.len.div_ceil(self.chunk)).unwrap_or(usize::MAX)
    }

    /// Reads chunk `i` into `buf` and returns the range of `buf` that holds
    /// it. `buf` is meant to be reused: its bytes are overwritten, never
    /// cleared, and the chunk is read to a page boundary in it.
    pub fn read(&self, i: usize, buf: &mut Vec<u8>) -> io::Result<Range<usize>> {
        if let Some(whole) = &self.whole {
            let lines = match i {
                0 => whole.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(whole),
                _ => &[],
            };
            buf.clear();
            buf.extend_from_slice(lines);
            return Ok(0..buf.len());
        }
        let start = self.chunk.saturating_mul(i as u64).min(self.len);
        let end = start.saturating_add(self.chunk).min(self.len);
        // From the byte before `start`: a line starts at `start` if that
        // byte is a newline.
        let from = start.saturating_sub(1);
        let want = usize::try_from(end - from).map_err(|_| io::ErrorKind::OutOfMemory)?;
        // Grown only, so never zeroed again once big enough.
        let room = |buf: &mut Vec<u8>, upto: usize| {
            if buf.len() < upto {
                buf.resize(upto, 0);
            }
        };
        // At an address that agrees with the file offset modulo a page.
        room(buf, want.saturating_add(2 * PAGE));
        let base = page_start(buf) + (from % PAGE as u64) as usize;
        room(buf, base + want);
        let got = read_full_at(
            &self.file,
            buf.get_mut(base..base + want).unwrap_or_default(),
            from,
        )?;
        let initial = base + got;
        // The chunk runs to just after the first newline at or after
        // `end - 1`, or to the end of the file.
        let mut stop = initial;
        let at_end = end >= self.len || got < want;
        if !at_end && buf.get(initial.wrapping_sub(1)) != Some(&b'\n') {
            const MORE: usize = 64 << 10;
            loop {
                let old = stop;
                room(buf, old + MORE);
                let tail = buf.get_mut(old..old + MORE).unwrap_or_default();
                let n = read_full_at(&self.file, tail, from + (old - base) as u64)?;
                let read = buf.get(old..old + n).unwrap_or_default();
                if let Some(nl) = memchr::memchr(b'\n', read) {
                    stop = old + nl + 1;
                    break;
                }
                stop = old + n;
                if n < MORE {
                    break;
                }
            }
        }
        // Where the first line starting at or after `start` begins: after
        // the first newline from `start - 1` on, if there is one before `end`.
        let first = if start == 0 {
            let bom = buf
                .get(base..stop)
                .is_some_and(|b| b.starts_with(b"\xEF\xBB\xBF"));
            base + if bom { 3 } else { 0 }
        } else {
            match memchr::memchr(b'\n', buf.get(base..initial).unwrap_or_default()) {
                Some(nl) => base + nl + 1,
                None => stop,
            }
        };
        Ok(first.min(stop)..stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_of(content: &[u8]) -> tempfile::NamedTempFile {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(content).unwrap();
        tmp
    }

    /// What chunk `i` of `content` must be, by the rule, found the slow way.
    fn by_rule(content: &[u8], chunk: usize, i: usize) -> &[u8] {
        let len = content.len();
        let start = (chunk * i).min(len);
        let end = (start + chunk).min(len);
        let line_start = |p: usize| p == 0 || content[p - 1] == b'\n';
        let mut a = (start..len).find(|&p| line_start(p)).unwrap_or(len);
        if start == 0 && content.starts_with(b"\xEF\xBB\xBF") {
            a = 3;
        }
        let b = if end >= len {
            len
        } else {
            (end..len).find(|&p| line_start(p)).unwrap_or(len)
        };
        &content[a.min(b)..b]
    }

    fn check(content: &[u8], chunk: u64) {
        let tmp = file_of(content);
        let lc = LineChunks::with_chunk(tmp.path(), chunk).unwrap();
        let without_bom = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content);
        let mut buf = Vec::new();
        let mut all = Vec::new();
        for i in 0..lc.count() {
            let range = lc.read(i, &mut buf).unwrap();
            let got = &buf[range];
            // Not `assert_eq!`: a chunk can be long.
            assert!(
                got == by_rule(content, chunk as usize, i),
                "chunk {i} of {chunk}"
            );
            all.extend_from_slice(got);
            // Only the file's last line can lack a newline.
            if !got.is_empty() && !got.ends_with(b"\n") {
                assert_eq!(all.len(), without_bom.len(), "chunk {i} of {chunk}");
            }
        }
        assert!(all == without_bom, "chunk size {chunk}");
    }

    #[test]
    fn chunks_hold_every_line_once_and_whole() {
        for content in [
            &b"a\nbb\n\nccc\ndddd\neeeee\nf"[..],
            b"\xEF\xBB\xBFone\ntwo\n",
            b"\n\n\n",
            b"no newline at all",
            b"x",
        ] {
            for chunk in 1..=content.len() as u64 + 1 {
                check(content, chunk);
            }
        }
        assert_eq!(LineChunks::open(file_of(b"").path()).unwrap().count(), 0);
    }

    #[test]
    fn a_line_longer_than_the_reads_past_a_chunk() {
        let mut content = b"short\n".to_vec();
        content.extend(vec![b'x'; 200 << 10]);
        content.extend_from_slice(b"\nafter\nlast");
        for chunk in [1000, 70 << 10, 300 << 10] {
            check(&content, chunk);
        }
    }

    #[test]
    fn what_is_not_a_regular_file_is_one_chunk() {
        let lc = LineChunks::open(Path::new("/dev/null")).unwrap();
        assert_eq!(lc.count(), 0);
        let lc = LineChunks {
            whole: Some(b"\xEF\xBB\xBFa\nb".to_vec()),
            ..LineChunks::with_chunk(Path::new("/dev/null"), 2).unwrap()
        };
        let mut buf = vec![7; 3];
        let range = lc.read(0, &mut buf).unwrap();
        assert_eq!(&buf[range], b"a\nb");
    }

    #[test]
    fn whole_files_big_and_small() {
        let content: Vec<u8> = (0..PARALLEL_READ_MIN as usize + READ_PIECE + 12345)
            .map(|i| (i % 251) as u8)
            .collect();
        let big = file_of(&content);
        let small = file_of(b"small");
        let missing = Path::new("/no/such/file");
        let got = read_whole(&[big.path(), missing, small.path()], 2);
        assert!(got[0].as_ref().unwrap().bytes() == content);
        assert!(got[1].is_err());
        assert_eq!(got[2].as_ref().unwrap().bytes(), b"small");
        let got = read_whole(&[small.path()], 2);
        assert_eq!(got[0].as_ref().unwrap().bytes(), b"small");
    }
}
