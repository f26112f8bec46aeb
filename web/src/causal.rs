//! The small causal graph: the components around the propagation path, callers on the left,
//! callees on the right, the path drawn thick. Plain SVG written with maud, which escapes every
//! label.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use graph::Localisation;
use maud::{html, Markup};

use crate::text;

/// More nodes than this and the picture stops being small.
const MAX_NODES: usize = 24;
const COL_W: i32 = 170;
const ROW_H: i32 = 34;
const NODE_W: i32 = 140;
const NODE_H: i32 = 22;
const LABEL_CHARS: usize = 20;

/// The nodes worth drawing: the path, the top candidates, the alerting component, then the path's
/// direct neighbours, until [`MAX_NODES`].
fn nodes(loc: &Localisation) -> Vec<&str> {
    fn push<'a>(c: &'a str, out: &mut Vec<&'a str>) {
        if out.len() < MAX_NODES && !out.contains(&c) {
            out.push(c);
        }
    }
    let mut out: Vec<&str> = Vec::new();
    for c in &loc.path {
        push(c, &mut out);
    }
    for c in loc.ranking.iter().take(5) {
        push(&c.component, &mut out);
    }
    if let Some(a) = &loc.incident.alert_component {
        push(a, &mut out);
    }
    let on_path: BTreeSet<&str> = loc.path.iter().map(String::as_str).collect();
    for e in &loc.edges {
        if on_path.contains(e.from.as_str()) || on_path.contains(e.to.as_str()) {
            push(&e.from, &mut out);
            push(&e.to, &mut out);
        }
    }
    out
}

/// The causal graph as inline SVG, or nothing when there are no edges.
pub(crate) fn causal_svg(loc: &Localisation) -> Option<Markup> {
    if loc.edges.is_empty() {
        return None;
    }
    let nodes = nodes(loc);
    let index: BTreeMap<&str, usize> = nodes.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let edges: Vec<(usize, usize, bool)> = loc
        .edges
        .iter()
        .filter_map(|e| {
            let (a, b) = (*index.get(e.from.as_str())?, *index.get(e.to.as_str())?);
            let on_path = loc.path.windows(2).any(|w| w[0] == e.to && w[1] == e.from);
            (a != b).then_some((a, b, on_path))
        })
        .collect();
    // Layers: breadth first from the nodes nobody here calls.
    let mut layer = vec![usize::MAX; nodes.len()];
    let mut queue: VecDeque<usize> = (0..nodes.len())
        .filter(|n| !edges.iter().any(|(_, b, _)| b == n))
        .collect();
    if queue.is_empty() {
        queue.push_back(0);
    }
    for &n in &queue {
        layer[n] = 0;
    }
    loop {
        while let Some(n) = queue.pop_front() {
            for &(a, b, _) in &edges {
                if a == n && layer[b] == usize::MAX {
                    layer[b] = layer[n] + 1;
                    queue.push_back(b);
                }
            }
        }
        // A cycle nobody enters from outside: start it at layer 0.
        match layer.iter().position(|l| *l == usize::MAX) {
            Some(n) => {
                layer[n] = 0;
                queue.push_back(n);
            }
            None => break,
        }
    }
    let mut per_layer: BTreeMap<usize, usize> = BTreeMap::new();
    let pos: Vec<(i32, i32)> = layer
        .iter()
        .map(|&l| {
            let slot = per_layer.entry(l).or_default();
            let p = (10 + l as i32 * COL_W, 10 + *slot as i32 * ROW_H);
            *slot += 1;
            p
        })
        .collect();
    let width = pos.iter().map(|p| p.0).max().unwrap_or(0) + NODE_W + 10;
    let height = pos.iter().map(|p| p.1).max().unwrap_or(0) + NODE_H + 10;
    let root = loc.ranking.first().map(|c| c.component.as_str());
    let on_path: BTreeSet<&str> = loc.path.iter().map(String::as_str).collect();
    let mid = |(x, y): (i32, i32)| (x + NODE_W / 2, y + NODE_H / 2);
    Some(html! {
        svg.causal xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
            viewBox={ "0 0 " (width) " " (height) } role="img"
            aria-label="Causal graph: callers on the left, callees on the right" {
            @for (a, b, path) in &edges {
                @let ((x1, y1), (x2, y2)) = (mid(pos[*a]), mid(pos[*b]));
                line class=(if *path { "edge on-path" } else { "edge" })
                    x1=(x1 + NODE_W / 2) y1=(y1) x2=(x2 - NODE_W / 2) y2=(y2) {}
                circle class=(if *path { "head on-path" } else { "head" }) cx=(x2 - NODE_W / 2) cy=(y2) r="3" {}
            }
            @for (i, c) in nodes.iter().enumerate() {
                @let (x, y) = pos[i];
                @let class = if Some(*c) == root { "node root" } else if on_path.contains(c) { "node on-path" } else { "node" };
                g class=(class) {
                    title { (text::visible(c)) }
                    rect x=(x) y=(y) width=(NODE_W) height=(NODE_H) rx="4" {}
                    text x=(x + NODE_W / 2) y=(y + NODE_H / 2 + 4) text-anchor="middle" {
                        (text::label(c, LABEL_CHARS))
                    }
                }
            }
        }
    })
}
