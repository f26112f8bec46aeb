//! Goroutine dumps: each component's dumps analysed over the window (see
//! `crate::goroutines` for the rules), scored on the engine's scale.

use ingest::Observations;

use super::GoroutineLeakSeen;
use crate::window::Buckets;

/// How strongly a component's dumps show a leak, as a z: the growth of its
/// leaking goroutines against their count (a Poisson z, `growth / √count`),
/// or with one dump `√stuck` of those that have waited minutes (a count
/// whose expectation, in a healthy program, is none).
fn leak_score(a: &crate::goroutines::Analysis) -> f64 {
    let leaked: u64 = a.leaks.iter().map(|l| l.count).sum();
    let grown: i64 = a.leaks.iter().map(|l| l.growth.max(0)).sum();
    if a.dumps > 1 {
        grown as f64 / (leaked.max(1) as f64).sqrt()
    } else {
        (leaked as f64).sqrt()
    }
}

/// The goroutine dumps of each component, analysed over the window: each dump
/// sits in the bucket it was taken in (one without a time at the start of the
/// analysed period), and the heat of a bucket is the score of the dumps up to it.
pub(super) fn build(
    obs: &Observations,
    b: &Buckets,
    names: &mut Vec<String>,
) -> Vec<GoroutineLeakSeen> {
    let mut out = Vec::new();
    for cd in &obs.goroutines {
        let placed: Vec<(usize, &ingest::Dump)> = cd
            .dumps
            .iter()
            .filter_map(|d| match d.at {
                Some(t) => b.index(t).map(|i| (i, &d.dump)),
                None => Some((b.baseline_end.min(b.count.saturating_sub(1)), &d.dump)),
            })
            .collect();
        if placed.is_empty() {
            continue;
        }
        let component = match names.iter().position(|n| *n == cd.component) {
            Some(i) => i as u32,
            None => {
                names.push(cd.component.clone());
                (names.len() - 1) as u32
            }
        };
        let mut heat = vec![0.0; b.count];
        for k in 0..placed.len() {
            let upto: Vec<&ingest::Dump> = placed[..=k].iter().map(|p| p.1).collect();
            let z = leak_score(&crate::goroutines::analyse(&upto));
            for h in &mut heat[placed[k].0..] {
                *h = z;
            }
        }
        let all: Vec<&ingest::Dump> = placed.iter().map(|p| p.1).collect();
        let a = crate::goroutines::analyse(&all);
        let note = match a.leaks.first() {
            Some(l) => format!(
                "{} goroutines ({:+}) {} at {}, created by {}{}; pattern {}{}",
                l.count,
                l.growth,
                if l.blocked_in.is_empty() {
                    "blocked".to_string()
                } else {
                    format!("blocked in {}", l.blocked_in)
                },
                l.blocking_site,
                if l.created_by.is_empty() {
                    "(not shown)"
                } else {
                    &l.created_by
                },
                if l.max_wait_minutes > 0 {
                    format!(", waiting up to {} min", l.max_wait_minutes)
                } else {
                    String::new()
                },
                l.pattern,
                if a.leaks.len() > 1 {
                    format!(" (and {} more leaking sites)", a.leaks.len() - 1)
                } else {
                    String::new()
                },
            ),
            None => format!("{} goroutines, no leak", a.goroutines),
        };
        out.push(GoroutineLeakSeen {
            component,
            score: leak_score(&a),
            note,
            heat,
        });
    }
    out.sort_by_key(|g| g.component);
    out
}
