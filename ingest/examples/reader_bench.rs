//! A timing check run by hand, not a test: one reader on one real file,
//! already in memory, on one thread, best of N runs (the minimum is the
//! figure that survives other work on the machine).
//!
//! ```sh
//! cargo run --release -p ingest --example reader_bench -- access|traces FILE [RUNS] [MB]
//! ```
//!
//! `MB` keeps only the first megabytes of an access log (cut at a newline).

use std::path::Path;
use std::time::Instant;

use ingest::{read_access_log, read_traces, Observations};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(kind), Some(file)) = (args.first(), args.get(1)) else {
        eprintln!("usage: reader_bench access|traces FILE [RUNS] [MB]");
        std::process::exit(2);
    };
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let path = Path::new(file);
    let mut bytes = std::fs::read(path).expect("readable file");
    if let Some(mb) = args.get(3).and_then(|s| s.parse::<usize>().ok()) {
        let cut = (mb << 20).min(bytes.len());
        let end = memchr::memrchr(b'\n', &bytes[..cut]).map_or(cut, |i| i + 1);
        bytes.truncate(end);
    }
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..runs {
        let mut obs = Observations::default();
        let c0 = cpu_time();
        let t0 = Instant::now();
        n = match kind.as_str() {
            "access" => read_access_log(path, &bytes, "ingress", &mut obs),
            "traces" => read_traces(path, &bytes, &mut obs),
            other => panic!("unknown reader {other}"),
        }
        .unwrap_or_else(|e| panic!("{e}"));
        let wall = t0.elapsed().as_secs_f64();
        times.push(cpu_time().zip(c0).map_or(wall, |(c1, c0)| c1 - c0));
        drop(obs);
    }
    times.sort_by(f64::total_cmp);
    let mb = bytes.len() as f64 / 1e6;
    println!(
        "{kind}: {n} records, {mb:.0} MB: best {:.3} s CPU ({:.0} MB/s), median {:.3} s",
        times[0],
        mb / times[0],
        times[times.len() / 2]
    );
}

/// CPU time of this thread so far, in seconds (Linux), so that other work
/// on the machine does not count.
fn cpu_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}
