//! The heatmap as a small PNG for chat previews (Slack, Teams and Grafana unfurl images, not SVG):
//! cells only, in the page's colours, with a stripe marking the root cause (vermilion) and the
//! propagation path (white) on the left. No text, so nothing from the observed system is drawn.

use graph::Localisation;

use crate::colormap::viridis;
use crate::heatmap::{check_shape, SCORE_MAX};
use crate::WebError;

const TARGET_W: usize = 1000;
const STRIPE: usize = 6;
const ROOT: [u8; 3] = [0xd5, 0x5e, 0x00];
const PATH: [u8; 3] = [0xff, 0xff, 0xff];
const GAP: [u8; 3] = [0x11, 0x14, 0x18];
const NO_DATA: [u8; 3] = [0x80, 0x80, 0x80];

/// Encodes the all-modality heatmap of `loc` as a PNG.
pub fn heatmap_png(loc: &Localisation) -> Result<Vec<u8>, WebError> {
    let h = &loc.heatmap;
    check_shape(h.components.len(), h.buckets.len(), &h.scores)?;
    let (rows, cols) = (h.components.len(), h.buckets.len());
    let cw = (TARGET_W / cols).clamp(1, 16);
    let ch = (600 / rows).clamp(2, 16);
    let width = STRIPE + 2 + cols * cw;
    let height = rows * ch;
    let root = loc.ranking.first().map(|c| c.component.as_str());
    let mut pixels = vec![0u8; width * height * 3];
    for (r, name) in h.components.iter().enumerate() {
        let stripe = if Some(name.as_str()) == root {
            ROOT
        } else if loc.path.iter().any(|p| p == name) {
            PATH
        } else {
            GAP
        };
        let colours: Vec<[u8; 3]> = h.scores[r]
            .iter()
            .map(|&s| {
                if s.is_nan() {
                    NO_DATA
                } else {
                    let c = viridis(s / SCORE_MAX);
                    [c.0, c.1, c.2]
                }
            })
            .collect();
        for y in r * ch..(r + 1) * ch {
            let line = &mut pixels[y * width * 3..(y + 1) * width * 3];
            for x in 0..width {
                let c = if x < STRIPE {
                    stripe
                } else if x < STRIPE + 2 {
                    GAP
                } else {
                    colours[(x - STRIPE - 2) / cw]
                };
                line[x * 3..x * 3 + 3].copy_from_slice(&c);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width as u32, height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .map_err(|e| WebError::Draw(Box::new(e)))?;
        w.write_image_data(&pixels)
            .map_err(|e| WebError::Draw(Box::new(e)))?;
    }
    Ok(out)
}
