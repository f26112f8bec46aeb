//! `record::write_fixture` against `load_fixture`: every fixture of the
//! repository, written back out from its observations and read again, gives
//! the same observations; packed and unpacked, the same again; sampled, the
//! share asked for.

use std::path::{Path, PathBuf};

use ingest::record::{write_fixture, Keep};
use ingest::{archive, load_fixture, Observations};

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("alert.json").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 20, "fixtures under {}", root.display());
    dirs
}

/// Every record of `obs` with its names resolved, one line each, per
/// modality; sorted where the files' order is not the observations' (access
/// logs go one file per proxy).
fn canonical(obs: &Observations) -> Vec<(String, Vec<String>)> {
    let n = |s| obs.names.name(s).to_string();
    let opt = |s: Option<ingest::Sym>| s.map(n);
    let spans = obs.span_lines();
    let mut series: Vec<String> = obs
        .series
        .iter()
        .map(|s| {
            format!(
                "{} {} {:?} {:?}",
                n(s.component),
                s.signal,
                s.labels,
                s.samples
            )
        })
        .chain(obs.edges.iter().map(|e| {
            format!(
                "{}->{} {} {:?} {:?}",
                n(e.client),
                n(e.server),
                e.signal.as_str(),
                e.labels,
                e.samples
            )
        }))
        .collect();
    series.sort();
    let mut access: Vec<String> = obs
        .access
        .iter()
        .map(|r| {
            format!(
                "{} {} {:?} {} {} {} {} {} {} {:?} {} {}",
                r.time,
                n(r.proxy),
                opt(r.upstream),
                n(r.method),
                n(r.path),
                r.status,
                r.duration,
                r.bytes_sent,
                n(r.user_agent),
                opt(r.tls_version),
                n(r.client),
                n(r.response_flags)
            )
        })
        .collect();
    access.sort();
    let logs = obs
        .logs
        .iter()
        .map(|l| {
            format!(
                "{} {} {:?} {} {} {:?} {:?} {:?} {:?}",
                l.time,
                n(l.component),
                l.level,
                n(l.template),
                n(l.message),
                opt(l.logger),
                l.trace_id,
                l.span_id,
                opt(l.exception)
            )
        })
        .collect();
    let dumps = obs
        .goroutines
        .iter()
        .flat_map(|c| {
            c.dumps.iter().map(move |d| {
                format!(
                    "{} {:?} {:?}",
                    c.component,
                    d.at.map(|t| t / 1_000_000),
                    d.dump
                )
            })
        })
        .collect();
    let alerts = obs.alerts.iter().map(|a| format!("{a:?}")).collect();
    vec![
        ("spans".into(), spans),
        ("series".into(), series),
        ("access".into(), access),
        ("logs".into(), logs),
        ("goroutines".into(), dumps),
        ("alerts".into(), alerts),
    ]
}

fn assert_same(what: &str, a: &Observations, b: &Observations) {
    for ((modality, x), (_, y)) in canonical(a).into_iter().zip(canonical(b)) {
        assert_eq!(x.len(), y.len(), "{what}: {modality} count");
        for (i, (l, r)) in x.iter().zip(&y).enumerate() {
            assert_eq!(l, r, "{what}: {modality} record {i}");
        }
    }
}

#[test]
fn every_fixture_written_back_out_reads_the_same() {
    for dir in fixtures() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let first = load_fixture(&dir).unwrap();
        let out = tempfile::tempdir().unwrap();
        let written = write_fixture(
            out.path(),
            &first.observations,
            first.webhook.as_ref(),
            &Keep::default(),
        )
        .unwrap();
        assert!(
            written.left_out.is_empty(),
            "{name}: {:?}",
            written.left_out
        );
        for f in &written.files {
            assert_eq!(f.records, f.of, "{name}: {} kept whole", f.name);
        }
        let second = load_fixture(out.path()).unwrap();
        assert_same(&name, &first.observations, &second.observations);
        assert_eq!(
            second.webhook.as_ref().map(|w| &w.group_labels),
            first.webhook.as_ref().map(|w| &w.group_labels),
            "{name}: the webhook's own fields"
        );

        // Packed into one archive and read from it: the same again.
        let archives = tempfile::tempdir().unwrap();
        let file = archives.path().join(format!("{name}.tar.gz"));
        archive::pack(out.path(), &name, &file, 1).unwrap();
        let third = load_fixture(&file).unwrap();
        assert_eq!(third.dir, file);
        assert_same(
            &format!("{name} (archive)"),
            &first.observations,
            &third.observations,
        );
    }
}

#[test]
fn a_sample_keeps_about_the_share_asked_and_whole_traces() {
    let dir = fixtures()
        .into_iter()
        .max_by_key(|d| std::fs::metadata(d.join("traces.json")).map_or(0, |m| m.len()))
        .unwrap();
    let full = load_fixture(&dir).unwrap().observations;
    let out = tempfile::tempdir().unwrap();
    let keep = Keep {
        traces: 0.25,
        access: 0.5,
        logs: 0.1,
    };
    let written = write_fixture(out.path(), &full, None, &keep).unwrap();
    let sampled = load_fixture(out.path()).unwrap().observations;
    let share = |a: usize, b: usize| a as f64 / b as f64;
    // A binomial share of n items has a standard deviation of
    // sqrt(p(1-p)/n); spans come in whole traces, so allow for traces.
    let traces = |o: &Observations| {
        o.spans
            .iter()
            .map(|s| s.trace_id)
            .collect::<std::collections::HashSet<_>>()
    };
    let (all, kept) = (traces(&full), traces(&sampled));
    let p = share(kept.len(), all.len());
    let sd = (0.25f64 * 0.75 / all.len() as f64).sqrt();
    assert!(
        (p - 0.25).abs() < 5.0 * sd,
        "traces kept {p} of {}",
        all.len()
    );
    assert!(kept.is_subset(&all));
    // A kept trace is whole.
    for id in &kept {
        let count = |o: &Observations| o.spans.iter().filter(|s| s.trace_id == *id).count();
        assert_eq!(count(&full), count(&sampled), "trace {id:x}");
    }
    if !full.access.is_empty() {
        let p = share(sampled.access.len(), full.access.len());
        let sd = (0.25f64 / full.access.len() as f64).sqrt();
        assert!((p - 0.5).abs() < 5.0 * sd, "access kept {p}");
    }
    let traces_file = written
        .files
        .iter()
        .find(|f| f.name == "traces.json")
        .unwrap();
    assert_eq!(traces_file.of, full.spans.len() as u64);
    assert_eq!(traces_file.records, sampled.spans.len() as u64);
    // Metrics are never thinned.
    assert_eq!(sampled.series.len(), full.series.len());
}

#[test]
fn names_no_file_can_hold_are_left_out_and_said() {
    let mut obs = load_fixture(&fixtures()[0]).unwrap().observations;
    if let Some(r) = obs.access.first_mut() {
        r.proxy = obs.names.intern("../etc");
    }
    let out = tempfile::tempdir().unwrap();
    let written = write_fixture(out.path(), &obs, None, &Keep::default()).unwrap();
    if !obs.access.is_empty() {
        assert!(
            written.left_out.iter().any(|l| l.contains("\"../etc\"")),
            "{:?}",
            written.left_out
        );
        assert!(!out.path().parent().unwrap().join("etc.log").exists());
    }
}
