//! The incident plan: when the fault starts, what it does to which component, the red
//! herring, the alert, and the shape of load over the window. The simulator and the
//! metric model both read their effects from here, so traces and series agree.

use rand::seq::SliceRandom;
use rand::Rng;

use super::topology::{Lang, Role, Topology};
use super::util::{chance, clamp01, uniform, SimRng, NANOS_PER_SEC};
use super::{FaultKindName, GenerateError};

/// 2026-03-01T00:00:00Z.
pub(crate) const BASE_UNIX: i64 = 1_772_323_200;
pub(crate) const WINDOW_SECS: i64 = 1800;

#[derive(Clone, Debug)]
pub(crate) struct ExceptionSpec {
    pub ty: String,
    pub message: String,
    /// First frame of the stack trace, as the log line shows it.
    pub frame: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Probes for well-known files and admin pages.
    Scanner,
    /// Replays credentials against the login endpoint.
    Stuffer,
    /// Hammers admin login pages.
    AdminBrute,
}

#[derive(Clone, Debug)]
pub(crate) struct AbuseClient {
    pub user_agent: String,
    pub ips: Vec<[u8; 4]>,
    pub tls: &'static str,
    pub behaviour: Behaviour,
}

#[derive(Clone, Debug)]
pub(crate) struct Abuse {
    pub end: i64,
    /// Burst rate as a multiple of the nominal request rate.
    pub mult: f64,
    pub clients: Vec<AbuseClient>,
    pub client_weights: Vec<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HerringKind {
    Cpu,
    Latency,
}

/// An unrelated disturbance somewhere off the culprit's path.
#[derive(Clone, Debug)]
pub(crate) struct Herring {
    pub comp: usize,
    pub kind: HerringKind,
    pub start: i64,
    pub end: i64,
    /// Exclusive-time factor (Cpu) or added milliseconds (Latency).
    pub magnitude: f64,
    pub cpu_add: f64,
}

#[derive(Clone, Debug)]
pub(crate) struct AlertSpec {
    pub name: &'static str,
    pub component: usize,
    pub severity: &'static str,
    pub fingerprint: String,
}

#[derive(Clone, Debug)]
pub(crate) struct Load {
    a1: f64,
    p1: f64,
    f1: f64,
    a2: f64,
    p2: f64,
    f2: f64,
}

#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub fault: FaultKindName,
    pub target: usize,
    pub start: i64,
    pub end: i64,
    pub onset: i64,
    pub alert_at: i64,
    ramp_ns: f64,
    pub cpu_mult: f64,
    pub cpu_level: f64,
    pub leak_growth: f64,
    pub gc_slowdown: f64,
    pub delay_ms: f64,
    pub fail_share: f64,
    pub error_status: u16,
    pub exception: ExceptionSpec,
    pub gor_rate: f64,
    pub gor_bytes: f64,
    gor_lag_ns: f64,
    pub gor_slowdown: f64,
    pub pool_wait_ms: f64,
    pub pool_timeout_share: f64,
    pub pool_timeout_ms: f64,
    pub pool_max_pending: f64,
    pub pool_size: u32,
    pub abuse: Option<Abuse>,
    pub herring: Herring,
    pub load: Load,
    /// Chance that any one server span fails for no reason related to the incident.
    pub bg_error: f64,
    /// Chance that the frontend answers a request 4xx (unknown item, expired session).
    pub client_error: f64,
    pub batch_period: f64,
    pub batch_phase: f64,
    /// Median wait for the lock of a contended request, ms (lock contention).
    pub lock_wait_ms: f64,
    /// Share of the target's requests that wait for the lock once the fault has ramped
    /// up (lock contention).
    pub lock_share: f64,
    pub alert: AlertSpec,
}

const JAVA_EXCEPTIONS: [(&str, &str, &str); 6] = [
    (
        "java.lang.NullPointerException",
        "Cannot invoke \"{Cls}.getItems()\" because \"{var}\" is null",
        "get",
    ),
    (
        "java.lang.IllegalStateException",
        "{Cls} not initialised: missing configuration key '{var}.endpoint'",
        "load",
    ),
    (
        "java.lang.ArrayIndexOutOfBoundsException",
        "Index 3 out of bounds for length 3",
        "resolve",
    ),
    (
        "java.util.ConcurrentModificationException",
        "concurrent update of {var} entries",
        "update",
    ),
    (
        "java.lang.ClassCastException",
        "class java.lang.String cannot be cast to class java.lang.Long",
        "parse",
    ),
    (
        "java.lang.NumberFormatException",
        "For input string: \"NaN\"",
        "convert",
    ),
];

const GO_EXCEPTIONS: [(&str, &str); 3] = [
    (
        "runtime.Error",
        "runtime error: invalid memory address or nil pointer dereference",
    ),
    (
        "runtime.boundsError",
        "runtime error: index out of range [3] with length 3",
    ),
    (
        "*errors.errorString",
        "unexpected nil {var} in request context",
    ),
];

const ABUSE_AGENTS: [(&str, Behaviour); 11] = [
    ("sqlmap/1.7.2#stable (https://sqlmap.org)", Behaviour::Scanner),
    (
        "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:001234)",
        Behaviour::Scanner,
    ),
    ("python-requests/2.31.0", Behaviour::Stuffer),
    ("curl/7.68.0", Behaviour::AdminBrute),
    ("Go-http-client/1.1", Behaviour::Stuffer),
    (
        "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
        Behaviour::Scanner,
    ),
    (
        "Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))",
        Behaviour::Scanner,
    ),
    ("WPScan v3.8.24 (https://wpscan.com/wpscan)", Behaviour::AdminBrute),
    ("Mozilla/4.0 (Hydra)", Behaviour::Stuffer),
    ("gobuster/3.6", Behaviour::Scanner),
    ("Wget/1.20.3 (linux-gnu)", Behaviour::AdminBrute),
];

fn class_name(base: &str) -> String {
    let mut out = String::new();
    for part in base.split('-') {
        let mut cs = part.chars();
        if let Some(c) = cs.next() {
            out.extend(c.to_uppercase());
            out.push_str(cs.as_str());
        }
    }
    out
}

fn exception_for(rng: &mut SimRng, topo: &Topology, target: usize) -> ExceptionSpec {
    let comp = &topo.comps[target];
    let cls = class_name(&comp.base);
    let var = comp.base.replace('-', "");
    if comp.lang == Lang::Go {
        let (ty, msg) = *GO_EXCEPTIONS.choose(rng).unwrap();
        let line = rng.gen_range(40..400);
        return ExceptionSpec {
            ty: ty.to_string(),
            message: msg.replace("{var}", &var),
            frame: format!(
                "goroutine {} [running]:\n\tgithub.com/example/{}/internal/handler.(*{}Handler).Serve(...) handler.go:{}",
                rng.gen_range(100..9000),
                comp.base,
                cls,
                line
            ),
        };
    }
    let (ty, msg, verb) = *JAVA_EXCEPTIONS.choose(rng).unwrap();
    let msg = msg
        .replace("{Cls}", &format!("com.example.{var}.{cls}"))
        .replace("{var}", &var);
    ExceptionSpec {
        ty: ty.to_string(),
        message: msg,
        frame: format!(
            "\tat com.example.{var}.{cls}Service.{verb}{cls}({cls}Service.java:{})",
            rng.gen_range(40..400)
        ),
    }
}

/// Components that may carry `fault`, and why others may not.
pub(crate) fn suitable(topo: &Topology, fault: FaultKindName) -> (Vec<usize>, &'static str) {
    let pick = |f: &dyn Fn(usize) -> bool| -> Vec<usize> {
        (0..topo.comps.len()).filter(|&c| f(c)).collect()
    };
    let role = |c: usize| topo.comps[c].role;
    let app = |c: usize| matches!(role(c), Role::Service | Role::Frontend);
    match fault {
        FaultKindName::IngressAbuse => (
            vec![topo.proxy],
            "ingress abuse happens at the ingress proxy",
        ),
        FaultKindName::ConnectionPoolExhaustion => (
            pick(&|c| topo.comps[c].has_db()),
            "it needs a service that calls the database",
        ),
        FaultKindName::GoroutineLeak => (
            pick(&|c| app(c) && topo.comps[c].lang == Lang::Go),
            "it needs a Go service",
        ),
        FaultKindName::CpuSaturation | FaultKindName::NetworkDelay => (
            pick(&|c| app(c) || matches!(role(c), Role::Database | Role::Cache)),
            "it needs a service, the database or the cache",
        ),
        FaultKindName::MemoryLeak
        | FaultKindName::ErrorReturn
        | FaultKindName::Exception
        | FaultKindName::LockContention => (pick(&|c| app(c)), "it needs an instrumented service"),
        // A stopped frontend would leave nothing behind the proxy to blame it by.
        FaultKindName::ServiceDown => (
            pick(&|c| role(c) == Role::Service),
            "it needs an instrumented service other than the frontend",
        ),
    }
}

impl Load {
    fn generate(rng: &mut SimRng) -> Load {
        Load {
            a1: uniform(rng, 0.05, 0.12),
            p1: uniform(rng, 1200.0, 3600.0),
            f1: uniform(rng, 0.0, std::f64::consts::TAU),
            a2: uniform(rng, 0.03, 0.08),
            p2: uniform(rng, 360.0, 900.0),
            f2: uniform(rng, 0.0, std::f64::consts::TAU),
        }
    }

    /// Relative load at `secs` into the window (1.0 nominal, within ±20%).
    pub(crate) fn at(&self, secs: f64) -> f64 {
        use std::f64::consts::TAU;
        1.0 + self.a1 * (TAU * secs / self.p1 + self.f1).sin()
            + self.a2 * (TAU * secs / self.p2 + self.f2).sin()
    }
}

impl Plan {
    pub(crate) fn build(
        topo: &Topology,
        fault: FaultKindName,
        target: Option<&str>,
        seed: u64,
        rng: &mut SimRng,
    ) -> Result<Plan, GenerateError> {
        let (ok, reason) = suitable(topo, fault);
        let target = match target {
            Some(name) => {
                let Some(c) = topo.find(name) else {
                    return Err(GenerateError::UnknownTarget {
                        target: name.to_string(),
                        components: topo
                            .comps
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                };
                if !ok.contains(&c) {
                    return Err(GenerateError::UnsuitedTarget {
                        target: name.to_string(),
                        fault: fault.as_str(),
                        reason,
                        suitable: ok
                            .iter()
                            .map(|&c| topo.name(c))
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
                // Draw what an automatic choice would have drawn, so the rest of the plan
                // does not depend on whether the target was given.
                let _ = choose_target(topo, fault, &ok, rng);
                c
            }
            None => choose_target(topo, fault, &ok, rng),
        };

        let start = (BASE_UNIX + (seed % 87_600) as i64 * 3600) * NANOS_PER_SEC;
        let end = start + WINDOW_SECS * NANOS_PER_SEC;
        let onset_secs = WINDOW_SECS as f64 * 0.6 + uniform(rng, -90.0, 90.0);
        let onset = start + (onset_secs * 1000.0) as i64 * 1_000_000;
        let alert_at = onset + rng.gen_range(60..=180) * NANOS_PER_SEC;

        let comp = &topo.comps[target];
        let exception = exception_for(rng, topo, target);
        let abuse = (fault == FaultKindName::IngressAbuse).then(|| {
            let n = rng.gen_range(3..=5);
            let mut agents = ABUSE_AGENTS.to_vec();
            agents.shuffle(rng);
            agents.truncate(n);
            if !agents.iter().any(|a| a.1 == Behaviour::Stuffer) {
                let stuffer = *ABUSE_AGENTS
                    .iter()
                    .filter(|a| a.1 == Behaviour::Stuffer)
                    .collect::<Vec<_>>()
                    .choose(rng)
                    .unwrap();
                agents[0] = *stuffer;
            }
            // Envoy logs TLS 1.0 as `TLSv1`. The first two clients differ so both old
            // versions show up.
            let clients: Vec<AbuseClient> = agents
                .iter()
                .enumerate()
                .map(|(i, &(ua, behaviour))| AbuseClient {
                    user_agent: ua.to_string(),
                    ips: (0..rng.gen_range(1..=3))
                        .map(|_| super::util::public_ip(rng))
                        .collect(),
                    tls: match i {
                        0 => "TLSv1",
                        1 => "TLSv1.1",
                        _ if chance(rng, 0.5) => "TLSv1",
                        _ => "TLSv1.1",
                    },
                    behaviour,
                })
                .collect();
            let client_weights = clients.iter().map(|_| uniform(rng, 0.5, 2.0)).collect();
            Abuse {
                end: (onset + (uniform(rng, 420.0, 700.0) * 1e9) as i64).min(end),
                mult: uniform(rng, 1.5, 3.0),
                clients,
                client_weights,
            }
        });

        // Red herring: a service that is neither upstream nor downstream of the culprit.
        let up = topo.ancestors(target);
        let down = topo.descendants(target);
        let candidates: Vec<usize> = (0..topo.comps.len())
            .filter(|&c| {
                topo.comps[c].role == Role::Service
                    && c != target
                    && (fault == FaultKindName::IngressAbuse || (!up[c] && !down[c]))
            })
            .collect();
        let herring_comp = candidates.choose(rng).copied().unwrap_or(topo.batch);
        let herring_kind = if topo.comps[herring_comp].role == Role::Batch || chance(rng, 0.6) {
            HerringKind::Cpu
        } else {
            HerringKind::Latency
        };
        let h_start = start + (uniform(rng, 120.0, WINDOW_SECS as f64 - 240.0) * 1e9) as i64;
        let h_len = (uniform(rng, 60.0, 180.0) * 1e9) as i64;
        let herring = Herring {
            comp: herring_comp,
            kind: herring_kind,
            start: h_start,
            end: h_start + h_len,
            magnitude: match herring_kind {
                HerringKind::Cpu => uniform(rng, 1.6, 2.4),
                HerringKind::Latency => uniform(rng, 30.0, 120.0),
            },
            cpu_add: uniform(rng, 0.3, 0.45),
        };

        let alert_component = if fault == FaultKindName::IngressAbuse || target == topo.frontend {
            topo.proxy
        } else if chance(rng, 0.7) {
            topo.frontend
        } else {
            topo.proxy
        };
        let alert_name = match fault {
            FaultKindName::IngressAbuse => "High4xxRate",
            FaultKindName::ErrorReturn | FaultKindName::Exception | FaultKindName::ServiceDown => {
                "HighErrorRate"
            }
            FaultKindName::LockContention => "HighLatency",
            FaultKindName::ConnectionPoolExhaustion if chance(rng, 0.5) => "HighErrorRate",
            _ => "HighLatency",
        };
        let severity = if chance(rng, 0.6) {
            "critical"
        } else {
            "warning"
        };
        let fingerprint = format!("{:016x}", rng.gen::<u64>());

        let services_visits: f64 = topo
            .comps
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.role, Role::Service | Role::Frontend))
            .map(|(i, _)| topo.visits[i])
            .sum();
        let bg_total = uniform(rng, 0.002, 0.005);

        debug_assert!(comp.role != Role::Batch, "the batch job carries no faults");
        Ok(Plan {
            fault,
            target,
            start,
            end,
            onset,
            alert_at,
            ramp_ns: uniform(rng, 20.0, 45.0) * 1e9,
            // A saturated datastore queues every query (Redis is single-threaded):
            // its sub-millisecond calls slow far more than a service's own work.
            cpu_mult: {
                let service = uniform(rng, 2.5, 4.0);
                let store = uniform(rng, 6.0, 12.0);
                if matches!(comp.role, Role::Database | Role::Cache) {
                    store
                } else {
                    service
                }
            },
            cpu_level: uniform(rng, 0.92, 0.98),
            leak_growth: uniform(rng, 0.8, 1.5),
            gc_slowdown: uniform(rng, 1.0, 2.0),
            delay_ms: uniform(rng, 80.0, 300.0),
            fail_share: uniform(rng, 0.3, 0.5),
            error_status: if chance(rng, 0.5) { 500 } else { 503 },
            exception,
            gor_rate: uniform(rng, 1.5, 4.0),
            gor_bytes: uniform(rng, 100e3, 200e3),
            gor_lag_ns: uniform(rng, 45.0, 90.0) * 1e9,
            gor_slowdown: uniform(rng, 1.5, 3.0),
            pool_wait_ms: uniform(rng, 150.0, 600.0),
            pool_timeout_share: uniform(rng, 0.05, 0.2),
            pool_timeout_ms: [1000.0, 2000.0, 3000.0][rng.gen_range(0..3)],
            pool_max_pending: uniform(rng, 15.0, 40.0),
            pool_size: [10, 16, 20, 32][rng.gen_range(0..4)],
            abuse,
            herring,
            load: Load::generate(rng),
            bg_error: bg_total / services_visits.max(1.0),
            client_error: uniform(rng, 0.01, 0.02),
            batch_period: uniform(rng, 240.0, 420.0),
            batch_phase: uniform(rng, 0.0, 1.0),
            // Drawn last, so that adding them left the plans of the other kinds as
            // they were.
            lock_wait_ms: uniform(rng, 150.0, 600.0),
            lock_share: uniform(rng, 0.65, 0.9),
            alert: AlertSpec {
                name: alert_name,
                component: alert_component,
                severity,
                fingerprint,
            },
        })
    }

    pub(crate) fn secs(&self, t: i64) -> f64 {
        (t - self.start) as f64 / 1e9
    }

    /// 0 before onset, rising to 1 over the ramp.
    pub(crate) fn ramp(&self, t: i64) -> f64 {
        clamp01((t - self.onset) as f64 / self.ramp_ns)
    }

    /// 0 at onset, 1 at the end of the window.
    pub(crate) fn progress(&self, t: i64) -> f64 {
        clamp01((t - self.onset) as f64 / (self.end - self.onset) as f64)
    }

    fn herring_on(&self, c: usize, t: i64) -> f64 {
        let h = &self.herring;
        if c != h.comp {
            return 0.0;
        }
        let edge = 10e9;
        let rise = (t - h.start) as f64 / edge;
        let fall = (h.end - t) as f64 / edge;
        clamp01(rise.min(fall))
    }

    fn is_target(&self, c: usize, fault: FaultKindName) -> bool {
        self.fault == fault && c == self.target
    }

    pub(crate) fn load_at(&self, t: i64) -> f64 {
        self.load.at(self.secs(t))
    }

    /// Multiplier on a component's own work (for datastores: query time).
    pub(crate) fn excl_factor(&self, c: usize, t: i64) -> f64 {
        let mut f = 1.0;
        if self.is_target(c, FaultKindName::CpuSaturation) {
            f *= 1.0 + (self.cpu_mult - 1.0) * self.ramp(t);
        }
        if self.is_target(c, FaultKindName::MemoryLeak) {
            f *= 1.0 + self.gc_slowdown * self.progress(t);
        }
        if self.is_target(c, FaultKindName::GoroutineLeak) {
            f *= 1.0 + self.gor_slowdown * self.goroutine_latency_progress(t);
        }
        if self.herring.kind == HerringKind::Cpu {
            f *= 1.0 + (self.herring.magnitude - 1.0) * self.herring_on(c, t);
        }
        f
    }

    fn goroutine_latency_progress(&self, t: i64) -> f64 {
        let from = self.onset as f64 + self.gor_lag_ns;
        clamp01((t as f64 - from) / (self.end as f64 - from))
    }

    /// Milliseconds added to a component's own work.
    pub(crate) fn excl_add_ms(&self, c: usize, t: i64) -> f64 {
        if self.herring.kind == HerringKind::Latency {
            self.herring.magnitude * self.herring_on(c, t)
        } else {
            0.0
        }
    }

    /// Network delay on calls into `callee`, milliseconds.
    pub(crate) fn net_delay_ms(&self, callee: usize, t: i64) -> f64 {
        if self.is_target(callee, FaultKindName::NetworkDelay) {
            self.delay_ms * self.ramp(t)
        } else {
            0.0
        }
    }

    /// Share of requests the component fails by itself because of the fault.
    pub(crate) fn fault_fail_share(&self, c: usize, t: i64) -> f64 {
        if c == self.target
            && matches!(
                self.fault,
                FaultKindName::ErrorReturn | FaultKindName::Exception
            )
        {
            self.fail_share * self.ramp(t)
        } else {
            0.0
        }
    }

    /// Milliseconds a database call from `c` waits for a pooled connection.
    pub(crate) fn pool_wait_ms(&self, c: usize, t: i64) -> f64 {
        if self.is_target(c, FaultKindName::ConnectionPoolExhaustion) {
            self.pool_wait_ms * self.ramp(t)
        } else {
            0.0
        }
    }

    pub(crate) fn pool_timeout_p(&self, c: usize, t: i64) -> f64 {
        if self.is_target(c, FaultKindName::ConnectionPoolExhaustion) {
            self.pool_timeout_share * self.ramp(t)
        } else {
            0.0
        }
    }

    /// Whether `c` is the stopped service at `t` (service down: abrupt, from onset on).
    pub(crate) fn down(&self, c: usize, t: i64) -> bool {
        self.is_target(c, FaultKindName::ServiceDown) && t >= self.onset
    }

    /// Share of `c`'s requests that wait for the contended lock at `t`.
    pub(crate) fn lock_share(&self, c: usize, t: i64) -> f64 {
        if self.is_target(c, FaultKindName::LockContention) {
            self.lock_share * self.ramp(t)
        } else {
            0.0
        }
    }

    /// Abusive requests per second, as a multiple of the nominal request rate.
    pub(crate) fn abuse_factor(&self, t: i64) -> f64 {
        let Some(a) = &self.abuse else {
            return 0.0;
        };
        if t < self.onset || t >= a.end {
            return 0.0;
        }
        let rise = clamp01((t - self.onset) as f64 / 20e9);
        let fall = clamp01((a.end - t) as f64 / 20e9);
        a.mult * rise.min(fall)
    }

    /// Share of credential-stuffing attempts the proxy's rate limit rejects.
    pub(crate) fn rate_limited_share(&self, t: i64) -> f64 {
        let Some(a) = &self.abuse else {
            return 0.0;
        };
        let frac = clamp01((t - self.onset) as f64 / (a.end - self.onset).max(1) as f64);
        0.2 + 0.45 * frac
    }

    /// Extra goroutines at `t` (goroutine leak only).
    pub(crate) fn leaked_goroutines(&self, c: usize, t: i64) -> f64 {
        if self.is_target(c, FaultKindName::GoroutineLeak) && t > self.onset {
            self.gor_rate * (t - self.onset) as f64 / 1e9
        } else {
            0.0
        }
    }

    /// Extra CPU share for the herring, the fault and the proxy's TLS handshakes.
    pub(crate) fn cpu_add(&self, c: usize, t: i64) -> f64 {
        let mut add = 0.0;
        if self.herring.kind == HerringKind::Cpu {
            add += self.herring.cpu_add * self.herring_on(c, t);
        }
        if self.is_target(c, FaultKindName::MemoryLeak) {
            add += 0.12 * self.progress(t);
        }
        if self.is_target(c, FaultKindName::GoroutineLeak) {
            add += 0.1 * self.progress(t);
        }
        if self.is_target(c, FaultKindName::IngressAbuse) {
            add += 0.06 * self.abuse_factor(t);
        }
        add
    }
}

fn choose_target(topo: &Topology, fault: FaultKindName, ok: &[usize], rng: &mut SimRng) -> usize {
    let datastore_roll = chance(rng, 0.2);
    if matches!(
        fault,
        FaultKindName::CpuSaturation | FaultKindName::NetworkDelay
    ) && datastore_roll
    {
        let stores: Vec<usize> = ok
            .iter()
            .copied()
            .filter(|&c| matches!(topo.comps[c].role, Role::Database | Role::Cache))
            .collect();
        if let Some(&c) = stores.choose(rng) {
            return c;
        }
    }
    let mut pool: Vec<usize> = ok
        .iter()
        .copied()
        .filter(|&c| topo.comps[c].role != Role::Frontend)
        .filter(|&c| fault == FaultKindName::IngressAbuse || topo.comps[c].role == Role::Service)
        .collect();
    if fault == FaultKindName::IngressAbuse {
        pool = vec![topo.proxy];
    }
    // Prefer a culprit that sees a fair share of requests, so that even a small
    // fixture holds enough of its spans after onset.
    let busy = |min: f64| -> Vec<usize> {
        pool.iter()
            .copied()
            .filter(|&c| topo.visits[c] >= min)
            .collect()
    };
    let (busier, busy) = (busy(0.3), busy(0.2));
    let from = [&busier, &busy, &pool]
        .into_iter()
        .find(|p| !p.is_empty())
        .unwrap_or(&pool);
    match from.choose(rng) {
        Some(&c) => c,
        // No service suits (cannot happen with the topologies we build); fall back to
        // any suitable component.
        None => ok[0],
    }
}
