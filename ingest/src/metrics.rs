//! Metrics: Prometheus `/api/v1/query_range` answers, as saved beside the
//! query that produced them:
//!
//! ```json
//! {"queries": [{"signal": "cpu", "promql": "...", "component_label": "service",
//!               "response": {"status": "success", "data": {"resultType": "matrix", "result": [..]}}}]}
//! ```
//!
//! A query whose `signal` is an edge signal (`calls`, `calls_failed`,
//! `latency_server`, `latency_client`: see `EdgeSignal`) holds caller→callee
//! series instead (service-graph metrics: the OpenTelemetry Collector's
//! `servicegraph` connector, Tempo's metrics generator, Istio, Linkerd),
//! each naming its two ends by the labels `client_label` and `server_label`
//! (default `client` and `server`); they go to [`Observations::edges`].
//!
//! [`parse_query_range`] reads one answer body on its own, for a live collector.
//! `NaN` and infinite samples are dropped; a series whose labels name no
//! component (for an edge: no client or no server) is skipped and counted.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::IngestError;
use crate::model::{
    EdgeSeries, EdgeSignal, Micros, Observations, Series, Signal, COMPONENT_LABELS,
};
use crate::wire;

/// Labels and `(time, value)` samples of one series.
pub type RangeSeries = (BTreeMap<String, String>, Vec<(Micros, f64)>);

/// What [`read_metrics_detailed`] read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsRead {
    /// Samples kept (finite values of series with a component, and of edge
    /// series with both ends).
    pub samples: u64,
    /// Series kept, edge series included.
    pub series: u64,
    /// Series skipped because no label named their component (or, for an
    /// edge series, its client or its server).
    pub skipped_series: u64,
}

/// Reads a metrics file (`{"queries": [..]}`) from `bytes` (the content of
/// `path`) into `obs`; returns the number of samples read.
pub fn read_metrics(path: &Path, bytes: &[u8], obs: &mut Observations) -> Result<u64, IngestError> {
    read_metrics_detailed(path, bytes, obs).map(|r| r.samples)
}

/// The component a series belongs to: the query's own component label when
/// it names one and the series carries it, else the first of
/// [`COMPONENT_LABELS`] the series carries.
pub(crate) fn component_of<'a>(
    labels: &'a std::collections::BTreeMap<String, String>,
    component_label: Option<&str>,
) -> Option<&'a String> {
    component_label
        .and_then(|l| labels.get(l))
        .filter(|v| !v.is_empty())
        .or_else(|| {
            COMPONENT_LABELS
                .iter()
                .find_map(|l| labels.get(*l).filter(|v| !v.is_empty()))
        })
}

/// The label an edge series names its caller by when the query names none.
pub const DEFAULT_CLIENT_LABEL: &str = "client";
/// The label an edge series names its callee by when the query names none.
pub const DEFAULT_SERVER_LABEL: &str = "server";

/// The two ends of an edge series: the values of its client and server
/// labels (`client` and `server` unless the query names others), both
/// present and not empty.
pub(crate) fn edge_ends<'a>(
    labels: &'a BTreeMap<String, String>,
    client_label: Option<&str>,
    server_label: Option<&str>,
) -> Option<(&'a String, &'a String)> {
    let end = |label: Option<&str>, default: &str| {
        labels
            .get(label.unwrap_or(default))
            .filter(|v| !v.is_empty())
    };
    Some((
        end(client_label, DEFAULT_CLIENT_LABEL)?,
        end(server_label, DEFAULT_SERVER_LABEL)?,
    ))
}

/// Why a query's labels do not fit its signal, if they do not:
/// `client_label` and `server_label` name an edge's ends and apply only to
/// the edge signals, `component_label` only to the others.
pub(crate) fn query_labels_problem(
    signal: &str,
    component_label: Option<&str>,
    client_label: Option<&str>,
    server_label: Option<&str>,
) -> Option<String> {
    let is_edge = signal.parse::<EdgeSignal>().is_ok();
    if !is_edge && (client_label.is_some() || server_label.is_some()) {
        return Some(format!(
            "client_label and server_label apply only to the edge signals calls, calls_failed, latency_server and latency_client, not to {signal:?}"
        ));
    }
    if is_edge && component_label.is_some() {
        return Some(format!(
            "component_label does not apply to {signal:?}: its series name a caller and a callee, by client_label and server_label (default client and server)"
        ));
    }
    None
}

/// As [`read_metrics`], also counting series kept and skipped.
pub fn read_metrics_detailed(
    path: &Path,
    bytes: &[u8],
    obs: &mut Observations,
) -> Result<MetricsRead, IngestError> {
    let text = wire::json_text(path, bytes)?;
    let file: MetricsFile = serde_json::from_str(text).map_err(|e| wire::json_error(path, e))?;
    let mut read = MetricsRead::default();
    for (i, query) in file.queries.into_iter().enumerate() {
        let what = |msg: String| {
            IngestError::malformed(
                path,
                format!("query {} (signal {:?}): {msg}", i + 1, query.signal),
            )
        };
        if let Some(problem) = query_labels_problem(
            &query.signal,
            query.component_label.as_deref(),
            query.client_label.as_deref(),
            query.server_label.as_deref(),
        ) {
            return Err(what(problem));
        }
        let series = query.response.into_series().map_err(what)?;
        if let Ok(signal) = query.signal.parse::<EdgeSignal>() {
            for (labels, samples) in series {
                let Some((client, server)) = edge_ends(
                    &labels,
                    query.client_label.as_deref(),
                    query.server_label.as_deref(),
                ) else {
                    read.skipped_series += 1;
                    continue;
                };
                let (client, server) = (obs.names.intern(client), obs.names.intern(server));
                read.samples += samples.len() as u64;
                read.series += 1;
                obs.edges.push(EdgeSeries {
                    client,
                    server,
                    signal,
                    labels,
                    samples,
                });
            }
            continue;
        }
        let signal: Signal = match query.signal.parse() {
            Ok(s) => s,
            Err(never) => match never {},
        };
        for (labels, samples) in series {
            let Some(component) = component_of(&labels, query.component_label.as_deref()) else {
                read.skipped_series += 1;
                continue;
            };
            let component = obs.names.intern(component);
            read.samples += samples.len() as u64;
            read.series += 1;
            obs.series.push(Series {
                component,
                signal: signal.clone(),
                labels,
                samples,
            });
        }
    }
    if read.skipped_series > 0 {
        tracing::warn!(
            file = %path.display(),
            skipped = read.skipped_series,
            "series naming no component (or no client or server) skipped"
        );
    }
    Ok(read)
}

/// Parses one Prometheus `/api/v1/query_range` (or `/api/v1/query`) answer
/// body into series. An answer with `"status": "error"` is an `Err` holding
/// its `errorType` and `error`.
pub fn parse_query_range(bytes: &[u8]) -> Result<Vec<RangeSeries>, String> {
    let body: QueryRangeBody =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid answer: {e}"))?;
    body.into_series()
}

#[derive(Deserialize)]
struct MetricsFile {
    queries: Vec<Query>,
}

#[derive(Deserialize)]
struct Query {
    signal: String,
    /// Kept in the file for people; not needed to read it.
    #[serde(default)]
    #[allow(dead_code)]
    promql: String,
    #[serde(default)]
    component_label: Option<String>,
    /// For the edge signals: the labels naming caller and callee.
    #[serde(default)]
    client_label: Option<String>,
    #[serde(default)]
    server_label: Option<String>,
    response: QueryRangeBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryRangeBody {
    status: String,
    #[serde(default)]
    data: Option<QueryData>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryData {
    result_type: String,
    #[serde(default)]
    result: Vec<RawSeries>,
}

#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    /// A matrix's samples.
    #[serde(default)]
    values: Vec<(f64, String)>,
    /// A vector's one sample.
    #[serde(default)]
    value: Option<(f64, String)>,
}

impl QueryRangeBody {
    fn into_series(self) -> Result<Vec<RangeSeries>, String> {
        if self.status != "success" {
            return Err(format!(
                "prometheus answered {}: {}: {}",
                self.status,
                self.error_type.as_deref().unwrap_or("no errorType"),
                self.error.as_deref().unwrap_or("no error message")
            ));
        }
        let Some(data) = self.data else {
            return Err("a success answer without `data`".to_string());
        };
        if data.result_type != "matrix" && data.result_type != "vector" {
            return Err(format!(
                "resultType {:?}, expected \"matrix\" or \"vector\"",
                data.result_type
            ));
        }
        let mut out = Vec::with_capacity(data.result.len());
        for raw in data.result {
            let mut samples = Vec::with_capacity(raw.values.len());
            for (t, v) in raw.values.iter().chain(raw.value.as_ref()) {
                let value = wire::parse_float(v)
                    .ok_or_else(|| format!("sample value {v:?} is not a number"))?;
                if !value.is_finite() {
                    continue;
                }
                if !t.is_finite() || t.abs() > 1e13 {
                    return Err(format!("sample time {t} is not a Unix time in seconds"));
                }
                samples.push(((t * 1e6).round() as Micros, value));
            }
            if samples.windows(2).any(|w| w[0].0 > w[1].0) {
                samples.sort_by_key(|s| s.0);
            }
            out.push((raw.metric, samples));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_range_drops_nan_and_inf() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"service":"cart"},"values":[[1700000000.123,"0.5"],[1700000015,"NaN"],[1700000030,"+Inf"],[1700000045,"-Inf"],[1700000060,"2"]]}]}}"#;
        let series = parse_query_range(body).unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].0["service"], "cart");
        assert_eq!(
            series[0].1,
            vec![(1_700_000_000_123_000, 0.5), (1_700_000_060_000_000, 2.0)]
        );
    }

    #[test]
    fn query_range_error_answer() {
        let body = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 4"}"#;
        let err = parse_query_range(body).unwrap_err();
        assert!(
            err.contains("bad_data") && err.contains("parse error at char 4"),
            "{err}"
        );
    }

    #[test]
    fn query_range_bad_value() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}"#;
        assert!(parse_query_range(body).unwrap_err().contains("\"x\""));
    }
}
