//! Application-log features: warnings and errors of a kind a component never
//! wrote in the baseline, the exceptions it reports, and the flow lines its
//! requests used to print and now skip.
//!
//! A line is the component's *own* evidence only when it is about the
//! component itself: a line whose message names another component ("No
//! instances available for ts-basic-service") reports that component's
//! trouble, and an error written in a request whose call into another
//! component failed ("call to X returned 500") is the callee's. Both still
//! count as the logger's symptom.

use ingest::{LogLevel, Observations, Sym};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{Feature, FeatureSet, MissingLines, Registry, Values};
use crate::params::Params;
use crate::signal::SignalKind;
use crate::window::Buckets;

/// What a line (or a span event) says its writer waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waits {
    Nothing,
    /// A lock another holds: the words databases, lock libraries and
    /// runtimes print for it ("Waiting for lock behind 3 transactions",
    /// "lock wait timeout exceeded", "deadlock detected").
    Lock,
    /// A pooled connection: what connection pools print when none is free
    /// ("timeout acquiring connection from pool", HikariCP's "Connection is
    /// not available", "pool exhausted").
    Pool,
}

/// Reads what a line says it waits for. A timeout alone says only that a
/// wait ran out, not for what, and names neither.
pub(crate) fn what_it_waits_for(text: &str) -> Waits {
    const LOCK: [&str; 8] = [
        "waiting for lock",
        "waiting for a lock",
        "waiting for the lock",
        "lock wait",
        "waiting for mutex",
        "lock contention",
        "deadlock",
        "acquired lock with",
    ];
    const POOL: [&str; 9] = [
        "pool exhausted",
        "pool is exhausted",
        "acquiring connection",
        "acquire connection",
        "acquire a connection",
        "waiting for a connection",
        "waiting for connection",
        "connection is not available",
        "timeout waiting for idle object",
    ];
    let lower = text.to_ascii_lowercase();
    if LOCK.iter().any(|w| lower.contains(w)) {
        Waits::Lock
    } else if POOL.iter().any(|w| lower.contains(w)) {
        Waits::Pool
    } else {
        Waits::Nothing
    }
}

pub(super) fn build(
    obs: &Observations,
    b: &Buckets,
    p: &Params,
    about_other: &NamedOthers,
    inherited_spans: &FxHashSet<u64>,
    reg: &mut Registry,
    set: &mut FeatureSet,
) {
    if obs.logs.is_empty() && !obs.spans.iter().any(|s| s.event.is_some()) {
        return;
    }
    struct Acc {
        n: Vec<f64>,
        err: Vec<f64>,
        exc: Vec<f64>,
        new_err: Vec<f64>,
        /// Lines and span events, and those that say they wait for a lock.
        lock_n: Vec<f64>,
        lock: Vec<f64>,
        pool: Vec<f64>,
    }
    // The warnings and errors each component printed in the baseline, by template.
    let mut known: FxHashSet<(Sym, Sym)> = FxHashSet::default();
    for l in &obs.logs {
        if b.index(l.time).is_some_and(|i| i < b.baseline_end) {
            known.insert((l.component, l.template));
        }
    }
    let zeros = || vec![0.0; b.count];
    let new_acc = || Acc {
        n: zeros(),
        err: zeros(),
        exc: zeros(),
        new_err: zeros(),
        lock_n: zeros(),
        lock: zeros(),
        pool: zeros(),
    };
    // A line or span event in bucket `i`: what it says it waits for, read
    // once per distinct text.
    let note_wait = |acc: &mut Acc, i: usize, text: Sym, seen: &mut FxHashMap<Sym, Waits>| {
        acc.lock_n[i] += 1.0;
        match *seen
            .entry(text)
            .or_insert_with(|| what_it_waits_for(obs.names.name(text)))
        {
            Waits::Lock => acc.lock[i] += 1.0,
            Waits::Pool => acc.pool[i] += 1.0,
            Waits::Nothing => {}
        }
    };
    let mut by_comp: FxHashMap<Sym, Acc> = FxHashMap::default();
    let mut new_templates: FxHashMap<(Sym, Sym), u64> = FxHashMap::default();
    // Lines of other components that name a component, per (named, writer) and bucket.
    let mut named: FxHashMap<(Sym, Sym), Vec<f64>> = FxHashMap::default();
    let mut lock_words: FxHashMap<Sym, Waits> = FxHashMap::default();
    for l in &obs.logs {
        let Some(i) = b.index(l.time) else { continue };
        let acc = by_comp.entry(l.component).or_insert_with(new_acc);
        acc.n[i] += 1.0;
        note_wait(acc, i, l.template, &mut lock_words);
        let names = about_other.get(&(l.component, l.message));
        if let Some(names) = names {
            for &other in names {
                named.entry((other, l.component)).or_insert_with(zeros)[i] += 1.0;
            }
        }
        let own = names.is_none() && !l.span_id.is_some_and(|s| inherited_spans.contains(&s));
        if own && l.level >= LogLevel::Warn && !known.contains(&(l.component, l.template)) {
            acc.new_err[i] += 1.0;
            *new_templates.entry((l.component, l.template)).or_default() += 1;
        }
        if l.level >= LogLevel::Error {
            acc.err[i] += 1.0;
            if own && l.exception.is_some() {
                acc.exc[i] += 1.0;
            }
        }
    }
    // Span events are lines written into a span: counted with the
    // component's lines for what they say of locks, and for nothing else
    // (an event carries no level).
    for sp in &obs.spans {
        let (Some(ev), Some(i)) = (sp.event, b.index(sp.start)) else {
            continue;
        };
        let acc = by_comp.entry(sp.component).or_insert_with(new_acc);
        note_wait(acc, i, ev, &mut lock_words);
    }
    let mut names: Vec<Sym> = by_comp.keys().copied().collect();
    names.sort_unstable();
    for s in names {
        let acc = &by_comp[&s];
        let c = reg.id(s);
        let rate = |kind: SignalKind, num: &Vec<f64>| {
            Feature::new(
                c,
                kind,
                Values::Rate {
                    num: num.clone(),
                    den: acc.n.clone(),
                    floor: p.log_share_floor,
                },
            )
        };
        set.features.push(rate(SignalKind::ExceptionLogs, &acc.exc));
        set.features.push(rate(SignalKind::ErrorLogs, &acc.err));
        set.features
            .push(rate(SignalKind::NewErrorTemplates, &acc.new_err));
        for (kind, num) in [
            (SignalKind::ContentionLines, &acc.lock),
            (SignalKind::PoolWaitLines, &acc.pool),
        ] {
            if num.iter().any(|&k| k > 0.0) {
                let mut f = rate(kind, num);
                f.values = Values::Rate {
                    num: num.clone(),
                    den: acc.lock_n.clone(),
                    floor: p.log_share_floor,
                };
                set.features.push(f);
            }
        }
    }
    // Each component's most frequent new warning or error template.
    let mut most: FxHashMap<Sym, (Sym, u64)> = FxHashMap::default();
    for (&(comp, template), &n) in &new_templates {
        let e = most.entry(comp).or_insert((template, 0));
        if n > e.1 || (n == e.1 && template < e.0) {
            *e = (template, n);
        }
    }
    let mut most: Vec<(Sym, (Sym, u64))> = most.into_iter().collect();
    most.sort_unstable();
    set.new_templates = most
        .into_iter()
        .map(|(c, (t, n))| (reg.id(c), obs.names.name(t).to_string(), n))
        .collect();
    // What others' warnings and errors say of a component: per writer, a
    // share of the writer's lines (whose side it is is judged later: a
    // component that serves its other callers as before is not the one
    // that failed).
    let mut pairs: Vec<(Sym, Sym)> = named.keys().copied().collect();
    pairs.sort_unstable();
    for (target, writer) in pairs {
        let Some(acc) = by_comp.get(&writer) else {
            continue;
        };
        let peer = reg.id(writer);
        set.features.push(Feature {
            component: reg.id(target),
            kind: SignalKind::NamedInErrors,
            label: None,
            peer: Some(peer),
            values: Values::Rate {
                num: named[&(target, writer)].clone(),
                den: acc.n.clone(),
                floor: p.log_share_floor,
            },
        });
    }
}

/// Warnings and errors whose message names other components of the system,
/// as whole words: (writing component, masked message) → the components named.
pub(super) type NamedOthers = FxHashMap<(Sym, Sym), Vec<Sym>>;

/// The warnings and errors whose message names another component (see [`NamedOthers`]).
pub(super) fn templates_naming_others(obs: &Observations) -> NamedOthers {
    // Every component the data names: those that emit spans, logs or
    // series, and the peers that spans call without tracing them.
    let mut comps: Vec<Sym> = obs
        .spans
        .iter()
        .flat_map(|s| std::iter::once(s.component).chain(s.peer))
        .chain(obs.logs.iter().map(|l| l.component))
        .chain(obs.series.iter().map(|s| s.component))
        .chain(obs.edges.iter().flat_map(|e| [e.client, e.server]))
        .collect();
    comps.sort_unstable();
    comps.dedup();
    let mut pairs: Vec<(Sym, Sym)> = obs
        .logs
        .iter()
        .filter(|l| l.level >= LogLevel::Warn)
        .map(|l| (l.component, l.message))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
    let mut out = NamedOthers::default();
    for (logger, message) in pairs {
        let text = obs.names.name(message).as_bytes();
        let named: Vec<Sym> = comps
            .iter()
            .copied()
            .filter(|&c| c != logger)
            .filter(|&c| {
                let name = obs.names.name(c).as_bytes();
                memchr::memmem::find_iter(text, name).any(|at| {
                    let before = at.checked_sub(1).map(|i| text[i]);
                    let after = text.get(at + name.len()).copied();
                    !before.is_some_and(word) && !after.is_some_and(word)
                })
            })
            .collect();
        if !named.is_empty() {
            out.insert((logger, message), named);
        }
    }
    out
}

/// Deficits kept per component: its inner causes to list.
const MISSING_KEPT: usize = 5;

/// Lines an operation used to print and now prints less: each log line is
/// tied to the operation of the span it was written in, and the share of the
/// operation's requests that print it is compared with the baseline's. An
/// early return or an exception thrown before the line leaves it unwritten.
/// The same test also runs on pairs of lines: a line that followed another
/// in nearly every baseline request and now is missing after it marks where
/// the code path broke off, even when the line was printed by few requests.
/// An operation: (the calling operation in the same component, if any,
/// the span's own operation).
type Op = (Option<Sym>, Sym);

/// Every span's operation and the requests per operation, before the
/// traces' verdict on which requests inherited their failure: the bulk of
/// [`missing_lines`]'s work over the spans, done beside the trace features
/// (which that verdict comes from) instead of after them.
#[derive(Default)]
pub(super) struct SpanOps {
    /// By span id: its component, operation and half (0 baseline, 1
    /// analysed); the last span of an id, as a later one overwrites.
    op_of: FxHashMap<u64, (Sym, Op, usize)>,
    /// The earlier spans of ids seen more than once, so that every span of
    /// an inherited id can be taken back out of `requests`.
    overwritten: Vec<(u64, Sym, Op, usize)>,
    /// Requests per (component, operation), baseline and analysed.
    requests: FxHashMap<(Sym, Op), [f64; 2]>,
}

pub(super) fn span_ops(obs: &Observations, b: &Buckets) -> SpanOps {
    let mut out = SpanOps::default();
    if !obs.logs.iter().any(|l| l.span_id.is_some()) || obs.spans.is_empty() {
        return out;
    }
    // A handler shared by several endpoints of the component (one
    // controller method behind two routes) is told apart by the span that
    // called it there: each route has its own path through the code.
    let parent_op: FxHashMap<u64, (Sym, Sym)> = obs
        .spans
        .iter()
        .map(|s| (s.span_id, (s.component, s.operation)))
        .collect();
    out.op_of.reserve(obs.spans.len());
    for s in &obs.spans {
        let Some(i) = b.index(s.start) else { continue };
        let half = usize::from(i >= b.baseline_end);
        let via = parent_op
            .get(&s.parent_id)
            .filter(|(pc, _)| *pc == s.component)
            .map(|(_, pop)| *pop);
        let op = (via, s.operation);
        if let Some((c, o, h)) = out.op_of.insert(s.span_id, (s.component, op, half)) {
            out.overwritten.push((s.span_id, c, o, h));
        }
        out.requests.entry((s.component, op)).or_default()[half] += 1.0;
    }
    out
}

pub(super) fn missing_lines(
    obs: &Observations,
    p: &Params,
    ops: SpanOps,
    inherited_spans: &FxHashSet<u64>,
    reg: &mut Registry,
    set: &mut FeatureSet,
) {
    if !obs.logs.iter().any(|l| l.span_id.is_some()) || obs.spans.is_empty() {
        return;
    }
    // A request whose call failed is judged by that callee, not by where
    // its own flow stopped: every span of an inherited id leaves the counts.
    let SpanOps {
        mut op_of,
        overwritten,
        mut requests,
    } = ops;
    let mut take_back = |c: Sym, o: Op, h: usize| {
        if let Some(r) = requests.get_mut(&(c, o)) {
            r[h] -= 1.0;
        }
    };
    for id in inherited_spans {
        if let Some((c, o, h)) = op_of.remove(id) {
            take_back(c, o, h);
        }
    }
    for &(id, c, o, h) in &overwritten {
        if inherited_spans.contains(&id) {
            take_back(c, o, h);
        }
    }
    // The flow lines each request printed, each template once: shares of
    // requests, so a line printed in a loop does not weigh more. Error lines
    // are left out: an error line that stops is recovery, not a fault.
    // Every line a request printed, warnings included, with its time and
    // whether it is a flow line.
    let mut timed: FxHashMap<u64, Vec<(ingest::Micros, Sym, bool)>> = FxHashMap::default();
    for l in &obs.logs {
        let Some(span) = l.span_id else { continue };
        if op_of
            .get(&span)
            .is_none_or(|&(comp, _, _)| comp != l.component)
        {
            continue;
        }
        timed
            .entry(span)
            .or_default()
            .push((l.time, l.template, l.level < LogLevel::Warn));
    }
    // In the order the request printed them, each first time only: all its
    // lines (for where a line sits in the flow) and its flow lines.
    let mut sequence: FxHashMap<u64, Vec<Sym>> = FxHashMap::default();
    let mut printed: FxHashMap<u64, Vec<Sym>> = FxHashMap::default();
    for (span, mut v) in timed {
        v.sort_by_key(|x| x.0);
        let (mut all, mut flow): (Vec<Sym>, Vec<Sym>) = (Vec::new(), Vec::new());
        for (_, l, is_flow) in v {
            if !all.contains(&l) {
                all.push(l);
                if is_flow {
                    flow.push(l);
                }
            }
        }
        sequence.insert(span, all);
        if !flow.is_empty() {
            printed.insert(span, flow);
        }
    }
    // What the baseline's requests printed just before each line: where
    // in the flow a line sits (`None`: first, right after the request began).
    let mut before: FxHashMap<(Sym, Op, Sym), FxHashMap<Option<Sym>, u32>> = FxHashMap::default();
    for (span, t) in &sequence {
        let (comp, op, half) = op_of[span];
        if half != 0 {
            continue;
        }
        for (k, &l) in t.iter().enumerate() {
            let prev = k.checked_sub(1).map(|j| t[j]);
            *before
                .entry((comp, op, l))
                .or_default()
                .entry(prev)
                .or_default() += 1;
        }
    }
    let predecessor = |comp: Sym, op: Op, line: Sym| -> Option<Sym> {
        before.get(&(comp, op, line)).and_then(|m| {
            m.iter()
                .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                .and_then(|(p, _)| *p)
        })
    };
    // (component, operation, condition, line): requests that printed the
    // condition line (or, for `None`, every request) and, of those, the
    // requests that also printed the line.
    type Key = (Sym, Op, Option<Sym>, Sym);
    let mut with: FxHashMap<Key, [f64; 2]> = FxHashMap::default();
    let mut cond: FxHashMap<(Sym, Op, Sym), [f64; 2]> = FxHashMap::default();
    let mut spans: Vec<&u64> = printed.keys().collect();
    spans.sort_unstable();
    for span in spans {
        let (comp, op, half) = op_of[span];
        let t = &printed[span];
        for &a in t {
            cond.entry((comp, op, a)).or_default()[half] += 1.0;
            with.entry((comp, op, None, a)).or_default()[half] += 1.0;
            for &l in t.iter().filter(|&&l| l != a) {
                with.entry((comp, op, Some(a), l)).or_default()[half] += 1.0;
            }
        }
    }
    let totals = |comp: Sym, op: Op, after: Option<Sym>| match after {
        None => requests[&(comp, op)],
        Some(a) => cond[&(comp, op, a)],
    };
    // Lines printed by more requests than before, in the same requests: the
    // other branch of an `if` taken more often. A line missing while another
    // of its requests' lines gains as much is a change in what requests
    // ask, not a broken code path.
    #[allow(clippy::type_complexity)]
    let mut gained: FxHashMap<(Sym, Op, Option<Sym>), Vec<(Sym, f64)>> = FxHashMap::default();
    for (&(comp, op, after, line), &[base, now]) in &with {
        let [base_req, now_req] = totals(comp, op, after);
        if base_req > 0.0 {
            gained
                .entry((comp, op, after))
                .or_default()
                .push((line, now - base / base_req * now_req));
        }
    }
    let mut best: FxHashMap<Sym, Vec<MissingLines>> = FxHashMap::default();
    let mut keys: Vec<&Key> = with.keys().collect();
    keys.sort_unstable();
    for key in keys {
        let [base, now] = with[key];
        let (comp, op, after, line) = *key;
        let [base_req, now_req] = totals(comp, op, after);
        // Only lines printed reliably, on enough requests: a pair must have
        // held in nearly every baseline request.
        let least = if after.is_some() {
            p.flow_pair_share
        } else {
            p.flow_line_share
        };
        if base_req < p.min_baseline_requests as f64 || base / base_req < least {
            continue;
        }
        let expected = base / base_req * now_req;
        if expected < p.flow_min_expected {
            continue;
        }
        // Two-sample test of the share: binomial spread over the requests
        // now and over the baseline's (whose share is itself an estimate),
        // plus the drift of what requests ask.
        let share = (base / base_req).min(1.0);
        let spread = (share * (1.0 - share)).max(0.5 / base_req);
        let var = spread * now_req * (1.0 + now_req / base_req) + (p.flow_drift * expected).powi(2);
        let z = (expected - now) / var.sqrt();
        let switched = gained[&(comp, op, after)]
            .iter()
            .any(|&(other, gain)| other != line && gain >= 0.5 * (expected - now));
        if switched || z <= 0.0 {
            continue;
        }
        let op_name = match op.0 {
            Some(via) => format!("{} (via {})", obs.names.name(op.1), obs.names.name(via)),
            None => obs.names.name(op.1).to_string(),
        };
        let note = match after {
            None => format!(
                "{now:.0} of an expected {expected:.0} {op_name} requests printed \"{}\"",
                obs.names.name(line),
            ),
            Some(a) => format!(
                "{now:.0} of an expected {expected:.0} {op_name} requests printed \"{}\" after \"{}\"",
                obs.names.name(line),
                obs.names.name(a),
            ),
        };
        // The code region: the event the baseline's requests passed just
        // before the missing line (their own start when it came first), and
        // the line: where the flow broke off.
        let region = match predecessor(comp, op, line) {
            Some(prev) => format!("{}_{}", obs.names.name(prev), obs.names.name(line)),
            None => format!("{} start_{}", obs.names.name(op.1), obs.names.name(line)),
        };
        best.entry(comp).or_default().push(MissingLines {
            component: 0,
            z,
            note,
            operation: op_name,
            region,
        });
    }
    // The strongest few deficits of each component, strongest first.
    let mut out: Vec<MissingLines> = Vec::new();
    let mut comps: Vec<Sym> = best.keys().copied().collect();
    comps.sort_unstable();
    for c in comps {
        let mut v = best.remove(&c).unwrap_or_default();
        v.sort_by(|a, b| b.z.total_cmp(&a.z).then_with(|| a.region.cmp(&b.region)));
        v.dedup_by(|a, b| a.region == b.region);
        v.truncate(MISSING_KEPT);
        let id = reg.id(c);
        out.extend(v.into_iter().map(|mut m| {
            m.component = id;
            m
        }));
    }
    set.missing_lines = out;
}
