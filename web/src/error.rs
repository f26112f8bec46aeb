//! The one error type of the crate.

/// Why a page or a picture could not be made.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// There is nothing to draw: no components or no buckets.
    #[error("heatmap has no components or no buckets")]
    EmptyHeatmap,
    /// `scores` (or a per-modality matrix) does not have one row per component.
    #[error("heatmap has {rows} score rows for {components} components")]
    HeatmapRows { rows: usize, components: usize },
    /// A row of the matrix does not have one cell per bucket.
    #[error("heatmap row {row} has {cells} cells for {buckets} buckets")]
    HeatmapRowLength {
        row: usize,
        cells: usize,
        buckets: usize,
    },
    /// The matrix is larger than one page can usefully show.
    #[error("heatmap of {cells} cells is larger than the limit of {limit}")]
    HeatmapTooLarge { cells: usize, limit: usize },
    /// `by_modality` has no matrix under this name.
    #[error("heatmap has no matrix for modality {0:?}")]
    UnknownModality(String),
    /// The Jaeger base URL is not an absolute http(s) URL.
    #[error("jaeger base url {0:?} is not an absolute http or https url")]
    InvalidJaegerUrl(String),
    /// The plotting backend failed.
    #[error("drawing the heatmap failed")]
    Draw(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}
