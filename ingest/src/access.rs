//! Proxy access logs, the format told line by line:
//!
//! - Envoy JSON lines (the line starts with `{`): `start_time`, `method`,
//!   `path`, `response_code`, `response_flags`, `bytes_sent`, `duration` (ms),
//!   `user_agent`, `x_forwarded_for`, `upstream_cluster`,
//!   `downstream_tls_version`, `downstream_remote_address`; other keys are
//!   ignored and missing ones default, except `start_time`, without which a
//!   line means nothing.
//! - Envoy's default text format (the line starts with `[`):
//!   `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
//!   %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
//!   %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
//!   "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"`.
//! - ingress-nginx's `upstreaminfo` format (anything else):
//!   `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
//!   "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name]
//!   [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length
//!   $upstream_response_time $upstream_status $req_id`, where the four upstream
//!   fields may be lists (`a, b : c`) after retries.
//!
//! Paths are kept without their query string, so that one endpoint is one name.
//! Any line that fits none of the formats is an error naming its number.
//!
//! Speed: lines are split with `memchr` and scanned by hand. A JSON line goes
//! first to a scanner for the flat objects Envoy writes (strings without
//! escapes, integers, null), which takes nearly every line at a fraction of
//! `serde_json`'s cost; anything else it leaves to `serde_json` and a struct
//! that borrows from the input, which also words every error. Names are
//! interned once, the repeating ones through a memo of the line before. A big
//! log is read in chunks of whole lines ([`read_lines`]), in parallel, by
//! `load_fixture`.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::error::IngestError;
use crate::model::{AccessRecord, Interner, Micros, Observations, Sym};
use crate::wire::{self, Str};

/// Reads an access log from `bytes` (the content of `path`) into `obs`,
/// crediting each line to the proxy `default_proxy`; returns the number of
/// lines read (blank lines skipped).
pub fn read_access_log(
    path: &Path,
    bytes: &[u8],
    default_proxy: &str,
    obs: &mut Observations,
) -> Result<u64, IngestError> {
    let bytes = wire::strip_bom(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(IngestError::malformed(path, "empty file"));
    }
    read_lines(bytes, default_proxy, obs)
        .map(|read| read.records)
        .map_err(|e| e.in_file(path, 0))
}

/// Reads one access-log line (any of the three formats), credited to the
/// proxy `proxy`, into `obs`: for lines that come one by one from a log
/// store. `Err` says why the line fits no format.
pub(crate) fn read_access_line(
    line: &str,
    proxy: &str,
    obs: &mut Observations,
) -> Result<(), String> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Err("empty line".into());
    }
    let fields = parse_line(line)?;
    let mut names = Names::new(&mut obs.names, proxy);
    let record = fields.record(&mut names);
    obs.access.push(record);
    Ok(())
}

/// What [`read_lines`] read from a run of lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LinesRead {
    /// Records pushed (blank lines yield none).
    pub records: u64,
    /// Lines seen, blank ones included: newlines, plus one for a last line without.
    pub lines: u64,
}

/// A line of a run that fits no format: its number within the run, from 1.
#[derive(Debug)]
pub(crate) struct LineError {
    pub line: u64,
    pub what: String,
}

impl LineError {
    /// The error for the whole file, where the run started after `lines_before` lines.
    pub fn in_file(self, path: &Path, lines_before: u64) -> IngestError {
        IngestError::MalformedLine {
            path: path.to_path_buf(),
            line: lines_before + self.line,
            what: self.what,
        }
    }
}

/// Reads a run of whole lines of an access log (a whole file, or a chunk of
/// one cut just after a newline) into `obs`. Only the run that ends the file
/// can end without a newline, so a bad line without one is called truncated.
pub(crate) fn read_lines(
    bytes: &[u8],
    default_proxy: &str,
    obs: &mut Observations,
) -> Result<LinesRead, LineError> {
    // Checked once as a whole, so that every line and field borrows from it.
    // A stray invalid byte (a user agent from a hostile client) becomes
    // U+FFFD rather than failing the file. A run is cut just after a newline,
    // never inside a character, so checking runs one by one gives the same
    // text as checking the whole file.
    let lossy;
    let text: &str = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => {
            lossy = String::from_utf8_lossy(bytes);
            &lossy
        }
    };
    let mut names = Names::new(&mut obs.names, default_proxy);
    let mut count = 0u64;
    let mut line_no = 0u64;
    let mut pos = 0usize;
    while pos < text.len() {
        line_no += 1;
        let rest = text.as_bytes().get(pos..).unwrap_or_default();
        let (end, terminated) = match memchr::memchr(b'\n', rest) {
            Some(n) => (pos + n, true),
            None => (text.len(), false),
        };
        // `pos` and `end` sit just after and at a newline: character boundaries.
        let line = text.get(pos..end).unwrap_or_default();
        pos = end + 1;
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(fields) => {
                obs.access.push(fields.record(&mut names));
                count += 1;
            }
            Err(what) => {
                let what = if terminated {
                    what
                } else {
                    format!("{what} (last line has no newline: truncated?)")
                };
                return Err(LineError {
                    line: line_no,
                    what,
                });
            }
        }
    }
    Ok(LinesRead {
        records: count,
        lines: line_no,
    })
}

fn parse_line(line: &str) -> Result<Fields<'_>, String> {
    match line.as_bytes().first() {
        Some(b'{') => parse_envoy_json(line),
        Some(b'[') => parse_envoy_text(line).map_err(|e| format!("envoy text format: {e}")),
        _ => parse_nginx(line).map_err(|e| format!("ingress-nginx upstreaminfo format: {e}")),
    }
}

// ---------------------------------------------------------------------------
// Interning

/// The interner and a one-entry memo for each field whose value mostly
/// repeats from line to line (a comparison with the line before, still in
/// cache, is cheaper than even a cheap hash). Paths and clients vary too much
/// for a memo and go to the interner's hash table.
struct Names<'n, 't> {
    names: &'n mut Interner,
    proxy: Sym,
    method: Memo<'t>,
    user_agent: Memo<'t>,
    tls: Memo<'t>,
    flags: Memo<'t>,
    upstream: Memo<'t>,
}

impl<'n, 't> Names<'n, 't> {
    fn new(names: &'n mut Interner, proxy: &str) -> Self {
        let proxy = names.intern(proxy);
        Names {
            names,
            proxy,
            method: Memo::default(),
            user_agent: Memo::default(),
            tls: Memo::default(),
            flags: Memo::default(),
            upstream: Memo::default(),
        }
    }

    fn sym(&mut self, s: &str) -> Sym {
        self.names.intern(s)
    }
}

/// The last value of one field and its symbol.
#[derive(Default)]
struct Memo<'t>(Option<(&'t str, Sym)>);

impl<'t> Memo<'t> {
    // Whether `s` borrows from the input matters: only then is it kept.
    #[allow(clippy::ptr_arg)]
    fn get(&mut self, names: &mut Interner, s: &Cow<'t, str>) -> Sym {
        match (s, self.0) {
            (Cow::Borrowed(b), Some((last, sym))) if wire::same(last.as_bytes(), b.as_bytes()) => {
                sym
            }
            (Cow::Borrowed(b), _) => {
                let sym = names.intern(b);
                self.0 = Some((b, sym));
                sym
            }
            (Cow::Owned(o), _) => names.intern(o),
        }
    }
}

/// The fields every format yields, borrowed from the line where they can be.
struct Fields<'t> {
    time: Micros,
    method: Cow<'t, str>,
    path: Cow<'t, str>,
    status: u16,
    duration: Micros,
    bytes_sent: u64,
    user_agent: Cow<'t, str>,
    upstream: Option<Cow<'t, str>>,
    tls_version: Option<Cow<'t, str>>,
    client: Cow<'t, str>,
    flags: Cow<'t, str>,
}

impl<'t> Fields<'t> {
    fn record(self, n: &mut Names<'_, 't>) -> AccessRecord {
        AccessRecord {
            time: self.time,
            proxy: n.proxy,
            upstream: self.upstream.map(|u| n.upstream.get(n.names, &u)),
            method: n.method.get(n.names, &or_dash(self.method)),
            path: n.sym(&or_dash(map_cow(self.path, strip_query))),
            status: self.status,
            duration: self.duration,
            bytes_sent: self.bytes_sent,
            user_agent: n.user_agent.get(n.names, &or_dash(self.user_agent)),
            tls_version: self.tls_version.map(|t| n.tls.get(n.names, &t)),
            client: n.sym(&or_dash(self.client)),
            response_flags: n.flags.get(n.names, &or_dash(self.flags)),
        }
    }
}

/// Applies a narrowing `f` to a string that may be borrowed or owned.
fn map_cow<'t>(s: Cow<'t, str>, f: impl Fn(&str) -> &str) -> Cow<'t, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(f(b)),
        Cow::Owned(o) => Cow::Owned(f(&o).to_owned()),
    }
}

fn or_dash(s: Cow<'_, str>) -> Cow<'_, str> {
    if s.is_empty() {
        Cow::Borrowed("-")
    } else {
        s
    }
}

fn strip_query(path: &str) -> &str {
    match find(b'?', path.as_bytes()) {
        Some(i) => path.get(..i).unwrap_or(path),
        None => path,
    }
}

/// The first `c` in `b`. The fields of a log line are short, and for them a
/// plain loop beats `memchr`'s call and set-up; lines and long quoted fields
/// still use `memchr`.
#[inline]
fn find(c: u8, b: &[u8]) -> Option<usize> {
    b.iter().position(|&x| x == c)
}

/// The first `"` or `\\` in `b`, eight bytes at a time (the quoted fields
/// of a line are too short for `memchr2` to pay off, too long for a loop).
fn find_quote_or_backslash(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = LO * b'"' as u64;
    const BACKSLASHES: u64 = LO * b'\\' as u64;
    // High bit set in each byte of `v` that is zero; only the lowest set bit
    // is exact, which is the one wanted.
    let zero_bytes = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let mut words = b.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(word);
        let w = u64::from_le_bytes(buf);
        let hits = zero_bytes(w ^ QUOTES) | zero_bytes(w ^ BACKSLASHES);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|p| at + p)
}

/// `None` for the absent markers `-` and the empty string.
fn present(s: &str) -> Option<&str> {
    (!s.is_empty() && s != "-").then_some(s)
}

/// The first address of an `X-Forwarded-For` list.
fn first_forwarded(xff: &str) -> Option<&str> {
    let first = match find(b',', xff.as_bytes()) {
        Some(i) => xff.get(..i).unwrap_or(xff),
        None => xff,
    };
    present(first.trim_ascii())
}

/// An address without its port: `10.0.0.1:5555` -> `10.0.0.1`,
/// `[::1]:5555` -> `::1`; a bare IPv6 address is kept.
fn without_port(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.split_once(':') {
        Some((host, port)) if !port.contains(':') => host,
        _ => addr,
    }
}

/// `GET /path HTTP/1.1` -> (`GET`, `/path`), kept borrowed when the request is.
fn request_parts(req: Cow<'_, str>) -> (Cow<'_, str>, Cow<'_, str>) {
    match req {
        Cow::Borrowed(r) => {
            let (m, p) = split_request(r);
            (Cow::Borrowed(m), Cow::Borrowed(p))
        }
        Cow::Owned(r) => {
            let (m, p) = split_request(&r);
            (Cow::Owned(m.to_owned()), Cow::Owned(p.to_owned()))
        }
    }
}

/// `GET /path HTTP/1.1` -> (`GET`, `/path`); Envoy's `- - -` and nginx's
/// unparseable requests -> (`-`, `-`).
fn split_request(req: &str) -> (&str, &str) {
    let b = req.as_bytes();
    let Some(first) = find(b' ', b) else {
        return ("-", "-");
    };
    let method = req.get(..first).unwrap_or("-");
    let rest = req.get(first + 1..).unwrap_or("");
    let path = match rest.as_bytes().iter().rposition(|&c| c == b' ') {
        Some(last) => rest.get(..last).unwrap_or(rest),
        None => rest,
    };
    (method, path)
}

fn status_of(s: &str) -> Result<u16, String> {
    if s == "-" {
        return Ok(0);
    }
    match wire::parse_u64(s) {
        Some(n) if n <= 999 => Ok(n as u16),
        _ => Err(format!("status {s:?} is not an HTTP status")),
    }
}

fn count_of(s: &str, field: &str) -> Result<u64, String> {
    if s == "-" {
        return Ok(0);
    }
    wire::parse_u64(s).ok_or_else(|| format!("{field} {s:?} is not a number"))
}

// ---------------------------------------------------------------------------
// Field scanning

/// Scans one text line left to right.
struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s, i: 0 }
    }

    #[inline]
    fn rest_bytes(&self) -> &'a [u8] {
        self.s.as_bytes().get(self.i..).unwrap_or_default()
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    #[inline]
    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    #[inline]
    fn expect(&mut self, c: u8, what: &str) -> Result<(), String> {
        self.skip_spaces();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected `{}` {what}", c as char))
        }
    }

    /// Everything up to byte `c`, which is consumed.
    fn until(&mut self, c: u8, what: &str) -> Result<&'a str, String> {
        let Some(n) = find(c, self.rest_bytes()) else {
            return Err(format!("no closing `{}` {what}", c as char));
        };
        let out = self
            .s
            .get(self.i..self.i + n)
            .ok_or("not at a character boundary")?;
        self.i += n + 1;
        Ok(out)
    }

    /// `[...]`.
    fn bracketed(&mut self, what: &str) -> Result<&'a str, String> {
        self.expect(b'[', what)?;
        self.until(b']', what)
    }

    /// A space-delimited token.
    fn token(&mut self, what: &str) -> Result<&'a str, String> {
        self.skip_spaces();
        let rest = self.rest_bytes();
        let n = find(b' ', rest).unwrap_or(rest.len());
        if n == 0 {
            return Err(format!("missing {what}"));
        }
        let out = self
            .s
            .get(self.i..self.i + n)
            .ok_or("not at a character boundary")?;
        self.i += n;
        Ok(out)
    }

    /// A double-quoted field; `\"` and `\\` inside are unescaped, other
    /// backslash sequences (nginx's `\x22`) kept as written.
    fn quoted(&mut self, what: &str) -> Result<Cow<'a, str>, String> {
        self.expect(b'"', what)?;
        let rest = self.rest_bytes();
        let start = self.i;
        match find_quote_or_backslash(rest) {
            Some(n) if rest.get(n) == Some(&b'"') => {
                let out = self
                    .s
                    .get(start..start + n)
                    .ok_or("not at a character boundary")?;
                self.i += n + 1;
                Ok(Cow::Borrowed(out))
            }
            Some(_) => {
                let mut out = String::new();
                let mut i = 0;
                let mut run = 0;
                while let Some(&c) = rest.get(i) {
                    match c {
                        b'"' => {
                            out.push_str(self.s.get(start + run..start + i).unwrap_or_default());
                            self.i = start + i + 1;
                            return Ok(Cow::Owned(out));
                        }
                        b'\\' => {
                            out.push_str(self.s.get(start + run..start + i).unwrap_or_default());
                            match rest.get(i + 1) {
                                Some(&e @ (b'"' | b'\\')) => {
                                    out.push(e as char);
                                    i += 2;
                                    run = i;
                                }
                                _ => {
                                    run = i;
                                    i += 1;
                                }
                            }
                        }
                        _ => i += 1,
                    }
                }
                Err(format!("no closing `\"` {what}"))
            }
            None => Err(format!("no closing `\"` {what}")),
        }
    }

    fn at_end(&self) -> bool {
        self.rest_bytes().iter().all(|&c| c == b' ')
    }
}

// ---------------------------------------------------------------------------
// Envoy default text format

fn parse_envoy_text(line: &str) -> Result<Fields<'_>, String> {
    let mut c = Cursor::new(line);
    let start = c.bracketed("around START_TIME")?;
    let time = wire::parse_rfc3339_micros(start)
        .ok_or_else(|| format!("START_TIME {start:?} is not an RFC 3339 time"))?;
    let request = c.quoted("around the request line")?;
    let status = status_of(c.token("RESPONSE_CODE")?)?;
    let flags = c.token("RESPONSE_FLAGS")?;
    count_of(c.token("BYTES_RECEIVED")?, "BYTES_RECEIVED")?;
    let bytes_sent = count_of(c.token("BYTES_SENT")?, "BYTES_SENT")?;
    let duration_ms = count_of(c.token("DURATION")?, "DURATION")?;
    c.token("X-ENVOY-UPSTREAM-SERVICE-TIME")?;
    let xff = c.quoted("around X-FORWARDED-FOR")?;
    let user_agent = c.quoted("around USER-AGENT")?;
    c.quoted("around X-REQUEST-ID")?;
    c.quoted("around :AUTHORITY")?;
    c.quoted("around UPSTREAM_HOST")?;
    if !c.at_end() {
        return Err("unexpected text after UPSTREAM_HOST".to_string());
    }
    let (method, path) = request_parts(request);
    Ok(Fields {
        time,
        method,
        path,
        status,
        duration: wire::ms_to_micros(duration_ms),
        bytes_sent,
        user_agent,
        upstream: None,
        tls_version: None,
        client: client_of(Some(xff), None),
        flags: Cow::Borrowed(flags),
    })
}

// ---------------------------------------------------------------------------
// ingress-nginx upstreaminfo

fn parse_nginx(line: &str) -> Result<Fields<'_>, String> {
    let mut c = Cursor::new(line);
    let remote_addr = c.token("$remote_addr")?;
    c.token("`-` after $remote_addr")?;
    c.token("$remote_user")?;
    let local = c.bracketed("around $time_local")?;
    let time = wire::parse_nginx_time_micros(local)
        .ok_or_else(|| format!("$time_local {local:?} is not like 10/Oct/2023:13:55:36 +0000"))?;
    let request = c.quoted("around $request")?;
    let status = status_of(c.token("$status")?)?;
    let bytes_sent = count_of(c.token("$body_bytes_sent")?, "$body_bytes_sent")?;
    c.quoted("around $http_referer")?;
    let user_agent = c.quoted("around $http_user_agent")?;
    count_of(c.token("$request_length")?, "$request_length")?;
    let request_time = c.token("$request_time")?;
    let duration = wire::parse_secs_micros(request_time)
        .ok_or_else(|| format!("$request_time {request_time:?} is not a number of seconds"))?;
    let upstream = c.bracketed("around $proxy_upstream_name")?;
    c.bracketed("around $proxy_alternative_upstream_name")?;
    // $upstream_addr, $upstream_response_length, $upstream_response_time,
    // $upstream_status: each may be a list, `a, b` or `a : b`; then $req_id.
    let tail = c.s.get(c.i..).unwrap_or_default();
    let (groups, req_id) = upstream_tail(tail);
    if groups != 5 {
        return Err(format!(
            "expected $upstream_addr, $upstream_response_length, $upstream_response_time, \
             $upstream_status and $req_id after the upstream names, found {groups} fields"
        ));
    }
    // nginx's $req_id is always 32 hex digits; checking it catches a cut line.
    if req_id.len() != 32 || !req_id.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("$req_id {req_id:?} is not 32 hex digits"));
    }
    let (method, path) = request_parts(request);
    Ok(Fields {
        time,
        method,
        path,
        status,
        duration,
        bytes_sent,
        user_agent,
        upstream: present(upstream).map(Cow::Borrowed),
        tls_version: None,
        client: Cow::Borrowed(remote_addr),
        flags: Cow::Borrowed("-"),
    })
}

/// Counts the space-separated fields of `rest`, where tokens joined by `, `
/// or ` : ` (nginx's lists) make one field; also returns the last token.
fn upstream_tail(rest: &str) -> (usize, &str) {
    let b = rest.as_bytes();
    let mut groups = 0;
    // Whether the next token continues the current field.
    let mut joined = false;
    let mut last = "";
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i] != b' ' {
            i += 1;
        }
        let token = rest.get(start..i).unwrap_or_default();
        last = token;
        if token == ":" {
            joined = true;
            continue;
        }
        if !joined {
            groups += 1;
        }
        joined = token.ends_with(',');
    }
    (groups, last)
}

// ---------------------------------------------------------------------------
// Envoy JSON

fn parse_envoy_json(line: &str) -> Result<Fields<'_>, String> {
    let raw: EnvoyJson<'_> = match scan_envoy_json(line) {
        Some(raw) => raw,
        None => serde_json::from_str(line).map_err(|e| format!("envoy JSON format: {e}"))?,
    };
    let Some(start) = raw.start_time else {
        return Err("envoy JSON format: no start_time".to_string());
    };
    let time = wire::parse_rfc3339_micros(start.as_str()).ok_or_else(|| {
        format!(
            "envoy JSON format: start_time {:?} is not an RFC 3339 time",
            start.as_str()
        )
    })?;
    Ok(Fields {
        time,
        method: text(raw.method).unwrap_or(Cow::Borrowed("-")),
        path: text(raw.path).unwrap_or(Cow::Borrowed("-")),
        status: raw
            .response_code
            .and_then(|n| n.0)
            .map_or(0, |n| n.min(999) as u16),
        duration: raw.duration.and_then(|n| n.0).map_or(0, wire::ms_to_micros),
        bytes_sent: raw.bytes_sent.and_then(|n| n.0).unwrap_or(0),
        user_agent: text(raw.user_agent).unwrap_or(Cow::Borrowed("-")),
        upstream: present_text(raw.upstream_cluster),
        tls_version: present_text(raw.downstream_tls_version),
        client: client_of(
            text(raw.x_forwarded_for),
            text(raw.downstream_remote_address),
        ),
        flags: text(raw.response_flags).unwrap_or(Cow::Borrowed("-")),
    })
}

/// The fields of [`EnvoyJson`], for the fast scanner.
#[derive(Clone, Copy)]
enum EnvoyKey {
    StartTime,
    Method,
    Path,
    ResponseCode,
    ResponseFlags,
    BytesSent,
    Duration,
    UserAgent,
    XForwardedFor,
    UpstreamCluster,
    DownstreamTlsVersion,
    DownstreamRemoteAddress,
}

impl EnvoyKey {
    /// The field a key names, if one; by length first, as most keys are told
    /// apart by it and the rest by their first byte.
    #[inline]
    fn of(key: &[u8]) -> Option<EnvoyKey> {
        let (want, field): (&[u8], EnvoyKey) = match (key.len(), key.first()?) {
            (4, _) => (b"path", EnvoyKey::Path),
            (6, _) => (b"method", EnvoyKey::Method),
            (8, _) => (b"duration", EnvoyKey::Duration),
            (10, b's') => (b"start_time", EnvoyKey::StartTime),
            (10, b'b') => (b"bytes_sent", EnvoyKey::BytesSent),
            (10, b'u') => (b"user_agent", EnvoyKey::UserAgent),
            (13, _) => (b"response_code", EnvoyKey::ResponseCode),
            (14, _) => (b"response_flags", EnvoyKey::ResponseFlags),
            (15, _) => (b"x_forwarded_for", EnvoyKey::XForwardedFor),
            (16, _) => (b"upstream_cluster", EnvoyKey::UpstreamCluster),
            (22, _) => (b"downstream_tls_version", EnvoyKey::DownstreamTlsVersion),
            (25, _) => (
                b"downstream_remote_address",
                EnvoyKey::DownstreamRemoteAddress,
            ),
            _ => return None,
        };
        wire::same(key, want).then_some(field)
    }
}

/// One JSON value as the fast scanner reads it.
enum Scanned<'a> {
    Str(&'a str),
    Uint(u64),
    Null,
    /// `true` or `false`: fine for keys that are not read.
    Bool,
}

/// The fast path for an Envoy JSON line, which is nearly all of a big log:
/// a flat object whose values are strings without escapes, unsigned
/// integers, booleans or null. `None` for anything else (escapes, nesting,
/// floats, negative numbers, a duplicate field, a value of the wrong type,
/// broken JSON), which `serde_json` then reads, or reports, exactly as
/// before; so this only ever accepts what `serde_json` would read the same.
///
/// `line` is trimmed and starts with `{`.
fn scan_envoy_json(text: &str) -> Option<EnvoyJson<'_>> {
    let line = text.as_bytes();
    let mut out = EnvoyJson::default();
    let mut seen = 0u16;
    let mut i = skip_json_space(line, 1);
    if line.get(i) == Some(&b'}') {
        // `{}`: no start_time; the slow path says so.
        return None;
    }
    loop {
        if line.get(i) != Some(&b'"') {
            return None;
        }
        let (key, after) = scan_json_str(text, i + 1)?;
        i = skip_json_space(line, after);
        if line.get(i) != Some(&b':') {
            return None;
        }
        i = skip_json_space(line, i + 1);
        let (value, after) = scan_json_value(text, i)?;
        i = skip_json_space(line, after);
        if let Some(field) = EnvoyKey::of(key.as_bytes()) {
            let bit = 1u16 << field as u16;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            out.set(field, value)?;
        }
        match line.get(i) {
            Some(b',') => i = skip_json_space(line, i + 1),
            Some(b'}') => break,
            _ => return None,
        }
    }
    // The line is trimmed: the closing brace must be its last byte.
    (i + 1 == line.len()).then_some(out)
}

impl<'a> EnvoyJson<'a> {
    /// Sets a field as `serde` would from `value`; `None` where `serde`
    /// would fail (a number for a string field, a non-count string for a count).
    #[inline]
    fn set(&mut self, field: EnvoyKey, value: Scanned<'a>) -> Option<()> {
        let text = |v: Scanned<'a>| match v {
            Scanned::Str(s) => Some(Some(Str(Cow::Borrowed(s)))),
            Scanned::Null => Some(None),
            Scanned::Uint(_) | Scanned::Bool => None,
        };
        let count = |v: Scanned<'a>| match v {
            Scanned::Uint(n) => Some(Some(Count(Some(n)))),
            Scanned::Str("" | "-") => Some(Some(Count(None))),
            Scanned::Str(s) => wire::parse_u64(s).map(|n| Some(Count(Some(n)))),
            Scanned::Null => Some(None),
            Scanned::Bool => None,
        };
        match field {
            EnvoyKey::StartTime => self.start_time = text(value)?,
            EnvoyKey::Method => self.method = text(value)?,
            EnvoyKey::Path => self.path = text(value)?,
            EnvoyKey::ResponseCode => self.response_code = count(value)?,
            EnvoyKey::ResponseFlags => self.response_flags = text(value)?,
            EnvoyKey::BytesSent => self.bytes_sent = count(value)?,
            EnvoyKey::Duration => self.duration = count(value)?,
            EnvoyKey::UserAgent => self.user_agent = text(value)?,
            EnvoyKey::XForwardedFor => self.x_forwarded_for = text(value)?,
            EnvoyKey::UpstreamCluster => self.upstream_cluster = text(value)?,
            EnvoyKey::DownstreamTlsVersion => self.downstream_tls_version = text(value)?,
            EnvoyKey::DownstreamRemoteAddress => self.downstream_remote_address = text(value)?,
        }
        Some(())
    }
}

/// The index of the first byte at or after `i` that is not JSON whitespace
/// (the line holds no newline).
#[inline]
fn skip_json_space(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\r')) {
        i += 1;
    }
    i
}

/// A string whose opening quote is just before `start`: its text and the
/// index after its closing quote. `None` for one with an escape or a control
/// character (`serde_json` decodes the one and rejects the other).
#[inline]
fn scan_json_str(text: &str, start: usize) -> Option<(&str, usize)> {
    let rest = text.as_bytes().get(start..)?;
    let n = wire::find_json_special(rest)?;
    if rest.get(n) != Some(&b'"') {
        return None;
    }
    // Bounded by ASCII quotes: character boundaries.
    Some((text.get(start..start + n)?, start + n + 1))
}

/// One value at `i`: its reading and the index after it.
#[inline]
fn scan_json_value(text: &str, i: usize) -> Option<(Scanned<'_>, usize)> {
    let b = text.as_bytes();
    match *b.get(i)? {
        b'"' => scan_json_str(text, i + 1).map(|(s, end)| (Scanned::Str(s), end)),
        c @ b'0'..=b'9' => {
            let digits = b
                .get(i..)?
                .iter()
                .position(|c| !c.is_ascii_digit())
                .unwrap_or(b.len() - i);
            // Leading zeros, fractions, exponents and anything past u64 are
            // left to `serde_json`.
            if (c == b'0' && digits > 1) || digits > 19 {
                return None;
            }
            if matches!(b.get(i + digits), Some(b'.' | b'e' | b'E')) {
                return None;
            }
            let mut n = 0u64;
            for &d in b.get(i..i + digits)? {
                n = n * 10 + (d - b'0') as u64;
            }
            Some((Scanned::Uint(n), i + digits))
        }
        b'n' if b.get(i..i + 4) == Some(b"null") => Some((Scanned::Null, i + 4)),
        b't' if b.get(i..i + 4) == Some(b"true") => Some((Scanned::Bool, i + 4)),
        b'f' if b.get(i..i + 5) == Some(b"false") => Some((Scanned::Bool, i + 5)),
        _ => None,
    }
}

fn text(s: Option<Str<'_>>) -> Option<Cow<'_, str>> {
    s.map(|s| s.0)
}

/// The text of a field, `None` when absent, empty or `-`.
fn present_text(s: Option<Str<'_>>) -> Option<Cow<'_, str>> {
    text(s).filter(|s| present(s).is_some())
}

/// The client: the first address of `X-Forwarded-For`, else the downstream
/// address without its port, else `-`.
fn client_of<'t>(xff: Option<Cow<'t, str>>, remote: Option<Cow<'t, str>>) -> Cow<'t, str> {
    if let Some(x) = xff.filter(|x| first_forwarded(x).is_some()) {
        return map_cow(x, |x| first_forwarded(x).unwrap_or("-"));
    }
    if let Some(r) = remote.filter(|r| present(r).is_some()) {
        return map_cow(r, without_port);
    }
    Cow::Borrowed("-")
}

#[derive(Deserialize, Default)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct EnvoyJson<'a> {
    #[serde(borrow, default)]
    start_time: Option<Str<'a>>,
    #[serde(borrow, default)]
    method: Option<Str<'a>>,
    #[serde(borrow, default)]
    path: Option<Str<'a>>,
    #[serde(default)]
    response_code: Option<Count>,
    #[serde(borrow, default)]
    response_flags: Option<Str<'a>>,
    #[serde(default)]
    bytes_sent: Option<Count>,
    /// Milliseconds.
    #[serde(default)]
    duration: Option<Count>,
    #[serde(borrow, default)]
    user_agent: Option<Str<'a>>,
    #[serde(borrow, default)]
    x_forwarded_for: Option<Str<'a>>,
    #[serde(borrow, default)]
    upstream_cluster: Option<Str<'a>>,
    #[serde(borrow, default)]
    downstream_tls_version: Option<Str<'a>>,
    #[serde(borrow, default)]
    downstream_remote_address: Option<Str<'a>>,
}

/// A count Envoy may write as a number or a string; `"-"` and `""` are none.
#[cfg_attr(test, derive(Debug, PartialEq))]
struct Count(Option<u64>);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                u64::try_from(v)
                    .map(|v| Count(Some(v)))
                    .map_err(|_| E::custom(format!("negative count {v}")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
                if v.is_finite() && v >= 0.0 {
                    Ok(Count(Some(v as u64)))
                } else {
                    Err(E::custom(format!("count {v} out of range")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Count, E> {
                if v.is_empty() || v == "-" {
                    return Ok(Count(None));
                }
                wire::parse_u64(v)
                    .map(|n| Count(Some(n)))
                    .ok_or_else(|| E::custom(format!("{v:?} is not a count")))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Pieces of Envoy JSON lines, good and bad, for the scanner.
    fn json_piece() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("start_time"),
            Just("method"),
            Just("path"),
            Just("response_code"),
            Just("response_flags"),
            Just("bytes_sent"),
            Just("duration"),
            Just("user_agent"),
            Just("x_forwarded_for"),
            Just("upstream_cluster"),
            Just("downstream_tls_version"),
            Just("downstream_remote_address"),
            Just("protocol"),
            Just("bytes_received"),
            Just("start_tim"),
            Just("request_id"),
        ]
        .prop_map(|k| format!("\"{k}\""));
        // Mostly what the fast path takes, so that it is tested taking it.
        let value = prop_oneof![
            4 => Just("\"2024-05-01T10:00:00.123Z\"".to_string()),
            2 => Just("\"GET\"".to_string()),
            2 => Just("\"-\"".to_string()),
            2 => Just("\"\"".to_string()),
            2 => Just("\"12\"".to_string()),
            1 => Just("\"a\\\"b\"".to_string()),
            1 => Just("\"\\u00e9\"".to_string()),
            1 => Just("\"tab\there\"".to_string()),
            2 => Just("\"é ü\"".to_string()),
            3 => Just("null".to_string()),
            1 => Just("true".to_string()),
            1 => Just("false".to_string()),
            1 => Just("nul".to_string()),
            2 => Just("0".to_string()),
            1 => Just("007".to_string()),
            1 => Just("-5".to_string()),
            1 => Just("1.5".to_string()),
            1 => Just("2e3".to_string()),
            1 => Just("18446744073709551615".to_string()),
            1 => Just("99999999999999999999".to_string()),
            1 => Just("{\"a\":[1,{}]}".to_string()),
            1 => Just("[]".to_string()),
            6 => (0u64..100_000).prop_map(|n| n.to_string()),
            6 => "[ -~]{0,12}".prop_map(|s| format!("\"{s}\"")),
        ];
        let space = prop_oneof![6 => Just(""), 1 => Just(" "), 1 => Just("\t"), 1 => Just("  ")];
        (space.clone(), key, space.clone(), value, space)
            .prop_map(|(a, k, b, v, c)| format!("{a}{k}{b}:{c}{v}"))
    }

    proptest! {
        /// The fast scanner reads a line exactly as `serde_json` does, or
        /// leaves it to `serde_json`; it never accepts what that rejects.
        #[test]
        fn envoy_scanner_agrees_with_serde(
            pieces in prop::collection::vec(json_piece(), 0..10),
            sep in prop_oneof![8 => Just(","), 1 => Just(" , "), 1 => Just(";")],
            tail in prop_oneof![8 => Just(""), 1 => Just("}"), 1 => Just(" x"), 1 => Just(",")],
        ) {
            let line = format!("{{{}}}{tail}", pieces.join(sep));
            let line = line.trim_ascii();
            let fast = scan_envoy_json(line);
            let slow = serde_json::from_str::<EnvoyJson<'_>>(line);
            if let Some(fast) = fast {
                prop_assert_eq!(Some(fast), slow.ok(), "{}", line);
            }
        }
    }

    #[test]
    fn envoy_scanner_reads_the_usual_line() {
        let line = r#"{"start_time":"2026-03-01T07:00:00.001Z","method":"GET","path":"/api/tax","protocol":"HTTP/1.1","response_code":200,"response_flags":"-","bytes_received":0,"bytes_sent":2503,"duration":33,"user_agent":"Mozilla/5.0 (Windows NT 10.0)","x_forwarded_for":"100.247.120.140","request_id":"67860b6b","upstream_cluster":"storefront","downstream_tls_version":"TLSv1.2","downstream_remote_address":"100.247.120.140:56271","connection_termination_details":null}"#;
        let fast = scan_envoy_json(line).expect("the fast path takes it");
        assert_eq!(fast, serde_json::from_str(line).unwrap());
        assert_eq!(fast.bytes_sent, Some(Count(Some(2503))));
        // What it leaves to serde_json.
        for line in [
            r#"{"start_time":"a\"b"}"#,
            r#"{"start_time":"x","start_time":"y"}"#,
            r#"{"duration":-5}"#,
            r#"{"duration":1.5}"#,
            r#"{"method":5}"#,
            r#"{"x":{"y":1}}"#,
            r#"{"start_time":"x"} trailing"#,
            r#"{}"#,
        ] {
            assert!(scan_envoy_json(line).is_none(), "{line}");
        }
    }

    #[test]
    fn cursor_quoted_escapes() {
        let mut c = Cursor::new(r#""plain" "a \"b\" \\ c \x22" "open"#);
        assert_eq!(c.quoted("x").unwrap(), "plain");
        assert_eq!(c.quoted("x").unwrap(), r#"a "b" \ c \x22"#);
        assert!(c.quoted("x").is_err());
    }

    #[test]
    fn quote_finder() {
        for s in [
            "",
            "a",
            "abc\"",
            "0123456789abcdef\\x",
            "01234567\"",
            "\"",
            "aaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            let want = s.bytes().position(|c| c == b'"' || c == b'\\');
            assert_eq!(find_quote_or_backslash(s.as_bytes()), want, "{s:?}");
        }
        // Bytes just above and below the targets, and high bytes.
        let tricky = [0x21u8, 0x23, 0x5b, 0x5d, 0xa2, 0xdc, 0x00, 0xff, b'\\'];
        assert_eq!(find_quote_or_backslash(&tricky), Some(8));
    }

    #[test]
    fn helpers() {
        assert_eq!(without_port("10.0.0.1:5555"), "10.0.0.1");
        assert_eq!(without_port("[::1]:5555"), "::1");
        assert_eq!(without_port("fe80::1"), "fe80::1");
        assert_eq!(
            first_forwarded("203.0.113.9, 10.0.0.1"),
            Some("203.0.113.9")
        );
        assert_eq!(first_forwarded("-"), None);
        assert_eq!(split_request("GET /a?b=1 HTTP/1.1"), ("GET", "/a?b=1"));
        assert_eq!(split_request("- - -"), ("-", "-"));
        assert_eq!(strip_query("/a?b=1"), "/a");
        assert_eq!(upstream_tail("10.0.0.1:80 12 0.1 200 abc"), (5, "abc"));
        assert_eq!(
            upstream_tail(
                "10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80 0, 0 : 12 0.1, 0.2 : 0.3 502, 502 : 200 abc"
            ),
            (5, "abc")
        );
        assert_eq!(upstream_tail("10.0.0.1:80 12  0.1 "), (3, "0.1"));
    }
}
