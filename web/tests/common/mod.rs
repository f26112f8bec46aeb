//! Shared by the web tests and the `serve_pages` example: an in-process [`GraphStore`] and a
//! [`Localiser`] that answers from a fixed Localisation.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::Mutex;

use async_trait::async_trait;
use graph::store::{
    Gap, GraphStore, IncidentGraph, IncidentQuery, IncidentRecord, IncidentSummary, Recurring,
    StoreError,
};
use graph::Localisation;
use web::{LocaliseError, LocaliseRequest, Localiser};

/// Incidents in a vector; enough of the contract for pages and the API.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<Vec<IncidentRecord>>,
}

impl MemoryStore {
    pub fn with(records: Vec<IncidentRecord>) -> MemoryStore {
        MemoryStore {
            records: Mutex::new(records),
        }
    }
}

fn newest_first(v: &mut [IncidentRecord]) {
    v.sort_by(|a, b| {
        b.localisation
            .incident
            .starts_at
            .cmp(&a.localisation.incident.starts_at)
            .then(a.id().cmp(b.id()))
    });
}

#[async_trait]
impl GraphStore for MemoryStore {
    async fn ensure_schema(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn put(&self, record: &IncidentRecord) -> Result<(), StoreError> {
        let mut v = self.records.lock().unwrap();
        v.retain(|r| r.id() != record.id());
        v.push(record.clone());
        Ok(())
    }
    async fn get(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        Ok(self
            .records
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.id() == id)
            .cloned())
    }
    async fn incidents(&self, q: &IncidentQuery) -> Result<Vec<IncidentSummary>, StoreError> {
        let mut v = self.records.lock().unwrap().clone();
        newest_first(&mut v);
        let within = |r: &IncidentRecord| {
            let at = chrono::DateTime::parse_from_rfc3339(&r.localisation.incident.starts_at)
                .map(|t| t.with_timezone(&chrono::Utc))
                .ok();
            q.since.is_none_or(|s| at.is_some_and(|a| a >= s))
                && q.until.is_none_or(|u| at.is_some_and(|a| a < u))
        };
        let ranked = |r: &IncidentRecord| {
            q.component
                .as_ref()
                .is_none_or(|c| r.localisation.ranking.iter().any(|k| &k.component == c))
        };
        let limit = if q.limit == 0 { 50 } else { q.limit };
        Ok(v.iter()
            .filter(|r| within(r) && ranked(r))
            .skip(q.offset)
            .take(limit)
            .map(IncidentSummary::of)
            .collect())
    }
    async fn latest_for_alert(&self, fp: &str) -> Result<Option<IncidentSummary>, StoreError> {
        let mut v = self.records.lock().unwrap().clone();
        newest_first(&mut v);
        Ok(v.iter()
            .find(|r| r.localisation.incident.fingerprint == fp)
            .map(IncidentSummary::of))
    }
    async fn recurring(&self, _: &IncidentQuery) -> Result<Vec<Recurring>, StoreError> {
        Ok(Vec::new())
    }
    async fn gaps(&self) -> Result<Vec<Gap>, StoreError> {
        Ok(Vec::new())
    }
    async fn graph(&self, _: &str) -> Result<Option<IncidentGraph>, StoreError> {
        Ok(None)
    }
}

/// Answers every request with the same Localisation; alerts listed in `pending` are pending.
pub struct FixedLocaliser {
    pub answer: Localisation,
    pub pending: BTreeSet<String>,
}

#[async_trait]
impl Localiser for FixedLocaliser {
    async fn localise(&self, req: LocaliseRequest) -> Result<Localisation, LocaliseError> {
        if req.services.iter().any(|s| s == "nothing-here") {
            return Err(LocaliseError::NoData);
        }
        Ok(self.answer.clone())
    }
    fn pending(&self, fingerprint: &str) -> bool {
        self.pending.contains(fingerprint)
    }
}
