//! Proxy access-log features: the traffic a proxy admits (4xx share, old
//! TLS, user agents the baseline never saw) and what it serves (5xx share,
//! latency, volume).

use ingest::{Observations, Sym};
use rustc_hash::FxHashMap;

use super::{Feature, FeatureSet, ProxyDetail, Registry, Values};
use crate::params::Params;
use crate::signal::SignalKind;
use crate::window::Buckets;

fn is_old_tls(v: &str) -> bool {
    let v = v.to_ascii_lowercase();
    v.starts_with("ssl")
        || v == "tlsv1"
        || v == "tlsv1.0"
        || v == "tlsv1.1"
        || v == "tls1.0"
        || v == "tls1.1"
}

pub(super) fn build(
    obs: &Observations,
    b: &Buckets,
    p: &Params,
    reg: &mut Registry,
    set: &mut FeatureSet,
    proxies: &mut Vec<u32>,
) {
    if obs.access.is_empty() {
        return;
    }
    let nb = b.count;
    #[derive(Default)]
    struct Acc {
        n: Vec<f64>,
        e4: Vec<f64>,
        e5: Vec<f64>,
        lat: Vec<f64>,
        tls_known: Vec<f64>,
        tls_old: Vec<f64>,
        new_ua: Vec<f64>,
        base_agents: FxHashMap<Sym, u64>,
        agents: FxHashMap<Sym, u64>,
        tls: FxHashMap<Sym, u64>,
    }
    let zero = || Acc {
        n: vec![0.0; nb],
        e4: vec![0.0; nb],
        e5: vec![0.0; nb],
        lat: vec![0.0; nb],
        tls_known: vec![0.0; nb],
        tls_old: vec![0.0; nb],
        new_ua: vec![0.0; nb],
        ..Default::default()
    };
    let mut by_proxy: FxHashMap<Sym, Acc> = FxHashMap::default();
    // First pass: which user agents the baseline knows.
    for r in &obs.access {
        let Some(i) = b.index(r.time) else { continue };
        let acc = by_proxy.entry(r.proxy).or_insert_with(zero);
        if i < b.baseline_end {
            *acc.base_agents.entry(r.user_agent).or_default() += 1;
        }
    }
    let old: FxHashMap<Sym, bool> = obs
        .access
        .iter()
        .filter_map(|r| r.tls_version)
        .map(|t| (t, is_old_tls(obs.names.name(t))))
        .collect();
    for r in &obs.access {
        let Some(i) = b.index(r.time) else { continue };
        let Some(acc) = by_proxy.get_mut(&r.proxy) else {
            continue;
        };
        acc.n[i] += 1.0;
        acc.lat[i] += r.duration as f64;
        match r.status {
            400..=499 => acc.e4[i] += 1.0,
            500..=599 => acc.e5[i] += 1.0,
            _ => {}
        }
        if let Some(t) = r.tls_version {
            acc.tls_known[i] += 1.0;
            if old.get(&t).copied().unwrap_or(false) {
                acc.tls_old[i] += 1.0;
            }
        }
        let known = acc.base_agents.contains_key(&r.user_agent);
        if !known {
            acc.new_ua[i] += 1.0;
        }
        if i >= b.baseline_end {
            *acc.agents.entry(r.user_agent).or_default() += 1;
            if let Some(t) = r.tls_version {
                *acc.tls.entry(t).or_default() += 1;
            }
        }
    }
    let mut names: Vec<Sym> = by_proxy.keys().copied().collect();
    names.sort_unstable();
    for proxy in names {
        let acc = &by_proxy[&proxy];
        let c = reg.id(proxy);
        if !proxies.contains(&c) {
            proxies.push(c);
        }
        let rate = |kind: SignalKind, num: &Vec<f64>, den: &Vec<f64>| {
            Feature::new(
                c,
                kind,
                Values::Rate {
                    num: num.clone(),
                    den: den.clone(),
                    floor: p.rate_floor,
                },
            )
        };
        set.features
            .push(rate(SignalKind::ProxyHttp4xx, &acc.e4, &acc.n));
        set.features
            .push(rate(SignalKind::ProxyHttp5xx, &acc.e5, &acc.n));
        if acc.tls_known.iter().any(|x| *x > 0.0) {
            set.features
                .push(rate(SignalKind::OldTls, &acc.tls_old, &acc.tls_known));
        }
        // Unknown agents need a baseline to be unknown against.
        if !acc.base_agents.is_empty() {
            set.features
                .push(rate(SignalKind::NewUserAgents, &acc.new_ua, &acc.n));
        }
        let mean_lat = acc
            .lat
            .iter()
            .zip(&acc.n)
            .map(|(l, n)| if *n > 0.0 { l / n } else { f64::NAN })
            .collect();
        set.features.push(Feature::new(
            c,
            SignalKind::ProxyLatency,
            Values::Level {
                values: mean_lat,
                floor: p.floors.proxy_latency,
            },
        ));
        set.features.push(Feature::new(
            c,
            SignalKind::ProxyRequests,
            Values::Level {
                values: acc.n.clone(),
                floor: p.floors.proxy_requests,
            },
        ));
        let top = |m: &FxHashMap<Sym, u64>, keep: &dyn Fn(&Sym) -> bool| {
            let mut v: Vec<(Sym, u64)> = m
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, n)| (*k, *n))
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            v.truncate(5);
            v
        };
        set.proxies.insert(
            c,
            ProxyDetail {
                new_agents: top(&acc.agents, &|k| !acc.base_agents.contains_key(k)),
                agents: top(&acc.agents, &|_| true),
                tls: top(&acc.tls, &|_| true),
            },
        );
    }
}
