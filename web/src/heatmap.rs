//! The anomaly heatmap as an inline SVG: components (rows) by time buckets (columns).
//!
//! Drawn with plotters' SVG backend, which escapes the text it writes (`<`, `>`, `&`, `"`, `'`);
//! a test below keeps it honest. Each row is drawn as runs of equal colour over one background
//! rectangle, so a mostly normal 100 x 360 matrix costs a few hundred elements rather than 36 000.
//!
//! Text is drawn in a sentinel colour that is rewritten to `currentColor` afterwards, so that an
//! embedding page decides the text colour (dark or light theme) with CSS `color`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use graph::Heatmap;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::colormap::{Rgb, Scale};
use crate::text;
use crate::WebError;

/// Scores are robust z-scores; beyond 10 "very anomalous" is all a colour needs to say.
pub const SCORE_MAX: f64 = 10.0;

/// Above this many cells a picture stops being useful (and the SVG grows past tens of MB).
pub const MAX_CELLS: usize = 1_000_000;

const SCALE: Scale = Scale {
    max: SCORE_MAX,
    levels: 64,
};

/// Drawn as this colour, written out as `currentColor`. Not a colour the map can produce.
const INK: RGBColor = RGBColor(0x01, 0x02, 0x03);
const INK_ATTR: &str = "\"#010203\"";
/// Okabe-Ito vermilion: stands out from every viridis colour and from both page themes.
const ACCENT: RGBColor = RGBColor(0xd5, 0x5e, 0x00);
/// Cells without a score (NaN): a grey that viridis never reaches.
const NO_DATA: RGBColor = RGBColor(0x80, 0x80, 0x80);

const FONT_PX: f64 = 11.0;
/// plotters' SVG backend writes `font-size` as the style size divided by 1.24.
const FONT_SIZE: f64 = FONT_PX * 1.24;
/// A generous average advance of an 11 px sans-serif glyph; there are no font metrics here.
const CHAR_PX: f64 = 6.6;
const LABEL_MAX_CHARS: usize = 36;
const PAD: i32 = 8;
const MARK_W: i32 = 16;
const TOP: i32 = 24;
const AXIS_H: i32 = 38;
const LEGEND_H: i32 = 44;
const LEGEND_BAR_W: i32 = 128;
const LEGEND_MIN_W: i32 = 470;
/// How wide the matrix aims to be; cells are whole pixels, from 2 to 36 wide.
const TARGET_MATRIX_W: usize = 1080;
/// Time labels are at least this far apart.
const TICK_MIN_PX: i32 = 56;

/// Renders the combined-score heatmap.
///
/// `root` is the root-cause component (filled marker, bold label); `marked` are further rows to
/// flag, typically the propagation path (hollow marker). `divider_bucket` is the index of the
/// first analysed bucket: a vertical line is drawn at its left edge.
pub fn heatmap_svg(
    h: &Heatmap,
    marked: &[String],
    root: Option<&str>,
    divider_bucket: Option<usize>,
) -> Result<String, WebError> {
    render(
        &h.components,
        &h.buckets,
        &h.scores,
        marked,
        root,
        divider_bucket,
    )
}

/// Renders the heatmap of one modality from `h.by_modality`, laid out like [`heatmap_svg`].
pub fn modality_heatmap_svg(
    h: &Heatmap,
    modality: &str,
    marked: &[String],
    root: Option<&str>,
    divider_bucket: Option<usize>,
) -> Result<String, WebError> {
    let scores = h
        .by_modality
        .get(modality)
        .ok_or_else(|| WebError::UnknownModality(modality.to_owned()))?;
    render(
        &h.components,
        &h.buckets,
        scores,
        marked,
        root,
        divider_bucket,
    )
}

/// Where the cells of [`heatmap_svg`]'s picture of `h` are, in SVG pixels, so a script can map a
/// click to a component and bucket. `None` when there is nothing to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Geometry {
    pub x0: i32,
    pub y0: i32,
    pub cell_w: i32,
    pub cell_h: i32,
    pub width: u32,
    pub height: u32,
}

pub fn geometry(h: &Heatmap) -> Option<Geometry> {
    if h.components.is_empty() || h.buckets.is_empty() {
        return None;
    }
    let label_chars = h
        .components
        .iter()
        .map(|c| text::label(c, LABEL_MAX_CHARS).chars().count())
        .max()
        .unwrap_or(0);
    let l = Layout::new(h.components.len(), h.buckets.len(), label_chars);
    Some(Geometry {
        x0: l.x0,
        y0: l.y0,
        cell_w: l.cell_w,
        cell_h: l.cell_h,
        width: l.width,
        height: l.height,
    })
}

/// Checks that `scores` is `components` x `buckets` and not empty or huge.
pub(crate) fn check_shape(
    components: usize,
    buckets: usize,
    scores: &[Vec<f64>],
) -> Result<(), WebError> {
    if components == 0 || buckets == 0 {
        return Err(WebError::EmptyHeatmap);
    }
    let cells = components.saturating_mul(buckets);
    if cells > MAX_CELLS {
        return Err(WebError::HeatmapTooLarge {
            cells,
            limit: MAX_CELLS,
        });
    }
    if scores.len() != components {
        return Err(WebError::HeatmapRows {
            rows: scores.len(),
            components,
        });
    }
    if let Some((row, r)) = scores.iter().enumerate().find(|(_, r)| r.len() != buckets) {
        return Err(WebError::HeatmapRowLength {
            row,
            cells: r.len(),
            buckets,
        });
    }
    Ok(())
}

/// Pixel geometry of one picture.
struct Layout {
    cell_w: i32,
    cell_h: i32,
    /// Top-left corner of the matrix.
    x0: i32,
    y0: i32,
    /// Bottom-right corner of the matrix.
    x1: i32,
    y1: i32,
    width: u32,
    height: u32,
}

impl Layout {
    fn new(rows: usize, cols: usize, label_chars: usize) -> Layout {
        // Bounded by MAX_CELLS, so every product below fits an i32.
        let cell_w = (TARGET_MATRIX_W / cols).clamp(2, 36) as i32;
        let cell_h = match rows {
            0..=12 => 20,
            13..=40 => 16,
            _ => 13,
        };
        let label_w = ((label_chars.max(4) as f64) * CHAR_PX).ceil() as i32;
        let x0 = PAD + label_w + 4 + MARK_W;
        let y0 = TOP;
        let x1 = x0 + cell_w * cols as i32;
        let y1 = y0 + cell_h * rows as i32;
        let width = (x1 + PAD).max(x0 + LEGEND_MIN_W);
        let height = y1 + AXIS_H + LEGEND_H;
        Layout {
            cell_w,
            cell_h,
            x0,
            y0,
            x1,
            y1,
            width: width as u32,
            height: height as u32,
        }
    }

    fn col_x(&self, col: usize) -> i32 {
        self.x0 + self.cell_w * col as i32
    }

    fn row_y(&self, row: usize) -> i32 {
        self.y0 + self.cell_h * row as i32
    }
}

fn render(
    components: &[String],
    buckets: &[String],
    scores: &[Vec<f64>],
    marked: &[String],
    root: Option<&str>,
    divider_bucket: Option<usize>,
) -> Result<String, WebError> {
    check_shape(components.len(), buckets.len(), scores)?;
    let labels: Vec<String> = components
        .iter()
        .map(|c| text::label(c, LABEL_MAX_CHARS))
        .collect();
    let label_chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let layout = Layout::new(components.len(), buckets.len(), label_chars);
    let marked: HashSet<&str> = marked.iter().map(String::as_str).collect();
    let times: Vec<Option<DateTime<Utc>>> = buckets.iter().map(|b| text::instant(b)).collect();

    let mut svg = String::with_capacity(16 * 1024 + components.len() * 2048);
    {
        let area =
            SVGBackend::with_string(&mut svg, (layout.width, layout.height)).into_drawing_area();
        let mut pen = Pen { area: &area };
        pen.cells(&layout, scores)?;
        for (row, (name, label)) in components.iter().zip(&labels).enumerate() {
            let mark = if root == Some(name.as_str()) {
                Mark::Root
            } else if marked.contains(name.as_str()) {
                Mark::Path
            } else {
                Mark::None
            };
            pen.row_label(&layout, row, label, mark)?;
        }
        if let Some(col) = divider_bucket.filter(|&c| c <= buckets.len()) {
            pen.divider(&layout, col)?;
        }
        pen.time_axis(&layout, &times, buckets)?;
        let any_missing = scores.iter().flatten().any(|s| s.is_nan());
        pen.legend(&layout, any_missing)?;
        area.present().map_err(draw_error)?;
    }
    Ok(tidy(&svg))
}

/// Rewrites the ink sentinel to `currentColor` and drops attributes that only restate SVG
/// defaults (`opacity="1"`, `stroke="none"`), a third of the size of a dense picture.
///
/// Plain string replacement is sound here because plotters escapes `"` in text content, so a
/// pattern that includes a quote can only match inside a tag we wrote.
fn tidy(svg: &str) -> String {
    svg.replace(INK_ATTR, "\"currentColor\"")
        .replace(" opacity=\"1\"", "")
        .replace(" stroke=\"none\"", "")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Root,
    Path,
    None,
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> WebError {
    WebError::Draw(Box::new(e))
}

fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

fn font(weight: FontStyle) -> FontDesc<'static> {
    (FontFamily::SansSerif, FONT_SIZE, weight).into_font()
}

fn text_style(colour: RGBAColor, weight: FontStyle, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle {
        font: font(weight),
        color: colour.to_backend_color(),
        pos: Pos::new(h, v),
    }
}

/// The drawing steps, over one drawing area.
struct Pen<'p, 'a> {
    area: &'p Area<'a>,
}

impl Pen<'_, '_> {
    fn rect(
        &mut self,
        from: (i32, i32),
        to: (i32, i32),
        style: ShapeStyle,
    ) -> Result<(), WebError> {
        self.area
            .draw(&Rectangle::new([from, to], style))
            .map_err(draw_error)
    }

    fn line(
        &mut self,
        from: (i32, i32),
        to: (i32, i32),
        style: ShapeStyle,
    ) -> Result<(), WebError> {
        self.area
            .draw(&PathElement::new(vec![from, to], style))
            .map_err(draw_error)
    }

    fn text(&mut self, s: &str, at: (i32, i32), style: &TextStyle<'_>) -> Result<(), WebError> {
        self.area.draw_text(s, style, at).map_err(draw_error)
    }

    /// One background rectangle in the "normal" colour, then each row as runs of equal colour.
    fn cells(&mut self, l: &Layout, scores: &[Vec<f64>]) -> Result<(), WebError> {
        let normal = SCALE.level(0.0).expect("zero always has a level");
        self.rect(
            (l.x0, l.y0),
            (l.x1, l.y1),
            rgb(SCALE.colour(normal)).filled(),
        )?;
        for (row, cells) in scores.iter().enumerate() {
            let y = l.row_y(row);
            let mut start = 0;
            while start < cells.len() {
                let level = SCALE.level(cells[start]);
                let mut end = start + 1;
                while end < cells.len() && SCALE.level(cells[end]) == level {
                    end += 1;
                }
                let colour = match level {
                    Some(lv) if lv == normal => None,
                    Some(lv) => Some(rgb(SCALE.colour(lv))),
                    None => Some(NO_DATA),
                };
                if let Some(c) = colour {
                    self.rect(
                        (l.col_x(start), y),
                        (l.col_x(end), y + l.cell_h),
                        c.filled(),
                    )?;
                }
                start = end;
            }
        }
        Ok(())
    }

    /// The component name, right-aligned against the marker column, and its marker.
    fn row_label(
        &mut self,
        l: &Layout,
        row: usize,
        label: &str,
        mark: Mark,
    ) -> Result<(), WebError> {
        let cy = l.row_y(row) + l.cell_h / 2;
        let (colour, weight) = match mark {
            Mark::Root => (ACCENT.to_rgba(), FontStyle::Bold),
            Mark::Path => (INK.to_rgba(), FontStyle::Bold),
            Mark::None => (INK.mix(0.85), FontStyle::Normal),
        };
        let style = text_style(colour, weight, HPos::Right, VPos::Center);
        self.text(label, (l.x0 - MARK_W - 4, cy), &style)?;
        let centre = (l.x0 - MARK_W / 2 - 1, cy);
        match mark {
            Mark::Root => self
                .area
                .draw(&Circle::new(centre, 5, ACCENT.filled()))
                .map_err(draw_error),
            Mark::Path => self
                .area
                .draw(&Circle::new(centre, 4, INK.stroke_width(2)))
                .map_err(draw_error),
            Mark::None => Ok(()),
        }
    }

    /// A black line with a white core, visible on every colour of the map, and its caption.
    fn divider(&mut self, l: &Layout, col: usize) -> Result<(), WebError> {
        let x = l.col_x(col);
        self.line((x, l.y0 - 6), (x, l.y1 + 2), BLACK.stroke_width(3))?;
        self.line((x, l.y0 - 6), (x, l.y1 + 2), WHITE.stroke_width(1))?;
        let y = l.y0 - 8;
        if col > 0 {
            let style = text_style(INK.mix(0.75), FontStyle::Normal, HPos::Right, VPos::Bottom);
            self.text("← baseline", (x - 4, y), &style)?;
        }
        let style = text_style(INK.to_rgba(), FontStyle::Bold, HPos::Left, VPos::Bottom);
        self.text("analysed →", (x + 4, y), &style)
    }

    /// `HH:MM` under the columns, at round times when the buckets are RFC 3339.
    fn time_axis(
        &mut self,
        l: &Layout,
        times: &[Option<DateTime<Utc>>],
        raw: &[String],
    ) -> Result<(), WebError> {
        let tick = INK.mix(0.6);
        let style = text_style(INK.mix(0.85), FontStyle::Normal, HPos::Center, VPos::Top);
        for col in tick_columns(times, l.cell_w) {
            let x = l.col_x(col);
            self.line((x, l.y1), (x, l.y1 + 4), tick.stroke_width(1))?;
            let label = match times[col] {
                Some(t) => t.format("%H:%M").to_string(),
                None => text::label(&raw[col], 8),
            };
            self.text(&label, (x, l.y1 + 6), &style)?;
        }
        let first = times.iter().flatten().next();
        let last = times.iter().flatten().last();
        let title = match (first, last) {
            (Some(a), Some(b)) if a.date_naive() != b.date_naive() => format!(
                "time (UTC), {} to {}",
                a.format("%Y-%m-%d"),
                b.format("%Y-%m-%d")
            ),
            (Some(a), _) => format!("time (UTC), {}", a.format("%Y-%m-%d")),
            _ => "time bucket".to_owned(),
        };
        let style = text_style(INK.mix(0.7), FontStyle::Normal, HPos::Left, VPos::Top);
        self.text(&title, (l.x0, l.y1 + 22), &style)
    }

    /// The colour bar and what the markers mean.
    fn legend(&mut self, l: &Layout, any_missing: bool) -> Result<(), WebError> {
        let y = l.y1 + AXIS_H + 4;
        let bar_h = 10;
        let step = LEGEND_BAR_W / i32::from(SCALE.levels);
        for lv in 0..SCALE.levels {
            let x = l.x0 + step * i32::from(lv);
            self.rect(
                (x, y),
                (x + step, y + bar_h),
                rgb(SCALE.colour(lv)).filled(),
            )?;
        }
        let ticks = text_style(INK.mix(0.85), FontStyle::Normal, HPos::Center, VPos::Top);
        let bar_w = step * i32::from(SCALE.levels);
        for (frac, label) in [(0, "0"), (1, "5"), (2, "≥10")] {
            self.text(label, (l.x0 + bar_w * frac / 2, y + bar_h + 3), &ticks)?;
        }
        let caption = text_style(INK.mix(0.85), FontStyle::Normal, HPos::Left, VPos::Center);
        let mut x = l.x0 + bar_w + 10;
        let cy = y + bar_h / 2;
        self.text("anomaly score", (x, cy), &caption)?;
        x += 96;
        self.area
            .draw(&Circle::new((x, cy), 5, ACCENT.filled()))
            .map_err(draw_error)?;
        self.text("root cause", (x + 9, cy), &caption)?;
        x += 84;
        self.area
            .draw(&Circle::new((x, cy), 4, INK.stroke_width(2)))
            .map_err(draw_error)?;
        self.text("on path", (x + 9, cy), &caption)?;
        if any_missing {
            x += 66;
            self.rect((x - 5, cy - 5), (x + 5, cy + 5), NO_DATA.filled())?;
            self.text("no data", (x + 9, cy), &caption)?;
        }
        Ok(())
    }
}

/// Which columns get a time label: bucket starts at round multiples of a "nice" interval chosen
/// so that labels are at least [`TICK_MIN_PX`] apart; every k-th column when times are unknown.
fn tick_columns(times: &[Option<DateTime<Utc>>], cell_w: i32) -> Vec<usize> {
    const NICE_SECS: [i64; 12] = [
        60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    ];
    let every_k = |k: usize| -> Vec<usize> { (0..times.len()).step_by(k.max(1)).collect() };
    let k = (TICK_MIN_PX / cell_w.max(1) + 1) as usize;

    let bucket_secs = match (times.first(), times.get(1)) {
        (Some(Some(a)), Some(Some(b))) if b > a => (*b - *a).num_seconds(),
        _ => return every_k(k),
    };
    if bucket_secs <= 0 {
        return every_k(k);
    }
    let px_per_sec = f64::from(cell_w) / bucket_secs as f64;
    let Some(interval) = NICE_SECS
        .into_iter()
        .find(|&s| s >= bucket_secs && s as f64 * px_per_sec >= f64::from(TICK_MIN_PX))
    else {
        return every_k(k);
    };
    let cols: Vec<usize> = times
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.filter(|t| t.timestamp() % interval == 0).map(|_| i))
        .collect();
    if cols.is_empty() {
        return every_k(k);
    }
    cols
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heatmap(components: &[&str], buckets: usize) -> Heatmap {
        Heatmap {
            components: components.iter().map(|c| c.to_string()).collect(),
            buckets: (0..buckets)
                .map(|i| format!("2024-05-01T10:{:02}:00Z", i % 60))
                .collect(),
            scores: components
                .iter()
                .enumerate()
                .map(|(r, _)| (0..buckets).map(|b| (r * b) as f64 / 3.0).collect())
                .collect(),
            by_modality: Default::default(),
        }
    }

    #[test]
    fn plotters_escapes_text_and_sentinel_is_replaced() {
        let h = heatmap(&["<script>a&b\"c'</script>", "\"#010203\""], 4);
        let svg = heatmap_svg(&h, &[], None, Some(2)).unwrap();
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("&lt;script&gt;a&amp;b&quot;c&apos;&lt;/script&gt;"));
        assert!(svg.contains("&quot;#010203&quot;"), "text is not rewritten");
        assert!(!svg.contains(INK_ATTR));
        assert!(svg.contains("fill=\"currentColor\""));
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains(" opacity=\"1\""));
        assert!(!svg.contains(" stroke=\"none\""));
    }

    #[test]
    fn tidy_leaves_text_alone() {
        // As plotters writes a label that spells out the patterns.
        let svg = "<text opacity=\"1\" fill=\"#010203\">\n a &quot;#010203&quot; opacity=&quot;1&quot;\n</text>";
        assert_eq!(
            tidy(svg),
            "<text fill=\"currentColor\">\n a &quot;#010203&quot; opacity=&quot;1&quot;\n</text>"
        );
    }

    #[test]
    fn equal_neighbours_share_a_rectangle() {
        let mut h = heatmap(&["a", "b"], 10);
        h.scores = vec![vec![0.0; 10], vec![20.0; 10]];
        let svg = heatmap_svg(&h, &[], None, None).unwrap();
        // Background, one saturated run, 64 legend steps.
        assert_eq!(svg.matches("<rect").count(), 1 + 1 + 64, "{svg}");
    }

    #[test]
    fn nan_is_drawn_as_no_data() {
        let mut h = heatmap(&["a"], 3);
        h.scores = vec![vec![0.0, f64::NAN, 0.0]];
        let svg = heatmap_svg(&h, &[], None, None).unwrap();
        assert!(svg.contains("#808080"));
        assert!(svg.contains("no data"));
    }

    #[test]
    fn shape_errors() {
        let mut h = heatmap(&["a", "b"], 3);
        h.scores.pop();
        assert!(matches!(
            heatmap_svg(&h, &[], None, None),
            Err(WebError::HeatmapRows {
                rows: 1,
                components: 2
            })
        ));
        let mut h = heatmap(&["a", "b"], 3);
        h.scores[1].push(1.0);
        assert!(matches!(
            heatmap_svg(&h, &[], None, None),
            Err(WebError::HeatmapRowLength { row: 1, .. })
        ));
        let h = heatmap(&[], 3);
        assert!(matches!(
            heatmap_svg(&h, &[], None, None),
            Err(WebError::EmptyHeatmap)
        ));
        let h = heatmap(&["a"], 3);
        assert!(matches!(
            modality_heatmap_svg(&h, "logs", &[], None, None),
            Err(WebError::UnknownModality(m)) if m == "logs"
        ));
    }

    #[test]
    fn ticks_fall_on_round_minutes() {
        let times: Vec<_> = (0..60)
            .map(|i| text::instant(&format!("2024-05-01T10:{:02}:30Z", i)))
            .collect();
        // 1-minute buckets starting at :30 are never on a round 5 minutes: fall back to every k.
        let cols = tick_columns(&times, 18);
        assert_eq!(cols.first(), Some(&0));
        let times: Vec<_> = (0..60)
            .map(|i| text::instant(&format!("2024-05-01T10:{:02}:00Z", i)))
            .collect();
        let cols = tick_columns(&times, 18);
        // 18 px per minute: 5 minutes is the first interval at least 56 px wide.
        assert_eq!(cols, (0..60).step_by(5).collect::<Vec<_>>());
        let unknown = vec![None; 10];
        assert_eq!(tick_columns(&unknown, 30), vec![0, 2, 4, 6, 8]);
    }
}
