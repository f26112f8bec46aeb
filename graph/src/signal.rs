//! The one table of signal kinds: what each signal is, where it comes from,
//! its unit, which way it moves when something is wrong, whether it is a
//! component's own behaviour or a symptom it may inherit, how it is tested
//! against the baseline, and what fault it points at.
//!
//! Features, scoring, explanation, classification and the page all read this
//! table; a signal is never matched by its name.

use ingest::Modality;

use crate::FaultKind;

/// Which way a signal moves when something is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
    Both,
}

/// Whether a signal is something a component does itself, something it may
/// have inherited from the components it calls, or context only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The component's own behaviour: its own time, the errors it originates,
    /// its resources, what its proxy admits. Evidence that it is the cause.
    Own,
    /// Includes what it inherits from below (latency, errors answered): a
    /// symptom, the component's own only where no callee explains it.
    Symptom,
    /// Describes the load, not a fault (request counts): shown, never ranked.
    Context,
}

/// How a signal's values are compared with the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Test {
    /// A level per bucket (CPU, memory): robust distance from the baseline's
    /// median in units of its spread.
    Level,
    /// Events among trials (errors among requests): a two-sample binomial
    /// test with the trial counts as the uncertainty.
    Rate,
    /// Per-request values (log ratios to the operation's typical): the mean
    /// of a bucket's requests against the baseline's requests.
    PerRequest,
    /// Worked out from other signals by the engine (edges, goroutine dumps).
    Derived,
}

/// How values print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A share of requests or lines (0..1), printed as a percentage.
    Share,
    /// A multiple of the operation's (or edge's) typical value.
    TimesTypical,
    Cores,
    Bytes,
    Seconds,
    Micros,
    PerSecond,
    Count,
    /// A score with no unit of its own.
    Score,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Share => "%",
            Unit::TimesTypical => "x",
            Unit::Cores => "cores",
            Unit::Bytes => "bytes",
            Unit::Seconds => "s",
            Unit::Micros => "ms",
            Unit::PerSecond => "/s",
            Unit::Count => "",
            Unit::Score => "",
        }
    }
}

/// How specific a signal is about the fault behind it. A mechanism (a
/// resource out of line, an exception, a leak, an abusive client mix) names
/// the fault before the manifestations it drags along (slower requests,
/// errors answered, changed call structure, skipped log lines). Time lost
/// on the wire sits between: it names the network unless a resource of the
/// same component is out of line too, because a saturated component is slow
/// to read and write its connections while a slow network uses none of its
/// resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Specificity {
    Manifestation,
    Transport,
    Mechanism,
}

/// What a signal kind is, in one place.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub name: &'static str,
    pub modality: Modality,
    pub unit: Unit,
    pub direction: Direction,
    pub role: Role,
    pub test: Test,
    /// The fault this signal points at when it is a component's strongest own evidence.
    pub fault: Option<FaultKind>,
    pub specificity: Specificity,
    /// What the signal measures, in words an SRE reads.
    pub what: &'static str,
}

/// Every kind of signal the engine knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignalKind {
    // Traces, per component.
    SelfTime,
    Latency,
    CallStructure,
    ErrorOrigin,
    ErrorsAnswered,
    Exceptions,
    UnansweredCalls,
    // Traces, per call edge, charged to one endpoint.
    WireIn,
    WireOut,
    SlowCallee,
    ClientWait,
    // Metrics.
    Cpu,
    Memory,
    Goroutines,
    PoolPending,
    TlsSessionReuse,
    Http4xxRate,
    Http5xxRate,
    RequestRate,
    LatencyP50,
    LatencyP90,
    LatencyP95,
    LatencyP99,
    ClientLatency,
    NetworkBytes,
    /// A metric the table does not know, kept by name (see `Feature::label`).
    OtherMetric,
    // Access logs, per proxy.
    ProxyHttp4xx,
    ProxyHttp5xx,
    OldTls,
    NewUserAgents,
    ProxyLatency,
    ProxyRequests,
    // Application logs.
    ExceptionLogs,
    ErrorLogs,
    NewErrorTemplates,
    MissingLogLines,
    NamedInErrors,
    ContentionLines,
    PoolWaitLines,
    // Goroutine dumps.
    GoroutineLeak,
    // The graph.
    UnexplainedSymptom,
    ExplainsSymptom,
}

use Direction::{Both, Down, Up};
use Role::{Context, Own, Symptom};
use Specificity::{Manifestation, Mechanism, Transport};

#[allow(clippy::too_many_arguments)] // one row of the table below, field by field
const fn spec(
    name: &'static str,
    modality: Modality,
    unit: Unit,
    direction: Direction,
    role: Role,
    test: Test,
    fault: Option<FaultKind>,
    specificity: Specificity,
    what: &'static str,
) -> Spec {
    Spec {
        name,
        modality,
        unit,
        direction,
        role,
        test,
        fault,
        specificity,
        what,
    }
}

impl SignalKind {
    pub const ALL: [SignalKind; 42] = [
        SignalKind::SelfTime,
        SignalKind::Latency,
        SignalKind::CallStructure,
        SignalKind::ErrorOrigin,
        SignalKind::ErrorsAnswered,
        SignalKind::Exceptions,
        SignalKind::UnansweredCalls,
        SignalKind::WireIn,
        SignalKind::WireOut,
        SignalKind::SlowCallee,
        SignalKind::ClientWait,
        SignalKind::Cpu,
        SignalKind::Memory,
        SignalKind::Goroutines,
        SignalKind::PoolPending,
        SignalKind::TlsSessionReuse,
        SignalKind::Http4xxRate,
        SignalKind::Http5xxRate,
        SignalKind::RequestRate,
        SignalKind::LatencyP50,
        SignalKind::LatencyP90,
        SignalKind::LatencyP95,
        SignalKind::LatencyP99,
        SignalKind::ClientLatency,
        SignalKind::NetworkBytes,
        SignalKind::OtherMetric,
        SignalKind::ProxyHttp4xx,
        SignalKind::ProxyHttp5xx,
        SignalKind::OldTls,
        SignalKind::NewUserAgents,
        SignalKind::ProxyLatency,
        SignalKind::ProxyRequests,
        SignalKind::ExceptionLogs,
        SignalKind::ErrorLogs,
        SignalKind::NewErrorTemplates,
        SignalKind::MissingLogLines,
        SignalKind::NamedInErrors,
        SignalKind::ContentionLines,
        SignalKind::PoolWaitLines,
        SignalKind::GoroutineLeak,
        SignalKind::UnexplainedSymptom,
        SignalKind::ExplainsSymptom,
    ];

    /// The table.
    pub const fn spec(self) -> Spec {
        use FaultKind as F;
        use Modality::{AccessLogs, Goroutines, Logs, Metrics, Traces};
        use Test::{Derived, Level, PerRequest, Rate};
        match self {
            SignalKind::SelfTime => spec(
                "self_time",
                Traces,
                Unit::TimesTypical,
                Up,
                Own,
                PerRequest,
                Some(F::Latency),
                Manifestation,
                "time spent in its own spans, children and calls out excluded",
            ),
            SignalKind::Latency => spec(
                "latency",
                Traces,
                Unit::TimesTypical,
                Up,
                Symptom,
                PerRequest,
                Some(F::Latency),
                Manifestation,
                "how long the requests it receives take, callees included",
            ),
            // Fewer calls only: a component's own early return or exception
            // can only drop calls it used to make; added calls are retries of
            // a failing callee or another mix of requests. Judged as the share
            // of requests cut short: counts of calls are small integers, whose
            // spread a robust scale cannot see.
            SignalKind::CallStructure => spec(
                "call_structure",
                Traces,
                Unit::Share,
                Up,
                Own,
                Rate,
                Some(F::ErrorReturn),
                Manifestation,
                "requests that made fewer calls into other components than any baseline request of their operation",
            ),
            SignalKind::ErrorOrigin => spec(
                "error_rate",
                Traces,
                Unit::Share,
                Up,
                Own,
                Rate,
                Some(F::ErrorReturn),
                Manifestation,
                "requests whose error starts here: none of their calls failed",
            ),
            SignalKind::ErrorsAnswered => spec(
                "errors",
                Traces,
                Unit::Share,
                Up,
                Symptom,
                Rate,
                Some(F::ErrorReturn),
                Manifestation,
                "requests answered with an error, inherited ones included",
            ),
            SignalKind::Exceptions => spec(
                "exceptions",
                Traces,
                Unit::Share,
                Up,
                Own,
                Rate,
                Some(F::Exception),
                Mechanism,
                "spans that recorded an exception event",
            ),
            // A stopped service writes nothing: its silence is read off its
            // callers, whose calls of operations that always reached it now
            // have no span of it under them.
            SignalKind::UnansweredCalls => spec(
                "unanswered_calls",
                Traces,
                Unit::Share,
                Up,
                Own,
                Rate,
                Some(F::ServiceDown),
                Mechanism,
                "calls into it that it did not answer (no span of it under them), of operations that always reached it in the baseline",
            ),
            SignalKind::WireIn => spec(
                "network_in",
                Traces,
                Unit::TimesTypical,
                Up,
                Own,
                Derived,
                Some(F::NetworkDelay),
                Transport,
                "time on the wire of calls into it, slower for its callers alike",
            ),
            SignalKind::WireOut => spec(
                "network_out",
                Traces,
                Unit::TimesTypical,
                Up,
                Own,
                Derived,
                Some(F::NetworkDelay),
                Transport,
                "time on the wire of its calls out, while its callees serve others as before",
            ),
            // A callee that emits no spans: its work and its network cannot
            // be told apart, only that it answers its callers more slowly.
            SignalKind::SlowCallee => spec(
                "calls_in_latency",
                Traces,
                Unit::TimesTypical,
                Up,
                Own,
                Derived,
                Some(F::Latency),
                Transport,
                "calls into it (it emits no spans) slower for its callers alike",
            ),
            SignalKind::ClientWait => spec(
                "client_wait",
                Traces,
                Unit::TimesTypical,
                Up,
                Own,
                Derived,
                Some(F::ConnectionPoolExhaustion),
                Transport,
                "its calls to one callee wait longer while that callee serves others as before",
            ),
            SignalKind::Cpu => spec(
                "cpu",
                Metrics,
                Unit::Cores,
                Up,
                Own,
                Level,
                Some(F::CpuSaturation),
                Mechanism,
                "CPU used",
            ),
            SignalKind::Memory => spec(
                "memory",
                Metrics,
                Unit::Bytes,
                Up,
                Own,
                Level,
                Some(F::MemoryLeak),
                Mechanism,
                "memory in use",
            ),
            SignalKind::Goroutines => spec(
                "goroutines",
                Metrics,
                Unit::Count,
                Up,
                Own,
                Level,
                Some(F::GoroutineLeak),
                Mechanism,
                "live goroutines (go_goroutines)",
            ),
            SignalKind::PoolPending => spec(
                "pool_pending",
                Metrics,
                Unit::Count,
                Up,
                Own,
                Level,
                Some(F::ConnectionPoolExhaustion),
                Mechanism,
                "requests waiting for a pooled connection",
            ),
            SignalKind::TlsSessionReuse => spec(
                "tls_session_reuse",
                Metrics,
                Unit::Share,
                Down,
                Own,
                Level,
                Some(F::IngressAbuse),
                Mechanism,
                "resumed TLS sessions per handshake at a proxy",
            ),
            SignalKind::Http4xxRate => spec(
                "http_4xx_rate",
                Metrics,
                Unit::PerSecond,
                Up,
                Own,
                Level,
                Some(F::IngressAbuse),
                Manifestation,
                "requests answered 4xx",
            ),
            SignalKind::Http5xxRate => spec(
                "http_5xx_rate",
                Metrics,
                Unit::PerSecond,
                Up,
                Symptom,
                Rate,
                Some(F::ErrorReturn),
                Manifestation,
                "requests answered 5xx, judged against the requests received",
            ),
            SignalKind::RequestRate => spec(
                "request_rate",
                Metrics,
                Unit::PerSecond,
                Both,
                Context,
                Level,
                None,
                Manifestation,
                "requests received",
            ),
            SignalKind::LatencyP50 => spec(
                "latency_p50",
                Metrics,
                Unit::Seconds,
                Up,
                Symptom,
                Level,
                Some(F::Latency),
                Manifestation,
                "median latency of the requests it receives",
            ),
            SignalKind::LatencyP90 => spec(
                "latency_p90",
                Metrics,
                Unit::Seconds,
                Up,
                Symptom,
                Level,
                Some(F::Latency),
                Manifestation,
                "90th percentile latency of the requests it receives",
            ),
            SignalKind::LatencyP95 => spec(
                "latency_p95",
                Metrics,
                Unit::Seconds,
                Up,
                Symptom,
                Level,
                Some(F::Latency),
                Manifestation,
                "95th percentile latency of the requests it receives",
            ),
            SignalKind::LatencyP99 => spec(
                "latency_p99",
                Metrics,
                Unit::Seconds,
                Up,
                Symptom,
                Level,
                Some(F::Latency),
                Manifestation,
                "99th percentile latency of the requests it receives",
            ),
            SignalKind::ClientLatency => spec(
                "client_latency",
                Metrics,
                Unit::Seconds,
                Up,
                Symptom,
                Level,
                Some(F::NetworkDelay),
                Manifestation,
                "latency of its calls out, as its own client sees them",
            ),
            SignalKind::NetworkBytes => spec(
                "network_bytes",
                Metrics,
                Unit::Bytes,
                Both,
                Context,
                Level,
                None,
                Manifestation,
                "bytes sent and received",
            ),
            SignalKind::OtherMetric => spec(
                "metric",
                Metrics,
                Unit::Count,
                Both,
                Own,
                Level,
                None,
                Manifestation,
                "a metric rca has no meaning for",
            ),
            SignalKind::ProxyHttp4xx => spec(
                "http_4xx_share",
                AccessLogs,
                Unit::Share,
                Up,
                Own,
                Rate,
                Some(F::IngressAbuse),
                Manifestation,
                "requests the proxy answered 4xx",
            ),
            SignalKind::ProxyHttp5xx => spec(
                "http_5xx_share",
                AccessLogs,
                Unit::Share,
                Up,
                Symptom,
                Rate,
                Some(F::ErrorReturn),
                Manifestation,
                "requests the proxy answered 5xx",
            ),
            SignalKind::OldTls => spec(
                "old_tls_share",
                AccessLogs,
                Unit::Share,
                Up,
                Own,
                Rate,
                Some(F::IngressAbuse),
                Mechanism,
                "TLS connections older than 1.2",
            ),
            SignalKind::NewUserAgents => spec(
                "new_user_agent_share",
                AccessLogs,
                Unit::Share,
                Up,
                Own,
                Rate,
                Some(F::IngressAbuse),
                Mechanism,
                "requests from user agents the baseline never saw",
            ),
            SignalKind::ProxyLatency => spec(
                "proxy_latency",
                AccessLogs,
                Unit::Micros,
                Up,
                Symptom,
                Level,
                Some(F::Latency),
                Manifestation,
                "mean duration of the requests the proxy served",
            ),
            SignalKind::ProxyRequests => spec(
                "proxy_requests",
                AccessLogs,
                Unit::Count,
                Both,
                Context,
                Level,
                None,
                Manifestation,
                "requests the proxy served",
            ),
            SignalKind::ExceptionLogs => spec(
                "exception_logs",
                Logs,
                Unit::Share,
                Up,
                Own,
                Rate,
                Some(F::Exception),
                Mechanism,
                "its log lines that report an exception of its own",
            ),
            SignalKind::ErrorLogs => spec(
                "error_logs",
                Logs,
                Unit::Share,
                Up,
                Symptom,
                Rate,
                Some(F::ErrorReturn),
                Manifestation,
                "its error lines, about itself or about what it called",
            ),
            SignalKind::NewErrorTemplates => spec(
                "new_error_templates",
                Logs,
                Unit::Share,
                Up,
                Own,
                Rate,
                Some(F::ErrorReturn),
                Manifestation,
                "warnings and errors of a kind it never wrote in the baseline",
            ),
            SignalKind::MissingLogLines => spec(
                "missing_log_lines",
                Logs,
                Unit::Score,
                Up,
                Own,
                Derived,
                Some(F::ErrorReturn),
                Manifestation,
                "log lines its requests used to print and now skip",
            ),
            SignalKind::NamedInErrors => spec(
                "named_in_errors",
                Logs,
                Unit::Share,
                Up,
                Own,
                Rate,
                Some(F::ErrorReturn),
                Manifestation,
                "warnings and errors of other components that name it (\"call to X failed\", \"no instances of X\")",
            ),
            SignalKind::ContentionLines => spec(
                "contention_lines",
                Logs,
                Unit::Share,
                Up,
                Own,
                Rate,
                Some(F::LockContention),
                Mechanism,
                "its log lines and span events that say it waits for a lock another holds (\"Waiting for lock behind 3 transactions\", \"lock wait timeout\")",
            ),
            SignalKind::PoolWaitLines => spec(
                "pool_wait_lines",
                Logs,
                Unit::Share,
                Up,
                Own,
                Rate,
                Some(F::ConnectionPoolExhaustion),
                Mechanism,
                "its log lines and span events that say it waits for a pooled connection (\"timeout acquiring connection from pool\", \"Connection is not available\")",
            ),
            SignalKind::GoroutineLeak => spec(
                "goroutine_leak",
                Goroutines,
                Unit::Score,
                Up,
                Own,
                Derived,
                Some(F::GoroutineLeak),
                Mechanism,
                "goroutines blocked for good at one site, and their growth",
            ),
            SignalKind::UnexplainedSymptom => spec(
                "unexplained_symptom",
                Metrics,
                Unit::Score,
                Up,
                Own,
                Derived,
                Some(F::Latency),
                Manifestation,
                "latency or errors that none of its callees show",
            ),
            // Impact, not a mechanism: it names no fault of its own.
            SignalKind::ExplainsSymptom => spec(
                "explains_symptom",
                Traces,
                Unit::Share,
                Up,
                Own,
                Derived,
                None,
                Manifestation,
                "the part of the alert's slowdown or new failures that its own change accounts for",
            ),
        }
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The kind of a metric signal as `ingest` names it.
    pub fn of_metric(signal: &ingest::Signal) -> SignalKind {
        use ingest::Signal as S;
        match signal {
            S::Cpu => SignalKind::Cpu,
            S::Memory => SignalKind::Memory,
            S::Http4xxRate => SignalKind::Http4xxRate,
            S::Http5xxRate => SignalKind::Http5xxRate,
            S::RequestRate => SignalKind::RequestRate,
            S::LatencyP50 => SignalKind::LatencyP50,
            S::LatencyP90 => SignalKind::LatencyP90,
            S::LatencyP95 => SignalKind::LatencyP95,
            S::LatencyP99 => SignalKind::LatencyP99,
            S::Goroutines => SignalKind::Goroutines,
            S::TlsSessionReuse => SignalKind::TlsSessionReuse,
            S::PoolPending => SignalKind::PoolPending,
            S::Other(name) => match name.as_str() {
                "client_latency" | "client_latency_p90" | "client_latency_p99" => {
                    SignalKind::ClientLatency
                }
                "network_bytes" | "network_receive_bytes" | "network_transmit_bytes" => {
                    SignalKind::NetworkBytes
                }
                _ => SignalKind::OtherMetric,
            },
        }
    }

    /// A latency quantile read off a metric (inclusive of callees).
    pub fn is_metric_latency(self) -> bool {
        matches!(
            self,
            SignalKind::LatencyP50
                | SignalKind::LatencyP90
                | SignalKind::LatencyP95
                | SignalKind::LatencyP99
        )
    }

    /// A signal that says the component answers with errors (its own or inherited).
    pub fn is_error(self) -> bool {
        matches!(
            self,
            SignalKind::ErrorOrigin
                | SignalKind::ErrorsAnswered
                | SignalKind::Exceptions
                | SignalKind::NewErrorTemplates
                | SignalKind::ExceptionLogs
                | SignalKind::ErrorLogs
                | SignalKind::Http5xxRate
                | SignalKind::ProxyHttp5xx
        )
    }

    /// Error signals read from the component's own log lines.
    pub fn is_logged_error(self) -> bool {
        matches!(
            self,
            SignalKind::NewErrorTemplates | SignalKind::ExceptionLogs | SignalKind::ErrorLogs
        )
    }

    /// Latency as a symptom (inclusive of what it calls).
    pub fn is_latency_symptom(self) -> bool {
        self == SignalKind::Latency || self == SignalKind::ProxyLatency || self.is_metric_latency()
    }
}

impl std::fmt::Display for SignalKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_all_is_complete() {
        let mut names: Vec<&str> = SignalKind::ALL.iter().map(|k| k.name()).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "two kinds share a name");
        // Every variant is in ALL: the match in `spec` is exhaustive, and
        // ALL's length is checked by the compiler; make sure none repeats.
        let mut kinds = SignalKind::ALL.to_vec();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), SignalKind::ALL.len());
    }

    #[test]
    fn own_signals_that_name_a_fault_are_mechanisms_or_manifestations() {
        for k in SignalKind::ALL {
            let s = k.spec();
            if s.role == Role::Context {
                assert!(s.fault.is_none(), "{k}: context signals name no fault");
            }
        }
    }
}
