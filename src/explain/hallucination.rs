//! ShearletX's hallucination score: how much edge structure an explanation shows that the
//! image does not have.
//!
//! `score = invented / image edges`, where an edge pixel of the explanation is *invented*
//! when no edge pixel of the image lies within one pixel of it: none among the 3x3 pixels
//! centred on it (Chebyshev distance at most 1, the pixel itself and its 8 neighbours; at
//! the image border only the neighbours inside the image count). This is the reference's
//! dilation of the image's edge map by a 3x3 square. Edges are CoShREM's ([`EdgeSystem`]):
//! measure above `threshold` (0.1) with minimum contrast 3 on grey levels 0..255. A score
//! above about 0.2 means the explanation invents structure.
//!
//! Grey levels: both the image and the explanation are `[channels, rows, cols]` with values
//! in `[0, 1]` (clamped there), averaged over channels and scaled to `floor(255 * mean)`,
//! whole levels as an 8-bit grey image has them. The reference casts those levels to a
//! *signed* byte, so levels 128..=255 wrap to -128..=-1 and bright regions become dark ones
//! with a false edge along the level-128 contour; [`GreyLevels::ReferenceInt8`] reproduces
//! that for comparison with published numbers, the default does not. The reference scales
//! mask explanations by their maximum before this (but not smooth-mask ones): that is the
//! caller's choice, made before calling.

use serde::{Deserialize, Serialize};

use super::edges::EdgeSystem;
use crate::LabError;

/// How `[0, 1]` pixels become the grey levels the detector sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GreyLevels {
    /// `floor(255 * mean)`, in `0..=255`.
    #[default]
    Floor,
    /// The same levels wrapped to a signed byte, as the reference code computes them.
    ReferenceInt8,
}

/// The score's parameters; the defaults are the paper's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HallucinationConfig {
    /// In grey levels (0..255).
    pub min_contrast: f64,
    /// An edge pixel has an edge measure strictly above this.
    pub threshold: f64,
    pub grey: GreyLevels,
}

impl Default for HallucinationConfig {
    fn default() -> Self {
        Self {
            min_contrast: 3.0,
            threshold: 0.1,
            grey: GreyLevels::Floor,
        }
    }
}

/// The counts behind a score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hallucination {
    pub image_edges: usize,
    pub explanation_edges: usize,
    /// Edge pixels of the explanation more than one pixel from every edge pixel of the image.
    pub invented_edges: usize,
}

impl Hallucination {
    /// `invented / image edges`; `None` when the image has no edge pixel at all.
    pub fn score(&self) -> Option<f64> {
        (self.image_edges > 0).then(|| self.invented_edges as f64 / self.image_edges as f64)
    }
}

/// The grey levels of a `[channels, rows, cols]` image with values in `[0, 1]`, row-major
/// `[rows, cols]`.
pub fn grey_levels<T: Copy + Into<f64>>(
    pixels: &[T],
    channels: usize,
    rows: usize,
    cols: usize,
    levels: GreyLevels,
) -> Result<Vec<f64>, LabError> {
    let plane = rows * cols;
    if channels == 0 || pixels.len() != channels * plane {
        return Err(LabError::Config(format!(
            "an image of {channels} channels of {rows}x{cols} pixels has {} values, not {}",
            channels * plane,
            pixels.len()
        )));
    }
    let mut grey = Vec::with_capacity(plane);
    for p in 0..plane {
        let mut sum = 0.0;
        for channel in 0..channels {
            let value: f64 = pixels[channel * plane + p].into();
            if !value.is_finite() {
                return Err(LabError::Config(
                    "the image has infinite or NaN pixels; its edges are undefined".into(),
                ));
            }
            sum += value.clamp(0.0, 1.0);
        }
        let level = (255.0 * (sum / channels as f64)).floor();
        grey.push(match levels {
            GreyLevels::ReferenceInt8 if level > 127.0 => level - 256.0,
            _ => level,
        });
    }
    Ok(grey)
}

/// The image's edge pixels and the pixels within one pixel of them, computed once and
/// compared with any number of explanations of the image.
#[derive(Clone, Debug)]
pub struct ImageEdges {
    rows: usize,
    cols: usize,
    edges: Vec<bool>,
    near: Vec<bool>,
}

impl ImageEdges {
    /// From an edge map, `[rows, cols]` row-major.
    pub fn from_edges(edges: Vec<bool>, rows: usize, cols: usize) -> Self {
        assert_eq!(
            edges.len(),
            rows * cols,
            "an edge map of {rows}x{cols} pixels"
        );
        let near = dilate(&edges, rows, cols);
        Self {
            rows,
            cols,
            edges,
            near,
        }
    }

    /// The edges of a `[channels, rows, cols]` image with values in `[0, 1]`.
    pub fn of_image<T: Copy + Into<f64>>(
        system: &EdgeSystem,
        image: &[T],
        channels: usize,
        config: &HallucinationConfig,
    ) -> Result<Self, LabError> {
        let edges = detect_edges(system, image, channels, config)?;
        Ok(Self::from_edges(edges, system.rows(), system.cols()))
    }

    pub fn edges(&self) -> &[bool] {
        &self.edges
    }

    /// Counts an explanation's edge map (`[rows, cols]`) against the image's.
    pub fn compare(&self, explanation_edges: &[bool]) -> Hallucination {
        assert_eq!(
            explanation_edges.len(),
            self.rows * self.cols,
            "an edge map of {}x{} pixels",
            self.rows,
            self.cols
        );
        let invented = explanation_edges
            .iter()
            .zip(&self.near)
            .filter(|&(&edge, &near)| edge && !near)
            .count();
        Hallucination {
            image_edges: self.edges.iter().filter(|&&e| e).count(),
            explanation_edges: explanation_edges.iter().filter(|&&e| e).count(),
            invented_edges: invented,
        }
    }

    /// The hallucination of an explanation (`[channels, rows, cols]`, values in `[0, 1]`).
    pub fn score<T: Copy + Into<f64>>(
        &self,
        system: &EdgeSystem,
        explanation: &[T],
        channels: usize,
        config: &HallucinationConfig,
    ) -> Result<Hallucination, LabError> {
        if (system.rows(), system.cols()) != (self.rows, self.cols) {
            return Err(LabError::Config(format!(
                "the image's edges are {}x{} and the edge detector is {}x{}; use one detector \
                 for both",
                self.rows,
                self.cols,
                system.rows(),
                system.cols()
            )));
        }
        let edges = detect_edges(system, explanation, channels, config)?;
        Ok(self.compare(&edges))
    }
}

/// The hallucination of `explanation` against `image`, both `[channels, rows, cols]` with
/// values in `[0, 1]` and of the detector's size.
pub fn hallucination<T: Copy + Into<f64>>(
    system: &EdgeSystem,
    image: &[T],
    explanation: &[T],
    channels: usize,
    config: &HallucinationConfig,
) -> Result<Hallucination, LabError> {
    ImageEdges::of_image(system, image, channels, config)?.score(
        system,
        explanation,
        channels,
        config,
    )
}

fn detect_edges<T: Copy + Into<f64>>(
    system: &EdgeSystem,
    image: &[T],
    channels: usize,
    config: &HallucinationConfig,
) -> Result<Vec<bool>, LabError> {
    let grey = grey_levels(image, channels, system.rows(), system.cols(), config.grey)?;
    Ok(system
        .detect(&grey, config.min_contrast)?
        .edges(config.threshold))
}

/// Each pixel is near an edge when an edge pixel lies in its 3x3 neighbourhood (inside the
/// image).
fn dilate(edges: &[bool], rows: usize, cols: usize) -> Vec<bool> {
    let mut near = vec![false; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            if !edges[r * cols + c] {
                continue;
            }
            for rr in r.saturating_sub(1)..(r + 2).min(rows) {
                for cc in c.saturating_sub(1)..(c + 2).min(cols) {
                    near[rr * cols + cc] = true;
                }
            }
        }
    }
    near
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_one_pixel_away_diagonally_is_not_invented_but_two_pixels_away_is() {
        let (rows, cols) = (6, 7);
        let mut image = vec![false; rows * cols];
        image[2 * cols + 3] = true;
        image[5 * cols + 6] = true;
        let reference = ImageEdges::from_edges(image, rows, cols);
        let mut explanation = vec![false; rows * cols];
        // Diagonal neighbour, the pixel itself, the corner's neighbour: all near.
        explanation[3 * cols + 4] = true;
        explanation[2 * cols + 3] = true;
        explanation[4 * cols + 5] = true;
        // Two rows away, and the opposite corner (no wrap-around): invented.
        explanation[4 * cols + 3] = true;
        explanation[0] = true;
        let counts = reference.compare(&explanation);
        assert_eq!(counts.invented_edges, 2);
        assert_eq!(counts.explanation_edges, 5);
        assert_eq!(counts.score(), Some(1.0));
    }

    #[test]
    fn grey_levels_floor_the_channel_mean_and_the_reference_wraps_them() {
        // Three pixels of two channels, planar.
        let pixels = [1.0f32, 0.5, 0.2, 1.0, 0.5, 0.3];
        let floor = grey_levels(&pixels, 2, 1, 3, GreyLevels::Floor).unwrap();
        assert_eq!(floor, [255.0, 127.0, 63.0]);
        let wrapped = grey_levels(&pixels, 2, 1, 3, GreyLevels::ReferenceInt8).unwrap();
        assert_eq!(wrapped, [-1.0, 127.0, 63.0]);
        assert!(grey_levels(&pixels, 4, 1, 3, GreyLevels::Floor).is_err());
    }
}
