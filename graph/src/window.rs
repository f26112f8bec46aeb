//! The analysed window, its time buckets, and where the baseline ends.

use ingest::{Micros, Observations, TimeWindow};

/// How the window around an alert is chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowConfig {
    /// How far before the alert's start the window reaches.
    pub lookback: Micros,
    /// How far after the alert's start the window reaches.
    pub settle: Micros,
    /// The baseline ends this long before the alert's start: alerts fire after
    /// a `for:` period and the fault began before that.
    pub guard: Micros,
    /// About how many buckets the window is cut into.
    pub target_buckets: usize,
    /// Where the baseline ends, when the caller knows better than `guard`
    /// (a replayed dataset whose fault-free reference precedes the case).
    pub baseline_end: Option<Micros>,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            lookback: 30 * 60 * 1_000_000,
            settle: 10 * 60 * 1_000_000,
            guard: 5 * 60 * 1_000_000,
            target_buckets: 60,
            baseline_end: None,
        }
    }
}

/// Bucket widths the window may be cut into, in seconds: round numbers an
/// engineer reads easily on a time axis.
const NICE_WIDTHS_S: [i64; 13] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];

/// The time axis of one localisation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Buckets {
    pub window: TimeWindow,
    pub width: Micros,
    pub count: usize,
    /// Buckets `[0, baseline_end)` form the baseline; the rest are analysed.
    pub baseline_end: usize,
}

impl Buckets {
    /// The bucket holding `t`, if `t` is inside the window.
    #[inline]
    pub fn index(&self, t: Micros) -> Option<usize> {
        if t < self.window.start || t >= self.window.end {
            return None;
        }
        let i = ((t - self.window.start) / self.width) as usize;
        (i < self.count).then_some(i)
    }

    pub fn start_of(&self, i: usize) -> Micros {
        self.window.start + self.width * i as Micros
    }

    /// The analysed buckets.
    pub fn analysed(&self) -> std::ops::Range<usize> {
        self.baseline_end..self.count
    }
}

/// Chooses the window and buckets for `obs`, around `alert_start` when known.
///
/// The window is `[alert - lookback, alert + settle)` cut to the data actually
/// present; without an alert it is the data's whole span and the baseline is
/// its first half. Returns `None` when there is no data at all.
pub fn choose_buckets(
    obs: &Observations,
    alert_start: Option<Micros>,
    cfg: &WindowConfig,
) -> Option<Buckets> {
    let data = obs.data_span()?;
    let (mut start, mut end) = (data.start, data.end);
    if let Some(a) = alert_start {
        start = start.max(a - cfg.lookback);
        end = end.min(a + cfg.settle);
        if end <= start {
            // The alert lies outside the data: analyse the data as it is.
            start = data.start;
            end = data.end;
        }
    }
    let span_s = ((end - start) as f64 / 1e6).max(1.0);
    // The finest round width that keeps the count within a quarter above target.
    let ideal = span_s / (cfg.target_buckets.max(1) as f64 * 1.25);
    let width_s = NICE_WIDTHS_S
        .iter()
        .copied()
        .find(|&w| w as f64 >= ideal)
        .unwrap_or(3600);
    let width = width_s * 1_000_000;
    // Align the start to the width so buckets fall on round times.
    let start = start - start.rem_euclid(width);
    let count = (((end - start) + width - 1) / width).max(1) as usize;
    let end = start + width * count as Micros;
    let baseline_end = match cfg.baseline_end.or(alert_start.map(|a| a - cfg.guard)) {
        Some(cut) => {
            let i = if cut <= start {
                0
            } else {
                ((cut - start) / width) as usize
            };
            i.min(count)
        }
        None => count / 2,
    };
    // Keep at least a few buckets on each side when the window allows it.
    let baseline_end = baseline_end.clamp(count.min(3), count.saturating_sub(2).max(count.min(3)));
    Some(Buckets {
        window: TimeWindow { start, end },
        width,
        count,
        baseline_end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest::{AccessRecord, Sym};

    fn obs_between(a: Micros, b: Micros) -> Observations {
        let mut o = Observations::default();
        let s = o.names.intern("x");
        for t in [a, b] {
            o.access.push(AccessRecord {
                time: t,
                proxy: s,
                upstream: None,
                method: s,
                path: s,
                status: 200,
                duration: 1,
                bytes_sent: 0,
                user_agent: s,
                tls_version: None,
                client: Sym(0),
                response_flags: s,
            });
        }
        o
    }

    #[test]
    fn thirty_minutes_cut_into_thirty_second_buckets() {
        let t0 = 1_700_000_000_000_000 - 1_700_000_000_000_000 % 60_000_000;
        let o = obs_between(t0, t0 + 30 * 60_000_000 - 1);
        let b = choose_buckets(&o, Some(t0 + 20 * 60_000_000), &WindowConfig::default()).unwrap();
        assert_eq!(b.width, 30_000_000);
        assert_eq!(b.count, 60);
        assert_eq!(
            b.baseline_end, 30,
            "baseline ends five minutes before the alert"
        );
        assert_eq!(b.index(t0), Some(0));
        assert_eq!(b.index(t0 + 30 * 60_000_000), None);
    }

    #[test]
    fn alert_outside_data_falls_back_to_data_span() {
        let o = obs_between(1_000_000_000, 1_600_000_000);
        let b = choose_buckets(&o, Some(1), &WindowConfig::default()).unwrap();
        assert!(b.window.start <= 1_000_000_000 && b.window.end > 1_600_000_000);
        assert!(b.baseline_end >= 1 && b.baseline_end < b.count);
    }

    #[test]
    fn no_data_no_buckets() {
        assert!(choose_buckets(&Observations::default(), None, &WindowConfig::default()).is_none());
    }
}
