//! The data the page's script reads: a compact view of a [`Localisation`], embedded as JSON in a
//! `<script type="application/json">` element.
//!
//! Every string in it may come from the observed system. It is serialised by serde_json and then
//! `<`, `>` and `&` are written as `\u003c`, `\u003e`, `\u0026`, so no string can close the
//! element or open another one; the script reads it with `JSON.parse` and shows every string with
//! `textContent`.

use std::collections::BTreeMap;

use graph::{Cell, Localisation, ProxyMix, SignalSeries};
use serde::Serialize;

use crate::heatmap::Geometry;

/// Rows of the coupling view: the script shows the first this many rows that have a signal, so
/// the page carries no other series (`MAX_COUPLED` in page.js).
pub(crate) const MAX_COUPLED: usize = 20;

#[derive(Serialize)]
pub(crate) struct PageData<'a> {
    pub id: &'a str,
    pub bucket_seconds: f64,
    pub components: &'a [String],
    pub buckets: &'a [String],
    /// Index of the first analysed bucket.
    pub baseline_col: Option<usize>,
    pub root: Option<&'a str>,
    pub path: &'a [String],
    pub alert_component: Option<&'a str>,
    /// Scores times ten as integers, `all` and one per modality: a third of the bytes of floats.
    pub scores: BTreeMap<&'a str, Vec<Vec<i32>>>,
    pub geometry: Option<Geometry>,
    /// Validated base URL of the Jaeger UI, if configured.
    pub jaeger: Option<&'a str>,
    pub cells: &'a [Cell],
    pub series: Vec<&'a SignalSeries>,
    pub proxies: &'a [ProxyMix],
}

fn tenths(m: &[Vec<f64>]) -> Vec<Vec<i32>> {
    m.iter()
        .map(|row| {
            row.iter()
                .map(|v| {
                    if v.is_finite() {
                        (v * 10.0).round() as i32
                    } else {
                        -1
                    }
                })
                .collect()
        })
        .collect()
}

impl<'a> PageData<'a> {
    pub fn new(
        loc: &'a Localisation,
        baseline_col: Option<usize>,
        geometry: Option<Geometry>,
        jaeger: Option<&'a str>,
    ) -> PageData<'a> {
        let h = &loc.heatmap;
        let mut scores = BTreeMap::new();
        scores.insert("all", tenths(&h.scores));
        for (m, matrix) in &h.by_modality {
            if m != "all" {
                scores.insert(m.as_str(), tenths(matrix));
            }
        }
        PageData {
            id: &loc.incident.id,
            bucket_seconds: loc.incident.bucket_seconds,
            components: &h.components,
            buckets: &h.buckets,
            baseline_col,
            root: loc.ranking.first().map(|c| c.component.as_str()),
            path: &loc.path,
            alert_component: loc.incident.alert_component.as_deref(),
            scores,
            geometry,
            jaeger,
            cells: &loc.detail.cells,
            series: coupled(&loc.detail.series),
            proxies: &loc.detail.proxies,
        }
    }

    /// JSON that is safe inside a `<script type="application/json">` element.
    pub fn to_embedded_json(&self) -> String {
        let json = serde_json::to_string(self).expect("page data serialises");
        escape_for_script(&json)
    }
}

/// For each signal, the series of the first [`MAX_COUPLED`] rows that have it.
fn coupled(all: &[SignalSeries]) -> Vec<&SignalSeries> {
    let mut taken: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rows: Vec<&SignalSeries> = all.iter().collect();
    rows.sort_by_key(|s| s.row);
    rows.retain(|s| {
        let n = taken.entry(s.signal.as_str()).or_default();
        *n += 1;
        *n <= MAX_COUPLED
    });
    rows
}

/// Rewrites the characters that could end a script element or start markup as JSON escapes.
/// They can only occur inside JSON strings, where `\u003c` means the same character.
pub(crate) fn escape_for_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_can_close_the_element() {
        let s =
            serde_json::to_string(&["</script><script>alert(1)</script>", "a&b", "<!--"]).unwrap();
        let e = escape_for_script(&s);
        assert!(
            !e.contains('<') && !e.contains('>') && !e.contains('&'),
            "{e}"
        );
        let back: Vec<String> = serde_json::from_str(&e).unwrap();
        assert_eq!(back[0], "</script><script>alert(1)</script>");
        assert_eq!(back[1], "a&b");
    }
}
