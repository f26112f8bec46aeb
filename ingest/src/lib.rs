//! `ingest`: the observation model of `rca` and the readers that fill it.
//!
//! Readers take the real wire formats (OTLP JSON and Jaeger JSON traces,
//! Prometheus `query_range` bodies, Envoy and ingress-nginx access logs,
//! Alertmanager webhooks) and produce [`Observations`]. Nothing here scores or
//! ranks: that is the `graph` crate's work.
//!
//! Every reader takes the file's path and bytes (`read_x(path, bytes, obs)`),
//! so the caller decides how bytes arrive; the path only names the file in
//! errors. Bad input is an [`IngestError`], never a panic.
//!
//! # Layout
//! - `model`: the observation types ([`Span`], [`Series`], [`EdgeSeries`], [`AccessRecord`],
//!   [`Alert`], ...)
//!   and [`Observations::merge`].
//! - `error`: [`IngestError`], which names the file and line of any bad input.
//! - `alert`: Alertmanager webhook bodies, [`read_webhook`].
//! - `traces`: OTLP JSON (also as Jaeger v2's `/api/v3/traces` answer) and Jaeger JSON
//!   traces, [`read_traces`].
//! - `logs`: OTLP JSON logs, [`read_otlp_logs`], and message templates, [`template_of`].
//! - `metrics`: Prometheus `query_range` answers, [`read_metrics`], [`parse_query_range`];
//!   component series and caller→callee (service-graph) series.
//! - `access`: Envoy (JSON and default text) and ingress-nginx access logs, [`read_access_log`].
//! - `collect`: pulling an alert's window from live backends (Jaeger, Prometheus, access-log
//!   files, pprof endpoints), one trait per modality with the fixture as the other
//!   implementation, [`collect::collect`].
//! - `nezha`: the Nezha dataset's layout (per-minute trace and log CSVs, per-pod metrics),
//!   [`nezha_cases`], [`load_nezha_case`].
//! - `goroutines`: Go goroutine dumps in the three formats of `/debug/pprof/goroutine`,
//!   and the goroutine-leak profile of `/debug/pprof/goroutineleak` (leaks the runtime
//!   proved, [`DumpKind::ProvedLeaks`]), [`read_goroutine_dump`], and recorded ones, [`GoroutineSource`] (a directory of
//!   dumps; live ones come from `collect::PprofSource`).
//! - `fixture`: fixture incident directories, [`load_fixture`], and their [`Truth`].
//! - `record`: the inverse, [`record::write_fixture`]: observations written back out as a
//!   fixture directory (how an incident is recorded), optionally sampled.
//! - `sample`: the live trace sample's rule ([`sample::TraceSampling`]) and the same rule applied to
//!   spans in hand, [`sample::thin`], to measure what sampling costs.
//! - `servicegraph`: the service-graph series the OpenTelemetry Collector's `servicegraph`
//!   connector would write for spans in hand, [`servicegraph::from_spans`], and traces
//!   replaced by them, [`servicegraph::replace_traces`].
//! - `archive`: a fixture directory as one `.tar.gz`, [`archive::pack`], [`archive::unpack`]
//!   (which `load_fixture` calls for an archive).
//! - `files`: reading big files fast: whole by several threads at once, or in chunks cut
//!   at newlines, for `load_fixture`; private.
//! - `wire`: pieces the readers share (borrowed strings, IDs, timestamps); private.
#![forbid(unsafe_code)]

mod access;
mod alert;
pub mod archive;
pub mod collect;
mod error;
mod files;
mod fixture;
mod goroutines;
mod logs;
mod metrics;
mod model;
mod nezha;
pub mod record;
pub mod sample;
pub mod servicegraph;
mod traces;
mod wire;

pub use access::read_access_log;
pub use alert::read_webhook;
pub use error::IngestError;
pub use fixture::{load_fixture, read_truth, Fixture, Truth, DEFAULT_PROXY};
pub use goroutines::{
    read_dump_dir, read_goroutine_dump, DirGoroutineSource, Dump, DumpFormat, DumpKind, Frame,
    Goroutine, GoroutineSource, TimedDump,
};
pub use logs::{exception_in, level_of, read_otlp_logs, template_of};
pub use metrics::{
    parse_query_range, read_metrics, read_metrics_detailed, MetricsRead, RangeSeries,
    DEFAULT_CLIENT_LABEL, DEFAULT_SERVER_LABEL,
};
pub use model::{
    rfc3339_micros, rfc3339_secs, AccessRecord, Alert, AlertWebhook, ComponentDumps, EdgeSeries,
    EdgeSignal, Interner, LogLevel, LogRecord, Micros, Modality, NotAnEdgeSignal, Observations,
    Series, Signal, SourceStatus, Span, SpanKind, Sym, TimeWindow, COMPONENT_LABELS,
};
pub use nezha::{load_nezha_case, nezha_cases, service_of, NezhaCase, NezhaInput, NezhaWindow};
pub use traces::{read_traces, read_traces_proto, UNKNOWN_SERVICE};
