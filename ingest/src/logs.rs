//! Application logs: OTLP JSON `LogsData`
//! (`resourceLogs[].scopeLogs[].logRecords[]`), and [`template_of`], which
//! masks the variable parts of a message so that lines from one log statement
//! share one template.
//!
//! Level comes from `severityNumber` (OTLP's ranges), else `severityText`;
//! the exception from the `exception.type` attribute, else a
//! `SomethingException` / `SomethingError` word in the message's first line.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::error::IngestError;
use crate::model::{LogLevel, LogRecord, Micros, Observations};
use crate::traces::UNKNOWN_SERVICE;
use crate::wire::{self, decode_id, visit_key_values, AttrValue, Int, Resource, Str};

/// Reads OTLP JSON logs from `bytes` (the content of `path`) into `obs`;
/// returns the number of log records read.
pub fn read_otlp_logs(
    path: &Path,
    bytes: &[u8],
    obs: &mut Observations,
) -> Result<u64, IngestError> {
    let text = wire::json_text(path, bytes)?;
    let data: LogsData<'_> = serde_json::from_str(text).map_err(|e| wire::json_error(path, e))?;
    let Some(resources) = data.resource_logs else {
        return Err(IngestError::malformed(
            path,
            "no `resourceLogs` key: not OTLP JSON logs",
        ));
    };
    let mut count = 0u64;
    for rl in resources {
        let service = rl.resource.and_then(|r| r.attributes.0);
        let component = obs.names.intern(
            service
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or(UNKNOWN_SERVICE),
        );
        for sl in rl.scope_logs {
            let scope = sl
                .scope
                .and_then(|s| s.name)
                .filter(|n| !n.as_str().is_empty());
            for raw in sl.log_records {
                let record = convert(raw, component, scope.as_ref(), obs).map_err(|what| {
                    IngestError::malformed(path, format!("log record {}: {what}", count + 1))
                })?;
                obs.logs.push(record);
                count += 1;
            }
        }
    }
    Ok(count)
}

fn convert(
    raw: RawLog<'_>,
    component: crate::model::Sym,
    scope: Option<&Str<'_>>,
    obs: &mut Observations,
) -> Result<LogRecord, String> {
    let nanos = raw
        .time_unix_nano
        .filter(|t| t.0 != 0)
        .or(raw.observed_time_unix_nano.filter(|t| t.0 != 0))
        .ok_or("without timeUnixNano or observedTimeUnixNano")?;
    let trace_id = match raw.trace_id.as_ref().map(Str::as_str) {
        None | Some("") => None,
        Some(s) => Some(
            decode_id(s, 16)
                .ok_or_else(|| format!("invalid traceId {s:?}: neither hex nor base64"))?,
        ),
    }
    .filter(|&id| id != 0);
    let span_id = match raw.span_id.as_ref().map(Str::as_str) {
        None | Some("") => None,
        Some(s) => Some(
            decode_id(s, 8)
                .ok_or_else(|| format!("invalid spanId {s:?}: neither hex nor base64"))?
                as u64,
        ),
    }
    .filter(|&id| id != 0);
    let level = level_of(
        raw.severity_number.map_or(0, |n| n.0),
        raw.severity_text.as_ref().map(Str::as_str),
    );
    let message: Cow<'_, str> = raw.body.into_text().unwrap_or(Cow::Borrowed(""));
    let masked = obs.names.intern(&template_of(&message));
    let exception = match raw.attributes.exception_type {
        Some(e) => Some(obs.names.intern(&e)),
        None => exception_in(&message).map(|e| obs.names.intern(e)),
    };
    let logger = raw.attributes.logger.or_else(|| scope.map(|s| s.0.clone()));
    let template = match logger.as_deref() {
        Some(l) if is_code_location(l) => obs.names.intern(l),
        _ => masked,
    };
    let logger = logger.map(|l| obs.names.intern(&l));
    Ok(LogRecord {
        time: nanos.0.div_euclid(1000),
        component,
        level,
        template,
        message: masked,
        logger,
        trace_id,
        span_id,
        exception,
    })
}

/// Whether a logger's name is a code location (`t.s.TravelServiceImpl#532`,
/// `OrderService#place`: a class and a line or method): then it is the
/// line's template, the best grouping there is, since one statement writes
/// every line with it whatever its message says. Every reader applies this
/// one rule.
pub(crate) fn is_code_location(logger: &str) -> bool {
    logger.contains('#')
}

/// What a log store says of one line, for [`push_record`].
pub(crate) struct LineParts<'a> {
    pub time: Micros,
    pub component: &'a str,
    pub message: &'a str,
    /// `severity_number` as OTLP numbers it (0: none).
    pub severity_number: i64,
    pub level: Option<&'a str>,
    pub logger: Option<&'a str>,
    pub trace_id: Option<&'a str>,
    pub span_id: Option<&'a str>,
    pub exception: Option<&'a str>,
}

/// Pushes one application log line read from a log store. An id that is
/// neither hex nor base64 is dropped (the line still counts); a line
/// without a level field gets the level word it starts with, else info.
pub(crate) fn push_record(parts: LineParts<'_>, obs: &mut Observations) {
    let level = if parts.severity_number > 0 || parts.level.is_some() {
        level_of(parts.severity_number, parts.level)
    } else {
        level_in_message(parts.message)
    };
    let id = |s: Option<&str>, width| {
        s.and_then(|s| decode_id(s.trim(), width))
            .filter(|&v| v != 0)
    };
    let component = obs.names.intern(if parts.component.is_empty() {
        UNKNOWN_SERVICE
    } else {
        parts.component
    });
    let masked = obs.names.intern(&template_of(parts.message));
    let exception = parts
        .exception
        .filter(|e| !e.is_empty())
        .or_else(|| exception_in(parts.message))
        .map(|e| obs.names.intern(e));
    let logger = parts.logger.filter(|l| !l.is_empty());
    let template = match logger {
        Some(l) if is_code_location(l) => obs.names.intern(l),
        _ => masked,
    };
    let logger = logger.map(|l| obs.names.intern(l));
    obs.logs.push(LogRecord {
        time: parts.time,
        component,
        level,
        template,
        message: masked,
        logger,
        trace_id: id(parts.trace_id, 16),
        span_id: id(parts.span_id, 8).map(|v| v as u64),
        exception,
    });
}

/// The level a plain log line names among its first words (`2024-05-01
/// 10:00:00 ERROR [main] ...`, `level=warn ...`): what a line shipped without
/// a level field still says. Info when it names none.
pub fn level_in_message(msg: &str) -> LogLevel {
    let head = msg.get(..msg.len().min(160)).unwrap_or(msg);
    for word in head
        .split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '|' | ',' | '"'))
        .take(8)
    {
        let word = word
            .strip_prefix("level=")
            .unwrap_or(word)
            .trim_end_matches(':');
        let level = match word {
            "TRACE" | "trace" => LogLevel::Trace,
            "DEBUG" | "debug" => LogLevel::Debug,
            "INFO" | "info" => LogLevel::Info,
            "WARN" | "WARNING" | "warn" | "warning" => LogLevel::Warn,
            "ERROR" | "ERR" | "error" | "SEVERE" => LogLevel::Error,
            "FATAL" | "CRITICAL" | "PANIC" | "fatal" | "panic" => LogLevel::Fatal,
            _ => continue,
        };
        return level;
    }
    LogLevel::Info
}

/// OTLP's severity ranges (1-4 trace, 5-8 debug, 9-12 info, 13-16 warn,
/// 17-20 error, 21-24 fatal), else the severity text, else info.
pub fn level_of(number: i64, text: Option<&str>) -> LogLevel {
    match number {
        1..=4 => return LogLevel::Trace,
        5..=8 => return LogLevel::Debug,
        9..=12 => return LogLevel::Info,
        13..=16 => return LogLevel::Warn,
        17..=20 => return LogLevel::Error,
        21..=24 => return LogLevel::Fatal,
        _ => {}
    }
    let Some(text) = text else {
        return LogLevel::Info;
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "trace" | "finest" | "finer" => LogLevel::Trace,
        "debug" | "fine" | "config" => LogLevel::Debug,
        "warn" | "warning" => LogLevel::Warn,
        "error" | "err" | "severe" => LogLevel::Error,
        "fatal" | "critical" | "crit" | "panic" | "emerg" | "emergency" | "alert" => {
            LogLevel::Fatal
        }
        _ => LogLevel::Info,
    }
}

const MASK: &str = "<*>";

/// The template of a log message: its first line with variable tokens masked
/// as `<*>`.
///
/// A token (a run of letters, digits and `_ . : -`) is variable when it is
/// a value (see `is_variable`): numbers, hex IDs, UUIDs, IP addresses with
/// ports, durations like `12ms`; a name with a digit in it stays. Quoted values (`"..."`, and `'...'` standing as a word) are masked
/// whole. Everything else, including punctuation and spacing, is kept, so
/// `order 8812 for "bob" failed after 1.5s` reads `order <*> for <*> failed after <*>`.
pub fn template_of(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or("").trim_end();
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' {
            let word_start = i == 0 || !b[i - 1].is_ascii_alphanumeric();
            if word_start {
                if let Some(close) = closing_quote(b, i + 1, c) {
                    let word_end =
                        !matches!(b.get(close + 1), Some(n) if n.is_ascii_alphanumeric());
                    if c == b'"' || word_end {
                        out.push_str(MASK);
                        i = close + 1;
                        continue;
                    }
                }
            }
        }
        if is_word_byte(c) {
            let start = i;
            while i < b.len() && is_word_byte(b[i]) {
                i += 1;
            }
            let token = line.get(start..i).unwrap_or("");
            let core = token.trim_end_matches(['.', ':', '-']);
            if is_variable(core) {
                out.push_str(MASK);
                out.push_str(token.get(core.len()..).unwrap_or(""));
            } else {
                out.push_str(token);
            }
            continue;
        }
        match line.get(i..).and_then(|rest| rest.chars().next()) {
            Some(ch) => {
                out.push(ch);
                i += ch.len_utf8();
            }
            None => break,
        }
    }
    out
}

/// Whether a token is a value rather than a word: it holds a digit, and
/// digits make a quarter or more of its letters and digits (`8812`,
/// `12ms`, `10.0.3.7:5432`, a UUID), or it is a long run of hex digits. A
/// name with a digit in it (`ts-travel2-service`, `http2`) stays a word, so
/// a line naming a component keeps that name.
fn is_variable(token: &str) -> bool {
    let alnum = token.bytes().filter(u8::is_ascii_alphanumeric).count();
    let digits = token.bytes().filter(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let hex = token
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .all(|c| c.is_ascii_hexdigit());
    4 * digits >= alnum || (hex && alnum >= 8)
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'-')
}

/// The index of the quote closing one opened before `from`, skipping
/// backslash-escaped characters.
fn closing_quote(b: &[u8], from: usize, quote: u8) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// A `SomethingException` or `SomethingError` word (dotted names kept whole,
/// `java.net.ConnectException`) in the first line of `msg`.
pub fn exception_in(msg: &str) -> Option<&str> {
    let line = msg.lines().next()?;
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$'))
        .map(|w| w.trim_matches('.'))
        .find(|w| {
            let last = w.rsplit('.').next().unwrap_or(w);
            let stem = last
                .strip_suffix("Exception")
                .or_else(|| last.strip_suffix("Error"));
            stem.is_some_and(|s| s.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        })
}

// ---------------------------------------------------------------------------
// Wire structs

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogsData<'a> {
    #[serde(borrow, default)]
    resource_logs: Option<Vec<ResourceLogs<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceLogs<'a> {
    #[serde(borrow, default)]
    resource: Option<Resource<'a>>,
    #[serde(borrow, default, alias = "instrumentationLibraryLogs")]
    scope_logs: Vec<ScopeLogs<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScopeLogs<'a> {
    #[serde(borrow, default, alias = "instrumentationLibrary")]
    scope: Option<Scope<'a>>,
    #[serde(borrow, default)]
    log_records: Vec<RawLog<'a>>,
}

#[derive(Deserialize)]
struct Scope<'a> {
    #[serde(borrow, default)]
    name: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog<'a> {
    #[serde(default)]
    time_unix_nano: Option<Int>,
    #[serde(default)]
    observed_time_unix_nano: Option<Int>,
    #[serde(default)]
    severity_number: Option<Severity>,
    #[serde(borrow, default)]
    severity_text: Option<Str<'a>>,
    #[serde(borrow, default)]
    body: AttrValue<'a>,
    #[serde(borrow, default)]
    trace_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    span_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    attributes: LogAttrs<'a>,
}

/// `severityNumber`: a number, or the enum's name (`"SEVERITY_NUMBER_WARN2"`).
struct Severity(i64);

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Severity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a severity number or name")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Severity, E> {
                Ok(Severity(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Severity, E> {
                Ok(Severity(i64::try_from(v).unwrap_or(0)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Severity, E> {
                let name = v.strip_prefix("SEVERITY_NUMBER_").unwrap_or(v);
                let (word, step) = match name.as_bytes().last() {
                    Some(d @ b'2'..=b'4') => {
                        (name.get(..name.len() - 1).unwrap_or(""), (d - b'1') as i64)
                    }
                    _ => (name, 0),
                };
                let base = match word {
                    "TRACE" => 1,
                    "DEBUG" => 5,
                    "INFO" => 9,
                    "WARN" => 13,
                    "ERROR" => 17,
                    "FATAL" => 21,
                    _ => return Ok(Severity(wire::parse_i64(v).unwrap_or(0))),
                };
                Ok(Severity(base + step))
            }
        }
        d.deserialize_any(V)
    }
}

/// The attributes of a log record that the model keeps.
#[derive(Default)]
struct LogAttrs<'a> {
    exception_type: Option<Cow<'a, str>>,
    logger: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for LogAttrs<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut a = LogAttrs::default();
        let wants = |k: &str| {
            matches!(
                k,
                "exception.type" | "logger.name" | "logger" | "log.logger"
            )
        };
        visit_key_values(d, wants, |k, v| match k {
            "exception.type" => a.exception_type = v.into_text(),
            "logger.name" | "logger" | "log.logger" => a.logger = v.into_text(),
            _ => {}
        })?;
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_mask_variables() {
        assert_eq!(
            template_of("order 8812 for \"bob\" failed after 1.5s"),
            "order <*> for <*> failed after <*>"
        );
        assert_eq!(
            template_of("connect to 10.0.3.7:5432 refused"),
            "connect to <*> refused"
        );
        assert_eq!(
            template_of("trace 4bf92f3577b34da6a3ce929d0e0e4736 span=00f067aa0ba902b7."),
            "trace <*> span=<*>."
        );
        assert_eq!(
            template_of("user 'alice' can't log in, id 123e4567-e89b-12d3-a456-426614174000"),
            "user <*> can't log in, id <*>"
        );
        assert_eq!(
            template_of("GET /api/orders/42 HTTP/1.1"),
            "GET /api/orders/<*> HTTP/<*>"
        );
        assert_eq!(template_of("first line 1\nsecond line 2"), "first line <*>");
        assert_eq!(
            template_of("No instances available for ts-travel2-service"),
            "No instances available for ts-travel2-service"
        );
        assert_eq!(
            template_of("call to http2 peer id=ab12cd34ef failed after 12ms"),
            "call to http2 peer id=<*> failed after <*>"
        );
        assert_eq!(template_of("escaped \"a \\\" b\" ok"), "escaped <*> ok");
        assert_eq!(template_of("unclosed \"quote 5"), "unclosed \"quote <*>");
        assert_eq!(template_of("ümlaut 3 ünïcode"), "ümlaut <*> ünïcode");
        assert_eq!(template_of(""), "");
    }

    #[test]
    fn exception_words() {
        assert_eq!(
            exception_in("java.net.ConnectException: Connection refused"),
            Some("java.net.ConnectException")
        );
        assert_eq!(
            exception_in("caught TimeoutError while waiting"),
            Some("TimeoutError")
        );
        assert_eq!(exception_in("Error: nothing specific"), None);
        assert_eq!(exception_in("fine\nat NullPointerException"), None);
    }

    #[test]
    fn levels() {
        assert_eq!(level_of(17, Some("INFO")), LogLevel::Error);
        assert_eq!(level_of(0, Some("WARNING")), LogLevel::Warn);
        assert_eq!(level_of(0, None), LogLevel::Info);
        assert_eq!(level_of(24, None), LogLevel::Fatal);
        assert_eq!(level_of(4, None), LogLevel::Trace);
    }
}
