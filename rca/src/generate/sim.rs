//! The request simulator: walks each request through the call graph, laying out spans
//! the way sequential calls nest, and records spans (for sampled traces), the proxy's
//! access records and the application log lines the request causes.

use std::collections::BTreeMap;

use rand::Rng;

use super::model::{Behaviour, Plan};
use super::topology::{Lang, Role, Route, Topology};
use super::util::{
    chance, lognormal, ms_to_ns, normal, public_ip, uniform, weighted, SimRng, NANOS_PER_SEC,
};
use super::FaultKindName;

pub(crate) const F_ERROR: u8 = 1;
pub(crate) const F_EXCEPTION: u8 = 2;
pub(crate) const F_POSTGRES: u8 = 4;
pub(crate) const F_REDIS: u8 = 8;
pub(crate) const F_PROXY: u8 = 16;
/// A client span whose connection was refused: `peer` still names the callee (the call
/// is counted on its edge), but the span carries no peer address, as nothing answered.
pub(crate) const F_UNREACHED: u8 = 32;
pub(crate) const NO_PEER: u16 = u16::MAX;

pub(crate) const KIND_SERVER: u8 = 2;
pub(crate) const KIND_CLIENT: u8 = 3;

/// One span, compact: a million of them fit in 64 MB.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanRec {
    pub trace: u128,
    pub id: u64,
    pub parent: u64,
    pub start: i64,
    pub end: i64,
    pub comp: u16,
    pub name: u16,
    pub peer: u16,
    /// HTTP status; 0 when the span has none (database calls).
    pub status: u16,
    pub kind: u8,
    pub flags: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogException {
    None,
    /// The fault's exception (exception fault).
    Fault,
    /// A pool-acquire timeout (`java.sql.SQLTransientConnectionException`).
    PoolTimeout,
}

#[derive(Clone, Debug)]
pub(crate) struct LogRec {
    pub time: i64,
    pub comp: u16,
    pub level: Level,
    pub body: String,
    pub trace: Option<(u128, u64)>,
    pub exception: LogException,
    /// Background lines and lines of traced requests; a size-capped fixture may drop
    /// the others.
    pub keep: bool,
}

pub(crate) const FLAGS: [&str; 4] = ["-", "NR", "UAEX", "RL"];
const FLAG_NONE: u8 = 0;
const FLAG_NR: u8 = 1;
const FLAG_UAEX: u8 = 2;
const FLAG_RL: u8 = 3;

pub(crate) const METHODS: [&str; 2] = ["GET", "POST"];

/// One request as the proxy saw it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AccessRec {
    pub start: i64,
    pub req_id: u128,
    pub duration_us: u32,
    /// Time spent upstream; `None` when the proxy answered by itself.
    pub upstream_us: Option<u32>,
    pub bytes_in: u32,
    pub bytes_out: u32,
    pub status: u16,
    /// Index into [`Sim::paths`].
    pub path: u16,
    /// Index into the topology's item ids, for `{id}` paths.
    pub item: Option<u16>,
    /// Index into `clients` (normal) or the abuse clients.
    pub client: u32,
    pub port: u16,
    /// Frontend pod that served it.
    pub pod: Option<u8>,
    pub method: u8,
    pub flags: u8,
    pub abuse: bool,
    pub abuse_ip: u8,
    /// Whether a route matched (the upstream cluster is known).
    pub routed: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Client {
    pub ip: [u8; 4],
    pub ua: u16,
    pub tls: &'static str,
    pub protocol: &'static str,
}

/// Browser and app user agents with their share of clients; `true` for mobile.
pub(crate) const USER_AGENTS: [(&str, f64, bool); 10] = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", 0.24, false),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", 0.09, false),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15", 0.08, false),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0", 0.06, false),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.66", 0.05, false),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1", 0.18, true),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.6261.64 Mobile Safari/537.36", 0.13, true),
    ("Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", 0.06, true),
    ("ShopApp/4.12.0 (iPhone; iOS 17.3; Scale/3.00)", 0.06, true),
    ("okhttp/4.12.0", 0.05, true),
];

const SCAN_PATHS: [&str; 14] = [
    "/.env",
    "/.git/config",
    "/wp-login.php",
    "/phpmyadmin/index.php",
    "/actuator/env",
    "/server-status",
    "/config.json",
    "/backup.zip",
    "/.aws/credentials",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/cgi-bin/luci",
    "/xmlrpc.php",
    "/api/v1/users?id=1%27%20OR%20%271%27=%271",
    "/debug/pprof/",
];
const ADMIN_PATHS: [&str; 6] = [
    "/admin",
    "/admin/login",
    "/wp-admin/",
    "/administrator/index.php",
    "/manager/html",
    "/login",
];

#[derive(Clone, Copy)]
enum Call {
    Service(usize, u16),
    Db(u16),
    Cache(u16),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ok,
    Fault,
    Background,
}

struct Outcome {
    end: i64,
    status: u16,
}

/// Why a call into another service failed.
#[derive(Clone, Copy)]
enum Failure {
    /// It answered with this 5xx status.
    Status(u16),
    /// The connection was refused (nothing listens: the service is down).
    Refused,
    /// The connection dropped mid-call (the service was killed while serving it).
    Reset,
}

pub(crate) struct Sim<'a> {
    topo: &'a Topology,
    plan: &'a Plan,
    rng: SimRng,
    pub names: Vec<String>,
    name_ids: BTreeMap<String, u16>,
    pub paths: Vec<String>,
    path_ids: BTreeMap<String, u16>,
    route_paths: Vec<u16>,
    route_weights: Vec<f64>,
    pub clients: Vec<Client>,
    pub spans: Vec<SpanRec>,
    pub logs: Vec<LogRec>,
    pub access: Vec<AccessRec>,
    pub traced_requests: usize,
    /// Calls per caller→callee edge, of every simulated request (traced or
    /// not), as the servicegraph connector counts them: `(calls, failed)`
    /// per metric step, step `k` holding the calls that started in the step
    /// before its time, `[start + (k − 1)·step, start + k·step)`.
    pub calls: BTreeMap<(u16, u16), Vec<(u32, u32)>>,
    record: bool,
    trace: u128,
}

impl<'a> Sim<'a> {
    pub(crate) fn new(topo: &'a Topology, plan: &'a Plan, rng: SimRng, requests: usize) -> Self {
        let mut sim = Sim {
            topo,
            plan,
            rng,
            names: topo.names.clone(),
            name_ids: topo
                .names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i as u16))
                .collect(),
            paths: Vec::new(),
            path_ids: BTreeMap::new(),
            route_paths: Vec::new(),
            route_weights: topo.routes.iter().map(|r| r.weight).collect(),
            clients: Vec::new(),
            spans: Vec::new(),
            logs: Vec::new(),
            access: Vec::with_capacity(requests + requests / 8),
            traced_requests: 0,
            calls: BTreeMap::new(),
            record: false,
            trace: 0,
        };
        sim.route_paths = topo
            .routes
            .iter()
            .map(|r| sim.path_id(&r.path.clone()))
            .collect();
        let n_clients = (requests / 12).clamp(40, 4000);
        let ua_weights: Vec<f64> = USER_AGENTS.iter().map(|u| u.1).collect();
        for _ in 0..n_clients {
            let ua = weighted(&mut sim.rng, &ua_weights);
            let tls = if chance(&mut sim.rng, 0.78) {
                "TLSv1.3"
            } else {
                "TLSv1.2"
            };
            let protocol = if tls == "TLSv1.3" || chance(&mut sim.rng, 0.5) {
                "HTTP/2"
            } else {
                "HTTP/1.1"
            };
            let ip = public_ip(&mut sim.rng);
            sim.clients.push(Client {
                ip,
                ua: ua as u16,
                tls,
                protocol,
            });
        }
        sim
    }

    fn name_id(&mut self, s: &str) -> u16 {
        if let Some(&i) = self.name_ids.get(s) {
            return i;
        }
        let i = self.names.len() as u16;
        self.names.push(s.to_string());
        self.name_ids.insert(s.to_string(), i);
        i
    }

    fn path_id(&mut self, s: &str) -> u16 {
        if let Some(&i) = self.path_ids.get(s) {
            return i;
        }
        let i = self.paths.len() as u16;
        self.paths.push(s.to_string());
        self.path_ids.insert(s.to_string(), i);
        i
    }

    fn new_id(&mut self) -> u64 {
        self.rng.gen::<u64>() | 1
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        &mut self,
        comp: usize,
        name: u16,
        kind: u8,
        id: u64,
        parent: u64,
        start: i64,
        end: i64,
        peer: u16,
        status: u16,
        flags: u8,
    ) {
        if self.plan.down(comp, end) {
            // The stopped process never exported what it held when it was killed.
            return;
        }
        if kind == KIND_CLIENT && peer != NO_PEER {
            self.count_call(comp, peer, start, flags & F_ERROR != 0);
        }
        if !self.record {
            return;
        }
        debug_assert!(end >= start, "span ends before it starts");
        self.spans.push(SpanRec {
            trace: self.trace,
            id,
            parent,
            start,
            end,
            comp: comp as u16,
            name,
            peer,
            status,
            kind,
            flags,
        });
    }

    /// One call from `comp` to `peer` that started at `start`, in its metric step.
    fn count_call(&mut self, comp: usize, peer: u16, start: i64, failed: bool) {
        let step = super::metrics::STEP_SECS * NANOS_PER_SEC;
        let steps = (super::model::WINDOW_SECS / super::metrics::STEP_SECS) as usize + 1;
        let k = (start - self.plan.start).div_euclid(step) + 1;
        if k < 1 || k as usize >= steps {
            return;
        }
        let per_step = self
            .calls
            .entry((comp as u16, peer))
            .or_insert_with(|| vec![(0, 0); steps]);
        let cell = &mut per_step[k as usize];
        cell.0 += 1;
        cell.1 += u32::from(failed);
    }

    fn log(
        &mut self,
        time: i64,
        comp: usize,
        level: Level,
        body: String,
        span: u64,
        exc: LogException,
    ) {
        if self.plan.down(comp, time) {
            return;
        }
        self.logs.push(LogRec {
            time,
            comp: comp as u16,
            level,
            body,
            trace: Some((self.trace, span)),
            exception: exc,
            keep: self.record,
        });
    }

    /// Simulates every arrival in order; `traced` decides per request whether its spans
    /// are kept (trace sampling).
    pub(crate) fn run(&mut self, arrivals: &[(i64, bool)], p_trace: f64) {
        for &(t, abusive) in arrivals {
            self.record = chance(&mut self.rng, p_trace);
            self.trace = self.rng.gen::<u128>() | 1;
            if self.record {
                self.traced_requests += 1;
            }
            if abusive {
                self.abusive_request(t);
            } else {
                self.normal_request(t);
            }
        }
    }

    fn proxy_excl(&mut self, t: i64) -> f64 {
        let p = &self.topo.comps[self.topo.proxy];
        lognormal(&mut self.rng, p.excl_ms, p.sigma) * self.plan.excl_factor(self.topo.proxy, t)
    }

    fn normal_request(&mut self, t: i64) {
        let topo = self.topo;
        let r = weighted(&mut self.rng, &self.route_weights);
        let route = &topo.routes[r];
        let n_clients = self.clients.len();
        let client = ((n_clients as f64) * self.rng.gen::<f64>().powi(2)) as usize;
        let item = route
            .path
            .contains("{id}")
            .then(|| self.rng.gen_range(0..topo.item_ids.len()) as u16);
        let root = self.new_id();
        let proxy_excl = self.proxy_excl(t);
        let cs_start = t + ms_to_ns(proxy_excl * 0.6);
        let net = lognormal(&mut self.rng, topo.net_ms, 0.3);
        let delay = self.jittered_delay(topo.frontend, cs_start);
        let cid = self.new_id();
        let out = self.serve(
            topo.frontend,
            route.op,
            cs_start + ms_to_ns(net / 2.0 + delay),
            cid,
            Some(route),
        );
        let cs_end = out.end + ms_to_ns(net / 2.0);
        let end = cs_end + ms_to_ns(proxy_excl * 0.4);
        let err = if out.status >= 500 { F_ERROR } else { 0 };
        let egress = self.name_id(&format!("router {} egress", topo.name(topo.frontend)));
        self.span(
            topo.proxy,
            egress,
            KIND_CLIENT,
            cid,
            root,
            cs_start,
            cs_end,
            topo.frontend as u16,
            out.status,
            F_PROXY | err,
        );
        self.span(
            topo.proxy,
            route.op,
            KIND_SERVER,
            root,
            0,
            t,
            end,
            NO_PEER,
            out.status,
            F_PROXY | err,
        );
        let post = route.method == "POST";
        let bytes_out = if out.status == 200 {
            lognormal(&mut self.rng, if post { 900.0 } else { 6000.0 }, 0.6) as u32
        } else {
            self.rng.gen_range(60..260)
        };
        let bytes_in = if post {
            lognormal(&mut self.rng, 450.0, 0.5) as u32
        } else {
            0
        };
        let pods = topo.comps[topo.frontend].pods.len();
        let rec = AccessRec {
            start: t,
            req_id: self.trace,
            duration_us: ((end - t) / 1000) as u32,
            upstream_us: Some(((cs_end - cs_start) / 1000) as u32),
            bytes_in,
            bytes_out,
            status: out.status,
            path: self.route_paths[r],
            item,
            client: client.min(n_clients - 1) as u32,
            port: self.rng.gen_range(32768..61000),
            pod: Some(self.rng.gen_range(0..pods) as u8),
            method: u8::from(post),
            flags: FLAG_NONE,
            abuse: false,
            abuse_ip: 0,
            routed: true,
        };
        self.access.push(rec);
    }

    fn jittered_delay(&mut self, callee: usize, t: i64) -> f64 {
        let d = self.plan.net_delay_ms(callee, t);
        if d > 0.0 {
            lognormal(&mut self.rng, d, 0.25)
        } else {
            0.0
        }
    }

    /// One server span of `c` and everything below it.
    fn serve(
        &mut self,
        c: usize,
        op: u16,
        start: i64,
        parent: u64,
        route: Option<&Route>,
    ) -> Outcome {
        let topo = self.topo;
        let plan = self.plan;
        let comp = &topo.comps[c];
        let id = self.new_id();
        let mut excl = lognormal(&mut self.rng, comp.excl_ms, comp.sigma)
            * plan.excl_factor(c, start)
            + plan.excl_add_ms(c, start);
        if plan.fault == FaultKindName::CpuSaturation && c == plan.target {
            // A saturated CPU queues work: more spread, not just a higher median.
            let r = plan.ramp(start);
            if r > 0.0 {
                excl *= (0.3 * r * normal(&mut self.rng)).exp();
            }
        }
        if chance(&mut self.rng, 0.002) {
            // Unrelated stalls (a GC pause, a slow disk) now and then.
            excl += lognormal(&mut self.rng, 90.0, 0.5);
        }

        if let Some(route) = route {
            if chance(&mut self.rng, plan.client_error) {
                let status = if route.path.contains("{id}") {
                    404
                } else {
                    401
                };
                let end = start + ms_to_ns(excl * 0.5);
                self.span(
                    c,
                    op,
                    KIND_SERVER,
                    id,
                    parent,
                    start,
                    end,
                    NO_PEER,
                    status,
                    0,
                );
                return Outcome { end, status };
            }
        }

        let share = plan.fault_fail_share(c, start);
        let mode = if share > 0.0 && chance(&mut self.rng, share) {
            Mode::Fault
        } else if chance(&mut self.rng, plan.bg_error) {
            Mode::Background
        } else {
            Mode::Ok
        };
        if mode == Mode::Fault && plan.fault == FaultKindName::ErrorReturn {
            // An early return: none of the usual downstream calls, a quick 5xx.
            let end = start + ms_to_ns(excl * 0.3);
            let status = plan.error_status;
            self.span(
                c,
                op,
                KIND_SERVER,
                id,
                parent,
                start,
                end,
                NO_PEER,
                status,
                F_ERROR,
            );
            return Outcome { end, status };
        }

        let mut calls: Vec<Call> = Vec::new();
        if let Some(route) = route {
            calls.push(Call::Service(route.entry, route.entry_op));
        } else {
            if comp.cache_calls.1 > 0 {
                let n = self.rng.gen_range(comp.cache_calls.0..=comp.cache_calls.1);
                for _ in 0..n {
                    let op = topo.cache_ops[self.rng.gen_range(0..topo.cache_ops.len())];
                    calls.push(Call::Cache(op));
                }
            }
            for &e in &topo.out_edges[c] {
                let edge = &topo.edges[e];
                if chance(&mut self.rng, edge.p) {
                    let ops = &topo.comps[edge.to].ops;
                    let op = ops[self.rng.gen_range(0..ops.len())];
                    calls.push(Call::Service(edge.to, op));
                }
            }
            if comp.has_db() {
                let n = self.rng.gen_range(comp.db_calls.0..=comp.db_calls.1);
                for _ in 0..n {
                    let op = comp.db_ops[self.rng.gen_range(0..comp.db_ops.len())];
                    calls.push(Call::Db(op));
                }
            }
        }
        let cut = match mode {
            Mode::Ok => calls.len(),
            _ => self.rng.gen_range(0..=calls.len()),
        };

        let pre = excl * uniform(&mut self.rng, 0.2, 0.6);
        let mut cursor = start + ms_to_ns(pre);
        let lock = plan.lock_share(c, start);
        if lock > 0.0 && chance(&mut self.rng, lock) {
            // Held up behind other transactions before any call goes out: own time
            // that burns no CPU. The longer the wait, the longer the queue it reports.
            let wait = lognormal(&mut self.rng, plan.lock_wait_ms, 0.5);
            let behind = (4.0 * wait / plan.lock_wait_ms * uniform(&mut self.rng, 0.7, 1.3))
                .round()
                .clamp(1.0, 12.0) as u32;
            let level = if behind > 6 { Level::Warn } else { Level::Info };
            let body = format!("Waiting for lock behind {behind} transactions");
            self.log(cursor, c, level, body, id, LogException::None);
            cursor += ms_to_ns(wait);
        }
        let mut failed: Option<u16> = None;
        for &call in &calls[..cut] {
            match call {
                Call::Service(to, to_op) => {
                    let net = lognormal(&mut self.rng, topo.net_ms, 0.3);
                    let delay = self.jittered_delay(to, cursor);
                    let cid = self.new_id();
                    let arrive = cursor + ms_to_ns(net / 2.0 + delay);
                    let (cend, failure) = if plan.down(to, arrive) {
                        // Nothing listens any more: the connect attempt is refused at
                        // once, and no peer ever answered.
                        let cend = cursor + ms_to_ns(uniform(&mut self.rng, 0.5, 3.0));
                        self.span(
                            c,
                            to_op,
                            KIND_CLIENT,
                            cid,
                            id,
                            cursor,
                            cend,
                            to as u16,
                            0,
                            F_ERROR | F_UNREACHED,
                        );
                        (cend, Some(Failure::Refused))
                    } else {
                        let out = self.serve(to, to_op, arrive, cid, None);
                        if plan.down(to, out.end) {
                            // Killed while serving the call: the connection drops.
                            let cend = plan.onset.max(cursor) + ms_to_ns(net / 2.0);
                            self.span(
                                c,
                                to_op,
                                KIND_CLIENT,
                                cid,
                                id,
                                cursor,
                                cend,
                                to as u16,
                                0,
                                F_ERROR,
                            );
                            (cend, Some(Failure::Reset))
                        } else {
                            let cend = out.end + ms_to_ns(net / 2.0);
                            let err = if out.status >= 500 { F_ERROR } else { 0 };
                            self.span(
                                c,
                                to_op,
                                KIND_CLIENT,
                                cid,
                                id,
                                cursor,
                                cend,
                                to as u16,
                                out.status,
                                err,
                            );
                            (
                                cend,
                                (out.status >= 500).then_some(Failure::Status(out.status)),
                            )
                        }
                    };
                    cursor = cend + self.rng.gen_range(10_000..80_000);
                    if let Some(why) = failure {
                        if let Some(status) = self.call_failed(c, id, to, cend, why) {
                            failed = Some(status);
                            break;
                        }
                    }
                }
                Call::Db(db_op) => {
                    let db = topo.db;
                    let net = lognormal(&mut self.rng, topo.net_ms, 0.3);
                    let mut wait = plan.pool_wait_ms(c, cursor);
                    if wait > 0.0 {
                        wait = lognormal(&mut self.rng, wait, 0.5);
                    }
                    let timeout = chance(&mut self.rng, plan.pool_timeout_p(c, cursor));
                    let dur = if timeout {
                        plan.pool_timeout_ms * uniform(&mut self.rng, 1.0, 1.01)
                    } else {
                        let dbc = &topo.comps[db];
                        wait + net
                            + self.jittered_delay(db, cursor)
                            + lognormal(&mut self.rng, dbc.excl_ms, dbc.sigma)
                                * plan.excl_factor(db, cursor)
                    };
                    let cid = self.new_id();
                    let cend = cursor + ms_to_ns(dur);
                    let err = if timeout { F_ERROR } else { 0 };
                    self.span(
                        c,
                        db_op,
                        KIND_CLIENT,
                        cid,
                        id,
                        cursor,
                        cend,
                        db as u16,
                        0,
                        F_POSTGRES | err,
                    );
                    cursor = cend + self.rng.gen_range(10_000..60_000);
                    if timeout {
                        let pending =
                            (plan.pool_max_pending * uniform(&mut self.rng, 0.7, 1.1)) as u32;
                        let (body, exc) = match comp.lang {
                            Lang::Java => (
                                format!(
                                    "timeout acquiring connection from pool after {} ms (total={}, active={}, idle=0, waiting={})",
                                    plan.pool_timeout_ms as u32, plan.pool_size, plan.pool_size, pending
                                ),
                                LogException::PoolTimeout,
                            ),
                            _ => (
                                format!(
                                    "timeout acquiring connection from pool after {} ms: context deadline exceeded (max_open={}, waiting={})",
                                    plan.pool_timeout_ms as u32, plan.pool_size, pending
                                ),
                                LogException::None,
                            ),
                        };
                        self.log(cend, c, Level::Error, body, id, exc);
                        failed = Some(500);
                        break;
                    }
                }
                Call::Cache(cache_op) => {
                    let cache = topo.cache;
                    let cc = &topo.comps[cache];
                    let net = lognormal(&mut self.rng, topo.net_ms, 0.3);
                    let dur = net
                        + self.jittered_delay(cache, cursor)
                        + lognormal(&mut self.rng, cc.excl_ms, cc.sigma)
                            * plan.excl_factor(cache, cursor);
                    let cid = self.new_id();
                    let cend = cursor + ms_to_ns(dur);
                    self.span(
                        c,
                        cache_op,
                        KIND_CLIENT,
                        cid,
                        id,
                        cursor,
                        cend,
                        cache as u16,
                        0,
                        F_REDIS,
                    );
                    cursor = cend + self.rng.gen_range(5_000..40_000);
                }
            }
        }
        let end = cursor + ms_to_ns(excl - pre);
        let op_name = &self.names[op as usize];
        let (status, flags) = match mode {
            Mode::Fault => {
                let e = &plan.exception;
                let body = match comp.lang {
                    Lang::Go => format!(
                        "panic recovered in handler {op_name}: {}\n{}",
                        e.message, e.frame
                    ),
                    _ => format!(
                        "Unhandled exception processing {op_name}: {}: {}\n{}",
                        e.ty, e.message, e.frame
                    ),
                };
                self.log(end, c, Level::Error, body, id, LogException::Fault);
                (500, F_ERROR | F_EXCEPTION)
            }
            Mode::Background => {
                let body = format!("internal error handling {op_name}: upstream connection reset");
                self.log(end, c, Level::Error, body, id, LogException::None);
                (500, F_ERROR)
            }
            Mode::Ok => match failed {
                Some(s) => (s, F_ERROR),
                None => (200, 0),
            },
        };
        self.span(
            c,
            op,
            KIND_SERVER,
            id,
            parent,
            start,
            end,
            NO_PEER,
            status,
            flags,
        );
        Outcome { end, status }
    }

    /// A call of `c`'s request (its server span `span`) into `callee` failed at `at`.
    /// With the caller's chance of propagating, the request fails too (the status it
    /// answers is returned); otherwise the caller serves a fallback.
    fn call_failed(
        &mut self,
        c: usize,
        span: u64,
        callee: usize,
        at: i64,
        why: Failure,
    ) -> Option<u16> {
        let topo = self.topo;
        let name = topo.name(callee);
        let cause = match why {
            Failure::Status(s) => s.to_string(),
            Failure::Refused => "connection refused".to_string(),
            Failure::Reset => "connection reset by peer".to_string(),
        };
        if chance(&mut self.rng, topo.comps[c].p_prop) {
            let status = match why {
                Failure::Status(s) if s == 503 || chance(&mut self.rng, 0.5) => s.max(500),
                Failure::Status(_) => 502,
                // No answer at all: the caller's own gateway-style error.
                _ if chance(&mut self.rng, 0.5) => 503,
                _ => 502,
            };
            let body = format!("call to {name} failed: {cause}");
            self.log(at, c, Level::Error, body, span, LogException::None);
            return Some(status);
        }
        let body = format!("call to {name} failed: {cause}, serving fallback");
        self.log(at, c, Level::Warn, body, span, LogException::None);
        None
    }

    fn abusive_request(&mut self, t: i64) {
        let topo = self.topo;
        let plan = self.plan;
        let Some(abuse) = &plan.abuse else {
            return;
        };
        let ci = weighted(&mut self.rng, &abuse.client_weights);
        let client = &abuse.clients[ci];
        let ip = self.rng.gen_range(0..client.ips.len()) as u8;
        let root = self.new_id();
        let proxy_excl = self.proxy_excl(t);
        let (method, path, status, flags, routed) = match client.behaviour {
            Behaviour::Scanner => {
                let path = SCAN_PATHS[self.rng.gen_range(0..SCAN_PATHS.len())];
                if chance(&mut self.rng, 0.7) {
                    (0u8, path, 404u16, FLAG_NR, false)
                } else {
                    (0, path, 403, FLAG_UAEX, true)
                }
            }
            Behaviour::AdminBrute => {
                let path = ADMIN_PATHS[self.rng.gen_range(0..ADMIN_PATHS.len())];
                let method = u8::from(chance(&mut self.rng, 0.6));
                if chance(&mut self.rng, 0.7) {
                    (method, path, 403, FLAG_UAEX, true)
                } else {
                    (method, path, 401, FLAG_UAEX, true)
                }
            }
            Behaviour::Stuffer => {
                if chance(&mut self.rng, plan.rate_limited_share(t)) {
                    (1, "/api/login", 429, FLAG_RL, true)
                } else {
                    (1, "/api/login", 0, FLAG_NONE, true)
                }
            }
        };
        let path_id = self.path_id(path);
        let (end, status, upstream, pod) = if status == 0 {
            // Forwarded: the frontend asks the login service, which says no.
            let (end, upstream) = self.forwarded_login(t, root, proxy_excl);
            let pods = topo.comps[topo.frontend].pods.len();
            let pod = self.rng.gen_range(0..pods) as u8;
            (end, 401u16, Some(upstream), Some(pod))
        } else {
            (t + ms_to_ns(proxy_excl), status, None, None)
        };
        let name = self.name_id(&format!(
            "{} {}",
            METHODS[method as usize],
            path.split('?').next().unwrap_or(path)
        ));
        self.span(
            topo.proxy,
            name,
            KIND_SERVER,
            root,
            0,
            t,
            end,
            NO_PEER,
            status,
            F_PROXY,
        );
        let bytes_out = self.rng.gen_range(0..180);
        let bytes_in = if method == 1 {
            self.rng.gen_range(40..200)
        } else {
            0
        };
        self.access.push(AccessRec {
            start: t,
            req_id: self.trace,
            duration_us: ((end - t) / 1000) as u32,
            upstream_us: upstream,
            bytes_in,
            bytes_out,
            status,
            path: path_id,
            item: None,
            client: ci as u32,
            port: self.rng.gen_range(32768..61000),
            pod,
            method,
            flags,
            abuse: true,
            abuse_ip: ip,
            routed,
        });
    }

    /// Spans of a forwarded login attempt; returns the root's end and the upstream time
    /// in microseconds.
    fn forwarded_login(&mut self, t: i64, root: u64, proxy_excl: f64) -> (i64, u32) {
        let topo = self.topo;
        let plan = self.plan;
        let route = &topo.routes[topo.login_route];
        let fe = topo.frontend;
        let svc = topo.login_service;
        let net = lognormal(&mut self.rng, topo.net_ms, 0.3);
        let cs_start = t + ms_to_ns(proxy_excl * 0.6);
        let fe_start = cs_start + ms_to_ns(net / 2.0 + self.jittered_delay(fe, cs_start));
        let fe_comp = &topo.comps[fe];
        let fe_excl =
            lognormal(&mut self.rng, fe_comp.excl_ms, fe_comp.sigma) * plan.excl_factor(fe, t);
        let call_start = fe_start + ms_to_ns(fe_excl * 0.5);
        let net2 = lognormal(&mut self.rng, topo.net_ms, 0.3);
        let svc_start = call_start + ms_to_ns(net2 / 2.0 + self.jittered_delay(svc, call_start));
        let sc = &topo.comps[svc];
        let svc_excl = lognormal(&mut self.rng, sc.excl_ms, sc.sigma)
            * plan.excl_factor(svc, svc_start)
            + plan.excl_add_ms(svc, svc_start);
        let svc_id = self.new_id();
        let mut cursor = svc_start + ms_to_ns(svc_excl * 0.5);
        if sc.has_db() {
            // The credential lookup.
            let db = &topo.comps[topo.db];
            let dur = net2
                + lognormal(&mut self.rng, db.excl_ms, db.sigma)
                    * plan.excl_factor(topo.db, cursor);
            let qid = self.new_id();
            let q_end = cursor + ms_to_ns(dur);
            self.span(
                svc,
                sc.db_ops[0],
                KIND_CLIENT,
                qid,
                svc_id,
                cursor,
                q_end,
                topo.db as u16,
                0,
                F_POSTGRES,
            );
            cursor = q_end;
        }
        let svc_end = cursor + ms_to_ns(svc_excl * 0.5);
        let fe_id = self.new_id();
        let call_id = self.new_id();
        let cid = self.new_id();
        self.span(
            svc,
            route.entry_op,
            KIND_SERVER,
            svc_id,
            call_id,
            svc_start,
            svc_end,
            NO_PEER,
            401,
            0,
        );
        let call_end = svc_end + ms_to_ns(net2 / 2.0);
        self.span(
            fe,
            route.entry_op,
            KIND_CLIENT,
            call_id,
            fe_id,
            call_start,
            call_end,
            svc as u16,
            401,
            0,
        );
        let fe_end = call_end + ms_to_ns(fe_excl * 0.5);
        self.span(
            fe,
            route.op,
            KIND_SERVER,
            fe_id,
            cid,
            fe_start,
            fe_end,
            NO_PEER,
            401,
            0,
        );
        let cs_end = fe_end + ms_to_ns(net / 2.0);
        let egress = self.name_id(&format!("router {} egress", topo.name(fe)));
        self.span(
            topo.proxy,
            egress,
            KIND_CLIENT,
            cid,
            root,
            cs_start,
            cs_end,
            fe as u16,
            401,
            F_PROXY,
        );
        if chance(&mut self.rng, 0.5) {
            let body = "authentication failed: invalid credentials".to_string();
            self.log(svc_end, svc, Level::Warn, body, svc_id, LogException::None);
        }
        (
            cs_end + ms_to_ns(proxy_excl * 0.4),
            ((cs_end - cs_start) / 1000) as u32,
        )
    }

    /// Background application logs: periodic INFO lines, a few WARN lines, and the
    /// fault's slow-burning symptoms (GC pressure, pool saturation).
    pub(crate) fn background_logs(&mut self) {
        let topo = self.topo;
        let plan = self.plan;
        for (c, comp) in topo.comps.iter().enumerate() {
            let every = match comp.role {
                Role::Frontend | Role::Service => uniform(&mut self.rng, 60.0, 120.0),
                Role::Batch => plan.batch_period,
                _ => continue,
            };
            let mut t = plan.start + (uniform(&mut self.rng, 0.0, every) * 1e9) as i64;
            while t < plan.end {
                let body = match comp.role {
                    Role::Batch => format!(
                        "batch run finished: processed {} records in {:.1}s",
                        self.rng.gen_range(20_000..90_000),
                        uniform(&mut self.rng, 40.0, 110.0)
                    ),
                    _ => match self.rng.gen_range(0..4) {
                        0 => format!(
                            "handled {} requests in the last 60s",
                            self.rng.gen_range(100..5000)
                        ),
                        1 => "health check ok".to_string(),
                        2 => format!(
                            "refreshed configuration in {} ms",
                            self.rng.gen_range(3..40)
                        ),
                        _ => format!(
                            "connection pool stats: active={} idle={}",
                            self.rng.gen_range(1..6),
                            self.rng.gen_range(4..12)
                        ),
                    },
                };
                // A stopped service writes nothing (the draws stay, so that the other
                // components' lines are the same as without the fault).
                if !plan.down(c, t) {
                    self.logs.push(LogRec {
                        time: t,
                        comp: c as u16,
                        level: Level::Info,
                        body,
                        trace: None,
                        exception: LogException::None,
                        keep: true,
                    });
                }
                if chance(&mut self.rng, 0.15) && comp.role != Role::Batch {
                    let ms = self.rng.gen_range(400..1500);
                    let time = t + self.rng.gen_range(1..20) * NANOS_PER_SEC;
                    if !plan.down(c, time) {
                        self.logs.push(LogRec {
                            time,
                            comp: c as u16,
                            level: Level::Warn,
                            body: format!("slow request took {ms} ms"),
                            trace: None,
                            exception: LogException::None,
                            keep: true,
                        });
                    }
                }
                t += (every * uniform(&mut self.rng, 0.85, 1.15) * 1e9) as i64;
            }
        }

        // The fault's own slow symptoms, every 30 s after onset.
        let target = plan.target;
        let comp = &topo.comps[target];
        let mut t = plan.onset + (uniform(&mut self.rng, 5.0, 30.0) * 1e9) as i64;
        while t < plan.end {
            let line = match plan.fault {
                FaultKindName::MemoryLeak if comp.lang == Lang::Java && plan.progress(t) > 0.15 => Some((
                    Level::Warn,
                    format!(
                        "GC overhead high: {}% of time spent in garbage collection over the last minute",
                        (10.0 + 60.0 * plan.progress(t)) as u32
                    ),
                )),
                FaultKindName::ConnectionPoolExhaustion => Some((
                    Level::Warn,
                    format!(
                        "connection pool saturated: total={} active={} idle=0 waiting={}",
                        plan.pool_size,
                        plan.pool_size,
                        (plan.pool_max_pending * plan.ramp(t) * uniform(&mut self.rng, 0.8, 1.1)) as u32
                    ),
                )),
                _ => None,
            };
            if let Some((level, body)) = line {
                self.logs.push(LogRec {
                    time: t,
                    comp: target as u16,
                    level,
                    body,
                    trace: None,
                    exception: LogException::None,
                    keep: true,
                });
            }
            t += (uniform(&mut self.rng, 25.0, 35.0) * 1e9) as i64;
        }
    }
}

/// Request arrival times over the window, normal and abusive, in time order. The normal
/// rate follows the plan's load curve with per-second noise; `total` is the number of
/// requests, split between normal and abusive by their rates.
pub(crate) fn arrivals(plan: &Plan, rng: &mut SimRng, total: usize) -> Vec<(i64, bool)> {
    let secs = ((plan.end - plan.start) / NANOS_PER_SEC) as usize;
    let mut normal_w = Vec::with_capacity(secs);
    let mut abuse_w = Vec::with_capacity(secs);
    for i in 0..secs {
        let mid = plan.start + i as i64 * NANOS_PER_SEC + NANOS_PER_SEC / 2;
        normal_w.push((plan.load_at(mid) * (1.0 + 0.06 * normal(rng))).max(0.0));
        abuse_w.push((plan.abuse_factor(mid) * (1.0 + 0.2 * normal(rng))).max(0.0));
    }
    let sum: f64 = normal_w.iter().sum::<f64>() + abuse_w.iter().sum::<f64>();
    let scale = total as f64 / sum;
    let mut out = Vec::with_capacity(total + 16);
    let (mut acc_n, mut acc_a) = (0.0f64, 0.0f64);
    let (mut done_n, mut done_a) = (0usize, 0usize);
    let mut second = Vec::new();
    for i in 0..secs {
        acc_n += normal_w[i] * scale;
        acc_a += abuse_w[i] * scale;
        let n = acc_n as usize - done_n;
        let a = acc_a as usize - done_a;
        done_n += n;
        done_a += a;
        second.clear();
        let base = plan.start + i as i64 * NANOS_PER_SEC;
        for k in 0..n + a {
            second.push((base + rng.gen_range(0..NANOS_PER_SEC), k >= n));
        }
        second.sort_unstable();
        out.extend_from_slice(&second);
    }
    out
}
