//! Sampling a window's traces: what the Jaeger collector fetches when
//! `jaeger.sample_per_slice` is set, and the same rule applied to spans
//! already in hand ([`thin`]), so that what sampling costs in accuracy is
//! measured offline on recorded incidents (`rca eval --thin-traces`).
//!
//! A window's statistics need a bounded number of requests per service and
//! stretch of time, plus every request that failed or was slow; the rest
//! repeats what the sample already says. So, for a window cut into
//! [`TraceSampling::slices`] equal slices:
//!
//! 1. **A stratified sample**: per service searched and slice, at most
//!    [`TraceSampling::per_slice`] traces. Jaeger's search answers the most
//!    recent first; [`thin`] keeps the latest-starting, per the service the
//!    trace starts at.
//! 2. **Every failing trace**: each trace with a span of error status.
//! 3. **Every slow trace**: each trace with a span of an operation that
//!    starts traces lasting at least [`SLOW_FACTOR`] times that operation's
//!    typical request (the median of its roots in the sample).
//!
//! The engine reads the union as it reads a whole window: shares and
//! quantiles per bucket then lean towards failing and slow requests, the
//! same way in the baseline and in the incident, so a change still shows
//! as a change; `rca eval --thin-traces` measures what that costs.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::model::{Micros, Observations, Span, Sym};

/// A request at least this many times its service's typical one is slow,
/// and fetched in full: a log ratio of ln 2, well past the 15% a service's
/// request time drifts under steady load, and past the tail of a healthy
/// service (a log-normal spread of 0.5 puts 8% of requests there).
pub const SLOW_FACTOR: f64 = 2.0;

/// How a window's traces are sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceSampling {
    /// Traces per service and slice. A hundred gives each slice's median a
    /// standard error of an eighth of the spread (1.25/√100), and a 1%
    /// error share one failing request a slice on top of those fetched in
    /// full.
    pub per_slice: u32,
    /// Slices the window is cut into. Twenty follow the window in steps of
    /// 5%, five to the quarter of the analysed time a cause must last.
    pub slices: u32,
}

impl Default for TraceSampling {
    fn default() -> Self {
        TraceSampling {
            per_slice: 100,
            slices: 20,
        }
    }
}

impl TraceSampling {
    /// `[start, end)` cut into the slices (see [`cut`]; a slice is at least
    /// a millisecond).
    pub fn slices_of(&self, start: Micros, end: Micros) -> Vec<(Micros, Micros)> {
        cut(start, end, i64::from(self.slices.max(1)), 1000)
    }
}

/// `[start, end)` cut into `n` equal slices in time order, or kept whole
/// when a slice would be shorter than `least` microseconds.
pub fn cut(start: Micros, end: Micros, n: i64, least: Micros) -> Vec<(Micros, Micros)> {
    let span = (end - start).max(0);
    let n = if n > 1 && span >= n * least { n } else { 1 };
    (0..n)
        .map(|i| (start + span * i / n, start + span * (i + 1) / n))
        .collect()
}

/// Per (service, operation) of the roots of traces, the least duration of a
/// slow request: [`SLOW_FACTOR`] times the median of those roots in `spans`.
/// A request is judged against its own operation, since one service's
/// operations differ by orders of magnitude (a health check against a
/// checkout); and at the root, where a slow cause anywhere below shows.
pub fn slow_thresholds<'a>(
    spans: impl IntoIterator<Item = &'a Span>,
) -> HashMap<(Sym, Sym), Micros> {
    let mut by: HashMap<(Sym, Sym), Vec<Micros>> = HashMap::new();
    for s in spans.into_iter().filter(|s| s.parent_id == 0) {
        by.entry((s.component, s.operation))
            .or_default()
            .push(s.duration);
    }
    by.into_iter()
        .map(|(k, mut d)| {
            let mid = d.len() / 2;
            let (_, median, _) = d.select_nth_unstable(mid);
            // At least a microsecond: a zero threshold would ask for all.
            let t = ((*median as f64) * SLOW_FACTOR).ceil().max(1.0) as Micros;
            (k, t)
        })
        .collect()
}

/// What [`thin`] kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Thinned {
    /// Traces before and after.
    pub traces: usize,
    pub kept: usize,
    /// Kept by the stratified sample, as failing, and as slow (a trace may
    /// be several).
    pub sampled: usize,
    pub failing: usize,
    pub slow: usize,
    pub spans: usize,
    pub spans_kept: usize,
}

impl std::ops::AddAssign for Thinned {
    fn add_assign(&mut self, r: Thinned) {
        self.traces += r.traces;
        self.kept += r.kept;
        self.sampled += r.sampled;
        self.failing += r.failing;
        self.slow += r.slow;
        self.spans += r.spans;
        self.spans_kept += r.spans_kept;
    }
}

/// Keeps of `obs`'s spans only the traces the sample would fetch (see the
/// module's documentation), for slices of `width` microseconds from
/// `origin` (the live collector cuts its window into
/// [`TraceSampling::slices`]; a recorded case may hold traces far apart,
/// a baseline taken at another hour, so the width is given).
pub fn thin(obs: &mut Observations, origin: Micros, width: Micros, per_slice: u32) -> Thinned {
    struct Trace {
        /// (start, component) of its root, or of its earliest span when no
        /// root is there.
        root: (Micros, Sym),
        has_root: bool,
        failing: bool,
    }
    let mut traces: HashMap<u128, Trace> = HashMap::new();
    for s in &obs.spans {
        let t = traces.entry(s.trace_id).or_insert(Trace {
            root: (s.start, s.component),
            has_root: false,
            failing: false,
        });
        t.failing |= s.error;
        let root = s.parent_id == 0;
        if (root && !t.has_root) || (root == t.has_root && s.start < t.root.0) {
            t.root = (s.start, s.component);
            t.has_root |= root;
        }
    }
    let width = width.max(1);
    let slice_of = |t: Micros| (t - origin).div_euclid(width);
    let mut strata: BTreeMap<(Sym, i64), Vec<(Micros, u128)>> = BTreeMap::new();
    for (id, t) in &traces {
        strata
            .entry((t.root.1, slice_of(t.root.0)))
            .or_default()
            .push((t.root.0, *id));
    }
    let mut sampled: HashSet<u128> = HashSet::new();
    for members in strata.values_mut() {
        // The most recent first, ties by id so the sample is the same on
        // every run.
        members.sort_unstable_by(|a, b| b.cmp(a));
        sampled.extend(members.iter().take(per_slice as usize).map(|&(_, id)| id));
    }
    let slow_at = slow_thresholds(obs.spans.iter().filter(|s| sampled.contains(&s.trace_id)));
    let slow: HashSet<u128> = obs
        .spans
        .iter()
        .filter(|s| {
            slow_at
                .get(&(s.component, s.operation))
                .is_some_and(|&t| s.duration >= t)
        })
        .map(|s| s.trace_id)
        .collect();
    let failing = traces.values().filter(|t| t.failing).count();
    let keep: HashSet<u128> = traces
        .iter()
        .filter(|(id, t)| t.failing || sampled.contains(id) || slow.contains(id))
        .map(|(id, _)| *id)
        .collect();
    let spans = obs.spans.len();
    obs.spans.retain(|s| keep.contains(&s.trace_id));
    Thinned {
        traces: traces.len(),
        kept: keep.len(),
        sampled: sampled.len(),
        failing,
        slow: slow.len(),
        spans,
        spans_kept: obs.spans.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SpanKind;

    fn span(
        obs: &mut Observations,
        trace: u128,
        id: u64,
        parent: u64,
        c: &str,
        start: Micros,
        d: Micros,
    ) -> Span {
        Span {
            trace_id: trace,
            span_id: id,
            parent_id: parent,
            component: obs.names.intern(c),
            operation: obs.names.intern("GET /"),
            kind: SpanKind::Server,
            start,
            duration: d,
            error: false,
            http_status: 200,
            peer: None,
            exception: None,
            event: None,
            proxy: false,
        }
    }

    #[test]
    fn slices_cover_the_window_in_order() {
        let r = TraceSampling {
            per_slice: 1,
            slices: 4,
        };
        assert_eq!(
            r.slices_of(0, 4_000_000),
            vec![
                (0, 1_000_000),
                (1_000_000, 2_000_000),
                (2_000_000, 3_000_000),
                (3_000_000, 4_000_000)
            ]
        );
        assert_eq!(r.slices_of(0, 10), vec![(0, 10)]);
    }

    #[test]
    fn thinning_keeps_a_bounded_sample_per_slice_and_every_failing_and_slow_trace() {
        let mut obs = Observations::default();
        // 2 slices of 1 s; 50 traces of front in each, 10 ms each, with a
        // call into back.
        let mut spans = Vec::new();
        for i in 0..100u64 {
            let t = u128::from(i) + 1;
            let start = (i as Micros) * 20_000;
            spans.push(span(&mut obs, t, 1, 0, "front", start, 10_000));
            spans.push(span(&mut obs, t, 2, 1, "back", start + 1000, 5_000));
        }
        // One early trace failing in back, one early slow in front.
        spans[2 * 3 + 1].error = true;
        spans[2 * 5].duration = 30_000;
        obs.spans = spans;
        let r = thin(&mut obs, 0, 1_000_000, 10);
        assert_eq!((r.traces, r.sampled, r.failing), (100, 20, 1));
        assert_eq!(r.slow, 1, "{r:?}");
        assert_eq!(r.kept, 22);
        assert_eq!(r.spans_kept, 44);
        let kept: HashSet<u128> = obs.spans.iter().map(|s| s.trace_id).collect();
        // The latest ten of each slice, and the failing (4) and slow (6) ones.
        assert!(kept.contains(&4) && kept.contains(&6));
        assert!(kept.contains(&50) && kept.contains(&41) && !kept.contains(&40));
        assert!(kept.contains(&100) && kept.contains(&91) && !kept.contains(&90));
    }

    #[test]
    fn a_window_with_fewer_traces_than_the_sample_is_kept_whole() {
        let mut obs = Observations::default();
        let spans = (0..5u64)
            .map(|i| {
                span(
                    &mut obs,
                    u128::from(i) + 1,
                    1,
                    0,
                    "front",
                    i as Micros * 1000,
                    100,
                )
            })
            .collect();
        obs.spans = spans;
        let r = thin(&mut obs, 0, 10_000, TraceSampling::default().per_slice);
        assert_eq!((r.traces, r.kept, r.spans_kept), (5, 5, 5));
    }

    #[test]
    fn the_slow_threshold_is_twice_the_median_root_of_the_operation() {
        let mut obs = Observations::default();
        let mut spans: Vec<Span> = [10, 20, 30, 40, 1000]
            .iter()
            .enumerate()
            .map(|(i, &d)| span(&mut obs, i as u128, 1, 0, "front", 0, d))
            .collect();
        // A span below the root does not count towards the typical request,
        // nor does another operation.
        spans.push(span(&mut obs, 9, 2, 1, "front", 0, 1));
        let mut health = span(&mut obs, 10, 1, 0, "front", 0, 1);
        health.operation = obs.names.intern("GET /health");
        spans.push(health);
        let t = slow_thresholds(&spans);
        let front = obs.names.intern("front");
        assert_eq!(t[&(front, obs.names.intern("GET /"))], 60);
        assert_eq!(t[&(front, obs.names.intern("GET /health"))], 2);
    }
}
