//! Trace readers: OTLP JSON `TracesData`, the same wrapped as Jaeger v2's
//! `/api/v3/traces` answer (`{"result": {"resourceSpans": [..]}}`), and
//! Jaeger's older `/api/traces` JSON (`{"data": [{"spans", "processes"}]}`).
//!
//! The format is told from the top-level keys. A file may hold several such
//! documents one after another (grpc-gateway streams its answer in chunks).
//!
//! Speed: a trace file can hold millions of spans, so the whole file is read
//! in one pass by `serde` visitors that borrow strings from the input and
//! push each [`Span`] as soon as it is complete; no tree of the file is ever
//! built, and attributes the model does not need are skipped unparsed.
//! Names are interned as they are seen. Before that, the common case (one
//! OTLP document without escapes in what is kept) is tried by hand in the
//! submodule `scan`, which reads a million spans in 0.56 s where `serde`
//! takes 0.9 s; it gives up on anything else, and this reader takes over.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::error::IngestError;
use crate::model::{Interner, Observations, Span, SpanKind, Sym};
use crate::wire::{self, decode_id, visit_key_values, AttrValue, Int, Resource, Str};

mod proto;
mod scan;

pub use proto::read_traces_proto;

/// The component of spans whose resource names no `service.name`.
pub const UNKNOWN_SERVICE: &str = "unknown";

/// Stands for a component until the resource (or Jaeger process), which JSON
/// may place after the spans, has been read. Always replaced before return.
const PENDING: Sym = Sym(u32::MAX);

/// A span from an OTLP span's decoded fields. Both OTLP readers (serde and the
/// fast scan) end here, so units (nanoseconds in, microseconds out), the
/// clamp of a negative duration and the error rule live in one place.
fn otlp_span(
    [trace_id, span_id, parent_id]: [u128; 3],
    operation: Sym,
    kind: SpanKind,
    (start_ns, end_ns): (i64, i64),
    status_error: bool,
    attrs: &SpanAttrs<'_>,
    (peer, exception, event): (Option<Sym>, Option<Sym>, Option<Sym>),
) -> Span {
    Span {
        trace_id,
        span_id: span_id as u64,
        parent_id: parent_id as u64,
        component: PENDING,
        operation,
        kind,
        start: start_ns.div_euclid(1000),
        duration: end_ns.saturating_sub(start_ns).max(0) / 1000,
        error: status_error || attrs.error,
        http_status: attrs.http_status,
        peer,
        exception,
        event,
        proxy: attrs.proxy,
    }
}

/// Reads OTLP JSON or Jaeger JSON traces from `bytes` (the content of `path`)
/// into `obs`; returns the number of spans read.
///
/// Errors name `path`, and the line and column for JSON that is broken or
/// holds something unexpected (an undecodable ID, a span without a start).
pub fn read_traces(path: &Path, bytes: &[u8], obs: &mut Observations) -> Result<u64, IngestError> {
    let text = wire::json_text(path, bytes)?;
    // The common case by hand; everything else, every error included, by serde.
    if let Some(read) = scan::read_otlp(text) {
        let n = read.spans.len() as u64;
        obs.merge(read);
        return Ok(n);
    }
    read_with_serde(path, text, obs)
}

/// [`read_traces`] by `serde` alone: any form, and the words for any error.
fn read_with_serde(path: &Path, text: &str, obs: &mut Observations) -> Result<u64, IngestError> {
    let before = obs.spans.len();
    // Spans go straight into `obs`; a failure takes back what this file added
    // (names interned on the way stay: they are harmless).
    let result = read_docs(text, obs);
    if result.is_err() {
        obs.spans.truncate(before);
    }
    match result {
        Ok(()) => Ok((obs.spans.len() - before) as u64),
        Err(DocError::Json(e)) => Err(wire::json_error(path, e)),
        Err(DocError::Content(what)) => Err(IngestError::malformed(path, what)),
    }
}

enum DocError {
    Json(serde_json::Error),
    Content(String),
}

/// Reads every document of `text`: one, or several one after another as
/// grpc-gateway streams them.
fn read_docs(text: &str, obs: &mut Observations) -> Result<(), DocError> {
    // Spans take 300-500 bytes of OTLP JSON; reserving for that saves most
    // regrowth of a vector that may reach a hundred megabytes.
    obs.spans.reserve(text.len() / 400);
    let mut de = serde_json::Deserializer::from_str(text);
    let mut ctx = Ctx {
        names: &mut obs.names,
        spans: &mut obs.spans,
        input: PhantomData,
    };
    loop {
        let doc = DocSeed(&mut ctx)
            .deserialize(&mut de)
            .map_err(DocError::Json)?;
        if let Some(what) = doc.error {
            return Err(DocError::Content(what));
        }
        if !doc.recognised {
            return Err(DocError::Content(
                "no `resourceSpans`, `result` or `data` key: neither OTLP nor Jaeger JSON traces"
                    .to_string(),
            ));
        }
        // Only whitespace left: done; anything else is the next document.
        if de.end().is_ok() {
            return Ok(());
        }
    }
}

// ---------------------------------------------------------------------------
// Conversion state

/// What the visitors fill: the caller's name table and spans.
struct Ctx<'o, 'de> {
    names: &'o mut Interner,
    spans: &'o mut Vec<Span>,
    /// The input, which the names looked up borrow from.
    input: PhantomData<&'de str>,
}

impl<'o, 'de> Ctx<'o, 'de> {
    #[allow(clippy::ptr_arg)]
    fn name(&mut self, s: &Cow<'de, str>) -> Sym {
        self.names.intern(s)
    }

    fn opt_name(&mut self, s: &Option<Str<'de>>) -> Sym {
        match s {
            Some(s) => self.name(&s.0),
            None => self.names.intern(""),
        }
    }

    /// Gives the spans pushed since `start` their component.
    fn set_component(&mut self, start: usize, service: Option<&str>) {
        let name = service.filter(|s| !s.is_empty()).unwrap_or(UNKNOWN_SERVICE);
        let sym = self.names.intern(name);
        for span in self.spans.iter_mut().skip(start) {
            span.component = sym;
        }
    }
}

/// A conversion error, raised where the span's JSON object ends.
fn in_span<E: de::Error>(what: String) -> E {
    E::custom(format_args!("{what} (in the span that ends there)"))
}

fn required_id(raw: Option<&Str<'_>>, field: &str, width: usize) -> Result<u128, String> {
    let s = raw.map(Str::as_str).unwrap_or("");
    match decode_id(s, width) {
        Some(0) => Err(format!("span without {field}")),
        Some(v) => Ok(v),
        None => Err(format!("invalid {field} {s:?}: neither hex nor base64")),
    }
}

fn optional_id(raw: Option<&Str<'_>>, field: &str, width: usize) -> Result<u128, String> {
    let s = raw.map(Str::as_str).unwrap_or("");
    decode_id(s, width).ok_or_else(|| format!("invalid {field} {s:?}: neither hex nor base64"))
}

/// The attributes (OTLP) or tags (Jaeger) of a span that the model keeps.
/// Kept small: it is built once per span.
#[derive(Default)]
struct SpanAttrs<'a> {
    /// 0 when absent.
    http_status: u16,
    /// `http.response.status_code` (current conventions, 2) beats
    /// `http.status_code` (older ones and Jaeger, 1).
    http_rank: u8,
    peer: Option<Cow<'a, str>>,
    /// `peer.service` 4, `server.address` 3, `net.peer.name` 2, `db.system` 1.
    peer_rank: u8,
    proxy: bool,
    /// Jaeger's `error=true` tag, or `otel.status_code=ERROR`.
    error: bool,
    /// Jaeger's `span.kind` tag.
    kind: Option<SpanKind>,
}

impl<'a> SpanAttrs<'a> {
    fn offer_http(&mut self, rank: u8, v: &AttrValue<'_>) {
        if rank > self.http_rank {
            if let Some(n) = v.as_i64() {
                self.http_status = wire::http_status(n);
                self.http_rank = rank;
            }
        }
    }

    fn offer_peer(&mut self, rank: u8, v: AttrValue<'a>) {
        if rank > self.peer_rank {
            if let Some(text) = v.into_text() {
                self.peer = Some(text);
                self.peer_rank = rank;
            }
        }
    }
}

impl<'a> SpanAttrs<'a> {
    /// The attribute keys [`SpanAttrs::offer`] reads.
    fn wants(k: &str) -> bool {
        matches!(
            k,
            "http.response.status_code"
                | "http.status_code"
                | "peer.service"
                | "server.address"
                | "net.peer.name"
                | "db.system"
                | "component"
                | "error"
                | "otel.status_code"
                | "span.kind"
        )
    }

    /// Takes one attribute (OTLP) or tag (Jaeger).
    fn offer(&mut self, k: &str, v: AttrValue<'a>) {
        match k {
            "http.response.status_code" => self.offer_http(2, &v),
            "http.status_code" => self.offer_http(1, &v),
            "peer.service" => self.offer_peer(4, v),
            "server.address" => self.offer_peer(3, v),
            "net.peer.name" => self.offer_peer(2, v),
            "db.system" => self.offer_peer(1, v),
            "component" => self.proxy = matches!(&v, AttrValue::Str(s) if s == "proxy"),
            "error" => self.error |= v.is_true(),
            "otel.status_code" => {
                self.error |= matches!(&v, AttrValue::Str(s) if s.eq_ignore_ascii_case("error"))
            }
            "span.kind" => {
                if let AttrValue::Str(s) = &v {
                    self.kind = Some(SpanKind::from_tag(s));
                }
            }
            _ => {}
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for SpanAttrs<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut a = SpanAttrs::default();
        visit_key_values(d, SpanAttrs::wants, |k, v| a.offer(k, v))?;
        Ok(a)
    }
}

// ---------------------------------------------------------------------------
// Top level

/// What one document said besides its spans.
struct Doc {
    recognised: bool,
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(field_identifier)]
enum TopKey {
    #[serde(rename = "resourceSpans")]
    ResourceSpans,
    #[serde(rename = "result")]
    Result,
    #[serde(rename = "data")]
    Data,
    /// grpc-gateway's error answer: `{"error": {"code", "message"}}`.
    #[serde(rename = "error")]
    Error,
    /// Jaeger's `/api/traces` errors: `[{"code", "msg"}]` or null.
    #[serde(rename = "errors")]
    Errors,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, alias = "msg")]
    message: Option<String>,
}

impl ApiError {
    fn describe(&self) -> String {
        format!(
            "{} (code {})",
            self.message.as_deref().unwrap_or("no message"),
            self.code
                .map_or_else(|| "none".to_string(), |c| c.to_string())
        )
    }
}

/// One top-level document: OTLP `TracesData`, Jaeger v2's answer around
/// it, or Jaeger's `/api/traces` answer.
struct DocSeed<'c, 'o, 'de>(&'c mut Ctx<'o, 'de>);

impl<'de, 'c, 'o> DeserializeSeed<'de> for DocSeed<'c, 'o, 'de> {
    type Value = Doc;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Doc, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'c, 'o> Visitor<'de> for DocSeed<'c, 'o, 'de> {
    type Value = Doc;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an OTLP TracesData or Jaeger JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc, A::Error> {
        let ctx = self.0;
        let start = ctx.spans.len();
        let mut recognised = false;
        let mut error = None;
        let mut jaeger_errors: Vec<ApiError> = Vec::new();
        while let Some(key) = map.next_key::<TopKey>()? {
            match key {
                TopKey::ResourceSpans => {
                    map.next_value_seed(ResourceSpansSeq(&mut *ctx))?;
                    recognised = true;
                }
                TopKey::Result => {
                    map.next_value_seed(ResultSeed(&mut *ctx))?;
                    recognised = true;
                }
                TopKey::Data => {
                    map.next_value_seed(JaegerTraces(&mut *ctx))?;
                    recognised = true;
                }
                TopKey::Error => {
                    if let Some(e) = map.next_value::<Option<ApiError>>()? {
                        error = Some(format!(
                            "the trace store answered an error: {}",
                            e.describe()
                        ));
                    }
                }
                TopKey::Errors => {
                    jaeger_errors = map
                        .next_value::<Option<Vec<ApiError>>>()?
                        .unwrap_or_default();
                }
                TopKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Some(first) = jaeger_errors.first() {
            let what = format!("jaeger reported errors: {}", first.describe());
            if ctx.spans.len() == start {
                error = error.or(Some(what));
            } else {
                tracing::warn!(error = %what, "partial jaeger answer");
            }
        }
        Ok(Doc { recognised, error })
    }
}

/// Jaeger v2's `{"result": {"resourceSpans": [..]}}`.
struct ResultSeed<'c, 'o, 'de>(&'c mut Ctx<'o, 'de>);

impl<'de, 'c, 'o> DeserializeSeed<'de> for ResultSeed<'c, 'o, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'c, 'o> Visitor<'de> for ResultSeed<'c, 'o, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an OTLP TracesData object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<TopKey>()? {
            match key {
                TopKey::ResourceSpans => map.next_value_seed(ResourceSpansSeq(&mut *self.0))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// OTLP

/// `resourceSpans: [ResourceSpans]`.
struct ResourceSpansSeq<'c, 'o, 'de>(&'c mut Ctx<'o, 'de>);

impl<'de, 'c, 'o> DeserializeSeed<'de> for ResourceSpansSeq<'c, 'o, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'c, 'o> Visitor<'de> for ResourceSpansSeq<'c, 'o, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of ResourceSpans")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(ResourceSpansSeed(&mut *self.0))?
            .is_some()
        {}
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum ResourceSpansKey {
    Resource,
    ScopeSpans,
    /// The name before OTLP 0.15.
    InstrumentationLibrarySpans,
    #[serde(other)]
    Other,
}

/// One `ResourceSpans`: `{"resource", "scopeSpans": [..]}`.
struct ResourceSpansSeed<'c, 'o, 'de>(&'c mut Ctx<'o, 'de>);

impl<'de, 'c, 'o> DeserializeSeed<'de> for ResourceSpansSeed<'c, 'o, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'c, 'o> Visitor<'de> for ResourceSpansSeed<'c, 'o, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a ResourceSpans object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.0;
        let start = ctx.spans.len();
        let mut service: Option<Cow<'de, str>> = None;
        while let Some(key) = map.next_key::<ResourceSpansKey>()? {
            match key {
                ResourceSpansKey::Resource => {
                    service = map
                        .next_value::<Option<Resource<'de>>>()?
                        .and_then(|r| r.attributes.0);
                }
                ResourceSpansKey::ScopeSpans | ResourceSpansKey::InstrumentationLibrarySpans => {
                    map.next_value_seed(ScopeSpansSeq(&mut *ctx))?
                }
                ResourceSpansKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        ctx.set_component(start, service.as_deref());
        Ok(())
    }
}

/// `scopeSpans: [ScopeSpans]`.
struct ScopeSpansSeq<'c, 'o, 'de>(&'c mut Ctx<'o, 'de>);

impl<'de, 'c, 'o> DeserializeSeed<'de> for ScopeSpansSeq<'c, 'o, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'c, 'o> Visitor<'de> for ScopeSpansSeq<'c, 'o, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of ScopeSpans")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(ScopeSpansSeed(&mut *self.0))?
            .is_some()
        {}
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum ScopeSpansKey {
    Spans,
    #[serde(other)]
    Other,
}

/// One `ScopeSpans`: `{"scope", "spans": [..]}`.
struct ScopeSpansSeed<'c, 'o, 'de>(&'c mut Ctx<'o, 'de>);

impl<'de, 'c, 'o> DeserializeSeed<'de> for ScopeSpansSeed<'c, 'o, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'c, 'o> Visitor<'de> for ScopeSpansSeed<'c, 'o, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a ScopeSpans object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<ScopeSpansKey>()? {
            match key {
                ScopeSpansKey::Spans => map.next_value_seed(OtlpSpans(&mut *self.0))?,
                ScopeSpansKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// `spans: [Span]`, each converted and pushed as soon as it is read.
struct OtlpSpans<'c, 'o, 'de>(&'c mut Ctx<'o, 'de>);

impl<'de, 'c, 'o> DeserializeSeed<'de> for OtlpSpans<'c, 'o, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'c, 'o> Visitor<'de> for OtlpSpans<'c, 'o, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of spans")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(OtlpSpan(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum SpanKey {
    TraceId,
    SpanId,
    ParentSpanId,
    Name,
    Kind,
    StartTimeUnixNano,
    EndTimeUnixNano,
    Attributes,
    Events,
    Status,
    #[serde(other)]
    Other,
}

/// One OTLP span, read field by field straight into a [`Span`]: this is the
/// innermost loop of the reader, so there is no intermediate struct.
struct OtlpSpan<'c, 'o, 'de>(&'c mut Ctx<'o, 'de>);

impl<'de, 'c, 'o> DeserializeSeed<'de> for OtlpSpan<'c, 'o, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'c, 'o> Visitor<'de> for OtlpSpan<'c, 'o, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an OTLP span object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.0;
        let mut trace_id = 0u128;
        let mut span_id = 0u128;
        let mut parent_id = 0u128;
        let mut operation = None;
        let mut kind = SpanKind::Unspecified;
        let mut start_ns = None;
        let mut end_ns = None;
        let mut attrs = SpanAttrs::default();
        let mut exception = None;
        let mut event = None;
        let mut status_error = false;
        while let Some(key) = map.next_key::<SpanKey>()? {
            match key {
                SpanKey::TraceId => trace_id = id_of(map.next_value()?, "traceId", 16)?,
                SpanKey::SpanId => span_id = id_of(map.next_value()?, "spanId", 8)?,
                SpanKey::ParentSpanId => parent_id = id_of(map.next_value()?, "parentSpanId", 8)?,
                SpanKey::Name => {
                    operation = Some(match map.next_value::<Option<Str<'de>>>()? {
                        Some(name) => ctx.name(&name.0),
                        None => ctx.names.intern(""),
                    })
                }
                SpanKey::Kind => {
                    kind = map
                        .next_value::<Option<Kind>>()?
                        .map_or(SpanKind::Unspecified, |k| k.0)
                }
                SpanKey::StartTimeUnixNano => start_ns = map.next_value::<Option<Int>>()?,
                SpanKey::EndTimeUnixNano => end_ns = map.next_value::<Option<Int>>()?,
                SpanKey::Attributes => attrs = map.next_value::<SpanAttrs<'de>>()?,
                SpanKey::Events => {
                    let ev = map.next_value::<ExceptionEvents<'de>>()?;
                    exception = ev.exception;
                    event = ev.other;
                }
                SpanKey::Status => {
                    status_error = map
                        .next_value::<Option<Status>>()?
                        .is_some_and(|s| s.code.is_some_and(|c| c.0))
                }
                SpanKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if trace_id == 0 {
            return Err(in_span("span without traceId".to_string()));
        }
        if span_id == 0 {
            return Err(in_span("span without spanId".to_string()));
        }
        let Some(Int(start)) = start_ns else {
            return Err(in_span(format!(
                "span {span_id:016x} without startTimeUnixNano"
            )));
        };
        let end = end_ns.map_or(start, |n| n.0);
        let operation = match operation {
            Some(op) => op,
            None => ctx.names.intern(""),
        };
        let peer = attrs.peer.take().map(|p| ctx.name(&p));
        let exception = exception.map(|e| ctx.name(&e));
        let event = event.map(|e| ctx.name(&e));
        ctx.spans.push(otlp_span(
            [trace_id, span_id, parent_id],
            operation,
            kind,
            (start, end),
            status_error,
            &attrs,
            (peer, exception, event),
        ));
        Ok(())
    }
}

/// Decodes an ID field where it stands, so an error points at it.
fn id_of<E: de::Error>(raw: Option<Str<'_>>, field: &str, width: usize) -> Result<u128, E> {
    let s = raw.as_ref().map_or("", Str::as_str);
    decode_id(s, width).ok_or_else(|| {
        E::custom(format_args!(
            "invalid {field} {s:?}: neither hex nor base64"
        ))
    })
}

/// OTLP's span kind: a number (`2`) or the enum's name (`"SPAN_KIND_SERVER"`).
struct Kind(SpanKind);

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Kind;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a span kind number or name")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Kind, E> {
                Ok(Kind(SpanKind::from_otlp(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Kind, E> {
                Ok(Kind(SpanKind::from_otlp(i64::try_from(v).unwrap_or(0))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
                let name = v.strip_prefix("SPAN_KIND_").unwrap_or(v);
                Ok(Kind(SpanKind::from_tag(name)))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    code: Option<StatusCode>,
}

/// Whether an OTLP status code is ERROR: `2` or `"STATUS_CODE_ERROR"`.
struct StatusCode(bool);

impl<'de> Deserialize<'de> for StatusCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StatusCode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a status code number or name")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusCode, E> {
                Ok(StatusCode(v == 2))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusCode, E> {
                Ok(StatusCode(v == 2))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusCode, E> {
                Ok(StatusCode(matches!(
                    v,
                    "STATUS_CODE_ERROR" | "ERROR" | "error"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// Among a span's events: the type of the first `exception` event, and the
/// name of the first other one.
#[derive(Default)]
struct ExceptionEvents<'a> {
    exception: Option<Cow<'a, str>>,
    other: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct OtlpEvent<'a> {
    #[serde(borrow, default)]
    name: Option<Str<'a>>,
    #[serde(borrow, default)]
    attributes: ExceptionType<'a>,
}

/// `exception.type` among an event's attributes.
#[derive(Default)]
struct ExceptionType<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for ExceptionType<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = None;
        visit_key_values(d, |k| k == "exception.type", |_, v| out = v.into_text())?;
        Ok(ExceptionType(out))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ExceptionEvents<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExceptionEvents<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of span events")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ExceptionEvents::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = ExceptionEvents::default();
                while let Some(ev) = seq.next_element::<OtlpEvent<'de>>()? {
                    let Some(name) = ev.name else { continue };
                    if name.as_str() == "exception" {
                        if out.exception.is_none() {
                            out.exception = Some(ev.attributes.0.unwrap_or(name.0));
                        }
                    } else if out.other.is_none() {
                        out.other = Some(name.0);
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------
// Jaeger /api/traces

/// `data: [trace]`.
struct JaegerTraces<'c, 'o, 'de>(&'c mut Ctx<'o, 'de>);

impl<'de, 'c, 'o> DeserializeSeed<'de> for JaegerTraces<'c, 'o, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'c, 'o> Visitor<'de> for JaegerTraces<'c, 'o, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of Jaeger traces")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(JaegerTrace(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum JaegerTraceKey {
    Spans,
    Processes,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JaegerProcess<'a> {
    #[serde(borrow, default)]
    service_name: Option<Str<'a>>,
}

/// One trace: `{"traceID", "spans": [..], "processes": {"p1": {"serviceName"}}}`.
/// `processes` may come after `spans`, so components are set at the end.
struct JaegerTrace<'c, 'o, 'de>(&'c mut Ctx<'o, 'de>);

impl<'de, 'c, 'o> DeserializeSeed<'de> for JaegerTrace<'c, 'o, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'c, 'o> Visitor<'de> for JaegerTrace<'c, 'o, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Jaeger trace object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.0;
        let start = ctx.spans.len();
        // The process of each span pushed since `start`, in order.
        let mut span_procs: Vec<ProcRef<'de>> = Vec::new();
        let mut processes = Processes::default();
        while let Some(key) = map.next_key::<JaegerTraceKey>()? {
            match key {
                JaegerTraceKey::Spans => map.next_value_seed(JaegerSpans {
                    ctx: &mut *ctx,
                    procs: &mut span_procs,
                })?,
                JaegerTraceKey::Processes => processes = map.next_value::<Processes<'de>>()?,
                JaegerTraceKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        finish_jaeger_trace(ctx, start, &span_procs, &processes);
        Ok(())
    }
}

/// `processes: {"p1": {"serviceName": ..}}` as `(id, service)` pairs.
#[derive(Default)]
struct Processes<'a>(Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Processes<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Processes<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of Jaeger processes")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Processes::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((id, p)) = map.next_entry::<Str<'de>, JaegerProcess<'de>>()? {
                    out.push((id.0, p.service_name.map(|s| s.0)));
                }
                Ok(Processes(out))
            }
        }
        d.deserialize_any(V)
    }
}

// Where a Jaeger span names its service.
enum ProcRef<'a> {
    Id(Cow<'a, str>),
    Inline(Option<Cow<'a, str>>),
}

fn finish_jaeger_trace(
    ctx: &mut Ctx<'_, '_>,
    start: usize,
    span_procs: &[ProcRef<'_>],
    processes: &Processes<'_>,
) {
    let names = &mut ctx.names;
    let mut intern = |name: Option<&str>| {
        names.intern(name.filter(|s| !s.is_empty()).unwrap_or(UNKNOWN_SERVICE))
    };
    let proc_syms: Vec<(&str, Sym)> = processes
        .0
        .iter()
        .map(|(id, service)| (id.as_ref(), intern(service.as_deref())))
        .collect();
    let mut unknown = None;
    for (span, proc_ref) in ctx.spans.iter_mut().skip(start).zip(span_procs) {
        let found = match proc_ref {
            ProcRef::Inline(name) => Some(intern(name.as_deref())),
            ProcRef::Id(id) => proc_syms
                .iter()
                .find(|(pid, _)| *pid == id.as_ref())
                .map(|p| p.1),
        };
        span.component = match found {
            Some(sym) => sym,
            None => *unknown.get_or_insert_with(|| intern(None)),
        };
    }
}

/// `spans: [..]` of one Jaeger trace; records each span's process beside it.
struct JaegerSpans<'c, 'o, 'p, 'de> {
    ctx: &'c mut Ctx<'o, 'de>,
    procs: &'p mut Vec<ProcRef<'de>>,
}

impl<'de> DeserializeSeed<'de> for JaegerSpans<'_, '_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JaegerSpans<'_, '_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of Jaeger spans")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<JaegerSpan<'de>>()? {
            let (span, proc_ref) = raw.into_span(&mut *self.ctx).map_err(in_span)?;
            self.ctx.spans.push(span);
            self.procs.push(proc_ref);
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct JaegerSpan<'a> {
    #[serde(borrow, default, rename = "traceID")]
    trace_id: Option<Str<'a>>,
    #[serde(borrow, default, rename = "spanID")]
    span_id: Option<Str<'a>>,
    /// Older Jaeger JSON names the parent directly.
    #[serde(borrow, default, rename = "parentSpanID")]
    parent_span_id: Option<Str<'a>>,
    #[serde(borrow, default, rename = "operationName")]
    operation_name: Option<Str<'a>>,
    #[serde(borrow, default)]
    references: ParentRef<'a>,
    /// Microseconds since the epoch.
    #[serde(default, rename = "startTime")]
    start_time: Option<Int>,
    /// Microseconds.
    #[serde(default)]
    duration: Option<Int>,
    #[serde(borrow, default)]
    tags: SpanAttrs<'a>,
    #[serde(borrow, default)]
    logs: JaegerLogs<'a>,
    #[serde(borrow, default, rename = "processID")]
    process_id: Option<Str<'a>>,
    /// Set instead of `processID` when the answer is not deduplicated.
    #[serde(borrow, default)]
    process: Option<JaegerProcess<'a>>,
}

impl<'a> JaegerSpan<'a> {
    fn into_span(mut self, ctx: &mut Ctx<'_, 'a>) -> Result<(Span, ProcRef<'a>), String> {
        let trace_id = required_id(self.trace_id.as_ref(), "traceID", 16)?;
        let span_id = required_id(self.span_id.as_ref(), "spanID", 8)? as u64;
        let parent = self
            .references
            .0
            .take()
            .map(Str)
            .or(self.parent_span_id.take());
        let parent_id = optional_id(parent.as_ref(), "parent spanID", 8)? as u64;
        let Some(Int(start)) = self.start_time else {
            return Err(format!("span {span_id:016x} without startTime"));
        };
        let operation = ctx.opt_name(&self.operation_name);
        let peer = self.tags.peer.take().map(|p| ctx.name(&p));
        let exception = self.logs.0.map(|e| ctx.name(&e));
        let event = self.logs.1.map(|e| ctx.name(&e));
        let proc_ref = match self.process {
            Some(p) => ProcRef::Inline(p.service_name.map(|s| s.0)),
            None => ProcRef::Id(self.process_id.map(|s| s.0).unwrap_or_default()),
        };
        let span = Span {
            trace_id,
            span_id,
            parent_id,
            component: PENDING,
            operation,
            kind: self.tags.kind.unwrap_or_default(),
            start,
            duration: self.duration.map_or(0, |d| d.0.max(0)),
            error: self.tags.error,
            http_status: self.tags.http_status,
            peer,
            exception,
            event,
            proxy: self.tags.proxy,
        };
        Ok((span, proc_ref))
    }
}

#[derive(Deserialize)]
struct JaegerRef<'a> {
    #[serde(borrow, default, rename = "refType")]
    ref_type: Option<Str<'a>>,
    #[serde(borrow, default, rename = "spanID")]
    span_id: Option<Str<'a>>,
}

/// The parent among a span's `references`: the first `CHILD_OF`, else the
/// first reference of any type (`FOLLOWS_FROM`).
#[derive(Default)]
struct ParentRef<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for ParentRef<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ParentRef<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of span references")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ParentRef(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut child_of = None;
                let mut first = None;
                while let Some(r) = seq.next_element::<JaegerRef<'de>>()? {
                    let Some(id) = r.span_id else { continue };
                    let is_child = r
                        .ref_type
                        .as_ref()
                        .is_some_and(|t| t.as_str() == "CHILD_OF");
                    if is_child && child_of.is_none() {
                        child_of = Some(id.0);
                    } else if first.is_none() {
                        first = Some(id.0);
                    }
                }
                Ok(ParentRef(child_of.or(first)))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct JaegerLog<'a> {
    #[serde(borrow, default)]
    fields: LogFields<'a>,
}

/// What a Jaeger span log says about an error: `error.kind`, else
/// `exception.type`, else the `event` itself when it is `error` or `exception`;
/// and, for any other log, its `event`, else its `message` (a line written
/// into the span).
#[derive(Default)]
struct LogFields<'a>(Option<Cow<'a, str>>, Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for LogFields<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut kind = None;
        let mut exception_type = None;
        let mut event = None;
        let mut other = None;
        let mut message = None;
        let wants = |k: &str| matches!(k, "error.kind" | "exception.type" | "event" | "message");
        visit_key_values(d, wants, |k, v| match k {
            "error.kind" => kind = v.into_text(),
            "exception.type" => exception_type = v.into_text(),
            "event" => match v.into_text() {
                Some(e) if e.eq_ignore_ascii_case("error") || e == "exception" => event = Some(e),
                e => other = e,
            },
            "message" => message = v.into_text(),
            _ => {}
        })?;
        let error = kind.or(exception_type).or(event);
        let other = if error.is_some() {
            None
        } else {
            other.or(message)
        };
        Ok(LogFields(error, other))
    }
}

/// The first error a span's logs report, and the first other log's event.
#[derive(Default)]
struct JaegerLogs<'a>(Option<Cow<'a, str>>, Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for JaegerLogs<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JaegerLogs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of span logs")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(JaegerLogs(None, None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = None;
                let mut other = None;
                while let Some(log) = seq.next_element::<JaegerLog<'de>>()? {
                    if out.is_none() {
                        out = log.fields.0;
                    }
                    if other.is_none() {
                        other = log.fields.1;
                    }
                }
                Ok(JaegerLogs(out, other))
            }
        }
        d.deserialize_any(V)
    }
}
