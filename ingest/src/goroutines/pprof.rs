//! `debug=0`: the goroutine profile as pprof's `profile.proto`, gzipped.
//!
//! Only the messages and fields a goroutine profile uses are declared (field
//! numbers from the public `profile.proto` schema); prost skips the rest.
//! Each sample is one distinct stack with its goroutine count; a location
//! holds several lines when functions were inlined, the innermost first.

use std::path::Path;

use prost::Message;
use rustc_hash::FxHashMap;

use super::{Dump, DumpFormat, Frame, Goroutine};
use crate::error::IngestError;

#[derive(Clone, PartialEq, Message)]
struct Profile {
    #[prost(message, repeated, tag = "1")]
    sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    sample: Vec<Sample>,
    #[prost(message, repeated, tag = "4")]
    location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    string_table: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ValueType {
    #[prost(int64, tag = "1")]
    r#type: i64,
    #[prost(int64, tag = "2")]
    unit: i64,
}

#[derive(Clone, PartialEq, Message)]
struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    value: Vec<i64>,
}

#[derive(Clone, PartialEq, Message)]
struct Location {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(message, repeated, tag = "4")]
    line: Vec<Line>,
}

#[derive(Clone, PartialEq, Message)]
struct Line {
    #[prost(uint64, tag = "1")]
    function_id: u64,
    #[prost(int64, tag = "2")]
    line: i64,
}

#[derive(Clone, PartialEq, Message)]
struct Function {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(int64, tag = "2")]
    name: i64,
    #[prost(int64, tag = "4")]
    filename: i64,
}

/// Reads an inflated goroutine profile.
pub(super) fn read_pprof(path: &Path, bytes: &[u8]) -> Result<Dump, IngestError> {
    let bad = |what: String| IngestError::malformed(path, what);
    let p = Profile::decode(bytes).map_err(|e| bad(format!("bad pprof protobuf: {e}")))?;
    let string = |i: i64| -> Result<&str, IngestError> {
        usize::try_from(i)
            .ok()
            .and_then(|i| p.string_table.get(i))
            .map(String::as_str)
            .ok_or_else(|| bad(format!("string index {i} outside the string table")))
    };
    match p.sample_type.first() {
        Some(t) if string(t.r#type)? == "goroutine" => {}
        Some(t) => {
            return Err(bad(format!(
                "a {:?} profile, not a goroutine profile",
                string(t.r#type)?
            )))
        }
        None => return Err(bad("a profile with no sample type".into())),
    }
    let mut functions: FxHashMap<u64, (&str, &str)> = FxHashMap::default();
    for f in &p.function {
        functions.insert(f.id, (string(f.name)?, string(f.filename)?));
    }
    let mut locations: FxHashMap<u64, Vec<Frame>> = FxHashMap::default();
    for l in &p.location {
        let mut frames = Vec::with_capacity(l.line.len());
        for line in &l.line {
            let (function, file) = *functions.get(&line.function_id).ok_or_else(|| {
                bad(format!(
                    "location {} names no function {}",
                    l.id, line.function_id
                ))
            })?;
            frames.push(Frame {
                function: function.to_string(),
                file: file.to_string(),
                line: u32::try_from(line.line).unwrap_or(0),
            });
        }
        locations.insert(l.id, frames);
    }
    let mut goroutines = Vec::with_capacity(p.sample.len());
    let mut total = 0u64;
    for (i, s) in p.sample.iter().enumerate() {
        let count = match s.value.first() {
            Some(v) if *v >= 0 => *v as u64,
            _ => return Err(bad(format!("sample {} has no goroutine count", i + 1))),
        };
        let mut frames = Vec::new();
        for id in &s.location_id {
            let loc = locations
                .get(id)
                .ok_or_else(|| bad(format!("sample {} names no location {id}", i + 1)))?;
            frames.extend(loc.iter().cloned());
        }
        total = total.saturating_add(count);
        goroutines.push(Goroutine {
            id: None,
            state: String::new(),
            wait_minutes: None,
            frames,
            created_by: None,
            creator_id: None,
            count,
        });
    }
    Ok(Dump {
        format: DumpFormat::Proto,
        total,
        goroutines,
    })
}
