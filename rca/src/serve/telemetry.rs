//! Tracing for `rca serve`: log lines to stderr (filter `RCA_LOG`, default
//! `info`), and when an OTLP endpoint is configured, rca's own spans
//! (webhook, each collector, correlation, store) exported over OTLP/HTTP so
//! its work shows up in Jaeger beside the services it watches. `RCA_LOG`
//! filters the log lines only: the exported spans are always rca's own at
//! `info` and above (the HTTP clients' own spans left out), so quieter logs
//! (`RCA_LOG=warn`) do not empty the traces.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Keeps the exporter alive; flushes what is left when dropped.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            if let Err(e) = p.shutdown() {
                eprintln!("rca: flushing spans at exit: {e}");
            }
        }
    }
}

/// Installs the global subscriber. `filter` is `RCA_LOG`'s value, if set;
/// `otlp_endpoint` the base URL of an OTLP/HTTP receiver (`/v1/traces` is
/// appended), empty for none.
pub fn init(
    filter: Option<&str>,
    otlp_endpoint: &str,
    service_name: &str,
) -> anyhow::Result<TelemetryGuard> {
    let filter = EnvFilter::try_new(filter.unwrap_or("info,hyper=warn,reqwest=warn"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    if otlp_endpoint.is_empty() {
        tracing_subscriber::registry()
            .with(fmt.with_filter(filter))
            .try_init()?;
        return Ok(TelemetryGuard { provider: None });
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/v1/traces", otlp_endpoint.trim_end_matches('/')))
        .with_timeout(std::time::Duration::from_secs(5))
        .with_headers(Default::default())
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_string())
                .build(),
        )
        .build();
    let tracer = provider.tracer("rca");
    let exported =
        EnvFilter::new("info,hyper=warn,reqwest=warn,h2=warn,tower=warn,opentelemetry=warn");
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(exported),
        )
        .try_init()?;
    Ok(TelemetryGuard {
        provider: Some(provider),
    })
}
