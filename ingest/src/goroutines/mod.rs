//! Goroutine dumps: what a Go program's `/debug/pprof/goroutine` answers, in
//! any of its three formats, and what its `/debug/pprof/goroutineleak`
//! answers, read into one model ([`Dump`]).
//!
//! | format | what it holds | reader |
//! | --- | --- | --- |
//! | `debug=2` | every goroutine: id, wait reason, minutes waited, all frames, and who created it (`created by F in goroutine N`, or `created by F` before Go 1.21) | `text` |
//! | `debug=1` | goroutines grouped by identical stack, with a count; runtime frames above the first other frame hidden, no wait reason, no creator | `text` |
//! | `debug=0` | the same groups as a gzipped `profile.proto` (pprof); frames with inlining; pprof labels but no wait reason | `pprof` |
//!
//! The goroutine-leak profile (Go 1.26 on, in a program built with
//! `GOEXPERIMENT=goroutineleakprofile`) runs a garbage collection that finds
//! the goroutines blocked on channels or locks that nothing reachable can
//! ever wake, and lists only those, in the same `debug=1` text (headed
//! `goroutineleak profile: total N`) and `debug=0` protobuf (sample type
//! `goroutineleak`): leaks the runtime proved ([`DumpKind::ProvedLeaks`]).
//! Its `debug=2` is the full dump of every goroutine, the proved ones marked
//! `[chan send (leaked)]`; every later `debug=2` dump of that program keeps
//! the marks (until the next such collection), and the runtime prints no
//! wait minutes for a marked goroutine. A mark sets [`Goroutine::leaked`].
//!
//! [`read_goroutine_dump`] tells the formats and profiles apart from the
//! content. What a format does not carry is left empty (`None`, an empty
//! state), never made up: the analysis says what is known.
//!
//! A [`GoroutineSource`] gives the dumps of a component: [`DirGoroutineSource`]
//! from a fixture directory. Live dumps come from each component's pprof
//! endpoint through [`crate::collect::PprofSource`].

mod pprof;
mod source;
mod text;

use std::path::Path;

use crate::error::IngestError;

pub use source::{read_dump_dir, DirGoroutineSource, GoroutineSource, TimedDump};

/// One stack frame.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frame {
    /// The function as Go names it: `main.lookup.func1`, `net/http.(*conn).serve`.
    pub function: String,
    pub file: String,
    pub line: u32,
}

impl Frame {
    /// `function (file:line)`, the way sites are named in reports.
    pub fn site(&self) -> String {
        format!("{} ({}:{})", self.function, self.file, self.line)
    }
}

/// One goroutine (`debug=2`) or a group of goroutines with the same stack
/// (`debug=1`, `debug=0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Goroutine {
    /// The goroutine's id; `None` in the grouped formats.
    pub id: Option<u64>,
    /// The runtime's state or wait reason (`chan send`, `select`, `IO wait`,
    /// `running`); empty when the format does not say.
    pub state: String,
    /// Minutes it has been waiting, when the runtime printed it (only from
    /// one minute on, and only after a garbage collection has stamped it).
    pub wait_minutes: Option<u32>,
    /// Innermost first.
    pub frames: Vec<Frame>,
    /// The `go` statement that started it, when the format says.
    pub created_by: Option<Frame>,
    /// The goroutine that ran that `go` statement (Go 1.21 on, `debug=2`).
    pub creator_id: Option<u64>,
    /// How many goroutines this entry stands for: 1 in `debug=2`.
    pub count: u64,
    /// The runtime proved it leaked: every entry of a goroutine-leak
    /// profile, and in a `debug=2` dump one marked `(leaked)`.
    pub leaked: bool,
}

/// Which of the three formats a dump came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpFormat {
    /// `debug=2`: one entry per goroutine, with wait reasons and creators.
    Full,
    /// `debug=1`: grouped by stack, runtime frames hidden.
    Grouped,
    /// `debug=0`: gzipped pprof protobuf, grouped by stack.
    Proto,
}

impl DumpFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            DumpFormat::Full => "debug=2",
            DumpFormat::Grouped => "debug=1",
            DumpFormat::Proto => "debug=0",
        }
    }
}

/// Which profile a dump is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpKind {
    /// `/debug/pprof/goroutine` (and `goroutineleak?debug=2`): every
    /// goroutine of the program.
    Goroutines,
    /// `/debug/pprof/goroutineleak` as `debug=1` or `debug=0`: only the
    /// goroutines the runtime proved leaked (none: it proved no leak).
    ProvedLeaks,
}

/// One goroutine dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dump {
    pub format: DumpFormat,
    pub kind: DumpKind,
    /// Goroutines in the program when the dump was taken; in a leak profile,
    /// the goroutines it lists.
    pub total: u64,
    pub goroutines: Vec<Goroutine>,
}

impl Dump {
    /// Whether it carries the runtime's leak proof: a leak profile (which may
    /// prove that nothing leaked), or a full dump with goroutines marked
    /// `(leaked)`. A full dump without marks says nothing either way: the
    /// program may never have been asked for its leak profile.
    pub fn proves(&self) -> bool {
        self.kind == DumpKind::ProvedLeaks || self.goroutines.iter().any(|g| g.leaked)
    }
}

/// How many bytes a gzipped dump may inflate to: a guard against a
/// decompression bomb, far above any real dump (100,000 goroutines of
/// `debug=2` are about 150 MB).
const MAX_INFLATED: u64 = 1 << 30;

/// Reads a goroutine dump in any of the three formats, or a goroutine-leak
/// profile, told apart by content: gzip (or a raw protobuf) is `debug=0` (its
/// sample type says which profile), `goroutine profile: total N` starts
/// `debug=1`, `goroutineleak profile: total N` a leak profile's `debug=1`,
/// `goroutine N [` starts `debug=2`. A gzipped text dump is read as its text.
pub fn read_goroutine_dump(path: &Path, bytes: &[u8]) -> Result<Dump, IngestError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let inflated = gunzip(path, bytes)?;
        return match text_kind(&inflated) {
            Some(_) => read_text(path, &inflated),
            None => pprof::read_pprof(path, &inflated),
        };
    }
    match text_kind(bytes) {
        Some(_) => read_text(path, bytes),
        None if bytes.iter().any(|b| *b == 0 || *b >= 0x80) => pprof::read_pprof(path, bytes),
        None => Err(IngestError::malformed(
            path,
            "not a goroutine dump: expected `goroutine N [state]:` (debug=2), \
             `goroutine profile: total N` or `goroutineleak profile: total N` (debug=1) \
             or a gzipped profile (debug=0)",
        )),
    }
}

fn read_text(path: &Path, bytes: &[u8]) -> Result<Dump, IngestError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| IngestError::malformed(path, format!("not UTF-8 text: {e}")))?;
    match text_kind(bytes) {
        Some((DumpFormat::Grouped, kind)) => text::read_grouped(path, text, kind),
        _ => text::read_full(path, text),
    }
}

/// The format and profile of a text dump, from its first line.
fn text_kind(bytes: &[u8]) -> Option<(DumpFormat, DumpKind)> {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&[][..], |i| &bytes[i..]);
    if start.starts_with(b"goroutine profile:") {
        Some((DumpFormat::Grouped, DumpKind::Goroutines))
    } else if start.starts_with(b"goroutineleak profile:") {
        Some((DumpFormat::Grouped, DumpKind::ProvedLeaks))
    } else if start.starts_with(b"goroutine ") {
        Some((DumpFormat::Full, DumpKind::Goroutines))
    } else {
        None
    }
}

fn gunzip(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, IngestError> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut out)
        .map_err(|e| IngestError::malformed(path, format!("bad gzip data: {e}")))?;
    if out.len() as u64 > MAX_INFLATED {
        return Err(IngestError::malformed(
            path,
            format!("inflates to more than {MAX_INFLATED} bytes"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixture(case: &str, file: &str) -> (std::path::PathBuf, Vec<u8>) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/goleaks")
            .join(case)
            .join("dumps")
            .join(file);
        let bytes = std::fs::read(&path).unwrap();
        (path, bytes)
    }

    #[test]
    fn the_three_formats_of_one_program_agree_on_its_goroutines() {
        let mut totals = Vec::new();
        for file in ["2.debug2.txt", "2.debug1.txt", "2.debug0.pb.gz"] {
            let (path, bytes) = fixture("chan_send", file);
            let dump = read_goroutine_dump(&path, &bytes).unwrap();
            let at_site: u64 = dump
                .goroutines
                .iter()
                .filter(|g| g.frames.iter().any(|f| f.function == "main.lookup.func1"))
                .map(|g| g.count)
                .sum();
            let counted: u64 = dump.goroutines.iter().map(|g| g.count).sum();
            assert!(at_site >= 100, "{file}: {at_site} at the leaking site");
            // Each format counts every goroutine once (the dump's own header
            // may be off by the goroutine serving the request).
            assert!(
                counted.abs_diff(dump.total) <= 1,
                "{file}: {counted} vs {}",
                dump.total
            );
            totals.push(at_site);
        }
        assert!(totals.windows(2).all(|w| w[0] == w[1]), "{totals:?}");
    }

    /// Goroutines of `dump` whose frames reach `function`, counted.
    fn at(dump: &Dump, function: &str) -> u64 {
        dump.goroutines
            .iter()
            .filter(|g| g.frames.iter().any(|f| f.function == function))
            .map(|g| g.count)
            .sum()
    }

    #[test]
    fn the_leak_profile_in_both_forms_proves_the_stuck_senders() {
        let mut counts = Vec::new();
        for file in ["2.leak.debug1.txt", "2.leak.debug0.pb.gz"] {
            let (path, bytes) = fixture("chan_send", file);
            let dump = read_goroutine_dump(&path, &bytes).unwrap();
            assert_eq!(dump.kind, DumpKind::ProvedLeaks, "{file}");
            assert!(dump.proves());
            assert!(dump.goroutines.iter().all(|g| g.leaked), "{file}");
            let listed: u64 = dump.goroutines.iter().map(|g| g.count).sum();
            assert_eq!(
                listed, dump.total,
                "{file}: the header counts what it lists"
            );
            // The driver made 200 calls, each leaving one sender, and nothing else leaks.
            assert_eq!(at(&dump, "main.lookup.func1"), 200, "{file}");
            assert_eq!(listed, 200, "{file}");
            counts.push(dump.total);
        }
        assert_eq!(counts[0], counts[1]);
        // debug=0 keeps the runtime's frames: what they wait in shows.
        let (path, bytes) = fixture("chan_send", "2.leak.debug0.pb.gz");
        let dump = read_goroutine_dump(&path, &bytes).unwrap();
        assert_eq!(dump.format, DumpFormat::Proto);
        assert!(dump.goroutines[0]
            .frames
            .iter()
            .any(|f| f.function == "runtime.chansend1"));
    }

    #[test]
    fn the_healthy_servers_leak_profile_lists_nothing_in_both_forms() {
        for file in [
            "1.leak.debug1.txt",
            "2.leak.debug1.txt",
            "1.leak.debug0.pb.gz",
            "2.leak.debug0.pb.gz",
        ] {
            let (path, bytes) = fixture("healthy", file);
            let dump = read_goroutine_dump(&path, &bytes).unwrap();
            assert_eq!(dump.kind, DumpKind::ProvedLeaks, "{file}");
            assert_eq!((dump.total, dump.goroutines.len()), (0, 0), "{file}");
            // Still a proof: that nothing leaked.
            assert!(dump.proves());
        }
    }

    #[test]
    fn a_full_dump_after_a_leak_profile_marks_what_it_proved() {
        let (path, bytes) = fixture("chan_send", "2.leak.debug2.txt");
        let marked = read_goroutine_dump(&path, &bytes).unwrap();
        assert_eq!(
            (marked.format, marked.kind),
            (DumpFormat::Full, DumpKind::Goroutines)
        );
        assert!(marked.proves());
        let leaked: Vec<&Goroutine> = marked.goroutines.iter().filter(|g| g.leaked).collect();
        assert_eq!(leaked.len(), 200);
        for g in &leaked {
            // The mark is not part of the wait reason, and hides the minutes.
            assert_eq!(g.state, "chan send");
            assert_eq!(g.wait_minutes, None);
            assert_eq!(g.frames[0].function, "main.lookup.func1");
        }
        // The program's own goroutines are all there, unmarked.
        assert!(marked
            .goroutines
            .iter()
            .any(|g| !g.leaked && g.state == "IO wait"));
        // A program nobody asked for its leak profile shows no marks.
        let (path, bytes) = fixture("chan_send", "2.debug2.txt");
        let plain = read_goroutine_dump(&path, &bytes).unwrap();
        assert!(!plain.proves());
        assert!(plain
            .goroutines
            .iter()
            .any(|g| g.state == "chan send" && g.wait_minutes == Some(1)));
    }

    #[test]
    fn a_leak_profile_with_a_bad_header_names_the_line() {
        let err = read_goroutine_dump(Path::new("l.txt"), b"goroutineleak profile: total many\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "l.txt:1: expected `goroutineleak profile: total N`"
        );
        let cut = "goroutineleak profile: total 2\n2 @ 0x1\n#\t0x1\n";
        let err = read_goroutine_dump(Path::new("l.txt"), cut.as_bytes()).unwrap_err();
        assert!(err.to_string().starts_with("l.txt:3: expected `#"), "{err}");
    }

    #[test]
    fn a_gzipped_text_dump_is_read_as_text() {
        let (path, bytes) = fixture("chan_send", "1.debug2.txt");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &bytes).unwrap();
        let zipped = gz.finish().unwrap();
        let a = read_goroutine_dump(&path, &bytes).unwrap();
        let b = read_goroutine_dump(&path, &zipped).unwrap();
        assert_eq!(a, b);
        assert_eq!(b.format, DumpFormat::Full);
    }

    #[test]
    fn text_that_is_no_dump_is_an_error_naming_the_file() {
        let err = read_goroutine_dump(Path::new("x.txt"), b"hello world\n").unwrap_err();
        assert!(
            err.to_string().starts_with("x.txt: not a goroutine dump"),
            "{err}"
        );
        let err = read_goroutine_dump(Path::new("y.pb.gz"), &[0x1f, 0x8b, 1, 2]).unwrap_err();
        assert!(err.to_string().contains("bad gzip data"), "{err}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_goroutine_dump(Path::new("p"), &bytes);
        }

        #[test]
        fn any_cut_of_a_real_dump_never_panics(cut in 0usize..20_000, which in 0usize..6) {
            let file = [
                "1.debug2.txt",
                "1.debug1.txt",
                "1.debug0.pb.gz",
                "1.leak.debug2.txt",
                "1.leak.debug1.txt",
                "1.leak.debug0.pb.gz",
            ][which];
            let (path, bytes) = fixture("select_no_exit", file);
            let cut = cut.min(bytes.len());
            let _ = read_goroutine_dump(&path, &bytes[..cut]);
        }

        #[test]
        fn text_dumps_with_mangled_lines_never_panic(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("goroutine 7 [chan send, 3 minutes]:".to_string()),
                    Just("goroutine profile: total 3".to_string()),
                    Just("goroutineleak profile: total 3".to_string()),
                    Just("goroutine 9 [select (leaked)]:".to_string()),
                    Just("main.f(0x1, {0x2})".to_string()),
                    Just("\t/a/b.go:12 +0x1d".to_string()),
                    Just("created by main.g in goroutine 1".to_string()),
                    Just("3 @ 0x1 0x2".to_string()),
                    Just("#\t0x1\tmain.f+0x1\t/a/b.go:9".to_string()),
                    "[ -~\t]{0,40}",
                ],
                0..30,
            )
        ) {
            let text = lines.join("\n");
            let _ = read_goroutine_dump(Path::new("t"), text.as_bytes());
        }
    }
}
