//! `debug=0`: the goroutine profile, or the goroutine-leak profile, as
//! pprof's `profile.proto`, gzipped.
//!
//! Only the messages and fields a goroutine profile uses are declared (field
//! numbers from the public `profile.proto` schema); prost skips the rest.
//! Each sample is one distinct stack with its goroutine count; a location
//! holds several lines when functions were inlined, the innermost first.
//! The sample type (and the period type, which Go writes the same) names the
//! profile: `goroutine`, or `goroutineleak` for goroutines the runtime
//! proved leaked.

use std::path::Path;

use prost::Message;
use rustc_hash::FxHashMap;

use super::{Dump, DumpFormat, DumpKind, Frame, Goroutine};
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
    #[prost(message, optional, tag = "11")]
    period_type: Option<ValueType>,
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
    let kind_of = |name: &str| match name {
        "goroutine" => Some(DumpKind::Goroutines),
        "goroutineleak" => Some(DumpKind::ProvedLeaks),
        _ => None,
    };
    let kind = match p.sample_type.first() {
        Some(t) => {
            let name = string(t.r#type)?;
            kind_of(name).ok_or_else(|| {
                bad(format!(
                    "a {name:?} profile, not a goroutine or goroutineleak profile"
                ))
            })?
        }
        None => return Err(bad("a profile with no sample type".into())),
    };
    // A period type naming the other profile contradicts the samples: which
    // one the counts are is then unknown.
    if let Some(t) = &p.period_type {
        let name = string(t.r#type)?;
        if kind_of(name).is_some_and(|k| k != kind) {
            return Err(bad(format!(
                "sample type {:?} but period type {name:?}",
                string(p.sample_type[0].r#type)?
            )));
        }
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
            leaked: kind == DumpKind::ProvedLeaks,
        });
    }
    Ok(Dump {
        format: DumpFormat::Proto,
        kind,
        total,
        goroutines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A profile with no samples whose sample and period types are `sample`
    /// and `period`.
    fn typed(sample: &str, period: Option<&str>) -> Vec<u8> {
        let strings = ["", "count", sample, period.unwrap_or("")];
        Profile {
            sample_type: vec![ValueType { r#type: 2, unit: 1 }],
            sample: Vec::new(),
            location: Vec::new(),
            function: Vec::new(),
            string_table: strings.iter().map(|s| s.to_string()).collect(),
            period_type: period.map(|_| ValueType { r#type: 3, unit: 1 }),
        }
        .encode_to_vec()
    }

    #[test]
    fn the_sample_type_names_the_profile_and_the_period_type_must_agree() {
        let p = Path::new("p.pb");
        let d = read_pprof(p, &typed("goroutineleak", Some("goroutineleak"))).unwrap();
        assert_eq!((d.kind, d.total), (DumpKind::ProvedLeaks, 0));
        let d = read_pprof(p, &typed("goroutine", None)).unwrap();
        assert_eq!(d.kind, DumpKind::Goroutines);
        let err = read_pprof(p, &typed("goroutineleak", Some("goroutine"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.pb: sample type \"goroutineleak\" but period type \"goroutine\""
        );
        let err = read_pprof(p, &typed("heap", None)).unwrap_err();
        assert!(err.to_string().contains("a \"heap\" profile"), "{err}");
    }
}
