//! `graph`: the causal component graph, anomaly scoring and root-cause ranking.
//!
//! Data flows one way through it: [`Observations`](ingest::Observations) are
//! cut into time buckets (`window`), turned into per-component signals and
//! caller-to-callee edges (`features`), scored against their baseline
//! (`score`), ranked with the graph's help (`rank`), and assembled into a
//! [`Localisation`] (`engine`). Nothing here reads files or sockets.
//!
//! # Layout
//! - `localisation`: the output types ([`Localisation`], [`Candidate`], [`Evidence`], [`Heatmap`]).
//! - `signal`: the table of signal kinds ([`signal::SignalKind`]): modality, unit, direction, role,
//!   specificity and the fault each points at; everything below reads it.
//! - `params`: the engine's parameters ([`Params`]), each with the reason for its value.
//! - `window`: the analysed window, its buckets and the baseline's end.
//! - `features`: bucketed signals per component and the call edges, from traces, metrics, access logs and logs.
//! - `callgraph`: caller→callee edges from service-graph metrics (calls and failed calls per
//!   edge over the window and per bucket), where traces are missing.
//! - `score`: robust z-scores of levels and rates, sustained scores, onsets.
//! - `goroutines`: goroutine dumps analysed: leaking groups by blocking and creating site, their
//!   growth and pattern, and the leaks the Go runtime proved (its goroutine-leak profile)
//!   first ([`goroutines::analyse`]).
//! - `explain`: the causal graph (petgraph): edges scored, slowed edges charged to an endpoint, the
//!   share of the symptom each component's own change explains.
//! - `rank`: each component's own evidence, combined over independent channels; the fault kind
//!   and the inner causes.
//! - `engine`: [`localise`], the entry point.
//! - `detail`: per-cell evidence and signal series for the interactive page (`Localisation::detail`).
//! - `store`: the [`GraphStore`](store::GraphStore) trait: where incidents and their attack paths are kept.
#![forbid(unsafe_code)]
// `!(x > 0.0)` is how the scoring code says "not a positive number, NaN
// included"; `partial_cmp` would hide that.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

mod callgraph;
mod detail;
mod engine;
mod explain;
mod features;
pub mod goroutines;
mod localisation;
mod params;
mod rank;
mod score;
pub mod signal;
pub mod store;
pub mod symptom;
mod window;

pub use engine::{
    alert_incident_id, incident_id, localise, missing_of, other_alerts, EngineConfig, GraphError,
};
pub use localisation::{
    is_address, AlertRef, Candidate, Cell, CellSignal, Count, Detail, Edge, Evidence, FaultKind,
    Heatmap, IncidentInfo, InnerCause, InnerKind, Localisation, Missing, ProxyMix, SignalSeries,
};
pub use params::{Floor, LevelFloors, Params};
pub use window::WindowConfig;
