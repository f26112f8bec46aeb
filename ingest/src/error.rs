use std::path::PathBuf;

/// Everything that can go wrong while reading observations.
///
/// Every variant names the file (or source) it came from, and the line where
/// one applies, so the CLI can say exactly what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Malformed { path: PathBuf, what: String },
    #[error("{path}:{line}: {what}")]
    MalformedLine {
        path: PathBuf,
        line: u64,
        what: String,
    },
    #[error("{path}: invalid JSON at line {line}, column {column}: {source}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },
}

impl IngestError {
    pub fn json(path: impl Into<PathBuf>, source: serde_json::Error) -> Self {
        IngestError::Json {
            path: path.into(),
            line: source.line(),
            column: source.column(),
            source,
        }
    }

    pub fn malformed(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        IngestError::Malformed {
            path: path.into(),
            what: what.into(),
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            IngestError::Io { path, .. }
            | IngestError::Malformed { path, .. }
            | IngestError::MalformedLine { path, .. }
            | IngestError::Json { path, .. } => path,
        }
    }
}
