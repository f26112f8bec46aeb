//! docker-compose.yml cannot run here (no Docker engine); this checks that it
//! parses, that every service rca's default configuration talks to is in
//! it, wired to rca by name, with its ports bound to 127.0.0.1 and a health
//! check, and that Alertmanager's webhook points at rca.

use std::path::Path;

use serde_yaml::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn port_of(url: &str) -> &str {
    url.rsplit(':').next().unwrap().trim_end_matches('/')
}

#[test]
fn compose_has_every_service_rca_expects_wired_by_name() {
    let compose = load("docker-compose.yml");
    let services = compose["services"].as_mapping().expect("services");
    for name in [
        "rca",
        "neo4j",
        "jaeger",
        "prometheus",
        "alertmanager",
        "victorialogs",
    ] {
        let s = &compose["services"][name];
        assert!(!s.is_null(), "no service {name}");
        assert!(!s["healthcheck"].is_null(), "{name} has no health check");
        for port in s["ports"].as_sequence().into_iter().flatten() {
            let p = port.as_str().unwrap();
            assert!(
                p.starts_with("127.0.0.1:"),
                "{name} publishes {p} beyond loopback"
            );
        }
    }
    // The replicas profile: two rca replicas on NATS and Neo4j behind one address.
    let profiled: Vec<&str> = services
        .iter()
        .filter(|(_, s)| !s["profiles"].is_null())
        .map(|(k, _)| k.as_str().unwrap())
        .collect();
    assert_eq!(profiled, ["nats", "rca-a", "rca-b", "rca-replicas"]);
    for name in &profiled {
        let s = &compose["services"][*name];
        assert!(!s["healthcheck"].is_null(), "{name} has no health check");
        for port in s["ports"].as_sequence().into_iter().flatten() {
            let p = port.as_str().unwrap();
            assert!(
                p.starts_with("127.0.0.1:"),
                "{name} publishes {p} beyond loopback"
            );
        }
    }
    for replica in ["rca-a", "rca-b"] {
        let cmd: Vec<&str> = compose["services"][replica]["command"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{replica} has its command"))
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let after = |flag: &str| cmd.iter().position(|c| *c == flag).map(|i| cmd[i + 1]);
        assert_eq!(after("--queue"), Some("nats://nats:4222"), "{replica}");
        assert_eq!(after("--neo4j-uri"), Some("bolt://neo4j:7687"), "{replica}");
    }
    assert_eq!(services.len() - profiled.len(), 6);
    assert!(compose["services"]["neo4j"]["image"]
        .as_str()
        .unwrap()
        .starts_with("neo4j:5"));
    assert!(compose["services"]["jaeger"]["image"]
        .as_str()
        .unwrap()
        .starts_with("jaegertracing/jaeger:2"));

    // rca's defaults name Jaeger's query port and Prometheus' port; in
    // compose the same ports, reached by service name.
    let defaults = rca::serve::Config::default();
    let env = &compose["services"]["rca"]["environment"];
    let jaeger = env["RCA_JAEGER_URL"].as_str().unwrap();
    assert!(jaeger.starts_with("http://jaeger:"), "{jaeger}");
    assert_eq!(port_of(jaeger), port_of(&defaults.jaeger.url));
    let prometheus = env["RCA_PROMETHEUS_URL"].as_str().unwrap();
    assert!(prometheus.starts_with("http://prometheus:"), "{prometheus}");
    assert_eq!(port_of(prometheus), port_of(&defaults.prometheus.url));
    let logs = env["RCA_LOGS_URL"].as_str().unwrap();
    assert!(logs.starts_with("http://victorialogs:"), "{logs}");
    assert_eq!(port_of(logs), port_of(&defaults.logs.url));
    // Every RCA_ variable given is one rca reads.
    for (k, _) in env.as_mapping().unwrap() {
        let k = k.as_str().unwrap();
        assert!(
            rca::serve::config::ENV_KEYS.iter().any(|(v, _)| *v == k),
            "rca does not read {k}"
        );
    }
    let rca_port = compose["services"]["rca"]["ports"][0].as_str().unwrap();
    assert_eq!(port_of(rca_port), defaults.listen.port().to_string());

    // Alertmanager's webhook goes to rca's.
    let am = load("deploy/alertmanager.yml");
    let url = am["receivers"][0]["webhook_configs"][0]["url"]
        .as_str()
        .unwrap();
    assert_eq!(
        url,
        format!("http://rca:{}/api/v1/alerts", defaults.listen.port())
    );
    let prom = load("deploy/prometheus.yml");
    let targets = &prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0];
    assert_eq!(targets.as_str(), Some("alertmanager:9093"));
}

#[test]
fn the_local_stack_configs_parse_and_point_at_rca_defaults() {
    let defaults = rca::serve::Config::default();
    let jaeger = load("scripts/stack.d/jaeger.yaml");
    let query = jaeger["extensions"]["jaeger_query"]["http"]["endpoint"]
        .as_str()
        .unwrap();
    assert!(query.contains(port_of(&defaults.jaeger.url)), "{query}");
    let am = std::fs::read_to_string(root().join("scripts/stack.d/alertmanager.sh")).unwrap();
    assert!(am.contains(&format!("http://{}/api/v1/alerts", defaults.listen)));
    load("scripts/stack.d/prometheus.yml");
    load("scripts/stack.d/rules.yml");
}
