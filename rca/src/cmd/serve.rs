//! `rca serve`: the live service (see `crate::serve`).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use graph::store::GraphStore;

use crate::cli::ServeArgs;
use crate::error::{CliError, CliResult};
use crate::serve::{self, telemetry, Config, Service};

/// The configuration `args` name: the file (if any), the process
/// environment, then the flags.
pub fn load_config(args: &ServeArgs, env: &BTreeMap<String, String>) -> CliResult<Config> {
    let file = match &args.config {
        Some(path) => Some((
            path.clone(),
            std::fs::read(path)
                .with_context(|| format!("reading {}", path.display()))
                .map_err(CliError::bad)?,
        )),
        None => None,
    };
    let mut cfg = Config::load(file.as_ref().map(|(p, b)| (p.as_path(), b.as_slice())), env)
        .map_err(CliError::bad)?;
    if let Some(listen) = args.listen {
        cfg.listen = listen;
    }
    if let Some(dir) = &args.data_dir {
        cfg.data_dir = dir.clone();
    }
    if let Some(url) = &args.queue {
        cfg.queue.url = url.clone();
        // The flag is checked as the file's key would be.
        if !url.is_empty() && !url.starts_with("nats://") {
            return Err(CliError::bad(anyhow::anyhow!(
                "--queue {url:?}: not a nats:// URL"
            )));
        }
    }
    Ok(cfg)
}

/// Opens the incident store under the data directory.
pub fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn GraphStore>> {
    open_store_at(&cfg.data_dir)
}

/// Opens the embedded incident store in `dir`, creating it if need be.
pub fn open_store_at(dir: &std::path::Path) -> anyhow::Result<Arc<dyn GraphStore>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let store = graph::store::EmbeddedStore::open(dir)
        .with_context(|| format!("opening the incident store in {}", dir.display()))?;
    Ok(Arc::new(store))
}

pub fn run(args: &ServeArgs) -> CliResult<()> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let cfg = load_config(args, &env)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::failed)?;
    runtime.block_on(async move {
        let _telemetry = telemetry::init(
            env.get("RCA_LOG").map(String::as_str),
            &cfg.telemetry.otlp_endpoint,
            &cfg.telemetry.service_name,
        )
        .map_err(CliError::failed)?;
        // Flags (and their environment variables) win over the file's [neo4j].
        let from_file = |v: &String| (!v.is_empty()).then(|| v.clone());
        let neo4j_uri = args.neo4j_uri.clone().or_else(|| from_file(&cfg.neo4j.uri));
        // The server's tasks, the store's outbox retries among them: drained
        // together at shutdown.
        let background = graph::store::Background::default();
        let store = match &neo4j_uri {
            // Neo4j, with the local copy and the outbox under the data
            // directory: incidents are served even while Neo4j is down.
            Some(uri) => graph::store::open(graph::store::StoreConfig {
                data_dir: cfg.data_dir.clone(),
                neo4j: Some(graph::store::Neo4jConfig::new(
                    uri.clone(),
                    args.neo4j_user.clone().or_else(|| from_file(&cfg.neo4j.user)),
                    args.neo4j_password
                        .clone()
                        .or_else(|| from_file(&cfg.neo4j.password)),
                )),
            }, &background)
            .await
            .with_context(|| format!("opening the Neo4j store at {uri}"))
            .map_err(CliError::failed)?,
            None => open_store(&cfg).map_err(CliError::failed)?,
        };
        match store.ensure_schema().await {
            Ok(()) => {}
            // Neo4j down at start-up: incidents are still made and served
            // from the local copy; the outbox writes them once it is back
            // (and the schema with them).
            Err(e @ graph::store::StoreError::Unavailable { .. }) => {
                tracing::warn!(error = %e, "graph store unavailable at start-up; writes wait in the outbox");
            }
            Err(e) => return Err(CliError::failed(e)),
        }
        let sources = serve::sources_from(&cfg).map_err(CliError::bad)?;
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("listening on {}", cfg.listen))
            .map_err(CliError::failed)?;
        let service = Service {
            config: cfg,
            store,
            sources,
            background,
        };
        serve::run(listener, serve::shutdown_signal(), service, |h| {
            eprintln!(
                "rca serve: listening, incidents at {}/incidents/<id>",
                h.base_url
            );
        })
        .await
        .map_err(CliError::failed)
    })
}
