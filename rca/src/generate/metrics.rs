//! Metric series from the same plan the simulator follows: the expected behaviour of each
//! component at each 15 s step, computed through the call graph, plus noise.
//!
//! Series describe all traffic, not only the sampled traces, so they are computed from
//! the model rather than counted from spans.

use rand::Rng;

use super::model::Plan;
use super::topology::{Lang, Role, Topology};
use super::util::{chance, clamp01, lognormal_mean, normal, uniform, SimRng};

pub(crate) const STEP_SECS: i64 = 15;

pub(crate) struct Query {
    pub signal: &'static str,
    pub promql: &'static str,
    pub decimals: usize,
    /// `(component, value per step)`.
    pub series: Vec<(usize, Vec<f64>)>,
}

/// Caller→callee series, labelled `client` and `server` as the OpenTelemetry Collector's
/// servicegraph connector writes them.
pub(crate) struct EdgeQuery {
    pub signal: &'static str,
    pub promql: &'static str,
    /// `((caller, callee), value per step)`: a per-second rate, or seconds per call for
    /// the latency signals; NaN where the series has no sample (it is not written).
    pub series: Vec<((usize, usize), Vec<f64>)>,
    pub decimals: usize,
}

pub(crate) struct Metrics {
    /// Unix seconds of each step.
    pub times: Vec<i64>,
    pub queries: Vec<Query>,
    pub edges: Vec<EdgeQuery>,
}

/// Decimals of the call rates: calls over 15 s, so a count read back as rate × step is
/// off by at most 0.00075 a step, and the window's total comes back exact when rounded.
pub(crate) const EDGE_DECIMALS: usize = 4;

/// Decimals of the mean call durations, in seconds: to the microsecond, as spans time.
pub(crate) const LATENCY_DECIMALS: usize = 6;

/// The `calls` and `calls_failed` queries from the calls the simulator made
/// (`Sim::calls`): the counts of every request, not of the sampled traces, so the traces
/// see a sample of the same calls. `calls_failed` has a series only for edges that
/// failed at least once, as the connector's failed counter only exists from the first
/// failure on.
pub(crate) fn edges(
    calls: &std::collections::BTreeMap<(u16, u16), Vec<(u32, u32)>>,
) -> Vec<EdgeQuery> {
    let rate = |n: u32| f64::from(n) / STEP_SECS as f64;
    let ends = |&(c, p): &(u16, u16)| (usize::from(c), usize::from(p));
    let calls_series = calls
        .iter()
        .map(|(e, steps)| (ends(e), steps.iter().map(|s| rate(s.0)).collect()))
        .collect();
    let failed_series = calls
        .iter()
        .filter(|(_, steps)| steps.iter().any(|s| s.1 > 0))
        .map(|(e, steps)| (ends(e), steps.iter().map(|s| rate(s.1)).collect()))
        .collect();
    vec![
        EdgeQuery {
            signal: "calls",
            promql: "sum by (client, server) (rate(traces_service_graph_request_total[1m]))",
            series: calls_series,
            decimals: EDGE_DECIMALS,
        },
        EdgeQuery {
            signal: "calls_failed",
            promql: "sum by (client, server) (rate(traces_service_graph_request_failed_total[1m]))",
            series: failed_series,
            decimals: EDGE_DECIMALS,
        },
    ]
}

/// The `latency_server` and `latency_client` queries: the mean durations of the calls
/// per caller→callee edge and step, from the traced spans (`traces`, the traces as
/// read back) by the servicegraph connector's rules (`ingest::servicegraph`), on the
/// step times `times` (Unix seconds). The traces are a sample of the calls, and a mean
/// over a sample estimates the mean of all; the counts of all are `edges`'. An edge
/// has samples only where a traced call fell, and only between two traced services
/// (the database and the cache write no spans: the connector's virtual nodes for them
/// are not made).
pub(crate) fn latency_edges(
    topo: &Topology,
    times: &[i64],
    traces: &ingest::Observations,
) -> Vec<EdgeQuery> {
    let index: std::collections::HashMap<&str, usize> = topo
        .comps
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let mut server = Vec::new();
    let mut client = Vec::new();
    for e in ingest::servicegraph::from_spans(traces, STEP_SECS * 1_000_000) {
        let out = match e.signal {
            ingest::EdgeSignal::LatencyServer => &mut server,
            ingest::EdgeSignal::LatencyClient => &mut client,
            ingest::EdgeSignal::Calls | ingest::EdgeSignal::CallsFailed => continue,
        };
        let ends = (
            index.get(traces.names.name(e.client)),
            index.get(traces.names.name(e.server)),
        );
        let (Some(&caller), Some(&callee)) = ends else {
            continue;
        };
        let at: std::collections::HashMap<i64, f64> = e.samples.iter().copied().collect();
        let values: Vec<f64> = times
            .iter()
            .map(|t| at.get(&(t * 1_000_000)).copied().unwrap_or(f64::NAN))
            .collect();
        if values.iter().any(|v| v.is_finite()) {
            out.push(((caller, callee), values));
        }
    }
    server.sort_by_key(|s| s.0);
    client.sort_by_key(|s| s.0);
    vec![
        EdgeQuery {
            signal: "latency_server",
            promql: "sum by (client, server) (rate(traces_service_graph_request_server_seconds_sum[1m])) / sum by (client, server) (rate(traces_service_graph_request_server_seconds_count[1m]))",
            series: server,
            decimals: LATENCY_DECIMALS,
        },
        EdgeQuery {
            signal: "latency_client",
            promql: "sum by (client, server) (rate(traces_service_graph_request_client_seconds_sum[1m])) / sum by (client, server) (rate(traces_service_graph_request_client_seconds_count[1m]))",
            series: client,
            decimals: LATENCY_DECIMALS,
        },
    ]
}

const SIGNALS: [(&str, &str, usize); 9] = [
    (
        "cpu",
        "sum by (service) (rate(container_cpu_usage_seconds_total[1m])) / sum by (service) (kube_pod_container_resource_limits{resource=\"cpu\"})",
        4,
    ),
    ("memory", "sum by (service) (container_memory_working_set_bytes)", 0),
    (
        "http_5xx_rate",
        "sum by (service) (rate(http_server_request_duration_seconds_count{http_response_status_code=~\"5..\"}[1m]))",
        4,
    ),
    (
        "http_4xx_rate",
        "sum by (service) (rate(envoy_http_downstream_rq_xx{envoy_response_code_class=\"4\"}[1m]))",
        4,
    ),
    (
        "request_rate",
        "sum by (service) (rate(http_server_request_duration_seconds_count[1m]))",
        4,
    ),
    (
        "latency_p99",
        "histogram_quantile(0.99, sum by (service, le) (rate(http_server_request_duration_seconds_bucket[1m])))",
        4,
    ),
    ("goroutines", "sum by (service) (go_goroutines)", 0),
    (
        "tls_session_reuse",
        "sum by (service) (rate(envoy_listener_ssl_session_reused[1m])) / sum by (service) (rate(envoy_listener_ssl_handshake[1m]))",
        4,
    ),
    (
        "pool_pending",
        "sum by (service) (db_client_connections_pending_requests)",
        0,
    ),
];

/// What the model expects of every component at one instant.
struct Expect {
    /// Mean server-side duration, ms.
    dur: Vec<f64>,
    /// Share of requests answered 5xx.
    err: Vec<f64>,
    /// Share of requests that hit a pool timeout somewhere below.
    timeout: Vec<f64>,
    rate: Vec<f64>,
}

/// Mean time of a refused connect attempt into a stopped service, ms (the simulator
/// draws 0.5-3 ms).
const REFUSED_MS: f64 = 1.75;

/// Expected calls per frontend request once `dead` has stopped: it calls no one any
/// more, so what it called sees less traffic. Scaled from the topology's own visits.
fn visits_without(topo: &Topology, dead: usize) -> Vec<f64> {
    let n = topo.comps.len();
    let compute = |skip: Option<usize>| -> Vec<f64> {
        let mut v = vec![0.0; n];
        v[topo.proxy] = 1.0;
        v[topo.frontend] = 1.0;
        let total_w: f64 = topo.routes.iter().map(|r| r.weight).sum();
        for r in &topo.routes {
            v[r.entry] += r.weight / total_w;
        }
        let mut order: Vec<usize> = (0..n)
            .filter(|&c| topo.comps[c].role == Role::Service && topo.comps[c].level > 2)
            .collect();
        order.sort_by_key(|&c| (topo.comps[c].level, c));
        for &c in &order {
            v[c] = topo
                .edges
                .iter()
                .filter(|e| e.to == c && Some(e.from) != skip)
                .map(|e| v[e.from] * e.p)
                .sum();
        }
        let (mut db, mut cache) = (0.0, 0.0);
        for (c, comp) in topo.comps.iter().enumerate() {
            if Some(c) != skip {
                db += v[c] * comp.mean_db_calls();
                cache += v[c] * comp.mean_cache_calls();
            }
        }
        v[topo.db] = db;
        v[topo.cache] = cache;
        v
    };
    let (full, without) = (compute(None), compute(Some(dead)));
    (0..n)
        .map(|c| {
            if full[c] > 0.0 {
                topo.visits[c] * without[c] / full[c]
            } else {
                topo.visits[c]
            }
        })
        .collect()
}

fn expect(
    topo: &Topology,
    plan: &Plan,
    t: i64,
    base_rps: f64,
    stuffer_share: f64,
    visits: &[f64],
) -> Expect {
    let n = topo.comps.len();
    let mut dur = vec![0.0; n];
    let mut err = vec![0.0; n];
    let mut timeout = vec![0.0; n];
    let net = lognormal_mean(topo.net_ms, 0.3);
    for s in [topo.db, topo.cache] {
        let c = &topo.comps[s];
        dur[s] = c.mean_excl_ms() * plan.excl_factor(s, t);
    }
    let mut order: Vec<usize> = (0..n)
        .filter(|&c| topo.comps[c].role == Role::Service)
        .collect();
    order.sort_by_key(|&c| std::cmp::Reverse(topo.comps[c].level));
    for &c in &order {
        let comp = &topo.comps[c];
        let mut d = comp.mean_excl_ms() * plan.excl_factor(c, t) + plan.excl_add_ms(c, t);
        let mut down_err = 0.0;
        let mut down_timeout = 0.0;
        d += plan.lock_share(c, t) * lognormal_mean(plan.lock_wait_ms, 0.5);
        for &e in &topo.out_edges[c] {
            let edge = &topo.edges[e];
            d += edge.p
                * if plan.down(edge.to, t) {
                    REFUSED_MS
                } else {
                    net + plan.net_delay_ms(edge.to, t) + dur[edge.to]
                };
            down_err += edge.p * err[edge.to];
            down_timeout += edge.p * timeout[edge.to];
        }
        d += comp.mean_cache_calls() * (net + plan.net_delay_ms(topo.cache, t) + dur[topo.cache]);
        let pool_timeout = plan.pool_timeout_p(c, t) * comp.mean_db_calls();
        d += comp.mean_db_calls()
            * (net + plan.net_delay_ms(topo.db, t) + plan.pool_wait_ms(c, t) + dur[topo.db]);
        d += pool_timeout * plan.pool_timeout_ms;
        let own = plan.bg_error + plan.fault_fail_share(c, t) + pool_timeout;
        if plan.fault == super::FaultKindName::ErrorReturn && c == plan.target {
            let share = plan.fault_fail_share(c, t);
            d = d * (1.0 - share) + share * 0.3 * comp.mean_excl_ms();
        }
        dur[c] = d;
        err[c] = (own + (1.0 - own) * (down_err * comp.p_prop).min(1.0)).min(1.0);
        timeout[c] = (pool_timeout + down_timeout).min(1.0);
        if plan.down(c, t) {
            // Every call into it fails; it has no duration of its own to report.
            err[c] = 1.0;
            timeout[c] = 0.0;
        }
    }
    let fe = topo.frontend;
    let fec = &topo.comps[fe];
    let total_w: f64 = topo.routes.iter().map(|r| r.weight).sum();
    let mut d = fec.mean_excl_ms() * plan.excl_factor(fe, t)
        + plan.excl_add_ms(fe, t)
        + plan.lock_share(fe, t) * lognormal_mean(plan.lock_wait_ms, 0.5);
    let mut e = 0.0;
    let mut to = 0.0;
    for r in &topo.routes {
        let share = r.weight / total_w;
        d += share
            * if plan.down(r.entry, t) {
                REFUSED_MS
            } else {
                net + plan.net_delay_ms(r.entry, t) + dur[r.entry]
            };
        e += share * err[r.entry];
        to += share * timeout[r.entry];
    }
    dur[fe] = d;
    err[fe] = (plan.bg_error + plan.fault_fail_share(fe, t) + e * fec.p_prop).min(1.0);
    timeout[fe] = to;
    let px = topo.proxy;
    dur[px] = topo.comps[px].mean_excl_ms() + net + plan.net_delay_ms(fe, t) + dur[fe];
    err[px] = err[fe];
    timeout[px] = to;

    let normal_rps = base_rps * plan.load_at(t);
    let abuse_rps = base_rps * plan.abuse_factor(t);
    let forwarded = abuse_rps * stuffer_share * (1.0 - plan.rate_limited_share(t));
    let mut rate: Vec<f64> = visits.iter().map(|v| v * normal_rps).collect();
    rate[px] = normal_rps + abuse_rps;
    rate[fe] += forwarded;
    rate[topo.login_service] += forwarded;
    if topo.comps[topo.login_service].has_db() {
        rate[topo.db] += forwarded;
    }
    Expect {
        dur,
        err,
        timeout,
        rate,
    }
}

fn noisy(rng: &mut SimRng, v: f64, rel: f64) -> f64 {
    v * (1.0 + rel * normal(rng)).max(0.05)
}

pub(crate) fn compute(topo: &Topology, plan: &Plan, rng: &mut SimRng, base_rps: f64) -> Metrics {
    let n = topo.comps.len();
    let start_s = plan.start / 1_000_000_000;
    let steps = (super::model::WINDOW_SECS / STEP_SECS) as usize + 1;
    let times: Vec<i64> = (0..steps).map(|k| start_s + k as i64 * STEP_SECS).collect();
    let stuffer_share = plan.abuse.as_ref().map_or(0.0, |a| {
        let total: f64 = a.client_weights.iter().sum();
        a.clients
            .iter()
            .zip(&a.client_weights)
            .filter(|(c, _)| c.behaviour == super::model::Behaviour::Stuffer)
            .map(|(_, w)| w)
            .sum::<f64>()
            / total
    });
    let tls_reuse_base = uniform(rng, 0.55, 0.75);
    let java_gc_period: Vec<f64> = (0..n).map(|_| uniform(rng, 80.0, 160.0)).collect();
    let java_gc_phase: Vec<f64> = (0..n).map(|_| uniform(rng, 0.0, 1.0)).collect();
    let batch_amp = uniform(rng, 0.4, 0.6);
    let down_visits = (plan.fault == super::FaultKindName::ServiceDown)
        .then(|| visits_without(topo, plan.target));

    let roles: Vec<Role> = topo.comps.iter().map(|c| c.role).collect();
    let app = |c: usize| matches!(roles[c], Role::Proxy | Role::Frontend | Role::Service);
    let members: [Vec<usize>; 9] = [
        (0..n).collect(),
        (0..n).collect(),
        (0..n).filter(|&c| app(c)).collect(),
        vec![topo.proxy],
        (0..n).filter(|&c| roles[c] != Role::Batch).collect(),
        (0..n).filter(|&c| roles[c] != Role::Batch).collect(),
        (0..n)
            .filter(|&c| topo.comps[c].lang == Lang::Go && roles[c] != Role::Proxy)
            .collect(),
        vec![topo.proxy],
        (0..n).filter(|&c| topo.comps[c].has_db()).collect(),
    ];
    let mut values: Vec<Vec<Vec<f64>>> = members
        .iter()
        .map(|m| vec![Vec::with_capacity(steps); m.len()])
        .collect();

    for &ts in &times {
        let t = ts * 1_000_000_000;
        let visits = match &down_visits {
            Some(v) if plan.down(plan.target, t) => v.as_slice(),
            _ => topo.visits.as_slice(),
        };
        let ex = expect(topo, plan, t, base_rps, stuffer_share, visits);
        let secs = plan.secs(t);
        let load = plan.load_at(t);
        for (qi, m) in members.iter().enumerate() {
            for (k, &c) in m.iter().enumerate() {
                let comp = &topo.comps[c];
                let v = match qi {
                    0 => {
                        let busy = if roles[c] == Role::Batch {
                            let phase = (secs / plan.batch_period + plan.batch_phase).fract();
                            if phase < 0.4 {
                                2.2
                            } else {
                                0.3
                            }
                        } else {
                            0.55 + 0.45 * load
                        };
                        let mut cpu = comp.cpu_base * busy + plan.cpu_add(c, t);
                        if plan.fault == super::FaultKindName::CpuSaturation && c == plan.target {
                            let r = plan.ramp(t);
                            cpu = cpu * (1.0 - r) + plan.cpu_level * r;
                        }
                        (cpu + 0.012 * normal(rng)).clamp(0.005, 1.0)
                    }
                    1 => {
                        let mut mem = comp.mem_base * (1.0 + 0.006 * normal(rng));
                        match (roles[c], comp.lang) {
                            (Role::Batch, _) => {
                                let phase = (secs / plan.batch_period + plan.batch_phase).fract();
                                mem *= 1.0 + batch_amp * phase;
                            }
                            (_, Lang::Java) => {
                                let phase = (secs / java_gc_period[c] + java_gc_phase[c]).fract();
                                mem *= 1.0 + 0.04 * phase;
                            }
                            _ => {}
                        }
                        if plan.fault == super::FaultKindName::MemoryLeak && c == plan.target {
                            mem += comp.mem_base * plan.leak_growth * plan.progress(t);
                        }
                        mem += plan.leaked_goroutines(c, t) * plan.gor_bytes;
                        mem
                    }
                    2 => {
                        // The proxy answers abusive requests itself (4xx): only the
                        // requests it forwards can come back 5xx.
                        let rate = if c == topo.proxy {
                            ex.rate[topo.frontend]
                        } else {
                            ex.rate[c]
                        };
                        noisy(rng, ex.err[c] * rate, 0.15)
                    }
                    3 => {
                        let normal_rps = base_rps * load;
                        let abuse = base_rps * plan.abuse_factor(t);
                        noisy(rng, normal_rps * plan.client_error + abuse, 0.08)
                    }
                    4 => noisy(rng, ex.rate[c], 0.04),
                    5 => {
                        let mut tail = 2.3;
                        if plan.fault == super::FaultKindName::CpuSaturation && c == plan.target {
                            tail *= 1.0 + 0.4 * plan.ramp(t);
                        }
                        let mut p99 = ex.dur[c] * tail;
                        if ex.timeout[c] > 0.01 {
                            p99 = p99.max(plan.pool_timeout_ms + ex.dur[c]);
                        }
                        // Waiting requests make a slow mode of their own: the tail is
                        // theirs (a log-normal's 99th percentile, e^(2.33 sigma)).
                        if plan.lock_share(c, t) > 0.01 {
                            p99 = p99.max(ex.dur[c] + plan.lock_wait_ms * 3.2);
                        }
                        noisy(rng, p99 / 1000.0, 0.05)
                    }
                    6 => {
                        let base = comp.goroutines_base * (0.85 + 0.15 * load);
                        (noisy(rng, base, 0.03) + plan.leaked_goroutines(c, t)).round()
                    }
                    7 => {
                        let normal_rps = base_rps * load;
                        let abuse = base_rps * plan.abuse_factor(t);
                        let share = normal_rps / (normal_rps + abuse);
                        clamp01(noisy(rng, tls_reuse_base * share, 0.025))
                    }
                    _ => {
                        let quiet = (0.4 + 0.7 * normal(rng)).max(0.0);
                        let pending = if plan.fault
                            == super::FaultKindName::ConnectionPoolExhaustion
                            && c == plan.target
                        {
                            plan.pool_max_pending * plan.ramp(t) * uniform(rng, 0.85, 1.15)
                        } else {
                            0.0
                        };
                        (quiet + pending).round()
                    }
                };
                values[qi][k].push(v);
            }
        }
    }

    // A few short spikes in unrelated series, as real dashboards have.
    let spikes = rng.gen_range(3..=6);
    for _ in 0..spikes {
        let qi = [0usize, 2, 4, 5][rng.gen_range(0..4)];
        let m = &members[qi];
        let k = rng.gen_range(0..m.len());
        if m[k] == plan.target {
            continue;
        }
        let at = rng.gen_range(0..steps);
        let len = if chance(rng, 0.5) { 1 } else { 2 };
        let factor = uniform(rng, 1.8, 3.0);
        for v in values[qi][k][at..(at + len).min(steps)].iter_mut() {
            *v = if qi == 0 {
                (*v + 0.25).min(1.0)
            } else {
                *v * factor
            };
        }
    }

    // A stopped service exports nothing: its series end at onset.
    if plan.fault == super::FaultKindName::ServiceDown {
        let live = times
            .iter()
            .filter(|&&ts| !plan.down(plan.target, ts * 1_000_000_000))
            .count();
        for (qi, m) in members.iter().enumerate() {
            for (k, &c) in m.iter().enumerate() {
                if c == plan.target {
                    values[qi][k].truncate(live);
                }
            }
        }
    }

    let queries = SIGNALS
        .iter()
        .enumerate()
        .map(|(qi, &(signal, promql, decimals))| Query {
            signal,
            promql,
            decimals,
            series: members[qi]
                .iter()
                .copied()
                .zip(std::mem::take(&mut values[qi]))
                .collect(),
        })
        .collect();
    Metrics {
        times,
        queries,
        edges: Vec::new(),
    }
}
