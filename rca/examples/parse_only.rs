//! Reads a fixture directory and does nothing else: the parse-only baseline
//! that `scripts/bench` compares a whole localisation against.
//!
//! `cargo run --release --example parse_only -- FIXTURE_DIR`

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: parse_only FIXTURE_DIR");
        std::process::exit(2);
    };
    let t0 = std::time::Instant::now();
    match ingest::load_fixture(std::path::Path::new(&dir)) {
        Ok(f) => {
            let o = &f.observations;
            println!(
                "parsed {} spans, {} series, {} access records, {} log records in {:.3} s",
                o.spans.len(),
                o.series.len(),
                o.access.len(),
                o.logs.len(),
                t0.elapsed().as_secs_f64()
            );
        }
        Err(e) => {
            eprintln!("parse_only: {e}");
            std::process::exit(2);
        }
    }
}
