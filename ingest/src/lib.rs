//! `ingest`: the observation model of `rca` and the readers that fill it.
//!
//! Readers take the real wire formats (OTLP JSON and Jaeger JSON traces,
//! Prometheus `query_range` bodies, Envoy and ingress-nginx access logs,
//! Alertmanager webhooks) and produce [`Observations`]. Nothing here scores or
//! ranks: that is the `graph` crate's work.
//!
//! # Layout
//! - `model`: the observation types ([`Span`], [`Series`], [`AccessRecord`], [`Alert`], ...).
//! - `error`: [`IngestError`], which names the file and line of any bad input.
//! - `alert`: Alertmanager webhook bodies.
#![forbid(unsafe_code)]

mod alert;
mod error;
mod model;

pub use error::IngestError;
pub use model::*;
