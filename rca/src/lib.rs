//! `rca`: the command-line tool and its wiring.
//!
//! `main` only parses arguments, sets up logging and calls [`cli::run`];
//! everything else is here so tests can drive it.
//!
//! # Layout
//! - `cli`: argument types (clap) and dispatch.
//! - `cmd`: one module per subcommand: `replay`, `fixtures` (`generate`), `push`
//!   (`fixtures push`), `eval`, `nezha` (the dataset's evaluation), `serve`, `graph`,
//!   `goroutines`; `mod.rs` holds what they share (loading a fixture, the empty incident).
//! - `error`: [`CliError`] and its exit codes (2 bad input, 1 anything else).
//! - `serve`: `rca serve`, the live service (webhook, queue, workers, config, telemetry).
//! - `generate`: the fixture generator (simulated incidents in real wire formats).
#![forbid(unsafe_code)]

pub mod cli;
pub mod cmd;
pub mod error;
pub mod generate;
pub mod serve;

pub use error::{CliError, CliResult};
