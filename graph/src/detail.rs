//! The interactive page's [`Detail`]: per-cell evidence, signal series and proxy mixes, read off
//! the scored features after ranking. Nothing here changes a verdict.

use ingest::{LogLevel, Modality, Observations, Sym};
use rustc_hash::FxHashMap;

use crate::features::{Feature, FeatureSet, Values};
use crate::params::Params;
use crate::rank::Ranked;
use crate::window::Buckets;
use crate::{Cell, CellSignal, Count, Detail, ProxyMix, SignalSeries};

/// Signals listed per cell.
const CELL_SIGNALS: usize = 3;
/// Example traces and log templates listed per cell.
const CELL_EXAMPLES: usize = 3;

/// A feature's value in bucket `i`, in its own unit (NaN: no data).
pub(crate) fn value_at(f: &Feature, i: usize) -> f64 {
    match &f.values {
        Values::Level { values, .. } => values[i],
        Values::PerRequest { values, .. } if !values[i].is_empty() => {
            crate::score::median_f32(&mut values[i].clone()).exp()
        }
        Values::Rate { num, den, .. } if den[i] > 0.0 => num[i] / den[i],
        _ => f64::NAN,
    }
}

/// Whether a feature has data in bucket `i` (a level, requests, trials).
pub(crate) fn has_data(f: &Feature, i: usize) -> bool {
    match &f.values {
        Values::Level { values, .. } => values[i].is_finite(),
        Values::PerRequest { values, .. } => !values[i].is_empty(),
        Values::Rate { den, .. } => den[i] > 0.0,
    }
}

/// Four significant digits: enough to read and to correlate, a third of the bytes.
fn sig4(v: f64) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    if v == 0.0 {
        return Some(0.0);
    }
    // Multiply or divide by an exact power of ten, never by an inexact fraction like 1e-5.
    let p = 3 - v.abs().log10().floor() as i32;
    if p >= 0 {
        let scale = 10f64.powi(p);
        Some((v * scale).round() / scale)
    } else {
        let scale = 10f64.powi(-p);
        Some((v / scale).round() * scale)
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Builds the detail; `rows` are the heatmap's components in row order.
pub(crate) fn build(
    set: &FeatureSet,
    ranked: &Ranked,
    b: &Buckets,
    obs: &Observations,
    rows: &[String],
    p: &Params,
) -> Detail {
    let row_of_name: FxHashMap<&str, u32> = rows
        .iter()
        .enumerate()
        .map(|(r, c)| (c.as_str(), r as u32))
        .collect();
    let row_of = |c: u32| {
        row_of_name
            .get(set.components[c as usize].as_str())
            .copied()
    };

    // Every signal that stands out in a cell, then the strongest few per cell.
    let mut by_cell: FxHashMap<(u32, u32), Vec<CellSignal>> = FxHashMap::default();
    let mut cell_component: FxHashMap<(u32, u32), u32> = FxHashMap::default();
    let mut note = |c: u32, i: usize, s: CellSignal| {
        if let Some(r) = row_of(c) {
            by_cell.entry((r, i as u32)).or_default().push(s);
            cell_component.insert((r, i as u32), c);
        }
    };
    for sc in &ranked.scored {
        let f = &set.features[sc.feature];
        for (i, &z) in sc.z.iter().enumerate() {
            if z.is_finite() && z >= p.significant_z {
                note(
                    f.component,
                    i,
                    CellSignal {
                        signal: f.name().to_string(),
                        modality: f.kind.spec().modality.to_string(),
                        value: sig4(value_at(f, i)),
                        baseline: sig4(sc.baseline),
                        unit: f.kind.spec().unit.as_str().to_owned(),
                        score: round1(z),
                    },
                );
            }
        }
    }
    for ch in &ranked.charges {
        let first = ch.edges.first().map(|&e| &ranked.edge_scores[e]);
        for (i, &z) in ch.z.iter().enumerate() {
            if z.is_finite() && z >= p.significant_z {
                note(
                    ch.component,
                    i,
                    CellSignal {
                        signal: ch.kind.name().to_string(),
                        modality: Modality::Traces.to_string(),
                        value: None,
                        baseline: first.and_then(|e| sig4(e.typical_us / 1000.0)),
                        unit: "ms".into(),
                        score: round1(z),
                    },
                );
            }
        }
    }

    let mut logs: FxHashMap<(u32, u32), FxHashMap<Sym, u64>> = FxHashMap::default();
    for l in obs.logs.iter().filter(|l| l.level >= LogLevel::Warn) {
        let (Some(i), Some(&r)) = (
            b.index(l.time),
            row_of_name.get(obs.names.name(l.component)),
        ) else {
            continue;
        };
        if by_cell.contains_key(&(r, i as u32)) {
            *logs
                .entry((r, i as u32))
                .or_default()
                .entry(l.template)
                .or_default() += 1;
        }
    }

    let mut cells: Vec<Cell> = by_cell
        .into_iter()
        .map(|((row, bucket), mut signals)| {
            signals.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.signal.cmp(&b.signal)));
            signals.truncate(CELL_SIGNALS);
            let c = cell_component[&(row, bucket)];
            let trace_ids = set
                .examples
                .get(&(c, bucket as usize))
                .map(|v| {
                    v.iter()
                        .take(CELL_EXAMPLES)
                        .map(|id| format!("{id:032x}"))
                        .collect()
                })
                .unwrap_or_default();
            let mut log_lines: Vec<Count> = logs
                .remove(&(row, bucket))
                .unwrap_or_default()
                .into_iter()
                .map(|(t, count)| Count {
                    value: obs.names.name(t).to_string(),
                    count,
                })
                .collect();
            log_lines.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
            log_lines.truncate(CELL_EXAMPLES);
            Cell {
                row,
                bucket,
                signals,
                trace_ids,
                log_lines,
            }
        })
        .collect();
    cells.sort_by_key(|c| (c.row, c.bucket));

    let mut series: Vec<SignalSeries> = set
        .features
        .iter()
        .filter_map(|f| {
            let row = row_of(f.component)?;
            let values: Vec<Option<f64>> = (0..b.count).map(|i| sig4(value_at(f, i))).collect();
            values.iter().any(Option::is_some).then(|| SignalSeries {
                row,
                signal: f.name().to_string(),
                modality: f.kind.spec().modality.to_string(),
                values,
            })
        })
        .collect();
    series.sort_by(|a, b| (a.row, &a.signal).cmp(&(b.row, &b.signal)));
    series.dedup_by(|a, b| a.row == b.row && a.signal == b.signal);

    let counts = |v: &Vec<(Sym, u64)>| -> Vec<Count> {
        v.iter()
            .take(8)
            .map(|(s, n)| Count {
                value: obs.names.name(*s).to_string(),
                count: *n,
            })
            .collect()
    };
    let mut proxies: Vec<ProxyMix> = set
        .proxies
        .iter()
        .filter_map(|(c, p)| {
            Some(ProxyMix {
                row: row_of(*c)?,
                top_user_agents: counts(&p.agents),
                tls_versions: counts(&p.tls),
            })
        })
        .collect();
    proxies.sort_by_key(|p| p.row);

    Detail {
        cells,
        series,
        proxies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_significant_digits() {
        assert_eq!(sig4(0.0), Some(0.0));
        assert_eq!(sig4(f64::NAN), None);
        assert_eq!(sig4(123456.0), Some(123500.0));
        assert_eq!(sig4(0.000123456), Some(0.0001235));
        assert_eq!(sig4(-1.23456), Some(-1.235));
        assert_eq!(sig4(931_412_345.0), Some(931_400_000.0));
    }
}
