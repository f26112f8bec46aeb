//! `web`: what `rca` shows people and bots. The incident page, rendered from a
//! [`graph::Localisation`] (one HTML page with a small embedded script, the same served or written
//! to a file), and the [`router`] with the pages and the bot API over a graph store.
//!
//! Everything in a `Localisation` (component names, user agents, span names, summaries, trace
//! ids, log lines) comes from the observed system and is treated as hostile: HTML goes through
//! `maud`, which escapes, SVG text through plotters or maud, which escape, the script's JSON has
//! `<`, `>` and `&` as `\u` escapes and the script writes text with `textContent`, and the only
//! link built from data is a Jaeger trace link whose id is checked to be hex.
//!
//! # Layout
//! - `report`: [`render_report`], [`ReportOptions`] and [`Script`], the incident page; `page.js`.
//! - `heatmap`: [`heatmap_svg`], the components x time anomaly picture, and its geometry.
//! - `causal`: the small causal graph as SVG.
//! - `data`: the JSON the page's script reads, escaped for a script element.
//! - `png`: [`heatmap_png`], for chat previews.
//! - `server`: [`router`], [`AppState`], [`Localiser`], [`ApiError`], the OpenAPI document [`ApiDoc`].
//! - `intake`: the answer of `rca serve`'s webhook, for the OpenAPI document.
//! - `auth`: [`require_bearer`], the bearer-token layer.
//! - `colormap`: the viridis colour map and the score scale.
//! - `text`: display helpers for untrusted strings, times and numbers.
//! - `error`: [`WebError`].
#![forbid(unsafe_code)]

mod auth;
mod causal;
mod colormap;
mod data;
mod error;
mod heatmap;
pub mod intake;
mod png;
mod report;
mod server;
mod text;

pub use auth::require_bearer;
pub use error::WebError;
pub use heatmap::{heatmap_svg, modality_heatmap_svg};
pub use png::heatmap_png;
pub use report::{render_report, RecordingLink, ReportOptions, Script, PAGE_JS, PAGE_JS_PATH};
pub use server::{
    router, ApiDoc, ApiError, AppState, LocaliseError, LocaliseRequest, Localiser, PageOptions,
};
