//! Neo4j (placeholder while the embedded store lands).
use std::path::Path;

use super::StoreError;

/// How to reach Neo4j.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neo4jConfig {
    /// `bolt://host:7687` or `neo4j://host:7687`.
    pub uri: String,
    pub user: String,
    pub password: String,
}

pub struct Neo4jStore;

impl Neo4jStore {
    pub async fn open(_cfg: Neo4jConfig, _data_dir: &Path) -> Result<Neo4jStore, StoreError> {
        Err(StoreError::Unavailable("not built yet".into()))
    }
}
