//! Goroutine leaks: which goroutines pile up where, who started them, and
//! which mistake left them there.
//!
//! Goroutines are grouped by their *blocking site* (the innermost frame
//! outside the Go standard library: the line of the program where they wait)
//! and their *creating site* (the `go` statement, when the dump says). The
//! runtime's and the standard library's own goroutines (every frame and the
//! creator in the standard library: GC workers, the HTTP server's connection
//! loops, the HTTP client's read and write loops) are not looked at, nor are
//! goroutines that are running.
//!
//! **A group is a leak** when, between the first and the last dump, it grew
//! by at least [`MIN_GROWTH`] goroutines and a fifth, and (where the dumps
//! carry goroutine ids) at least half of the first dump's members are still
//! there, at the same site: they did not finish, more came. With a single
//! dump there is no growth to see: a group is a leak when at least
//! [`MIN_STUCK`] of its goroutines have waited a minute or more.
//!
//! **The pattern** follows what the dump shows, first rule that applies:
//! 1. `sql_rows_not_closed`: it waits in `database/sql.(*DB).conn`, for a
//!    pooled connection: rows (or a transaction) still hold the others.
//! 2. `waitgroup_never_done`: it waits in `sync.(*WaitGroup).Wait` (or the
//!    runtime says `sync.WaitGroup.Wait`).
//! 3. `io_wait`: the runtime says `IO wait`, or it reads in `internal/poll`:
//!    a read or accept with no deadline.
//! 4. `handler_without_context`: the goroutine that started it serves an HTTP
//!    connection (`net/http.(*conn).serve` is on its stack), or another
//!    goroutine is in the creating function under an HTTP handler right now:
//!    started by a request, it outlived it.
//! 5. `spawn_in_default`: one goroutine started them all and is still in the
//!    creating function: a loop that starts a goroutine on every turn.
//! 6. `sdk_callback`: it waits in a dependency's code (a file under
//!    `/vendor/` or the module cache, `/pkg/mod/` or `@vX`), started by that
//!    same dependency: the library's loop, holding the callback it was given.
//! 7. `ticker_not_stopped`: it sleeps (`time.Sleep`, state `sleep`), or it
//!    waits on a channel yet has not waited a minute while another goroutine
//!    present in both dumps has: it wakes up periodically, a ticker nobody
//!    stopped.
//! 8. `chan_send`, `chan_receive`, `select_no_exit`: what the runtime says it
//!    waits for (`chan send`; `chan receive`, also a `range`; `select`).
//! 9. `unknown`: nothing visible decides it (`debug=1` and `debug=0` dumps
//!    carry no wait reason and no creator).
//!
//! **A proved leak** is one the Go runtime proved: its goroutine-leak profile
//! (Go 1.26, `GOEXPERIMENT=goroutineleakprofile`) lists the goroutines that a
//! garbage collection found blocked on channels or locks nothing reachable
//! can wake (or a `debug=2` dump marks them `(leaked)`). That is certain, not
//! inferred: every site the latest proof lists is a leak whatever its count
//! or age, with no [`MIN_GROWTH`] or [`MIN_STUCK`], counted as the proof
//! counts, and listed before every leak the rules infer. The ordinary dumps
//! still say what they can of it (the groups at its site, all creators
//! together: pattern, creator, growth, waits), and the rules still run, for
//! what the runtime cannot prove: a goroutine blocked on something still
//! reachable (a global channel, a pool the program keeps, a socket) is not
//! provable, and an absent proof says nothing.

use std::fmt;

use ingest::{Dump, DumpKind, Frame, Goroutine};
use rustc_hash::{FxHashMap, FxHashSet};

/// Growth between dumps below which a group is ordinary churn.
pub const MIN_GROWTH: u64 = 10;
/// With one dump: how many goroutines of a group must have waited a minute.
pub const MIN_STUCK: u64 = 50;
/// Goroutines one creator must have started for `spawn_in_default`.
const MIN_SPAWNED: u64 = 10;

/// The mistake behind a leak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern {
    ChanSend,
    ChanReceive,
    SelectNoExit,
    SpawnInDefault,
    TickerNotStopped,
    HandlerWithoutContext,
    WaitgroupNeverDone,
    SqlRowsNotClosed,
    IoWait,
    SdkCallback,
    Unknown,
}

impl Pattern {
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::ChanSend => "chan_send",
            Pattern::ChanReceive => "chan_receive",
            Pattern::SelectNoExit => "select_no_exit",
            Pattern::SpawnInDefault => "spawn_in_default",
            Pattern::TickerNotStopped => "ticker_not_stopped",
            Pattern::HandlerWithoutContext => "handler_without_context",
            Pattern::WaitgroupNeverDone => "waitgroup_never_done",
            Pattern::SqlRowsNotClosed => "sql_rows_not_closed",
            Pattern::IoWait => "io_wait",
            Pattern::SdkCallback => "sdk_callback",
            Pattern::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One leaking group.
#[derive(Clone, Debug, PartialEq)]
pub struct Leak {
    pub pattern: Pattern,
    /// What they wait in, as the dump says it (`chan send`, `IO wait in
    /// bufio.(*Reader).ReadString`); empty when the dump does not say.
    pub blocked_in: String,
    /// `function (file:line)` where they wait.
    pub blocking_site: String,
    /// `function (file:line)` of the `go` statement; empty when not known.
    pub created_by: String,
    /// Goroutines in the group in the last dump.
    pub count: u64,
    /// Count in the last dump minus the first (0 with one dump).
    pub growth: i64,
    /// The longest wait of a member, in minutes (0 when not shown).
    pub max_wait_minutes: u32,
    /// The Go runtime proved them leaked (a goroutine-leak profile): certain,
    /// whatever their count or age; `count` is then the proof's.
    pub proved: bool,
    /// The ordinary dumps show it by the rules (growth, or waits of a minute);
    /// false for a proved leak too small or too young for them.
    pub heuristic: bool,
    /// Why this pattern, in words.
    pub why: String,
}

/// What the dumps say.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// Goroutines in the last dump (with only leak profiles, what the
    /// latest lists).
    pub goroutines: u64,
    /// In the first dump.
    pub first_goroutines: u64,
    /// Goroutine dumps compared (leak profiles not counted).
    pub dumps: usize,
    /// Goroutines the latest leak proof lists; `None` when no dump carries
    /// one (the program was not asked for its goroutine-leak profile).
    pub proved: Option<u64>,
    /// Proved leaks first, then largest first.
    pub leaks: Vec<Leak>,
}

/// Whether `function` is in the Go standard library (its import path's
/// first element is one of the standard library's).
pub fn is_std(function: &str) -> bool {
    const ROOTS: &[&str] = &[
        "archive",
        "bufio",
        "bytes",
        "cmp",
        "compress",
        "container",
        "context",
        "crypto",
        "database",
        "debug",
        "embed",
        "encoding",
        "errors",
        "expvar",
        "flag",
        "fmt",
        "go",
        "hash",
        "html",
        "image",
        "index",
        "internal",
        "io",
        "iter",
        "log",
        "maps",
        "math",
        "mime",
        "net",
        "os",
        "path",
        "plugin",
        "reflect",
        "regexp",
        "runtime",
        "slices",
        "sort",
        "strconv",
        "strings",
        "structs",
        "sync",
        "syscall",
        "testing",
        "text",
        "time",
        "unicode",
        "unique",
        "unsafe",
        "vendor",
        "weak",
    ];
    let pkg = package_of(function);
    let root = pkg.split('/').next().unwrap_or(pkg);
    ROOTS.contains(&root)
}

/// The import path of `function`: `net/http` of `net/http.(*conn).serve`.
pub fn package_of(function: &str) -> &str {
    let slash = function.rfind('/').map_or(0, |i| i + 1);
    let dot = function[slash..]
        .find('.')
        .map_or(function.len(), |i| slash + i);
    &function[..dot]
}

/// Whether `file` is a dependency's source: vendored, or in the module cache
/// (or built with `-trimpath`, which keeps the `@version`).
fn is_dependency_file(file: &str) -> bool {
    file.contains("/vendor/")
        || file.contains("/pkg/mod/")
        || file
            .match_indices("@v")
            .any(|(i, _)| file[i + 2..].starts_with(|c: char| c.is_ascii_digit()))
}

/// The innermost frame outside the standard library.
fn site_of(g: &Goroutine) -> Option<&Frame> {
    g.frames.iter().find(|f| !is_std(&f.function))
}

/// The site a goroutine is grouped under: where it waits in the program, or
/// for a goroutine whose frames are all the standard library's but which the
/// program started (`go io.Copy(..)`), its innermost frame outside the runtime.
fn group_site(g: &Goroutine) -> Option<&Frame> {
    if let Some(f) = site_of(g) {
        return Some(f);
    }
    let by_program = g.created_by.as_ref().is_some_and(|c| !is_std(&c.function));
    if !by_program {
        return None;
    }
    g.frames
        .iter()
        .find(|f| !f.function.starts_with("runtime."))
        .or(g.frames.first())
}

fn running(g: &Goroutine) -> bool {
    matches!(g.state.as_str(), "running" | "runnable")
}

type Key<'a> = (&'a Frame, Option<&'a Frame>);

struct Group {
    count: u64,
    members: Vec<usize>,
}

fn groups(d: &Dump) -> FxHashMap<Key<'_>, Group> {
    let mut out: FxHashMap<Key, Group> = FxHashMap::default();
    for (i, g) in d.goroutines.iter().enumerate() {
        if running(g) {
            continue;
        }
        let Some(site) = group_site(g) else { continue };
        let e = out.entry((site, g.created_by.as_ref())).or_insert(Group {
            count: 0,
            members: Vec::new(),
        });
        e.count += g.count;
        e.members.push(i);
    }
    out
}

/// Analyses the dumps of one program, oldest first: goroutine dumps and
/// goroutine-leak profiles, in any mix (see the module's rules).
pub fn analyse(dumps: &[&Dump]) -> Analysis {
    let ordinary: Vec<&Dump> = dumps
        .iter()
        .copied()
        .filter(|d| d.kind == DumpKind::Goroutines)
        .collect();
    // The latest proof holds every earlier one's leaks: a goroutine proved
    // leaked is blocked for good.
    let proof = dumps.iter().rev().copied().find(|d| d.proves());
    let proved = proof.map(proved_groups).unwrap_or_default();
    let mut leaks = match (ordinary.first(), ordinary.last()) {
        (Some(first), Some(last)) => from_dumps(first, last, ordinary.len() > 1, &proved),
        _ => Vec::new(),
    };
    // Proved sites the ordinary dumps do not show (there are none, or they
    // were taken before these goroutines came): the proof alone says what
    // it can.
    let shown: FxHashSet<String> = leaks
        .iter()
        .filter(|l| l.proved)
        .map(|l| l.blocking_site.clone())
        .collect();
    let by_id = FxHashMap::default();
    let none = FxHashSet::default();
    let no_ids = FxHashMap::default();
    let bare = Context {
        in_handlers: &none,
        by_id: &by_id,
        clock: false,
        first_ids: &no_ids,
    };
    for p in proved.iter().filter(|p| !shown.contains(&p.site.site())) {
        let (pattern, why) = classify(&(p.site, p.creator), &p.members, &bare);
        leaks.push(Leak {
            pattern,
            blocked_in: blocked_in(p.members[0]),
            blocking_site: p.site.site(),
            created_by: p.creator.map(Frame::site).unwrap_or_default(),
            count: p.count,
            growth: 0,
            max_wait_minutes: 0,
            proved: true,
            heuristic: false,
            why,
        });
    }
    leaks.sort_by(|a, b| {
        b.proved
            .cmp(&a.proved)
            .then(b.count.cmp(&a.count))
            .then_with(|| a.blocking_site.cmp(&b.blocking_site))
    });
    let total = |d: Option<&&Dump>| d.map_or(0, |d| d.total);
    Analysis {
        goroutines: total(ordinary.last().or(proof.as_ref())),
        first_goroutines: total(ordinary.first().or(proof.as_ref())),
        dumps: ordinary.len(),
        proved: proof.map(|_| proved.iter().map(|p| p.count).sum()),
        leaks,
    }
}

/// The goroutines a proof says leaked, by blocking site.
struct Proved<'a> {
    site: &'a Frame,
    /// The creator, when every member's is the same one and the proof shows it.
    creator: Option<&'a Frame>,
    count: u64,
    members: Vec<&'a Goroutine>,
}

/// A proof's leaked goroutines, grouped by where they wait. The runtime's and
/// the standard library's own goroutines count too: what tells them from a
/// leak is a guess for the dumps, not for the runtime (a healthy server's
/// proof lists nothing).
fn proved_groups(d: &Dump) -> Vec<Proved<'_>> {
    let mut by_site: FxHashMap<&Frame, Proved> = FxHashMap::default();
    for g in d.goroutines.iter().filter(|g| g.leaked) {
        let site = group_site(g)
            .or_else(|| {
                g.frames
                    .iter()
                    .find(|f| !f.function.starts_with("runtime."))
            })
            .or(g.frames.first());
        let Some(site) = site else { continue };
        let p = by_site.entry(site).or_insert(Proved {
            site,
            creator: g.created_by.as_ref(),
            count: 0,
            members: Vec::new(),
        });
        if p.creator != g.created_by.as_ref() {
            p.creator = None;
        }
        p.count += g.count;
        p.members.push(g);
    }
    let mut out: Vec<Proved> = by_site.into_values().collect();
    out.sort_by(|a, b| a.site.cmp(b.site));
    out
}

/// The leaks the ordinary dumps show by the rules, and what they show of the
/// proved sites (as one leak per site, counted as the proof counts).
fn from_dumps(first: &Dump, last: &Dump, two: bool, proved: &[Proved]) -> Vec<Leak> {
    let in_last = groups(last);
    let in_first = if two {
        groups(first)
    } else {
        FxHashMap::default()
    };
    // Goroutine ids, where the dumps carry them.
    let first_ids: FxHashMap<u64, Key> = if two {
        first
            .goroutines
            .iter()
            .filter_map(|g| Some((g.id?, (group_site(g)?, g.created_by.as_ref()))))
            .collect()
    } else {
        FxHashMap::default()
    };
    let in_handlers: FxHashSet<&str> = last
        .goroutines
        .iter()
        .filter(|g| has(g, "net/http.HandlerFunc.ServeHTTP"))
        .flat_map(|g| g.frames.iter().map(|f| f.function.as_str()))
        .collect();
    let mut first_by_key: FxHashMap<Key, Vec<u64>> = FxHashMap::default();
    for (id, key) in &first_ids {
        first_by_key.entry(*key).or_default().push(*id);
    }
    let by_id: FxHashMap<u64, &Goroutine> = last
        .goroutines
        .iter()
        .filter_map(|g| Some((g.id?, g)))
        .collect();
    // A clock: some goroutine present in both dumps that has waited a minute
    // (the accept loop, main's wait) shows that a minute has passed and that
    // the runtime has stamped wait times since the first dump.
    let clock = two
        && last.goroutines.iter().any(|g| {
            g.wait_minutes.is_some() && g.id.is_some_and(|id| first_ids.contains_key(&id))
        });
    let ctx = Context {
        in_handlers: &in_handlers,
        by_id: &by_id,
        clock,
        first_ids: &first_ids,
    };
    // Proved sites by where they wait: a grouped proof shows no creator, so
    // the groups of one site (one per creator) make one proved leak.
    let proved_at: FxHashMap<String, &Proved> = proved.iter().map(|p| (p.site.site(), p)).collect();

    let mut leaks: Vec<Leak> = Vec::new();
    let mut proved_leak: FxHashMap<String, usize> = FxHashMap::default();
    let mut keys: Vec<&Key> = in_last.keys().collect();
    // Largest first within a site, so a proved site takes its largest group's
    // pattern and creator.
    keys.sort_by(|a, b| {
        a.0.cmp(b.0)
            .then(in_last[*b].count.cmp(&in_last[*a].count))
            .then(a.1.cmp(&b.1))
    });
    for key in keys {
        let g = &in_last[key];
        let before = in_first.get(key).map_or(0, |x| x.count);
        let members: Vec<&Goroutine> = g.members.iter().map(|i| &last.goroutines[*i]).collect();
        let max_wait = members
            .iter()
            .filter_map(|m| m.wait_minutes)
            .max()
            .unwrap_or(0);
        let leaking = if two {
            let grew = g.count >= before + MIN_GROWTH && g.count * 5 >= before * 6;
            let earlier: &[u64] = first_by_key.get(key).map_or(&[], Vec::as_slice);
            let stayed = earlier
                .iter()
                .filter(|id| by_id.get(id).is_some_and(|m| group_site(m) == Some(key.0)))
                .count();
            grew && (earlier.is_empty() || stayed * 2 >= earlier.len())
        } else {
            let stuck: u64 = members
                .iter()
                .filter(|m| m.wait_minutes.is_some())
                .map(|m| m.count)
                .sum();
            stuck >= MIN_STUCK
        };
        let growth = if two {
            g.count as i64 - before as i64
        } else {
            0
        };
        let site = key.0.site();
        let proof = proved_at.get(&site);
        if let Some(&i) = proof.and_then(|_| proved_leak.get(&site)) {
            // Another creator's group at a proved site: part of that leak.
            let l: &mut Leak = &mut leaks[i];
            l.growth += growth;
            l.max_wait_minutes = l.max_wait_minutes.max(max_wait);
            l.heuristic |= leaking;
            continue;
        }
        if !leaking && proof.is_none() {
            continue;
        }
        let (pattern, why) = classify(key, &members, &ctx);
        if proof.is_some() {
            proved_leak.insert(site.clone(), leaks.len());
        }
        leaks.push(Leak {
            pattern,
            blocked_in: blocked_in(members[0]),
            blocking_site: site,
            created_by: key.1.map(Frame::site).unwrap_or_default(),
            count: proof.map_or(g.count, |p| p.count),
            growth,
            max_wait_minutes: max_wait,
            proved: proof.is_some(),
            heuristic: leaking,
            why,
        });
    }
    leaks
}

/// What a goroutine waits for: the runtime's wait reason when the dump gives
/// it (`debug=2`), else what the frames show (`debug=0` keeps the runtime's
/// frames, `debug=1` only the library's); empty when nothing shows it.
fn wait_of(g: &Goroutine) -> &str {
    if !g.state.is_empty() {
        return g.state.as_str();
    }
    for f in g.frames.iter().take_while(|f| is_std(&f.function)) {
        let name = f.function.as_str();
        let wait = if name.starts_with("runtime.chansend") {
            "chan send"
        } else if name.starts_with("runtime.chanrecv") {
            "chan receive"
        } else if name == "runtime.selectgo" {
            "select"
        } else if name == "runtime.block" {
            "select (no cases)"
        } else if name == "time.Sleep" {
            "sleep"
        } else if name == "sync.(*WaitGroup).Wait" {
            "sync.WaitGroup.Wait"
        } else if name.starts_with("internal/poll.") {
            "IO wait"
        } else {
            continue;
        };
        return wait;
    }
    ""
}

/// What a goroutine waits in: its wait, and the library call the program
/// made, if it waits inside one.
fn blocked_in(g: &Goroutine) -> String {
    let wait = wait_of(g);
    // The outermost standard-library frame the program called into.
    let call = g
        .frames
        .iter()
        .take_while(|f| is_std(&f.function))
        .filter(|f| !f.function.starts_with("runtime.") && !f.function.starts_with("internal/"))
        .last()
        .map(|f| f.function.as_str());
    match (wait, call) {
        ("", Some(c)) => c.to_string(),
        (w, Some(c)) if w != "sleep" || c != "time.Sleep" => format!("{w} in {c}"),
        (w, _) => w.to_string(),
    }
}

struct Context<'a> {
    /// Functions on the stack of a goroutine serving an HTTP request now.
    in_handlers: &'a FxHashSet<&'a str>,
    by_id: &'a FxHashMap<u64, &'a Goroutine>,
    clock: bool,
    first_ids: &'a FxHashMap<u64, Key<'a>>,
}

fn has(g: &Goroutine, function: &str) -> bool {
    g.frames.iter().any(|f| f.function == function)
}

fn classify(key: &Key, members: &[&Goroutine], cx: &Context) -> (Pattern, String) {
    let g = members[0];
    let (site, creator) = *key;
    let fns = |p: &str| g.frames.iter().any(|f| f.function.starts_with(p));
    if has(g, "database/sql.(*DB).conn") {
        return (
            Pattern::SqlRowsNotClosed,
            "waiting in database/sql.(*DB).conn for a pooled connection: rows or \
             transactions left open hold the others"
                .into(),
        );
    }
    let wait = wait_of(g);
    if has(g, "sync.(*WaitGroup).Wait") || wait == "sync.WaitGroup.Wait" {
        return (
            Pattern::WaitgroupNeverDone,
            "waiting in sync.(*WaitGroup).Wait: a Done was missed".into(),
        );
    }
    if wait == "IO wait" || fns("internal/poll.") {
        return (
            Pattern::IoWait,
            "a read or accept with no deadline that never completes; each holds a descriptor"
                .into(),
        );
    }
    if let Some(c) = creator {
        let creators: FxHashSet<u64> = members.iter().filter_map(|m| m.creator_id).collect();
        let serving = creators
            .iter()
            .filter_map(|id| cx.by_id.get(id))
            .any(|p| has(p, "net/http.(*conn).serve"));
        let in_handler = cx.in_handlers.contains(c.function.as_str());
        if serving || in_handler {
            return (
                Pattern::HandlerWithoutContext,
                format!(
                    "started by {} while serving an HTTP request, and outlives it: \
                     it does not follow the request's context",
                    c.function
                ),
            );
        }
        let count: u64 = members.iter().map(|m| m.count).sum();
        let one = creators.iter().next().filter(|_| creators.len() == 1);
        if let Some(one) = one.filter(|_| count >= MIN_SPAWNED) {
            if cx.by_id.get(one).is_some_and(|p| has(p, &c.function)) {
                return (
                    Pattern::SpawnInDefault,
                    format!(
                        "all started by goroutine {one}, still looping in {}: \
                         a loop that starts a goroutine on every turn",
                        c.function
                    ),
                );
            }
        }
    }
    let in_dependency = is_dependency_file(&site.file)
        && creator.is_none_or(|c| package_of(&c.function) == package_of(&site.function));
    if in_dependency {
        return (
            Pattern::SdkCallback,
            format!(
                "parked in a loop of the dependency {}, which holds the callback (and what \
                 registered it) until the client is closed",
                package_of(&site.function)
            ),
        );
    }
    if wait == "sleep" {
        return (
            Pattern::TickerNotStopped,
            "a loop sleeping between turns with no way out, one per call".into(),
        );
    }
    let waits_on_channel = matches!(wait, "chan receive" | "select");
    if waits_on_channel && cx.clock {
        // Present since the first dump, yet never a minute of waiting: they wake up.
        let old: Vec<&&Goroutine> = members
            .iter()
            .filter(|m| m.id.is_some_and(|id| cx.first_ids.contains_key(&id)))
            .collect();
        let awake = old.iter().filter(|m| m.wait_minutes.is_none()).count();
        if !old.is_empty() && awake * 2 > old.len() {
            return (
                Pattern::TickerNotStopped,
                "they wake up periodically (none has waited a minute while older goroutines \
                 have): a ticker or timer loop nobody stops, one per call"
                    .into(),
            );
        }
    }
    match wait {
        "chan send" | "chan send (nil chan)" => (
            Pattern::ChanSend,
            "a send on a channel nobody receives from".into(),
        ),
        "chan receive" | "chan receive (nil chan)" => (
            Pattern::ChanReceive,
            "a receive (or range) on a channel nobody sends on or closes".into(),
        ),
        "select" | "select (no cases)" => (
            Pattern::SelectNoExit,
            "a select none of whose cases ever fires: no exit case".into(),
        ),
        _ => (
            Pattern::Unknown,
            "the dump shows where they wait but not on what (no wait reason in this format)".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_and_the_standard_library() {
        assert_eq!(package_of("net/http.(*conn).serve"), "net/http");
        assert_eq!(package_of("main.lookup.func1"), "main");
        assert_eq!(
            package_of("example.com/telemetry-sdk.(*Client).deliver"),
            "example.com/telemetry-sdk"
        );
        assert!(is_std("net/http.(*conn).serve"));
        assert!(is_std("internal/poll.runtime_pollWait"));
        assert!(!is_std("main.main"));
        assert!(!is_std("github.com/acme/app/internal/cache.(*C).loop"));
        assert!(!is_std("goleaks/common.Drive"));
        assert!(is_dependency_file(
            "/root/go/pkg/mod/github.com/x/y@v1.2.3/a.go"
        ));
        assert!(is_dependency_file("github.com/x/y@v1.2.3/a.go"));
        assert!(is_dependency_file("/src/app/vendor/example.com/sdk/c.go"));
        assert!(!is_dependency_file("/src/app/main.go"));
    }
}
