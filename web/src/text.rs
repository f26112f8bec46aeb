//! Turning untrusted strings and numbers into what a reader sees.
//!
//! Escaping is not done here: maud escapes HTML and plotters escapes SVG text. This module only
//! makes untrusted text *look* honest (no invisible controls, no bidi overrides that reorder a
//! name on screen) and short enough for a label.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

/// Characters that are invisible or reorder text when displayed: C0/C1 controls and the Unicode
/// bidi embeddings, overrides, isolates and marks.
fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200e}' | '\u{200f}' | '\u{061c}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}')
}

/// `s` with every deceptive character replaced by U+FFFD, so that a reader sees that something
/// is there.
pub(crate) fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_deceptive) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if is_deceptive(c) { '\u{fffd}' } else { c })
            .collect(),
    )
}

/// [`visible`], cut to at most `max` characters with an ellipsis when longer.
pub(crate) fn label(s: &str, max: usize) -> String {
    debug_assert!(max >= 2);
    let shown = visible(s);
    if shown.chars().count() <= max {
        return shown.into_owned();
    }
    let mut out: String = shown.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Parses an RFC 3339 instant.
pub(crate) fn instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `HH:MM` in UTC, or the input when it is not RFC 3339.
pub(crate) fn clock(s: &str) -> String {
    match instant(s) {
        Some(t) => t.format("%H:%M").to_string(),
        None => s.to_owned(),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC`, or the input when it is not RFC 3339.
pub(crate) fn full_time(s: &str) -> String {
    match instant(s) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => s.to_owned(),
    }
}

/// A measured value with as many digits as a reader needs: 3 significant digits, no exponent
/// for everyday magnitudes.
pub(crate) fn number(x: f64) -> String {
    if x.is_nan() {
        return "n/a".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "∞" } else { "-∞" }.to_owned();
    }
    let a = x.abs();
    if a == 0.0 {
        return "0".to_owned();
    }
    if !(1e-3..1e9).contains(&a) {
        return format!("{x:.2e}");
    }
    let fixed = if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    };
    // "0.310" reads as more precise than it is; "0.31" does not.
    if fixed.contains('.') {
        fixed.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        fixed
    }
}

/// A score or a z-score: one decimal.
pub(crate) fn score(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        number(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_replaces_controls_and_bidi_overrides() {
        assert!(matches!(visible("payment-api"), Cow::Borrowed(_)));
        assert_eq!(visible("a\u{202e}cba"), "a\u{fffd}cba");
        assert_eq!(visible("a\nb\0"), "a\u{fffd}b\u{fffd}");
        assert_eq!(visible("<b>&"), "<b>&", "escaping is not this module's job");
    }

    #[test]
    fn label_cuts_on_characters() {
        assert_eq!(label("abcdef", 4), "abc…");
        assert_eq!(label("abcd", 4), "abcd");
        assert_eq!(label("ééééé", 3), "éé…");
    }

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(clock("2024-05-01T12:42:10+02:00"), "10:42");
        assert_eq!(full_time("2024-05-01T10:42:10Z"), "2024-05-01 10:42:10 UTC");
        assert_eq!(clock("not a time"), "not a time");
    }

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(number(0.9712), "0.971");
        assert_eq!(number(0.31), "0.31");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(-12.345), "-12.3");
        assert_eq!(number(1234.4), "1234");
        assert_eq!(number(1500.0), "1500");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(f64::NAN), "n/a");
        assert_eq!(score(14.26), "14.3");
    }
}

/// A duration as a person says it: `45 s`, `12 min`, `3 h 20 min`, `2 d 4 h`.
pub(crate) fn duration(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => match (s / 3600, s % 3600 / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
        _ => match (s / 86400, s % 86400 / 3600) {
            (d, 0) => format!("{d} d"),
            (d, h) => format!("{d} d {h} h"),
        },
    }
}

#[cfg(test)]
mod duration_tests {
    use super::duration;
    use chrono::Duration;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(Duration::seconds(45)), "45 s");
        assert_eq!(duration(Duration::seconds(25 * 60 + 10)), "25 min");
        assert_eq!(duration(Duration::minutes(200)), "3 h 20 min");
        assert_eq!(duration(Duration::hours(2)), "2 h");
        assert_eq!(duration(Duration::hours(52)), "2 d 4 h");
        assert_eq!(duration(Duration::seconds(-5)), "0 s");
    }
}

/// A size as a person reads it: `812 B`, `4.2 KB`, `37.1 MB`, `1.3 GB` (powers of 1000).
pub(crate) fn bytes(n: u64) -> String {
    let x = n as f64;
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} KB", x / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", x / 1e6),
        _ => format!("{:.1} GB", x / 1e9),
    }
}

#[cfg(test)]
mod bytes_tests {
    #[test]
    fn sizes_read_in_their_unit() {
        assert_eq!(super::bytes(812), "812 B");
        assert_eq!(super::bytes(4_210), "4.2 KB");
        assert_eq!(super::bytes(37_100_000), "37.1 MB");
        assert_eq!(super::bytes(1_300_000_000), "1.3 GB");
    }
}
