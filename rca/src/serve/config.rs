//! `rca serve`'s configuration: a TOML file (unknown keys are errors), then
//! environment overrides, then command-line flags. Parsed from what the
//! caller passes in (file bytes, an env map), never from the process.
//!
//! With no file at all the defaults serve the local stack of
//! `scripts/stack up`: Jaeger on 16686, Prometheus on 9090, access logs in
//! `./access-logs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ingest::collect::{LogBackend, LogKind, LogQuery, SignalQuery, TraceSearch};
use serde::{Deserialize, Serialize};

/// Every option of `rca serve`, as in the TOML file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Base URL of this service as people reach it; incident URLs start with it.
    pub public_url: String,
    /// Where incidents are stored.
    pub data_dir: PathBuf,
    /// When not empty, pages, the API and the webhook ask for
    /// `Authorization: Bearer <token>` (health and metrics do not).
    pub token: String,
    /// Largest webhook body accepted, in bytes (413 above).
    pub body_limit_bytes: usize,
    /// Investigations waiting to be worked on at most (429 for a webhook that
    /// would open one more).
    pub queue_capacity: usize,
    /// Alerts worked on at once.
    pub workers: usize,
    pub window: WindowSection,
    pub grouping: GroupingSection,
    pub queue: QueueSection,
    pub collect: CollectSection,
    pub jaeger: JaegerSection,
    pub prometheus: PrometheusSection,
    pub access_logs: AccessLogsSection,
    pub logs: LogsSection,
    pub goroutines: GoroutinesSection,
    pub telemetry: TelemetrySection,
    pub neo4j: Neo4jSection,
    pub recordings: RecordingsSection,
}

/// The input each incident was judged on, kept beside the store
/// (`data_dir/recordings/<id>.tar.gz`), under two caps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingsSection {
    /// Keep a recording of every incident.
    pub enabled: bool,
    /// One incident's archive at most; over it the largest sampled modality
    /// (traces, access logs, logs) is thinned, and the incident says so.
    pub max_incident_bytes: u64,
    /// All archives at most; over it the oldest go, those of incidents with
    /// a verdict last.
    pub max_total_bytes: u64,
}

impl Default for RecordingsSection {
    fn default() -> Self {
        let d = graph::store::RecordingLimits::default();
        RecordingsSection {
            enabled: true,
            max_incident_bytes: d.per_incident,
            max_total_bytes: d.total,
        }
    }
}

impl RecordingsSection {
    pub fn limits(&self) -> graph::store::RecordingLimits {
        graph::store::RecordingLimits {
            per_incident: self.max_incident_bytes,
            total: self.max_total_bytes,
        }
    }
}

/// Where incidents are kept besides the data directory: Neo4j over Bolt.
/// `--neo4j-uri`, `--neo4j-user`, `--neo4j-password` (and their
/// environment variables) win over the file.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Neo4jSection {
    /// Bolt URI (`bolt://host:7687`); empty: the embedded store only.
    pub uri: String,
    /// Empty: `neo4j`.
    pub user: String,
    /// Empty: none, for a server without authentication.
    pub password: String,
}

impl std::fmt::Debug for Neo4jSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Neo4jSection")
            .field("uri", &self.uri)
            .field("user", &self.user)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "<set>"
                },
            )
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowSection {
    /// Seconds of data before the alert's start to analyse.
    pub lookback_seconds: u64,
    /// Seconds of data after the alert's start to analyse.
    pub settle_seconds: u64,
    /// Wait until `startsAt + settle` has passed before collecting.
    pub wait_for_settle: bool,
}

/// Which alerts make one investigation. The alerts of one webhook always do
/// (one Alertmanager group is one notification); with `enabled`, alerts of
/// later webhooks join an investigation still waiting to start when their
/// `labels` have the same values and they start within one settle period of
/// the alert that opened it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupingSection {
    pub enabled: bool,
    /// Labels whose values must agree (say `["cluster", "namespace"]`);
    /// empty: every alert of this service is one system.
    pub labels: Vec<String>,
}

impl Default for GroupingSection {
    fn default() -> Self {
        GroupingSection {
            enabled: true,
            labels: Vec::new(),
        }
    }
}

/// Where accepted alerts wait for a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSection {
    /// `nats://HOST:PORT`: a NATS JetStream stream that replicas share;
    /// empty: this process's own journal (`data_dir/pending`).
    pub url: String,
    /// The name of the JetStream stream; its consumer and its bucket of
    /// alert claims are named after it. Replicas that share work share it.
    pub stream: String,
    /// Seconds an investigation taken by a replica that stops answering
    /// (killed, cut off) waits before another replica gets it. A working
    /// replica tells JetStream it is alive every third of this.
    pub ack_wait_seconds: u64,
}

impl Default for QueueSection {
    fn default() -> Self {
        QueueSection {
            url: String::new(),
            stream: "rca".into(),
            ack_wait_seconds: 30,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectSection {
    /// Seconds each collector may take; after that its modality is missing.
    pub timeout_seconds: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JaegerSection {
    /// Jaeger query service (API and UI); empty: no trace collection.
    pub url: String,
    /// Jaeger's `api_v3` gRPC query service, tried before the HTTP API:
    /// `auto` is port 16685 of `url`'s host when `url` is on port 16686
    /// (Jaeger's two default ports), else none; empty: HTTP only.
    pub grpc_url: String,
    /// Services to search; empty: every service Jaeger knows.
    pub services: Vec<String>,
    /// Services never searched: tracing backends' and rca's own spans are
    /// no part of an incident (`telemetry.service_name` is always added).
    pub exclude_services: Vec<String>,
    /// Traces asked for per search (one service, one slice of the window);
    /// a search that reaches it makes the incident say traces may be missing.
    pub max_traces: u32,
    /// `covering`: sample every service and search in full only what the
    /// samples show is not yet in hand (entry services, operations no trace
    /// in hand has); `every_service`: search every service in full, several
    /// times slower on deep call graphs.
    pub search: TraceSearch,
    /// Searches in flight at most, per collection. Whatever this says,
    /// a 429 or 503 from Jaeger makes every search wait (its `Retry-After`,
    /// else a doubling backoff) and ask again.
    pub parallel: usize,
    /// Traces read per searched service and slice of the window, the most
    /// recent; with every failing and every slow trace in full (see
    /// `ingest::sample`). 0 reads the window whole.
    pub sample_per_slice: u32,
    /// Slices the window is cut into for the sample.
    pub sample_slices: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusSection {
    /// Prometheus server; empty: no metric collection.
    pub url: String,
    /// Query resolution in seconds.
    pub step_seconds: f64,
    /// One query per signal.
    pub queries: Vec<SignalQuery>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessLogsSection {
    /// Directory of `access.log` / `access-<proxy>.log` (and rotations);
    /// empty: no access-log collection.
    pub dir: String,
}

/// A log store holding the application logs and, when a query of kind
/// `access` is configured, the proxies' access logs (then `access_logs.dir`
/// is not read).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsSection {
    /// `victorialogs` (LogsQL) or `loki` (LogQL).
    pub backend: LogBackend,
    /// The log store's base URL; empty: no log store.
    pub url: String,
    /// Lines per query at most; a query that reaches it makes the incident
    /// say later lines are missing.
    pub limit: usize,
    /// Headers sent with every query (`X-Scope-OrgID` for a multi-tenant
    /// Loki, `AccountID` for VictoriaLogs, `Authorization`).
    pub headers: BTreeMap<String, String>,
    /// One query per kind of log; empty: the backend's defaults (the proxy
    /// containers' lines as access logs, all others as application logs).
    pub queries: Vec<LogQuery>,
}

impl LogsSection {
    /// The configured queries, else the backend's defaults.
    pub fn effective_queries(&self) -> Vec<LogQuery> {
        if self.queries.is_empty() {
            ingest::collect::default_log_queries(self.backend)
        } else {
            self.queries.clone()
        }
    }

    /// Whether the access logs come from the log store.
    pub fn serves_access(&self) -> bool {
        !self.url.is_empty()
            && self
                .effective_queries()
                .iter()
                .any(|q| q.kind == LogKind::Access)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GoroutinesSection {
    /// Go component -> its pprof goroutine endpoint
    /// (`http://orders:6060/debug/pprof/goroutine?debug=2`), or its
    /// goroutine dump and goroutine-leak profile
    /// (`{ dump = "…", leaks = "…/goroutineleak?debug=1" }`); one of each is
    /// taken per incident. Empty: no goroutine dumps.
    pub endpoints: BTreeMap<String, GoroutineEndpoint>,
    /// When above 0, a second dump of each this many seconds after the
    /// first, so a leak also shows as growth (must stay under
    /// `collect.timeout_seconds`).
    pub second_dump_seconds: f64,
}

/// What `rca serve` asks one Go component for. In TOML a URL alone (its
/// goroutine dump, the form before leak profiles) or a table naming either
/// or both: `{ dump = "http://orders:6060/debug/pprof/goroutine?debug=2",
/// leaks = "http://orders:6060/debug/pprof/goroutineleak?debug=1" }`. The
/// reader tells dumps and leak profiles apart by content, so either URL
/// works in either place; the names say what is meant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GoroutineEndpoint {
    /// `/debug/pprof/goroutine` (any `debug`); empty: none.
    pub dump: String,
    /// `/debug/pprof/goroutineleak` (`debug=1` or `0`; the program built with
    /// `GOEXPERIMENT=goroutineleakprofile`); empty: none.
    pub leaks: String,
}

impl GoroutineEndpoint {
    /// The URLs to take, the dump first.
    pub fn urls(&self) -> Vec<String> {
        [&self.dump, &self.leaks]
            .into_iter()
            .filter(|u| !u.is_empty())
            .cloned()
            .collect()
    }
}

/// The table form of [`GoroutineEndpoint`].
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct EndpointTable {
    dump: String,
    leaks: String,
}

impl<'de> Deserialize<'de> for GoroutineEndpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = GoroutineEndpoint;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a URL or a table { dump = \"URL\", leaks = \"URL\" }")
            }
            fn visit_str<E: serde::de::Error>(self, url: &str) -> Result<Self::Value, E> {
                Ok(GoroutineEndpoint {
                    dump: url.to_string(),
                    leaks: String::new(),
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                let t =
                    EndpointTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(GoroutineEndpoint {
                    dump: t.dump,
                    leaks: t.leaks,
                })
            }
        }
        d.deserialize_any(Either)
    }
}

impl Serialize for GoroutineEndpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.leaks.is_empty() {
            return s.serialize_str(&self.dump);
        }
        EndpointTable {
            dump: self.dump.clone(),
            leaks: self.leaks.clone(),
        }
        .serialize(s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySection {
    /// OTLP/HTTP endpoint for rca's own spans (e.g. `http://127.0.0.1:4318`);
    /// empty: spans are not exported.
    pub otlp_endpoint: String,
    /// `service.name` of rca's own spans.
    pub service_name: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: String::new(),
            data_dir: PathBuf::from("rca-data"),
            token: String::new(),
            body_limit_bytes: 4 << 20,
            queue_capacity: 64,
            workers: 1,
            window: WindowSection::default(),
            grouping: GroupingSection::default(),
            queue: QueueSection::default(),
            collect: CollectSection::default(),
            jaeger: JaegerSection::default(),
            prometheus: PrometheusSection::default(),
            access_logs: AccessLogsSection::default(),
            logs: LogsSection::default(),
            goroutines: GoroutinesSection::default(),
            telemetry: TelemetrySection::default(),
            neo4j: Neo4jSection::default(),
            recordings: RecordingsSection::default(),
        }
    }
}

impl Default for WindowSection {
    fn default() -> Self {
        WindowSection {
            lookback_seconds: 30 * 60,
            settle_seconds: 10 * 60,
            wait_for_settle: true,
        }
    }
}

impl Default for CollectSection {
    fn default() -> Self {
        CollectSection {
            timeout_seconds: 10.0,
        }
    }
}

impl Default for JaegerSection {
    fn default() -> Self {
        JaegerSection {
            url: "http://127.0.0.1:16686".into(),
            grpc_url: "auto".into(),
            services: Vec::new(),
            exclude_services: vec!["jaeger".into(), "jaeger-all-in-one".into(), "rca".into()],
            max_traces: 100_000,
            search: TraceSearch::Covering,
            parallel: ingest::collect::JAEGER_PARALLEL,
            sample_per_slice: ingest::sample::TraceSampling::default().per_slice,
            sample_slices: ingest::sample::TraceSampling::default().slices,
        }
    }
}

impl JaegerSection {
    /// Where the gRPC query service is, when there is one to try (see
    /// [`JaegerSection::grpc_url`]).
    pub fn grpc_endpoint(&self) -> Option<String> {
        match self.grpc_url.trim() {
            "" => None,
            "auto" => {
                let url = reqwest::Url::parse(&self.url).ok()?;
                (url.scheme() == "http" && url.port() == Some(16686))
                    .then(|| format!("http://{}:16685", url.host_str().unwrap_or("127.0.0.1")))
            }
            url => Some(url.to_string()),
        }
    }
}

impl Default for PrometheusSection {
    fn default() -> Self {
        PrometheusSection {
            url: "http://127.0.0.1:9090".into(),
            step_seconds: 15.0,
            queries: default_queries(),
        }
    }
}

impl Default for AccessLogsSection {
    fn default() -> Self {
        AccessLogsSection {
            dir: "access-logs".into(),
        }
    }
}

impl Default for LogsSection {
    fn default() -> Self {
        LogsSection {
            backend: LogBackend::VictoriaLogs,
            url: "http://127.0.0.1:9428".into(),
            limit: 2_000_000,
            headers: BTreeMap::new(),
            queries: Vec::new(),
        }
    }
}

impl Default for TelemetrySection {
    fn default() -> Self {
        TelemetrySection {
            otlp_endpoint: String::new(),
            service_name: "rca".into(),
        }
    }
}

/// The usual signals of an OpenTelemetry-instrumented, Kubernetes-hosted
/// service, each summed by its `service` label, and the call rates per
/// caller→callee edge the servicegraph connector writes.
pub fn default_queries() -> Vec<SignalQuery> {
    let q = |signal: &str, promql: &str| SignalQuery::component(signal, promql, Some("service"));
    let quantile = |p: &str| {
        format!(
            "histogram_quantile({p}, sum by (service, le) (rate(http_server_request_duration_seconds_bucket[1m])))"
        )
    };
    vec![
        q("cpu", "sum by (service) (rate(container_cpu_usage_seconds_total[1m]))"),
        q("memory", "sum by (service) (container_memory_working_set_bytes)"),
        q(
            "http_4xx_rate",
            "sum by (service) (rate(http_server_request_duration_seconds_count{http_response_status_code=~\"4..\"}[1m]))",
        ),
        q(
            "http_5xx_rate",
            "sum by (service) (rate(http_server_request_duration_seconds_count{http_response_status_code=~\"5..\"}[1m]))",
        ),
        q("latency_p50", &quantile("0.5")),
        q("latency_p99", &quantile("0.99")),
        q("goroutines", "sum by (service) (go_goroutines)"),
        // The call graph without traces: the OpenTelemetry Collector's
        // servicegraph connector (and Tempo's metrics generator) label
        // caller and callee `client` and `server`.
        SignalQuery::edge(
            "calls",
            "sum by (client, server) (rate(traces_service_graph_request_total[1m]))",
            None,
            None,
        ),
        SignalQuery::edge(
            "calls_failed",
            "sum by (client, server) (rate(traces_service_graph_request_failed_total[1m]))",
            None,
            None,
        ),
    ]
}

/// The environment variables that override the file, each with its key.
pub const ENV_KEYS: [(&str, &str); 26] = [
    ("RCA_TOKEN", "token"),
    ("RCA_LISTEN", "listen"),
    ("RCA_PUBLIC_URL", "public_url"),
    ("RCA_DATA_DIR", "data_dir"),
    ("RCA_BODY_LIMIT_BYTES", "body_limit_bytes"),
    ("RCA_QUEUE_CAPACITY", "queue_capacity"),
    ("RCA_WORKERS", "workers"),
    ("RCA_COLLECT_TIMEOUT_SECONDS", "collect.timeout_seconds"),
    ("RCA_JAEGER_URL", "jaeger.url"),
    ("RCA_JAEGER_GRPC_URL", "jaeger.grpc_url"),
    ("RCA_JAEGER_SEARCH", "jaeger.search"),
    ("RCA_JAEGER_SAMPLE_PER_SLICE", "jaeger.sample_per_slice"),
    ("RCA_PROMETHEUS_URL", "prometheus.url"),
    ("RCA_ACCESS_LOG_DIR", "access_logs.dir"),
    ("RCA_LOGS_URL", "logs.url"),
    ("RCA_LOGS_BACKEND", "logs.backend"),
    ("RCA_OTLP_ENDPOINT", "telemetry.otlp_endpoint"),
    ("RCA_WAIT_FOR_SETTLE", "window.wait_for_settle"),
    ("RCA_GROUPING", "grouping.enabled"),
    ("RCA_QUEUE_URL", "queue.url"),
    ("RCA_NEO4J_URI", "neo4j.uri"),
    ("RCA_NEO4J_USER", "neo4j.user"),
    ("RCA_NEO4J_PASSWORD", "neo4j.password"),
    ("RCA_RECORDINGS", "recordings.enabled"),
    (
        "RCA_RECORDINGS_MAX_INCIDENT_BYTES",
        "recordings.max_incident_bytes",
    ),
    (
        "RCA_RECORDINGS_MAX_TOTAL_BYTES",
        "recordings.max_total_bytes",
    ),
];

/// All that was wrong with a configuration, one problem a line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigErrors(pub Vec<String>);

impl Config {
    /// The configuration from a TOML file's bytes (`None`: defaults only),
    /// then overrides from `env` (see [`ENV_KEYS`]). Every problem is
    /// reported, not just the first.
    pub fn load(
        file: Option<(&std::path::Path, &[u8])>,
        env: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let mut cfg = match file {
            None => Config::default(),
            Some((path, bytes)) => match std::str::from_utf8(bytes)
                .map_err(|e| e.to_string())
                .and_then(|text| toml::from_str::<Config>(text).map_err(|e| e.to_string()))
            {
                Ok(c) => c,
                Err(e) => {
                    errors.push(format!("{}: {}", path.display(), e.trim_end()));
                    Config::default()
                }
            },
        };
        for (var, key) in ENV_KEYS {
            let Some(value) = env.get(var) else { continue };
            if let Err(e) = cfg.set(key, value) {
                errors.push(format!("{var}={value:?}: {e}"));
            }
        }
        errors.extend(cfg.check());
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        fn num<T: std::str::FromStr>(v: &str) -> Result<T, String>
        where
            T::Err: std::fmt::Display,
        {
            v.trim().parse::<T>().map_err(|e| e.to_string())
        }
        match key {
            "listen" => self.listen = num(value)?,
            "public_url" => self.public_url = value.to_string(),
            "data_dir" => self.data_dir = PathBuf::from(value),
            "token" => self.token = value.to_string(),
            "body_limit_bytes" => self.body_limit_bytes = num(value)?,
            "queue_capacity" => self.queue_capacity = num(value)?,
            "workers" => self.workers = num(value)?,
            "collect.timeout_seconds" => self.collect.timeout_seconds = num(value)?,
            "jaeger.url" => self.jaeger.url = value.to_string(),
            "jaeger.grpc_url" => self.jaeger.grpc_url = value.to_string(),
            "jaeger.sample_per_slice" => self.jaeger.sample_per_slice = num(value)?,
            "jaeger.search" => {
                self.jaeger.search = match value.trim() {
                    "covering" => TraceSearch::Covering,
                    "every_service" => TraceSearch::EveryService,
                    other => return Err(format!("{other:?}: expected covering or every_service")),
                }
            }
            "prometheus.url" => self.prometheus.url = value.to_string(),
            "access_logs.dir" => self.access_logs.dir = value.to_string(),
            "logs.url" => self.logs.url = value.to_string(),
            "neo4j.uri" => self.neo4j.uri = value.to_string(),
            "neo4j.user" => self.neo4j.user = value.to_string(),
            "neo4j.password" => self.neo4j.password = value.to_string(),
            "logs.backend" => {
                self.logs.backend = match value.trim() {
                    "victorialogs" => LogBackend::VictoriaLogs,
                    "loki" => LogBackend::Loki,
                    other => return Err(format!("{other:?}: expected victorialogs or loki")),
                }
            }
            "telemetry.otlp_endpoint" => self.telemetry.otlp_endpoint = value.to_string(),
            "window.wait_for_settle" => self.window.wait_for_settle = num(value)?,
            "grouping.enabled" => self.grouping.enabled = num(value)?,
            "queue.url" => self.queue.url = value.to_string(),
            "queue.stream" => self.queue.stream = value.to_string(),
            "queue.ack_wait_seconds" => self.queue.ack_wait_seconds = num(value)?,
            "recordings.enabled" => self.recordings.enabled = num(value)?,
            "recordings.max_incident_bytes" => self.recordings.max_incident_bytes = num(value)?,
            "recordings.max_total_bytes" => self.recordings.max_total_bytes = num(value)?,
            other => return Err(format!("unknown key {other}")),
        }
        Ok(())
    }

    /// Values that parse but make no sense.
    fn check(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.body_limit_bytes == 0 {
            errors.push("body_limit_bytes: must be at least 1".into());
        }
        if self.queue_capacity == 0 {
            errors.push("queue_capacity: must be at least 1".into());
        }
        if self.workers == 0 {
            errors.push("workers: must be at least 1".into());
        }
        // An archive holds at least its manifest and alert: a cap below a
        // mebibyte would thin nearly every window to nothing.
        if self.recordings.max_incident_bytes < 1 << 20 {
            errors.push("recordings.max_incident_bytes: must be at least 1048576 (1 MiB)".into());
        }
        if self.recordings.max_total_bytes < self.recordings.max_incident_bytes {
            errors.push(
                "recordings.max_total_bytes: must be at least recordings.max_incident_bytes".into(),
            );
        }
        if !(self.collect.timeout_seconds > 0.0 && self.collect.timeout_seconds <= 3600.0) {
            errors.push("collect.timeout_seconds: must be in (0, 3600]".into());
        }
        // Each slice is one search per sampled service: beyond a thousand,
        // the searches would cost more than reading the window whole.
        if !(1..=1000).contains(&self.jaeger.sample_slices) {
            errors.push("jaeger.sample_slices: must be in [1, 1000]".into());
        }
        let grpc = self.jaeger.grpc_url.trim();
        if !grpc.is_empty() && grpc != "auto" && !grpc.starts_with("http://") {
            errors.push(format!(
                "jaeger.grpc_url: {grpc:?} is not auto, empty or an http:// URL (gRPC over TLS is not supported: leave it empty to use the HTTP API)"
            ));
        }
        if self.prometheus.step_seconds.is_nan() || self.prometheus.step_seconds < 1.0 {
            errors.push("prometheus.step_seconds: must be at least 1".into());
        }
        for (key, url) in [
            ("public_url", &self.public_url),
            ("jaeger.url", &self.jaeger.url),
            ("prometheus.url", &self.prometheus.url),
            ("logs.url", &self.logs.url),
            ("telemetry.otlp_endpoint", &self.telemetry.otlp_endpoint),
        ] {
            if !url.is_empty() && !url.starts_with("http://") && !url.starts_with("https://") {
                errors.push(format!("{key}: {url:?} is not an http(s) URL"));
            }
        }
        if !self.queue.url.is_empty() && !self.queue.url.starts_with("nats://") {
            errors.push(format!(
                "queue.url: {:?} is not a nats:// URL (empty: the local journal)",
                self.queue.url
            ));
        }
        if self.queue.stream.is_empty()
            || !self
                .queue
                .stream
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            errors.push(format!(
                "queue.stream: {:?} must be letters, digits, - and _ (a JetStream name)",
                self.queue.stream
            ));
        }
        if !(3..=3600).contains(&self.queue.ack_wait_seconds) {
            errors.push("queue.ack_wait_seconds: must be in [3, 3600]".into());
        }
        for label in &self.grouping.labels {
            if label.is_empty() {
                errors.push("grouping.labels: a label name is empty".into());
            }
        }
        let second = self.goroutines.second_dump_seconds;
        if !(0.0..self.collect.timeout_seconds).contains(&second) {
            errors.push(format!(
                "goroutines.second_dump_seconds: must be at least 0 and under collect.timeout_seconds ({})",
                self.collect.timeout_seconds
            ));
        }
        for (component, endpoint) in &self.goroutines.endpoints {
            let urls = endpoint.urls();
            if urls.is_empty() {
                errors.push(format!(
                    "goroutines.endpoints.{component}: names no URL (dump, leaks or both)"
                ));
            }
            for url in urls {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    errors.push(format!(
                        "goroutines.endpoints.{component}: {url:?} is not an http(s) URL"
                    ));
                }
            }
        }
        if self.logs.limit == 0 {
            errors.push("logs.limit: must be at least 1".into());
        }
        for (i, q) in self.logs.queries.iter().enumerate() {
            if q.query.trim().is_empty() {
                errors.push(format!("logs.queries[{i}]: query must not be empty"));
            }
            if q.component_fields.iter().any(|f| f.trim().is_empty()) {
                errors.push(format!(
                    "logs.queries[{i}]: component_fields must not hold an empty name"
                ));
            }
        }
        for (i, q) in self.prometheus.queries.iter().enumerate() {
            if q.signal.trim().is_empty() || q.promql.trim().is_empty() {
                errors.push(format!(
                    "prometheus.queries[{i}]: signal and promql must not be empty"
                ));
            }
            if let Some(problem) = q.labels_problem() {
                errors.push(format!("prometheus.queries[{i}]: {problem}"));
            }
        }
        errors
    }

    /// The base of incident URLs: `public_url`, else `http://<listen>`.
    pub fn base_url(&self, bound: SocketAddr) -> String {
        if self.public_url.is_empty() {
            format!("http://{bound}")
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }

    pub fn collect_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.collect.timeout_seconds)
    }
}

/// The reference printed by `rca serve --help`: every key, its default and
/// its environment variable.
pub fn reference() -> String {
    let d = Config::default();
    let env = |key: &str| {
        ENV_KEYS
            .iter()
            .find(|(_, k)| *k == key)
            .map(|(v, _)| format!(" [env {v}]"))
            .unwrap_or_default()
    };
    let rows: Vec<(&str, String, &str)> = vec![
        (
            "listen",
            d.listen.to_string(),
            "address to listen on (--listen wins)",
        ),
        (
            "public_url",
            "\"\" (http://<listen>)".into(),
            "base of incident URLs in webhook answers",
        ),
        (
            "data_dir",
            d.data_dir.display().to_string(),
            "where incidents are stored (--data-dir wins)",
        ),
        (
            "token",
            "\"\" (none)".into(),
            "bearer token pages, API and webhook ask for; health and metrics do not",
        ),
        (
            "body_limit_bytes",
            d.body_limit_bytes.to_string(),
            "largest webhook body; larger ones get 413",
        ),
        (
            "queue_capacity",
            d.queue_capacity.to_string(),
            "investigations waiting at most; beyond, a webhook opening one gets 429",
        ),
        ("workers", d.workers.to_string(), "alerts worked on at once"),
        (
            "window.lookback_seconds",
            d.window.lookback_seconds.to_string(),
            "data before startsAt to analyse",
        ),
        (
            "window.settle_seconds",
            d.window.settle_seconds.to_string(),
            "data after startsAt to analyse",
        ),
        (
            "window.wait_for_settle",
            d.window.wait_for_settle.to_string(),
            "wait for startsAt + settle before collecting",
        ),
        (
            "grouping.enabled",
            d.grouping.enabled.to_string(),
            "later alerts join a queued investigation within one settle period",
        ),
        (
            "grouping.labels",
            "[] (one system)".into(),
            "labels whose values must agree for alerts to join",
        ),
        (
            "queue.url",
            "\"\" (journal)".into(),
            "nats://HOST:4222: a JetStream queue the replicas share",
        ),
        (
            "queue.stream",
            d.queue.stream.clone(),
            "JetStream stream (and claims bucket) name",
        ),
        (
            "queue.ack_wait_seconds",
            d.queue.ack_wait_seconds.to_string(),
            "a dead replica's investigation goes to another after this",
        ),
        (
            "collect.timeout_seconds",
            d.collect.timeout_seconds.to_string(),
            "per collector; then its modality is missing",
        ),
        (
            "jaeger.url",
            d.jaeger.url.clone(),
            "Jaeger query API; \"\" disables traces",
        ),
        (
            "jaeger.grpc_url",
            d.jaeger.grpc_url.clone(),
            "api_v3 gRPC, tried first; auto: url's host:16685 when url is on 16686; \"\" HTTP only",
        ),
        ("jaeger.services", "[] (all)".into(), "services to search"),
        (
            "jaeger.exclude_services",
            format!("{:?}", d.jaeger.exclude_services),
            "never searched (+ telemetry.service_name)",
        ),
        (
            "jaeger.max_traces",
            d.jaeger.max_traces.to_string(),
            "traces asked for per search",
        ),
        (
            "jaeger.search",
            "covering".into(),
            "covering (entry services, unseen operations) | every_service",
        ),
        (
            "jaeger.parallel",
            d.jaeger.parallel.to_string(),
            "searches in flight; 429/503 from Jaeger slow them all down",
        ),
        (
            "jaeger.sample_per_slice",
            d.jaeger.sample_per_slice.to_string(),
            "traces per service and slice, + failing and slow ones in full; 0 reads all",
        ),
        (
            "jaeger.sample_slices",
            d.jaeger.sample_slices.to_string(),
            "slices the window is cut into for the sample",
        ),
        (
            "prometheus.url",
            d.prometheus.url.clone(),
            "Prometheus; \"\" disables metrics",
        ),
        (
            "prometheus.step_seconds",
            d.prometheus.step_seconds.to_string(),
            "query_range resolution",
        ),
        (
            "prometheus.queries",
            d.prometheus
                .queries
                .iter()
                .map(|q| q.signal.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            "[[prometheus.queries]] signal, promql, component_label",
        ),
        (
            "prometheus.queries.client_label / server_label",
            "client / server".into(),
            "for signal calls | calls_failed | latency_server | latency_client (caller→callee series): the labels naming caller and callee",
        ),
        (
            "access_logs.dir",
            d.access_logs.dir.clone(),
            "access.log / access-<proxy>.log (+ .N rotations); \"\" disables",
        ),
        (
            "logs.backend",
            d.logs.backend.as_str().into(),
            "victorialogs (LogsQL) | loki (LogQL query_range)",
        ),
        (
            "logs.url",
            d.logs.url.clone(),
            "log store for application (and access) logs; \"\" disables",
        ),
        ("logs.limit", d.logs.limit.to_string(), "lines per query at most"),
        (
            "logs.headers",
            "{} (none)".into(),
            "headers on every query (X-Scope-OrgID, AccountID, Authorization)",
        ),
        (
            "logs.queries",
            "the backend's defaults".into(),
            "[[logs.queries]] kind = application | access, query, component_fields; \
             an access query replaces access_logs.dir",
        ),
        (
            "goroutines.endpoints",
            "{} (none)".into(),
            "component = \"http://host:6060/debug/pprof/goroutine?debug=2\", or \
             { dump = \"…\", leaks = \"http://host:6060/debug/pprof/goroutineleak?debug=1\" }",
        ),
        (
            "goroutines.second_dump_seconds",
            "0 (one dump)".into(),
            "a second dump this long after the first (< collect.timeout_seconds)",
        ),
        (
            "telemetry.otlp_endpoint",
            "\"\" (off)".into(),
            "OTLP/HTTP endpoint for rca's own spans",
        ),
        (
            "telemetry.service_name",
            d.telemetry.service_name.clone(),
            "service.name of rca's own spans",
        ),
        (
            "neo4j.uri",
            "\"\" (embedded store only)".into(),
            "Neo4j Bolt URI; incidents also kept in data_dir (--neo4j-uri wins)",
        ),
        ("neo4j.user", "\"\" (neo4j)".into(), "Neo4j user (--neo4j-user wins)"),
        (
            "neo4j.password",
            "\"\" (none)".into(),
            "Neo4j password (--neo4j-password wins)",
        ),
        (
            "recordings.enabled",
            d.recordings.enabled.to_string(),
            "keep each incident's input as data_dir/recordings/<id>.tar.gz",
        ),
        (
            "recordings.max_incident_bytes",
            d.recordings.max_incident_bytes.to_string(),
            "one recording at most; over it traces, access logs, logs are sampled",
        ),
        (
            "recordings.max_total_bytes",
            d.recordings.max_total_bytes.to_string(),
            "all recordings at most; the oldest go first, those with a verdict last",
        ),
    ];
    let mut s = String::from(
        "Configuration (TOML, unknown keys are errors; environment overrides the file, flags override both):\n",
    );
    for (key, default, what) in rows {
        s.push_str(&format!(
            "  {key:<26} {what} (default {default}){}\n",
            env(key)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn no_file_gives_the_local_stack_defaults() {
        let cfg = Config::load(None, &env(&[])).unwrap();
        assert_eq!(cfg, Config::default());
        assert_eq!(cfg.jaeger.url, "http://127.0.0.1:16686");
        assert_eq!(cfg.prometheus.queries.len(), 9);
        let calls = cfg
            .prometheus
            .queries
            .iter()
            .find(|q| q.signal == "calls")
            .expect("a calls query by default");
        assert!(calls.promql.contains("traces_service_graph_request_total"));
        assert!(cfg
            .prometheus
            .queries
            .iter()
            .any(|q| q.signal == "calls_failed"));
    }

    #[test]
    fn neo4j_comes_from_the_file_the_environment_wins_and_the_password_is_not_printed() {
        let toml = br#"
            [neo4j]
            uri = "bolt://graph:7687"
            user = "rca"
            password = "s3cret"
        "#;
        let file = Some((std::path::Path::new("rca.toml"), &toml[..]));
        let cfg = Config::load(file, &env(&[])).unwrap();
        assert_eq!(cfg.neo4j.uri, "bolt://graph:7687");
        assert_eq!(cfg.neo4j.user, "rca");
        assert_eq!(cfg.neo4j.password, "s3cret");
        assert!(
            !format!("{cfg:?}").contains("s3cret"),
            "Debug hides the password"
        );
        let cfg = Config::load(file, &env(&[("RCA_NEO4J_URI", "bolt://other:7687")])).unwrap();
        assert_eq!(cfg.neo4j.uri, "bolt://other:7687");
        assert_eq!(
            Config::default().neo4j.uri,
            "",
            "the embedded store by default"
        );
        let bad = Config::load(
            Some((
                std::path::Path::new("rca.toml"),
                &b"[neo4j]\nurl = \"x\"\n"[..],
            )),
            &env(&[]),
        )
        .unwrap_err();
        assert!(bad.to_string().contains("url"), "{bad}");
    }

    #[test]
    fn the_file_then_the_environment() {
        let toml = br#"
            listen = "127.0.0.1:9999"
            [jaeger]
            url = "http://jaeger:16686"
            [[prometheus.queries]]
            signal = "cpu"
            promql = "rate(x[1m])"
            component_label = "pod"
        "#;
        let cfg = Config::load(
            Some((std::path::Path::new("rca.toml"), toml)),
            &env(&[
                ("RCA_JAEGER_URL", "http://other:16686"),
                ("RCA_WORKERS", "3"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.listen.port(), 9999);
        assert_eq!(cfg.jaeger.url, "http://other:16686");
        assert_eq!(cfg.workers, 3);
        assert_eq!(cfg.prometheus.queries.len(), 1);
        assert_eq!(
            cfg.prometheus.queries[0].component_label.as_deref(),
            Some("pod")
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_all_reported() {
        let toml = b"listen = \"127.0.0.1:1\"\n[jaeger]\nurl = \"x\"\nsurprise = 1\n";
        let err = Config::load(
            Some((std::path::Path::new("rca.toml"), toml)),
            &env(&[("RCA_WORKERS", "many"), ("RCA_QUEUE_CAPACITY", "0")]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown field `surprise`"), "{text}");
        assert!(text.contains("RCA_WORKERS"), "{text}");
        assert!(
            text.contains("queue_capacity: must be at least 1"),
            "{text}"
        );
    }

    #[test]
    fn the_grpc_query_service_is_found_from_jaegers_default_ports_or_named() {
        let at = |url: &str, grpc: &str| {
            JaegerSection {
                url: url.into(),
                grpc_url: grpc.into(),
                ..JaegerSection::default()
            }
            .grpc_endpoint()
        };
        assert_eq!(
            at("http://jaeger:16686", "auto").as_deref(),
            Some("http://jaeger:16685")
        );
        assert_eq!(
            JaegerSection::default().grpc_endpoint().as_deref(),
            Some("http://127.0.0.1:16685")
        );
        // Another port, or TLS: nothing to guess from.
        assert_eq!(at("http://jaeger:8080", "auto"), None);
        assert_eq!(at("https://jaeger:16686", "auto"), None);
        assert_eq!(at("http://jaeger:16686", ""), None);
        assert_eq!(
            at("http://jaeger:8080", "http://q:9000").as_deref(),
            Some("http://q:9000")
        );
        let err = Config::load(
            None,
            &env(&[("RCA_JAEGER_GRPC_URL", "https://jaeger:16685")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("jaeger.grpc_url"), "{err}");
    }

    #[test]
    fn calls_queries_take_client_and_server_labels_and_nothing_else_does() {
        let good = br#"
            [[prometheus.queries]]
            signal = "calls"
            promql = "sum by (source_workload, destination_workload) (rate(istio_requests_total[1m]))"
            client_label = "source_workload"
            server_label = "destination_workload"
        "#;
        let cfg = Config::load(Some((std::path::Path::new("rca.toml"), good)), &env(&[])).unwrap();
        let q = &cfg.prometheus.queries[0];
        assert_eq!(q.client_label.as_deref(), Some("source_workload"));
        assert_eq!(q.server_label.as_deref(), Some("destination_workload"));

        let load = |toml: &[u8]| {
            Config::load(Some((std::path::Path::new("rca.toml"), toml)), &env(&[]))
                .unwrap_err()
                .to_string()
        };
        let err = load(
            br#"
            [[prometheus.queries]]
            signal = "cpu"
            promql = "x"
            client_label = "source_workload"
            [[prometheus.queries]]
            signal = "calls_failed"
            promql = "y"
            component_label = "service"
        "#,
        );
        assert!(
            err.contains("prometheus.queries[0]: client_label and server_label apply only to the edge signals calls, calls_failed, latency_server and latency_client"),
            "{err}"
        );
        assert!(
            err.contains(
                "prometheus.queries[1]: component_label does not apply to \"calls_failed\""
            ),
            "{err}"
        );
        let err =
            load(b"[[prometheus.queries]]\nsignal = \"calls\"\npromql = \"z\"\nclient = \"a\"\n");
        assert!(err.contains("unknown field `client`"), "{err}");
    }

    #[test]
    fn a_goroutine_endpoint_is_a_url_or_a_table_of_dump_and_leaks() {
        let toml = br#"
            [goroutines.endpoints]
            orders = "http://orders:6060/debug/pprof/goroutine?debug=2"
            prices = { dump = "http://prices:6060/debug/pprof/goroutine?debug=2", leaks = "http://prices:6060/debug/pprof/goroutineleak?debug=1" }
            [goroutines.endpoints.billing]
            leaks = "http://billing:6060/debug/pprof/goroutineleak?debug=0"
        "#;
        let cfg = Config::load(Some((std::path::Path::new("rca.toml"), toml)), &env(&[])).unwrap();
        let urls = |c: &str| cfg.goroutines.endpoints[c].urls();
        assert_eq!(
            urls("orders"),
            ["http://orders:6060/debug/pprof/goroutine?debug=2"]
        );
        assert_eq!(
            urls("prices"),
            [
                "http://prices:6060/debug/pprof/goroutine?debug=2",
                "http://prices:6060/debug/pprof/goroutineleak?debug=1"
            ]
        );
        assert_eq!(
            urls("billing"),
            ["http://billing:6060/debug/pprof/goroutineleak?debug=0"]
        );
        // Written back in the shortest form that says the same.
        let again: Config = toml::from_str(&toml::to_string(&cfg).unwrap()).unwrap();
        assert_eq!(again, cfg);

        let err = Config::load(
            Some((
                std::path::Path::new("rca.toml"),
                b"[goroutines.endpoints]
a = { leak = \"http://a/x\" }
b = {}
c = { dump = \"ftp://c\" }
",
            )),
            &env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `leak`"), "{err}");
        let err = Config::load(
            Some((
                std::path::Path::new("rca.toml"),
                b"[goroutines.endpoints]
b = {}
c = { dump = \"ftp://c\" }
",
            )),
            &env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("goroutines.endpoints.b: names no URL (dump, leaks or both)"),
            "{err}"
        );
        assert!(
            err.contains("goroutines.endpoints.c: \"ftp://c\" is not an http(s) URL"),
            "{err}"
        );
    }

    #[test]
    fn logs_take_a_backend_queries_and_headers() {
        let toml = br#"
            [logs]
            backend = "loki"
            url = "http://loki:3100"
            headers = { "X-Scope-OrgID" = "shop" }
            [[logs.queries]]
            kind = "application"
            query = '{namespace="shop"}'
            component_fields = ["app"]
        "#;
        let cfg = Config::load(Some((std::path::Path::new("rca.toml"), toml)), &env(&[])).unwrap();
        assert_eq!(cfg.logs.backend, LogBackend::Loki);
        assert_eq!(cfg.logs.headers["X-Scope-OrgID"], "shop");
        assert_eq!(cfg.logs.queries[0].component_fields, ["app"]);
        assert!(
            !cfg.logs.serves_access(),
            "no access query: the directory serves access logs"
        );
        assert!(Config::default().logs.serves_access());
        let err = Config::load(
            Some((
                std::path::Path::new("rca.toml"),
                b"[logs]\nurl = \"loki:3100\"\n[[logs.queries]]\nkind = \"audit\"\nquery = \"*\"\n",
            )),
            &env(&[("RCA_LOGS_BACKEND", "elastic")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown variant `audit`"), "{err}");
        let err = Config::load(
            Some((
                std::path::Path::new("rca.toml"),
                b"[logs]\nurl = \"loki:3100\"\nlimit = 0\n",
            )),
            &env(&[("RCA_LOGS_BACKEND", "elastic")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("RCA_LOGS_BACKEND"), "{err}");
        assert!(
            err.contains("logs.url: \"loki:3100\" is not an http(s) URL"),
            "{err}"
        );
        assert!(err.contains("logs.limit: must be at least 1"), "{err}");
    }

    #[test]
    fn the_reference_names_every_env_override() {
        let r = reference();
        for (var, key) in ENV_KEYS {
            assert!(r.contains(var), "{var} missing");
            assert!(r.contains(key), "{key} missing");
        }
    }
}

#[cfg(test)]
mod readme {
    use super::*;

    /// The `[logs]` examples of the README's "Logs from a log store" say
    /// they are the defaults written out: they must parse and be them.
    #[test]
    fn the_readme_log_examples_are_the_defaults() {
        let readme = include_str!("../../../README.md");
        let at = readme
            .find("### Logs from a log store")
            .expect("the section");
        let section = &readme[at..];
        let blocks: Vec<&str> = section
            .split("```toml\n")
            .skip(1)
            .take(2)
            .map(|b| b.split("```").next().unwrap())
            .collect();
        assert_eq!(blocks.len(), 2);
        for block in blocks {
            let cfg = Config::load(
                Some((std::path::Path::new("README.md"), block.as_bytes())),
                &BTreeMap::new(),
            )
            .unwrap_or_else(|e| panic!("{e}\n{block}"));
            let defaults = ingest::collect::default_log_queries(cfg.logs.backend);
            for (q, d) in cfg.logs.queries.iter().zip(&defaults) {
                assert_eq!(q.kind, d.kind);
                assert_eq!(q.query, d.query, "README differs from the default");
            }
            assert_eq!(cfg.logs.queries.len(), defaults.len());
        }
    }
}
