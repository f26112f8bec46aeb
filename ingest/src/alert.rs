//! Alertmanager webhook bodies (version 4).

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

use crate::error::IngestError;
use crate::model::AlertWebhook;

/// Alertmanager writes the zero time `0001-01-01T00:00:00Z` as `endsAt` of a
/// firing alert; read it, and an absent or empty value, as `None`.
pub(crate) fn de_opt_time<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let t = DateTime::parse_from_rfc3339(&raw)
        .map_err(serde::de::Error::custom)?
        .with_timezone(&Utc);
    Ok((t.timestamp() > 0).then_some(t))
}

/// Reads an Alertmanager webhook body from `bytes` (the content of `path`,
/// or a request body, for which `path` names the source in errors).
pub fn read_webhook(path: &Path, bytes: &[u8]) -> Result<AlertWebhook, IngestError> {
    let text = crate::wire::json_text(path, bytes)?;
    serde_json::from_str(text).map_err(|e| crate::wire::json_error(path, e))
}
