//! The simulated system: components, the call graph, the frontend's routes.
//!
//! Everything here is drawn from one random stream seeded by the fixture seed alone, so
//! a seed names one system whatever fault is injected into it.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::Rng;

use super::util::{chance, lognormal_mean, uniform, weighted, SimRng};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Proxy,
    Frontend,
    Service,
    Database,
    Cache,
    Batch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    Go,
    Java,
    /// Envoy, PostgreSQL, Redis: C/C++ processes without a language runtime worth naming.
    Native,
}

impl Lang {
    pub(crate) fn sdk_name(self) -> &'static str {
        match self {
            Lang::Go => "go",
            Lang::Java => "java",
            Lang::Native => "cpp",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Component {
    pub name: String,
    /// The name without style suffix (`cart` for `cart-service`), used in paths.
    pub base: String,
    pub role: Role,
    pub lang: Lang,
    /// 0 proxy, 1 frontend, 2.. services by depth; datastores below the deepest level.
    pub level: usize,
    /// Median exclusive work per request, milliseconds (for datastores: query time).
    pub excl_ms: f64,
    pub sigma: f64,
    /// Server operations (name ids) callers may invoke.
    pub ops: Vec<u16>,
    /// Queries per request against the database, inclusive range; (0, 0) when none.
    pub db_calls: (u8, u8),
    pub db_ops: Vec<u16>,
    pub cache_calls: (u8, u8),
    /// Chance that a failed downstream call fails this component's request too.
    pub p_prop: f64,
    /// CPU used as a share of the limit at nominal load.
    pub cpu_base: f64,
    pub mem_base: f64,
    pub goroutines_base: f64,
    pub pods: Vec<[u8; 4]>,
    pub port: u16,
}

impl Component {
    pub(crate) fn has_db(&self) -> bool {
        self.db_calls.1 > 0
    }

    pub(crate) fn mean_db_calls(&self) -> f64 {
        (self.db_calls.0 as f64 + self.db_calls.1 as f64) / 2.0
    }

    pub(crate) fn mean_cache_calls(&self) -> f64 {
        (self.cache_calls.0 as f64 + self.cache_calls.1 as f64) / 2.0
    }

    pub(crate) fn mean_excl_ms(&self) -> f64 {
        lognormal_mean(self.excl_ms, self.sigma)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Edge {
    pub from: usize,
    pub to: usize,
    /// Chance the call is made on a request through `from`.
    pub p: f64,
}

#[derive(Clone, Debug)]
pub(crate) struct Route {
    pub method: &'static str,
    /// Path template; `{id}` is filled per request.
    pub path: String,
    /// Name id of the frontend operation (`GET /api/cart`).
    pub op: u16,
    pub entry: usize,
    /// Operation invoked on the entry service.
    pub entry_op: u16,
    pub weight: f64,
}

#[derive(Clone, Debug)]
pub(crate) struct Topology {
    pub comps: Vec<Component>,
    pub edges: Vec<Edge>,
    /// Edge indices by caller.
    pub out_edges: Vec<Vec<usize>>,
    pub routes: Vec<Route>,
    pub proxy: usize,
    pub frontend: usize,
    pub db: usize,
    pub cache: usize,
    pub batch: usize,
    /// Span and operation names, referred to by id.
    pub names: Vec<String>,
    pub cache_ops: Vec<u16>,
    /// The route and service that handle logins (targets of credential stuffing).
    pub login_route: usize,
    pub login_service: usize,
    /// Expected calls per frontend request (datastores: queries).
    pub visits: Vec<f64>,
    /// Median network time of one hop, milliseconds.
    pub net_ms: f64,
    pub authority: String,
    pub item_ids: Vec<String>,
}

const SERVICE_POOL: [&str; 32] = [
    "checkout",
    "cart",
    "catalog",
    "payment",
    "shipping",
    "user",
    "auth",
    "search",
    "recommendation",
    "inventory",
    "pricing",
    "notification",
    "review",
    "ad",
    "currency",
    "order",
    "account",
    "profile",
    "email",
    "fraud",
    "loyalty",
    "promotion",
    "wishlist",
    "tax",
    "media",
    "session",
    "billing",
    "quote",
    "geo",
    "rating",
    "fulfillment",
    "coupon",
];
const STYLES: [&str; 4] = ["", "-service", "-svc", "-api"];
const PROXY_NAMES: [&str; 5] = ["envoy", "edge-envoy", "ingress", "gateway", "front-proxy"];
const FRONTEND_NAMES: [&str; 5] = ["frontend", "web", "storefront", "webapp", "bff"];
const DB_NAMES: [&str; 6] = [
    "postgres",
    "orders-db",
    "pg-main",
    "postgresql",
    "shop-db",
    "accounts-db",
];
const CACHE_NAMES: [&str; 5] = [
    "redis",
    "redis-cache",
    "session-cache",
    "redis-main",
    "valkey",
];
const BATCH_NAMES: [&str; 6] = [
    "report-batch",
    "etl-worker",
    "email-digest",
    "reindex-job",
    "ledger-batch",
    "nightly-export",
];
const AUTHORITIES: [&str; 5] = [
    "shop.example.com",
    "www.example-store.com",
    "api.example.shop",
    "store.example.net",
    "m.example-market.com",
];
const LOGIN_BASES: [&str; 5] = ["auth", "user", "account", "session", "profile"];

struct Names {
    list: Vec<String>,
    index: BTreeMap<String, u16>,
}

impl Names {
    fn id(&mut self, s: &str) -> u16 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len() as u16;
        self.list.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

fn pod_ips(rng: &mut SimRng, n: usize) -> Vec<[u8; 4]> {
    (0..n)
        .map(|_| {
            [
                10,
                rng.gen_range(0..=3),
                rng.gen_range(0..=255),
                rng.gen_range(2..=254),
            ]
        })
        .collect()
}

fn plural(base: &str) -> String {
    if base.ends_with('s') {
        base.to_string()
    } else if let Some(stem) = base.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{base}s")
    }
}

impl Topology {
    pub(crate) fn generate(rng: &mut SimRng) -> Topology {
        let mut names = Names {
            list: Vec::new(),
            index: BTreeMap::new(),
        };
        let n_services: usize = rng.gen_range(7..=15);
        let n_levels: usize = rng.gen_range(2..=4);
        let style = *STYLES.choose(rng).unwrap();
        let mut bases: Vec<&str> = SERVICE_POOL.to_vec();
        bases.shuffle(rng);
        bases.truncate(n_services);

        // Level sizes: 2-4 services called by the frontend, at least one per deeper level.
        let l1 = rng.gen_range(2..=4usize.min(n_services - (n_levels - 1)));
        let mut sizes = vec![l1];
        sizes.resize(n_levels, 1);
        for _ in 0..(n_services - l1 - (n_levels - 1)) {
            let k = rng.gen_range(1..n_levels);
            sizes[k] += 1;
        }

        let mut comps = Vec::new();
        let proxy_name = *PROXY_NAMES.choose(rng).unwrap();
        comps.push(Component {
            name: proxy_name.to_string(),
            base: proxy_name.to_string(),
            role: Role::Proxy,
            lang: Lang::Native,
            level: 0,
            excl_ms: uniform(rng, 0.25, 0.5),
            sigma: 0.3,
            ops: Vec::new(),
            db_calls: (0, 0),
            db_ops: Vec::new(),
            cache_calls: (0, 0),
            p_prop: 1.0,
            cpu_base: uniform(rng, 0.1, 0.25),
            mem_base: uniform(rng, 60e6, 140e6),
            goroutines_base: 0.0,
            pods: pod_ips(rng, 2),
            port: 8443,
        });
        let fe_name = *FRONTEND_NAMES.choose(rng).unwrap();
        let fe_lang = if chance(rng, 0.4) {
            Lang::Go
        } else {
            Lang::Java
        };
        comps.push(Component {
            name: fe_name.to_string(),
            base: fe_name.to_string(),
            role: Role::Frontend,
            lang: fe_lang,
            level: 1,
            excl_ms: uniform(rng, 2.0, 6.0),
            sigma: 0.35,
            ops: Vec::new(),
            db_calls: (0, 0),
            db_ops: Vec::new(),
            cache_calls: (0, 0),
            p_prop: 0.9,
            cpu_base: uniform(rng, 0.2, 0.45),
            mem_base: match fe_lang {
                Lang::Go => uniform(rng, 80e6, 250e6),
                _ => uniform(rng, 600e6, 1.2e9),
            },
            goroutines_base: if fe_lang == Lang::Go {
                uniform(rng, 120.0, 400.0)
            } else {
                0.0
            },
            pods: {
                let n = rng.gen_range(2..=3);
                pod_ips(rng, n)
            },
            port: 8080,
        });

        // Services, level by level; at least one Go and one Java service.
        let mut langs: Vec<Lang> = (0..n_services)
            .map(|_| {
                if chance(rng, 0.4) {
                    Lang::Go
                } else {
                    Lang::Java
                }
            })
            .collect();
        if !langs.contains(&Lang::Go) {
            let i = rng.gen_range(0..n_services);
            langs[i] = Lang::Go;
        }
        if !langs.contains(&Lang::Java) {
            let i = rng.gen_range(0..n_services);
            langs[i] = Lang::Java;
        }
        let mut svc = 0;
        for (k, &size) in sizes.iter().enumerate() {
            for _ in 0..size {
                let base = bases[svc];
                let lang = langs[svc];
                let mut ops = vec![names.id(&format!("GET /{base}"))];
                if chance(rng, 0.6) {
                    ops.push(names.id(&format!("POST /{base}")));
                }
                comps.push(Component {
                    name: format!("{base}{style}"),
                    base: base.to_string(),
                    role: Role::Service,
                    lang,
                    level: 2 + k,
                    excl_ms: uniform(rng, 1.5, 14.0),
                    sigma: uniform(rng, 0.3, 0.5),
                    ops,
                    db_calls: (0, 0),
                    db_ops: Vec::new(),
                    cache_calls: (0, 0),
                    p_prop: uniform(rng, 0.55, 0.9),
                    cpu_base: uniform(rng, 0.15, 0.5),
                    mem_base: match lang {
                        Lang::Go => uniform(rng, 50e6, 300e6),
                        _ => uniform(rng, 400e6, 1.5e9),
                    },
                    goroutines_base: if lang == Lang::Go {
                        uniform(rng, 60.0, 400.0)
                    } else {
                        0.0
                    },
                    pods: {
                        let n = rng.gen_range(1..=3);
                        pod_ips(rng, n)
                    },
                    port: if lang == Lang::Go { 9090 } else { 8080 },
                });
                svc += 1;
            }
        }
        let services: Vec<usize> = (2..2 + n_services).collect();
        let deepest = 2 + n_levels;

        let db_name = *DB_NAMES.choose(rng).unwrap();
        let db = comps.len();
        comps.push(Component {
            name: db_name.to_string(),
            base: db_name.to_string(),
            role: Role::Database,
            lang: Lang::Native,
            level: deepest,
            excl_ms: uniform(rng, 1.5, 5.0),
            sigma: 0.45,
            ops: Vec::new(),
            db_calls: (0, 0),
            db_ops: Vec::new(),
            cache_calls: (0, 0),
            p_prop: 1.0,
            cpu_base: uniform(rng, 0.2, 0.45),
            mem_base: uniform(rng, 2e9, 6e9),
            goroutines_base: 0.0,
            pods: pod_ips(rng, 1),
            port: 5432,
        });
        let cache_name = *CACHE_NAMES.choose(rng).unwrap();
        let cache = comps.len();
        comps.push(Component {
            name: cache_name.to_string(),
            base: cache_name.to_string(),
            role: Role::Cache,
            lang: Lang::Native,
            level: deepest,
            excl_ms: uniform(rng, 0.2, 0.6),
            sigma: 0.35,
            ops: Vec::new(),
            db_calls: (0, 0),
            db_ops: Vec::new(),
            cache_calls: (0, 0),
            p_prop: 1.0,
            cpu_base: uniform(rng, 0.05, 0.2),
            mem_base: uniform(rng, 200e6, 1e9),
            goroutines_base: 0.0,
            pods: pod_ips(rng, 1),
            port: 6379,
        });
        let batch_name = *BATCH_NAMES.choose(rng).unwrap();
        let batch = comps.len();
        let batch_lang = if chance(rng, 0.5) {
            Lang::Go
        } else {
            Lang::Java
        };
        comps.push(Component {
            name: batch_name.to_string(),
            base: batch_name.to_string(),
            role: Role::Batch,
            lang: batch_lang,
            level: deepest,
            excl_ms: 0.0,
            sigma: 0.0,
            ops: Vec::new(),
            db_calls: (0, 0),
            db_ops: Vec::new(),
            cache_calls: (0, 0),
            p_prop: 1.0,
            cpu_base: uniform(rng, 0.1, 0.3),
            mem_base: uniform(rng, 300e6, 1e9),
            goroutines_base: if batch_lang == Lang::Go {
                uniform(rng, 30.0, 90.0)
            } else {
                0.0
            },
            pods: pod_ips(rng, 1),
            port: 8080,
        });

        // Call graph: every service below the first level has a caller one level up;
        // further callers from any level above make shared services.
        let levels: Vec<usize> = comps.iter().map(|c| c.level).collect();
        let by_level = |lvl: usize| -> Vec<usize> {
            services
                .iter()
                .copied()
                .filter(|&s| levels[s] == lvl)
                .collect()
        };
        let mut callers: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &s in &services {
            let lvl = comps[s].level;
            if lvl == 2 {
                continue;
            }
            let above = by_level(lvl - 1);
            let primary = *above.choose(rng).unwrap();
            let mut cs = vec![primary];
            for &u in &services {
                if comps[u].level < lvl && u != primary && cs.len() < 3 && chance(rng, 0.22) {
                    cs.push(u);
                }
            }
            callers.insert(s, cs);
        }
        let shared = |callers: &BTreeMap<usize, Vec<usize>>| {
            callers.values().filter(|c| c.len() >= 2).count()
        };
        let mut guard = 0;
        while shared(&callers) < 2 && guard < 100 {
            guard += 1;
            let s = *services[l1..].choose(rng).unwrap();
            let lvl = comps[s].level;
            let candidates: Vec<usize> = services
                .iter()
                .copied()
                .filter(|&u| comps[u].level < lvl && !callers[&s].contains(&u))
                .collect();
            if let Some(&u) = candidates.choose(rng) {
                callers.get_mut(&s).unwrap().push(u);
            }
        }
        let mut edges = Vec::new();
        for (&to, froms) in &callers {
            for &from in froms {
                edges.push(Edge {
                    from,
                    to,
                    p: uniform(rng, 0.3, 0.8),
                });
            }
        }
        edges.sort_by_key(|e| (e.from, e.to));

        // Datastore clients: two to four services call the database, one to three the cache.
        let n_db = rng.gen_range(2..=4usize.min(n_services));
        let weights: Vec<f64> = services
            .iter()
            .map(|&s| comps[s].level as f64 - 1.0)
            .collect();
        let mut db_callers = Vec::new();
        while db_callers.len() < n_db {
            let s = services[weighted(rng, &weights)];
            if !db_callers.contains(&s) {
                db_callers.push(s);
            }
        }
        db_callers.sort_unstable();
        for &s in &db_callers {
            let hi = rng.gen_range(1..=2u8);
            comps[s].db_calls = (1, hi);
            let table = plural(&comps[s].base);
            let mut ops = vec![names.id(&format!("SELECT {table}"))];
            if chance(rng, 0.6) {
                ops.push(names.id(&format!("UPDATE {table}")));
            }
            comps[s].db_ops = ops;
        }
        let n_cache = rng.gen_range(1..=3usize);
        for _ in 0..n_cache {
            let s = *services.choose(rng).unwrap();
            comps[s].cache_calls = (1, rng.gen_range(1..=2));
        }
        let cache_ops = vec![names.id("GET"), names.id("SET"), names.id("HGETALL")];

        // Routes: each first-level service owns one or two frontend endpoints; logins go
        // to an auth-like service.
        let level1 = by_level(2);
        let login_service = level1
            .iter()
            .copied()
            .find(|&s| LOGIN_BASES.contains(&comps[s].base.as_str()))
            .unwrap_or_else(|| *level1.choose(rng).unwrap());
        let mut routes = Vec::new();
        for &s in &level1 {
            let base = comps[s].base.clone();
            let get_op = comps[s].ops[0];
            let mut add = |method: &'static str, path: String, entry_op: u16, weight: f64| {
                let op = names.id(&format!("{method} {path}"));
                routes.push(Route {
                    method,
                    path,
                    op,
                    entry: s,
                    entry_op,
                    weight,
                });
            };
            let w = uniform(rng, 1.0, 3.0);
            add("GET", format!("/api/{base}"), get_op, w);
            if chance(rng, 0.5) {
                add(
                    "GET",
                    format!("/api/{base}/{{id}}"),
                    get_op,
                    uniform(rng, 0.5, 2.0),
                );
            }
            if let Some(&post_op) = comps[s].ops.get(1) {
                add(
                    "POST",
                    format!("/api/{base}"),
                    post_op,
                    uniform(rng, 0.3, 1.0),
                );
            }
        }
        // The login operation is reached only through the login route, never by other
        // services, so it stays out of `ops`.
        let login_op = names.id(&format!("POST /{}/login", comps[login_service].base));
        let total_w: f64 = routes.iter().map(|r| r.weight).sum();
        let login_route = routes.len();
        let op = names.id("POST /api/login");
        routes.push(Route {
            method: "POST",
            path: "/api/login".to_string(),
            op,
            entry: login_service,
            entry_op: login_op,
            weight: total_w * 0.06,
        });
        for r in &routes {
            let op = r.op;
            comps[1].ops.push(op);
        }

        let mut out_edges = vec![Vec::new(); comps.len()];
        for (i, e) in edges.iter().enumerate() {
            out_edges[e.from].push(i);
        }
        let item_ids = (0..rng.gen_range(24..=60))
            .map(|_| {
                (0..10)
                    .map(|_| {
                        let c = rng.gen_range(0..36u8);
                        if c < 10 {
                            (b'0' + c) as char
                        } else {
                            (b'A' + c - 10) as char
                        }
                    })
                    .collect()
            })
            .collect();
        let mut topo = Topology {
            comps,
            edges,
            out_edges,
            routes,
            proxy: 0,
            frontend: 1,
            db,
            cache,
            batch,
            names: names.list,
            cache_ops,
            login_route,
            login_service,
            visits: Vec::new(),
            net_ms: uniform(rng, 0.25, 0.7),
            authority: AUTHORITIES.choose(rng).unwrap().to_string(),
            item_ids,
        };
        topo.balance_visits();
        topo
    }

    /// Computes expected calls per request and raises the call chance of edges into
    /// rarely visited services, so that every service sees a fair share of traffic.
    fn balance_visits(&mut self) {
        const MIN_VISITS: f64 = 0.15;
        let n = self.comps.len();
        let mut v = vec![0.0; n];
        v[self.proxy] = 1.0;
        v[self.frontend] = 1.0;
        // First-level services get their traffic from routes: lift the weights of the
        // routes of any that would see too little.
        for _ in 0..10 {
            let total_w: f64 = self.routes.iter().map(|r| r.weight).sum();
            let mut share = vec![0.0; n];
            for r in &self.routes {
                share[r.entry] += r.weight / total_w;
            }
            let low: Vec<usize> = (0..n)
                .filter(|&c| share[c] > 0.0 && share[c] < MIN_VISITS + 0.02)
                .collect();
            if low.is_empty() {
                break;
            }
            for r in self.routes.iter_mut() {
                if low.contains(&r.entry) {
                    r.weight *= (MIN_VISITS + 0.03) / share[r.entry];
                }
            }
        }
        let total_w: f64 = self.routes.iter().map(|r| r.weight).sum();
        for r in &self.routes {
            v[r.entry] += r.weight / total_w;
        }
        let mut order: Vec<usize> = (0..n)
            .filter(|&c| self.comps[c].role == Role::Service && self.comps[c].level > 2)
            .collect();
        order.sort_by_key(|&c| (self.comps[c].level, c));
        for &c in &order {
            let incoming: Vec<usize> = (0..self.edges.len())
                .filter(|&i| self.edges[i].to == c)
                .collect();
            let sum = |edges: &[Edge], v: &[f64]| -> f64 {
                incoming
                    .iter()
                    .map(|&i| v[edges[i].from] * edges[i].p)
                    .sum()
            };
            let mut got = sum(&self.edges, &v);
            if got < MIN_VISITS && got > 0.0 {
                let factor = MIN_VISITS / got;
                for &i in &incoming {
                    self.edges[i].p = (self.edges[i].p * factor).min(0.98);
                }
                got = sum(&self.edges, &v);
            }
            v[c] = got;
        }
        let mut db = 0.0;
        let mut cache = 0.0;
        for (comp, visits) in self.comps.iter().zip(&v) {
            db += visits * comp.mean_db_calls();
            cache += visits * comp.mean_cache_calls();
        }
        v[self.db] = db;
        v[self.cache] = cache;
        self.visits = v;
    }

    pub(crate) fn name(&self, c: usize) -> &str {
        &self.comps[c].name
    }

    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        self.comps.iter().position(|c| c.name == name)
    }

    /// Components whose calls reach `c` (its ancestors in the call graph, proxy and
    /// frontend included).
    pub(crate) fn ancestors(&self, c: usize) -> Vec<bool> {
        let n = self.comps.len();
        let mut up = vec![false; n];
        let mut stack = vec![c];
        let callers_of = |x: usize| -> Vec<usize> {
            let mut out: Vec<usize> = self
                .edges
                .iter()
                .filter(|e| e.to == x)
                .map(|e| e.from)
                .collect();
            let comp = &self.comps[x];
            if comp.role == Role::Database {
                out.extend((0..n).filter(|&u| self.comps[u].has_db()));
            }
            if comp.role == Role::Cache {
                out.extend((0..n).filter(|&u| self.comps[u].cache_calls.1 > 0));
            }
            if comp.role == Role::Service && comp.level == 2 {
                out.push(self.frontend);
            }
            if comp.role == Role::Frontend {
                out.push(self.proxy);
            }
            out
        };
        while let Some(x) = stack.pop() {
            for u in callers_of(x) {
                if !up[u] {
                    up[u] = true;
                    stack.push(u);
                }
            }
        }
        up
    }

    /// Components that `c`'s calls reach (its descendants).
    pub(crate) fn descendants(&self, c: usize) -> Vec<bool> {
        let n = self.comps.len();
        let mut down = vec![false; n];
        let mut stack = vec![c];
        while let Some(x) = stack.pop() {
            let mut next: Vec<usize> = self.out_edges[x]
                .iter()
                .map(|&i| self.edges[i].to)
                .collect();
            if self.comps[x].has_db() {
                next.push(self.db);
            }
            if self.comps[x].cache_calls.1 > 0 {
                next.push(self.cache);
            }
            if x == self.proxy {
                next.push(self.frontend);
            }
            if x == self.frontend {
                next.extend(self.routes.iter().map(|r| r.entry));
            }
            for d in next {
                if !down[d] {
                    down[d] = true;
                    stack.push(d);
                }
            }
        }
        down
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn topologies_are_well_formed() {
        for seed in 0..200u64 {
            let mut rng = SimRng::seed_from_u64(seed);
            let t = Topology::generate(&mut rng);
            let n = t.comps.len();
            assert!((12..=20).contains(&n), "seed {seed}: {n} components");
            let names: std::collections::BTreeSet<&str> =
                t.comps.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names.len(), n, "seed {seed}: duplicate names");
            let db_callers = t.comps.iter().filter(|c| c.has_db()).count();
            assert!(db_callers >= 2);
            assert!(t
                .comps
                .iter()
                .any(|c| c.role == Role::Service && c.lang == Lang::Go));
            let shared = (0..n)
                .filter(|&c| t.edges.iter().filter(|e| e.to == c).count() >= 2)
                .count();
            assert!(shared >= 2, "seed {seed}: {shared} shared services");
            for e in &t.edges {
                assert!(
                    t.comps[e.from].level < t.comps[e.to].level,
                    "not a DAG by level"
                );
            }
            for (c, comp) in t.comps.iter().enumerate() {
                if comp.role == Role::Service {
                    assert!(
                        t.visits[c] >= 0.14,
                        "seed {seed}: {} rarely visited",
                        comp.name
                    );
                }
            }
        }
    }
}
