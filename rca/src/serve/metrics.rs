//! The service's own metrics, in Prometheus' text format at `GET /metrics`.

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

/// Every metric `rca serve` exports, registered in one registry of its own
/// (not the process-global one, so tests can run several servers).
pub struct Metrics {
    registry: Registry,
    /// Webhook requests by answer status.
    pub webhooks: IntCounterVec,
    /// Investigations waiting in the queue (settling or for a worker).
    pub queue_depth: IntGauge,
    /// Investigations opened: one per outage, however many alerts it has.
    pub investigations: IntCounter,
    /// Alerts that joined an investigation another alert opened.
    pub alerts_joined: IntCounter,
    /// Incidents finished, by outcome (`stored`, `failed`).
    pub incidents: IntCounterVec,
    /// Seconds from webhook to stored incident.
    pub incident_seconds: Histogram,
    /// Seconds each collector took, by modality.
    pub collector_seconds: HistogramVec,
    /// Collections that left a modality missing, by modality.
    pub collector_missing: IntCounterVec,
    /// Incidents of the last `TALLY_DAYS` with a verdict, and of those the
    /// share rca ranked right first (set at each scrape from the store).
    pub verdicts: IntGauge,
    pub verdict_ac1: Gauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let buckets = vec![
            0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
        ];
        let webhooks = IntCounterVec::new(
            Opts::new(
                "rca_webhook_requests_total",
                "Webhook requests by answer status.",
            ),
            &["code"],
        )
        .expect("valid metric");
        let queue_depth = IntGauge::new(
            "rca_queue_depth",
            "Investigations waiting to be worked on (settling or for a worker).",
        )
        .expect("valid metric");
        let investigations = IntCounter::new(
            "rca_investigations_total",
            "Investigations opened (an alert storm of one outage is one).",
        )
        .expect("valid metric");
        let alerts_joined = IntCounter::new(
            "rca_alerts_joined_total",
            "Alerts that joined an investigation another alert opened.",
        )
        .expect("valid metric");
        let incidents = IntCounterVec::new(
            Opts::new("rca_incidents_total", "Incidents finished, by outcome."),
            &["outcome"],
        )
        .expect("valid metric");
        let incident_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "rca_incident_seconds",
                "Seconds from webhook to stored incident (settle wait included).",
            )
            .buckets(buckets.clone()),
        )
        .expect("valid metric");
        let collector_seconds = HistogramVec::new(
            HistogramOpts::new("rca_collector_seconds", "Seconds each collector took.")
                .buckets(buckets),
            &["modality"],
        )
        .expect("valid metric");
        let collector_missing = IntCounterVec::new(
            Opts::new(
                "rca_collector_missing_total",
                "Collections that left a modality missing (failure, timeout or no data).",
            ),
            &["modality"],
        )
        .expect("valid metric");
        let verdicts = IntGauge::new(
            "rca_verdict_incidents",
            "Incidents of the last 30 days with a verdict (confirmed or corrected).",
        )
        .expect("valid metric");
        let verdict_ac1 = Gauge::new(
            "rca_verdict_ac1",
            "Of the incidents of the last 30 days with a verdict, the share whose first-ranked \
             component was the root cause (NaN without any).",
        )
        .expect("valid metric");
        for m in [
            Box::new(webhooks.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(queue_depth.clone()),
            Box::new(investigations.clone()),
            Box::new(alerts_joined.clone()),
            Box::new(incidents.clone()),
            Box::new(incident_seconds.clone()),
            Box::new(collector_seconds.clone()),
            Box::new(collector_missing.clone()),
            Box::new(verdicts.clone()),
            Box::new(verdict_ac1.clone()),
        ] {
            registry.register(m).expect("metric names are unique");
        }
        Metrics {
            registry,
            webhooks,
            queue_depth,
            investigations,
            alerts_joined,
            incidents,
            incident_seconds,
            collector_seconds,
            collector_missing,
            verdicts,
            verdict_ac1,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec only fails on invalid metric families, which
        // the fixed set above is not.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
