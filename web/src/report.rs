//! The incident page: one HTML page for the engineer who opens it from an alert, the same whether
//! `rca serve` serves it or `rca replay` writes it as `report.html`.
//!
//! Reading order is the order of need: what fired, what data is missing, the verdict in one
//! sentence, the heatmap (with a modality selector, a time window and the evidence of a clicked
//! cell), the coupling of components in the window, the ranking with its evidence, and the
//! propagation path with the causal graph and the call edges behind it.
//!
//! The page loads nothing from anywhere but its own script (`page.js`): inline with its sha256 in
//! the Content-Security-Policy when written to a file, or from the server (`script-src 'self'`).
//! Without the script everything but the interaction is still there. The script reads its data
//! from a JSON element (see `data`) and writes every string with `textContent`.

use std::borrow::Cow;

use graph::{Candidate, Count, Edge, Evidence, FaultKind, Heatmap, Localisation};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use sha2::{Digest, Sha256};

use crate::causal::causal_svg;
use crate::data::PageData;
use crate::heatmap::{geometry, heatmap_svg, modality_heatmap_svg};
use crate::text::{self, full_time, number, score, visible};
use crate::WebError;

/// Everything but our one script is refused: no network, no frames, no plugins, and no forms
/// but, on a served page, the verdict form posted back to the server.
const CSP_REST: &str = "style-src 'unsafe-inline'; img-src data:; connect-src 'none'; \
                        base-uri 'none'";
pub(crate) const CSS: &str = include_str!("report.css");
/// The page's script: plain JavaScript, no dependencies, no build step.
pub const PAGE_JS: &str = include_str!("page.js");
/// Where a server serves [`PAGE_JS`] for [`Script::Linked`] pages.
pub const PAGE_JS_PATH: &str = "/assets/page.js";
/// Rows of the ranking table.
const TOP_N: usize = 5;
/// Edges shown before the rest are folded away.
const EDGES_SHOWN: usize = 15;
/// Trace ids and user agents listed per evidence item before "and N more".
const LIST_MAX: usize = 8;

/// How to render a report.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Base URL of a Jaeger UI (`http` or `https`); trace ids link to `{base}/trace/{id}`.
    /// Without it trace ids are plain text.
    pub jaeger_base_url: Option<String>,
    /// Shown in the footer, e.g. `rca 0.1.0`.
    pub generated_by: String,
    /// Also draw one heatmap per modality (shown by the modality selector).
    pub modality_heatmaps: bool,
    /// How the page gets its script.
    pub script: Script,
    /// The verdicts given so far and where the form posts a new one; `None`
    /// for a page with nowhere to post (a file written by `rca replay`).
    pub feedback: Option<FeedbackForm>,
    /// When the alert resolved, and how long it had fired.
    pub resolved: Option<(chrono::DateTime<chrono::Utc>, chrono::Duration)>,
    /// The recorded window to link: where to download it, and what it says
    /// of itself (its size, what was sampled).
    pub recording: Option<RecordingLink>,
}

/// The incident's recorded window, as the page links it.
#[derive(Clone, Debug, Default)]
pub struct RecordingLink {
    /// Where it downloads from (a path on the serving host).
    pub href: String,
    pub bytes: u64,
    /// What was thinned to fit the cap, one line each.
    pub sampled: Vec<String>,
}

/// The page's verdict section: what people said, and the form to say it.
#[derive(Clone, Debug, Default)]
pub struct FeedbackForm {
    /// Where the form posts (a path on the serving host).
    pub action: String,
    /// Oldest first; the last counts.
    pub verdicts: Vec<graph::store::Feedback>,
}

/// How the page carries its script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Script {
    /// Inline, allowed by its sha256 hash: a file that works offline on its own.
    Inline,
    /// `<script src=PAGE_JS_PATH>`, allowed by `script-src 'self'`: for a server.
    Linked,
}

impl Script {
    /// The page's Content-Security-Policy; a server should also send it as a header.
    pub fn csp(&self) -> String {
        let script = match self {
            Script::Inline => format!("'sha256-{}'", base64(&Sha256::digest(PAGE_JS.as_bytes()))),
            Script::Linked => "'self'".to_owned(),
        };
        // Only a served page has somewhere to post its form.
        let forms = match self {
            Script::Inline => "'none'",
            Script::Linked => "'self'",
        };
        format!("default-src 'none'; script-src {script}; {CSP_REST}; form-action {forms}")
    }
}

/// Standard base64 with padding, for the CSP hash source.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            jaeger_base_url: None,
            generated_by: concat!("rca ", env!("CARGO_PKG_VERSION")).to_owned(),
            modality_heatmaps: true,
            script: Script::Inline,
            feedback: None,
            resolved: None,
            recording: None,
        }
    }
}

/// Renders the report page for `loc`.
///
/// Fails only on bad options (a Jaeger URL that is not http(s)); a heatmap that cannot be drawn
/// is reported on the page instead, since the rest of the page is still worth reading.
pub fn render_report(loc: &Localisation, opts: &ReportOptions) -> Result<String, WebError> {
    let jaeger = opts
        .jaeger_base_url
        .as_deref()
        .map(jaeger_base)
        .transpose()?;
    let page = Page {
        loc,
        jaeger: jaeger.as_deref(),
        modality_heatmaps: opts.modality_heatmaps,
        root: loc.ranking.first(),
        script: &opts.script,
        feedback: opts.feedback.as_ref(),
        resolved: opts.resolved,
        recording: opts.recording.as_ref(),
    };
    Ok(page.render(&opts.generated_by).into_string())
}

/// `url` without trailing slashes if it is a plain absolute http(s) URL (no query, fragment,
/// spaces or quotes), so that `{base}/trace/{id}` is a well-formed link to the same host.
pub(crate) fn jaeger_base(url: &str) -> Result<String, WebError> {
    let invalid = || WebError::InvalidJaegerUrl(url.to_owned());
    let base = url.trim_end_matches('/');
    let lower = base.to_ascii_lowercase();
    let scheme_len = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return Err(invalid());
    };
    let rest = &base[scheme_len..];
    let host = rest.split('/').next().unwrap_or_default();
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~:/@%+[]".contains(c);
    if host.is_empty() || !rest.chars().all(allowed) {
        return Err(invalid());
    }
    Ok(base.to_owned())
}

/// A trace id that is safe to put in a URL path: 1 to 32 hex digits (Jaeger uses 16 or 32).
fn is_trace_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The index of the first bucket that starts at or after `at`, if all are RFC 3339.
fn bucket_at(buckets: &[String], at: &str) -> Option<usize> {
    let at = text::instant(at)?;
    let mut first = None;
    for (i, b) in buckets.iter().enumerate() {
        let t = text::instant(b)?;
        if first.is_none() && t >= at {
            first = Some(i);
        }
    }
    first
}

struct Page<'a> {
    loc: &'a Localisation,
    jaeger: Option<&'a str>,
    modality_heatmaps: bool,
    root: Option<&'a Candidate>,
    script: &'a Script,
    feedback: Option<&'a FeedbackForm>,
    resolved: Option<(chrono::DateTime<chrono::Utc>, chrono::Duration)>,
    recording: Option<&'a RecordingLink>,
}

impl Page<'_> {
    fn render(&self, generated_by: &str) -> Markup {
        let inc = &self.loc.incident;
        let title = match self.root {
            Some(c) => format!(
                "{}: root cause {}",
                visible(&inc.alert_name),
                visible(&c.component)
            ),
            None => format!("{}: no root cause found", visible(&inc.alert_name)),
        };
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta http-equiv="Content-Security-Policy" content=(self.script.csp());
                    meta name="referrer" content="no-referrer";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="color-scheme" content="dark light";
                    title { (title) }
                    style { (PreEscaped(CSS)) }
                }
                body {
                    (self.header())
                    main {
                        (self.verdict())
                        (self.feedback())
                        (self.heatmap())
                        (self.coupling())
                        (self.ranking())
                        (self.propagation())
                    }
                    footer {
                        "Generated by " (visible(generated_by))
                        " · incident " span.mono { (visible(&inc.id)) }
                        " · times in UTC"
                    }
                    (self.scripts())
                }
            }
        }
    }

    fn header(&self) -> Markup {
        let inc = &self.loc.incident;
        // Modalities that could not be used, and the engine's notes on what
        // its baseline could not judge (`baseline`, `ranking`).
        let is_modality = |m: &&graph::Missing| {
            ingest::Modality::ALL
                .iter()
                .any(|x| x.as_str() == m.modality)
        };
        let missing: Vec<&graph::Missing> = self.loc.missing.iter().filter(is_modality).collect();
        let notes: Vec<&graph::Missing> = self
            .loc
            .missing
            .iter()
            .filter(|m| !is_modality(m))
            .collect();
        html! {
            header {
                p.kicker { "Incident report" }
                h1 { (visible(&inc.alert_name)) }
                dl.facts {
                    dt { "Alerting component" }
                    dd {
                        @match &inc.alert_component {
                            Some(c) => span.comp { (visible(c)) },
                            None => span.muted { "not named by the alert" },
                        }
                    }
                    dt { "Alert started" }
                    dd { (full_time(&inc.starts_at)) }
                    @if !inc.other_alerts.is_empty() {
                        dt { "Other alerts" }
                        dd.others {
                            ul {
                                @for a in &inc.other_alerts {
                                    li {
                                        (visible(&a.alert_name))
                                        @if let Some(c) = &a.alert_component {
                                            " on " span.comp { (visible(c)) }
                                        }
                                        span.muted {
                                            @match a.explained {
                                                Some(true) => " — accounted for by the root cause",
                                                Some(false) => " — not below the root cause: look at it apart",
                                                None => "",
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if let Some((at, lasted)) = self.resolved {
                        dt { "Resolved" }
                        dd.resolved {
                            (full_time(&at.to_rfc3339()))
                            span.muted { " (after " (text::duration(lasted)) ")" }
                        }
                    }
                    dt { "Analysed window" }
                    dd {
                        (full_time(&inc.window_start)) " → " (full_time(&inc.window_end))
                        span.muted { " (" (number(inc.bucket_seconds)) " s buckets)" }
                    }
                    dt { "Baseline ends" }
                    dd { (full_time(&inc.baseline_end)) }
                    dt { "Incident" }
                    dd.mono { (visible(&inc.id)) }
                    @if let Some(r) = self.recording {
                        dt { "Recorded window" }
                        dd.recording {
                            a href=(r.href) download { "download (" (text::bytes(r.bytes)) ")" }
                            span.muted { " — replay it with " code { "rca replay FILE" } }
                            @for line in &r.sampled {
                                br;
                                span.muted { "sampled: " (visible(line)) }
                            }
                        }
                    }
                    dt { "Modalities used" }
                    dd {
                        @if self.loc.modalities.is_empty() {
                            span.muted { "none" }
                        }
                        @for m in &self.loc.modalities {
                            span.tag { (visible(m)) }
                        }
                    }
                }
                @if !missing.is_empty() {
                    aside.warn role="note" {
                        strong {
                            "Incomplete picture: " (missing.len())
                            @if missing.len() == 1 { " modality" } @else { " modalities" }
                            " could not be used; a cause that shows only there can be missed."
                        }
                        ul {
                            @for m in &missing {
                                li { b { (visible(&m.modality)) } ": " (visible(&m.reason)) }
                            }
                        }
                    }
                }
                @if !notes.is_empty() {
                    aside.note role="note" {
                        strong { "What the baseline could not judge:" }
                        ul {
                            @for m in &notes {
                                li { b { (visible(&m.modality)) } ": " (visible(&m.reason)) }
                            }
                        }
                    }
                }
            }
        }
    }

    fn verdict(&self) -> Markup {
        let Some(top) = self.root else {
            return html! {
                section.verdict aria-label="Verdict" {
                    p.sentence { "No root cause candidate: nothing in the analysed window stood out." }
                }
            };
        };
        let first = top.evidence.first();
        let alerting = self.loc.incident.alert_component.as_deref();
        html! {
            section.verdict aria-label="Verdict" {
                @if !self.loc.confident {
                    p.tentative {
                        strong { "Tentative." }
                        " No component stood out from its baseline; these are the strongest changes there were, not a finding."
                    }
                }
                p.sentence {
                    @if self.loc.confident { "Root cause: " } @else { "Strongest change: " }
                    span.comp { (visible(&top.component)) }
                    " (" code { (top.fault.as_str()) } ")"
                    " — "
                    @match first {
                        Some(e) if !e.summary.trim().is_empty() => (visible(&e.summary)),
                        Some(e) => (evidence_numbers(e)),
                        None => span.muted { "no evidence recorded" },
                    }
                }
                p.detail {
                    "score " (score(top.score))
                    @if let Some(e) = first {
                        " · " (evidence_numbers(e)) " at " (text::clock(&e.at)) " via " (visible(&e.modality))
                    }
                    @if let Some(next) = self.loc.ranking.get(1) {
                        " · next: " span.comp { (visible(&next.component)) }
                        " (" (next.fault.as_str()) ", " (score(next.score)) ")"
                    }
                    @if let Some(a) = alerting.filter(|a| *a != top.component) {
                        " · alert fired on " span.comp { (visible(a)) }
                    }
                    @if self.loc.symptom.kind != graph::symptom::SymptomKind::Unknown {
                        " · symptom explained: " (self.loc.symptom.kind.as_str())
                    }
                }
            }
        }
    }

    /// What people said of the verdict, and the form to say it (served pages only).
    fn feedback(&self) -> Markup {
        let Some(form) = self.feedback else {
            return html! {};
        };
        let latest = form.verdicts.last();
        let top = self.root.map(|c| c.component.as_str());
        html! {
            section #feedback aria-label="Your verdict" {
                h2 { "Was this right?" }
                @match latest {
                    Some(f) => {
                        p.given {
                            strong {
                                @match f.verdict {
                                    graph::store::Verdict::Confirmed => "Confirmed",
                                    graph::store::Verdict::Corrected => "Corrected",
                                }
                            }
                            " by " span.by { (visible(&f.by)) } " at " (full_time(&f.at.to_rfc3339()))
                            ": the root cause was " span.comp { (visible(&f.root_cause)) }
                            @if let Some(k) = f.fault { " (" code { (k.as_str()) } ")" }
                        }
                        @if !f.note.is_empty() {
                            blockquote.verdict-note {
                                @for (i, line) in f.note.lines().enumerate() {
                                    @if i > 0 { br; }
                                    (visible(line))
                                }
                            }
                        }
                        @if form.verdicts.len() > 1 {
                            p.muted {
                                (form.verdicts.len() - 1)
                                @if form.verdicts.len() == 2 { " earlier verdict is" } @else { " earlier verdicts are" }
                                " kept in the incident's history."
                            }
                        }
                    }
                    None => p.muted { "No verdict yet. Tell rca whether it was right: each verdict is kept, and the incidents with one measure rca on your own system." },
                }
                form.feedback method="post" action=(form.action) {
                    fieldset {
                        legend { "Verdict" }
                        @if let Some(t) = top {
                            label {
                                input type="radio" name="verdict" value="confirmed" checked;
                                " Confirmed: it was " span.comp { (visible(t)) }
                            }
                        }
                        label {
                            @if top.is_some() {
                                input type="radio" name="verdict" value="corrected";
                            } @else {
                                input type="radio" name="verdict" value="corrected" checked;
                            }
                            " Corrected: it was another component"
                        }
                    }
                    label {
                        "Root cause (for a correction) "
                        input type="text" name="root_cause" list="feedback-components"
                            maxlength=(graph::store::FEEDBACK_NAME_MAX) autocomplete="off";
                    }
                    datalist #feedback-components {
                        @for c in &self.loc.ranking {
                            option value=(c.component) {}
                        }
                    }
                    label {
                        "Fault "
                        select name="fault" {
                            option value="" { "(not given)" }
                            @for k in FaultKind::ALL {
                                option value=(k.as_str()) { (k.as_str()) }
                            }
                        }
                    }
                    label.wide {
                        "Note "
                        textarea name="note" rows="3" maxlength=(graph::store::FEEDBACK_NOTE_MAX) {}
                    }
                    label {
                        "Your name "
                        input type="text" name="by" required maxlength=(graph::store::FEEDBACK_NAME_MAX) autocomplete="name";
                    }
                    button type="submit" { "Record verdict" }
                }
            }
        }
    }

    fn marked(&self) -> Vec<String> {
        let root = self.root.map(|c| c.component.as_str());
        self.loc
            .path
            .iter()
            .filter(|c| Some(c.as_str()) != root)
            .cloned()
            .collect()
    }

    fn divider(&self) -> Option<usize> {
        bucket_at(&self.loc.heatmap.buckets, &self.loc.incident.baseline_end)
    }

    fn heatmap(&self) -> Markup {
        let h: &Heatmap = &self.loc.heatmap;
        let root = self.root.map(|c| c.component.as_str());
        let marked = self.marked();
        let divider = self.divider();
        let modalities: Vec<&String> = if self.modality_heatmaps {
            h.by_modality
                .keys()
                .filter(|m| m.as_str() != "all")
                .collect()
        } else {
            Vec::new()
        };
        let last = h.buckets.len().saturating_sub(1);
        html! {
            section #heatmap {
                h2 { "Anomaly heatmap" }
                p.caption {
                    "Rows are components, columns are " (number(self.loc.incident.bucket_seconds))
                    " s time buckets; colour is the anomaly score (robust z-score), dark = normal, "
                    "yellow = 10 or more. Filled marker: root cause; hollow: on the propagation path. "
                    "The vertical line is where the baseline ends. Click a cell for its evidence; "
                    "the sliders narrow the window the coupling view reads."
                }
                @if !h.buckets.is_empty() {
                    form.controls #controls hidden {
                        fieldset #modality {
                            legend { "Modality" }
                            label { input type="radio" name="modality" value="all" checked; " all" }
                            @for m in &modalities {
                                label {
                                    input type="radio" name="modality" value=(m);
                                    " " (modality_label(m))
                                }
                            }
                        }
                        fieldset #window {
                            legend { "Window" }
                            label { "from " input #win-from type="range" min="0" max=(last) value="0"; }
                            label { "to " input #win-to type="range" min="0" max=(last) value=(last); }
                            output #win-label {}
                        }
                    }
                }
                div.heatmap #heatmaps {
                    div.stack {
                        (figure(heatmap_svg(h, &marked, root, divider), "all", "Anomaly heatmap, all modalities", false))
                        @for m in &modalities {
                            (figure(
                                modality_heatmap_svg(h, m, &marked, root, divider),
                                m,
                                "Anomaly heatmap for one modality",
                                true,
                            ))
                        }
                    }
                }
                div #cell-evidence aria-live="polite" {
                    p.muted { "Click a cell of the heatmap to see its evidence here." }
                }
            }
        }
    }

    fn coupling(&self) -> Markup {
        if self.loc.heatmap.components.len() < 2 {
            return html! {};
        }
        html! {
            section #coupling hidden {
                h2 { "Coupling in the window" }
                p.caption {
                    "How strongly the components' fluctuations move together in the selected window: "
                    "the correlation of the selected signal over its buckets, from −1 (blue, opposite) "
                    "through 0 (dark) to +1 (orange, together). Rows and columns are the top components "
                    "of the heatmap, the root cause first."
                }
                form.controls {
                    label { "Signal " select #coupling-signal {} }
                }
                div.coupling {
                    canvas #coupling-canvas width="640" height="640" {}
                    div {
                        h3 { "Moved with " span #coupling-ref.comp {} }
                        ol #coupling-list {}
                        p #coupling-pick .muted {}
                    }
                }
            }
        }
    }

    /// The data element and the script, as the options say.
    fn scripts(&self) -> Markup {
        let geometry = geometry(&self.loc.heatmap);
        let data = PageData::new(self.loc, self.divider(), geometry, self.jaeger);
        html! {
            // Escaped for a script element by `data`: `<`, `>`, `&` are \u escapes.
            script #page-data type="application/json" { (PreEscaped(data.to_embedded_json())) }
            @match self.script {
                Script::Inline => script { (PreEscaped(PAGE_JS)) },
                Script::Linked => script src=(PAGE_JS_PATH) {},
            }
        }
    }

    fn ranking(&self) -> Markup {
        let ranking = &self.loc.ranking;
        html! {
            section #ranking {
                h2 { "Ranking" }
                @if ranking.is_empty() {
                    p.muted { "No candidates." }
                } @else {
                    table {
                        thead { tr {
                            th.num { "#" } th { "Component" } th { "Fault" } th.num { "Score" }
                            th { "Evidence" }
                        } }
                        tbody {
                            @for (i, c) in ranking.iter().take(TOP_N).enumerate() {
                                tr.top[i == 0] {
                                    td.num { (i + 1) }
                                    td {
                                        a href={ "#cand-" (i + 1) } { span.comp { (visible(&c.component)) } }
                                        @if c.address { " " span.muted title="a network address no service name was found for" { "(address)" } }
                                        @if !c.explains_alert { " " span.muted.unexplaining title="changed, but its evidence is not of the alert's kind of symptom or it lies off every call path through the alerting component" { "(changed, but does not explain the alert)" } }
                                    }
                                    td { code { (c.fault.as_str()) } }
                                    td.num { (score(c.score)) }
                                    td {
                                        @match c.evidence.first() {
                                            Some(e) => (visible(&e.summary)),
                                            None => span.muted { "none" },
                                        }
                                    }
                                }
                            }
                        }
                    }
                    h2 { "Evidence" }
                    @for (i, c) in ranking.iter().take(TOP_N).enumerate() {
                        (self.candidate(i, c))
                    }
                    @if ranking.len() > TOP_N {
                        details {
                            summary { (ranking.len() - TOP_N) " more candidates" }
                            @for (i, c) in ranking.iter().enumerate().skip(TOP_N) {
                                (self.candidate(i, c))
                            }
                        }
                    }
                }
            }
        }
    }

    fn candidate(&self, i: usize, c: &Candidate) -> Markup {
        html! {
            details.candidate id={ "cand-" (i + 1) } open[i == 0] {
                summary {
                    h3 { (i + 1) ". " span.comp { (visible(&c.component)) } }
                    " " code { (c.fault.as_str()) }
                    span.muted { " · score " (score(c.score)) " · " (c.evidence.len()) " evidence" }
                }
                @if c.evidence.is_empty() {
                    p.muted { "No evidence recorded." }
                } @else {
                    table {
                        thead { tr {
                            th { "Signal" } th { "Modality" } th { "At" }
                            th.num { "Before" } th.num { "After" } th.num { "z" } th { "Summary" }
                        } }
                        tbody {
                            @for e in &c.evidence {
                                (self.evidence_rows(e))
                            }
                        }
                    }
                }
            }
        }
    }

    fn evidence_rows(&self, e: &Evidence) -> Markup {
        let has_extra =
            !e.trace_ids.is_empty() || !e.top_user_agents.is_empty() || !e.tls_versions.is_empty();
        html! {
            tr {
                td { code { (visible(&e.signal)) } }
                td { (visible(&e.modality)) }
                td.num title=(full_time(&e.at)) { (text::clock(&e.at)) }
                td.num { (in_unit(e.before, e.baseline, e)) }
                td.num { (in_unit(e.after, e.value, e)) }
                td.num { (score(e.deviation)) }
                td { (visible(&e.summary)) }
            }
            @if has_extra {
                tr.extra {
                    td colspan="7" {
                        @if !e.trace_ids.is_empty() {
                            div {
                                "Traces: "
                                @for (n, id) in e.trace_ids.iter().take(LIST_MAX).enumerate() {
                                    @if n > 0 { ", " }
                                    (self.trace(id))
                                }
                                (more(e.trace_ids.len()))
                            }
                        }
                        @if !e.top_user_agents.is_empty() {
                            div { "User agents: " (counts(&e.top_user_agents)) }
                        }
                        @if !e.tls_versions.is_empty() {
                            div { "TLS: " (counts(&e.tls_versions)) }
                        }
                    }
                }
            }
        }
    }

    /// A link to Jaeger when one is configured and the id is hex; plain text otherwise.
    fn trace(&self, id: &str) -> Markup {
        match self.jaeger {
            Some(base) if is_trace_id(id) => html! {
                a.mono href={ (base) "/trace/" (id) } target="_blank" rel="noopener noreferrer" { (id) }
            },
            _ => html! { span.mono { (visible(id)) } },
        }
    }

    fn propagation(&self) -> Markup {
        let path = &self.loc.path;
        let on_path_edge = |e: &Edge| {
            path.windows(2)
                .any(|w| (w[0] == e.from && w[1] == e.to) || (w[0] == e.to && w[1] == e.from))
        };
        let mut edges: Vec<(&Edge, bool)> = self
            .loc
            .edges
            .iter()
            .map(|e| (e, on_path_edge(e)))
            .collect();
        // Path edges first, then the ones most likely to matter: errors, then traffic.
        edges.sort_by(|(a, pa), (b, pb)| {
            pb.cmp(pa)
                .then(b.errors.cmp(&a.errors))
                .then(b.calls.cmp(&a.calls))
        });
        let shown = edges
            .iter()
            .position(|(_, p)| !p)
            .unwrap_or(edges.len())
            .max(EDGES_SHOWN)
            .min(edges.len());
        let (head, tail) = edges.split_at(shown);
        html! {
            section #propagation {
                h2 { "Propagation" }
                @if path.is_empty() {
                    p.muted { "No propagation path: the traces link no caller to the root cause." }
                } @else {
                    p.path {
                        @for (i, c) in path.iter().enumerate() {
                            @if i > 0 { span.arrow { "→" } }
                            span.comp { (visible(c)) }
                        }
                    }
                    p.caption { "From the root cause to the alerting component, following callers." }
                }
                @if let Some(svg) = causal_svg(self.loc) {
                    div.graph {
                        (svg)
                    }
                    p.caption {
                        "Callers on the left, callees on the right; the path is drawn thick, the root "
                        "cause filled."
                    }
                }
                @if edges.is_empty() {
                    p.muted { "No call edges (no traces)." }
                } @else {
                    (edges_table(head))
                    @if !tail.is_empty() {
                        details {
                            summary { (tail.len()) " more edges" }
                            (edges_table(tail))
                        }
                    }
                }
            }
        }
    }
}

/// How a modality is named to people.
fn modality_label(m: &str) -> Cow<'_, str> {
    match m {
        "access_logs" => Cow::Borrowed("access logs"),
        "logs" => Cow::Borrowed("application logs"),
        m => visible(m),
    }
}

/// One heatmap SVG, or why there is none.
fn figure(svg: Result<String, WebError>, modality: &str, label: &str, hidden: bool) -> Markup {
    match svg {
        // Our own markup: plotters escaped every text node, see `heatmap`.
        Ok(svg) => html! {
            div.figure data-modality=(modality) role="img" aria-label=(label) hidden[hidden] {
                (PreEscaped(svg))
            }
        },
        Err(WebError::EmptyHeatmap) => html! { p.muted { "No heatmap data." } },
        Err(e) => html! { p.muted { "Heatmap unavailable: " (e.to_string()) } },
    }
}

fn edges_table(edges: &[(&Edge, bool)]) -> Markup {
    html! {
        table.edges {
            thead { tr {
                th { "From (caller)" } th { "To (callee)" } th.num { "Calls" } th.num { "Errors" }
                th.num { "Error %" } th.num { "p99 ms" }
            } }
            tbody {
                @for (e, on_path) in edges {
                    tr.on-path[*on_path] {
                        td { span.comp { (visible(&e.from)) } }
                        td { span.comp { (visible(&e.to)) } }
                        td.num { (e.calls) }
                        td.num { (e.errors) }
                        td.num {
                            @if e.calls > 0 {
                                (format!("{:.1}", e.errors as f64 * 100.0 / e.calls as f64))
                            } @else { "–" }
                        }
                        td.num { (number(e.p99_ms)) }
                    }
                }
            }
        }
    }
}

/// Before and after in the signal's unit, e.g. `self_time p50 4.1 ms → 510 ms (z 14.2)`; an
/// evidence item without them (an incident stored before they existed) shows its value against
/// its baseline.
fn evidence_numbers(e: &Evidence) -> Markup {
    match (e.before, e.after) {
        (Some(_), Some(_)) => html! {
            (visible(&e.signal)) " " (visible(&e.quantile)) " " (in_unit(e.before, e.baseline, e))
            " → " (in_unit(e.after, e.value, e)) " (z " (score(e.deviation)) ")"
        },
        _ => html! {
            (visible(&e.signal)) " " (number(e.value)) " vs baseline " (number(e.baseline))
            " (z " (score(e.deviation)) ")"
        },
    }
}

/// `v` in the evidence's unit (`4.1 ms`, `12.5 %`, `0.92 cores`); without one, `fallback` bare.
fn in_unit(v: Option<f64>, fallback: f64, e: &Evidence) -> Markup {
    match v {
        Some(v) if e.unit.is_empty() => html! { (number(v)) },
        Some(v) => html! { (number(v)) " " (visible(&e.unit)) },
        None if e.before.is_none() && e.after.is_none() => html! { (number(fallback)) },
        None => html! { "n/a" },
    }
}

/// `a (12), b (3)` and how many were left out.
fn counts(items: &[Count]) -> Markup {
    html! {
        @for (n, c) in items.iter().take(LIST_MAX).enumerate() {
            @if n > 0 { ", " }
            span.mono { (visible(&c.value)) } " (" (c.count) ")"
        }
        (more(items.len()))
    }
}

fn more(total: usize) -> Markup {
    html! {
        @if total > LIST_MAX {
            span.muted { " and " (total - LIST_MAX) " more" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaeger_base_accepts_only_plain_http_urls() {
        assert_eq!(
            jaeger_base("https://jaeger.example:16686/").unwrap(),
            "https://jaeger.example:16686"
        );
        assert_eq!(
            jaeger_base("HTTP://10.0.0.1/jaeger").unwrap(),
            "HTTP://10.0.0.1/jaeger"
        );
        for bad in [
            "javascript:alert(1)",
            "//jaeger",
            "https://",
            "https:///x",
            "https://a b",
            "https://a\"onmouseover=x",
            "https://a/?q=1",
            "ftp://x",
            "data:text/html,x",
        ] {
            assert!(jaeger_base(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trace_ids_must_be_hex() {
        assert!(is_trace_id("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(is_trace_id("00f067aa0ba902b7"));
        assert!(!is_trace_id(""));
        assert!(!is_trace_id("javascript:alert(1)"));
        assert!(!is_trace_id("../../admin"));
        assert!(!is_trace_id(&"a".repeat(33)));
    }

    #[test]
    fn bucket_at_finds_the_first_bucket_not_before() {
        let b: Vec<String> = (0..5).map(|i| format!("2024-05-01T10:0{i}:00Z")).collect();
        assert_eq!(bucket_at(&b, "2024-05-01T10:02:00Z"), Some(2));
        assert_eq!(bucket_at(&b, "2024-05-01T12:01:30+02:00"), Some(2));
        assert_eq!(bucket_at(&b, "2024-05-01T09:00:00Z"), Some(0));
        assert_eq!(bucket_at(&b, "2024-05-01T11:00:00Z"), None);
        assert_eq!(bucket_at(&b, "yesterday"), None);
    }
}
