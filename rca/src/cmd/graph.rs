//! `rca graph incidents|recurring|gaps|show`: queries over stored incidents,
//! in Neo4j (`--neo4j-uri`) or in the embedded store of a data directory
//! (`--data-dir`); and [`StoreArgs`], the store flags `replay` shares.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use graph::store::{
    EmbeddedStore, GraphStore, IncidentQuery, Neo4jConfig, Neo4jStore, StoreConfig, StoreError,
};

use crate::cli::OutputFormat;
use crate::error::{CliError, CliResult};

/// Where incidents are stored.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Neo4j's Bolt URI (bolt://host:7687): store in, or query, Neo4j.
    #[arg(long, env = "RCA_NEO4J_URI")]
    pub neo4j_uri: Option<String>,
    /// Neo4j user [default: neo4j].
    #[arg(long, env = "RCA_NEO4J_USER")]
    pub neo4j_user: Option<String>,
    /// Neo4j password [default: none, for a server without authentication].
    #[arg(long, env = "RCA_NEO4J_PASSWORD", hide_env_values = true)]
    pub neo4j_password: Option<String>,
    /// Data directory: the embedded store, or with Neo4j the local copy and
    /// the outbox of writes waiting for it.
    #[arg(long, env = "RCA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// The data directory `replay --neo4j-uri` keeps its outbox in when none is given.
pub const DEFAULT_DATA_DIR: &str = "rca-data";

impl StoreArgs {
    pub fn neo4j(&self) -> Option<Neo4jConfig> {
        self.neo4j_uri.as_ref().map(|uri| {
            Neo4jConfig::new(
                uri.clone(),
                self.neo4j_user.clone(),
                self.neo4j_password.clone(),
            )
        })
    }

    /// The store to write incidents to, if any was asked for: Neo4j (with its
    /// outbox in the data directory, by default `./rca-data`) or the
    /// embedded store of the data directory.
    pub fn config(&self) -> Option<StoreConfig> {
        if self.neo4j_uri.is_none() && self.data_dir.is_none() {
            return None;
        }
        Some(StoreConfig {
            data_dir: self
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            neo4j: self.neo4j(),
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum GraphCommand {
    /// Stored incidents, newest alert first, optionally of one component (any rank) and time range.
    Incidents(IncidentsArgs),
    /// Components named root cause by two or more incidents, most first.
    Recurring(RecurringArgs),
    /// Coverage gaps: attack paths detected by an alert rule that no action taken mitigates.
    Gaps(GapsArgs),
    /// One incident's stored graph: root causes, calls, attack path, detection rule, actions.
    Show(ShowArgs),
    /// Incidents with a verdict (confirmed or corrected), newest alert first, and how often
    /// rca's first-ranked component was the root cause.
    Feedback(FeedbackArgs),
}

#[derive(Debug, Args)]
pub struct FeedbackArgs {
    #[command(flatten)]
    pub window: Window,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct Common {
    #[command(flatten)]
    pub store: StoreArgs,
    /// A readable table or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct Window {
    /// Only incidents whose alert started at or after this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Only incidents whose alert started before this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// At most this many rows.
    #[arg(long, default_value_t = graph::store::DEFAULT_LIMIT)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct IncidentsArgs {
    /// Only incidents that ranked this component.
    #[arg(long)]
    pub component: Option<String>,
    #[command(flatten)]
    pub window: Window,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct RecurringArgs {
    #[command(flatten)]
    pub window: Window,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct GapsArgs {
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The incident id.
    pub id: String,
    #[command(flatten)]
    pub common: Common,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time like 2026-03-04T10:00:00Z: {e}"))
}

pub fn runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map_err(CliError::failed)
}

/// A store error as the CLI reports it: bad settings are bad usage (2),
/// anything else (Neo4j down, a file) a failure (1).
pub fn store_error(e: StoreError) -> CliError {
    match e {
        e @ StoreError::Config(_) => CliError::bad(e),
        e => CliError::failed(e),
    }
}

/// The store to query: Neo4j alone (no local copy, so nothing is locked and
/// a down server is an error), or a read-only snapshot of the embedded store.
pub async fn open_for_queries(store: &StoreArgs) -> CliResult<Arc<dyn GraphStore>> {
    if let Some(cfg) = store.neo4j() {
        let s = Neo4jStore::connect(cfg).await.map_err(store_error)?;
        return Ok(Arc::new(s));
    }
    let Some(dir) = &store.data_dir else {
        return Err(CliError::bad(anyhow::anyhow!(
            "the store to read needs --neo4j-uri URI (or RCA_NEO4J_URI) or --data-dir DIR (or RCA_DATA_DIR)"
        )));
    };
    if !dir.is_dir() {
        return Err(CliError::bad(anyhow::anyhow!(
            "data directory {} does not exist",
            dir.display()
        )));
    }
    let s = EmbeddedStore::open_read_only(dir).map_err(store_error)?;
    Ok(Arc::new(s))
}

pub fn run(cmd: &GraphCommand) -> CliResult<()> {
    let rt = runtime()?;
    let (common, text, json) = rt.block_on(answer(cmd))?;
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    let printed = match common.format {
        OutputFormat::Json => serde_json::to_writer_pretty(&mut w, &json)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(w)),
        OutputFormat::Text => w.write_all(text.as_bytes()),
    };
    match printed {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::failed(e)),
        _ => Ok(()),
    }
}

fn query(component: Option<String>, w: &Window) -> IncidentQuery {
    IncidentQuery {
        component,
        since: w.since,
        until: w.until,
        limit: w.limit,
        offset: 0,
    }
}

async fn answer(cmd: &GraphCommand) -> CliResult<(&Common, String, serde_json::Value)> {
    use std::fmt::Write as _;
    let json = |v: &dyn erased::Ser| v.to_json();
    let mut t = String::new();
    match cmd {
        GraphCommand::Incidents(a) => {
            let store = open_for_queries(&a.common.store).await?;
            let rows = store
                .incidents(&query(a.component.clone(), &a.window))
                .await
                .map_err(store_error)?;
            if rows.is_empty() {
                t.push_str("no incidents\n");
            }
            for r in &rows {
                let _ = writeln!(
                    t,
                    "{}  {}  {:<24} {:<24} {:<26} {}",
                    r.starts_at,
                    r.id,
                    clean(&r.alert_name),
                    clean(r.root_cause.as_deref().unwrap_or("-")),
                    r.fault.map(|f| f.as_str()).unwrap_or("-"),
                    r.score.map(|s| format!("{s:.2}")).unwrap_or_default()
                );
            }
            Ok((&a.common, t, json(&rows)?))
        }
        GraphCommand::Recurring(a) => {
            let store = open_for_queries(&a.common.store).await?;
            let rows = store
                .recurring(&query(None, &a.window))
                .await
                .map_err(store_error)?;
            if rows.is_empty() {
                t.push_str("no component was root cause of more than one incident\n");
            }
            for r in &rows {
                let faults: Vec<&str> = r.faults.iter().map(|f| f.as_str()).collect();
                let _ = writeln!(
                    t,
                    "{:<24} {:>4} incidents  last {}  {}",
                    clean(&r.component),
                    r.incidents,
                    r.last_seen,
                    faults.join(", ")
                );
            }
            Ok((&a.common, t, json(&rows)?))
        }
        GraphCommand::Gaps(a) => {
            let store = open_for_queries(&a.common.store).await?;
            let rows = store.gaps().await.map_err(store_error)?;
            if rows.is_empty() {
                t.push_str("no coverage gaps: every detected attack path has an action taken\n");
            }
            for g in &rows {
                let path: Vec<String> = g.components.iter().map(|c| clean(c)).collect();
                let _ = writeln!(
                    t,
                    "{:>4} incidents  rule {}  path {}  ({})",
                    g.incidents,
                    clean(&g.detection_rule),
                    path.join(" -> "),
                    g.attack_path
                );
            }
            Ok((&a.common, t, json(&rows)?))
        }
        GraphCommand::Feedback(a) => {
            let store = open_for_queries(&a.common.store).await?;
            let rows = store
                .verdicts(&query(None, &a.window))
                .await
                .map_err(store_error)?;
            let tally = graph::store::VerdictTally::of(&rows);
            if rows.is_empty() {
                t.push_str("no incident has a verdict\n");
            }
            for v in &rows {
                let f = &v.feedback;
                let note = f.note.lines().next().unwrap_or_default();
                let _ = writeln!(
                    t,
                    "{}  {}  {:<9} rca {:<24} was {:<24} {:<26} by {} at {}{}{}",
                    v.incident.starts_at,
                    v.incident.id,
                    f.verdict.as_str(),
                    clean(v.incident.root_cause.as_deref().unwrap_or("-")),
                    clean(&f.root_cause),
                    f.fault.map(|k| k.as_str()).unwrap_or("-"),
                    clean(&f.by),
                    f.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    if note.is_empty() { "" } else { "  " },
                    clean(note),
                );
            }
            if let Some(ac1) = tally.ac1() {
                let _ = writeln!(
                    t,
                    "rca's first-ranked was the root cause in {} of {} (AC@1 {ac1:.2})",
                    tally.first_right, tally.incidents
                );
            }
            let out = serde_json::json!({ "verdicts": rows, "tally": tally, "ac1": tally.ac1() });
            Ok((&a.common, t, out))
        }
        GraphCommand::Show(a) => {
            let store = open_for_queries(&a.common.store).await?;
            let Some(g) = store.graph(&a.id).await.map_err(store_error)? else {
                return Err(CliError::bad(anyhow::anyhow!(
                    "no stored incident {:?}",
                    a.id
                )));
            };
            let i = &g.incident;
            let _ = writeln!(
                t,
                "incident {}  alert {}  starts {}",
                i.id,
                clean(&i.alert_name),
                i.starts_at
            );
            for (c, rank, score) in &g.root_causes {
                let _ = writeln!(t, "root cause {rank}. {:<24} {score:.2}", clean(c));
            }
            let path: Vec<String> = g.path.iter().map(|c| clean(c)).collect();
            let _ = writeln!(t, "attack path: {}", path.join(" -> "));
            let _ = writeln!(t, "detection rule: {}", clean(&g.detection_rule));
            for c in &g.calls {
                let _ = writeln!(
                    t,
                    "calls {} -> {}: {} calls, {} errors, p99 {:.1} ms",
                    clean(&c.from),
                    clean(&c.to),
                    c.calls,
                    c.errors,
                    c.p99_ms
                );
            }
            for x in &g.actions {
                let status = match x.status {
                    graph::store::ActionStatus::Taken => "taken",
                    graph::store::ActionStatus::Suggested => "suggested",
                };
                let _ = writeln!(
                    t,
                    "action ({status}) {}: {}",
                    clean(&x.id),
                    clean(&x.description)
                );
            }
            Ok((&a.common, t, json(&g)?))
        }
    }
}

/// Serialising any of the answers to JSON, behind one signature.
mod erased {
    use crate::error::{CliError, CliResult};

    pub trait Ser {
        fn to_json(&self) -> CliResult<serde_json::Value>;
    }

    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> CliResult<serde_json::Value> {
            serde_json::to_value(self).map_err(CliError::failed)
        }
    }
}

/// Names come from the observed systems (and from attackers): control
/// characters are shown escaped, never sent to the terminal.
pub fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("api"), "api");
        assert_eq!(clean("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
    }
}
