//! The engine's output: a [`Localisation`], serialised as the JSON that
//! `rca replay --format json` prints and that bots read.

use serde::{Deserialize, Serialize};

/// The suspected kind of fault behind a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    CpuSaturation,
    MemoryLeak,
    /// Slower in its own processing (self time), no resource to blame.
    Latency,
    /// Time lost on the wire of its calls in or out.
    NetworkDelay,
    ErrorReturn,
    Exception,
    GoroutineLeak,
    ConnectionPoolExhaustion,
    IngressAbuse,
    /// Time inside its spans spent waiting for a lock or a pool that others
    /// hold (its spans or log lines say so).
    LockContention,
    /// Its requests wait before their calls go out (a worker pool, a
    /// client-side queue): its own time grows ahead of its calls while the
    /// calls themselves take as long as before.
    Queueing,
    /// It stopped answering: its callers' calls into it go unanswered.
    ServiceDown,
    /// Anomalous, but no rule decided what kind.
    Unknown,
}

impl FaultKind {
    pub const ALL: [FaultKind; 12] = [
        FaultKind::CpuSaturation,
        FaultKind::MemoryLeak,
        FaultKind::Latency,
        FaultKind::NetworkDelay,
        FaultKind::ErrorReturn,
        FaultKind::Exception,
        FaultKind::GoroutineLeak,
        FaultKind::ConnectionPoolExhaustion,
        FaultKind::IngressAbuse,
        FaultKind::LockContention,
        FaultKind::Queueing,
        FaultKind::ServiceDown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::CpuSaturation => "cpu_saturation",
            FaultKind::MemoryLeak => "memory_leak",
            FaultKind::Latency => "latency",
            FaultKind::NetworkDelay => "network_delay",
            FaultKind::ErrorReturn => "error_return",
            FaultKind::Exception => "exception",
            FaultKind::GoroutineLeak => "goroutine_leak",
            FaultKind::ConnectionPoolExhaustion => "connection_pool_exhaustion",
            FaultKind::IngressAbuse => "ingress_abuse",
            FaultKind::LockContention => "lock_contention",
            FaultKind::Queueing => "queueing",
            FaultKind::ServiceDown => "service_down",
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The other alerts of the same investigation (an alert storm of one
    /// outage is one incident), in the order they arrived; empty for an
    /// incident of one alert.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_alerts: Vec<AlertRef>,
}

/// One alert of an investigation, besides the one that opened it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertRef {
    pub fingerprint: String,
    pub alert_name: String,
    pub alert_component: Option<String>,
    /// RFC 3339.
    pub starts_at: String,
    /// Whether the named root cause accounts for this alert: its component
    /// is the cause or calls it, directly or through others. Absent when
    /// there is no cause, or the alert names no component with data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explained: Option<bool>,
}

/// One item of evidence behind a candidate or a heatmap cell.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evidence {
    /// `cpu`, `error_rate`, `self_time`, `http_4xx_rate`, ...
    pub signal: String,
    /// `traces`, `metrics`, `access_logs`, `logs`, `goroutines`.
    pub modality: String,
    /// When the signal changed (its onset; else the bucket where it
    /// deviated most), RFC 3339.
    pub at: String,
    pub value: f64,
    pub baseline: f64,
    /// Robust z-score: (value - baseline median) / scaled MAD.
    pub deviation: f64,
    /// The unit of `before` and `after`: `ms`, `%`, `cores`, `bytes`,
    /// `/s`, or empty for a count or a score.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    /// The signal in its own unit before the change (the baseline) and
    /// since it (from `at`): a median for levels and per-request times
    /// (`quantile` says which), a share for rates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<f64>,
    /// Which statistic `before` and `after` are: `p50`, `mean`, `share`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub quantile: String,
    /// The operation whose requests show it, for per-request signals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Count {
    pub value: String,
    pub count: u64,
}

/// One ranked root-cause candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Candidate {
    pub component: String,
    pub score: f64,
    pub fault: FaultKind,
    pub evidence: Vec<Evidence>,
    /// Where inside the component, most likely first: a code region (the
    /// pair of log events where its requests' flow broke off or changed) or
    /// a resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inner: Vec<InnerCause>,
    /// The component is only an address (`10.0.0.7:5432`): a peer client
    /// spans named that no span or baseline call gave a service name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub address: bool,
    /// Its evidence can explain the alert: it is of a kind that causes the
    /// alert's symptom (a latency rise alone does not explain an error
    /// alert) and it lies on a call path through the alerting component.
    /// Candidates that do not are listed after all that do, as "changed,
    /// but does not explain the alert".
    #[serde(default = "yes")]
    pub explains_alert: bool,
}

fn yes() -> bool {
    true
}

/// Whether a component's name is a network address rather than a service:
/// an IP address, with or without a port, or `host:port`.
pub fn is_address(name: &str) -> bool {
    use std::net::{IpAddr, SocketAddr};
    if name.parse::<IpAddr>().is_ok() || name.parse::<SocketAddr>().is_ok() {
        return true;
    }
    match name.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.contains('/')
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// What kind of place inside a component an [`InnerCause`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InnerKind {
    /// A code region: `before_after`, two flow events (a log template such
    /// as `c.s.ContactsServiceImpl#31`, or `<operation> start`) the requests
    /// used to pass one after the other; or one new error template.
    Code,
    /// `cpu`, `memory` or `network`.
    Resource,
}

/// One place inside a component where the fault may sit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InnerCause {
    pub kind: InnerKind,
    /// The operation whose requests show it, when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    pub region: String,
    pub score: f64,
}

/// Components by time buckets, each cell an anomaly score (0 = normal).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Heatmap {
    pub components: Vec<String>,
    /// Bucket start times, RFC 3339.
    pub buckets: Vec<String>,
    /// `scores[component][bucket]`, all modalities combined; `null` (NaN in
    /// memory) where the component has no data at all in that bucket:
    /// "no data" is not "normal".
    #[serde(with = "nan_as_null")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<Option<f64>>>))]
    pub scores: Vec<Vec<f64>>,
    /// The same matrix restricted to one modality, keyed by modality name
    /// (`null` where that modality has no data of the component).
    #[serde(
        default,
        skip_serializing_if = "std::collections::BTreeMap::is_empty",
        with = "nan_as_null_by_key"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, Vec<Vec<Option<f64>>>>))]
    pub by_modality: std::collections::BTreeMap<String, Vec<Vec<f64>>>,
}

/// One caller-to-callee edge of the causal graph, from traces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Missing {
    pub modality: String,
    pub reason: String,
}

/// The answer to an alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Localisation {
    pub incident: IncidentInfo,
    /// What the alert asks to be explained: its kind of symptom and
    /// component, and where the kind was read.
    #[serde(default)]
    pub symptom: crate::symptom::Symptom,
    /// `false` when no component's own evidence reached the candidate
    /// level: the ranking lists the strongest changes there were, as a
    /// tentative answer (`missing` says why).
    #[serde(default = "yes")]
    pub confident: bool,
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
    /// Per-cell evidence and signal series for the interactive page.
    #[serde(default, skip_serializing_if = "Detail::is_empty")]
    pub detail: Detail,
}

/// What the interactive page shows beyond the verdict: the evidence behind each anomalous heatmap
/// cell, each component's signals over time (for the coupling view) and each proxy's traffic mix.
/// Rows index `heatmap.components`, buckets index `heatmap.buckets`. Only cells that stand out are
/// listed and values are rounded, so a 100 x 360 incident stays a few hundred kilobytes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Detail {
    /// Cells scoring at least 3 in any signal, by row then bucket.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<Cell>,
    /// One per component and signal that has data, by row then signal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<SignalSeries>,
    /// One per proxy component with access logs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxies: Vec<ProxyMix>,
}

impl Detail {
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.series.is_empty() && self.proxies.is_empty()
    }
}

/// The evidence behind one heatmap cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cell {
    pub row: u32,
    pub bucket: u32,
    /// The strongest signals there, strongest first.
    pub signals: Vec<CellSignal>,
    /// Example traces of the component in that bucket (slowest request, first error).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace_ids: Vec<String>,
    /// Warning and error log templates the component wrote in that bucket, most frequent first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_lines: Vec<Count>,
}

/// One signal's value in one bucket against its baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CellSignal {
    pub signal: String,
    pub modality: String,
    /// `None` when the signal has no value of its own (a call's wait scored on the edge).
    pub value: Option<f64>,
    pub baseline: Option<f64>,
    /// `ms`, `%`, `x` (times typical), `bytes`, or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    pub score: f64,
}

/// One signal of one component, per bucket (`None`: no data in that bucket).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignalSeries {
    pub row: u32,
    pub signal: String,
    pub modality: String,
    pub values: Vec<Option<f64>>,
}

/// The traffic a proxy admitted in the analysed period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProxyMix {
    pub row: u32,
    pub top_user_agents: Vec<Count>,
    pub tls_versions: Vec<Count>,
}

/// A score matrix with NaN (no data) written as JSON `null`, read back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn to_options(m: &[Vec<f64>]) -> Vec<Vec<Option<f64>>> {
        m.iter()
            .map(|row| row.iter().map(|v| v.is_finite().then_some(*v)).collect())
            .collect()
    }

    pub(super) fn from_options(m: Vec<Vec<Option<f64>>>) -> Vec<Vec<f64>> {
        m.into_iter()
            .map(|row| row.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
            .collect()
    }

    pub fn serialize<S: Serializer>(m: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
        to_options(m).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        Ok(from_options(Vec::deserialize(d)?))
    }
}

/// [`nan_as_null`] for each matrix of a map.
mod nan_as_null_by_key {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::nan_as_null::{from_options, to_options};

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<String, Vec<Vec<f64>>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        m.iter()
            .map(|(k, v)| (k, to_options(v)))
            .collect::<BTreeMap<_, _>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Vec<Vec<f64>>>, D::Error> {
        Ok(BTreeMap::<String, Vec<Vec<Option<f64>>>>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| (k, from_options(v)))
            .collect())
    }
}
