//! `graph`: the causal component graph, anomaly scoring and root-cause ranking.
//!
//! # Layout
//! - `localisation`: the output types ([`Localisation`], [`Candidate`], [`Evidence`], [`Heatmap`]).
#![forbid(unsafe_code)]

mod localisation;

pub use localisation::*;
