//! A colour-blind-safe sequential colour map for anomaly scores.
//!
//! The anchors are the nine evenly spaced colours of viridis (van der Walt and Smith, the
//! matplotlib default); between anchors we interpolate linearly in sRGB, which with nine
//! anchors stays within a few units of the full 256-entry table.

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rgb(pub u8, pub u8, pub u8);

/// viridis at 0, 1/8, ..., 1.
const ANCHORS: [Rgb; 9] = [
    Rgb(0x44, 0x01, 0x54),
    Rgb(0x47, 0x2d, 0x7b),
    Rgb(0x3b, 0x52, 0x8b),
    Rgb(0x2c, 0x72, 0x8e),
    Rgb(0x21, 0x90, 0x8c),
    Rgb(0x27, 0xad, 0x81),
    Rgb(0x5d, 0xc8, 0x63),
    Rgb(0xaa, 0xdc, 0x32),
    Rgb(0xfd, 0xe7, 0x25),
];

/// The colour at `t` in `[0, 1]`; values outside are clamped, NaN is treated as 0.
pub(crate) fn viridis(t: f64) -> Rgb {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let segments = (ANCHORS.len() - 1) as f64;
    let pos = t * segments;
    // The last anchor belongs to the last segment, so `i + 1` stays in bounds.
    let i = (pos.floor() as usize).min(ANCHORS.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (ANCHORS[i], ANCHORS[i + 1]);
    let lerp = |x: u8, y: u8| -> u8 {
        let v = f64::from(x) + (f64::from(y) - f64::from(x)) * f;
        v.round().clamp(0.0, 255.0) as u8
    };
    Rgb(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

/// A score mapped to one of `levels` discrete steps of the colour map.
///
/// The picture uses discrete steps so that equal neighbours can be drawn as one rectangle; with
/// 64 steps over a 0..10 scale a step is 0.16 of a z-score, below what the eye separates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Scale {
    pub(crate) max: f64,
    pub(crate) levels: u16,
}

impl Scale {
    /// The step of `score`, or `None` when there is no score (NaN).
    pub(crate) fn level(self, score: f64) -> Option<u16> {
        debug_assert!(self.levels >= 2 && self.max > 0.0);
        if score.is_nan() {
            return None;
        }
        let top = f64::from(self.levels - 1);
        // +inf saturates like any large score; negative scores are "normal".
        let t = (score / self.max).clamp(0.0, 1.0);
        Some((t * top).round() as u16)
    }

    /// The colour of a step.
    pub(crate) fn colour(self, level: u16) -> Rgb {
        viridis(f64::from(level) / f64::from(self.levels - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luminance(c: Rgb) -> f64 {
        let lin = |v: u8| {
            let s = f64::from(v) / 255.0;
            if s <= 0.04045 {
                s / 12.92
            } else {
                ((s + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(c.0) + 0.7152 * lin(c.1) + 0.0722 * lin(c.2)
    }

    #[test]
    fn endpoints_are_the_published_anchors() {
        assert_eq!(viridis(0.0), ANCHORS[0]);
        assert_eq!(viridis(1.0), ANCHORS[8]);
        assert_eq!(viridis(0.5), ANCHORS[4]);
        assert_eq!(viridis(-3.0), ANCHORS[0]);
        assert_eq!(viridis(7.0), ANCHORS[8]);
        assert_eq!(viridis(f64::NAN), ANCHORS[0]);
    }

    #[test]
    fn lightness_increases_monotonically() {
        // Anchors strictly; in between, rounding to u8 may cost a hair of luminance.
        for w in ANCHORS.windows(2) {
            assert!(luminance(w[1]) > luminance(w[0]));
        }
        let mut last = -1.0;
        for i in 0..=1024 {
            let l = luminance(viridis(f64::from(i) / 1024.0));
            assert!(l >= last - 1e-3, "luminance drops at step {i}");
            last = l;
        }
        // The 64 steps the heatmap uses are told apart by lightness alone.
        let scale = Scale {
            max: 10.0,
            levels: 64,
        };
        for lv in 1..scale.levels {
            assert!(
                luminance(scale.colour(lv)) > luminance(scale.colour(lv - 1)),
                "step {lv}"
            );
        }
    }

    #[test]
    fn scale_clips_and_keeps_nan_apart() {
        let s = Scale {
            max: 10.0,
            levels: 64,
        };
        assert_eq!(s.level(0.0), Some(0));
        assert_eq!(s.level(-2.0), Some(0));
        assert_eq!(s.level(10.0), Some(63));
        assert_eq!(s.level(250.0), Some(63));
        assert_eq!(s.level(f64::INFINITY), Some(63));
        assert_eq!(s.level(f64::NAN), None);
        assert!(s.level(5.0).unwrap() > s.level(4.0).unwrap());
        assert_eq!(s.colour(63), ANCHORS[8]);
    }
}
