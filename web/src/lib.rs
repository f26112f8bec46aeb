//! `web`: what `rca` shows people. For now one page: the incident report, a single
//! self-contained HTML file rendered from a [`graph::Localisation`]; later the HTTP API.
//!
//! Everything in a `Localisation` (component names, user agents, span names, summaries, trace
//! ids) comes from the observed system and is treated as hostile: HTML goes through `maud`,
//! which escapes, SVG text through plotters, which escapes, and the only link built from data
//! is a Jaeger trace link whose id is checked to be hex.
//!
//! # Layout
//! - `report`: [`render_report`] and [`ReportOptions`], the incident page.
//! - `heatmap`: [`heatmap_svg`], the components x time anomaly picture, reusable by other pages.
//! - `colormap`: the viridis colour map and the score scale.
//! - `text`: display helpers for untrusted strings, times and numbers.
//! - `error`: [`WebError`].
#![forbid(unsafe_code)]

pub mod auth;
mod causal;
mod colormap;
mod data;
mod error;
pub mod heatmap;
mod png;
pub mod report;
pub mod server;
mod text;

pub use auth::require_bearer;
pub use error::WebError;
pub use heatmap::{heatmap_svg, modality_heatmap_svg};
pub use png::heatmap_png;
pub use report::{render_report, ReportOptions, Script, PAGE_JS, PAGE_JS_PATH};
pub use server::{
    router, ApiDoc, ApiError, AppState, LocaliseError, LocaliseRequest, Localiser, PageOptions,
};
