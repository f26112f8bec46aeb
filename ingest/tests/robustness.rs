//! No reader panics, whatever the bytes: random input, random truncations and
//! random byte changes of the good test files. Every error names the file.

mod common;

use std::path::Path;

use common::{bytes, data};
use ingest::{
    parse_query_range, read_access_log, read_metrics, read_otlp_logs, read_traces, read_webhook,
    template_of, IngestError, Observations,
};
use proptest::prelude::*;

type Reader = fn(&Path, &[u8]) -> Result<u64, IngestError>;

fn traces(p: &Path, b: &[u8]) -> Result<u64, IngestError> {
    read_traces(p, b, &mut Observations::default())
}
fn logs(p: &Path, b: &[u8]) -> Result<u64, IngestError> {
    read_otlp_logs(p, b, &mut Observations::default())
}
fn metrics(p: &Path, b: &[u8]) -> Result<u64, IngestError> {
    read_metrics(p, b, &mut Observations::default())
}
fn access(p: &Path, b: &[u8]) -> Result<u64, IngestError> {
    read_access_log(p, b, "edge", &mut Observations::default())
}
fn webhook(p: &Path, b: &[u8]) -> Result<u64, IngestError> {
    read_webhook(p, b).map(|w| w.alerts.len() as u64)
}

/// Each reader with the good files it takes.
const READERS: [(Reader, &[&str]); 5] = [
    (
        traces,
        &[
            "traces-otlp.json",
            "traces-jaeger-v3.json",
            "traces-jaeger.json",
        ],
    ),
    (logs, &["logs-otlp.json"]),
    (metrics, &["metrics.json"]),
    (
        access,
        &["access-envoy.jsonl", "access-envoy.log", "access-nginx.log"],
    ),
    (webhook, &["alert.json"]),
];

fn check(reader: Reader, content: &[u8]) {
    let path = Path::new("/fixtures/x/input.data");
    if let Err(e) = reader(path, content) {
        assert_eq!(e.path(), path);
        assert!(e.to_string().contains("input.data"), "{e}");
    }
}

/// Bytes that look like the formats more often than uniform noise does.
fn wire_ish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"[".to_vec()),
        Just(b"]".to_vec()),
        Just(b"\"".to_vec()),
        Just(b",".to_vec()),
        Just(b":".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\"resourceSpans\":".to_vec()),
        Just(b"\"scopeSpans\":".to_vec()),
        Just(b"\"spans\":".to_vec()),
        Just(b"\"traceId\":\"5b8efff798038103d269b633813fc60c\"".to_vec()),
        Just(b"\"spanId\":\"W47/95gDgQPSabYzgT/GDA==\"".to_vec()),
        Just(b"\"startTimeUnixNano\":\"17\"".to_vec()),
        Just(
            b"\"attributes\":[{\"key\":\"http.status_code\",\"value\":{\"intValue\":\"99999\"}}]"
                .to_vec()
        ),
        Just(b"\"data\":".to_vec()),
        Just(b"\"processes\":{\"p1\":{\"serviceName\":\"a\"}}".to_vec()),
        Just(b"\"resourceLogs\":".to_vec()),
        Just(b"\"queries\":".to_vec()),
        Just(b"\"values\":[[1,\"NaN\"]]".to_vec()),
        Just(b"[2024-05-01T10:00:00.123Z] \"GET / HTTP/1.1\" ".to_vec()),
        Just(b"[10/Oct/2023:13:55:36 +0000]".to_vec()),
        Just(b"1.5".to_vec()),
        Just(b"-".to_vec()),
        Just("é".as_bytes().to_vec()),
    ];
    prop::collection::vec(piece, 0..64).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn random_bytes_never_panic(content in prop::collection::vec(any::<u8>(), 0..512)) {
        for (reader, _) in READERS {
            check(reader, &content);
        }
        let _ = parse_query_range(&content);
        let _ = template_of(&String::from_utf8_lossy(&content));
    }

    #[test]
    fn format_like_bytes_never_panic(content in wire_ish()) {
        for (reader, _) in READERS {
            check(reader, &content);
        }
        let _ = parse_query_range(&content);
    }

    #[test]
    fn truncations_never_panic(which in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let all: Vec<(Reader, &str)> = READERS
            .iter()
            .flat_map(|(r, names)| names.iter().map(move |n| (*r, *n)))
            .collect();
        let (reader, name) = all[which.index(all.len())];
        let content = bytes(name);
        let at = cut.index(content.len());
        check(reader, &content[..at]);
    }

    #[test]
    fn byte_changes_never_panic(
        which in any::<prop::sample::Index>(),
        changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let all: Vec<(Reader, &str)> = READERS
            .iter()
            .flat_map(|(r, names)| names.iter().map(move |n| (*r, *n)))
            .collect();
        let (reader, name) = all[which.index(all.len())];
        let mut content = bytes(name);
        for (at, byte) in changes {
            let i = at.index(content.len());
            content[i] = byte;
        }
        check(reader, &content);
    }

    #[test]
    fn templates_keep_only_the_first_line(msg in ".{0,200}") {
        let t = template_of(&msg);
        prop_assert!(!t.contains('\n'));
        // A digit survives only inside a name: a word whose digits are
        // fewer than a quarter of its letters and digits (`travel2`).
        for word in t.split(|c: char| !(c.is_ascii_alphanumeric() || "_.:-".contains(c))) {
            let alnum = word.bytes().filter(u8::is_ascii_alphanumeric).count();
            let digits = word.bytes().filter(u8::is_ascii_digit).count();
            prop_assert!(4 * digits < alnum || digits == 0, "{:?} kept in {:?}", word, t);
        }
    }
}

#[test]
fn the_good_files_are_good() {
    for (reader, names) in READERS {
        for name in names {
            let n = reader(&data(name), &bytes(name)).unwrap_or_else(|e| panic!("{e}"));
            assert!(n > 0, "{name}");
        }
    }
}
