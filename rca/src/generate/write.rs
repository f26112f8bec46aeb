//! Serialisation of a simulated incident into its wire formats: OTLP JSON traces and
//! logs, Prometheus query_range bodies, proxy access logs, an Alertmanager webhook.
//!
//! The large files are written by hand through a buffered writer: building a
//! `serde_json::Value` per span would cost several times the memory and time.

use std::io::{self, Write};

use serde_json::json;

use super::metrics::Metrics;
use super::model::Plan;
use super::sim::{
    AccessRec, Level, LogException, LogRec, Sim, SpanRec, FLAGS, F_ERROR, F_EXCEPTION, F_POSTGRES,
    F_PROXY, F_REDIS, F_UNREACHED, METHODS, NO_PEER, USER_AGENTS,
};
use super::topology::Topology;
use super::util::{ip_string, json_str, prom_value, rfc3339_millis, TimeCache};
use super::AccessFormat;

fn resource<W: Write>(w: &mut W, topo: &Topology, c: usize) -> io::Result<()> {
    w.write_all(
        b"{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":",
    )?;
    json_str(w, topo.name(c))?;
    w.write_all(b"}},{\"key\":\"telemetry.sdk.language\",\"value\":{\"stringValue\":\"")?;
    w.write_all(topo.comps[c].lang.sdk_name().as_bytes())?;
    w.write_all(b"\"}}]},")
}

fn str_attr<W: Write>(w: &mut W, first: &mut bool, key: &str, value: &str) -> io::Result<()> {
    if !*first {
        w.write_all(b",")?;
    }
    *first = false;
    write!(w, "{{\"key\":\"{key}\",\"value\":{{\"stringValue\":")?;
    json_str(w, value)?;
    w.write_all(b"}}")
}

/// Spans grouped by component, in component order; within a component, in the order
/// they were simulated.
pub(crate) fn traces<W: Write>(
    w: &mut W,
    topo: &Topology,
    plan: &Plan,
    sim: &Sim,
) -> io::Result<()> {
    let n = topo.comps.len();
    let mut by_comp: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (i, s) in sim.spans.iter().enumerate() {
        by_comp[s.comp as usize].push(i as u32);
    }
    w.write_all(b"{\"resourceSpans\":[")?;
    let mut first_group = true;
    for (c, idx) in by_comp.iter().enumerate() {
        if idx.is_empty() {
            continue;
        }
        if !first_group {
            w.write_all(b",")?;
        }
        first_group = false;
        resource(w, topo, c)?;
        w.write_all(b"\"scopeSpans\":[{\"scope\":{\"name\":\"rca-sim\"},\"spans\":[")?;
        for (k, &i) in idx.iter().enumerate() {
            if k > 0 {
                w.write_all(b",")?;
            }
            span(w, topo, plan, sim, &sim.spans[i as usize])?;
        }
        w.write_all(b"]}]}")?;
    }
    w.write_all(b"]}")
}

fn span<W: Write>(
    w: &mut W,
    topo: &Topology,
    plan: &Plan,
    sim: &Sim,
    s: &SpanRec,
) -> io::Result<()> {
    write!(
        w,
        "{{\"traceId\":\"{:032x}\",\"spanId\":\"{:016x}\",\"parentSpanId\":\"",
        s.trace, s.id
    )?;
    if s.parent != 0 {
        write!(w, "{:016x}", s.parent)?;
    }
    w.write_all(b"\",\"name\":")?;
    json_str(w, &sim.names[s.name as usize])?;
    write!(
        w,
        ",\"kind\":{},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\",\"attributes\":[",
        s.kind, s.start, s.end
    )?;
    let mut first = true;
    if s.flags & F_PROXY != 0 {
        str_attr(w, &mut first, "component", "proxy")?;
    }
    // A refused connection reached no peer: its span names none.
    if s.peer != NO_PEER && s.flags & F_UNREACHED == 0 {
        str_attr(w, &mut first, "peer.service", topo.name(s.peer as usize))?;
    }
    if s.flags & F_POSTGRES != 0 {
        str_attr(w, &mut first, "db.system", "postgresql")?;
    }
    if s.flags & F_REDIS != 0 {
        str_attr(w, &mut first, "db.system", "redis")?;
    }
    if s.status != 0 {
        if !first {
            w.write_all(b",")?;
        }
        write!(
            w,
            "{{\"key\":\"http.response.status_code\",\"value\":{{\"intValue\":\"{}\"}}}}",
            s.status
        )?;
    }
    let code = if s.flags & F_ERROR != 0 { 2 } else { 0 };
    write!(w, "],\"status\":{{\"code\":{code}}}")?;
    if s.flags & F_EXCEPTION != 0 {
        let e = &plan.exception;
        write!(
            w,
            ",\"events\":[{{\"timeUnixNano\":\"{}\",\"name\":\"exception\",\"attributes\":[",
            s.end - 50_000
        )?;
        let mut first = true;
        str_attr(w, &mut first, "exception.type", &e.ty)?;
        str_attr(w, &mut first, "exception.message", &e.message)?;
        w.write_all(b"]}]")?;
    }
    w.write_all(b"}")
}

/// Log records grouped by component, each group in time order (`logs` must be sorted
/// by component, then time).
pub(crate) fn logs<W: Write>(
    w: &mut W,
    topo: &Topology,
    plan: &Plan,
    logs: &[LogRec],
) -> io::Result<()> {
    debug_assert!(logs
        .windows(2)
        .all(|p| (p[0].comp, p[0].time) <= (p[1].comp, p[1].time)));
    w.write_all(b"{\"resourceLogs\":[")?;
    let mut i = 0;
    let mut first_group = true;
    while i < logs.len() {
        let c = logs[i].comp;
        let j = i + logs[i..].iter().take_while(|l| l.comp == c).count();
        if !first_group {
            w.write_all(b",")?;
        }
        first_group = false;
        resource(w, topo, c as usize)?;
        w.write_all(b"\"scopeLogs\":[{\"scope\":{},\"logRecords\":[")?;
        for (k, l) in logs[i..j].iter().enumerate() {
            if k > 0 {
                w.write_all(b",")?;
            }
            log_record(w, plan, l)?;
        }
        w.write_all(b"]}]}")?;
        i = j;
    }
    w.write_all(b"]}")
}

pub(crate) fn log_record<W: Write>(w: &mut W, plan: &Plan, l: &LogRec) -> io::Result<()> {
    let (num, text) = match l.level {
        Level::Info => (9, "INFO"),
        Level::Warn => (13, "WARN"),
        Level::Error => (17, "ERROR"),
    };
    write!(
        w,
        "{{\"timeUnixNano\":\"{}\",\"severityNumber\":{num},\"severityText\":\"{text}\",\"body\":{{\"stringValue\":",
        l.time
    )?;
    json_str(w, &l.body)?;
    w.write_all(b"}")?;
    if let Some((trace, span)) = l.trace {
        write!(
            w,
            ",\"traceId\":\"{trace:032x}\",\"spanId\":\"{span:016x}\""
        )?;
    }
    let exc = match l.exception {
        LogException::None => None,
        LogException::Fault => Some((plan.exception.ty.as_str(), plan.exception.message.as_str())),
        LogException::PoolTimeout => Some((
            "java.sql.SQLTransientConnectionException",
            "Connection is not available, request timed out",
        )),
    };
    if let Some((ty, msg)) = exc {
        w.write_all(b",\"attributes\":[")?;
        let mut first = true;
        str_attr(w, &mut first, "exception.type", ty)?;
        str_attr(w, &mut first, "exception.message", msg)?;
        w.write_all(b"]")?;
    }
    w.write_all(b"}")
}

/// Prometheus `query_range` bodies, one per signal.
pub(crate) fn metrics<W: Write>(w: &mut W, topo: &Topology, m: &Metrics) -> io::Result<usize> {
    let mut series = 0;
    w.write_all(b"{\"queries\":[")?;
    for (qi, q) in m.queries.iter().enumerate() {
        if qi > 0 {
            w.write_all(b",")?;
        }
        write!(w, "{{\"signal\":\"{}\",\"promql\":", q.signal)?;
        json_str(w, q.promql)?;
        w.write_all(b",\"component_label\":\"service\",\"response\":{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[")?;
        for (si, (c, values)) in q.series.iter().enumerate() {
            if si > 0 {
                w.write_all(b",")?;
            }
            series += 1;
            w.write_all(b"{\"metric\":{\"service\":")?;
            json_str(w, topo.name(*c))?;
            w.write_all(b"},\"values\":[")?;
            for (k, (t, v)) in m.times.iter().zip(values).enumerate() {
                if k > 0 {
                    w.write_all(b",")?;
                }
                write!(w, "[{t},\"{}\"]", prom_value(*v, q.decimals))?;
            }
            w.write_all(b"]}")?;
        }
        w.write_all(b"]}}}")?;
    }
    for (qi, q) in m.edges.iter().enumerate() {
        if qi > 0 || !m.queries.is_empty() {
            w.write_all(b",")?;
        }
        write!(w, "{{\"signal\":\"{}\",\"promql\":", q.signal)?;
        json_str(w, q.promql)?;
        w.write_all(b",\"client_label\":\"client\",\"server_label\":\"server\",\"response\":{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[")?;
        for (si, ((caller, callee), values)) in q.series.iter().enumerate() {
            if si > 0 {
                w.write_all(b",")?;
            }
            series += 1;
            w.write_all(b"{\"metric\":{\"client\":")?;
            json_str(w, topo.name(*caller))?;
            w.write_all(b",\"server\":")?;
            json_str(w, topo.name(*callee))?;
            w.write_all(b"},\"values\":[")?;
            // A step without a sample (a latency where no traced call fell) is left out.
            let mut first = true;
            for (t, v) in m.times.iter().zip(values) {
                if !v.is_finite() {
                    continue;
                }
                if !first {
                    w.write_all(b",")?;
                }
                first = false;
                write!(w, "[{t},\"{}\"]", prom_value(*v, q.decimals))?;
            }
            w.write_all(b"]}")?;
        }
        w.write_all(b"]}}}")?;
    }
    w.write_all(b"]}")?;
    Ok(series)
}

fn uuid(id: u128) -> String {
    let h = format!("{id:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Writes one access-log line.
pub(crate) struct AccessWriter<'a> {
    topo: &'a Topology,
    plan: &'a Plan,
    sim: &'a Sim<'a>,
    format: AccessFormat,
    time: TimeCache,
}

impl<'a> AccessWriter<'a> {
    pub(crate) fn new(
        topo: &'a Topology,
        plan: &'a Plan,
        sim: &'a Sim<'a>,
        format: AccessFormat,
    ) -> Self {
        AccessWriter {
            topo,
            plan,
            sim,
            format,
            time: TimeCache::default(),
        }
    }

    pub(crate) fn line<W: Write>(&mut self, w: &mut W, r: &AccessRec) -> io::Result<()> {
        let topo = self.topo;
        let (ip, ua, tls, protocol) = if r.abuse {
            let a = &self
                .plan
                .abuse
                .as_ref()
                .expect("abusive requests need an abuse plan")
                .clients[r.client as usize];
            (
                a.ips[r.abuse_ip as usize],
                a.user_agent.as_str(),
                a.tls,
                "HTTP/1.1",
            )
        } else {
            let c = &self.sim.clients[r.client as usize];
            (c.ip, USER_AGENTS[c.ua as usize].0, c.tls, c.protocol)
        };
        let template = &self.sim.paths[r.path as usize];
        let path: std::borrow::Cow<str> = match r.item {
            Some(item) => template
                .replace("{id}", &topo.item_ids[item as usize])
                .into(),
            None => template.as_str().into(),
        };
        let fe = &topo.comps[topo.frontend];
        let upstream = r
            .pod
            .map(|p| format!("{}:{}", ip_string(fe.pods[p as usize]), fe.port));
        let method = METHODS[r.method as usize];
        let ip_s = ip_string(ip);
        let duration_ms = r.duration_us / 1000;
        match self.format {
            AccessFormat::EnvoyJson => {
                w.write_all(b"{\"start_time\":\"")?;
                self.time.write_iso(w, r.start)?;
                write!(w, "\",\"method\":\"{method}\",\"path\":")?;
                json_str(w, &path)?;
                write!(
                    w,
                    ",\"protocol\":\"{protocol}\",\"response_code\":{},\"response_flags\":\"{}\",\"bytes_received\":{},\"bytes_sent\":{},\"duration\":{duration_ms},\"user_agent\":",
                    r.status, FLAGS[r.flags as usize], r.bytes_in, r.bytes_out
                )?;
                json_str(w, ua)?;
                write!(
                    w,
                    ",\"x_forwarded_for\":\"{ip_s}\",\"request_id\":\"{}\",\"authority\":\"{}\",\"upstream_host\":",
                    uuid(r.req_id),
                    topo.authority
                )?;
                match &upstream {
                    Some(u) => write!(w, "\"{u}\"")?,
                    None => w.write_all(b"null")?,
                }
                w.write_all(b",\"upstream_cluster\":")?;
                if r.routed {
                    json_str(w, &fe.name)?;
                } else {
                    w.write_all(b"null")?;
                }
                writeln!(
                    w,
                    ",\"downstream_tls_version\":\"{tls}\",\"downstream_remote_address\":\"{ip_s}:{}\"}}",
                    r.port
                )
            }
            AccessFormat::EnvoyText => {
                w.write_all(b"[")?;
                self.time.write_iso(w, r.start)?;
                write!(
                    w,
                    "] \"{method} {path} {protocol}\" {} {} {} {} {duration_ms} ",
                    r.status, FLAGS[r.flags as usize], r.bytes_in, r.bytes_out
                )?;
                match r.upstream_us {
                    Some(us) => write!(w, "{}", us / 1000)?,
                    None => w.write_all(b"-")?,
                }
                writeln!(
                    w,
                    " \"{ip_s}\" \"{ua}\" \"{}\" \"{}\" \"{}\"",
                    uuid(r.req_id),
                    topo.authority,
                    upstream.as_deref().unwrap_or("-")
                )
            }
            AccessFormat::NginxUpstream => {
                write!(w, "{ip_s} - - [")?;
                self.time.write_clf(w, r.start)?;
                write!(
                    w,
                    "] \"{method} {path} {protocol}\" {} {} \"-\" \"{ua}\" {} {:.3} [default-{}-{}] [] ",
                    r.status,
                    r.bytes_out,
                    r.bytes_in + 180 + path.len() as u32 + ua.len() as u32,
                    r.duration_us as f64 / 1e6,
                    fe.name,
                    fe.port
                )?;
                match (&upstream, r.upstream_us) {
                    (Some(u), Some(us)) => writeln!(
                        w,
                        "{u} {} {:.3} {} {:032x}",
                        r.bytes_out,
                        us as f64 / 1e6,
                        r.status,
                        r.req_id
                    ),
                    _ => writeln!(w, "- - - - {:032x}", r.req_id),
                }
            }
        }
    }
}

/// The Alertmanager webhook (version 4) for the incident.
pub(crate) fn alert(topo: &Topology, plan: &Plan) -> serde_json::Value {
    let a = &plan.alert;
    let comp = topo.name(a.component);
    let (summary, description, expr) = match a.name {
        "High4xxRate" => (
            format!("High 4xx rate at {comp}"),
            format!("More than 10% of requests through {comp} were answered 4xx over the last 2 minutes."),
            format!("sum(rate(envoy_http_downstream_rq_xx{{service=\"{comp}\",envoy_response_code_class=\"4\"}}[2m])) / sum(rate(envoy_http_downstream_rq_total{{service=\"{comp}\"}}[2m])) > 0.1"),
        ),
        "HighErrorRate" => (
            format!("High error rate on {comp}"),
            format!("More than 2% of requests to {comp} failed with 5xx over the last 2 minutes."),
            format!("sum(rate(http_server_request_duration_seconds_count{{service=\"{comp}\",http_response_status_code=~\"5..\"}}[2m])) / sum(rate(http_server_request_duration_seconds_count{{service=\"{comp}\"}}[2m])) > 0.02"),
        ),
        _ => (
            format!("High p99 latency on {comp}"),
            format!("The 99th percentile latency of {comp} has been above its objective for 2 minutes."),
            format!("histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket{{service=\"{comp}\"}}[2m]))) > 0.5"),
        ),
    };
    let encoded: String = expr
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let labels = json!({"alertname": a.name, "service": comp, "severity": a.severity});
    let annotations = json!({"summary": summary, "description": description});
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{}\"}}", a.name),
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "rca",
        "groupLabels": {"alertname": a.name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager.monitoring.svc:9093",
        "alerts": [{
            "status": "firing",
            "labels": labels,
            "annotations": annotations,
            "startsAt": rfc3339_millis(plan.alert_at),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": format!("http://prometheus.monitoring.svc:9090/graph?g0.expr={encoded}&g0.tab=1"),
            "fingerprint": a.fingerprint,
        }],
    })
}

pub(crate) fn truth(topo: &Topology, plan: &Plan) -> serde_json::Value {
    json!({"root_cause": {"component": topo.name(plan.target), "fault": plan.fault.as_str()}})
}
