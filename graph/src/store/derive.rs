//! What a stored incident is made of besides its localisation, derived the
//! same way for every store: the attack path (the propagation path from root
//! cause to the alerting component), the detection rule (the alert rule that
//! fired) and the actions (suggested by rca from the fault kind and its
//! evidence, or taken, from the alert's annotations).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{Action, ActionStatus, IncidentGraph, IncidentRecord, IncidentSummary};
use crate::localisation::{FaultKind, Localisation};

/// Alert annotations whose value names an action already taken (one action
/// each), in the order they are read.
pub const TAKEN_ACTION_ANNOTATIONS: [&str; 3] = ["action", "runbook_action", "action_taken"];

/// How many user agents a suggested WAF rule blocks at most.
const WAF_MAX_AGENTS: usize = 5;

/// 16 hex digits of the SHA-256 of `parts`, each ended by a NUL byte so that
/// `["ab", "c"]` and `["a", "bc"]` differ.
pub(crate) fn short_hash<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}

/// The stable key of an attack path: its components, in order.
pub fn attack_path_id(components: &[String]) -> String {
    format!("path:{}", short_hash(components.iter().map(String::as_str)))
}

/// The alert rule that detected the incident, if the alert has a name.
pub fn detection_rule(loc: &Localisation) -> Option<&str> {
    Some(loc.incident.alert_name.as_str()).filter(|n| !n.is_empty())
}

/// The actions rca suggests for the first-ranked candidate, from its fault
/// kind and evidence. None when nothing was ranked or the kind is unknown.
pub fn suggested_actions(loc: &Localisation) -> Vec<Action> {
    let Some(top) = loc.ranking.first() else {
        return Vec::new();
    };
    let c = &top.component;
    let suggest = |id: String, description: String| Action {
        id,
        description,
        status: ActionStatus::Suggested,
    };
    match top.fault {
        FaultKind::IngressAbuse => {
            // The user agents behind the abuse, most requests first, over all
            // the evidence (the same agent may appear in several items).
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            for e in &top.evidence {
                for ua in &e.top_user_agents {
                    let n = counts.entry(ua.value.as_str()).or_default();
                    *n = (*n).max(ua.count);
                }
            }
            let mut agents: Vec<(&str, u64)> = counts.into_iter().collect();
            agents.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            agents.truncate(WAF_MAX_AGENTS);
            if agents.is_empty() {
                return vec![suggest(
                    format!("rate-limit:{c}"),
                    format!("rate-limit clients at {c}: its traffic mix changed but no user agent stands out"),
                )];
            }
            let mut names: Vec<&str> = agents.iter().map(|a| a.0).collect();
            let list = names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            // The id does not depend on the order of equal counts.
            names.sort_unstable();
            vec![suggest(
                format!("waf:block-user-agent:{}", short_hash(names)),
                format!("WAF rule at {c}: block requests whose User-Agent is one of {list}"),
            )]
        }
        FaultKind::CpuSaturation => vec![suggest(
            format!("scale:{c}"),
            format!("scale out {c} (more replicas or a higher CPU limit)"),
        )],
        FaultKind::ConnectionPoolExhaustion => vec![
            suggest(
                format!("pool:{c}"),
                format!(
                    "raise the connection pool size of {c}, or find what holds its connections"
                ),
            ),
            suggest(format!("scale:{c}"), format!("scale out {c}")),
        ],
        FaultKind::MemoryLeak | FaultKind::GoroutineLeak => vec![suggest(
            format!("restart:{c}"),
            format!("restart {c} to release what leaked, and take a profile before it grows back"),
        )],
        FaultKind::NetworkDelay => vec![suggest(
            format!("network:{c}"),
            format!("check the network of {c}: its calls slowed on the wire"),
        )],
        FaultKind::Latency => vec![suggest(
            format!("profile:{c}"),
            format!("profile {c}: its own processing slowed (locks, queues, a slow code path)"),
        )],
        FaultKind::ErrorReturn | FaultKind::Exception => vec![suggest(
            format!("rollback:{c}"),
            format!("roll back the latest change to {c}"),
        )],
        FaultKind::LockContention => vec![suggest(
            format!("contention:{c}"),
            format!("find what holds the lock or pool {c} waits for (a long transaction, a slow holder), or shorten what runs under it"),
        )],
        FaultKind::Queueing => vec![
            suggest(
                format!("workers:{c}"),
                format!("raise the worker or client pool of {c}: its requests queue before their calls go out"),
            ),
            suggest(format!("scale:{c}"), format!("scale out {c}")),
        ],
        FaultKind::ServiceDown => vec![suggest(
            format!("restore:{c}"),
            format!("bring {c} back: its callers' calls go unanswered (check its pods, its process, its health checks)"),
        )],
        FaultKind::Unknown => Vec::new(),
    }
}

/// The actions the alert's annotations say were taken.
pub fn taken_actions(annotations: &BTreeMap<String, String>) -> Vec<Action> {
    TAKEN_ACTION_ANNOTATIONS
        .iter()
        .filter_map(|k| annotations.get(*k))
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(|v| Action {
            id: format!("taken:{}", short_hash([v])),
            description: v.to_string(),
            status: ActionStatus::Taken,
        })
        .collect()
}

impl IncidentRecord {
    /// The record of a fresh localisation: its taken actions (from the
    /// alert's annotations) first, then rca's suggestions not already taken.
    pub fn new(localisation: Localisation, created_at: DateTime<Utc>) -> IncidentRecord {
        let mut actions = taken_actions(&localisation.incident.annotations);
        for a in suggested_actions(&localisation) {
            if !actions.iter().any(|t| t.id == a.id) {
                actions.push(a);
            }
        }
        IncidentRecord {
            localisation,
            created_at,
            actions,
            feedback: Vec::new(),
            resolved_at: None,
            recording: None,
        }
    }

    /// The alert rule that detected it, if the alert has a name.
    pub fn detection_rule(&self) -> Option<&str> {
        detection_rule(&self.localisation)
    }

    /// Its attack path's key, if it has a path.
    pub fn attack_path_id(&self) -> Option<String> {
        let path = &self.localisation.path;
        (!path.is_empty()).then(|| attack_path_id(path))
    }

    /// The alert's start as a time (the localisation keeps RFC 3339 text).
    pub fn starts_at(&self) -> Result<DateTime<Utc>, super::StoreError> {
        parse_time(&self.localisation.incident.starts_at).ok_or_else(|| {
            super::StoreError::Corrupt {
                what: format!("incident {}", self.id()),
                reason: format!(
                    "starts_at {:?} is not an RFC 3339 time",
                    self.localisation.incident.starts_at
                ),
            }
        })
    }

    /// Checks what the stores rely on: an id and a readable start.
    pub fn validate(&self) -> Result<(), super::StoreError> {
        if self.id().is_empty() {
            return Err(super::StoreError::Invalid("it has no id".into()));
        }
        self.starts_at().map(|_| ())
    }

    /// A digest of everything stored but `created_at`: two puts with the
    /// same content are the same incident, whenever they were made. (A
    /// record without verdicts digests as it did before verdicts existed.)
    pub(crate) fn content_digest(&self) -> String {
        let json = if self.feedback.is_empty() && self.resolved_at.is_none() {
            serde_json::to_string(&(&self.localisation, &self.actions))
        } else {
            serde_json::to_string(&(
                &self.localisation,
                &self.actions,
                &self.feedback,
                &self.resolved_at,
            ))
        };
        short_hash([json.unwrap_or_default().as_str()])
    }
}

pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl IncidentGraph {
    /// The graph of one record, as every store answers it.
    pub fn of(record: &IncidentRecord) -> IncidentGraph {
        let l = &record.localisation;
        IncidentGraph {
            incident: IncidentSummary::of(record),
            root_causes: l
                .ranking
                .iter()
                .enumerate()
                .map(|(i, c)| (c.component.clone(), i as u32 + 1, c.score))
                .collect(),
            calls: l.edges.clone(),
            path: l.path.clone(),
            detection_rule: record.detection_rule().unwrap_or_default().to_string(),
            actions: record.actions.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_separate_their_parts() {
        assert_ne!(short_hash(["ab", "c"]), short_hash(["a", "bc"]));
        assert_eq!(short_hash(["a"]).len(), 16);
    }

    #[test]
    fn taken_actions_come_from_known_annotations_only() {
        let mut ann = BTreeMap::new();
        ann.insert("summary".to_string(), "High 4xx".to_string());
        ann.insert(
            "action".to_string(),
            " blocked bad bots at the WAF ".to_string(),
        );
        ann.insert("runbook_action".to_string(), "  ".to_string());
        let taken = taken_actions(&ann);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].description, "blocked bad bots at the WAF");
        assert_eq!(taken[0].status, ActionStatus::Taken);
        assert!(taken[0].id.starts_with("taken:"));
    }
}
