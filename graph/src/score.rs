//! Scores on one scale.
//!
//! Every signal, whatever its unit, is scored the same way: the change from
//! the baseline divided by the root-sum-square of its standard error and the
//! least change that matters (the signal's *floor*),
//!
//! ```text
//! z = Δ / √(se² + floor²)
//! ```
//!
//! so a score counts standard errors of a change that is large enough to
//! matter: a small but very certain change (1% slower over a million
//! requests) scores no more than its multiple of the floor, and a large
//! change seen in three requests scores no more than its noise allows. The
//! three kinds of test differ only in how `se` is known:
//! - a *level* (CPU, memory): the baseline's robust spread (1.4826 × MAD) and
//!   the standard error of its median; with fewer than three baseline points
//!   the spread is unknown and only the floor judges (a *thin* baseline);
//! - a *rate* (errors among requests): the baseline's rate is a Beta
//!   posterior (a weak prior that healthy services fail rarely, updated by
//!   the baseline's counts), and the analysed counts are judged by their
//!   predictive beta-binomial tail, so that a rate that starts at zero is
//!   judged by the request counts, and a thin baseline by the prior;
//! - *per-request* values (log ratios to the operation's typical): the
//!   median of a bucket's requests, whose standard error is `√(π/2) ·
//!   spread / √n`, plus the error of the baseline's own centre.
//!
//! Scores are not clipped: two suspects never tie because both hit a ceiling.

use statrs::distribution::{ContinuousCDF, Normal};

use crate::params::Floor;
pub use crate::signal::Direction;

/// The efficiency loss of a median against a mean (π/2): the variance of the
/// median of `n` values is about `π/2 · σ²/n`.
const MEDIAN_VARIANCE: f64 = std::f64::consts::FRAC_PI_2;
/// 1.4826 × MAD estimates a normal distribution's standard deviation.
const MAD_TO_SD: f64 = 1.4826;

/// Median of the values (sorted in place); `None` when there are none.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// 1.4826 × the median absolute deviation from `center`.
fn robust_spread(values: &[f64], center: f64) -> f64 {
    let mut dev: Vec<f64> = values.iter().map(|x| (x - center).abs()).collect();
    median(&mut dev).map_or(0.0, |m| MAD_TO_SD * m)
}

fn directed(z: f64, dir: Direction) -> f64 {
    let z = match dir {
        Direction::Up => z,
        Direction::Down => -z,
        Direction::Both => z.abs(),
    };
    if z.is_nan() {
        0.0
    } else {
        z.max(0.0)
    }
}

/// `Δ / √(se² + floor²)`.
pub fn floored(delta: f64, se: f64, floor: f64) -> f64 {
    let d = (se * se + floor * floor).sqrt();
    if d > 0.0 {
        delta / d
    } else if delta > 0.0 {
        f64::MAX
    } else {
        0.0
    }
}

/// The baseline of a level signal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LevelBase {
    pub median: f64,
    /// The baseline's robust spread; 0 when it has fewer than three points.
    pub spread: f64,
    /// The least change that matters at this median.
    pub floor: f64,
    /// Baseline points.
    pub n: usize,
}

impl LevelBase {
    /// Fewer than three baseline points: no spread of its own to go by.
    pub fn thin(&self) -> bool {
        self.n < 3
    }

    /// The standard error of a new value's distance from the median.
    fn se(&self) -> f64 {
        let n = self.n.max(1) as f64;
        self.spread * (1.0 + MEDIAN_VARIANCE / n).sqrt()
    }

    pub fn z(&self, x: f64, dir: Direction) -> f64 {
        if !x.is_finite() {
            return f64::NAN;
        }
        directed(floored(x - self.median, self.se(), self.floor), dir)
    }
}

/// The baseline of the finite values of `base`; `None` when there are none.
pub fn level_baseline(base: &[f64], floor: Floor) -> Option<LevelBase> {
    let mut v: Vec<f64> = base.iter().copied().filter(|x| x.is_finite()).collect();
    let med = median(&mut v)?;
    let spread = if v.len() >= 3 {
        robust_spread(&v, med)
    } else {
        0.0
    };
    let floor = floor.at(med).max(f64::MIN_POSITIVE);
    Some(LevelBase {
        median: med,
        spread,
        floor,
        n: v.len(),
    })
}

/// Scores of a level signal; NaN where the value is missing.
pub fn level_z(values: &[f64], base: &LevelBase, dir: Direction) -> Vec<f64> {
    values.iter().map(|&x| base.z(x, dir)).collect()
}

fn standard_normal() -> Normal {
    Normal::standard()
}

/// The z of a one-sided tail probability `p` (`Φ⁻¹(1 − p)`), from the
/// lower tail for precision.
fn z_of_tail(p: f64) -> f64 {
    if !(p > 0.0) {
        return f64::INFINITY;
    }
    if p >= 1.0 {
        return f64::NEG_INFINITY;
    }
    -standard_normal().inverse_cdf(p)
}

/// What is believed of a rate before the baseline is seen: a Beta prior of
/// mean `mean` worth `trials` observations, but never more than the
/// baseline's own. A thin baseline leans on it (a healthy service fails
/// rarely); a baseline of many more trials than `trials` speaks for itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatePrior {
    pub mean: f64,
    pub trials: f64,
}

/// `P(X ≥ x)` for `X ~ BetaBinomial(n, a, b)`, as a z: exact for small
/// counts, the normal approximation (with continuity correction) where the
/// variance is large enough for it.
fn beta_binomial_upper_z(x: f64, n: f64, a: f64, b: f64) -> f64 {
    let n = n.round().max(0.0);
    let x = x.round().clamp(0.0, n);
    if x <= 0.0 {
        return f64::NEG_INFINITY;
    }
    let ab = a + b;
    let p = a / ab;
    let mean = n * p;
    let var = n * p * (1.0 - p) * (ab + n) / (ab + 1.0);
    if var >= 25.0 {
        return (x - 0.5 - mean) / var.sqrt();
    }
    use statrs::function::gamma::ln_gamma;
    let ln_beta = |u: f64, v: f64| ln_gamma(u) + ln_gamma(v) - ln_gamma(u + v);
    let ln_choose = |m: f64, k: f64| ln_gamma(m + 1.0) - ln_gamma(k + 1.0) - ln_gamma(m - k + 1.0);
    // pmf(x), then the ratio pmf(k + 1) / pmf(k) up the tail.
    let mut ln_pmf = ln_choose(n, x) + ln_beta(x + a, n - x + b) - ln_beta(a, b);
    let mut tail = 0.0f64;
    let mut k = x;
    let first = ln_pmf;
    // A thin prior has a tail that falls off like a power of k, so the sum
    // is bounded: past MAX_TERMS terms (far more than any bucket's count of
    // requests needs) the rest is taken as geometric at the last ratio.
    const MAX_TERMS: u32 = 100_000;
    let mut terms = 0u32;
    loop {
        let term = (ln_pmf - first).exp();
        tail += term;
        if k >= n || term < 1e-17 * tail {
            break;
        }
        let ratio = (n - k) * (k + a) / ((k + 1.0) * (n - k - 1.0 + b));
        terms += 1;
        if terms >= MAX_TERMS || !ratio.is_finite() {
            let r = if ratio.is_nan() {
                0.0
            } else {
                ratio.clamp(0.0, 1.0 - 1e-9)
            };
            tail += term * r / (1.0 - r);
            break;
        }
        ln_pmf += ratio.ln();
        k += 1.0;
    }
    let ln_tail = first + tail.ln();
    if ln_tail > -700.0 {
        z_of_tail(ln_tail.exp().min(1.0))
    } else {
        // Past f64's range: the asymptotic z of a tail of e^ln_tail.
        (-2.0 * ln_tail).sqrt()
    }
}

/// The score of `x` events in `n` trials against the baseline's `x0` in
/// `n0` and the prior, with `floor` as the least change of the share that
/// matters: the baseline's rate is known as a Beta posterior, and `x` is
/// judged by its predictive (beta-binomial) tail. NaN when `n` is 0.
pub fn rate_test(
    x: f64,
    n: f64,
    x0: f64,
    n0: f64,
    prior: RatePrior,
    floor: f64,
    dir: Direction,
) -> f64 {
    if !(n > 0.0) {
        return f64::NAN;
    }
    // The prior fills in what a thin baseline cannot say; it never counts
    // for more than the baseline's own trials, so it cannot overrule what
    // the baseline does say (a quiet component that failed 6 of 14 times
    // then is not judged against a healthy service's rate).
    let trials = prior.trials.min(n0.max(1.0));
    let mean = prior.mean.clamp(1e-6, 1.0 - 1e-6);
    let a = mean * trials + x0.max(0.0);
    let b = (1.0 - mean) * trials + (n0 - x0).max(0.0);
    let base = a / (a + b);
    let one = |up: bool| -> f64 {
        let (stat, d) = if up {
            (beta_binomial_upper_z(x, n, a, b), x / n - base)
        } else {
            // Fewer events than expected: the same test on the non-events.
            (beta_binomial_upper_z(n - x, n, b, a), base - x / n)
        };
        if !(d > 0.0) || !(stat > 0.0) {
            return 0.0;
        }
        // As `floored` for a statistic known only as a z: 1/z² adds up.
        let by_floor = if floor > 0.0 {
            d / floor
        } else {
            f64::INFINITY
        };
        1.0 / (1.0 / (stat * stat) + 1.0 / (by_floor * by_floor)).sqrt()
    };
    match dir {
        Direction::Up => one(true),
        Direction::Down => one(false),
        Direction::Both => one(true).max(one(false)),
    }
}

/// Scores of a rate `num / den` per bucket against the pooled baseline
/// `[0, baseline_end)`, and the baseline's rate. NaN where a bucket has no trials.
pub fn rate_z(
    num: &[f64],
    den: &[f64],
    baseline_end: usize,
    prior: RatePrior,
    floor: f64,
    dir: Direction,
) -> (Vec<f64>, f64) {
    let x0: f64 = num[..baseline_end].iter().sum();
    let n0: f64 = den[..baseline_end].iter().sum();
    let p0 = if n0 > 0.0 { x0 / n0 } else { 0.0 };
    let z = num
        .iter()
        .zip(den)
        .map(|(&x, &n)| rate_test(x, n, x0, n0, prior, floor, dir))
        .collect();
    (z, p0)
}

/// The score of the rate pooled over buckets `[from, len)` against the baseline.
pub fn pooled_rate_z(
    num: &[f64],
    den: &[f64],
    baseline_end: usize,
    from: usize,
    prior: RatePrior,
    floor: f64,
    dir: Direction,
) -> f64 {
    let x0: f64 = num[..baseline_end].iter().sum();
    let n0: f64 = den[..baseline_end].iter().sum();
    let x: f64 = num[from..].iter().sum();
    let n: f64 = den[from..].iter().sum();
    let z = rate_test(x, n, x0, n0, prior, floor, dir);
    if z.is_finite() {
        z
    } else {
        0.0
    }
}

/// The centre and spread of per-request values (log ratios) in the baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleStats {
    pub center: f64,
    pub spread: f64,
    /// Baseline requests behind them.
    pub n: usize,
}

/// Median and robust spread of baseline samples (at least `min`), the spread
/// at least `min_spread`.
pub fn sample_stats(base: &mut [f64], min: usize, min_spread: f64) -> Option<SampleStats> {
    if base.len() < min.max(1) {
        return None;
    }
    let center = median(base)?;
    let spread = robust_spread(base, center).max(min_spread);
    Some(SampleStats {
        center,
        spread,
        n: base.len(),
    })
}

impl SampleStats {
    /// The score of `k` requests whose median value is `median`: the
    /// median's standard error is `√(π/2) · spread / √k`, and the baseline's
    /// centre, a median of `n` requests, adds its own.
    pub fn z(&self, median: f64, k: usize, floor: f64, dir: Direction) -> f64 {
        if k == 0 {
            return f64::NAN;
        }
        let var = MEDIAN_VARIANCE
            * self.spread
            * self.spread
            * (1.0 / k as f64 + 1.0 / self.n.max(1) as f64);
        directed(floored(median - self.center, var.sqrt(), floor), dir)
    }
}

/// The median of per-request values (reordered in place); NaN when empty.
pub fn median_f32(values: &mut [f32]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    let m = f64::from(*m);
    if values.len() % 2 == 1 {
        m
    } else {
        // The largest of the lower half.
        let lo = values[..mid]
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        (m + f64::from(lo)) / 2.0
    }
}

/// Scores of each bucket's requests by their median against the baseline's
/// requests: the median is what most requests did, so a handful of
/// stragglers (a GC pause, a retransmit) cannot carry a bucket, while a
/// shift of most requests keeps its full size.
pub fn median_z(values: &[Vec<f32>], st: SampleStats, floor: f64, dir: Direction) -> Vec<f64> {
    values
        .iter()
        .map(|v| {
            let mut v = v.clone();
            st.z(median_f32(&mut v), v.len(), floor, dir)
        })
        .collect()
}

/// [`median_z`] of all requests in buckets `[from, len)` taken together.
pub fn pooled_median_z(
    values: &[Vec<f32>],
    from: usize,
    st: SampleStats,
    floor: f64,
    dir: Direction,
) -> f64 {
    let mut all: Vec<f32> = values[from..].iter().flatten().copied().collect();
    let z = st.z(median_f32(&mut all), all.len(), floor, dir);
    if z.is_finite() {
        z
    } else {
        0.0
    }
}

/// The level an anomaly holds over the analysed buckets: the value that
/// `share` of them reach. A spike shorter than that does not carry it.
///
/// Levels are measured in every bucket that has a sample, so only those
/// count (`empty_is_quiet = false`). Requests and events are counted where
/// they happen: a bucket without any says nothing is wrong there
/// (`empty_is_quiet = true`), so that two busy buckets of a quiet component
/// do not pass for a lasting change; such a component is judged by its
/// requests pooled instead.
pub fn sustained(z: &[f64], share: f64, empty_is_quiet: bool) -> f64 {
    let mut v: Vec<f64> = z
        .iter()
        .copied()
        .filter_map(|x| {
            if x.is_finite() {
                Some(x)
            } else if empty_is_quiet {
                Some(0.0)
            } else {
                None
            }
        })
        .collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| b.total_cmp(a));
    let k = (v.len() as f64 * share).floor() as usize;
    v[k.min(v.len() - 1)]
}

/// Where a pooled test starts: at the onset, but early enough to cover
/// `share` of the analysed buckets `[baseline_end, count)`, so that a run
/// at the very end is judged with the period before it (a cause lasts; see
/// [`sustained`]).
pub fn pool_from(onset: Option<usize>, baseline_end: usize, count: usize, share: f64) -> usize {
    let analysed = count.saturating_sub(baseline_end);
    let least = (analysed as f64 * share).ceil() as usize;
    let latest = count.saturating_sub(least).max(baseline_end);
    onset.unwrap_or(baseline_end).clamp(baseline_end, latest)
}

/// The first bucket from which the score stays above `threshold` for two
/// buckets with data running. One bucket alone is a spike, even the last.
pub fn onset(z: &[f64], threshold: f64) -> Option<usize> {
    let finite: Vec<usize> = (0..z.len()).filter(|&i| z[i].is_finite()).collect();
    let above = |j: usize| finite.get(j).is_some_and(|&i| z[i] > threshold);
    (0..finite.len())
        .find(|&j| above(j) && above(j + 1))
        .map(|j| finite[j])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The engine's default prior for an error share (`Params::rate_floor`,
    /// `Params::rate_prior_trials`).
    const PRIOR: RatePrior = RatePrior {
        mean: 0.005,
        trials: 100.0,
    };

    #[test]
    fn a_flat_baseline_is_judged_by_its_floor() {
        let b = level_baseline(&[1.0, 1.0, 1.0, 1.0], Floor::new(0.0, 0.1)).unwrap();
        assert_eq!(b.median, 1.0);
        assert_eq!(b.spread, 0.0);
        let z = level_z(&[1.0, 1.5, 0.5, f64::NAN], &b, Direction::Up);
        assert_eq!(z[0], 0.0);
        assert!((z[1] - 5.0).abs() < 1e-9, "{}", z[1]);
        assert_eq!(z[2], 0.0, "a drop is not an anomaly of an up-signal");
        assert!(z[3].is_nan());
    }

    #[test]
    fn a_thin_baseline_still_judges_a_large_move() {
        // One 5-minute point of baseline: the floor alone judges.
        let b = level_baseline(&[0.20], Floor::new(0.05, 0.05)).unwrap();
        assert!(b.thin());
        assert!(b.z(0.90, Direction::Up) > 10.0);
        assert!(b.z(0.22, Direction::Up) < 1.0);
    }

    #[test]
    fn the_floor_caps_a_certain_but_tiny_change() {
        // A million requests, 1% slower: certain, but far below the floor.
        let st = SampleStats {
            center: 0.0,
            spread: 0.3,
            n: 1_000_000,
        };
        let z = st.z(0.01, 1_000_000, 0.14, Direction::Up);
        assert!(z < 0.1, "{z}");
    }

    #[test]
    fn stragglers_do_not_carry_a_bucket_but_a_shift_does() {
        let st = SampleStats {
            center: 0.0,
            spread: 0.2,
            n: 200,
        };
        let mut stragglers = vec![0.0f32; 95];
        stragglers.extend([5.0f32; 5]);
        let shifted = vec![2.0f32; 100];
        let z = median_z(&[stragglers, shifted], st, 0.14, Direction::Up);
        assert!(z[0] < 1.0, "{z:?}");
        assert!(z[1] > 10.0, "{z:?}");
    }

    #[test]
    fn a_rate_that_starts_at_zero_counts() {
        // 0 of 1000 before; 40 of 1000 now (4%): strong.
        let z = rate_test(40.0, 1000.0, 0.0, 1000.0, PRIOR, 0.005, Direction::Up);
        assert!(z > 5.0, "{z}");
        // From exactly 0 to 4% of 0.6 requests/s, 5-minute points: 180
        // requests before, 540 after.
        let z = rate_test(21.0, 540.0, 0.0, 180.0, PRIOR, 0.005, Direction::Up);
        assert!(z > 3.0, "{z}");
        // One error in five requests after none in a thousand: weak.
        let z1 = rate_test(1.0, 5.0, 0.0, 1000.0, PRIOR, 0.005, Direction::Up);
        assert!(z1 < 3.0, "{z1}");
        // The same share as the baseline's: nothing worth a look (the prior
        // pulls the baseline's 5% a little towards healthy).
        let same = rate_test(5.0, 100.0, 50.0, 1000.0, PRIOR, 0.005, Direction::Up);
        assert!(same < 0.5, "{same}");
    }

    #[test]
    fn a_thin_baseline_leans_on_the_prior() {
        // A brand-new error in 20 of 50 lines, after 0 of 14 baseline lines:
        // significant, where the two samples alone say little.
        let z = rate_test(20.0, 50.0, 0.0, 14.0, PRIOR, 0.002, Direction::Up);
        assert!(z > 4.0, "{z}");
        let no_prior = RatePrior {
            mean: 0.002,
            trials: 0.0,
        };
        let z0 = rate_test(20.0, 50.0, 0.0, 14.0, no_prior, 0.002, Direction::Up);
        assert!(z > z0 + 1.0, "{z} vs {z0} without the prior");
        // The baseline already failed as often: nothing new, however
        // healthy the prior believes services are.
        let z = rate_test(20.0, 50.0, 6.0, 14.0, PRIOR, 0.002, Direction::Up);
        assert!(z < 2.0, "{z}");
    }

    #[test]
    fn beta_binomial_tail_matches_its_normal_limit() {
        // Exact and approximate agree where both hold.
        let exact = beta_binomial_upper_z(40.0, 400.0, 20.0, 380.0);
        let mean = 400.0 * 0.05;
        let var = 400.0 * 0.05 * 0.95 * (400.0 + 400.0) / 401.0;
        let approx = (40.0 - 0.5 - mean) / f64::sqrt(var);
        assert!((exact - approx).abs() < 0.3, "{exact} vs {approx}");
    }

    #[test]
    fn rates_weigh_their_volume() {
        let num = [0.0, 0.0, 0.0, 0.0, 1.0, 50.0];
        let den = [100.0, 100.0, 100.0, 100.0, 5.0, 100.0];
        let (z, p0) = rate_z(&num, &den, 4, PRIOR, 0.02, Direction::Up);
        assert_eq!(p0, 0.0);
        assert!(z[4] < 3.0, "one error in five requests is weak: {}", z[4]);
        assert!(z[5] > 10.0, "half the requests failing is strong: {}", z[5]);
    }

    #[test]
    fn pooling_gives_quiet_components_their_due() {
        let den = [5.0; 20];
        let mut num = [0.0; 20];
        for x in num.iter_mut().skip(10) {
            *x = 2.0;
        }
        let (z, _) = rate_z(&num, &den, 8, PRIOR, 0.02, Direction::Up);
        let pooled = pooled_rate_z(&num, &den, 8, 10, PRIOR, 0.02, Direction::Up);
        assert!(
            pooled > 1.5 * z[12],
            "pooled {pooled} vs one bucket {}",
            z[12]
        );
    }

    #[test]
    fn sample_medians_weigh_their_volume() {
        let mut base: Vec<f64> = (0..50).map(|i| (i % 5) as f64 * 0.1 - 0.2).collect();
        let st = sample_stats(&mut base, 5, 0.05).unwrap();
        assert!(st.center.abs() < 1e-9);
        let z = median_z(&[vec![0.5; 2], vec![0.5; 200]], st, 0.1, Direction::Up);
        assert!(z[1] > 1.3 * z[0], "{z:?}");
        assert!(median_z(&[vec![]], st, 0.1, Direction::Up)[0].is_nan());
        assert_eq!(median_f32(&mut [3.0, 1.0, 2.0, 4.0]), 2.5);
    }

    #[test]
    fn sustained_ignores_short_spikes() {
        let mut z = vec![0.0; 20];
        z[3] = 30.0;
        z[4] = 30.0;
        assert_eq!(sustained(&z, 0.25, false), 0.0);
        for x in z.iter_mut().skip(8) {
            *x = 10.0;
        }
        assert_eq!(sustained(&z, 0.25, false), 10.0);
        // Two busy buckets among empty ones: a spike, not a lasting change.
        let mut sparse = vec![f64::NAN; 20];
        sparse[5] = 9.0;
        sparse[6] = 9.0;
        assert_eq!(sustained(&sparse, 0.25, true), 0.0);
        assert_eq!(sustained(&sparse, 0.25, false), 9.0);
    }

    #[test]
    fn pools_cover_a_quarter_at_least() {
        // 20 analysed buckets after 10 of baseline: at least the last 5.
        assert_eq!(pool_from(Some(29), 10, 30, 0.25), 25);
        assert_eq!(pool_from(Some(12), 10, 30, 0.25), 12);
        assert_eq!(pool_from(None, 10, 30, 0.25), 10);
    }

    #[test]
    fn onset_needs_two_buckets_with_data() {
        assert_eq!(onset(&[0.0, 9.0, 0.0, 9.0, 9.0], 3.0), Some(3));
        assert_eq!(onset(&[0.0, 9.0, f64::NAN, 9.0], 3.0), Some(1));
        assert_eq!(onset(&[0.0, 0.0], 3.0), None);
        assert_eq!(
            onset(&[0.0, 0.0, 9.0], 3.0),
            None,
            "the last bucket alone is a spike"
        );
    }

    #[test]
    fn scores_are_not_clipped() {
        let b = level_baseline(&[1.0, 1.1, 0.9], Floor::new(0.01, 0.0)).unwrap();
        let z = b.z(100.0, Direction::Up);
        assert!(z > 100.0, "{z}");
    }

    proptest! {
        #[test]
        fn scores_are_finite_and_non_negative(values in proptest::collection::vec(-1e12f64..1e12, 1..50)) {
            if let Some(b) = level_baseline(&values, Floor::new(1e-9, 0.05)) {
                for z in level_z(&values, &b, Direction::Both) {
                    prop_assert!(z.is_finite() && z >= 0.0);
                }
            }
            let den: Vec<f64> = values.iter().map(|x| x.abs().min(1e7)).collect();
            let num: Vec<f64> = den.iter().map(|d| (d / 2.0).floor()).collect();
            let (z, _) = rate_z(&num, &den, values.len() / 2, PRIOR, 0.02, Direction::Both);
            for z in z.into_iter().filter(|z| !z.is_nan()) {
                prop_assert!(z >= 0.0 && !z.is_nan());
            }
        }
    }
}
