//! Pieces shared by the readers: strings borrowed from the input, the
//! attribute value union of OTLP and Jaeger, integers that arrive as strings,
//! trace and span IDs in hex or base64, timestamp parsing without allocation,
//! and the mapping of `serde_json` errors to [`IngestError`].
//!
//! Nothing here knows a whole format; each reader module composes these.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::IngestError;
use crate::model::Micros;

// ---------------------------------------------------------------------------
// Input text and errors

/// The input as text: a leading UTF-8 byte-order mark dropped, invalid UTF-8
/// and an empty (or all-whitespace) file rejected.
pub(crate) fn json_text<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, IngestError> {
    let bytes = strip_bom(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        IngestError::malformed(
            path,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    if text.trim().is_empty() {
        return Err(IngestError::malformed(path, "empty file"));
    }
    Ok(text)
}

pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Maps a `serde_json` error: syntax and truncation become [`IngestError::Json`];
/// well-formed JSON with the wrong content becomes [`IngestError::Malformed`]
/// (its message still gives the line and column).
pub(crate) fn json_error(path: &Path, e: serde_json::Error) -> IngestError {
    match e.classify() {
        serde_json::error::Category::Data => {
            let full = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let msg = full.strip_suffix(&suffix).unwrap_or(&full);
            IngestError::malformed(
                path,
                format!("line {}, column {}: {msg}", e.line(), e.column()),
            )
        }
        _ => IngestError::json(path, e),
    }
}

// ---------------------------------------------------------------------------
// Borrowed strings and scalars

/// A string borrowed from the input when it holds no escapes, owned otherwise.
///
/// `Cow<'de, str>`'s own `Deserialize` always copies; this one does not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Str<'a>(pub Cow<'a, str>);

impl<'a> Str<'a> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// An integer written as a JSON number or as a decimal string, as proto3 JSON
/// writes 64-bit integers (`"startTimeUnixNano": "1700000000000000000"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or a decimal string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom(format!("integer {v} out of range")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
                if v.is_finite() && v.abs() < 9.2e18 {
                    Ok(Int(v as i64))
                } else {
                    Err(E::custom(format!("number {v} is not an integer")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                parse_i64(v)
                    .map(Int)
                    .ok_or_else(|| E::custom(format!("expected an integer, found {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A float written as a JSON number or as a string (`"NaN"`, `"Infinity"`,
/// `"0.25"`), as proto3 JSON allows.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Float(pub f64);

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Float;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a numeric string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Float, E> {
                Ok(Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Float, E> {
                parse_float(v)
                    .map(Float)
                    .ok_or_else(|| E::custom(format!("expected a number, found {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses a decimal integer with an optional sign, surrounding spaces allowed.
pub(crate) fn parse_i64(s: &str) -> Option<i64> {
    // The common case, digits only (proto3 JSON's 64-bit integers), by hand.
    if !s.is_empty() && s.len() <= 19 {
        let mut v = 0u64;
        let mut bad = false;
        for c in s.bytes() {
            bad |= !c.is_ascii_digit();
            v = v.wrapping_mul(10).wrapping_add(c.wrapping_sub(b'0') as u64);
        }
        if !bad {
            // 19 digits fit a u64; whether they fit an i64 is checked here.
            return i64::try_from(v).ok();
        }
    }
    s.trim().parse::<i64>().ok()
}

/// Parses a float as Prometheus and proto3 JSON write them, including `NaN`,
/// `+Inf`, `-Inf` and `Infinity`.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    let s = s.trim();
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "Infinity" | "+Infinity" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

// ---------------------------------------------------------------------------
// Attributes

/// One attribute value: OTLP's `AnyValue` object (`{"stringValue": ..}`,
/// `{"intValue": ..}`, ...) or a Jaeger tag's bare JSON scalar.
///
/// Arrays, key-value lists and bytes are skipped as [`AttrValue::Other`].
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum AttrValue<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    #[default]
    Other,
}

impl<'a> AttrValue<'a> {
    /// The value as an integer, when it is one (or a string or whole float holding one).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AttrValue::Int(n) => Some(*n),
            AttrValue::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.2e18 => {
                Some(*f as i64)
            }
            AttrValue::Str(s) => parse_i64(s),
            _ => None,
        }
    }

    /// `true`, or the string `"true"` as some Jaeger clients write booleans.
    pub fn is_true(&self) -> bool {
        match self {
            AttrValue::Bool(b) => *b,
            AttrValue::Str(s) => s.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }

    /// The value as text, for names: strings as they are, numbers formatted.
    /// `None` for an empty string and for non-scalar values.
    pub fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            AttrValue::Str(s) if s.is_empty() => None,
            AttrValue::Str(s) => Some(s),
            AttrValue::Int(n) => Some(Cow::Owned(n.to_string())),
            AttrValue::Float(f) => Some(Cow::Owned(f.to_string())),
            AttrValue::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            AttrValue::Other => None,
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum AnyValueKey {
    StringValue,
    IntValue,
    BoolValue,
    DoubleValue,
    #[serde(other)]
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for AttrValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AttrValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an OTLP AnyValue object or a JSON scalar")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(AttrValue::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AttrValue::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(AttrValue::Str(Cow::Owned(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(AttrValue::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or(AttrValue::Float(v as f64), AttrValue::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(AttrValue::Float(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(AttrValue::Bool(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(AttrValue::Other)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(AttrValue::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(AttrValue::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = AttrValue::Other;
                while let Some(key) = map.next_key::<AnyValueKey>()? {
                    out = match key {
                        AnyValueKey::StringValue => match map.next_value::<Option<Str<'de>>>()? {
                            Some(s) => AttrValue::Str(s.0),
                            None => AttrValue::Other,
                        },
                        AnyValueKey::IntValue => AttrValue::Int(map.next_value::<Int>()?.0),
                        AnyValueKey::BoolValue => AttrValue::Bool(map.next_value::<bool>()?),
                        AnyValueKey::DoubleValue => AttrValue::Float(map.next_value::<Float>()?.0),
                        AnyValueKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum KvKey {
    Key,
    Value,
    #[serde(other)]
    Other,
}

/// Visits a JSON array of attributes or tags (or `null`) without collecting
/// it: OTLP's `{"key", "value": AnyValue}` and Jaeger's `{"key", "type",
/// "value"}` alike. `f` sees the attributes whose key `wants` accepts; the
/// values of the others are skipped unparsed, as most of a span's
/// attributes (URLs, user agents, sizes) are of no use here.
pub(crate) fn visit_key_values<'de, D, F>(
    d: D,
    wants: fn(&str) -> bool,
    f: F,
) -> Result<(), D::Error>
where
    D: Deserializer<'de>,
    F: FnMut(&str, AttrValue<'de>),
{
    struct Seq<F> {
        wants: fn(&str) -> bool,
        f: F,
    }
    impl<'de, F: FnMut(&str, AttrValue<'de>)> Visitor<'de> for Seq<F> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array of key-value attributes")
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
            while seq
                .next_element_seed(One {
                    wants: self.wants,
                    f: &mut self.f,
                })?
                .is_some()
            {}
            Ok(())
        }
    }
    struct One<'f, F> {
        wants: fn(&str) -> bool,
        f: &'f mut F,
    }
    impl<'de, F: FnMut(&str, AttrValue<'de>)> de::DeserializeSeed<'de> for One<'_, F> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de, F: FnMut(&str, AttrValue<'de>)> Visitor<'de> for One<'_, F> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a key-value attribute")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut key: Option<Str<'de>> = None;
            let mut value = AttrValue::Other;
            let mut wanted = true;
            while let Some(k) = map.next_key::<KvKey>()? {
                match k {
                    KvKey::Key => {
                        let s = map.next_value::<Str<'de>>()?;
                        wanted = (self.wants)(s.as_str());
                        key = Some(s);
                    }
                    // The key comes first in practice; a value before its
                    // key is read in case the key turns out to be wanted.
                    KvKey::Value if wanted => value = map.next_value::<AttrValue<'de>>()?,
                    KvKey::Value | KvKey::Other => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            let Some(key) = key else {
                return Err(de::Error::missing_field("key"));
            };
            if wanted {
                (self.f)(key.as_str(), value);
            }
            Ok(())
        }
    }
    d.deserialize_any(Seq { wants, f })
}

/// The `service.name` of a resource's attributes.
#[derive(Default)]
pub(crate) struct ServiceName<'a>(pub Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for ServiceName<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = None;
        visit_key_values(d, |k| k == "service.name", |_, v| out = v.into_text())?;
        Ok(ServiceName(out))
    }
}

/// An OTLP `Resource`; only `service.name` matters to us.
#[derive(serde::Deserialize, Default)]
pub(crate) struct Resource<'a> {
    #[serde(borrow, default)]
    pub attributes: ServiceName<'a>,
}

// ---------------------------------------------------------------------------
// Names

/// The first `"`, `\\` or control character (below 0x20) in `b`, eight
/// bytes at a time: the ends of a JSON string and what stops a fast path.
#[inline]
pub(crate) fn find_json_special(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = LO * b'"' as u64;
    const BACKSLASHES: u64 = LO * b'\\' as u64;
    // High bit set in each byte of `v` that is zero (or below `n`); only the
    // lowest set bit is exact, which is the one wanted.
    let zero_bytes = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let below_space = |v: u64| v.wrapping_sub(LO * 0x20) & !v & HI;
    let mut words = b.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(word);
        let w = u64::from_le_bytes(buf);
        let hits = zero_bytes(w ^ QUOTES) | zero_bytes(w ^ BACKSLASHES) | below_space(w);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| at + p)
}

/// [`same`] for strings.
#[inline]
pub(crate) fn same_str(a: &str, b: &str) -> bool {
    same(a.as_bytes(), b.as_bytes())
}

/// String equality for the short names of access logs and spans, inlined:
/// a call to `memcmp` per comparison costs more than the comparison.
#[inline]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut wa = a.chunks_exact(8);
    let mut wb = b.chunks_exact(8);
    for (x, y) in (&mut wa).zip(&mut wb) {
        let mut bx = [0u8; 8];
        let mut by = [0u8; 8];
        bx.copy_from_slice(x);
        by.copy_from_slice(y);
        if u64::from_ne_bytes(bx) != u64::from_ne_bytes(by) {
            return false;
        }
    }
    wa.remainder()
        .iter()
        .zip(wb.remainder())
        .all(|(x, y)| x == y)
}

// ---------------------------------------------------------------------------
// Trace and span IDs

/// Decodes a trace ID (`width` 16) or span ID (`width` 8) written as hex (as
/// OTLP JSON and Jaeger write it) or as base64 (as grpc-gateway writes proto
/// `bytes`). An empty string decodes to 0 (no ID). `None` when it is neither.
pub(crate) fn decode_id(s: &str, width: usize) -> Option<u128> {
    if s.is_empty() {
        return Some(0);
    }
    let b = s.as_bytes();
    let hex_len = width * 2;
    if b.len() == hex_len {
        if let Some(v) = hex_words(b) {
            return Some(v);
        }
    }
    let padded = width.div_ceil(3) * 4;
    let unpadded = (width * 4).div_ceil(3);
    if b.len() == padded || b.len() == unpadded {
        let mut buf = [0u8; 16];
        if let Some(n) = base64_decode(b, &mut buf) {
            if n == width {
                return Some(
                    buf[..n]
                        .iter()
                        .fold(0u128, |acc, &x| (acc << 8) | x as u128),
                );
            }
        }
    }
    // Jaeger writes 64-bit trace IDs, and some clients drop leading zeros.
    if b.len() < hex_len {
        return hex_u128(b);
    }
    None
}

/// Nibble values of hex digits; 0xFF marks a non-hex byte.
const HEX: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Up to 16 hex digits; no branch per digit, as IDs are decoded by the million.
fn hex_u64(b: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    let mut bad = 0u8;
    for &c in b {
        let n = HEX[c as usize];
        bad |= n;
        v = (v << 4) | (n & 0x0F) as u64;
    }
    (bad & 0xF0 == 0).then_some(v)
}

/// 16 or 32 hex digits, eight at a time.
fn hex_words(b: &[u8]) -> Option<u128> {
    let mut v: u128 = 0;
    let mut words = b.chunks_exact(8);
    for word in &mut words {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(word);
        v = (v << 32) | hex8(u64::from_be_bytes(buf))? as u128;
    }
    words.remainder().is_empty().then_some(v)
}

/// Eight ASCII hex digits (the first in the top byte) to their 32-bit value,
/// SWAR style; `None` if any byte is not a hex digit.
fn hex8(w: u64) -> Option<u32> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // High bit of each byte set where `lo <= byte <= hi`; exact for bytes
    // below 0x80, which is checked first.
    let between = |x: u64, lo: u8, hi: u8| {
        x.wrapping_add(LO * (0x80 - lo as u64)) & !x.wrapping_add(LO * (0x7f - hi as u64)) & HI
    };
    if w & HI != 0 {
        return None;
    }
    let digits = between(w, b'0', b'9');
    let letters = between(w | (LO * 0x20), b'a', b'f');
    if digits | letters != HI {
        return None;
    }
    // '0'..'9' -> low nibble; 'a'..'f' / 'A'..'F' (bit 6 set) -> low nibble + 9.
    let mut v = (w & (LO * 0x0f)) + ((w >> 6) & LO) * 9;
    v = (v | (v >> 4)) & 0x00ff_00ff_00ff_00ff;
    v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
    v = (v | (v >> 16)) & 0x0000_0000_ffff_ffff;
    Some(v as u32)
}

fn hex_u128(b: &[u8]) -> Option<u128> {
    if b.is_empty() || b.len() > 32 {
        return None;
    }
    let split = b.len().saturating_sub(16);
    let (hi, lo) = b.split_at(split);
    Some(((hex_u64(hi)? as u128) << 64) | hex_u64(lo)? as u128)
}

/// Decodes standard or URL-safe base64, padded or not, into `out`; the number
/// of bytes written, or `None` when the input is not base64 or does not fit.
fn base64_decode(b: &[u8], out: &mut [u8]) -> Option<usize> {
    let body = match b {
        [rest @ .., b'=', b'='] => rest,
        [rest @ .., b'='] => rest,
        _ => b,
    };
    if body.len() % 4 == 1 {
        return None;
    }
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut n = 0usize;
    for &c in body {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            let slot = out.get_mut(n)?;
            *slot = (acc >> bits) as u8;
            n += 1;
            acc &= (1 << bits) - 1;
        }
    }
    Some(n)
}

// ---------------------------------------------------------------------------
// Time

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(b: &[u8], at: usize, len: usize) -> Option<u32> {
    let part = b.get(at..at + len)?;
    let mut v = 0u32;
    for &c in part {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

fn civil_micros(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<Micros> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, mo, d);
    let secs = days * 86_400 + (h * 3600 + mi * 60 + s) as i64;
    Some(secs * 1_000_000)
}

/// Parses an RFC 3339 timestamp (`2024-05-01T10:00:00.123Z`,
/// `2024-05-01T12:00:00+02:00`) to microseconds. A missing zone reads as UTC.
pub(crate) fn parse_rfc3339_micros(s: &str) -> Option<Micros> {
    let b = s.trim().as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let base = civil_micros(
        digits(b, 0, 4)?,
        digits(b, 5, 2)?,
        digits(b, 8, 2)?,
        digits(b, 11, 2)?,
        digits(b, 14, 2)?,
        digits(b, 17, 2)?,
    )?;
    let mut i = 19;
    let mut frac: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        let mut scale = 100_000;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            frac += (c - b'0') as i64 * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_secs: i64 = match b.get(i..)? {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [_, _, b':', _, _] => (digits(rest, 0, 2)?, digits(rest, 3, 2)?),
                [_, _, _, _] => (digits(rest, 0, 2)?, digits(rest, 2, 2)?),
                [_, _] => (digits(rest, 0, 2)?, 0),
                _ => return None,
            };
            let off = (h * 3600 + m * 60) as i64;
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    Some(base + frac - offset_secs * 1_000_000)
}

/// Parses nginx's `$time_local` (`10/Oct/2023:13:55:36 +0000`) to microseconds.
pub(crate) fn parse_nginx_time_micros(s: &str) -> Option<Micros> {
    let b = s.as_bytes();
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let mo = match &b[3..6] {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    };
    if b[14] != b':' || b[17] != b':' {
        return None;
    }
    let base = civil_micros(
        digits(b, 7, 4)?,
        mo,
        digits(b, 0, 2)?,
        digits(b, 12, 2)?,
        digits(b, 15, 2)?,
        digits(b, 18, 2)?,
    )?;
    let off = (digits(b, 22, 2)? * 3600 + digits(b, 24, 2)? * 60) as i64;
    let off = match b[21] {
        b'+' => off,
        b'-' => -off,
        _ => return None,
    };
    Some(base - off * 1_000_000)
}

/// Parses a non-negative decimal number of seconds (`0.002`, `12`) to
/// microseconds, exactly (digits past the sixth decimal are dropped).
pub(crate) fn parse_secs_micros(s: &str) -> Option<Micros> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for c in int.bytes() {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as i64)?;
    }
    v = v.checked_mul(1_000_000)?;
    let mut micros = 0;
    let mut scale = 100_000;
    for c in frac.bytes() {
        if !c.is_ascii_digit() {
            return None;
        }
        micros += (c - b'0') as i64 * scale;
        scale /= 10;
    }
    v.checked_add(micros)
}

/// Parses a non-negative decimal integer with no sign or spaces.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for c in s.bytes() {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(v)
}

/// Milliseconds to microseconds, saturating.
pub(crate) fn ms_to_micros(ms: u64) -> Micros {
    i64::try_from(ms.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// An HTTP status from any integer; out-of-range values read as 0 (none).
pub(crate) fn http_status(n: i64) -> u16 {
    if (0..=999).contains(&n) {
        n as u16
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_hex_and_base64() {
        let hex = "5b8efff798038103d269b633813fc60c";
        let v = decode_id(hex, 16).unwrap();
        assert_eq!(v, 0x5b8efff798038103d269b633813fc60c);
        // The same 16 bytes in base64, padded and not.
        assert_eq!(decode_id("W47/95gDgQPSabYzgT/GDA==", 16), Some(v));
        assert_eq!(decode_id("W47/95gDgQPSabYzgT/GDA", 16), Some(v));
        assert_eq!(decode_id("W47_95gDgQPSabYzgT_GDA==", 16), Some(v));
        assert_eq!(decode_id("eee19b7ec3c1b174", 8), Some(0xeee19b7ec3c1b174));
        assert_eq!(decode_id("7uGbfsPBsXQ=", 8), Some(0xeee19b7ec3c1b174));
        assert_eq!(decode_id("", 8), Some(0));
        assert_eq!(decode_id("abc", 8), Some(0xabc));
        assert_eq!(decode_id("not an id!", 8), None);
        assert_eq!(decode_id("5b8efff798038103d269b633813fc60c00", 16), None);
        assert_eq!(decode_id("5b8efff798038103d269b633813fc60c", 8), None);
    }

    #[test]
    fn hex_eight_at_a_time() {
        for s in [
            "00000000", "ffffffff", "FFFFFFFF", "0123abcd", "89ABcdEF", "deadBEEF",
        ] {
            let mut buf = [0u8; 8];
            buf.copy_from_slice(s.as_bytes());
            let want = u32::from_str_radix(s, 16).unwrap();
            assert_eq!(hex8(u64::from_be_bytes(buf)), Some(want), "{s}");
        }
        for s in [
            "0000000g", "/0000000", ":0000000", "@0000000", "G0000000", "`0000000", "0000000 ",
            "é000000",
        ] {
            let mut buf = [0u8; 8];
            buf.copy_from_slice(&s.as_bytes()[..8]);
            assert_eq!(hex8(u64::from_be_bytes(buf)), None, "{s}");
        }
        // Every single byte in every position.
        for pos in 0..8 {
            for byte in 0..=255u8 {
                let mut buf = *b"00000000";
                buf[pos] = byte;
                let want = std::str::from_utf8(&buf)
                    .ok()
                    .filter(|s| s.bytes().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|s| u32::from_str_radix(s, 16).ok());
                assert_eq!(hex8(u64::from_be_bytes(buf)), want, "{buf:?}");
            }
        }
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_micros("2024-05-01T10:00:00.123Z"),
            Some(1_714_557_600_123_000)
        );
        assert_eq!(
            parse_rfc3339_micros("2024-05-01T12:00:00.123+02:00"),
            Some(1_714_557_600_123_000)
        );
        assert_eq!(
            parse_rfc3339_micros("2024-05-01T10:00:00.123456789Z"),
            Some(1_714_557_600_123_456)
        );
        assert_eq!(parse_rfc3339_micros("2024-13-01T10:00:00Z"), None);
        assert_eq!(parse_rfc3339_micros("2024-05-01T10:00"), None);
        assert_eq!(parse_rfc3339_micros("2024-05-01T10:00:00.Z"), None);
        assert_eq!(parse_rfc3339_micros("2024-05-01T10:00:00Zjunk"), None);
        assert_eq!(parse_rfc3339_micros("éééééééééééééééééééééé"), None);
    }

    #[test]
    fn nginx_time() {
        assert_eq!(
            parse_nginx_time_micros("10/Oct/2023:13:55:36 +0000"),
            Some(1_696_946_136_000_000)
        );
        assert_eq!(
            parse_nginx_time_micros("10/Oct/2023:15:55:36 +0200"),
            Some(1_696_946_136_000_000)
        );
        assert_eq!(parse_nginx_time_micros("10/Foo/2023:13:55:36 +0000"), None);
        assert_eq!(parse_nginx_time_micros("10/Oct/2023:13:55:36"), None);
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_secs_micros("0.002"), Some(2_000));
        assert_eq!(parse_secs_micros("12"), Some(12_000_000));
        assert_eq!(parse_secs_micros("1.2345678"), Some(1_234_567));
        assert_eq!(parse_secs_micros("-"), None);
        assert_eq!(parse_secs_micros("."), None);
        assert_eq!(parse_secs_micros("99999999999999999999"), None);
        assert_eq!(parse_secs_micros("9223372036854.999999"), None);
    }

    #[test]
    fn floats() {
        assert!(parse_float("NaN").unwrap().is_nan());
        assert_eq!(parse_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_float("0.5"), Some(0.5));
        assert_eq!(parse_float("x"), None);
    }
}
