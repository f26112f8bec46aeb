//! Trace features: each request split into what every component did itself
//! and what it waited for.
//!
//! - A span's kind is read from the data where it is missing: a span whose
//!   parent is in another component serves a request; a span of unknown kind
//!   whose children are all in other components is the caller's side of a
//!   call (its time is the wire's and the callee's, not its own).
//! - *Own time* of a request in a component: its entry span's duration less
//!   the union of the intervals during which the request waited on calls
//!   into other components. A call's *wire time* (client span minus the
//!   callee's server span, or the whole client span for an uninstrumented
//!   peer) belongs to the edge.
//! - A span *fails* when it has error status, a 5xx, or its component wrote
//!   an error line about itself in it; an error *originates* at a failing
//!   span none of whose descendants fail.
//! - *Call structure*: how many calls into other components each request
//!   makes; a request whose call failed is judged by that callee, not by
//!   its shape (a failed call ends the flow early).

use ingest::{Micros, Observations, Span, SpanKind, Sym};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{
    Attribution, Context, EdgeSource, EdgeStats, Feature, FeatureSet, Registry, RequestTimes,
    Values,
};
use crate::score::sample_stats;
use crate::signal::SignalKind;
use crate::window::Buckets;

/// `ln((x + soft) / (typical + soft))`: 0 for a typical request, ln 2 for one
/// twice as slow.
pub fn log_ratio(x: f64, typical: f64, soft: f64) -> f64 {
    ((x.max(0.0) + soft) / (typical.max(0.0) + soft)).ln()
}

const NONE: u32 = u32::MAX;

/// Per (component, bucket) trace aggregates.
#[derive(Clone, Copy, Default)]
struct Cell {
    entry: f64,
    entry_err: f64,
    origin_err: f64,
    exceptions: f64,

    /// Requests judged for their calls, and those that made fewer calls than
    /// any baseline request of their operation.
    calls_n: f64,
    calls_short: f64,

    /// Calls into this component of operations that always reached it in
    /// the baseline, and those of them it did not answer (no span of it
    /// under the caller's client span).
    calls_in: f64,
    unanswered: f64,

    slowest: (Micros, u128),
    first_error: Option<u128>,
}

/// Tables by component id (the registry's dense ids), each made on first
/// use: a vector, not a hash map looked up once per span.
struct ByComponent<T>(Vec<Option<T>>);

impl<T> Default for ByComponent<T> {
    fn default() -> Self {
        ByComponent(Vec::new())
    }
}

impl<T> ByComponent<T> {
    fn get_or(&mut self, c: u32, make: impl FnOnce() -> T) -> &mut T {
        let c = c as usize;
        if self.0.len() <= c {
            self.0.resize_with(c + 1, || None);
        }
        self.0[c].get_or_insert_with(make)
    }

    fn get_mut(&mut self, c: u32) -> Option<&mut T> {
        self.0.get_mut(c as usize).and_then(Option::as_mut)
    }

    fn take(&mut self, c: u32) -> Option<T> {
        self.0.get_mut(c as usize).and_then(Option::take)
    }

    /// The tables made, by ascending component id.
    fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(c, t)| t.as_ref().map(|t| (c as u32, t)))
    }
}

/// The structure of the spans: parents, children, kinds, failures.
struct Tree {
    parents: Vec<u32>,
    /// Children of span `i`: `kids[kid_start[i]..kid_start[i + 1]]`.
    kid_start: Vec<u32>,
    kids: Vec<u32>,
    /// Sum of children's durations.
    child_sum: Vec<Micros>,
    /// Its parent is a span of another component.
    remote: Vec<bool>,
    /// The caller's side of a call (client span, or one of unknown kind
    /// whose children are all remote).
    client: Vec<bool>,
    /// Serves a request: kind server or consumer, a root, or a parent elsewhere.
    entry: Vec<bool>,
    fails: Vec<bool>,
    /// Fails, but its own error line names another component as the cause.
    blamed: Vec<bool>,
    /// Some descendant fails.
    fails_below: Vec<bool>,
    /// For a client span of an operation whose every call in the baseline
    /// reached one other component: that component.
    reaches: Vec<Option<Sym>>,
    /// Such a span with no span of that component under it: a call its
    /// callee did not answer (down, or its span lost).
    lost: Vec<bool>,
}

impl Tree {
    fn children(&self, i: usize) -> &[u32] {
        &self.kids[self.kid_start[i] as usize..self.kid_start[i + 1] as usize]
    }

    /// A client span with no child naming a peer elsewhere: a call to an
    /// uninstrumented component (a database, a cache, a third party).
    fn uninstrumented_peer(&self, spans: &[Span], i: usize) -> Option<Sym> {
        if self.lost[i] {
            return None;
        }
        let s = &spans[i];
        let client = matches!(s.kind, SpanKind::Client | SpanKind::Producer);
        match (
            client,
            self.child_sum[i] == 0 && self.children(i).is_empty(),
            s.peer,
        ) {
            (true, true, Some(peer)) if peer != s.component => Some(peer),
            _ => None,
        }
    }

    /// The call's time on the wire, for a span whose parent is the caller's
    /// client span in another component.
    fn wire_into(&self, spans: &[Span], i: usize) -> Option<Micros> {
        let p = self.parents[i];
        if p == NONE {
            return None;
        }
        let p = p as usize;
        (self.remote[i] && self.client[p]).then(|| (spans[p].duration - spans[i].duration).max(0))
    }
}

/// Error lines by the span they were written in.
#[derive(Default)]
pub(super) struct LoggedErrors {
    /// About the writing component itself.
    pub own: FxHashSet<u64>,
    /// Naming another component: a call to it failed.
    pub about_other: FxHashSet<u64>,
}

fn is_error_status(s: &Span) -> bool {
    s.error || s.http_status >= 500
}

fn tree(spans: &[Span], logged: &LoggedErrors) -> Tree {
    let n = spans.len();
    let mut by_id: FxHashMap<u64, u32> = FxHashMap::default();
    by_id.reserve(n);
    for (i, s) in spans.iter().enumerate() {
        by_id.insert(s.span_id, i as u32);
    }
    let mut parents = vec![NONE; n];
    let mut kid_count = vec![0u32; n + 1];
    for (i, s) in spans.iter().enumerate() {
        if s.parent_id == 0 {
            continue;
        }
        if let Some(&p) = by_id.get(&s.parent_id) {
            // A parent must share the trace (ids may repeat across traces).
            if spans[p as usize].trace_id == s.trace_id && p as usize != i {
                parents[i] = p;
                kid_count[p as usize] += 1;
            }
        }
    }
    let mut kid_start = vec![0u32; n + 1];
    for i in 0..n {
        kid_start[i + 1] = kid_start[i] + kid_count[i];
    }
    let mut fill = kid_start.clone();
    let mut kids = vec![0u32; kid_start[n] as usize];
    let mut child_sum = vec![0 as Micros; n];
    // The parents' components, read here at random, from a dense copy
    // rather than from the spans themselves (a cache line per read).
    let comp: Vec<Sym> = spans.iter().map(|s| s.component).collect();
    let mut remote = vec![false; n];
    let mut remote_child = vec![false; n];
    let mut local_child = vec![false; n];
    for (i, s) in spans.iter().enumerate() {
        let p = parents[i];
        if p == NONE {
            continue;
        }
        let p = p as usize;
        kids[fill[p] as usize] = i as u32;
        fill[p] += 1;
        child_sum[p] += s.duration.max(0);
        if comp[p] != comp[i] {
            remote[i] = true;
            remote_child[p] = true;
        } else {
            local_child[p] = true;
        }
    }
    // A client span whose parent is in another component and that names no
    // peer but its own component is that component's only trace: a client
    // library with a tracer of its own, named after the database or cache it
    // calls (HotROD's `mysql` and `redis-manual`: `SQL SELECT` under
    // customer's handler, `peer.service = mysql`). Nothing else measures the
    // callee, so the span serves the request for it: its time is the
    // callee's own, not a call out of nowhere that no component answers.
    let stands_for_callee = |i: usize| {
        let s = &spans[i];
        remote[i] && s.peer.is_none_or(|p| p == s.component) && !remote_child[i]
    };
    let client: Vec<bool> = (0..n)
        .map(|i| match spans[i].kind {
            SpanKind::Client | SpanKind::Producer => !stands_for_callee(i),
            SpanKind::Unspecified => remote_child[i] && !local_child[i],
            _ => false,
        })
        .collect();
    let entry: Vec<bool> = (0..n)
        .map(|i| {
            let s = &spans[i];
            !client[i]
                && (matches!(s.kind, SpanKind::Server | SpanKind::Consumer)
                    || parents[i] == NONE
                    || remote[i])
        })
        .collect();
    let blamed: Vec<bool> = spans
        .iter()
        .map(|s| logged.about_other.contains(&s.span_id) && !logged.own.contains(&s.span_id))
        .collect();
    let fails: Vec<bool> = spans
        .iter()
        .zip(&blamed)
        .map(|(s, &b)| b || is_error_status(s) || logged.own.contains(&s.span_id))
        .collect();
    // Carry each failure up to its ancestors; a walk ends at an ancestor an
    // earlier walk marked, whose own ancestors that walk marked too, so
    // each span is marked once (and a cycle in broken data ends the walk).
    let mut fails_below = vec![false; n];
    for i in 0..n {
        if !fails[i] {
            continue;
        }
        let mut p = parents[i];
        while p != NONE && !fails_below[p as usize] {
            fails_below[p as usize] = true;
            p = parents[p as usize];
        }
    }
    Tree {
        parents,
        kid_start,
        kids,
        child_sum,
        remote,
        client,
        entry,
        fails,
        blamed,
        fails_below,
        reaches: vec![None; n],
        lost: vec![false; n],
    }
}

/// Which component each client operation calls, learnt from the baseline:
/// a `(component, operation)` whose client spans in the baseline had a span
/// of another component under them at least `min` times, always the same
/// one. A later client span of that operation with no span of its callee
/// under it is a call that callee did not answer: a failed call to a
/// stopped service carries no server address, and a call whose server span
/// was lost names only an address, yet the baseline knows whom it called.
fn learn_callees(spans: &[Span], t: &mut Tree, in_baseline: impl Fn(&Span) -> bool, min: usize) {
    // (callee, calls), or None once two callees were seen.
    let mut seen: FxHashMap<(Sym, Sym), Option<(Sym, usize)>> = FxHashMap::default();
    for (i, s) in spans.iter().enumerate() {
        let p = t.parents[i];
        if p == NONE || !t.client[p as usize] || !in_baseline(&spans[p as usize]) {
            continue;
        }
        let pc = &spans[p as usize];
        if !t.remote[i] {
            continue;
        }
        let e = seen
            .entry((pc.component, pc.operation))
            .or_insert(Some((s.component, 0)));
        *e = match *e {
            Some((c, k)) if c == s.component => Some((c, k + 1)),
            _ => None,
        };
    }
    let callee: FxHashMap<(Sym, Sym), Sym> = seen
        .into_iter()
        .filter_map(|(k, v)| v.filter(|(_, n)| *n >= min).map(|(c, _)| (k, c)))
        .collect();
    if callee.is_empty() {
        return;
    }
    for (i, s) in spans.iter().enumerate() {
        if !matches!(s.kind, SpanKind::Client | SpanKind::Producer) {
            continue;
        }
        let Some(&x) = callee.get(&(s.component, s.operation)) else {
            continue;
        };
        t.reaches[i] = Some(x);
        t.lost[i] = !t.children(i).iter().any(|&k| t.remote[k as usize]);
    }
}

/// Each request's own time in its component: from its entry span's start
/// to its end, less the time during which any span of the request in that
/// component waited on a call into another component (the union of the
/// calls' intervals). Read per request rather than per span because a
/// component's spans need not nest: a handler span beside the client span
/// it waits for would otherwise count the call as its own work. `Some`
/// only for entry spans.
///
/// Also, per entry span that made calls, its own time after its last call
/// ended: the rest of its own time came before its calls went out. Both
/// are indexed by span.
fn request_own_times(
    spans: &[Span],
    t: &Tree,
    entry_of: &[u32],
) -> (Vec<Option<Micros>>, Vec<Option<Micros>>) {
    let n = spans.len();
    // (entry, start, end) of every call out of a request.
    let mut calls: Vec<(u32, Micros, Micros)> = Vec::new();
    for j in 0..n {
        let pj = t.parents[j];
        if t.remote[j] {
            let p = pj as usize;
            let (from, to) = if t.client[p] {
                (spans[p].start, spans[p].start + spans[p].duration.max(0))
            } else {
                (spans[j].start, spans[j].start + spans[j].duration.max(0))
            };
            calls.push((entry_of[p], from, to));
        } else if t.uninstrumented_peer(spans, j).is_some() || t.lost[j] {
            let s = &spans[j];
            calls.push((entry_of[j], s.start, s.start + s.duration.max(0)));
        }
    }
    // Grouped by request with a counting sort (entries are span indices),
    // then each request's few calls by start.
    let mut group = vec![0u32; n + 1];
    for c in &calls {
        group[c.0 as usize + 1] += 1;
    }
    for i in 0..n {
        group[i + 1] += group[i];
    }
    let mut fill = group.clone();
    let mut by_request: Vec<(Micros, Micros)> = vec![(0, 0); calls.len()];
    for &(e, from, to) in &calls {
        by_request[fill[e as usize] as usize] = (from, to);
        fill[e as usize] += 1;
    }
    drop((calls, fill));
    let mut waited: Vec<Micros> = vec![0; n];
    let mut tails: Vec<Option<Micros>> = vec![None; n];
    for e in 0..n {
        let mine = &mut by_request[group[e] as usize..group[e + 1] as usize];
        if mine.is_empty() {
            continue;
        }
        mine.sort_unstable();
        let (lo, hi) = {
            let s = &spans[e];
            (s.start, s.start + s.duration.max(0))
        };
        let mut total = 0;
        let mut cur: Option<(Micros, Micros)> = None;
        for &(from, to) in mine.iter() {
            let (a, b) = (from.max(lo), to.min(hi));
            if b <= a {
                continue;
            }
            cur = match cur {
                Some((x, y)) if a <= y => Some((x, y.max(b))),
                Some((x, y)) => {
                    total += y - x;
                    Some((a, b))
                }
                None => Some((a, b)),
            };
        }
        if let Some((x, y)) = cur {
            total += y - x;
            tails[e] = Some((hi - y).max(0));
        }
        waited[e] = total;
    }
    let own = (0..n)
        .map(|i| {
            t.entry[i].then(|| {
                let d = spans[i].duration.max(0);
                d - waited[i].min(d)
            })
        })
        .collect();
    (own, tails)
}

/// Each span's operation, `(component, operation)`, as a dense index into
/// the returned list of operations, so that per-operation tables are
/// vectors rather than hash maps looked up once per span and table.
fn operation_index(spans: &[Span]) -> (Vec<u32>, Vec<(Sym, Sym)>) {
    let mut index: FxHashMap<(Sym, Sym), u32> = FxHashMap::default();
    let mut ops = Vec::new();
    let ix = spans
        .iter()
        .map(|s| {
            let key = (s.component, s.operation);
            *index.entry(key).or_insert_with(|| {
                ops.push(key);
                (ops.len() - 1) as u32
            })
        })
        .collect();
    (ix, ops)
}

/// The typical value per operation of the baseline's samples, for
/// operations seen at least `min` times.
fn typicals_by_op(m: Vec<Vec<f64>>, min: usize) -> Vec<Option<f64>> {
    m.into_iter()
        .map(|mut v| {
            if v.len() >= min {
                crate::score::median(&mut v)
            } else {
                None
            }
        })
        .collect()
}

/// The typical value per key of the baseline's samples, for keys seen at
/// least `min` times.
fn typicals<K: std::hash::Hash + Eq>(m: FxHashMap<K, Vec<f64>>, min: usize) -> FxHashMap<K, f64> {
    m.into_iter()
        .filter(|(_, v)| v.len() >= min)
        .filter_map(|(k, mut v)| crate::score::median(&mut v).map(|med| (k, med)))
        .collect()
}

pub(super) fn build(
    obs: &Observations,
    b: &Buckets,
    ctx: &Context,
    logged: &LoggedErrors,
    reg: &mut Registry,
    set: &mut FeatureSet,
    proxies: &mut Vec<u32>,
) {
    let spans = &obs.spans;
    if spans.is_empty() {
        return;
    }
    let p = ctx.params;
    let mut t = tree(spans, logged);
    let n = spans.len();
    let in_baseline = |s: &Span| b.index(s.start).is_some_and(|bi| bi < b.baseline_end);
    learn_callees(spans, &mut t, in_baseline, p.min_baseline_requests);

    // Data is cut where the baseline ends and where the window ends: a span
    // still running at the last span start of its part may have lost its
    // children to the cut, so its own time and its calls are not judged.
    // The baseline is cut where it ends; the window where its data ends.
    let last_base = b.start_of(b.baseline_end);
    let last_now = spans
        .iter()
        .filter(|s| b.index(s.start).is_some_and(|bi| bi >= b.baseline_end))
        .map(|s| s.start)
        .max()
        .unwrap_or(Micros::MIN);
    let complete = |s: &Span| -> bool {
        let cut = if in_baseline(s) { last_base } else { last_now };
        s.start + s.duration <= cut
    };

    // The entry span each span's work belongs to (its request in its component).
    let mut entry_of = vec![NONE; n];
    for i in 0..n {
        let mut j = i;
        let mut hops = 0;
        while !t.entry[j] && entry_of[j] == NONE && t.parents[j] != NONE && hops < 256 {
            j = t.parents[j] as usize;
            hops += 1;
        }
        entry_of[i] = if entry_of[j] != NONE {
            entry_of[j]
        } else {
            j as u32
        };
    }
    // Requests in which their component wrote an error naming another
    // component: their failed calls failed for a cause there.
    let mut blamed_request = vec![false; n];
    for i in 0..n {
        if t.blamed[i] {
            blamed_request[entry_of[i] as usize] = true;
        }
    }

    // Calls into other components each request made, and whether one failed.
    let mut calls_out = vec![0u32; n];
    let mut call_failed = vec![false; n];
    for i in 0..n {
        if t.blamed[i] {
            call_failed[entry_of[i] as usize] = true;
        }
        if t.remote[i] {
            let e = entry_of[t.parents[i] as usize] as usize;
            calls_out[e] += 1;
            if t.fails[i] || t.fails_below[i] {
                call_failed[e] = true;
            }
        } else if t.uninstrumented_peer(spans, i).is_some() || t.lost[i] {
            let e = entry_of[i] as usize;
            calls_out[e] += 1;
            if t.fails[i] {
                call_failed[e] = true;
            }
        }
    }

    let (own_time, tails) = request_own_times(spans, &t, &entry_of);

    // Each operation's typical own time, latency and calls in the baseline,
    // and each edge's typical wire time: spans are compared with their own
    // operation, so a change in the mix of requests is not a slowdown.
    let (op_ix, ops) = operation_index(spans);
    let mut base_own: Vec<Vec<f64>> = vec![Vec::new(); ops.len()];
    let mut base_lat: Vec<Vec<f64>> = vec![Vec::new(); ops.len()];
    let mut base_calls: Vec<Vec<f64>> = vec![Vec::new(); ops.len()];
    let mut base_wire: FxHashMap<(Sym, Sym), Vec<f64>> = FxHashMap::default();
    let mut ops_seen: Vec<usize> = vec![0; ops.len()];
    for (i, s) in spans.iter().enumerate() {
        if !in_baseline(s) {
            continue;
        }
        let op = op_ix[i] as usize;
        let whole = complete(s);
        if let (Some(own), true) = (own_time[i], whole) {
            base_own[op].push(own as f64);
        }
        if t.entry[i] {
            ops_seen[op] += 1;
            base_lat[op].push(s.duration as f64);
            if !call_failed[i] && whole {
                base_calls[op].push(f64::from(calls_out[i]));
            }
        }
        if let (Some(w), false) = (t.wire_into(spans, i), t.fails[i]) {
            let pc = spans[t.parents[i] as usize].component;
            base_wire
                .entry((pc, s.component))
                .or_default()
                .push(w as f64);
        } else if let Some(peer) = t.uninstrumented_peer(spans, i) {
            base_wire
                .entry((s.component, peer))
                .or_default()
                .push(s.duration as f64);
        }
    }
    let min = p.min_baseline_requests;
    let base_own = typicals_by_op(base_own, min);
    let base_lat = typicals_by_op(base_lat, min);
    // The fewest calls a baseline request of the operation made: a request
    // below that was cut short (an operation may branch, 3 calls or 7, and
    // its median would call half its requests short).
    let fewest_calls: Vec<Option<f64>> = base_calls
        .into_iter()
        .map(|v| (v.len() >= min).then(|| v.into_iter().fold(f64::INFINITY, f64::min)))
        .collect();
    // Wire times are judged from one baseline call on (see `explain`); their
    // spread is pooled over the edges.
    let base_wire = typicals(base_wire, 1);
    std::thread::scope(|scope| {
        // The attribution reads only what is built by now, so it runs beside
        // the rest, which makes the registry ids and edges it is put in.
        let by_name = scope.spawn(|| {
            attribution(
                obs, b, ctx, &t, &own_time, &op_ix, &base_own, &base_lat, &base_wire,
            )
        });

        let nb = b.count;
        let mut cells: ByComponent<Vec<Cell>> = ByComponent::default();
        // Per component and bucket, each request's log(own time / its operation's
        // typical) and log(latency / typical).
        let mut own_v: ByComponent<Vec<Vec<f32>>> = ByComponent::default();
        let mut lat_v: ByComponent<Vec<Vec<f32>>> = ByComponent::default();
        let mut base_own_v: ByComponent<Vec<f64>> = ByComponent::default();
        let mut base_lat_v: ByComponent<Vec<f64>> = ByComponent::default();
        // Requests' times by operation, and client spans' by component, each
        // table's keys in the order first seen (the order `set`'s maps get them).
        let mut op_times: Vec<Vec<RequestTimes>> = vec![Vec::new(); ops.len()];
        let mut op_order: Vec<u32> = Vec::new();
        let mut client_times: ByComponent<Vec<(u32, f32)>> = ByComponent::default();
        let mut client_order: Vec<u32> = Vec::new();
        let mut edges: FxHashMap<(u32, u32), EdgeStats> = FxHashMap::default();
        let new_edge = |caller: u32, callee: u32, callee_traced: bool| EdgeStats {
            caller,
            callee,
            calls: 0,
            errors: 0,
            waits: Vec::new(),
            durations: Vec::new(),
            source: EdgeSource::Traces,
            callee_traced,
        };

        for (i, s) in spans.iter().enumerate() {
            let c = reg.id(s.component);
            if s.proxy && !proxies.contains(&c) {
                proxies.push(c);
            }
            let Some(bi) = b.index(s.start) else { continue };
            let base = bi < b.baseline_end;
            let failing = t.fails[i];
            let peer = t.uninstrumented_peer(spans, i).map(|d| reg.id(d));
            let op = op_ix[i] as usize;
            {
                let row = cells.get_or(c, || vec![Cell::default(); nb]);
                let cell = &mut row[bi];
                let whole = complete(s);
                if t.entry[i] {
                    // Each request's times in its own unit, for evidence.
                    let own = match own_time[i] {
                        Some(own) if whole => own as f32,
                        _ => f32::NAN,
                    };
                    let before = own - tails[i].map_or(own, |t| t as f32);
                    if op_times[op].is_empty() {
                        op_order.push(op as u32);
                    }
                    op_times[op].push(RequestTimes {
                        bucket: bi as u32,
                        own,
                        before_calls: before,
                        latency: s.duration as f32,
                    });
                    cell.entry += 1.0;
                    if !call_failed[i] && whole {
                        if let Some(fewest) = fewest_calls[op] {
                            cell.calls_n += 1.0;
                            if f64::from(calls_out[i]) < fewest {
                                cell.calls_short += 1.0;
                            }
                        }
                    }
                    if let Some(typ) = base_lat[op] {
                        let v = log_ratio(s.duration as f64, typ, p.latency_soft_us);
                        lat_v.get_or(c, || vec![Vec::new(); nb])[bi].push(v as f32);
                        if base {
                            base_lat_v.get_or(c, Vec::new).push(v);
                        }
                    }
                    if failing || t.fails_below[i] {
                        cell.entry_err += 1.0;
                    }
                    if s.duration > cell.slowest.0 {
                        cell.slowest = (s.duration, s.trace_id);
                    }
                }
                if s.exception.is_some() {
                    cell.exceptions += 1.0;
                }
                if let (Some(own), true) = (own_time[i], whole) {
                    if let Some(typ) = base_own[op] {
                        let v = log_ratio(own as f64, typ, p.own_soft_us);
                        own_v.get_or(c, || vec![Vec::new(); nb])[bi].push(v as f32);
                        if base {
                            base_own_v.get_or(c, Vec::new).push(v);
                        }
                    }
                }
                // An error on a call into an uninstrumented peer is the peer's.
                let blamed = t.blamed[i] || (t.client[i] && blamed_request[entry_of[i] as usize]);
                if failing && !t.fails_below[i] && !blamed && peer.is_none() && !t.lost[i] {
                    cell.origin_err += 1.0;
                    cell.first_error.get_or_insert(s.trace_id);
                }
            }

            if t.client[i] {
                client_times
                    .get_or(c, || {
                        client_order.push(c);
                        Vec::new()
                    })
                    .push((bi as u32, s.duration as f32));
            }

            // Calls between components.
            let pi = t.parents[i];
            if t.remote[i] {
                let pc = &spans[pi as usize];
                let caller = reg.id(pc.component);
                let e = edges
                    .entry((caller, c))
                    .or_insert_with(|| new_edge(caller, c, true));
                e.calls += 1;
                e.errors += u64::from(failing || t.fails_below[i]);
                match t.wire_into(spans, i) {
                    Some(w) => {
                        // A call the callee answered with an error is judged by
                        // that error: its time after the callee's span (the error
                        // written out, a reset) is not the wire's.
                        if !failing {
                            e.waits.push((bi as u32, w as f32));
                        }
                        e.durations
                            .push(pc.duration.clamp(0, u32::MAX as Micros) as u32);
                    }
                    None => e
                        .durations
                        .push(s.duration.clamp(0, u32::MAX as Micros) as u32),
                }
            }
            // Calls of an operation that always reached one callee: answered or
            // not, as the callee's trials; unanswered, on the edge as a call.
            if let (Some(x), true) = (t.reaches[i], complete(s)) {
                let d = reg.id(x);
                let row = cells.get_or(d, || vec![Cell::default(); nb]);
                row[bi].calls_in += 1.0;
                if t.lost[i] {
                    row[bi].unanswered += 1.0;
                    if failing {
                        row[bi].first_error.get_or_insert(s.trace_id);
                    }
                    let e = edges.entry((c, d)).or_insert_with(|| new_edge(c, d, true));
                    e.calls += 1;
                    e.errors += u64::from(failing);
                    e.durations
                        .push(s.duration.clamp(0, u32::MAX as Micros) as u32);
                }
            }
            if let Some(d) = peer {
                let e = edges.entry((c, d)).or_insert_with(|| new_edge(c, d, false));
                e.calls += 1;
                e.errors += u64::from(failing);
                e.waits.push((bi as u32, s.duration as f32));
                e.durations
                    .push(s.duration.clamp(0, u32::MAX as Micros) as u32);
                let row = cells.get_or(d, || vec![Cell::default(); nb]);
                row[bi].entry += 1.0;
                if failing {
                    row[bi].entry_err += 1.0;
                    row[bi].origin_err += 1.0;
                    row[bi].first_error.get_or_insert(s.trace_id);
                }
            }
        }

        // Operations too rarely seen in the baseline to judge, per component.
        let mut unjudged: FxHashMap<u32, usize> = FxHashMap::default();
        for (&(comp, _), &k) in ops.iter().zip(&ops_seen) {
            if k > 0 && k < min {
                *unjudged.entry(reg.id(comp)).or_default() += 1;
            }
        }
        let mut unjudged: Vec<(u32, usize)> = unjudged.into_iter().collect();
        unjudged.sort_unstable();
        set.unjudged_operations = unjudged;

        for &k in &op_order {
            let (comp, operation) = ops[k as usize];
            let times = std::mem::take(&mut op_times[k as usize]);
            set.op_times.insert((reg.id(comp), operation), times);
        }
        for &c in &client_order {
            if let Some(times) = client_times.take(c) {
                set.client_times.insert(c, times);
            }
        }

        for (c, row) in cells.iter() {
            let col = |f: &dyn Fn(&Cell) -> f64| -> Vec<f64> { row.iter().map(f).collect() };
            for (kind, values, base) in [
                (SignalKind::SelfTime, &mut own_v, &mut base_own_v),
                (SignalKind::Latency, &mut lat_v, &mut base_lat_v),
            ] {
                let Some(stats) = base
                    .get_mut(c)
                    .and_then(|v| sample_stats(v, min, p.min_request_spread))
                else {
                    continue;
                };
                let Some(values) = values.take(c) else {
                    continue;
                };
                set.features.push(Feature::new(
                    c,
                    kind,
                    Values::PerRequest {
                        values,
                        stats,
                        floor: p.per_request_floor,
                    },
                ));
            }
            // Each rate: its kind, what counts, out of what; made only where
            // something counted (the counts are never negative).
            #[allow(clippy::type_complexity)]
            let rates: [(SignalKind, fn(&Cell) -> f64, fn(&Cell) -> f64); 5] = [
                (SignalKind::ErrorOrigin, |x| x.origin_err, |x| x.entry),
                (SignalKind::ErrorsAnswered, |x| x.entry_err, |x| x.entry),
                (SignalKind::Exceptions, |x| x.exceptions, |x| x.entry),
                (
                    SignalKind::UnansweredCalls,
                    |x| x.unanswered,
                    |x| x.calls_in,
                ),
                (SignalKind::CallStructure, |x| x.calls_short, |x| x.calls_n),
            ];
            for (kind, num, den) in rates {
                if row.iter().all(|x| num(x) == 0.0) {
                    continue;
                }
                set.features.push(Feature::new(
                    c,
                    kind,
                    Values::Rate {
                        num: col(&num),
                        den: col(&den),
                        floor: p.rate_floor,
                    },
                ));
            }
            for (bi, cell) in row.iter().enumerate() {
                let mut ids = Vec::with_capacity(2);
                if let Some(t) = cell.first_error {
                    ids.push(t);
                }
                if cell.slowest.0 > 0 && !ids.contains(&cell.slowest.1) {
                    ids.push(cell.slowest.1);
                }
                if !ids.is_empty() {
                    set.examples.insert((c, bi), ids);
                }
            }
        }
        let mut edges: Vec<EdgeStats> = edges.into_values().collect();
        edges.sort_by_key(|e| (e.caller, e.callee));
        set.inherited_spans = (0..n)
            .filter(|&i| call_failed[entry_of[i] as usize])
            .map(|i| spans[i].span_id)
            .collect();

        let by_name = by_name
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        set.attribution = by_name.ids(reg, &edges);
        set.edges = edges;
    });
}

/// The counterfactual split of the analysed entry requests' slowdown (see
/// [`Attribution`]). The requests judged are the outermost entries of the
/// alerting components that have traced entries (every alert of an
/// investigation is a symptom to explain); else the roots of one entry
/// component: the one whose requests slowed most against their baseline,
/// so that an unrelated busy entry point, healthy, does not dilute the
/// symptom of the one that alerted.
#[allow(clippy::too_many_arguments)]
fn attribution(
    obs: &Observations,
    b: &Buckets,
    ctx: &Context,
    t: &Tree,
    own_time: &[Option<Micros>],
    op_ix: &[u32],
    base_own: &[Option<f64>],
    base_lat: &[Option<f64>],
    base_wire: &FxHashMap<(Sym, Sym), f64>,
) -> ByName {
    let p = ctx.params;
    let spans = &obs.spans;
    let n = spans.len();
    // The alerting components with traced entries: their outermost entry
    // requests are the ones judged, all together (a request of one made
    // inside another's belongs to the outer one, so none counts twice).
    let alerting: Vec<Sym> = ctx
        .alerts
        .iter()
        .copied()
        .filter(|&a| (0..n).any(|i| t.entry[i] && spans[i].component == a))
        .collect();
    let alert_traced = !alerting.is_empty();
    let is_top = |i: usize| -> bool {
        if alert_traced {
            t.entry[i]
                && alerting.contains(&spans[i].component)
                && !ancestor_in(t, spans, i, &alerting)
        } else {
            t.parents[i] == NONE
        }
    };
    // The top request each span belongs to.
    let mut top = vec![NONE; n];
    let mut chain = Vec::new();
    for i in 0..n {
        if top[i] != NONE {
            continue;
        }
        chain.clear();
        chain.push(i);
        let mut j = i;
        let found = loop {
            if is_top(j) {
                break j as u32;
            }
            if top[j] != NONE {
                break top[j];
            }
            // Broken data may hold a cycle: a walk longer than any real
            // trace's depth ends without a top.
            if t.parents[j] == NONE || chain.len() > 256 {
                break NONE;
            }
            j = t.parents[j] as usize;
            chain.push(j);
        };
        for &k in &chain {
            if top[k] == NONE {
                top[k] = found;
            }
        }
    }
    // Each top request's log latency ratio, by its component.
    let ratio = |i: usize| {
        let s = &spans[i];
        base_lat[op_ix[i] as usize]
            .map(|typ| (typ, log_ratio(s.duration as f64, typ, p.latency_soft_us)))
    };
    let mut by_entry: FxHashMap<Sym, (Vec<f64>, Vec<f32>)> = FxHashMap::default();
    for i in 0..n {
        if top[i] != i as u32 {
            continue;
        }
        let (Some(bi), Some((_, v))) = (b.index(spans[i].start), ratio(i)) else {
            continue;
        };
        let e = by_entry.entry(spans[i].component).or_default();
        if bi < b.baseline_end {
            e.0.push(v);
        } else {
            e.1.push(v as f32);
        }
    }
    let slowdown = |(base, now): &(Vec<f64>, Vec<f32>)| -> f64 {
        let mut base = base.clone();
        match crate::score::sample_stats(&mut base, p.min_baseline_requests, p.min_request_spread) {
            Some(st) if !now.is_empty() => {
                let mut now = now.clone();
                st.z(
                    crate::score::median_f32(&mut now),
                    now.len(),
                    p.per_request_floor,
                    crate::score::Direction::Up,
                )
            }
            _ => 0.0,
        }
    };
    let mut entries: Vec<Sym> = by_entry.keys().copied().collect();
    entries.sort_unstable();
    let judged: Vec<Sym> = if alert_traced {
        alerting.clone()
    } else {
        entries
            .into_iter()
            .map(|c| (slowdown(&by_entry[&c]), c))
            .max_by(|x, y| x.0.total_cmp(&y.0).then_with(|| y.1.cmp(&x.1)))
            .map(|(_, c)| c)
            .into_iter()
            .collect()
    };
    let in_judged = |tp: u32| tp != NONE && judged.contains(&spans[tp as usize].component);

    let mut a = Attribution::default();
    let mut out = ByName::default();
    let mut own_us: FxHashMap<Sym, f64> = FxHashMap::default();
    let mut wire_us: FxHashMap<(Sym, Sym), f64> = FxHashMap::default();
    let mut tops_base = 0.0;
    for i in 0..n {
        let tp = top[i];
        if !in_judged(tp) {
            continue;
        }
        let Some(bi) = b.index(spans[tp as usize].start) else {
            continue;
        };
        if bi < b.baseline_end {
            continue;
        }
        let s = &spans[i];
        if let Some(own) = own_time[i] {
            if let Some(typ) = base_own[op_ix[i] as usize] {
                out.named(s.component);
                *own_us.entry(s.component).or_default() += own as f64 - typ;
            }
        }
        let wire = match t.wire_into(spans, i) {
            Some(_) if t.fails[i] => None,
            Some(w) => Some((spans[t.parents[i] as usize].component, s.component, w)),
            None => t
                .uninstrumented_peer(spans, i)
                .map(|peer| (s.component, peer, s.duration)),
        };
        if let Some((from, to, w)) = wire {
            if let Some(&typ) = base_wire.get(&(from, to)) {
                out.named(from);
                out.named(to);
                *wire_us.entry((from, to)).or_default() += w as f64 - typ;
            }
        }
    }
    for i in 0..n {
        if top[i] != i as u32 || !in_judged(i as u32) {
            continue;
        }
        let s = &spans[i];
        let Some(bi) = b.index(s.start) else { continue };
        let r = ratio(i);
        if bi < b.baseline_end {
            tops_base += 1.0;
            if let Some((_, v)) = r {
                a.base_latency.push(v);
            }
            continue;
        }
        a.requests += 1.0;
        if let Some((typ, v)) = r {
            a.excess_us += s.duration as f64 - typ;
            a.now_latency.push(v as f32);
        }
    }
    a.base_requests = tops_base;
    out.own_us = own_us;
    out.wire_us = wire_us;
    out.a = a;
    out
}

/// [`attribution`]'s sums by component and edge name, for [`ByName::ids`]
/// to put in the registry's and the edges' order once the other trace
/// features (which make both) are done; `attribution` runs beside them.
#[derive(Default)]
struct ByName {
    a: Attribution,
    own_us: FxHashMap<Sym, f64>,
    wire_us: FxHashMap<(Sym, Sym), f64>,
    /// Every name summed, in the order first met: the order they are
    /// registered in, as if each had been registered where it was met.
    order: Vec<Sym>,
    seen: FxHashSet<Sym>,
}

impl ByName {
    fn named(&mut self, c: Sym) {
        if self.seen.insert(c) {
            self.order.push(c);
        }
    }

    fn ids(self, reg: &mut Registry, edges: &[EdgeStats]) -> Attribution {
        let ByName {
            mut a,
            own_us,
            wire_us,
            order,
            ..
        } = self;
        for &c in &order {
            reg.id(c);
        }
        a.own_us = vec![0.0; reg.names.len()];
        for (c, v) in own_us {
            a.own_us[reg.id(c) as usize] = v.max(0.0);
        }
        let edge_index: FxHashMap<(u32, u32), usize> = edges
            .iter()
            .enumerate()
            .map(|(k, e)| ((e.caller, e.callee), k))
            .collect();
        a.wire_us = vec![0.0; edges.len()];
        for ((from, to), v) in wire_us {
            if let Some(&ei) = edge_index.get(&(reg.id(from), reg.id(to))) {
                a.wire_us[ei] = v.max(0.0);
            }
        }
        a
    }
}

/// Whether a span above `i` belongs to one of the components `cs` (so `i`
/// is not the outermost entry of them).
fn ancestor_in(t: &Tree, spans: &[Span], i: usize, cs: &[Sym]) -> bool {
    let mut j = t.parents[i];
    let mut hops = 0;
    while j != NONE && hops < 256 {
        if cs.contains(&spans[j as usize].component) {
            return true;
        }
        j = t.parents[j as usize];
        hops += 1;
    }
    false
}
