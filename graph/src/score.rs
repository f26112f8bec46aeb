//! Robust anomaly scores of one bucketed signal against its baseline.
//!
//! A level signal (CPU, mean latency) is scored as a robust z-score: distance
//! from the baseline's median in units of its scaled median absolute
//! deviation, with a floor on the scale so a flat baseline does not turn tiny
//! wiggles into huge scores. A rate signal (errors per request) is scored
//! against the baseline's pooled rate with a binomial standard error, so a
//! bucket with five requests and one error is not called an outage.

/// Which way a signal moves when something is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
    Both,
}

/// Scores are clipped here: past it, "how anomalous" stops carrying meaning.
pub const MAX_Z: f64 = 30.0;

/// Scale floors of a level signal: `scale >= abs` and `scale >= rel * |median|`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Floor {
    pub abs: f64,
    pub rel: f64,
}

/// The baseline of a level signal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Baseline {
    pub median: f64,
    pub scale: f64,
}

/// Median of the finite values (sorted in place); `None` when there are none.
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

/// Median and scaled MAD of the finite values of `base`, floored.
pub fn baseline(base: &[f64], floor: Floor) -> Option<Baseline> {
    let mut v: Vec<f64> = base.iter().copied().filter(|x| x.is_finite()).collect();
    if v.len() < 3 {
        return None;
    }
    let med = median(&mut v)?;
    let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
    let mad = median(&mut dev)?;
    let scale = (1.4826 * mad).max(floor.abs).max(floor.rel * med.abs());
    debug_assert!(scale > 0.0, "floors must make the scale positive");
    Some(Baseline { median: med, scale })
}

/// Robust z-scores of a level signal; NaN where the value is missing.
pub fn level_z(values: &[f64], base: Baseline, dir: Direction) -> Vec<f64> {
    values
        .iter()
        .map(|&x| {
            if !x.is_finite() {
                return f64::NAN;
            }
            directed((x - base.median) / base.scale, dir)
        })
        .collect()
}

/// Scores of a rate signal `num / den` per bucket against the baseline's pooled
/// rate, in binomial standard errors (plus `floor` as an absolute rate
/// tolerance; half of it also bounds the baseline rate from below, so a rate
/// never seen in the baseline is not taken as impossible). NaN where a bucket
/// has no denominator.
pub fn rate_z(
    num: &[f64],
    den: &[f64],
    baseline_end: usize,
    floor: f64,
    dir: Direction,
) -> (Vec<f64>, f64) {
    let (bn, bd) = num[..baseline_end]
        .iter()
        .zip(&den[..baseline_end])
        .fold((0.0, 0.0), |(a, b), (n, d)| (a + n, b + d));
    // With no baseline traffic, assume a small rate rather than none.
    let p0 = if bd > 0.0 { bn / bd } else { 0.0 };
    let p_var = p0.max(floor / 2.0) * (1.0 - p0).max(0.01);
    let z = num
        .iter()
        .zip(den)
        .map(|(&n, &d)| {
            if d <= 0.0 {
                return f64::NAN;
            }
            let p = n / d;
            // Half an event more or less is always possible: with few requests a
            // single error must not read as a high rate.
            let se = (p_var / d + floor * floor + 0.25 / (d * d)).sqrt();
            directed((p - p0) / se, dir)
        })
        .collect();
    (z, p0)
}

/// The score of the rate pooled over buckets `[from, len)` against the
/// baseline `[0, baseline_end)`, as [`rate_z`] scores one bucket.
pub fn pooled_rate_z(
    num: &[f64],
    den: &[f64],
    baseline_end: usize,
    from: usize,
    floor: f64,
    dir: Direction,
) -> f64 {
    let pooled_num = [
        num[..baseline_end].iter().sum::<f64>(),
        num[from..].iter().sum(),
    ];
    let pooled_den = [
        den[..baseline_end].iter().sum::<f64>(),
        den[from..].iter().sum(),
    ];
    let (z, _) = rate_z(&pooled_num, &pooled_den, 1, floor, dir);
    if z[1].is_finite() {
        z[1]
    } else {
        0.0
    }
}

/// The centre and spread of per-request values (log ratios) in the baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleStats {
    pub center: f64,
    pub spread: f64,
}

/// Median and scaled MAD of baseline samples (at least five), the spread
/// floored at `min_spread`.
pub fn sample_stats(base: &mut [f64], min_spread: f64) -> Option<SampleStats> {
    if base.len() < 5 {
        return None;
    }
    let center = median(base)?;
    let mut dev: Vec<f64> = base.iter().map(|x| (x - center).abs()).collect();
    let spread = (1.4826 * median(&mut dev)?).max(min_spread);
    Some(SampleStats { center, spread })
}

/// Scores of bucket means of per-request values against the baseline's
/// samples: the mean of `n` requests is judged with the standard error
/// `spread / sqrt(n)`, plus `floor` as the smallest change that matters. A
/// bucket of three slow requests is weak evidence; three hundred are not.
pub fn samples_z(sum: &[f64], n: &[f64], st: SampleStats, floor: f64, dir: Direction) -> Vec<f64> {
    sum.iter()
        .zip(n)
        .map(|(&s, &k)| {
            if k <= 0.0 {
                return f64::NAN;
            }
            let se = (st.spread * st.spread / k + floor * floor).sqrt();
            directed((s / k - st.center) / se, dir)
        })
        .collect()
}

/// [`samples_z`] of all requests in buckets `[from, len)` taken together.
pub fn pooled_samples_z(
    sum: &[f64],
    n: &[f64],
    from: usize,
    st: SampleStats,
    floor: f64,
    dir: Direction,
) -> f64 {
    let s: f64 = sum[from..].iter().sum();
    let k: f64 = n[from..].iter().sum();
    let z = samples_z(&[s], &[k], st, floor, dir)[0];
    if z.is_finite() {
        z
    } else {
        0.0
    }
}

fn directed(z: f64, dir: Direction) -> f64 {
    let z = match dir {
        Direction::Up => z,
        Direction::Down => -z,
        Direction::Both => z.abs(),
    };
    z.clamp(0.0, MAX_Z)
}

/// The level an anomaly holds over the analysed buckets: the value that a
/// quarter of them reach. A spike shorter than a quarter of the analysed time
/// does not carry it; a fault that lasts does.
pub fn sustained(z: &[f64]) -> f64 {
    let mut v: Vec<f64> = z.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| b.total_cmp(a));
    let k = (v.len() as f64 * 0.25).floor() as usize;
    v[k.min(v.len() - 1)]
}

/// The first analysed bucket from which the score stays above `threshold` for
/// two buckets running (or the last bucket, if only it is above).
pub fn onset(z: &[f64], threshold: f64) -> Option<usize> {
    let above = |i: usize| z.get(i).is_some_and(|x| *x > threshold);
    (0..z.len()).find(|&i| above(i) && (i + 1 == z.len() || above(i + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn flat_baseline_uses_floor() {
        let b = baseline(&[1.0, 1.0, 1.0, 1.0], Floor { abs: 0.0, rel: 0.1 }).unwrap();
        assert_eq!(b.median, 1.0);
        assert!((b.scale - 0.1).abs() < 1e-12);
        let z = level_z(&[1.0, 1.5, 0.5, f64::NAN], b, Direction::Up);
        assert_eq!(z[0], 0.0);
        assert!((z[1] - 5.0).abs() < 1e-9);
        assert_eq!(z[2], 0.0, "a drop is not an anomaly of an up-signal");
        assert!(z[3].is_nan());
    }

    #[test]
    fn rate_needs_volume() {
        let num = [0.0, 0.0, 0.0, 0.0, 1.0, 50.0];
        let den = [100.0, 100.0, 100.0, 100.0, 5.0, 100.0];
        let (z, p0) = rate_z(&num, &den, 4, 0.02, Direction::Up);
        assert_eq!(p0, 0.0);
        assert!(
            z[4] < 5.0,
            "one error in five requests is weak evidence: {}",
            z[4]
        );
        assert!(z[5] > 10.0, "half the requests failing is strong: {}", z[5]);
    }

    #[test]
    fn pooling_gives_quiet_components_their_due() {
        let den = [5.0; 20];
        let mut num = [0.0; 20];
        for x in num.iter_mut().skip(10) {
            *x = 2.0;
        }
        let (z, _) = rate_z(&num, &den, 8, 0.02, Direction::Up);
        let pooled = pooled_rate_z(&num, &den, 8, 10, 0.02, Direction::Up);
        assert!(
            pooled > 1.5 * z[12],
            "pooled {pooled} vs one bucket {}",
            z[12]
        );
    }

    #[test]
    fn sample_means_weigh_their_volume() {
        let mut base: Vec<f64> = (0..50).map(|i| (i % 5) as f64 * 0.1 - 0.2).collect();
        let st = sample_stats(&mut base, 0.05).unwrap();
        assert!(st.center.abs() < 1e-9);
        // The same mean shift, from 2 requests and from 200.
        let z = samples_z(&[1.0, 100.0], &[2.0, 200.0], st, 0.1, Direction::Up);
        assert!(z[1] > 1.3 * z[0], "{z:?}");
        assert!(samples_z(&[0.0], &[0.0], st, 0.1, Direction::Up)[0].is_nan());
    }

    #[test]
    fn sustained_ignores_short_spikes() {
        let mut z = vec![0.0; 20];
        z[3] = 30.0;
        z[4] = 30.0;
        assert_eq!(sustained(&z), 0.0);
        for x in z.iter_mut().skip(8) {
            *x = 10.0;
        }
        assert_eq!(sustained(&z), 10.0);
    }

    #[test]
    fn onset_needs_two_buckets() {
        assert_eq!(onset(&[0.0, 9.0, 0.0, 9.0, 9.0], 3.0), Some(3));
        assert_eq!(onset(&[0.0, 0.0], 3.0), None);
    }

    proptest! {
        #[test]
        fn scores_are_bounded(values in proptest::collection::vec(-1e12f64..1e12, 0..50)) {
            if let Some(b) = baseline(&values, Floor { abs: 1e-9, rel: 0.05 }) {
                for z in level_z(&values, b, Direction::Both) {
                    prop_assert!((0.0..=MAX_Z).contains(&z));
                }
            }
            let den: Vec<f64> = values.iter().map(|x| x.abs()).collect();
            let num: Vec<f64> = den.iter().map(|d| d / 2.0).collect();
            let (z, _) = rate_z(&num, &den, values.len() / 2, 0.02, Direction::Up);
            for z in z.into_iter().filter(|z| z.is_finite()) {
                prop_assert!((0.0..=MAX_Z).contains(&z));
            }
        }
    }
}
