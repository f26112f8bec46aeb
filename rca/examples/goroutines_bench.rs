//! How long `rca goroutines` takes on a big dump: synthesises a `debug=2`
//! dump of N goroutines (default 100,000) from the blocks of the recorded
//! reproductions in fixtures/goleaks (every pattern, plus a healthy server's
//! goroutines), and a second, earlier one with two thirds of them, then times
//! reading and analysing, best of three.
//!
//! `cargo run --release --example goroutines_bench -- [N]`

use std::path::Path;
use std::time::Instant;

fn blocks(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|b| b.starts_with("goroutine "))
        .map(|b| b.trim_end().to_string())
        .collect()
}

/// `n` goroutines cycling through `templates`, each block given a fresh id.
fn synthesise(templates: &[String], n: usize) -> String {
    let mut out = String::with_capacity(n * 400);
    for i in 0..n {
        let t = &templates[i % templates.len()];
        let rest = t.split_once(' ').map_or("", |x| x.1);
        let rest = rest.split_once(' ').map_or("", |x| x.1);
        out.push_str(&format!("goroutine {} {}\n\n", i + 1, rest));
    }
    out
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/goleaks");
    let mut templates = Vec::new();
    for case in std::fs::read_dir(&root).unwrap().flatten() {
        let p = case.path().join("dumps/2.debug2.txt");
        if let Ok(text) = std::fs::read_to_string(&p) {
            templates.extend(blocks(&text));
        }
    }
    templates.sort();
    assert!(
        !templates.is_empty(),
        "no recorded dumps under {}",
        root.display()
    );
    let later = synthesise(&templates, n);
    let earlier = synthesise(&templates, n * 2 / 3);
    println!(
        "{n} goroutines: {:.1} MB of debug=2 text ({} distinct blocks), earlier dump {} goroutines",
        later.len() as f64 / 1e6,
        templates.len(),
        n * 2 / 3
    );
    let mut best = [f64::MAX; 3];
    let mut leaks = 0;
    for _ in 0..3 {
        let t0 = Instant::now();
        let b = ingest::read_goroutine_dump(Path::new("later"), later.as_bytes()).unwrap();
        let t1 = Instant::now();
        let one = graph::goroutines::analyse(&[&b]);
        let t2 = Instant::now();
        let a = ingest::read_goroutine_dump(Path::new("earlier"), earlier.as_bytes()).unwrap();
        let t3 = Instant::now();
        let two = graph::goroutines::analyse(&[&a, &b]);
        let t4 = Instant::now();
        leaks = two.leaks.len().max(one.leaks.len());
        let s = |x: Instant, y: Instant| (y - x).as_secs_f64();
        best[0] = best[0].min(s(t0, t1));
        best[1] = best[1].min(s(t1, t2));
        best[2] = best[2].min(s(t3, t4));
    }
    println!("read one dump:            {:.3} s", best[0]);
    println!("analyse it alone:         {:.3} s", best[1]);
    println!(
        "analyse with the earlier dump (both read): {:.3} s",
        best[2]
    );
    println!(
        "read + analyse one dump:  {:.3} s ({leaks} leaking sites)",
        best[0] + best[1]
    );
}
