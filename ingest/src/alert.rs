//! Alertmanager webhook bodies (version 4).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// Alertmanager writes the zero time `0001-01-01T00:00:00Z` as `endsAt` of a
/// firing alert; read it, and an absent or empty value, as `None`.
pub(crate) fn de_opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let t = DateTime::parse_from_rfc3339(&raw)
        .map_err(serde::de::Error::custom)?
        .with_timezone(&Utc);
    Ok((t.timestamp() > 0).then_some(t))
}
