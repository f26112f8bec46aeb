//! The engine's output: a [`Localisation`], serialised as the JSON that
//! `rca replay --format json` prints and that bots read.

use serde::{Deserialize, Serialize};

/// The suspected kind of fault behind a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    CpuSaturation,
    MemoryLeak,
    Latency,
    ErrorReturn,
    Exception,
    GoroutineLeak,
    ConnectionPoolExhaustion,
    IngressAbuse,
    /// Anomalous, but no rule decided what kind.
    Unknown,
}

impl FaultKind {
    pub const ALL: [FaultKind; 8] = [
        FaultKind::CpuSaturation,
        FaultKind::MemoryLeak,
        FaultKind::Latency,
        FaultKind::ErrorReturn,
        FaultKind::Exception,
        FaultKind::GoroutineLeak,
        FaultKind::ConnectionPoolExhaustion,
        FaultKind::IngressAbuse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::CpuSaturation => "cpu_saturation",
            FaultKind::MemoryLeak => "memory_leak",
            FaultKind::Latency => "latency",
            FaultKind::ErrorReturn => "error_return",
            FaultKind::Exception => "exception",
            FaultKind::GoroutineLeak => "goroutine_leak",
            FaultKind::ConnectionPoolExhaustion => "connection_pool_exhaustion",
            FaultKind::IngressAbuse => "ingress_abuse",
            FaultKind::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<FaultKind> {
        FaultKind::ALL
            .into_iter()
            .chain([FaultKind::Unknown])
            .find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The alert an incident answers, as the engine saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentInfo {
    /// Stable for an alert: the same fingerprint and start give the same id.
    pub id: String,
    pub alert_name: String,
    /// The component the alert names, when it names one.
    pub alert_component: Option<String>,
    pub fingerprint: String,
    /// RFC 3339.
    pub starts_at: String,
    /// The analysed window, RFC 3339.
    pub window_start: String,
    pub window_end: String,
    /// Where the baseline ends and the analysed period begins, RFC 3339.
    pub baseline_end: String,
    pub bucket_seconds: f64,
    /// The alert's annotations (summary, description, runbook, an action
    /// taken, ...), as Alertmanager sent them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// One item of evidence behind a candidate or a heatmap cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// `cpu`, `error_rate`, `self_time`, `http_4xx_rate`, ...
    pub signal: String,
    /// `traces`, `metrics`, `access_logs`, `logs`, `goroutines`.
    pub modality: String,
    /// The bucket where the deviation was largest, RFC 3339.
    pub at: String,
    pub value: f64,
    pub baseline: f64,
    /// Robust z-score: (value - baseline median) / scaled MAD.
    pub deviation: f64,
    /// One line an SRE can read.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_user_agents: Vec<Count>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_versions: Vec<Count>,
}

/// A value and how often it was seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub value: String,
    pub count: u64,
}

/// One ranked root-cause candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub component: String,
    pub score: f64,
    pub fault: FaultKind,
    pub evidence: Vec<Evidence>,
}

/// Components by time buckets, each cell an anomaly score (0 = normal).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Heatmap {
    pub components: Vec<String>,
    /// Bucket start times, RFC 3339.
    pub buckets: Vec<String>,
    /// `scores[component][bucket]`, all modalities combined.
    pub scores: Vec<Vec<f64>>,
    /// The same matrix restricted to one modality, keyed by modality name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub by_modality: std::collections::BTreeMap<String, Vec<Vec<f64>>>,
}

/// One caller-to-callee edge of the causal graph, from traces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub calls: u64,
    pub errors: u64,
    /// 99th percentile of the calls' duration, milliseconds.
    pub p99_ms: f64,
}

/// A modality that could not be used, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    pub modality: String,
    pub reason: String,
}

/// The answer to an alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Localisation {
    pub incident: IncidentInfo,
    /// Best first.
    pub ranking: Vec<Candidate>,
    /// From the root cause to the alerting component, following callers.
    pub path: Vec<String>,
    /// The modalities that contributed data.
    pub modalities: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Missing>,
    pub heatmap: Heatmap,
    #[serde(default)]
    pub edges: Vec<Edge>,
}
