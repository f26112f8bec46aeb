//! Serves `web::router` over an in-process store filled from Localisation JSON files (as
//! `rca replay --format json` prints them): a real HTTP server for the browser tests, until
//! `rca serve` carries the router.
//!
//! `cargo run --release -p web --example serve_pages -- [--addr 127.0.0.1:0] [--token T]
//!  [--jaeger-url URL] [--pending FINGERPRINT] LOCALISATION.json...`
//!
//! Prints `listening on http://ADDR` once bound; stops on Ctrl-C (or SIGTERM).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use graph::store::IncidentRecord;
use graph::Localisation;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr = "127.0.0.1:0".to_owned();
    let mut opts = web::PageOptions::default();
    let mut pending = BTreeSet::new();
    let mut records = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--addr" => addr = value()?,
            "--token" => opts.token = Some(value()?),
            "--jaeger-url" => opts.jaeger_base_url = Some(value()?),
            "--pending" => {
                pending.insert(value()?);
            }
            path => {
                let loc: Localisation = serde_json::from_slice(&std::fs::read(path)?)?;
                records.push(IncidentRecord {
                    localisation: loc,
                    created_at: Utc
                        .timestamp_opt(1_700_000_000 + records.len() as i64, 0)
                        .unwrap(),
                    actions: Vec::new(),
                    feedback: Vec::new(),
                    resolved_at: None,
                    recording: None,
                });
            }
        }
    }
    let answer = records
        .first()
        .map(|r| r.localisation.clone())
        .ok_or("give at least one Localisation JSON file")?;
    let store = Arc::new(common::MemoryStore::with(records));
    let localiser = Arc::new(common::FixedLocaliser { answer, pending });
    let state = web::AppState::new(store, Some(localiser), opts)?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    axum::serve(listener, web::router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
