//! Goroutine dumps: each component's dumps analysed over the window (see
//! `crate::goroutines` for the rules), scored on the engine's scale.

use ingest::Observations;

use super::GoroutineLeakSeen;
use crate::goroutines::Analysis;
use crate::params::Params;
use crate::window::Buckets;

/// How strongly a component's dumps show a leak, as a z: the growth of the
/// goroutines the rules find leaking against their count (a Poisson z,
/// `growth / √count`), or with one dump `√stuck` of those that have waited
/// minutes (a count whose expectation, in a healthy program, is none). A leak
/// the runtime proved is certain: at least `p.proved_leak_z` (see there),
/// more when the dumps' own evidence is stronger.
fn leak_score(a: &Analysis, p: &Params) -> f64 {
    let inferred = || a.leaks.iter().filter(|l| l.heuristic);
    let leaked: u64 = inferred().map(|l| l.count).sum();
    let grown: i64 = inferred().map(|l| l.growth.max(0)).sum();
    let z = if a.dumps > 1 {
        grown as f64 / (leaked.max(1) as f64).sqrt()
    } else {
        (leaked as f64).sqrt()
    };
    if a.leaks.iter().any(|l| l.proved && l.count > 0) {
        z.max(p.proved_leak_z)
    } else {
        z
    }
}

/// The first leak, in words.
fn note(a: &Analysis) -> String {
    let Some(l) = a.leaks.first() else {
        let proof = if a.proved.is_some() {
            "; the runtime's leak profile lists none"
        } else {
            ""
        };
        return format!("{} goroutines, no leak{proof}", a.goroutines);
    };
    let more = a.leaks.len() - 1;
    let more_proved = a.leaks[1..].iter().filter(|l| l.proved).count();
    format!(
        "{} goroutines ({:+}){} {} at {}, created by {}{}; pattern {}{}{}",
        l.count,
        l.growth,
        if l.proved {
            " proved leaked by the Go runtime (goroutineleak profile),"
        } else {
            ""
        },
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
        match (more, more_proved) {
            (0, _) => String::new(),
            (n, 0) => format!(" (and {n} more leaking sites)"),
            (n, k) => format!(" (and {n} more leaking sites, {k} proved)"),
        },
        if !l.proved && a.proved.is_some() {
            "; not in the runtime's leak profile (what still-reachable channels, locks or \
             sockets block, it cannot prove)"
        } else {
            ""
        },
    )
}

/// The goroutine dumps of each component, analysed over the window: each dump
/// sits in the bucket it was taken in (one without a time at the start of the
/// analysed period), and the heat of a bucket is the score of the dumps up to it.
pub(super) fn build(
    obs: &Observations,
    b: &Buckets,
    p: &Params,
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
            let z = leak_score(&crate::goroutines::analyse(&upto), p);
            for h in &mut heat[placed[k].0..] {
                *h = z;
            }
        }
        let all: Vec<&ingest::Dump> = placed.iter().map(|p| p.1).collect();
        let a = crate::goroutines::analyse(&all);
        out.push(GoroutineLeakSeen {
            component,
            score: leak_score(&a, p),
            note: note(&a),
            heat,
        });
    }
    out.sort_by_key(|g| g.component);
    out
}
