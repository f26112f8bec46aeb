//! The fast path of the trace reader: OTLP JSON `TracesData` as collectors
//! and SDKs write it, read by hand in one pass.
//!
//! `serde_json` with borrowing visitors reads a million spans in about 0.9 s
//! on the benchmark machine; walking the same bytes by hand takes 0.2 s. So
//! the common shape is read here: one `{"resourceSpans": [..]}` document
//! whose strings we keep hold no escapes, whose numbers we keep are integers,
//! and whose objects are objects. Anything else (Jaeger JSON, the `result`
//! wrapper, several documents, an escape in a name, a float status, broken
//! JSON, a span without an ID) makes [`read_otlp`] give up, and the `serde`
//! reader reads the whole file again, and words any error.
//!
//! Giving up is always safe; accepting is not: this path must never accept
//! what the `serde` path rejects, and must build exactly what it builds,
//! names interned in the same order included. Values it skips are checked as
//! `serde_json` checks what it ignores. The tests hold the two paths to that.

use std::borrow::Cow;

use super::{otlp_span, SpanAttrs, UNKNOWN_SERVICE};
use crate::model::{Interner, Observations, Span, SpanKind, Sym};
use crate::wire::{self, decode_id, AttrValue};

/// Reads `text` as one OTLP JSON `TracesData` document; `None` where the
/// `serde` path must read it instead.
pub(super) fn read_otlp(text: &str) -> Option<Observations> {
    let mut obs = Observations::default();
    obs.spans.reserve(text.len() / 400);
    let mut s = Scan {
        text,
        b: text.as_bytes(),
        i: 0,
    };
    let mut recognised = false;
    s.object(|s, key| match key {
        "resourceSpans" => {
            recognised = true;
            s.array_or_null(|s| resource_spans(s, &mut obs.names, &mut obs.spans))
        }
        // Jaeger's forms and the trace store's errors: for the `serde` path.
        "result" | "data" | "error" | "errors" => None,
        _ => s.skip(),
    })?;
    s.ws();
    (recognised && s.i == s.b.len()).then_some(obs)
}

/// One `ResourceSpans`.
fn resource_spans<'a>(s: &mut Scan<'a>, names: &mut Interner, spans: &mut Vec<Span>) -> Option<()> {
    let start = spans.len();
    let mut service: Option<Cow<'a, str>> = None;
    s.object(|s, key| match key {
        "resource" => {
            service = None;
            if s.null()? {
                return Some(());
            }
            let mut seen = false;
            s.object(|s, key| match key {
                "attributes" if !seen => {
                    seen = true;
                    s.key_values(
                        |k| k == "service.name",
                        |_, v| {
                            service = v.into_text();
                        },
                    )
                }
                // A repeated field is an error for `serde`'s derived structs.
                "attributes" => None,
                _ => s.skip(),
            })
        }
        "scopeSpans" | "instrumentationLibrarySpans" => s.array_or_null(|s| {
            s.object(|s, key| match key {
                "spans" => s.array_or_null(|s| span(s, names, spans)),
                _ => s.skip(),
            })
        }),
        _ => s.skip(),
    })?;
    let name = service
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(UNKNOWN_SERVICE);
    let sym = names.intern(name);
    for span in spans.iter_mut().skip(start) {
        span.component = sym;
    }
    Some(())
}

/// One span, as `OtlpSpan` reads it.
fn span(s: &mut Scan<'_>, names: &mut Interner, spans: &mut Vec<Span>) -> Option<()> {
    let mut trace_id = 0u128;
    let mut span_id = 0u128;
    let mut parent_id = 0u128;
    let mut operation: Option<Sym> = None;
    let mut kind = SpanKind::Unspecified;
    let mut start_ns = None;
    let mut end_ns = None;
    let mut attrs = SpanAttrs::default();
    let mut exception: Option<Cow<'_, str>> = None;
    let mut event: Option<Cow<'_, str>> = None;
    let mut status_error = false;
    s.object(|s, key| {
        match key {
            "traceId" => trace_id = decode_id(s.opt_str()?.unwrap_or(""), 16)?,
            "spanId" => span_id = decode_id(s.opt_str()?.unwrap_or(""), 8)?,
            "parentSpanId" => parent_id = decode_id(s.opt_str()?.unwrap_or(""), 8)?,
            "name" => operation = Some(names.intern(s.opt_str()?.unwrap_or(""))),
            "kind" => {
                kind = match s.peek()? {
                    b'"' => {
                        let v = s.str()?;
                        SpanKind::from_tag(v.strip_prefix("SPAN_KIND_").unwrap_or(v))
                    }
                    b'n' => {
                        s.null()?;
                        SpanKind::Unspecified
                    }
                    _ => SpanKind::from_otlp(s.integer()?),
                }
            }
            "startTimeUnixNano" => start_ns = s.opt_int()?,
            "endTimeUnixNano" => end_ns = s.opt_int()?,
            "attributes" => {
                let mut a = SpanAttrs::default();
                s.key_values(SpanAttrs::wants, |k, v| a.offer(k, v))?;
                attrs = a;
            }
            "events" => (exception, event) = s.exception_events()?,
            "status" => status_error = s.status()?,
            _ => s.skip()?,
        }
        Some(())
    })?;
    // What the `serde` path calls an error, it words.
    if trace_id == 0 || span_id == 0 {
        return None;
    }
    let start = start_ns?;
    let end = end_ns.unwrap_or(start);
    let operation = match operation {
        Some(op) => op,
        None => names.intern(""),
    };
    let peer = attrs.peer.take().map(|p| names.intern(&p));
    let exception = exception.map(|e| names.intern(&e));
    let event = event.map(|e| names.intern(&e));
    spans.push(otlp_span(
        [trace_id, span_id, parent_id],
        operation,
        kind,
        (start, end),
        status_error,
        &attrs,
        (peer, exception, event),
    ));
    Some(())
}

/// Where the scan is in the document.
struct Scan<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

/// How deep [`Scan::skip`] goes into nested values before giving up.
const MAX_DEPTH: usize = 100;

impl<'a> Scan<'a> {
    /// Skips JSON whitespace.
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte that is not whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// `null`, consumed: `Some(true)`; anything else, not consumed: `Some(false)`.
    #[inline]
    fn null(&mut self) -> Option<bool> {
        if self.peek()? != b'n' {
            return Some(false);
        }
        self.literal(b"null")?;
        Some(true)
    }

    #[inline]
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        if self.b.get(self.i..end)? != word {
            return None;
        }
        self.i = end;
        Some(())
    }

    /// A string without escapes.
    #[inline]
    fn str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let rest = self.b.get(start..)?;
        let n = wire::find_json_special(rest)?;
        if rest.get(n) != Some(&b'"') {
            return None;
        }
        self.i = start + n + 1;
        // Bounded by ASCII quotes: character boundaries.
        self.text.get(start..start + n)
    }

    /// A string without escapes, or `null`.
    #[inline]
    fn opt_str(&mut self) -> Option<Option<&'a str>> {
        if self.null()? {
            return Some(None);
        }
        self.str().map(Some)
    }

    /// An integer that `serde_json` reads as an `i64` or a `u64` and that
    /// fits an `i64`: no fraction or exponent, at most 19 digits (18 when
    /// negative, as a bigger negative one would be read as a float).
    #[inline]
    fn integer(&mut self) -> Option<i64> {
        self.ws();
        let negative = self.b.get(self.i) == Some(&b'-');
        let start = self.i + usize::from(negative);
        let digits = self
            .b
            .get(start..)?
            .iter()
            .take(20)
            .take_while(|c| c.is_ascii_digit())
            .count();
        let first = *self.b.get(start)?;
        let most = if negative { 18 } else { 19 };
        if digits == 0 || digits > most || (first == b'0' && digits > 1) {
            return None;
        }
        if matches!(self.b.get(start + digits), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        // 19 digits fit a `u64`; whether they fit an `i64` is checked here.
        let mut v: u64 = 0;
        for &c in self.b.get(start..start + digits)? {
            v = v * 10 + u64::from(c - b'0');
        }
        let v = i64::try_from(v).ok()?;
        self.i = start + digits;
        Some(if negative { -v } else { v })
    }

    /// `Option<Int>`: `null`, an integer, or a decimal string.
    #[inline]
    fn opt_int(&mut self) -> Option<Option<i64>> {
        match self.peek()? {
            b'n' => {
                self.literal(b"null")?;
                Some(None)
            }
            b'"' => wire::parse_i64(self.str()?).map(Some),
            _ => self.integer().map(Some),
        }
    }

    /// An object, `f` called at each value with its key; `f` must consume
    /// the value.
    #[inline]
    fn object(&mut self, mut f: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let key = self.str()?;
            self.eat(b':')?;
            f(self, key)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array, `f` called at each element, or `null`.
    #[inline]
    fn array_or_null(&mut self, mut f: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if self.null()? {
            return Some(());
        }
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            f(self)?;
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array of `{"key", "value"}` attributes (or `null`), as
    /// `wire::visit_key_values` reads it: `f` sees the wanted ones.
    fn key_values(
        &mut self,
        wants: fn(&str) -> bool,
        mut f: impl FnMut(&'a str, AttrValue<'a>),
    ) -> Option<()> {
        self.array_or_null(|s| {
            let mut key = None;
            let mut value = AttrValue::Other;
            let mut wanted = true;
            s.object(|s, k| match k {
                "key" => {
                    let k = s.str()?;
                    wanted = wants(k);
                    key = Some(k);
                    Some(())
                }
                "value" if wanted => {
                    value = s.attr_value()?;
                    Some(())
                }
                _ => s.skip(),
            })?;
            let key = key?;
            if wanted {
                f(key, value);
            }
            Some(())
        })
    }

    /// An OTLP `AnyValue` object or a bare scalar, as `AttrValue` reads it.
    fn attr_value(&mut self) -> Option<AttrValue<'a>> {
        match self.peek()? {
            b'"' => self.str().map(|s| AttrValue::Str(Cow::Borrowed(s))),
            b'n' => self.literal(b"null").map(|_| AttrValue::Other),
            b't' => self.literal(b"true").map(|_| AttrValue::Bool(true)),
            b'f' => self.literal(b"false").map(|_| AttrValue::Bool(false)),
            b'[' => self.skip().map(|_| AttrValue::Other),
            b'{' => {
                let mut out = AttrValue::Other;
                self.object(|s, key| {
                    match key {
                        "stringValue" => {
                            out = match s.opt_str()? {
                                Some(v) => AttrValue::Str(Cow::Borrowed(v)),
                                None => AttrValue::Other,
                            }
                        }
                        "intValue" => {
                            out = match s.peek()? {
                                b'"' => AttrValue::Int(wire::parse_i64(s.str()?)?),
                                _ => AttrValue::Int(s.integer()?),
                            }
                        }
                        "boolValue" => {
                            out = match s.peek()? {
                                b't' => s.literal(b"true").map(|_| AttrValue::Bool(true))?,
                                _ => s.literal(b"false").map(|_| AttrValue::Bool(false))?,
                            }
                        }
                        // Floats are left to `serde_json`'s own parsing.
                        "doubleValue" => {
                            out = match s.peek()? {
                                b'"' => AttrValue::Float(wire::parse_float(s.str()?)?),
                                _ => AttrValue::Float(s.integer()? as f64),
                            }
                        }
                        _ => s.skip()?,
                    }
                    Some(())
                })?;
                Some(out)
            }
            _ => self.integer().map(AttrValue::Int),
        }
    }

    /// A span's `events`: the type of the first `exception` event, and the
    /// name of the first other one.
    #[allow(clippy::type_complexity)]
    fn exception_events(&mut self) -> Option<(Option<Cow<'a, str>>, Option<Cow<'a, str>>)> {
        let mut out = None;
        let mut other = None;
        self.array_or_null(|s| {
            let mut name: Option<Option<&'a str>> = None;
            let mut exception_type: Option<Option<Cow<'a, str>>> = None;
            s.object(|s, key| match key {
                // Repeated fields are errors for `serde`'s derived structs.
                "name" if name.is_none() => {
                    name = Some(s.opt_str()?);
                    Some(())
                }
                "attributes" if exception_type.is_none() => {
                    let mut t = None;
                    s.key_values(|k| k == "exception.type", |_, v| t = v.into_text())?;
                    exception_type = Some(t);
                    Some(())
                }
                "name" | "attributes" => None,
                _ => s.skip(),
            })?;
            let Some(Some(name)) = name else {
                return Some(());
            };
            if name == "exception" {
                if out.is_none() {
                    out = Some(exception_type.flatten().unwrap_or(Cow::Borrowed(name)));
                }
            } else if other.is_none() {
                other = Some(Cow::Borrowed(name));
            }
            Some(())
        })?;
        Some((out, other))
    }

    /// A span's `status`: whether its code is ERROR.
    fn status(&mut self) -> Option<bool> {
        if self.null()? {
            return Some(false);
        }
        let mut code: Option<Option<bool>> = None;
        self.object(|s, key| match key {
            "code" if code.is_none() => {
                code = Some(match s.peek()? {
                    b'n' => s.literal(b"null").map(|_| None)?,
                    b'"' => Some(matches!(s.str()?, "STATUS_CODE_ERROR" | "ERROR" | "error")),
                    _ => Some(s.integer()? == 2),
                });
                Some(())
            }
            "code" => None,
            _ => s.skip(),
        })?;
        Some(code.flatten().unwrap_or(false))
    }

    /// Skips one value, checking it as `serde_json` checks what it ignores.
    fn skip(&mut self) -> Option<()> {
        self.skip_at(0)
    }

    fn skip_at(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => {
                self.i += 1;
                self.skip_str_body()
            }
            b'n' => self.literal(b"null"),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'-' | b'0'..=b'9' => self.skip_number(),
            b'[' => {
                self.i += 1;
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.skip_at(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.i += 1;
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.eat(b'"')?;
                    self.skip_str_body()?;
                    self.eat(b':')?;
                    self.skip_at(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    /// The rest of a string after its opening quote, escapes included.
    fn skip_str_body(&mut self) -> Option<()> {
        loop {
            let rest = self.b.get(self.i..)?;
            let n = wire::find_json_special(rest)?;
            self.i += n;
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => {
                    let escape = *self.b.get(self.i + 1)?;
                    self.i += 2;
                    match escape {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let hex = self.b.get(self.i..self.i + 4)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.i += 4;
                        }
                        _ => return None,
                    }
                }
                // A control character.
                _ => return None,
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn skip_number(&mut self) -> Option<()> {
        let digits = |s: &mut Self| {
            let n =
                s.b.get(s.i..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
            s.i += n;
            n
        };
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let first = *self.b.get(self.i)?;
        let n = digits(self);
        if n == 0 || (first == b'0' && n > 1) {
            return None;
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Path;

    /// What a reading built, comparable.
    fn summary(obs: &Observations) -> (Vec<String>, Vec<Span>) {
        let names = obs.names.iter().map(|(_, n)| n.to_string()).collect();
        (names, obs.spans.clone())
    }

    /// Reads `text` both ways: the fast path may decline, but what it
    /// accepts the `serde` path must accept and read the same.
    fn agree(text: &str) -> Result<bool, TestCaseError> {
        let fast = read_otlp(text);
        let mut slow = Observations::default();
        let slow_read = super::super::read_with_serde(Path::new("t.json"), text, &mut slow);
        if let Some(fast) = fast {
            prop_assert!(
                slow_read.is_ok(),
                "serde rejects what the scanner took: {text}"
            );
            prop_assert_eq!(summary(&fast), summary(&slow), "{}", text);
            return Ok(true);
        }
        Ok(false)
    }

    fn pick<T: Clone + std::fmt::Debug + 'static>(options: Vec<T>) -> impl Strategy<Value = T> {
        proptest::sample::select(options)
    }

    /// A value for an attribute, mostly the usual ones.
    fn any_value() -> impl Strategy<Value = String> {
        prop_oneof![
            30 => "[a-z0-9./ -]{0,10}".prop_map(|s| format!(r#"{{"stringValue":"{s}"}}"#)),
            15 => (0i64..600).prop_map(|n| format!(r#"{{"intValue":"{n}"}}"#)),
            10 => (-5i64..600).prop_map(|n| format!(r#"{{"intValue":{n}}}"#)),
            1 => Just(r#"{"boolValue":true}"#.to_string()),
            1 => Just(r#"{"doubleValue":200}"#.to_string()),
            1 => Just(r#"{"doubleValue":"200"}"#.to_string()),
            1 => Just(r#"{"doubleValue":1.5}"#.to_string()),
            1 => Just(r#"{"stringValue":null}"#.to_string()),
            1 => Just(r#"{"intValue":null}"#.to_string()),
            1 => Just(r#"{"stringValue":"a\"b"}"#.to_string()),
            1 => Just(r#"{"arrayValue":{"values":[{"stringValue":"x\u00e9\n"}]}}"#.to_string()),
            1 => Just(r#"{"kvlistValue":{"values":[]},"stringValue":"late"}"#.to_string()),
            1 => Just(r#""bare""#.to_string()),
            1 => Just("12".to_string()),
            1 => Just("1e3".to_string()),
            1 => Just("true".to_string()),
            1 => Just("null".to_string()),
            1 => Just("[1,2]".to_string()),
            1 => Just("007".to_string()),
        ]
    }

    fn attribute() -> impl Strategy<Value = String> {
        let key = pick(vec![
            "http.response.status_code",
            "http.status_code",
            "peer.service",
            "server.address",
            "net.peer.name",
            "db.system",
            "component",
            "error",
            "otel.status_code",
            "service.name",
            "exception.type",
            "http.url",
        ]);
        (key, any_value(), 0u8..60).prop_map(|(k, v, shape)| match shape {
            0 => format!(r#"{{"value":{v},"key":"{k}"}}"#),
            1 => format!(r#"{{"key":"{k}"}}"#),
            2 => format!(r#"{{"value":{v}}}"#),
            3 => format!(r#"{{ "key" : "{k}" , "value" : {v} , "extra": [{{}}] }}"#),
            _ => format!(r#"{{"key":"{k}","value":{v}}}"#),
        })
    }

    fn attributes() -> impl Strategy<Value = String> {
        prop_oneof![
            100 => prop::collection::vec(attribute(), 0..4).prop_map(|a| format!("[{}]", a.join(","))),
            1 => Just("null".to_string()),
            1 => Just("{}".to_string()),
        ]
    }

    fn id(hex: usize) -> impl Strategy<Value = String> {
        prop_oneof![
            200 => prop::collection::vec(pick(b"0123456789abcdefABCDEF".to_vec()), hex..=hex)
                .prop_map(|v| format!("\"{}\"", String::from_utf8(v).unwrap())),
            1 => Just("\"\"".to_string()),
            1 => Just("null".to_string()),
            1 => Just("\"W47/95gDgQPSabYzgT/GDA==\"".to_string()),
            1 => Just("\"zz\"".to_string()),
            1 => Just("12".to_string()),
        ]
    }

    fn time() -> impl Strategy<Value = String> {
        prop_oneof![
            150 => (0u64..4_000_000_000_000_000_000).prop_map(|n| format!("\"{n}\"")),
            50 => (0i64..999_999_999_999_999_999).prop_map(|n| n.to_string()),
            20 => (1_000_000_000_000_000_000u64..u64::MAX).prop_map(|n| n.to_string()),
            2 => (-999_999_999_999_999_999i64..0).prop_map(|n| n.to_string()),
            1 => Just("-1000000000000000000".to_string()),
            1 => Just("null".to_string()),
            1 => Just("\"17e3\"".to_string()),
            1 => Just("1.5".to_string()),
            1 => Just("\" 12\"".to_string()),
        ]
    }

    fn event() -> impl Strategy<Value = String> {
        let name = pick(vec![
            "\"exception\"",
            "\"exception\"",
            "\"log\"",
            "null",
            "\"exc\\u0065ption\"",
        ]);
        (name, attributes(), 0u8..40).prop_map(|(n, a, shape)| match shape {
            0 => format!(r#"{{"attributes":{a},"name":{n}}}"#),
            1 => format!(r#"{{"name":{n},"name":{n}}}"#),
            2 => format!(r#"{{"timeUnixNano":"1","name":{n}}}"#),
            _ => format!(r#"{{"name":{n},"attributes":{a}}}"#),
        })
    }

    fn span() -> impl Strategy<Value = String> {
        let fields = (
            id(32),
            id(16),
            id(16),
            pick(vec![
                "\"GET /a\"",
                "\"op\"",
                "\"op\"",
                "\"op\"",
                "null",
                "\"\"",
                "\"a\\\"b\"",
            ]),
            prop_oneof![
                40 => pick(vec!["2", "3", "0", "\"SPAN_KIND_SERVER\"", "\"client\"", "null", "-1"]),
                1 => Just("2.0"),
            ],
            time(),
            time(),
            attributes(),
            prop::collection::vec(event(), 0..2),
            prop_oneof![
                40 => pick(vec![
                    r#"{"code":0}"#,
                    r#"{"code":2}"#,
                    r#"{"code":"STATUS_CODE_ERROR"}"#,
                    r#"{"code":null,"message":"x"}"#,
                    "null",
                    "{}",
                ]),
                1 => pick(vec![r#"{"code":2.5}"#, r#"{"code":1,"code":2}"#]),
            ],
        );
        let order = prop_oneof![
            20 => Just(Vec::new()),
            1 => prop::collection::vec(0usize..12, 0..14),
        ];
        (fields, order).prop_map(|((t, s, p, n, k, st, en, a, ev, status), order)| {
            let all = [
                format!(r#""traceId":{t}"#),
                format!(r#""spanId":{s}"#),
                format!(r#""parentSpanId":{p}"#),
                format!(r#""name":{n}"#),
                format!(r#""kind":{k}"#),
                format!(r#""startTimeUnixNano":{st}"#),
                format!(r#""endTimeUnixNano":{en}"#),
                format!(r#""attributes":{a}"#),
                format!(r#""events":[{}]"#, ev.join(",")),
                format!(r#""status":{status}"#),
                r#""traceState":"a=b","flags":1,"links":[{"traceId":"x"}]"#.to_string(),
                r#""droppedAttributesCount":0"#.to_string(),
            ];
            // Mostly every field once, in order; sometimes some, shuffled, twice.
            let picked: Vec<&String> = if order.is_empty() {
                all.iter().collect()
            } else {
                order.iter().map(|&i| &all[i]).collect()
            };
            let picked: Vec<&str> = picked.iter().map(|s| s.as_str()).collect();
            format!("{{{}}}", picked.join(","))
        })
    }

    fn document() -> impl Strategy<Value = String> {
        let resource = prop_oneof![
            60 => attributes().prop_map(|a| format!(r#"{{"attributes":{a},"droppedAttributesCount":0}}"#)),
            1 => Just("null".to_string()),
            1 => Just(r#"{"attributes":[],"attributes":[]}"#.to_string()),
            1 => Just(r#"[[]]"#.to_string()),
        ];
        let scope = prop::collection::vec(span(), 0..3).prop_map(|spans| {
            format!(
                r#"{{"scope":{{"name":"s"}},"spans":[{}]}}"#,
                spans.join(",")
            )
        });
        let resource_spans = (resource, prop::collection::vec(scope, 0..3), any::<bool>())
            .prop_map(|(r, scopes, first)| {
                let scopes = format!(r#""scopeSpans":[{}]"#, scopes.join(","));
                if first {
                    format!(r#"{{"resource":{r},{scopes}}}"#)
                } else {
                    format!(r#"{{{scopes},"resource":{r},"schemaUrl":"u"}}"#)
                }
            });
        let tail = prop_oneof![
            20 => pick(vec!["", "\n", " "]),
            1 => pick(vec!["{}", ",", "x"]),
        ];
        (
            prop::collection::vec(resource_spans, 0..3),
            tail,
            any::<bool>(),
        )
            .prop_map(|(rs, tail, pretty)| {
                let doc = format!(r#"{{"resourceSpans":[{}]}}{tail}"#, rs.join(","));
                if pretty {
                    doc.replace(',', " ,\n  ").replace(':', ": ")
                } else {
                    doc
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn the_fast_path_reads_as_serde_does(doc in document()) {
            agree(&doc)?;
        }

        #[test]
        fn the_fast_path_survives_byte_changes(
            doc in document(),
            changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut bytes = doc.into_bytes();
            for (at, byte) in changes {
                let i = at.index(bytes.len().max(1)).min(bytes.len().saturating_sub(1));
                if let Some(b) = bytes.get_mut(i) {
                    *b = byte;
                }
            }
            if let Ok(text) = std::str::from_utf8(&bytes) {
                agree(text)?;
            }
        }
    }

    /// The two paths on every shipped fixture's traces (and on the file named
    /// by `RCA_TRACES`, when set: a big benchmark file, say).
    #[test]
    fn same_on_real_files() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(&fixtures)
            .unwrap()
            .map(|e| e.unwrap().path().join("traces.json"))
            .filter(|p| p.is_file())
            .collect();
        assert!(
            !paths.is_empty(),
            "no fixtures under {}",
            fixtures.display()
        );
        paths.extend(std::env::var_os("RCA_TRACES").map(std::path::PathBuf::from));
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                agree(&text).unwrap(),
                "the fast path declined {}",
                path.display()
            );
        }
    }

    #[test]
    fn the_usual_file_takes_the_fast_path() {
        let text = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}}]},"scopeSpans":[{"scope":{"name":"x"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"","name":"GET /a","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000","attributes":[{"key":"http.response.status_code","value":{"intValue":"503"}},{"key":"peer.service","value":{"stringValue":"redis"}}],"events":[{"name":"exception","attributes":[{"key":"exception.type","value":{"stringValue":"IOError"}}]}],"status":{"code":2}}]}]}]}"#;
        assert!(agree(text).unwrap(), "declined");
        let obs = read_otlp(text).unwrap();
        let span = &obs.spans[0];
        assert_eq!(obs.names.name(span.component), "cart");
        assert_eq!(span.http_status, 503);
        assert_eq!(span.duration, 250_000);
        assert!(span.error);
        assert_eq!(span.exception.map(|e| obs.names.name(e)), Some("IOError"));
        // Forms left to serde.
        for text in [
            r#"{"result":{"resourceSpans":[]}}"#,
            r#"{"resourceSpans":[]}{"resourceSpans":[]}"#,
            r#"{"data":[]}"#,
            r#"{"other":1}"#,
        ] {
            assert!(read_otlp(text).is_none(), "{text}");
        }
    }
}
