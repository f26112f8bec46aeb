//! The incident page, end to end: content, self-containment and escaping of hostile input.

use std::collections::BTreeMap;
use std::time::Instant;

use graph::{
    Candidate, Cell, CellSignal, Count, Detail, Edge, Evidence, FaultKind, Heatmap, IncidentInfo,
    Localisation, Missing, ProxyMix, SignalSeries,
};
use web::{heatmap_svg, render_report, ReportOptions, Script, WebError, PAGE_JS};

const JAEGER: &str = "https://jaeger.example.internal";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn bucket(i: usize) -> String {
    format!(
        "2024-05-01T{:02}:{:02}:00Z",
        10 + (30 + i) / 60,
        (30 + i) % 60
    )
}

fn evidence(signal: &str, modality: &str, summary: &str, value: f64, baseline: f64) -> Evidence {
    Evidence {
        signal: signal.to_owned(),
        modality: modality.to_owned(),
        at: bucket(12),
        value,
        baseline,
        deviation: 14.2,
        summary: summary.to_owned(),
        trace_ids: vec![],
        top_user_agents: vec![],
        tls_versions: vec![],
        ..Default::default()
    }
}

fn count(value: &str, count: u64) -> Count {
    Count {
        value: value.to_owned(),
        count,
    }
}

/// A checkout outage caused by CPU saturation in `payment`, seen from `frontend`.
fn fixture() -> Localisation {
    let components: Vec<String> = ["frontend", "checkout", "cart", "payment", "postgres"]
        .map(String::from)
        .to_vec();
    let n_buckets = 20;
    let scores: Vec<Vec<f64>> = components
        .iter()
        .map(|c| {
            (0..n_buckets)
                .map(|b| match (c.as_str(), b >= 10) {
                    ("payment", true) => 12.0 + b as f64 / 4.0,
                    ("checkout", true) => 6.0,
                    ("frontend", true) => 3.5,
                    _ => 0.0,
                })
                .collect()
        })
        .collect();
    let mut by_modality = BTreeMap::new();
    by_modality.insert("metrics".to_owned(), scores.clone());
    by_modality.insert("traces".to_owned(), scores.clone());

    let mut cpu = evidence(
        "cpu",
        "metrics",
        "cpu 0.97 vs baseline 0.31 from 10:42",
        0.97,
        0.31,
    );
    cpu.trace_ids = vec![TRACE.to_owned(), "00f067aa0ba902b7".to_owned()];
    let mut abuse = evidence(
        "http_4xx_rate",
        "access_logs",
        "4xx rate 0.42 vs baseline 0.01",
        0.42,
        0.01,
    );
    abuse.top_user_agents = vec![
        count("python-requests/2.31.0", 9120),
        count("Mozilla/5.0 (X11; Linux x86_64)", 311),
    ];
    abuse.tls_versions = vec![count("TLSv1.2", 9000), count("TLSv1.3", 431)];

    Localisation {
        symptom: Default::default(),
        confident: true,
        incident: IncidentInfo {
            id: "inc-7f3a9c".to_owned(),
            alert_name: "CheckoutLatencyHigh".to_owned(),
            alert_component: Some("frontend".to_owned()),
            fingerprint: "a1b2c3".to_owned(),
            starts_at: "2024-05-01T10:43:00Z".to_owned(),
            window_start: bucket(0),
            window_end: bucket(n_buckets),
            baseline_end: bucket(10),
            bucket_seconds: 60.0,
            annotations: Default::default(),
            other_alerts: Vec::new(),
        },
        ranking: vec![
            Candidate {
                component: "payment".to_owned(),
                score: 17.31,
                fault: FaultKind::CpuSaturation,
                evidence: vec![cpu, abuse],
                inner: Vec::new(),
                address: false,
                explains_alert: true,
            },
            Candidate {
                component: "checkout".to_owned(),
                score: 6.1,
                fault: FaultKind::Latency,
                evidence: vec![evidence(
                    "self_time",
                    "traces",
                    "self time 210 ms vs 40 ms",
                    210.0,
                    40.0,
                )],
                inner: Vec::new(),
                address: false,
                explains_alert: true,
            },
            Candidate {
                component: "cart".to_owned(),
                score: 0.4,
                fault: FaultKind::Unknown,
                evidence: vec![],
                inner: Vec::new(),
                address: false,
                explains_alert: true,
            },
        ],
        path: ["payment", "checkout", "frontend"]
            .map(String::from)
            .to_vec(),
        modalities: vec![
            "metrics".to_owned(),
            "traces".to_owned(),
            "access_logs".to_owned(),
        ],
        missing: vec![Missing {
            modality: "logs".to_owned(),
            reason: "loki returned 503 for every query".to_owned(),
        }],
        heatmap: Heatmap {
            components,
            buckets: (0..n_buckets).map(bucket).collect(),
            scores,
            by_modality,
        },
        edges: vec![
            edge("frontend", "checkout", 1200, 80, 950.0),
            edge("checkout", "payment", 1100, 75, 900.0),
            edge("checkout", "cart", 1150, 0, 12.0),
            edge("payment", "postgres", 3000, 0, 4.5),
        ],
        detail: Detail {
            cells: vec![Cell {
                row: 3,
                bucket: 12,
                signals: vec![CellSignal {
                    signal: "cpu".to_owned(),
                    modality: "metrics".to_owned(),
                    value: Some(0.97),
                    baseline: Some(0.31),
                    unit: "cores".to_owned(),
                    score: 15.0,
                }],
                trace_ids: vec![TRACE.to_owned()],
                log_lines: vec![count("pool <*> exhausted", 12)],
            }],
            series: (0..5)
                .map(|row| SignalSeries {
                    row,
                    signal: "cpu".to_owned(),
                    modality: "metrics".to_owned(),
                    values: (0..n_buckets)
                        .map(|b| Some(0.3 + (b as f64) * 0.01 * f64::from(row)))
                        .collect(),
                })
                .collect(),
            proxies: vec![ProxyMix {
                row: 0,
                top_user_agents: vec![count("python-requests/2.31.0", 9120)],
                tls_versions: vec![count("TLSv1.2", 9000)],
            }],
        },
    }
}

fn edge(from: &str, to: &str, calls: u64, errors: u64, p99_ms: f64) -> Edge {
    Edge {
        from: from.to_owned(),
        to: to.to_owned(),
        calls,
        errors,
        p99_ms,
    }
}

fn opts(jaeger: Option<&str>) -> ReportOptions {
    ReportOptions {
        jaeger_base_url: jaeger.map(str::to_owned),
        generated_by: "rca test".to_owned(),
        ..ReportOptions::default()
    }
}

/// The text a reader sees: tags dropped, entities decoded for the few we emit, spaces collapsed.
fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Values of every `name="..."` attribute in the page.
fn attribute_values<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!(" {name}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            &rest[..rest.find('"').expect("attribute is closed")]
        })
        .collect()
}

/// The heatmap SVGs of the page (plotters'; the causal graph's has a class).
fn svgs(html: &str) -> Vec<&str> {
    html.match_indices("<svg width")
        .map(|(i, _)| {
            let end = html[i..].find("</svg>").expect("svg is closed");
            &html[i..i + end + "</svg>".len()]
        })
        .collect()
}

#[test]
fn page_leads_with_the_verdict_and_names_everything() {
    let loc = fixture();
    let html = render_report(&loc, &opts(None)).unwrap();
    let text = visible_text(&html);

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        text.contains(
            "Root cause: payment ( cpu_saturation ) — cpu 0.97 vs baseline 0.31 from 10:42"
        ),
        "{text}"
    );
    // The verdict comes before the heatmap and the tables.
    let verdict = html.find("Root cause:").unwrap();
    assert!(verdict < html.find("<svg").unwrap());
    assert!(verdict < html.find("<table").unwrap());

    assert!(text.contains("payment → checkout → frontend"), "{text}");
    assert!(text.contains("CheckoutLatencyHigh"));
    assert!(text.contains("2024-05-01 10:43:00 UTC"), "alert start");
    assert!(text.contains("2024-05-01 10:40:00 UTC"), "baseline end");
    assert!(text.contains("inc-7f3a9c"));
    for c in &loc.heatmap.components {
        assert!(text.contains(c.as_str()), "page names {c}");
    }
    for m in &loc.modalities {
        assert!(text.contains(m.as_str()));
    }
    // The warning box names the missing modality and why.
    assert!(html.contains("class=\"warn\""));
    assert!(
        text.contains("logs : loki returned 503 for every query"),
        "{text}"
    );
    // Evidence details.
    assert!(text.contains("python-requests/2.31.0 (9120)"));
    assert!(text.contains("TLSv1.2 (9000)"));
    assert!(text.contains(TRACE));
    assert!(text.contains("17.3"), "score of the top candidate");
    // Path edges are highlighted: the two on the path, not the others.
    assert_eq!(html.matches("<tr class=\"on-path\"").count(), 2);
    assert!(text.contains("rca test"));
}

#[test]
fn the_other_alerts_of_a_storm_say_whether_the_cause_accounts_for_them() {
    let mut loc = fixture();
    let other = |name: &str, comp: &str, explained| graph::AlertRef {
        fingerprint: format!("fp-{name}"),
        alert_name: name.to_owned(),
        alert_component: Some(comp.to_owned()),
        starts_at: "2024-05-01T10:43:30Z".to_owned(),
        explained,
    };
    loc.incident.other_alerts = vec![
        other("CheckoutErrors", "checkout", Some(true)),
        other("CartLatency", "cart", Some(false)),
    ];
    let text = visible_text(&render_report(&loc, &opts(None)).unwrap());
    assert!(
        text.contains("CheckoutErrors on checkout — accounted for by the root cause"),
        "{text}"
    );
    assert!(
        text.contains("CartLatency on cart — not below the root cause: look at it apart"),
        "{text}"
    );
    // One alert: no such row.
    let text = visible_text(&render_report(&fixture(), &opts(None)).unwrap());
    assert!(!text.contains("Other alerts"), "{text}");
}

#[test]
fn baseline_notes_are_not_counted_as_missing_modalities() {
    let mut loc = fixture();
    loc.missing.push(Missing {
        modality: "baseline".into(),
        reason: "2 series have fewer than 3 points before the baseline's end".into(),
    });
    let html = render_report(&loc, &opts(None)).unwrap();
    assert!(
        html.contains("Incomplete picture: 1 modality could not be used"),
        "the note is not a modality: {html}"
    );
    assert!(html.contains("class=\"note\""));
    assert!(html.contains("What the baseline could not judge:"));
    assert!(html.contains("2 series have fewer than 3 points"));
}

#[test]
fn heatmap_is_inline_svg_with_every_component_and_a_marked_root() {
    let loc = fixture();
    let html = render_report(&loc, &opts(None)).unwrap();
    let svgs = svgs(&html);
    // Combined plus one per modality.
    assert_eq!(svgs.len(), 1 + loc.heatmap.by_modality.len());
    let main = svgs[0];
    for c in &loc.heatmap.components {
        assert!(main.contains(&format!(">\n{c}\n</text>")), "row label {c}");
    }
    assert!(
        main.contains("10:30") && main.contains("10:40"),
        "time labels"
    );
    assert!(main.contains("analysed →"), "baseline divider");
    // The root row's label is drawn in the accent colour, the path rows bold.
    assert!(main.contains("fill=\"#D55E00\""));
    assert!(main.contains("font-weight=\"bold\""));

    let without = render_report(
        &loc,
        &ReportOptions {
            modality_heatmaps: false,
            ..opts(None)
        },
    )
    .unwrap();
    assert_eq!(self::svgs(&without).len(), 1);
}

/// The two script elements of the page: the JSON data and our code.
fn scripts(html: &str) -> Vec<&str> {
    html.match_indices("<script")
        .map(|(i, _)| {
            let end = html[i..].find("</script>").expect("script is closed");
            &html[i..i + end + "</script>".len()]
        })
        .collect()
}

#[test]
fn page_loads_nothing_from_anywhere() {
    for jaeger in [None, Some(JAEGER)] {
        let html = render_report(&fixture(), &opts(jaeger)).unwrap();
        let lower = html.to_ascii_lowercase();
        let csp = Script::Inline.csp();
        assert!(csp.starts_with("default-src 'none'; script-src 'sha256-"));
        assert!(csp.contains("connect-src 'none'"));
        assert!(html.contains(&format!(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">"
        )));
        // Exactly our data element and our script, the latter byte for byte what the hash allows.
        let scripts = scripts(&html);
        assert_eq!(scripts.len(), 2, "{scripts:?}");
        assert!(scripts[0].starts_with("<script id=\"page-data\" type=\"application/json\">"));
        assert_eq!(scripts[1], format!("<script>{PAGE_JS}</script>"));
        for tag in [
            "<link", "<img", "<iframe", "<object", "<embed", "@import", "url(",
        ] {
            assert!(!lower.contains(tag), "page has {tag}");
        }
        assert!(attribute_values(&lower, "src").is_empty());
        assert!(attribute_values(&lower, "xlink:href").is_empty());
        for href in attribute_values(&html, "href") {
            let to_jaeger = jaeger.is_some_and(|j| href.starts_with(&format!("{j}/trace/")));
            assert!(href.starts_with('#') || to_jaeger, "unexpected href {href}");
        }
        // The only absolute URL besides Jaeger links is the SVG namespace, which loads nothing.
        let lower = lower
            .replace(&scripts[0].to_ascii_lowercase(), "")
            .replace(&scripts[1].to_ascii_lowercase(), "");
        let data_urls = scripts[0].matches("http").count();
        assert_eq!(
            data_urls,
            usize::from(jaeger.is_some()),
            "only the jaeger base in the data"
        );
        let absolute = lower.matches("http://").count() + lower.matches("https://").count();
        let namespaces = lower
            .matches("xmlns=\"http://www.w3.org/2000/svg\"")
            .count();
        let jaeger_links = lower
            .matches("href=\"https://jaeger.example.internal/trace/")
            .count();
        assert_eq!(
            absolute,
            namespaces + jaeger_links,
            "absolute urls in the page"
        );
    }
}

#[test]
fn trace_ids_link_to_jaeger_only_when_configured() {
    let html = render_report(&fixture(), &opts(Some("https://jaeger.example.internal/"))).unwrap();
    assert!(html.contains(&format!("href=\"{JAEGER}/trace/{TRACE}\"")));
    assert!(html.contains(&format!("href=\"{JAEGER}/trace/00f067aa0ba902b7\"")));
    let html = render_report(&fixture(), &opts(None)).unwrap();
    assert!(!html.replace(PAGE_JS, "").contains("/trace/"));
    assert!(
        html.contains("\"jaeger\":null"),
        "the script gets no base to link to"
    );
    assert!(html.contains(TRACE), "still shown as text");
}

#[test]
fn a_jaeger_url_that_is_not_http_is_refused() {
    for bad in [
        "javascript:alert(1)",
        "jaeger.local",
        "https://x\" onclick=\"y",
    ] {
        let err = render_report(&fixture(), &opts(Some(bad))).unwrap_err();
        assert!(matches!(err, WebError::InvalidJaegerUrl(_)), "{bad}: {err}");
        assert!(err.to_string().starts_with("jaeger base url"));
    }
}

/// Every string an attacker controls, in every place it is shown.
fn hostile() -> Localisation {
    const NAME: &str = "<script>alert(1)</script>";
    const UA: &str = "\"><img src=x onerror=alert(1)>";
    let mut loc = fixture();
    let rename = |s: &mut String| {
        if s == "payment" {
            *s = NAME.to_owned();
        }
    };
    loc.ranking[0].component = NAME.to_owned();
    loc.path.iter_mut().for_each(rename);
    loc.heatmap.components.iter_mut().for_each(rename);
    for e in &mut loc.edges {
        rename(&mut e.from);
        rename(&mut e.to);
    }
    let ev = &mut loc.ranking[0].evidence;
    ev[0].summary = format!("</svg></div>{NAME}<img src=x onerror=alert(2)>");
    ev[0].trace_ids = vec!["javascript:alert(1)".to_owned(), TRACE.to_owned()];
    ev[0].signal = UA.to_owned();
    ev[1].top_user_agents = vec![count(UA, 7), count("<svg onload=alert(3)>", 1)];
    ev[1].tls_versions = vec![count(UA, 7)];
    loc.incident.alert_name = format!("{NAME}\u{202e}gnp.exe");
    loc.incident.alert_component = Some(UA.to_owned());
    loc.incident.other_alerts = vec![graph::AlertRef {
        fingerprint: UA.to_owned(),
        alert_name: UA.to_owned(),
        alert_component: Some(UA.to_owned()),
        starts_at: "2026-01-01T00:00:00Z".to_owned(),
        explained: Some(false),
    }];
    loc.incident.id = UA.to_owned();
    loc.missing[0].reason = UA.to_owned();
    loc.modalities.push(UA.to_owned());
    let matrix = loc.heatmap.scores.clone();
    loc.heatmap.by_modality.insert(UA.to_owned(), matrix);
    loc
}

#[test]
fn hostile_strings_are_only_ever_escaped() {
    let loc = hostile();
    for jaeger in [None, Some(JAEGER)] {
        let html = render_report(&loc, &opts(jaeger)).unwrap();
        let scripts = scripts(&html);
        assert_eq!(scripts.len(), 2, "only our two script elements");
        assert_eq!(scripts[1], format!("<script>{PAGE_JS}</script>"));
        // The data element holds the hostile strings only as \u escapes.
        let data = &scripts[0]["<script id=\"page-data\" type=\"application/json\">".len()..];
        let data = &data[..data.len() - "</script>".len()];
        assert!(!data.contains('<') && !data.contains('>') && !data.contains('&'));
        assert!(data.contains("\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"));
        let lower = html
            .replace(scripts[0], "")
            .replace(scripts[1], "")
            .to_ascii_lowercase();
        assert!(!lower.contains("<script"), "raw script tag");
        assert!(!lower.contains("<img"), "raw img tag");
        assert!(!lower.contains("<svg onload"), "raw svg tag");
        assert!(!lower.contains("href=\"javascript:"));
        assert!(!html.contains('\u{202e}'), "bidi override shown raw");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
        // The non-hex trace id is text, the hex one a link only with Jaeger configured.
        assert!(html.contains("javascript:alert(1)"));
        assert_eq!(
            html.contains(&format!("/trace/{TRACE}\"")),
            jaeger.is_some()
        );
        // Every SVG closes where it should: nothing injected ended one early.
        let svgs = svgs(&html);
        assert_eq!(svgs.len(), 1 + loc.heatmap.by_modality.len());
        assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
        for svg in &svgs {
            assert!(!svg.to_ascii_lowercase().contains("<script"));
            assert!(!svg.to_ascii_lowercase().contains("<img"));
            assert!(
                svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "label escaped"
            );
        }
        // The reader still sees the hostile names for what they are.
        let text = visible_text(&html);
        assert!(text.contains("Root cause: <script>alert(1)</script>"));
    }
}

#[test]
fn a_broken_heatmap_costs_the_picture_not_the_page() {
    let mut loc = fixture();
    loc.heatmap.scores[2].pop();
    let html = render_report(&loc, &opts(None)).unwrap();
    assert!(html.contains("Heatmap unavailable: heatmap row 2 has 19 cells for 20 buckets"));
    assert!(html.contains("Root cause:"));

    loc.heatmap = Heatmap::default();
    let html = render_report(&loc, &opts(None)).unwrap();
    assert!(html.contains("No heatmap data."));
}

#[test]
fn no_candidate_says_so() {
    let mut loc = fixture();
    loc.ranking.clear();
    loc.path.clear();
    loc.edges.clear();
    loc.missing.clear();
    let html = render_report(&loc, &opts(None)).unwrap();
    assert!(html.contains("No root cause candidate"));
    assert!(!html.contains("class=\"warn\""));
    assert!(html.contains("No propagation path"));
}

/// 100 components x 360 buckets, engine-like: zero except a few anomalous stretches.
fn large(dense: bool) -> Heatmap {
    let components: Vec<String> = (0..100).map(|i| format!("service-{i:03}")).collect();
    let buckets: Vec<String> = (0..360)
        .map(|i| format!("2024-05-01T{:02}:{:02}:00Z", 4 + i / 60, i % 60))
        .collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let scores = (0..100)
        .map(|r| {
            (0..360)
                .map(|b| {
                    if dense {
                        next() * 14.0
                    } else if r % 9 == 0 && b >= 240 {
                        4.0 + next() * 10.0
                    } else if next() < 0.03 {
                        next() * 4.0
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    Heatmap {
        components,
        buckets,
        scores,
        by_modality: BTreeMap::new(),
    }
}

#[test]
fn heatmap_of_100_components_by_360_buckets() {
    let h = large(false);
    let marked = vec!["service-009".to_owned(), "service-018".to_owned()];
    let svg = heatmap_svg(&h, &marked, Some("service-000"), Some(240)).unwrap();
    for c in &h.components {
        assert!(svg.contains(c.as_str()));
    }
    assert!(
        svg.contains("04:00") && svg.contains("09:00"),
        "hour labels"
    );
    assert!(
        svg.len() < 2_000_000,
        "sparse picture is {} bytes",
        svg.len()
    );
    let dense = heatmap_svg(&large(true), &marked, None, None).unwrap();
    assert!(
        dense.len() < 5_000_000,
        "dense picture is {} bytes",
        dense.len()
    );
}

/// Size and speed of the large picture and page, printed for the record:
/// `cargo test --release -p web --test report measure -- --nocapture`
/// (figures, not a timed test: it asserts only that the page renders).
#[test]
fn measure_large_heatmap() {
    for dense in [false, true] {
        let h = large(dense);
        let runs = 3;
        let start = Instant::now();
        let mut len = 0;
        for _ in 0..runs {
            len = heatmap_svg(&h, &[], Some("service-000"), Some(240))
                .unwrap()
                .len();
        }
        let per = start.elapsed() / runs;
        println!("heatmap 100x360 dense={dense}: {len} bytes, {per:?} per render");

        let mut loc = fixture();
        loc.heatmap = h.clone();
        loc.heatmap
            .by_modality
            .insert("metrics".to_owned(), h.scores.clone());
        loc.heatmap
            .by_modality
            .insert("traces".to_owned(), h.scores);
        let start = Instant::now();
        let html = render_report(&loc, &opts(Some(JAEGER))).unwrap();
        let page = start.elapsed();
        let solo = render_report(
            &loc,
            &ReportOptions {
                modality_heatmaps: false,
                ..opts(Some(JAEGER))
            },
        )
        .unwrap();
        println!(
            "page dense={dense}: {} bytes with 2 modality heatmaps ({page:?}), {} bytes without",
            html.len(),
            solo.len()
        );
    }
}
