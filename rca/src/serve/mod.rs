//! `rca serve`: alerts in by webhook, incidents out.
//!
//! A webhook (`POST /api/v1/alerts`, Alertmanager v4 or Grafana unified
//! alerting) is checked and answered at once with `202`, the investigations
//! its firing alerts are in and, for each alert, whether it started one or
//! joined one; the work is queued. Workers take each investigation, wait (if
//! configured) until the settle period after its latest alert has passed,
//! collect the window that spans all its alerts from every source at once
//! (`ingest::collect`), localise it on a blocking thread (`graph::localise`,
//! the same engine as `rca replay`) and store the result
//! (`graph::store::GraphStore`). The queue is bounded in investigations: when
//! it is full a webhook that would open a new one answers `429` and
//! Alertmanager retries later.
//!
//! An alert storm of one outage is one investigation: the alerts of one
//! webhook (one Alertmanager group) make one, and alerts of later webhooks
//! join one still queued when the configured labels agree and they start
//! within one settle period of the alert that opened it (`queue::Incidents::place`;
//! with replicas, through the shared record in `nats`).
//! Its id is the opening alert's (`graph::alert_incident_id`, from its
//! fingerprint and start), so a re-delivered alert is answered with the id it
//! already has and queued no second time.
//!
//! # Layout
//! - `config`: the TOML file, environment overrides, the `--help` reference.
//! - `webhook`: reading a webhook body into investigations; the intake's HTTP handlers
//!   (errors map to statuses through `web::ApiError`, as the pages' do).
//! - `queue`: the bounded queue, the table of investigations (grouping) and
//!   the workers.
//! - `journal`: accepted alerts on disk until their incident is stored,
//!   queued again at start (the default, one process).
//! - `nats`: the JetStream queue replicas share (`--queue nats://...`).
//! - `adhoc`: `POST /api/v1/localise` over the live sources, and which alerts
//!   are still in flight (the "localising..." page).
//! - `metrics`: the service's own Prometheus metrics (`GET /metrics`).
//! - `telemetry`: tracing, with OTLP export of rca's own spans.

pub mod adhoc;
pub mod config;
pub mod journal;
pub mod metrics;
pub mod nats;
pub mod queue;
pub mod telemetry;
pub mod webhook;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use graph::store::{Background, GraphStore};
use ingest::collect::{AccessLogDir, JaegerSource, LogStoreSource, PrometheusSource, Sources};
use tokio::net::TcpListener;
use tracing::{info, warn};

pub use config::Config;
pub use queue::{IncidentState, Incidents};

/// How long in-flight incidents may take to finish after shutdown is asked.
const DRAIN: Duration = Duration::from_secs(10);

/// What the server needs besides its listener.
pub struct Service {
    pub config: Config,
    pub store: Arc<dyn GraphStore>,
    pub sources: Sources,
    /// The tracker every task of the server runs on (the store's, opened
    /// with it, too) and the token that stops them all.
    pub background: Background,
}

/// The live sources a configuration names; an empty URL or directory leaves
/// that modality out (and so reported missing).
pub fn sources_from(cfg: &Config) -> anyhow::Result<Sources> {
    let timeout = cfg.collect_timeout();
    let traces: Option<Arc<dyn ingest::collect::TraceSource>> = if cfg.jaeger.url.is_empty() {
        None
    } else {
        let mut exclude = cfg.jaeger.exclude_services.clone();
        exclude.push(cfg.telemetry.service_name.clone());
        let mut source = JaegerSource::new(
            &cfg.jaeger.url,
            cfg.jaeger.services.clone(),
            exclude,
            cfg.jaeger.max_traces,
            timeout,
        )
        .with_search(cfg.jaeger.search)
        .with_parallel(cfg.jaeger.parallel)
        .with_sampling(Some(ingest::sample::TraceSampling {
            per_slice: cfg.jaeger.sample_per_slice,
            slices: cfg.jaeger.sample_slices,
        }));
        if let Some(grpc) = cfg.jaeger.grpc_endpoint() {
            source = source.with_grpc(&grpc)?;
        }
        Some(Arc::new(source) as _)
    };
    let metrics: Option<Arc<dyn ingest::collect::MetricSource>> = if cfg.prometheus.url.is_empty() {
        None
    } else {
        Some(Arc::new(PrometheusSource::new(
            &cfg.prometheus.url,
            cfg.prometheus.queries.clone(),
            Duration::from_secs_f64(cfg.prometheus.step_seconds),
            timeout,
        )?))
    };
    let store = (!cfg.logs.url.is_empty()).then(|| {
        Arc::new(
            LogStoreSource::new(
                cfg.logs.backend,
                &cfg.logs.url,
                cfg.logs.effective_queries(),
                cfg.logs.limit,
                timeout,
            )
            .with_headers(cfg.logs.headers.clone()),
        )
    });
    let logs: Option<Arc<dyn ingest::collect::LogSource>> = store
        .clone()
        .filter(|s| s.has(ingest::collect::LogKind::Application))
        .map(|s| s as _);
    // An access query in the log store replaces the directory.
    let access: Option<Arc<dyn ingest::collect::AccessLogSource>> = if cfg.logs.serves_access() {
        store.map(|s| s as _)
    } else {
        (!cfg.access_logs.dir.is_empty())
            .then(|| Arc::new(AccessLogDir::new(&cfg.access_logs.dir)) as _)
    };
    let goroutines: Option<Arc<dyn ingest::collect::GoroutineDumpSource>> =
        (!cfg.goroutines.endpoints.is_empty()).then(|| {
            let endpoints = cfg
                .goroutines
                .endpoints
                .iter()
                .map(|(component, e)| (component.clone(), e.urls()))
                .collect();
            Arc::new(
                ingest::collect::PprofSource::new(endpoints, timeout)
                    .with_second_dump(Duration::from_secs_f64(cfg.goroutines.second_dump_seconds)),
            ) as _
        });
    Ok(Sources {
        traces,
        metrics,
        access,
        logs,
        goroutines,
        timeout,
    })
}

/// A running service's handle for tests and benchmarks: its incident table.
#[derive(Clone)]
pub struct Handle {
    pub incidents: Arc<Incidents>,
    pub base_url: String,
}

/// Serves on `listener` until `shutdown` completes, then stops taking
/// webhooks, lets in-flight incidents finish (at most 10 s), closes the
/// store and returns.
/// `on_ready` gets the handle once the server accepts requests.
pub async fn run(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    service: Service,
    on_ready: impl FnOnce(Handle),
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let base_url = service.config.base_url(addr);
    let Background {
        tasks: tracker,
        stop: cancel,
    } = service.background.clone();
    let metrics = Arc::new(metrics::Metrics::new());
    let recordings = if service.config.recordings.enabled {
        let (dir, limits) = (
            service.config.data_dir.clone(),
            service.config.recordings.limits(),
        );
        let opened =
            tokio::task::spawn_blocking(move || graph::store::Recordings::open(&dir, limits))
                .await?
                .map_err(|e| anyhow::anyhow!("recordings: {e}"))?;
        Some(Arc::new(opened))
    } else {
        None
    };
    let (dispatch, incidents) = queue::start(
        &service.config,
        service.store.clone(),
        service.sources.clone(),
        metrics.clone(),
        recordings.clone(),
        &service.background,
    )
    .await?;
    let jaeger_ui =
        (!service.config.jaeger.url.is_empty()).then(|| service.config.jaeger.url.clone());
    let token = (!service.config.token.is_empty()).then(|| service.config.token.clone());
    let pages = web::AppState::new(
        service.store.clone(),
        Some(Arc::new(adhoc::ServeLocaliser {
            sources: service.sources.clone(),
            incidents: incidents.clone(),
        })),
        web::PageOptions {
            jaeger_base_url: jaeger_ui,
            base_url: Some(base_url.clone()),
            token: token.clone(),
            ..web::PageOptions::default()
        },
    )?;
    let pages = match recordings {
        Some(r) => pages.with_recordings(r),
        None => pages,
    };
    let state = Arc::new(webhook::Intake {
        base_url: base_url.clone(),
        body_limit: service.config.body_limit_bytes,
        store: service.store.clone(),
        dispatch,
        incidents: incidents.clone(),
        metrics,
    });
    let app = webhook::router(state, token).merge(web::router(pages));
    info!(%addr, %base_url, "rca serve listening");
    on_ready(Handle {
        incidents,
        base_url,
    });
    let stop = cancel.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop.cancel();
        })
        .await?;
    cancel.cancel();
    tracker.close();
    if tokio::time::timeout(DRAIN, tracker.wait()).await.is_err() {
        warn!(
            drain_s = DRAIN.as_secs(),
            "incidents still running at shutdown were abandoned"
        );
    }
    service.store.close().await;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
