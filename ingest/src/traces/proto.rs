//! OTLP protobuf `TracesData`, as Jaeger's `api_v3` gRPC `FindTraces`
//! streams it (one message a trace), decoded by `prost` into the
//! `opentelemetry-proto` types and converted here into [`Span`]s.
//!
//! The rules are the JSON reader's: the same attributes are read with the
//! same precedence ([`SpanAttrs`]), units and the error rule come from
//! [`otlp_span`], and a resource without `service.name` gives
//! [`UNKNOWN_SERVICE`]. A span whose IDs are not 16 and 8 bytes, or that has
//! no start, makes the whole message an error (naming the span), as a
//! broken span makes a JSON file one.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span::Event, Span as OtlpSpan, TracesData};

use super::{otlp_span, SpanAttrs, UNKNOWN_SERVICE};
use crate::model::{Observations, SpanKind};
use crate::wire::AttrValue;

/// Reads one `TracesData` message into `obs`; returns the number of spans
/// read. On an error nothing of this message stays in `obs`.
pub fn read_traces_proto(data: &TracesData, obs: &mut Observations) -> Result<u64, String> {
    let before = obs.spans.len();
    let result = read(data, obs);
    if result.is_err() {
        obs.spans.truncate(before);
    }
    result.map(|()| (obs.spans.len() - before) as u64)
}

fn read(data: &TracesData, obs: &mut Observations) -> Result<(), String> {
    for rs in &data.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| find(&r.attributes, "service.name"))
            .and_then(|v| value(v).into_text())
            .filter(|s| !s.is_empty());
        let component = obs
            .names
            .intern(service.as_deref().unwrap_or(UNKNOWN_SERVICE));
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            let mut s = convert(span, obs)?;
            s.component = component;
            obs.spans.push(s);
        }
    }
    Ok(())
}

fn convert(span: &OtlpSpan, obs: &mut Observations) -> Result<crate::model::Span, String> {
    let trace_id = id(&span.trace_id, 16, "traceId")?;
    let span_id = id(&span.span_id, 8, "spanId")?;
    let parent_id = if span.parent_span_id.is_empty() {
        0
    } else {
        id(&span.parent_span_id, 8, "parentSpanId")?
    };
    if trace_id == 0 {
        return Err("span without traceId".to_string());
    }
    if span_id == 0 {
        return Err("span without spanId".to_string());
    }
    if span.start_time_unix_nano == 0 {
        return Err(format!("span {span_id:016x} without startTimeUnixNano"));
    }
    let mut attrs = SpanAttrs::default();
    for kv in &span.attributes {
        if SpanAttrs::wants(&kv.key) {
            if let Some(v) = &kv.value {
                attrs.offer(&kv.key, value(v));
            }
        }
    }
    let (exception, event) = events(&span.events);
    let start = i64::try_from(span.start_time_unix_nano).unwrap_or(i64::MAX);
    let end = match span.end_time_unix_nano {
        0 => start,
        n => i64::try_from(n).unwrap_or(i64::MAX),
    };
    let operation = obs.names.intern(&span.name);
    let peer = attrs.peer.take().map(|p| obs.names.intern(&p));
    let exception = exception.map(|e| obs.names.intern(&e));
    let event = event.map(|e| obs.names.intern(e));
    Ok(otlp_span(
        [trace_id, span_id, parent_id],
        operation,
        SpanKind::from_otlp(i64::from(span.kind)),
        (start, end),
        span.status.as_ref().is_some_and(|s| s.code == 2),
        &attrs,
        (peer, exception, event),
    ))
}

/// A big-endian ID of exactly `width` bytes (the hex of the JSON form).
fn id(bytes: &[u8], width: usize, field: &str) -> Result<u128, String> {
    if bytes.len() != width {
        return Err(format!(
            "invalid {field} of {} bytes (want {width})",
            bytes.len()
        ));
    }
    Ok(bytes.iter().fold(0u128, |n, b| n << 8 | u128::from(*b)))
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

fn value(v: &AnyValue) -> AttrValue<'_> {
    match &v.value {
        Some(Value::StringValue(s)) => AttrValue::Str(Cow::Borrowed(s)),
        Some(Value::IntValue(n)) => AttrValue::Int(*n),
        Some(Value::DoubleValue(f)) => AttrValue::Float(*f),
        Some(Value::BoolValue(b)) => AttrValue::Bool(*b),
        _ => AttrValue::Other,
    }
}

/// The type of the first `exception` event (its name when it has none),
/// and the name of the first other event: the JSON reader's rule.
fn events(events: &[Event]) -> (Option<Cow<'_, str>>, Option<&str>) {
    let mut exception = None;
    let mut other = None;
    for ev in events {
        if ev.name.is_empty() {
            continue;
        }
        if ev.name == "exception" {
            if exception.is_none() {
                exception = Some(
                    find(&ev.attributes, "exception.type")
                        .and_then(|v| value(v).into_text())
                        .unwrap_or(Cow::Borrowed(ev.name.as_str())),
                );
            }
        } else if other.is_none() {
            other = Some(ev.name.as_str());
        }
    }
    (exception, other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// An OTLP JSON document with what the model reads: kinds, an error
    /// status, an `error` tag, an exception event with and without a
    /// type, HTTP statuses in both conventions, peers of each rank, a
    /// resource without `service.name`.
    const DOC: &str = r#"{"resourceSpans": [
      {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "front"}}]},
       "scopeSpans": [{"spans": [
         {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
          "name": "GET /a", "kind": 2, "startTimeUnixNano": "1700000000000000000",
          "endTimeUnixNano": "1700000000250000000",
          "attributes": [{"key": "http.status_code", "value": {"intValue": "200"}},
                         {"key": "http.response.status_code", "value": {"intValue": "503"}}],
          "status": {"code": 2}},
         {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "00f067aa0ba902b7",
          "parentSpanId": "b7ad6b7169203331", "name": "call back", "kind": 3,
          "startTimeUnixNano": "1700000000010000000", "endTimeUnixNano": "1700000000200000000",
          "attributes": [{"key": "net.peer.name", "value": {"stringValue": "back-host"}},
                         {"key": "peer.service", "value": {"stringValue": "back"}},
                         {"key": "error", "value": {"boolValue": true}}],
          "events": [{"name": "retry"},
                     {"name": "exception", "attributes": [{"key": "exception.type", "value": {"stringValue": "IOError"}}]}]}
       ]}]},
      {"resource": {"attributes": []},
       "scopeSpans": [{"spans": [
         {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "1111111111111111",
          "parentSpanId": "00f067aa0ba902b7", "name": "db", "kind": 1,
          "startTimeUnixNano": "1700000000020000000", "endTimeUnixNano": "1700000000010000000",
          "attributes": [{"key": "db.system", "value": {"stringValue": "mysql"}},
                         {"key": "otel.status_code", "value": {"stringValue": "ERROR"}}],
          "events": [{"name": "exception"}]}
       ]}]}
    ]}"#;

    /// What a reader made of the spans, names resolved, in a fixed order.
    fn described(obs: &Observations) -> Vec<String> {
        let mut v = obs.span_lines();
        v.sort();
        v
    }

    #[test]
    fn protobuf_gives_what_the_json_reader_gives() {
        let mut from_json = Observations::default();
        crate::traces::read_traces(Path::new("doc.json"), DOC.as_bytes(), &mut from_json).unwrap();
        // The same document as protobuf: through the opentelemetry-proto
        // types, encoded and decoded as it would cross the wire.
        let data: TracesData = serde_json::from_str(DOC).unwrap();
        let wire = prost::Message::encode_to_vec(&data);
        let data: TracesData = prost::Message::decode(wire.as_slice()).unwrap();
        let mut from_proto = Observations::default();
        assert_eq!(read_traces_proto(&data, &mut from_proto), Ok(3));
        assert_eq!(described(&from_proto), described(&from_json));
        let text = described(&from_proto).join("\n");
        for want in ["front", "unknown", "IOError", "retry", "503", "back"] {
            assert!(text.contains(want), "{want} missing from {text}");
        }
    }

    #[test]
    fn a_span_with_a_short_id_fails_the_message_and_leaves_nothing() {
        let mut data: TracesData = serde_json::from_str(DOC).unwrap();
        data.resource_spans[1].scope_spans[0].spans[0].span_id = vec![1, 2, 3];
        let mut obs = Observations::default();
        let err = read_traces_proto(&data, &mut obs).unwrap_err();
        assert!(err.contains("spanId of 3 bytes"), "{err}");
        assert!(obs.spans.is_empty());
    }

    #[test]
    fn a_span_without_a_start_is_named() {
        let mut data: TracesData = serde_json::from_str(DOC).unwrap();
        data.resource_spans[0].scope_spans[0].spans[1].start_time_unix_nano = 0;
        let err = read_traces_proto(&data, &mut Observations::default()).unwrap_err();
        assert_eq!(err, "span 00f067aa0ba902b7 without startTimeUnixNano");
    }
}
