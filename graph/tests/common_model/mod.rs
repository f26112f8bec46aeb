//! Hand-built incidents for the model tests: a small simulator of requests
//! through components (each call a tree of server and client spans with
//! own time and time on the wire), metric series, log lines, alerts and
//! call-graph series, all over one 30-minute window.
//!
//! The clock: the window runs from `T0` for 30 minutes (60 buckets of
//! 30 s); the alert fires at minute 20, so the baseline ends at minute 15;
//! a fault starts at minute 16 (`FAULT_AT`).
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use graph::{localise, Candidate, EngineConfig, Localisation};
use ingest::{
    Alert, EdgeSeries, EdgeSignal, LogLevel, LogRecord, Micros, Observations, Series, Signal, Span,
    SpanKind,
};

pub const S: Micros = 1_000_000;
pub const MIN: Micros = 60 * S;
/// 2026-01-01T00:00:00Z.
pub const T0: Micros = 1_767_225_600 * S;
pub const FAULT_AT: Micros = T0 + 16 * MIN;
pub const ALERT_AT: Micros = T0 + 20 * MIN;
pub const END: Micros = T0 + 30 * MIN;

/// A deterministic value in [0, 1) for request `i` and a salt (splitmix64).
pub fn unit(i: u64, salt: u64) -> f64 {
    let mut z = i
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// `base` µs with up to `spread` of it added, drawn for request `i`.
pub fn jit(base: f64, spread: f64, i: u64, salt: u64) -> Micros {
    (base * (1.0 + spread * unit(i, salt))).round() as Micros
}

/// One log line a span writes.
#[derive(Clone, Debug)]
pub struct Line {
    pub level: LogLevel,
    pub template: String,
    pub message: String,
}

/// A call into a component, and what that component does for it.
#[derive(Clone, Debug)]
pub struct Call {
    pub comp: String,
    pub op: String,
    /// Own work, µs: half before its calls out, half after.
    pub own: Micros,
    /// Time on the wire of the call into it (the caller's client span less
    /// its server span), µs; split evenly before and after.
    pub wire: Micros,
    pub kind: SpanKind,
    /// The kind of the caller's span for this call.
    pub client_kind: SpanKind,
    /// Error status (and a 500) on its server span.
    pub error: bool,
    /// Error status on the caller's client span for this call.
    pub client_error: bool,
    /// Emits no spans: only the caller's client span (with `peer`) exists,
    /// `own + wire` long.
    pub uninstrumented: bool,
    /// It is down: emits nothing, and the caller's client span (no peer
    /// attribute, error status) lasts `wire` µs, a refused connection.
    pub down: bool,
    /// Its server span was lost: the caller's client span (`own + wire`
    /// long) names only this address as its peer.
    pub lost_as: Option<String>,
    /// Own time spent waiting before its first call goes out (a queue in
    /// front of its calls), µs, on top of `own`.
    pub wait_before_calls: Micros,
    /// Written in its server span, in order, before its calls.
    pub logs: Vec<Line>,
    /// Written by the caller in its client span for this call.
    pub client_logs: Vec<Line>,
    pub calls: Vec<Call>,
}

impl Call {
    pub fn new(comp: &str, own: Micros) -> Call {
        Call {
            comp: comp.to_string(),
            op: format!("{comp} op"),
            own,
            wire: 0,
            kind: SpanKind::Server,
            client_kind: SpanKind::Client,
            error: false,
            client_error: false,
            uninstrumented: false,
            down: false,
            lost_as: None,
            wait_before_calls: 0,
            logs: Vec::new(),
            client_logs: Vec::new(),
            calls: Vec::new(),
        }
    }

    pub fn op(mut self, op: &str) -> Call {
        self.op = op.to_string();
        self
    }

    pub fn wire(mut self, us: Micros) -> Call {
        self.wire = us;
        self
    }

    pub fn kinds(mut self, server: SpanKind, client: SpanKind) -> Call {
        self.kind = server;
        self.client_kind = client;
        self
    }

    pub fn error(mut self, on: bool) -> Call {
        self.error = on;
        self
    }

    pub fn client_error(mut self, on: bool) -> Call {
        self.client_error = on;
        self
    }

    pub fn uninstrumented(mut self) -> Call {
        self.uninstrumented = true;
        self
    }

    pub fn down(mut self, on: bool) -> Call {
        self.down = on;
        self
    }

    pub fn lost_as(mut self, address: Option<&str>) -> Call {
        self.lost_as = address.map(str::to_string);
        self
    }

    pub fn wait_before_calls(mut self, us: Micros) -> Call {
        self.wait_before_calls = us;
        self
    }

    pub fn log(mut self, level: LogLevel, template: &str, message: &str) -> Call {
        self.logs.push(Line {
            level,
            template: template.to_string(),
            message: message.to_string(),
        });
        self
    }

    pub fn client_log(mut self, level: LogLevel, template: &str, message: &str) -> Call {
        self.client_logs.push(Line {
            level,
            template: template.to_string(),
            message: message.to_string(),
        });
        self
    }

    pub fn calls(mut self, calls: Vec<Call>) -> Call {
        self.calls = calls;
        self
    }

    pub fn call(mut self, call: Call) -> Call {
        self.calls.push(call);
        self
    }
}

/// An incident under construction.
pub struct Incident {
    pub obs: Observations,
    next_span: u64,
    next_trace: u128,
}

impl Default for Incident {
    fn default() -> Self {
        Incident::new()
    }
}

impl Incident {
    pub fn new() -> Incident {
        Incident {
            obs: Observations::default(),
            next_span: 1,
            next_trace: 1,
        }
    }

    pub fn new_trace(&mut self) -> u128 {
        let t = self.next_trace;
        self.next_trace += 1;
        t
    }

    /// Pushes one span; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn span(
        &mut self,
        trace: u128,
        parent: u64,
        comp: &str,
        op: &str,
        kind: SpanKind,
        start: Micros,
        duration: Micros,
        error: bool,
        peer: Option<&str>,
    ) -> u64 {
        let id = self.next_span;
        self.next_span += 1;
        let component = self.obs.names.intern(comp);
        let operation = self.obs.names.intern(op);
        let peer = peer.map(|p| self.obs.names.intern(p));
        self.obs.spans.push(Span {
            trace_id: trace,
            span_id: id,
            parent_id: parent,
            component,
            operation,
            kind,
            start,
            duration,
            error,
            http_status: if error { 500 } else { 200 },
            peer,
            exception: None,
            event: None,
            proxy: false,
        });
        id
    }

    /// One log line of `comp`, in `span` of `trace` when given.
    pub fn line(
        &mut self,
        time: Micros,
        comp: &str,
        line: &Line,
        trace: Option<u128>,
        span: Option<u64>,
    ) {
        let component = self.obs.names.intern(comp);
        let template = self.obs.names.intern(&line.template);
        let message = self.obs.names.intern(&line.message);
        self.obs.logs.push(LogRecord {
            time,
            component,
            level: line.level,
            template,
            message,
            logger: None,
            trace_id: trace,
            span_id: span,
            exception: None,
        });
    }

    /// A request entering at `call` at time `t`.
    pub fn request(&mut self, t: Micros, call: &Call) {
        let trace = self.new_trace();
        self.emit(trace, 0, call, t);
    }

    /// Emits the server span of `c` (and everything below it) starting at
    /// `start`, under `parent`; returns its duration.
    fn emit(&mut self, trace: u128, parent: u64, c: &Call, start: Micros) -> Micros {
        let id = self.span(
            trace, parent, &c.comp, &c.op, c.kind, start, 0, c.error, None,
        );
        let at = self.obs.spans.len() - 1;
        for (k, l) in c.logs.iter().enumerate() {
            self.line(start + 1 + k as Micros, &c.comp, l, Some(trace), Some(id));
        }
        let mut cursor = start + c.own / 2 + c.wait_before_calls;
        for d in &c.calls {
            let client_op = format!("call {}", d.comp);
            let peer = match (&d.lost_as, d.down) {
                (_, true) => None,
                (Some(address), _) => Some(address.as_str()),
                (None, false) => Some(d.comp.as_str()),
            };
            let client = self.span(
                trace,
                id,
                &c.comp,
                &client_op,
                d.client_kind,
                cursor,
                0,
                d.client_error || d.down,
                peer,
            );
            let ci = self.obs.spans.len() - 1;
            for (k, l) in d.client_logs.iter().enumerate() {
                self.line(
                    cursor + 1 + k as Micros,
                    &c.comp,
                    l,
                    Some(trace),
                    Some(client),
                );
            }
            let dur = if d.down {
                d.wire
            } else if d.lost_as.is_some() {
                d.own + d.wire
            } else if d.uninstrumented {
                self.obs.spans[ci].error |= d.error;
                if d.error {
                    self.obs.spans[ci].http_status = 500;
                }
                d.own + d.wire
            } else {
                d.wire + self.emit(trace, client, d, cursor + d.wire / 2)
            };
            self.obs.spans[ci].duration = dur;
            cursor += dur;
        }
        let end = cursor + (c.own - c.own / 2);
        self.obs.spans[at].duration = end - start;
        end - start
    }

    /// Requests every `every` µs over the window; `f(i, on)` builds request
    /// `i`, `on` from `FAULT_AT`.
    pub fn requests(&mut self, every: Micros, f: impl Fn(u64, bool) -> Call) {
        self.requests_from(T0, every, f);
    }

    pub fn requests_from(&mut self, from: Micros, every: Micros, f: impl Fn(u64, bool) -> Call) {
        let mut t = from;
        let mut i = 0;
        while t < END {
            let call = f(i, t >= FAULT_AT);
            self.request(t, &call);
            t += every;
            i += 1;
        }
    }

    /// A series of `comp` sampled every `every` µs from `from` while before
    /// `END`; `f(k, t)` is the k-th sample's value at time `t`.
    pub fn series_from(
        &mut self,
        comp: &str,
        signal: Signal,
        from: Micros,
        every: Micros,
        f: impl Fn(u64, Micros) -> f64,
    ) {
        let component = self.obs.names.intern(comp);
        let mut samples = Vec::new();
        let mut t = from;
        let mut k = 0;
        while t < END {
            samples.push((t, f(k, t)));
            t += every;
            k += 1;
        }
        self.obs.series.push(Series {
            component,
            signal,
            labels: BTreeMap::new(),
            samples,
        });
    }

    pub fn series(&mut self, comp: &str, signal: Signal, f: impl Fn(u64, Micros) -> f64) {
        self.series_from(comp, signal, T0, 15 * S, f);
    }

    /// Samples given one by one.
    pub fn samples(&mut self, comp: &str, signal: Signal, samples: Vec<(Micros, f64)>) {
        let component = self.obs.names.intern(comp);
        self.obs.series.push(Series {
            component,
            signal,
            labels: BTreeMap::new(),
            samples,
        });
    }

    /// A caller→callee series every 15 s over the window.
    pub fn calls(&mut self, client: &str, server: &str, signal: EdgeSignal, rate: f64) {
        let e = EdgeSeries {
            client: self.obs.names.intern(client),
            server: self.obs.names.intern(server),
            signal,
            labels: BTreeMap::from([
                ("client".to_string(), client.to_string()),
                ("server".to_string(), server.to_string()),
            ]),
            samples: (0..120).map(|k| (T0 + 15 * S * k, rate)).collect(),
        };
        self.obs.edges.push(e);
    }

    pub fn alert(&mut self, comp: &str, at: Micros) {
        self.obs.alerts.push(Alert {
            status: "firing".into(),
            labels: [
                ("alertname".to_string(), "HighLatency".to_string()),
                ("service".to_string(), comp.to_string()),
            ]
            .into_iter()
            .collect(),
            annotations: Default::default(),
            starts_at: Utc.timestamp_micros(at).unwrap(),
            ends_at: None,
            generator_url: String::new(),
            fingerprint: "model".into(),
        });
    }

    pub fn localise(&self) -> Localisation {
        localise(&self.obs, &EngineConfig::default()).expect("the incident localises")
    }
}

/// The first candidate; fails, showing the ranking, when nobody ranked.
pub fn top(loc: &Localisation) -> &Candidate {
    loc.ranking
        .first()
        .unwrap_or_else(|| panic!("nobody ranked:\n{}", show(loc)))
}

/// The position of `comp` in the ranking.
pub fn rank_of(loc: &Localisation, comp: &str) -> Option<usize> {
    loc.ranking.iter().position(|c| c.component == comp)
}

pub fn candidate<'a>(loc: &'a Localisation, comp: &str) -> Option<&'a Candidate> {
    loc.ranking.iter().find(|c| c.component == comp)
}

/// The evidence signals of `comp`'s candidate (empty when not ranked).
pub fn signals(loc: &Localisation, comp: &str) -> Vec<String> {
    candidate(loc, comp)
        .map(|c| c.evidence.iter().map(|e| e.signal.clone()).collect())
        .unwrap_or_default()
}

/// The ranking in a few lines, for assertion messages.
pub fn show(loc: &Localisation) -> String {
    let mut out = String::new();
    for (i, c) in loc.ranking.iter().enumerate() {
        out.push_str(&format!(
            "#{i} {} score {} fault {}\n",
            c.component, c.score, c.fault
        ));
        for e in &c.evidence {
            out.push_str(&format!(
                "     {} {:.2}: {}\n",
                e.signal, e.deviation, e.summary
            ));
        }
        for inner in &c.inner {
            out.push_str(&format!(
                "     inner {:?} {} {:?} {}\n",
                inner.kind, inner.region, inner.operation, inner.score
            ));
        }
    }
    if loc.ranking.is_empty() {
        out.push_str("(empty ranking)\n");
    }
    for m in &loc.missing {
        out.push_str(&format!("  missing {}: {}\n", m.modality, m.reason));
    }
    out
}

/// Asserts that `first` ranks before `after` (or `after` is not ranked at all).
pub fn assert_before(loc: &Localisation, first: &str, after: &str) {
    let a = rank_of(loc, first).unwrap_or_else(|| panic!("{first} is not ranked:\n{}", show(loc)));
    if let Some(b) = rank_of(loc, after) {
        assert!(a < b, "{first} should rank before {after}:\n{}", show(loc));
    }
}
