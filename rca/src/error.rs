//! The CLI's error type and its exit codes.

use std::fmt;

/// Why a command failed; decides the exit code.
#[derive(Debug)]
pub enum CliError {
    /// Bad usage or bad input: exit code 2. The message names the file and,
    /// where it applies, the line.
    BadInput(anyhow::Error),
    /// Anything else: exit code 1.
    Failed(anyhow::Error),
}

impl CliError {
    pub fn bad(e: impl Into<anyhow::Error>) -> Self {
        CliError::BadInput(e.into())
    }

    pub fn failed(e: impl Into<anyhow::Error>) -> Self {
        CliError::Failed(e.into())
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::BadInput(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = match self {
            CliError::BadInput(e) | CliError::Failed(e) => e,
        };
        // The whole chain, outermost first: "reading fixture x: traces.json:3: ...".
        // A cause some message already quotes is not repeated.
        let mut text = String::new();
        for cause in e.chain() {
            let part = cause.to_string();
            if text.contains(&part) {
                continue;
            }
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        f.write_str(&text)
    }
}

impl From<ingest::IngestError> for CliError {
    fn from(e: ingest::IngestError) -> Self {
        CliError::BadInput(e.into())
    }
}

pub type CliResult<T> = Result<T, CliError>;
