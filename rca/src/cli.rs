//! Command-line interface: the argument types and the dispatch to commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cmd;
use crate::error::CliResult;

/// Root-cause localisation for alerts: names the component that caused an
/// incident from its traces, metrics and proxy access logs, with evidence and
/// the path by which it spread.
#[derive(Debug, Parser)]
#[command(name = "rca", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Localise a recorded incident from a fixture directory (no server needed).
    Replay(ReplayArgs),
    /// Generate or manage fixture incidents.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Evaluate accuracy over a set of labelled incidents.
    Eval(EvalArgs),
    /// Query stored incidents: by component and time, recurring root causes, coverage gaps.
    #[command(subcommand)]
    Graph(cmd::graph::GraphCommand),
    /// Analyse goroutine dumps alone: leaking sites, their creators, growth and pattern.
    Goroutines(GoroutinesArgs),
    /// Run the live service: alert webhooks in, incidents out.
    #[command(after_long_help = crate::serve::config::reference())]
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct GoroutinesArgs {
    /// A goroutine dump (/debug/pprof/goroutine with debug=2, debug=1 or debug=0), and
    /// optionally a later one of the same program to measure growth; any of them may be
    /// its goroutine-leak profile (/debug/pprof/goroutineleak, debug=1 or debug=0), whose
    /// leaks the runtime proved. Oldest first: the first and last dumps are compared, and
    /// the last leak profile is the proof.
    #[arg(required = true, num_args = 1..)]
    pub dumps: Vec<PathBuf>,
    /// What to print: a readable summary, or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: the config's `listen`, 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// TOML configuration file; without one, the defaults serve the local stack.
    #[arg(long, env = "RCA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where incidents are stored [default: the config's `data_dir`, ./rca-data]; with
    /// Neo4j, the local copy of incidents and the outbox of writes waiting for it.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where accepted alerts wait for a worker: nats://HOST:4222 puts them in a NATS
    /// JetStream stream that every replica with the same URL takes work from [default:
    /// the config's `queue.url`; empty: this process's journal under --data-dir].
    #[arg(long)]
    pub queue: Option<String>,
    /// Neo4j's Bolt URI (bolt://host:7687): keep incidents in Neo4j instead of the
    /// embedded store.
    #[arg(long, env = "RCA_NEO4J_URI")]
    pub neo4j_uri: Option<String>,
    /// Neo4j user [default: neo4j].
    #[arg(long, env = "RCA_NEO4J_USER")]
    pub neo4j_user: Option<String>,
    /// Neo4j password [default: none, for a server without authentication].
    #[arg(long, env = "RCA_NEO4J_PASSWORD", hide_env_values = true)]
    pub neo4j_password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The fixture directory (alert.json, traces.json, metrics.json, access.log, logs.json),
    /// or a recorded incident (.tar.gz, from GET /api/v1/incidents/{id}/window or
    /// DATA_DIR/recordings/).
    pub fixture: PathBuf,
    /// Where to write report.html [default: ./rca-out/<incident id>/].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// What to print: a readable summary, or the Localisation as JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Jaeger UI base URL, to link example trace ids in the report.
    #[arg(long, env = "RCA_JAEGER_URL")]
    pub jaeger_url: Option<String>,
    /// Minutes of data before the alert's start to analyse [default: a recording's own, else 30].
    #[arg(long)]
    pub lookback_minutes: Option<u32>,
    /// Minutes of data after the alert's start to analyse [default: a recording's own, else 10].
    #[arg(long)]
    pub settle_minutes: Option<u32>,
    /// Where to store the incident (none unless --data-dir or --neo4j-uri is given); its
    /// window is recorded in DATA_DIR/recordings/ beside it.
    #[command(flatten)]
    pub store: cmd::graph::StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Simulate an incident and write it as a fixture directory.
    Generate(GenerateArgs),
    /// Load a fixture into real backends, shifted to the present, and print
    /// the alert to fire.
    Push(PushArgs),
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The fixture directory.
    pub fixture: PathBuf,
    /// Jaeger's OTLP/HTTP receiver.
    #[arg(long, env = "RCA_PUSH_OTLP", default_value = "http://127.0.0.1:4318")]
    pub otlp: String,
    /// Prometheus (its remote-write receiver must be on, with an
    /// out-of-order window of at least an hour).
    #[arg(
        long,
        env = "RCA_PROMETHEUS_URL",
        default_value = "http://127.0.0.1:9090"
    )]
    pub prometheus: String,
    /// Directory to write the shifted access logs to (rca's access_logs.dir).
    #[arg(long, env = "RCA_ACCESS_LOG_DIR", default_value = "access-logs")]
    pub access_log_dir: PathBuf,
    /// VictoriaLogs to send the application logs and the access logs to
    /// (its JSON-lines API) instead of writing the access logs to a directory.
    #[arg(long)]
    pub logs_url: Option<String>,
    /// Where to write the rca configuration that reads the pushed series back.
    #[arg(long)]
    pub write_config: Option<PathBuf>,
    /// Alertmanager to fire the shifted alert at (POST /api/v2/alerts); none: print it only.
    #[arg(long)]
    pub alertmanager: Option<String>,
    /// Minutes the alert's settle period has passed by when pushed.
    #[arg(long, default_value_t = 1)]
    pub margin_minutes: u32,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output directory (created; existing files are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed: the same seed and options give the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fault to inject (`latency`, its old name, still means `network_delay`).
    #[arg(long, value_parser = fault_values())]
    pub fault: String,
    /// Component to inject it into [default: one that suits the fault, chosen by seed].
    #[arg(long)]
    pub target: Option<String>,
    /// Approximate number of spans to generate.
    #[arg(long, default_value_t = 3000)]
    pub spans: usize,
    /// Access-log format [default: chosen by seed].
    #[arg(long, value_parser = ["envoy-json", "envoy-text", "nginx"])]
    pub access_format: Option<String>,
    /// What the fixture carries, comma-separated (the same incident is simulated whatever
    /// it is). servicegraph: metrics.json's caller→callee series as the OpenTelemetry
    /// Collector's servicegraph connector writes them, calls and failed calls of every
    /// request and the server and client latency of the traced ones; without traces, the
    /// fixture has no traces.json. goroutines changes nothing (the simulator writes no
    /// dumps).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "traces,metrics,access_logs,logs,goroutines"
    )]
    pub modalities: Vec<FixtureModality>,
}

/// What `rca fixtures generate --modalities` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FixtureModality {
    Traces,
    Metrics,
    Servicegraph,
    #[value(name = "access_logs")]
    AccessLogs,
    Logs,
    Goroutines,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DatasetFormat {
    /// Directories of fixture incidents, each with a truth.json.
    Fixtures,
    /// The Nezha dataset's layout: rca_data/DAY/..., construct_data/DAY/... (needs --day).
    Nezha,
    /// Your own incidents: every stored incident with a verdict, replayed from its recording
    /// (needs --data-dir or --neo4j-uri).
    Store,
}

/// How `rca eval` hands a case's traces to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TracesAs {
    /// The spans, as recorded.
    Spans,
    /// Only their service-graph series, as systems without traces have them.
    Servicegraph,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Layout of the dataset.
    #[arg(long, value_enum, default_value_t = DatasetFormat::Fixtures)]
    pub format: DatasetFormat,
    /// The dataset's root directory (for --format fixtures and nezha).
    #[arg(long, required_if_eq_any([("format", "fixtures"), ("format", "nezha")]))]
    pub dataset: Option<PathBuf>,
    /// The day to evaluate (YYYY-MM-DD), for --format nezha.
    #[arg(long, required_if_eq("format", "nezha"))]
    pub day: Option<String>,
    /// Only the cases whose name contains this text (for --format nezha; for --format store,
    /// the incidents whose id or alert name does).
    #[arg(long)]
    pub case: Option<String>,
    /// Engine parameters to use instead of the defaults: a TOML or JSON file
    /// naming the fields to change (see `graph::Params`).
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// Thin each case's traces first as the live Jaeger sample would fetch them: at most
    /// PER_SLICE traces per entry service and twentieth of the window (default 100), plus
    /// every failing and every slow trace (for --format fixtures and nezha).
    #[arg(long, value_name = "PER_SLICE", num_args = 0..=1, default_missing_value = "100")]
    pub thin_traces: Option<u32>,
    /// What the engine gets of each case's traces: the spans, or only the service-graph
    /// series the OpenTelemetry Collector's servicegraph connector would have made of
    /// them (calls, failed calls, server and client latency per caller→callee edge and
    /// minute), the spans dropped (for --format fixtures and nezha; after --thin-traces).
    #[arg(long, value_enum, default_value_t = TracesAs::Spans)]
    pub traces_as: TracesAs,
    /// Print a readable table or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// The store whose incidents to judge, for --format store; with Neo4j, --data-dir is where
    /// the recordings are (default: where each was written).
    #[command(flatten)]
    pub store: cmd::graph::StoreArgs,
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Replay(a) => cmd::replay::run(&a),
        Command::Fixtures(FixturesCommand::Generate(a)) => cmd::fixtures::generate(&a),
        Command::Fixtures(FixturesCommand::Push(a)) => cmd::push::run(&a),
        Command::Serve(a) => cmd::serve::run(&a),
        Command::Eval(a) => cmd::eval::run(&a),
        Command::Graph(c) => cmd::graph::run(&c),
        Command::Goroutines(a) => cmd::goroutines::run(&a),
    }
}

/// The simulator's fault kinds, with `latency` accepted for `network_delay`.
fn fault_values() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(crate::generate::FAULT_KINDS.iter().map(|&k| {
        let v = clap::builder::PossibleValue::new(k);
        if k == "network_delay" {
            v.alias("latency")
        } else {
            v
        }
    }))
}
