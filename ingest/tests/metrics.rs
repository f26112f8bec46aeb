//! `read_metrics` on saved Prometheus `query_range` answers.

mod common;

use common::{assert_names_file, bytes, data, truncated};
use ingest::{read_metrics, read_metrics_detailed, IngestError, MetricsRead, Observations, Signal};

#[test]
fn query_range_answers() {
    let mut obs = Observations::default();
    let read =
        read_metrics_detailed(&data("metrics.json"), &bytes("metrics.json"), &mut obs).unwrap();
    assert_eq!(
        read,
        MetricsRead {
            samples: 6,
            series: 3,
            skipped_series: 1
        }
    );
    let name = |s| obs.names.name(s);
    assert_eq!(obs.series.len(), 3);

    let cart = &obs.series[0];
    assert_eq!(name(cart.component), "cart");
    assert_eq!(cart.signal, Signal::Cpu);
    // NaN dropped.
    assert_eq!(
        cart.samples,
        vec![
            (1_714_557_600_000_000, 0.25),
            (1_714_557_615_000_000, 0.5),
            (1_714_557_645_000_000, 0.75)
        ]
    );

    let frontend = &obs.series[1];
    assert_eq!(
        name(frontend.component),
        "frontend",
        "`job` when no `service`"
    );
    assert_eq!(
        frontend.samples,
        vec![(1_714_557_600_500_000, 0.1)],
        "+Inf dropped"
    );
    assert_eq!(frontend.labels["instance"], "10.0.0.1:9090");

    let errors = &obs.series[2];
    assert_eq!(
        name(errors.component),
        "cart",
        "the query's component_label wins"
    );
    assert_eq!(errors.signal, Signal::Http5xxRate);

    let mut again = Observations::default();
    assert_eq!(
        read_metrics(&data("metrics.json"), &bytes("metrics.json"), &mut again).unwrap(),
        6
    );
}

#[test]
fn unknown_signals_are_kept_by_name() {
    let body = br#"{"queries":[{"signal":"queue_depth","promql":"q","response":{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"app":"worker"},"values":[[1,"2"]]}]}}}]}"#;
    let mut obs = Observations::default();
    read_metrics(&data("m.json"), body, &mut obs).unwrap();
    assert_eq!(obs.series[0].signal, Signal::Other("queue_depth".into()));
}

#[test]
fn broken_twin_names_the_query_and_the_error() {
    let mut obs = Observations::default();
    let err = read_metrics(
        &data("metrics.broken.json"),
        &bytes("metrics.broken.json"),
        &mut obs,
    )
    .unwrap_err();
    assert_names_file(&err, "metrics.broken.json");
    let msg = err.to_string();
    assert!(msg.contains("http_5xx_rate"), "{msg}");
    assert!(
        msg.contains("bad_data") && msg.contains("parse error"),
        "{msg}"
    );
}

#[test]
fn malformed_truncated_and_empty() {
    let good = bytes("metrics.json");
    let mut obs = Observations::default();
    let err = read_metrics(&data("metrics.json"), truncated(&good), &mut obs).unwrap_err();
    assert_names_file(&err, "metrics.json");
    assert!(matches!(err, IngestError::Json { .. }), "{err}");
    for (content, says) in [
        (&b""[..], "empty file"),
        (b"{\"queries\": [", "invalid JSON"),
        (b"{}", "queries"),
        (br#"{"queries":[{"signal":"cpu","response":{"status":"success","data":{"resultType":"scalar","result":[]}}}]}"#, "scalar"),
        (br#"{"queries":[{"signal":"cpu","response":{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"app":"a"},"values":[[1,"lots"]]}]}}}]}"#, "lots"),
    ] {
        let err = read_metrics(&data("metrics.json"), content, &mut obs).unwrap_err();
        assert_names_file(&err, "metrics.json");
        assert!(err.to_string().contains(says), "{err}");
    }
}

#[test]
fn calls_queries_give_caller_to_callee_series() {
    use ingest::EdgeSignal;
    let mut obs = Observations::default();
    let read = read_metrics_detailed(
        &data("metrics-calls.json"),
        &bytes("metrics-calls.json"),
        &mut obs,
    )
    .unwrap();
    assert_eq!(
        read,
        MetricsRead {
            samples: 10,
            series: 6,
            skipped_series: 2
        },
        "a series without its client or server (or with an empty one) is skipped"
    );
    assert_eq!(
        obs.series.len(),
        1,
        "the cpu query stays a component series"
    );
    assert_eq!(obs.names.name(obs.series[0].component), "checkout");
    let name = |s| obs.names.name(s).to_string();
    let edges: Vec<(String, String, EdgeSignal, usize)> = obs
        .edges
        .iter()
        .map(|e| (name(e.client), name(e.server), e.signal, e.samples.len()))
        .collect();
    let edge = |c: &str, s: &str, sig, n| (c.to_string(), s.to_string(), sig, n);
    assert_eq!(
        edges,
        vec![
            edge("frontend", "checkout", EdgeSignal::Calls, 3),
            edge("checkout", "postgres", EdgeSignal::Calls, 2),
            edge("frontend", "checkout", EdgeSignal::CallsFailed, 2),
            edge("frontend", "cart", EdgeSignal::Calls, 1),
            edge("cart", "redis", EdgeSignal::CallsFailed, 1),
        ],
        "servicegraph's client/server, Istio's and Linkerd's labels as the queries name them"
    );
    assert_eq!(
        obs.edges[0].samples,
        vec![
            (1_714_557_600_000_000, 2.0),
            (1_714_557_615_000_000, 3.0),
            (1_714_557_645_000_000, 4.0)
        ],
        "NaN dropped"
    );
    assert_eq!(
        obs.edges[3].labels["destination_workload"], "cart",
        "labels kept as Prometheus returned them"
    );
    assert_eq!(obs.modalities(), vec![ingest::Modality::Metrics]);
}

#[test]
fn broken_calls_twin_says_which_label_is_wrong() {
    let mut obs = Observations::default();
    let err = read_metrics(
        &data("metrics-calls.broken.json"),
        &bytes("metrics-calls.broken.json"),
        &mut obs,
    )
    .unwrap_err();
    assert_names_file(&err, "metrics-calls.broken.json");
    let msg = err.to_string();
    assert!(msg.contains("query 4"), "{msg}");
    assert!(
        msg.contains("component_label") && msg.contains("client_label"),
        "{msg}"
    );
}

#[test]
fn client_and_server_labels_only_on_calls_signals() {
    let body = br#"{"queries":[{"signal":"cpu","promql":"q","client_label":"source_workload","response":{"status":"success","data":{"resultType":"matrix","result":[]}}}]}"#;
    let mut obs = Observations::default();
    let err = read_metrics(&data("m.json"), body, &mut obs).unwrap_err();
    assert_names_file(&err, "m.json");
    let msg = err.to_string();
    assert!(
        msg.contains("client_label")
            && msg.contains("calls, calls_failed, latency_server and latency_client")
            && msg.contains("\"cpu\""),
        "{msg}"
    );
}
