//! The two text formats of `/debug/pprof/goroutine`.
//!
//! `debug=2`, one block per goroutine (file lines start with a tab, shown here as spaces):
//!
//! ```text
//! goroutine 42 [chan send, 15 minutes]:
//! main.lookup.func1()
//!     /src/app/main.go:21 +0x3d
//! created by main.lookup in goroutine 17
//!     /src/app/main.go:20 +0x8f
//! ```
//!
//! (before Go 1.21 the creator line is `created by main.lookup`, without the
//! goroutine). `debug=1`, one block per distinct stack:
//!
//! ```text
//! goroutine profile: total 112
//! 107 @ 0x489aee 0x4195bc 0x6755be 0x4911e1
//! #    0x6755bd    main.lookup.func1+0x3d    /src/app/main.go:21
//! ```
//!
//! The goroutine-leak profile's `debug=1` is the same, headed
//! `goroutineleak profile: total N`. Once it has been asked for, `debug=2`
//! marks the goroutines it proved: `goroutine 42 [chan send (leaked)]:`, with
//! no minutes (the runtime prints them only for goroutines still waiting).

use std::path::Path;

use super::{Dump, DumpFormat, DumpKind, Frame, Goroutine};
use crate::error::IngestError;

fn bad(path: &Path, line: usize, what: impl Into<String>) -> IngestError {
    IngestError::MalformedLine {
        path: path.to_path_buf(),
        line: line as u64,
        what: what.into(),
    }
}

/// Reads a `debug=2` dump.
pub(super) fn read_full(path: &Path, text: &str) -> Result<Dump, IngestError> {
    let mut goroutines: Vec<Goroutine> = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let n = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("goroutine ") {
            goroutines.push(header(path, n, rest)?);
            continue;
        }
        let Some(g) = goroutines.last_mut() else {
            return Err(bad(path, n, "expected `goroutine N [state]:` first"));
        };
        if line.starts_with('\t') {
            return Err(bad(
                path,
                n,
                "a file line without a function line before it",
            ));
        }
        // Notes the runtime writes in place of frames.
        if line.starts_with("...") || line.contains("stack unavailable") {
            continue;
        }
        let (creator, function) = match line.strip_prefix("created by ") {
            Some(rest) => match rest.rsplit_once(" in goroutine ") {
                Some((f, id)) => {
                    let id = id
                        .trim()
                        .parse::<u64>()
                        .map_err(|_| bad(path, n, format!("bad creator goroutine {id:?}")))?;
                    (Some(id), f.to_string())
                }
                None => (None, rest.trim().to_string()),
            },
            None => (None, strip_args(path, n, line)?.to_string()),
        };
        let (file, at) = match lines.peek() {
            Some((_, next)) if next.starts_with('\t') => {
                let (_, next) = lines.next().unwrap_or_default();
                file_line(next.trim_end_matches('\r'))
                    .ok_or_else(|| bad(path, n + 1, "expected `\tFILE:LINE +0xOFFSET`"))?
            }
            _ => return Err(bad(path, n, format!("frame {function} has no file line"))),
        };
        let frame = Frame {
            function,
            file: file.to_string(),
            line: at,
        };
        if line.starts_with("created by ") {
            if g.created_by.is_some() {
                return Err(bad(path, n, "a second `created by` in one goroutine"));
            }
            g.created_by = Some(frame);
            g.creator_id = creator;
        } else {
            if g.created_by.is_some() {
                return Err(bad(path, n, "a frame after `created by`"));
            }
            g.frames.push(frame);
        }
    }
    if goroutines.is_empty() {
        return Err(IngestError::malformed(path, "no goroutines in the dump"));
    }
    Ok(Dump {
        format: DumpFormat::Full,
        kind: DumpKind::Goroutines,
        total: goroutines.len() as u64,
        goroutines,
    })
}

/// `42 [chan send, 15 minutes]:` (after `goroutine `); crash tracebacks may
/// put `gp=0x.. m=..` between the id and the bracket. The runtime writes
/// notes after the state in parentheses: `(leaked)` is kept as
/// [`Goroutine::leaked`], the state left without it.
fn header(path: &Path, n: usize, rest: &str) -> Result<Goroutine, IngestError> {
    let id_end = rest.find(' ').unwrap_or(rest.len());
    let id = rest[..id_end]
        .parse::<u64>()
        .map_err(|_| bad(path, n, format!("bad goroutine id {:?}", &rest[..id_end])))?;
    let (open, close) = match (rest.find('['), rest.rfind("]:")) {
        (Some(o), Some(c)) if o < c => (o, c),
        _ => return Err(bad(path, n, "expected `goroutine N [state]:`")),
    };
    let inside = &rest[open + 1..close];
    let mut parts = inside.split(", ");
    let state = parts.next().unwrap_or_default();
    let leaked = state.contains(" (leaked)");
    let state = state.replacen(" (leaked)", "", 1).trim().to_string();
    let mut wait_minutes = None;
    for p in parts {
        if let Some(m) = p
            .strip_suffix(" minutes")
            .or_else(|| p.strip_suffix(" minute"))
        {
            wait_minutes = Some(
                m.trim()
                    .parse::<u32>()
                    .map_err(|_| bad(path, n, format!("bad wait time {p:?}")))?,
            );
        }
    }
    Ok(Goroutine {
        id: Some(id),
        state,
        wait_minutes,
        frames: Vec::new(),
        created_by: None,
        creator_id: None,
        count: 1,
        leaked,
    })
}

/// `main.(*T).m(0xc000010000, {0x1, 0x2})` → `main.(*T).m`: the arguments
/// are the last parenthesised group, and hold no parentheses themselves.
fn strip_args<'a>(path: &Path, n: usize, line: &'a str) -> Result<&'a str, IngestError> {
    let line = line.trim_end();
    if !line.ends_with(')') {
        return Err(bad(
            path,
            n,
            format!("expected `function(args)`, got {line:?}"),
        ));
    }
    match line.rfind('(') {
        Some(i) if i > 0 => Ok(&line[..i]),
        _ => Err(bad(
            path,
            n,
            format!("expected `function(args)`, got {line:?}"),
        )),
    }
}

/// `\t/src/app/main.go:21 +0x3d` → (`/src/app/main.go`, 21).
fn file_line(line: &str) -> Option<(&str, u32)> {
    let line = line.trim_start_matches('\t');
    let line = match line.rfind(" +0x") {
        Some(i) => &line[..i],
        None => line.trim_end(),
    };
    let (file, at) = line.rsplit_once(':')?;
    Some((file, at.parse().ok()?))
}

/// Reads a `debug=1` dump of the goroutine profile, or of the goroutine-leak
/// profile (`kind`), whose every entry the runtime proved leaked.
pub(super) fn read_grouped(path: &Path, text: &str, kind: DumpKind) -> Result<Dump, IngestError> {
    let header = match kind {
        DumpKind::Goroutines => "goroutine profile: total ",
        DumpKind::ProvedLeaks => "goroutineleak profile: total ",
    };
    let mut lines = text.lines().enumerate();
    let total = loop {
        match lines.next() {
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((i, l)) => {
                break l
                    .trim()
                    .strip_prefix(header)
                    .and_then(|t| t.trim().parse::<u64>().ok())
                    .ok_or_else(|| bad(path, i + 1, format!("expected `{header}N`")))?;
            }
            None => return Err(IngestError::malformed(path, "empty dump")),
        }
    };
    let mut goroutines: Vec<Goroutine> = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let Some(g) = goroutines.last_mut() else {
                return Err(bad(path, n, "a frame before any `N @ ...` line"));
            };
            let rest = rest.trim_start();
            if rest.starts_with("labels:") {
                continue;
            }
            let fields: Vec<&str> = rest.split('\t').filter(|f| !f.is_empty()).collect();
            let [_, function, at] = fields[..] else {
                return Err(bad(
                    path,
                    n,
                    "expected `#\tADDRESS\tFUNCTION+OFFSET\tFILE:LINE`",
                ));
            };
            let function = function.rsplit_once("+0x").map_or(function, |(f, _)| f);
            let (file, at) =
                file_line(at).ok_or_else(|| bad(path, n, format!("bad FILE:LINE {at:?}")))?;
            g.frames.push(Frame {
                function: function.to_string(),
                file: file.to_string(),
                line: at,
            });
            continue;
        }
        let Some((count, _)) = line.split_once(" @") else {
            return Err(bad(path, n, "expected `N @ ADDRESSES` or a `#` frame line"));
        };
        let count = count
            .trim()
            .parse::<u64>()
            .map_err(|_| bad(path, n, format!("bad goroutine count {count:?}")))?;
        goroutines.push(Goroutine {
            id: None,
            state: String::new(),
            wait_minutes: None,
            frames: Vec::new(),
            created_by: None,
            creator_id: None,
            count,
            leaked: kind == DumpKind::ProvedLeaks,
        });
    }
    Ok(Dump {
        format: DumpFormat::Grouped,
        kind,
        total,
        goroutines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "goroutine 42 [chan send, 15 minutes]:
main.lookup.func1()
\t/src/app/main.go:21 +0x3d
created by main.lookup in goroutine 17
\t/src/app/main.go:20 +0x8f

goroutine 7 [select, locked to thread]:
main.(*T).watch(0xc000010000, {0x1, 0x2})
\t/src/app/t.go:9 +0x1d
created by main.start
\t/src/app/t.go:3 +0x2a
";

    #[test]
    fn reads_ids_states_waits_frames_and_creators_of_both_go_versions() {
        let d = read_full(Path::new("d"), FULL).unwrap();
        assert_eq!(d.total, 2);
        let g = &d.goroutines[0];
        assert_eq!(
            (g.id, g.state.as_str(), g.wait_minutes),
            (Some(42), "chan send", Some(15))
        );
        assert_eq!(
            g.frames[0].site(),
            "main.lookup.func1 (/src/app/main.go:21)"
        );
        assert_eq!(
            g.created_by.as_ref().unwrap().site(),
            "main.lookup (/src/app/main.go:20)"
        );
        assert_eq!(g.creator_id, Some(17));
        let h = &d.goroutines[1];
        assert_eq!((h.state.as_str(), h.wait_minutes), ("select", None));
        assert_eq!(h.frames[0].function, "main.(*T).watch");
        assert_eq!(h.created_by.as_ref().unwrap().function, "main.start");
        assert_eq!(h.creator_id, None);
    }

    #[test]
    fn a_truncated_dump_names_the_line() {
        let cut = &FULL[..FULL.find("\t/src/app/main.go:21").unwrap()];
        let err = read_full(Path::new("d.txt"), cut).unwrap_err();
        assert_eq!(
            err.to_string(),
            "d.txt:2: frame main.lookup.func1 has no file line"
        );
        let err = read_full(Path::new("d.txt"), "goroutine x [running]:\n").unwrap_err();
        assert!(
            err.to_string().starts_with("d.txt:1: bad goroutine id"),
            "{err}"
        );
        let err = read_grouped(
            Path::new("g.txt"),
            "goroutine profile: total 3\n3 @ 0x1\n#\t0x1\tmain.f+0x1\n",
            DumpKind::Goroutines,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("g.txt:3: expected `#"), "{err}");
    }
}
