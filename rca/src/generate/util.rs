//! Small helpers shared by the generator: random draws, JSON escaping, time formatting.

use std::fmt::Write as _;
use std::io::{self, Write};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub(crate) type SimRng = ChaCha8Rng;

pub(crate) const NANOS_PER_SEC: i64 = 1_000_000_000;
pub(crate) const NANOS_PER_MS: f64 = 1_000_000.0;

/// A standard normal draw (Box-Muller; one of the pair is discarded, which keeps the
/// stream simple and is cheap enough here).
pub(crate) fn normal(rng: &mut SimRng) -> f64 {
    let u1: f64 = rng.gen::<f64>().max(1e-12);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal draw with the given median and shape.
pub(crate) fn lognormal(rng: &mut SimRng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// The mean of a log-normal with this median and shape.
pub(crate) fn lognormal_mean(median: f64, sigma: f64) -> f64 {
    median * (sigma * sigma / 2.0).exp()
}

pub(crate) fn uniform(rng: &mut SimRng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.gen::<f64>()
}

pub(crate) fn chance(rng: &mut SimRng, p: f64) -> bool {
    rng.gen::<f64>() < p
}

/// Index drawn in proportion to `weights` (all non-negative, not all zero).
pub(crate) fn weighted(rng: &mut SimRng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.gen::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

pub(crate) fn clamp01(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

/// Milliseconds (fractional) to whole nanoseconds, never below one microsecond.
pub(crate) fn ms_to_ns(ms: f64) -> i64 {
    ((ms * NANOS_PER_MS) as i64).max(1_000)
}

/// A random public-looking IPv4 address (no private, loopback or multicast ranges).
pub(crate) fn public_ip(rng: &mut SimRng) -> [u8; 4] {
    loop {
        let a: u8 = rng.gen_range(1..=223);
        let b: u8 = rng.gen();
        let private = a == 10
            || a == 127
            || (a == 172 && (16..=31).contains(&b))
            || (a == 192 && b == 168)
            || (a == 169 && b == 254)
            || a == 100 && (64..=127).contains(&b);
        if !private {
            return [a, b, rng.gen(), rng.gen_range(1..=254)];
        }
    }
}

pub(crate) fn ip_string(ip: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
}

/// Writes `s` as a JSON string literal, quotes included.
pub(crate) fn json_str<W: Write>(w: &mut W, s: &str) -> io::Result<()> {
    w.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        w.write_all(&bytes[start..i])?;
        match esc {
            Some(e) => w.write_all(e)?,
            None => write!(w, "\\u{:04x}", b)?,
        }
        start = i + 1;
    }
    w.write_all(&bytes[start..])?;
    w.write_all(b"\"")
}

/// Formats a value the way a Prometheus sample string might read: at most `decimals`
/// places, trailing zeros dropped.
pub(crate) fn prom_value(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "NaN".to_string();
    }
    let mut s = String::with_capacity(16);
    let _ = write!(s, "{:.*}", decimals, v);
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

/// Civil date from days since the Unix epoch (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Broken-down UTC time of a Unix second.
pub(crate) fn utc_parts(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

/// `2026-03-01T00:00:00Z` (whole seconds): `ingest::rfc3339_secs` in the
/// generator's unit.
pub(crate) fn rfc3339_secs(secs: i64) -> String {
    ingest::rfc3339_secs(secs * 1_000_000)
}

/// `2026-03-01T00:00:00.123Z` from nanoseconds: the precision of a
/// generated alert's `startsAt` and onset, as Alertmanager writes them.
pub(crate) fn rfc3339_millis(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Caches the per-second prefix of access-log timestamps: a million lines share
/// 1800 distinct seconds.
#[derive(Default)]
pub(crate) struct TimeCache {
    sec: Option<i64>,
    iso: String,
    clf: String,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl TimeCache {
    fn load(&mut self, secs: i64) {
        if self.sec == Some(secs) {
            return;
        }
        let (y, mo, d, h, mi, s) = utc_parts(secs);
        self.iso = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
        self.clf = format!(
            "{d:02}/{}/{y:04}:{h:02}:{mi:02}:{s:02} +0000",
            MONTHS[(mo - 1) as usize]
        );
        self.sec = Some(secs);
    }

    /// Writes `2026-03-01T00:00:00.123Z`.
    pub(crate) fn write_iso<W: Write>(&mut self, w: &mut W, ns: i64) -> io::Result<()> {
        self.load(ns.div_euclid(NANOS_PER_SEC));
        let ms = ns.rem_euclid(NANOS_PER_SEC) / 1_000_000;
        write!(w, "{}.{:03}Z", self.iso, ms)
    }

    /// Writes `01/Mar/2026:00:00:00 +0000` (nginx `$time_local` in UTC).
    pub(crate) fn write_clf<W: Write>(&mut self, w: &mut W, ns: i64) -> io::Result<()> {
        self.load(ns.div_euclid(NANOS_PER_SEC));
        w.write_all(self.clf.as_bytes())
    }
}

/// A writer that counts what passes through it.
pub(crate) struct Counting<W> {
    pub inner: W,
    pub bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(rfc3339_secs(1_772_323_200), "2026-03-01T00:00:00Z");
        assert_eq!(
            rfc3339_millis(1_767_225_600_123_000_000),
            "2026-01-01T00:00:00.123Z"
        );
        let mut tc = TimeCache::default();
        let mut out = Vec::new();
        tc.write_clf(&mut out, 1_772_323_200_000_000_000).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "01/Mar/2026:00:00:00 +0000"
        );
    }

    #[test]
    fn escapes_json() {
        let mut out = Vec::new();
        json_str(&mut out, "a\"b\\c\nd\u{1}").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\\c\nd\u0001""#);
    }

    #[test]
    fn prom_values_trim() {
        assert_eq!(prom_value(0.4100, 4), "0.41");
        assert_eq!(prom_value(12.0, 3), "12");
        assert_eq!(prom_value(-0.0001, 3), "0");
    }
}
