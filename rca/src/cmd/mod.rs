//! One module per subcommand; shared steps live here.

pub mod eval;
pub mod fixtures;
pub mod goroutines;
pub mod graph;
pub mod nezha;
pub mod push;
pub mod replay;
pub mod serve;

use std::path::Path;

use ::graph::{EngineConfig, Localisation};
use anyhow::Context;

use crate::error::{CliError, CliResult};

/// Reads a fixture directory and localises its incident.
pub fn localise_fixture(dir: &Path, cfg: &EngineConfig) -> CliResult<Localisation> {
    let fixture = ingest::load_fixture(dir)?;
    ::graph::localise(&fixture.observations, cfg)
        .with_context(|| format!("localising {}", dir.display()))
        .map_err(CliError::bad)
}
