//! What the alert asks to be explained: which component, and which kind of
//! symptom (latency, errors, saturation, traffic), read from the alert
//! itself, and which evidence can explain such a symptom.
//!
//! An alert is a question: "low availability on the front end" is answered
//! by a component whose errors reach the front end, not by one whose
//! latency rose with no errors at all. The kind is read, in this order,
//! from:
//! 1. a label `rca_symptom` (`latency`, `errors`, `saturation`, `traffic`),
//!    which the user sets on the rule and which overrides everything else;
//! 2. the alert's name, split into words (`HighErrorRate` → high, error,
//!    rate);
//! 3. the PromQL of its `generatorURL` (Prometheus puts the rule's
//!    expression in the `g0.expr` query parameter). The URL is parsed, never
//!    requested: it is data an alert sender controls;
//! 4. its `summary` and `description` annotations.
//!
//! The first of these that names exactly one kind decides; one that names
//! both latency and errors names neither (a combined rule), and the next is
//! read. Nothing names one: `unknown`, and every change may explain the
//! alert, as before this module existed.

use serde::{Deserialize, Serialize};

use crate::signal::SignalKind;

/// The kind of symptom an alert reports (the four golden signals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SymptomKind {
    /// Requests take longer.
    Latency,
    /// Requests fail, or availability dropped.
    Errors,
    /// A resource is running out (cpu, memory, a pool, goroutines).
    Saturation,
    /// The request rate changed.
    Traffic,
    /// The alert does not say.
    #[default]
    Unknown,
}

impl SymptomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SymptomKind::Latency => "latency",
            SymptomKind::Errors => "errors",
            SymptomKind::Saturation => "saturation",
            SymptomKind::Traffic => "traffic",
            SymptomKind::Unknown => "unknown",
        }
    }

    fn parse(s: &str) -> Option<SymptomKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "latency" | "slow" | "duration" => Some(SymptomKind::Latency),
            "errors" | "error" | "availability" => Some(SymptomKind::Errors),
            "saturation" => Some(SymptomKind::Saturation),
            "traffic" => Some(SymptomKind::Traffic),
            "unknown" => Some(SymptomKind::Unknown),
            _ => None,
        }
    }
}

impl std::fmt::Display for SymptomKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The symptom an incident's alert asks to be explained.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Symptom {
    pub kind: SymptomKind,
    /// The alerting component, when the alert names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Where the kind was read: `label rca_symptom`, `alertname`,
    /// `generatorURL`, `annotations`; empty when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// The label that overrides whatever else the alert says.
pub const SYMPTOM_LABEL: &str = "rca_symptom";

/// The symptom `alert` reports.
pub fn of_alert(alert: &ingest::Alert) -> Symptom {
    let component = alert.component().map(str::to_string);
    let found = |kind, source: &str| Symptom {
        kind,
        component: component.clone(),
        source: source.to_string(),
    };
    if let Some(kind) = alert
        .labels
        .get(SYMPTOM_LABEL)
        .and_then(|v| SymptomKind::parse(v))
    {
        return found(kind, "label rca_symptom");
    }
    if let Some(kind) = kind_of_text(alert.name()) {
        return found(kind, "alertname");
    }
    if let Some(kind) = promql_of(&alert.generator_url).and_then(|q| kind_of_text(&q)) {
        return found(kind, "generatorURL");
    }
    let notes: Vec<&str> = ["summary", "description"]
        .iter()
        .filter_map(|k| alert.annotations.get(*k).map(String::as_str))
        .collect();
    if let Some(kind) = kind_of_text(&notes.join(" ")) {
        return found(kind, "annotations");
    }
    Symptom {
        component,
        ..Symptom::default()
    }
}

/// The rule's expression in a Prometheus `generatorURL` (`g0.expr`), decoded.
/// Only parsed, never fetched.
fn promql_of(url: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    let query = query.split('#').next().unwrap_or(query);
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "g0.expr")
        .map(|(_, v)| v.into_owned())
}

/// Words of `text`, lower case: split at anything not a letter or digit,
/// at a lower-to-upper case change (`HighErrorRate`, `cpuThrottling`) and
/// before the last capital of an acronym that a word follows
/// (`CPUThrottling` → cpu, throttling).
fn words(text: &str) -> Vec<String> {
    let cs: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &ch) in cs.iter().enumerate() {
        if !ch.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|k| cs[k]);
        let next = cs.get(i + 1).copied();
        let camel =
            ch.is_uppercase() && prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit());
        let acronym_end = ch.is_uppercase()
            && prev.is_some_and(char::is_uppercase)
            && next.is_some_and(char::is_lowercase);
        if (camel || acronym_end) && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend(ch.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The one kind `text` names, if it names exactly one (an error rate
/// mentions requests, so errors and latency win over traffic, and both
/// over saturation).
fn kind_of_text(text: &str) -> Option<SymptomKind> {
    let ws = words(text);
    let any = |set: &[&str]| ws.iter().any(|w| set.contains(&w.as_str()));
    // A status class in PromQL: `code=~"5.."`, `status="503"`, `5xx`.
    let lower = text.to_lowercase();
    let server_status = text.contains("\"5")
        || text.contains("'5")
        || lower.contains("5xx")
        || lower.contains("4xx");
    let errors = server_status
        || any(&[
            "error",
            "errors",
            "5xx",
            "availability",
            "available",
            "unavailable",
            "success",
            "successful",
            "fail",
            "failed",
            "failing",
            "failure",
            "failures",
            "exception",
            "exceptions",
            "down",
            "slo",
            "errorbudget",
        ]);
    let saturation = any(&[
        "cpu",
        "memory",
        "mem",
        "oom",
        "saturation",
        "saturated",
        "throttling",
        "throttled",
        "goroutines",
        "goroutine",
        "heap",
        "pool",
        "threads",
        "disk",
    ]);
    // `seconds` is a latency only where no resource is named
    // (`process_cpu_seconds_total` is cpu time).
    let latency = any(&[
        "latency",
        "latencies",
        "slow",
        "slowness",
        "duration",
        "durations",
        "p99",
        "p95",
        "p90",
        "p50",
        "quantile",
        "apdex",
    ]) || (!saturation && any(&["seconds"]));
    let traffic = any(&["traffic", "throughput", "rps", "qps", "requests", "volume"]);
    match (errors, latency) {
        (true, true) => None,
        (true, false) => Some(SymptomKind::Errors),
        (false, true) => Some(SymptomKind::Latency),
        (false, false) if saturation => Some(SymptomKind::Saturation),
        (false, false) if traffic => Some(SymptomKind::Traffic),
        _ => None,
    }
}

/// Whether a component's change of `kind` (for a derived contribution,
/// `via`, the kind it was derived from) can explain a symptom of `symptom`.
///
/// A resource or a mechanism (cpu, memory, goroutines, a pool, a lock, a
/// stopped callee, a changed client mix) can cause either latency or
/// errors: it explains both. So does a caller's wait for its own client of
/// a callee that serves others as before (`client_wait`): a wait for a
/// pooled connection ends in the call or in the pool's timeout error. What only shows time (own time, the wire, a
/// latency series) does not explain errors, and what only shows failures
/// (originated errors, exceptions, error lines, a 5xx series) does not
/// explain latency. Saturation, traffic and an unknown symptom are
/// explained by anything: a surge from a caller and a resource of the
/// component itself both fill a resource.
pub fn explains(kind: SignalKind, via: Option<SignalKind>, symptom: SymptomKind) -> bool {
    use SignalKind as K;
    let kind = match (kind, via) {
        (K::UnexplainedSymptom, Some(v)) => v,
        (k, _) => k,
    };
    let time_only = matches!(
        kind,
        K::SelfTime
            | K::Latency
            | K::WireIn
            | K::WireOut
            | K::SlowCallee
            | K::LatencyP50
            | K::LatencyP90
            | K::LatencyP95
            | K::LatencyP99
            | K::ClientLatency
            | K::ProxyLatency
            | K::ExplainsSymptom
    );
    let failures_only = matches!(
        kind,
        K::ErrorOrigin
            | K::ErrorsAnswered
            | K::Exceptions
            | K::Http4xxRate
            | K::Http5xxRate
            | K::ProxyHttp4xx
            | K::ProxyHttp5xx
            | K::ExceptionLogs
            | K::ErrorLogs
            | K::NewErrorTemplates
            | K::MissingLogLines
            | K::NamedInErrors
            | K::CallStructure
    );
    match symptom {
        SymptomKind::Errors => !time_only,
        SymptomKind::Latency => !failures_only,
        SymptomKind::Saturation | SymptomKind::Traffic | SymptomKind::Unknown => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn alert(labels: &[(&str, &str)], url: &str, summary: &str) -> ingest::Alert {
        ingest::Alert {
            status: "firing".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: [("summary".to_string(), summary.to_string())]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            starts_at: Utc::now(),
            ends_at: None,
            generator_url: url.into(),
            fingerprint: "f".into(),
        }
    }

    #[test]
    fn the_name_says_the_kind() {
        let kind = |name: &str| of_alert(&alert(&[("alertname", name)], "", "")).kind;
        assert_eq!(kind("HighErrorRate"), SymptomKind::Errors);
        assert_eq!(kind("LowAvailability"), SymptomKind::Errors);
        assert_eq!(kind("HighLatency"), SymptomKind::Latency);
        assert_eq!(
            kind("p99_latency_slo_burn"),
            SymptomKind::Unknown,
            "slo and latency"
        );
        assert_eq!(kind("CPUThrottlingHigh"), SymptomKind::Saturation);
        assert_eq!(kind("KubePodCrashLooping"), SymptomKind::Unknown);
        assert_eq!(kind("FaultInjected"), SymptomKind::Unknown);
        assert_eq!(kind("RequestsDropped"), SymptomKind::Traffic);
        assert_eq!(kind("High5xxRate"), SymptomKind::Errors);
        assert_eq!(kind("High4xxRate"), SymptomKind::Errors);
        let url = "http://p/graph?g0.expr=rate(process_cpu_seconds_total%5B1m%5D)+%3E+0.9";
        assert_eq!(
            of_alert(&alert(&[("alertname", "Busy")], url, "")).kind,
            SymptomKind::Saturation
        );
    }

    #[test]
    fn an_explicit_label_overrides_and_the_promql_is_read_not_fetched() {
        let a = alert(
            &[
                ("alertname", "HighLatency"),
                ("rca_symptom", "errors"),
                ("service", "web"),
            ],
            "",
            "",
        );
        let s = of_alert(&a);
        assert_eq!(
            (s.kind, s.source.as_str()),
            (SymptomKind::Errors, "label rca_symptom")
        );
        assert_eq!(s.component.as_deref(), Some("web"));
        let url = "http://prometheus:9090/graph?g0.expr=sum%28rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29%29+%3E+1&g0.tab=1";
        let s = of_alert(&alert(&[("alertname", "Frontend")], url, ""));
        assert_eq!(
            (s.kind, s.source.as_str()),
            (SymptomKind::Errors, "generatorURL")
        );
        let url = "http://p/graph?g0.expr=histogram_quantile(0.99%2C+rate(http_request_duration_seconds_bucket%5B5m%5D))+%3E+0.5";
        assert_eq!(
            of_alert(&alert(&[("alertname", "Frontend")], url, "")).kind,
            SymptomKind::Latency
        );
        let s = of_alert(&alert(
            &[("alertname", "Frontend")],
            "",
            "Checkout is failing",
        ));
        assert_eq!(
            (s.kind, s.source.as_str()),
            (SymptomKind::Errors, "annotations")
        );
    }

    #[test]
    fn time_does_not_explain_errors_nor_failures_latency() {
        use SignalKind as K;
        assert!(!explains(K::SelfTime, None, SymptomKind::Errors));
        assert!(explains(K::ErrorOrigin, None, SymptomKind::Errors));
        assert!(!explains(K::ErrorOrigin, None, SymptomKind::Latency));
        assert!(explains(K::Cpu, None, SymptomKind::Errors));
        assert!(explains(K::UnansweredCalls, None, SymptomKind::Latency));
        assert!(!explains(
            K::UnexplainedSymptom,
            Some(K::LatencyP99),
            SymptomKind::Errors
        ));
        assert!(explains(
            K::UnexplainedSymptom,
            Some(K::Http5xxRate),
            SymptomKind::Errors
        ));
        assert!(explains(K::SelfTime, None, SymptomKind::Unknown));
    }
}
