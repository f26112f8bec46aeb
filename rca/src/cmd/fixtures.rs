//! `rca fixtures generate`: simulated incidents in real wire formats.

use crate::cli::{FixtureModality, GenerateArgs};
use crate::error::{CliError, CliResult};
use crate::generate::{self, GenerateError, GenerateOptions, Modalities};

/// The modalities `--modalities` names.
fn modalities(list: &[FixtureModality]) -> Modalities {
    let has = |m| list.contains(&m);
    Modalities {
        traces: has(FixtureModality::Traces),
        metrics: has(FixtureModality::Metrics),
        servicegraph: has(FixtureModality::Servicegraph),
        access_logs: has(FixtureModality::AccessLogs),
        logs: has(FixtureModality::Logs),
        goroutines: has(FixtureModality::Goroutines),
    }
}

pub fn generate(args: &GenerateArgs) -> CliResult<()> {
    let opts = GenerateOptions {
        modalities: modalities(&args.modalities),
        seed: args.seed,
        fault: args.fault.parse().map_err(CliError::bad)?,
        target: args.target.clone(),
        spans: args.spans,
        access_format: args
            .access_format
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(CliError::bad)?,
    };
    let summary = generate::generate(&opts, &args.out).map_err(|e| match e {
        GenerateError::Io { .. } => CliError::failed(e),
        other => CliError::bad(other),
    })?;
    println!(
        "wrote {}: {} spans, {} access-log lines, root cause {} ({}), alert on {}",
        args.out.display(),
        summary.spans,
        summary.access_lines,
        summary.target,
        opts.fault,
        summary.alert_component
    );
    Ok(())
}
