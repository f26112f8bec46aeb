//! `rca goroutines DUMP [DUMP2]`: the goroutine-leak analysis alone.

use std::io::Write;

use graph::goroutines::{analyse, Analysis};
use serde::Serialize;

use crate::cli::{GoroutinesArgs, OutputFormat};
use crate::error::{CliError, CliResult};

/// The JSON answer.
#[derive(Debug, Serialize)]
pub struct Report {
    pub goroutines: u64,
    /// Goroutines the latest leak profile lists; `null` when no dump is one.
    pub proved_leaked: Option<u64>,
    pub leaks: Vec<LeakJson>,
}

#[derive(Debug, Serialize)]
pub struct LeakJson {
    pub pattern: &'static str,
    pub blocked_in: String,
    pub blocking_site: String,
    pub created_by: String,
    pub count: u64,
    pub growth: i64,
    pub max_wait_minutes: u32,
    /// The Go runtime proved them leaked.
    pub proved: bool,
}

/// Reads the dumps (any format, told apart by content) and analyses them.
pub fn analyse_files(paths: &[std::path::PathBuf]) -> CliResult<Analysis> {
    let mut dumps = Vec::with_capacity(paths.len());
    for p in paths {
        let bytes = std::fs::read(p).map_err(|source| ingest::IngestError::Io {
            path: p.clone(),
            source,
        })?;
        dumps.push(ingest::read_goroutine_dump(p, &bytes)?);
    }
    let refs: Vec<&ingest::Dump> = dumps.iter().collect();
    Ok(analyse(&refs))
}

pub fn report(a: &Analysis) -> Report {
    Report {
        goroutines: a.goroutines,
        proved_leaked: a.proved,
        leaks: a
            .leaks
            .iter()
            .map(|l| LeakJson {
                pattern: l.pattern.as_str(),
                blocked_in: l.blocked_in.clone(),
                blocking_site: l.blocking_site.clone(),
                created_by: l.created_by.clone(),
                count: l.count,
                growth: l.growth,
                max_wait_minutes: l.max_wait_minutes,
                proved: l.proved,
            })
            .collect(),
    }
}

fn text(a: &Analysis) -> String {
    let mut out = if a.dumps > 1 {
        format!("goroutines: {} -> {}\n", a.first_goroutines, a.goroutines)
    } else {
        format!("goroutines: {}\n", a.goroutines)
    };
    if let Some(n) = a.proved {
        out.push_str(&format!("proved leaked by the Go runtime: {n}\n"));
    }
    if a.leaks.is_empty() {
        out.push_str("no goroutine leak\n");
        return out;
    }
    for (i, l) in a.leaks.iter().enumerate() {
        let unknown = |s: &str| {
            if s.is_empty() {
                "not shown in this format".to_string()
            } else {
                s.to_string()
            }
        };
        out.push_str(&format!(
            "\n{}. goroutine leak{}, {}: {} goroutines ({:+} between the dumps){}\n   blocked in:  {}\n   at:          {}\n   created by:  {}\n   why:         {}\n",
            i + 1,
            if l.proved { " proved by the Go runtime" } else { "" },
            l.pattern,
            l.count,
            l.growth,
            if l.max_wait_minutes > 0 { format!(", waiting up to {} minutes", l.max_wait_minutes) } else { String::new() },
            unknown(&l.blocked_in),
            l.blocking_site,
            unknown(&l.created_by),
            l.why,
        ));
    }
    out
}

pub fn run(args: &GoroutinesArgs) -> CliResult<()> {
    let a = analyse_files(&args.dumps)?;
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    let printed = match args.format {
        OutputFormat::Json => serde_json::to_writer(&mut w, &report(&a))
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(w)),
        OutputFormat::Text => w.write_all(text(&a).as_bytes()),
    };
    match printed {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::failed(e)),
        _ => Ok(()),
    }
}
