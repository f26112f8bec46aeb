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
