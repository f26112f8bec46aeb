//! The goroutine-leak analysis on the recorded reproductions of
//! `fixtures/goleaks/` (real dumps of real Go programs).

use std::path::{Path, PathBuf};

use graph::goroutines::{analyse, Analysis, Pattern};
use ingest::{read_goroutine_dump, Dump};

fn dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/goleaks")
        .join(case)
        .join("dumps")
}

fn dump(case: &str, file: &str) -> Dump {
    let p = dir(case).join(file);
    read_goroutine_dump(&p, &std::fs::read(&p).unwrap()).unwrap()
}

fn pair(case: &str, format: &str) -> Analysis {
    let a = dump(case, &format!("1.{format}"));
    let b = dump(case, &format!("2.{format}"));
    analyse(&[&a, &b])
}

const FORMATS: [&str; 3] = ["debug2.txt", "debug1.txt", "debug0.pb.gz"];

/// (case, pattern, blocking function, creating function, patterns acceptable
/// where the format hides what decides it).
const CASES: &[(&str, Pattern, &str, &str, &[Pattern])] = &[
    (
        "chan_send",
        Pattern::ChanSend,
        "main.lookup.func1",
        "main.lookup",
        &[],
    ),
    (
        "chan_receive",
        Pattern::ChanReceive,
        "main.worker",
        "main.processBatch",
        &[],
    ),
    (
        "select_no_exit",
        Pattern::SelectNoExit,
        "main.(*subscription).watch",
        "main.subscribe",
        &[],
    ),
    (
        "spawn_in_default",
        Pattern::SpawnInDefault,
        "main.refresh",
        "main.poller",
        &[Pattern::ChanReceive],
    ),
    (
        "ticker_not_stopped",
        Pattern::TickerNotStopped,
        "main.(*client).startHeartbeat.func1",
        "main.(*client).startHeartbeat",
        &[Pattern::ChanReceive],
    ),
    (
        "handler_without_context",
        Pattern::HandlerWithoutContext,
        "main.writeAudit",
        "main.handleOrder",
        &[Pattern::SelectNoExit],
    ),
    (
        "waitgroup_never_done",
        Pattern::WaitgroupNeverDone,
        "main.resizeAll",
        "goleaks/common.Drive",
        &[],
    ),
    (
        "sql_rows_not_closed",
        Pattern::SqlRowsNotClosed,
        "main.countOrders",
        "goleaks/common.Drive",
        &[],
    ),
    (
        "io_wait",
        Pattern::IoWait,
        "main.readStatus",
        "main.main.func1",
        &[],
    ),
    (
        "sdk_callback",
        Pattern::SdkCallback,
        "example.com/telemetry-sdk.(*Client).deliver",
        "example.com/telemetry-sdk.(*Client).Watch",
        &[],
    ),
];

fn function(site: &str) -> &str {
    site.split(" (").next().unwrap()
}

#[test]
fn every_reproduction_is_named_with_its_sites_from_full_dumps() {
    for (case, pattern, blocked, creator, _) in CASES {
        let a = pair(case, "debug2.txt");
        let top = a
            .leaks
            .iter()
            .find(|l| function(&l.blocking_site) == *blocked)
            .unwrap_or_else(|| panic!("{case}: no leak at {blocked}: {:#?}", a.leaks));
        assert_eq!(top.pattern, *pattern, "{case}: {top:#?}");
        assert_eq!(function(&top.created_by), *creator, "{case}");
        assert!(
            top.blocking_site.contains(".go:"),
            "{case}: {}",
            top.blocking_site
        );
        assert!(top.count >= 100 && top.growth >= 40, "{case}: {top:#?}");
        // Dumps 65 s apart, leaks from the first seconds: a minute waited,
        // except for goroutines that wake up (the ticker's).
        if *pattern != Pattern::TickerNotStopped {
            assert_eq!(top.max_wait_minutes, 1, "{case}");
        }
    }
}

#[test]
fn grouped_dumps_name_the_site_and_never_a_wrong_pattern() {
    for (case, pattern, blocked, _, weaker) in CASES {
        for format in &FORMATS[1..] {
            let a = pair(case, format);
            let l = a
                .leaks
                .iter()
                .find(|l| function(&l.blocking_site) == *blocked)
                .unwrap_or_else(|| panic!("{case} {format}: no leak at {blocked}"));
            assert!(
                l.pattern == *pattern
                    || l.pattern == Pattern::Unknown
                    || weaker.contains(&l.pattern),
                "{case} {format}: {l:#?}"
            );
            // No creators in these formats: not made up.
            assert_eq!(l.created_by, "", "{case} {format}");
        }
    }
    // What the library frames decide survives grouping.
    for case in [
        "waitgroup_never_done",
        "sql_rows_not_closed",
        "io_wait",
        "sdk_callback",
    ] {
        for format in &FORMATS[1..] {
            let a = pair(case, format);
            assert_ne!(a.leaks[0].pattern, Pattern::Unknown, "{case} {format}");
        }
    }
}

#[test]
fn a_busy_healthy_server_is_not_leaking() {
    for format in FORMATS {
        let a = pair("healthy", format);
        assert!(a.leaks.is_empty(), "{format}: {:#?}", a.leaks);
        assert!(
            a.goroutines > 50,
            "{format}: a busy server, {} goroutines",
            a.goroutines
        );
        for n in ["1", "2"] {
            let one = dump("healthy", &format!("{n}.{format}"));
            assert!(analyse(&[&one]).leaks.is_empty(), "{n}.{format}");
        }
    }
}

#[test]
fn one_full_dump_is_enough_when_goroutines_have_waited_minutes() {
    let later = dump("chan_send", "2.debug2.txt");
    let a = analyse(&[&later]);
    assert_eq!(a.leaks.len(), 1, "{:#?}", a.leaks);
    assert_eq!(a.leaks[0].pattern, Pattern::ChanSend);
    assert_eq!(a.leaks[0].growth, 0);
    // The first dump, 5 s in: nobody has waited a minute, nothing to tell.
    let early = dump("chan_send", "1.debug2.txt");
    assert!(analyse(&[&early]).leaks.is_empty());
}

#[test]
fn dumps_of_go_before_1_21_without_creator_ids_read_the_same_sites() {
    let strip = |file: &str| -> Dump {
        let p = dir("chan_send").join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        let old: String = text
            .lines()
            .map(
                |l| match (l.starts_with("created by "), l.rfind(" in goroutine ")) {
                    (true, Some(i)) => &l[..i],
                    _ => l,
                },
            )
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!old.contains(" in goroutine "));
        read_goroutine_dump(&p, old.as_bytes()).unwrap()
    };
    let (a, b) = (strip("1.debug2.txt"), strip("2.debug2.txt"));
    assert!(b.goroutines.iter().all(|g| g.creator_id.is_none()));
    let l = &analyse(&[&a, &b]).leaks[0];
    assert_eq!(l.pattern, Pattern::ChanSend);
    assert_eq!(function(&l.created_by), "main.lookup");
}

#[test]
fn a_shrinking_or_reversed_pair_is_no_leak() {
    let a = dump("chan_send", "1.debug2.txt");
    let b = dump("chan_send", "2.debug2.txt");
    assert!(analyse(&[&b, &a]).leaks.is_empty());
}

#[test]
fn recorded_go_goroutines_series_rise_with_leaks_and_not_without() {
    let series = |case: &str| -> Vec<f64> {
        let p = dir(case).join("../go_goroutines.json");
        let parsed = ingest::parse_query_range(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(parsed.len(), 1, "{case}");
        parsed[0].1.iter().map(|(_, v)| *v).collect()
    };
    for (case, ..) in CASES {
        let v = series(case);
        assert!(v.len() >= 10, "{case}: {} samples", v.len());
        assert!(v[v.len() - 1] >= v[0] + 100.0, "{case}: {v:?}");
    }
    let healthy = series("healthy");
    let (lo, hi) = healthy
        .iter()
        .fold((f64::MAX, 0.0f64), |(l, h), x| (l.min(*x), h.max(*x)));
    assert!(hi <= lo * 1.6, "healthy: {healthy:?}");
}

/// What the runtime's goroutine-leak profile proved in each recording, 5 s
/// and 70 s after start, by blocking function (the same in both forms). A
/// leak is provable when nothing reachable can wake it: the channel, group
/// or pool is the leaked goroutines' alone. `sdk_callback` and
/// `sql_rows_not_closed` become provable only once the driver, the last
/// holder of the SDK client and of the pool, has stopped (8 s); the other
/// leaks wait on a global channel, a timer or a socket.
const PROVED: &[(&str, &[&str], &[&str])] = &[
    ("chan_send", &["main.lookup.func1"], &["main.lookup.func1"]),
    (
        "chan_receive",
        &["main.awaitReply", "main.worker"],
        &["main.awaitReply", "main.worker"],
    ),
    (
        "select_no_exit",
        &["main.(*subscription).watch"],
        &["main.(*subscription).watch"],
    ),
    (
        "waitgroup_never_done",
        &["main.resizeAll"],
        &["main.resizeAll"],
    ),
    (
        "sdk_callback",
        &[],
        &["example.com/telemetry-sdk.(*Client).deliver"],
    ),
    (
        "sql_rows_not_closed",
        &[],
        &["database/sql.(*DB).connectionOpener", "main.countOrders"],
    ),
    ("spawn_in_default", &[], &[]),
    ("ticker_not_stopped", &[], &[]),
    ("handler_without_context", &[], &[]),
    ("io_wait", &[], &[]),
    ("healthy", &[], &[]),
];

#[test]
fn the_leak_profile_proves_what_nothing_reachable_can_wake() {
    for (case, at_5s, at_70s) in PROVED {
        for (n, expected) in [("1", at_5s), ("2", at_70s)] {
            for form in ["leak.debug1.txt", "leak.debug0.pb.gz", "leak.debug2.txt"] {
                let proof = dump(case, &format!("{n}.{form}"));
                let a = analyse(&[&proof]);
                let full = form == "leak.debug2.txt";
                // A profile lists only what it proved; the full dump is every
                // goroutine, whose stuck ones the rules may infer besides.
                assert!(
                    full || a.leaks.iter().all(|l| l.proved),
                    "{case} {n}.{form}: {:#?}",
                    a.leaks
                );
                let proved: Vec<_> = a.leaks.iter().filter(|l| l.proved).collect();
                let mut sites: Vec<&str> =
                    proved.iter().map(|l| function(&l.blocking_site)).collect();
                sites.sort();
                assert_eq!(sites, **expected, "{case} {n}.{form}");
                let listed: u64 = proved.iter().map(|l| l.count).sum();
                // The marks are the full dump's only proof: without any, it proves nothing.
                let proof_seen = !(full && expected.is_empty());
                assert_eq!(a.proved, proof_seen.then_some(listed), "{case} {n}.{form}");
            }
        }
    }
}

#[test]
fn a_proved_leak_is_reported_however_young_with_what_the_dump_shows_of_it() {
    // 5 s in: nothing has waited a minute, so the dump alone shows no leak.
    let early = dump("chan_send", "1.debug2.txt");
    assert!(analyse(&[&early]).leaks.is_empty());
    for form in ["leak.debug1.txt", "leak.debug0.pb.gz"] {
        let proof = dump("chan_send", &format!("1.{form}"));
        let a = analyse(&[&early, &proof]);
        assert_eq!(a.leaks.len(), 1, "{form}: {:#?}", a.leaks);
        let l = &a.leaks[0];
        assert!(l.proved && !l.heuristic, "{form}: {l:#?}");
        assert_eq!(l.count, a.proved.unwrap());
        assert!(l.count >= 100, "{form}: {}", l.count);
        // The proof is grouped; the full dump beside it names the pattern and the creator.
        assert_eq!(l.pattern, Pattern::ChanSend, "{form}");
        assert_eq!(function(&l.created_by), "main.lookup", "{form}");
        assert_eq!(function(&l.blocking_site), "main.lookup.func1");
        assert_eq!(
            a.goroutines, early.total,
            "the program's goroutines, not the proof's"
        );
        assert_eq!(a.dumps, 1);
    }
}

#[test]
fn a_proved_site_is_one_leak_with_the_dumps_growth_and_waits() {
    let (a, b) = (
        dump("chan_send", "1.debug2.txt"),
        dump("chan_send", "2.debug2.txt"),
    );
    let inferred = analyse(&[&a, &b]);
    let proof = dump("chan_send", "2.leak.debug1.txt");
    let both = analyse(&[&a, &b, &proof]);
    assert_eq!(both.leaks.len(), 1, "{:#?}", both.leaks);
    let (l, h) = (&both.leaks[0], &inferred.leaks[0]);
    assert!(l.proved && l.heuristic);
    assert!(!h.proved);
    assert_eq!(
        (
            &l.blocking_site,
            &l.created_by,
            l.pattern,
            l.growth,
            l.max_wait_minutes
        ),
        (
            &h.blocking_site,
            &h.created_by,
            h.pattern,
            h.growth,
            h.max_wait_minutes
        )
    );
    assert_eq!(l.count, 200);
}

#[test]
fn a_proved_leak_outranks_a_larger_inferred_one_of_the_same_program() {
    // One program with two leaks: an inferred one (a send on a global
    // queue, which the runtime cannot prove) and, proved, a WaitGroup
    // nobody finishes: the handler leak's dumps with the other's proof.
    let (a, b) = (
        dump("handler_without_context", "1.debug2.txt"),
        dump("handler_without_context", "2.debug2.txt"),
    );
    let proof = dump("waitgroup_never_done", "2.leak.debug1.txt");
    let inferred = analyse(&[&a, &b]);
    let mixed = analyse(&[&a, &b, &proof]);
    assert_eq!(mixed.leaks.len(), inferred.leaks.len() + 1);
    let (first, rest) = (&mixed.leaks[0], &mixed.leaks[1..]);
    assert!(first.proved);
    assert_eq!(function(&first.blocking_site), "main.resizeAll");
    assert_eq!(first.pattern, Pattern::WaitgroupNeverDone);
    let audit = rest
        .iter()
        .find(|l| function(&l.blocking_site) == "main.writeAudit")
        .expect("the inferred leak is still reported");
    assert!(!audit.proved && audit.heuristic);
    assert!(
        audit.count > first.count,
        "the proved leak comes first though smaller: {} vs {}",
        audit.count,
        first.count
    );
}

#[test]
fn the_healthy_servers_proof_lists_nothing_and_the_dumps_agree() {
    for form in ["leak.debug1.txt", "leak.debug0.pb.gz"] {
        let (a, b) = (
            dump("healthy", "1.debug2.txt"),
            dump("healthy", "2.debug2.txt"),
        );
        let proof = dump("healthy", &format!("2.{form}"));
        let r = analyse(&[&a, &b, &proof]);
        assert!(r.leaks.is_empty(), "{form}: {:#?}", r.leaks);
        assert_eq!(r.proved, Some(0), "{form}");
    }
    // Ordinary dumps carry no proof, nor does a full dump without marks.
    for file in ["2.debug2.txt", "2.leak.debug2.txt"] {
        let a = dump("healthy", file);
        assert_eq!(analyse(&[&a]).proved, None, "{file}");
        assert!(analyse(&[&a]).leaks.is_empty(), "{file}");
    }
}
