//! CoShREM's edge measure: edges found by complex-valued shearlets.
//!
//! Reisenhofer, Kiefer and King ("Shearlet-based detection of flame fronts") and Reisenhofer
//! ("The complex shearlet transform and applications to image quality assessment") detect
//! edges with shearlets whose real part is an even (line-like) and whose imaginary part an
//! odd (step-like) filter of the same direction. At an edge the odd responses are large and
//! the even ones small, across all scales; the measure compares them pixel by pixel, so it
//! is insensitive to contrast above a minimum contrast. This is the detector ShearletX uses
//! for its hallucination score, with PyCoShREM's defaults: 2 scales per octave over 3.5
//! octaves (7 scales), shear level 3 (10 orientations per scale), alpha 0.8, effective
//! supports of `min(rows, cols) / 7` (wavelet) and `/ 20` (Gaussian): 70 shearlets at
//! 256x256.
//!
//! Everything runs on the CPU in f64 with `rustfft`; nothing here needs threads or files.
//! Filters are computed when needed from their closed form (`spectra`), so a system holds a
//! handful of numbers, not 70 complex planes.

mod measure;
mod orientations;
mod spectra;

pub use measure::EdgeMap;
pub use orientations::Group;

use rustfft::num_complex::Complex64;
use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::shearlet::fft2::Fft2;
use orientations::Orientations;
use spectra::Geometry;

/// The smallest side the detector accepts; below it the coarse scales no longer fit.
pub const MIN_SIDE: usize = 16;
/// Beyond this the orientation layout gets long for no gain in practice.
const MAX_SHEAR_LEVEL: u32 = 6;

/// PyCoShREM's `EdgeSystem` parameters. The defaults are its defaults, which ShearletX uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EdgeConfig {
    pub scales_per_octave: u32,
    /// `2^shear_level + 2` orientations per scale; at least 2.
    pub shear_level: u32,
    /// How much the Gaussian (the direction selectivity) narrows per octave, relative to the
    /// wavelet: 1 keeps the aspect ratio, 0.5 is parabolic scaling.
    pub alpha: f64,
    /// `ceil(scales_per_octave * octaves)` scales.
    pub octaves: f64,
    /// Effective support of the wavelet; `None` for `min(rows, cols) / 7`.
    pub wavelet_support: Option<f64>,
    /// Effective support of the Gaussian; `None` for `min(rows, cols) / 20`.
    pub gaussian_support: Option<f64>,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            scales_per_octave: 2,
            shear_level: 3,
            alpha: 0.8,
            octaves: 3.5,
            wavelet_support: None,
            gaussian_support: None,
        }
    }
}

/// CoShREM's complex shearlet system for edge detection on `[rows, cols]` images.
///
/// Shearlets are numbered as PyCoShREM numbers them: `orientation + orientations * scale`,
/// finest scale first.
#[derive(Clone, Debug)]
pub struct EdgeSystem {
    config: EdgeConfig,
    geometry: Geometry,
    layout: Orientations,
    scales: usize,
    /// Per scale, the number its filters are divided by.
    normalisers: Vec<f64>,
}

impl EdgeSystem {
    /// The default system (ShearletX's) for `rows x cols` images.
    pub fn new(rows: usize, cols: usize) -> Result<Self, LabError> {
        Self::with_config(rows, cols, &EdgeConfig::default())
    }

    /// Sides must be even and at least [`MIN_SIDE`]; the configuration is checked first.
    pub fn with_config(rows: usize, cols: usize, config: &EdgeConfig) -> Result<Self, LabError> {
        let scales = check(rows, cols, config)?;
        let smaller = rows.min(cols) as f64;
        let geometry = Geometry {
            rows,
            cols,
            scales_per_octave: f64::from(config.scales_per_octave),
            alpha: config.alpha,
            wavelet_support: config.wavelet_support.unwrap_or(smaller / 7.0),
            gaussian_support: config.gaussian_support.unwrap_or(smaller / 20.0),
        };
        let layout = Orientations::new(config.shear_level);
        let fft = Fft2::new(rows, cols);
        let normalisers: Vec<f64> = (0..scales)
            .map(|scale| spectra::normaliser(&geometry, &layout, &fft, scale))
            .collect();
        if let Some(scale) = normalisers
            .iter()
            .position(|n| !(n.is_finite() && *n > 0.0))
        {
            return Err(LabError::Config(format!(
                "the edge detector's scale {} vanishes at {rows}x{cols} pixels with these \
                 supports; use a larger image or larger effective supports",
                scale + 1
            )));
        }
        Ok(Self {
            config: config.clone(),
            geometry,
            layout,
            scales,
            normalisers,
        })
    }

    pub fn rows(&self) -> usize {
        self.geometry.rows
    }

    pub fn cols(&self) -> usize {
        self.geometry.cols
    }

    pub fn config(&self) -> &EdgeConfig {
        &self.config
    }

    pub fn scale_count(&self) -> usize {
        self.scales
    }

    /// Orientations per scale, `2^shear_level + 2`.
    pub fn orientation_count(&self) -> usize {
        self.layout.count()
    }

    pub fn shearlet_count(&self) -> usize {
        self.scales * self.layout.count()
    }

    /// The cone and shear of an orientation.
    pub fn orientation(&self, orientation: usize) -> (Group, i64) {
        (
            self.layout.group(orientation),
            self.layout.shear(orientation),
        )
    }

    /// The spectrum of shearlet `index` (numbered as PyCoShREM numbers them), `[rows, cols]`
    /// in natural FFT layout (zero frequency at `(0, 0)`; PyCoShREM stores it fftshifted).
    pub fn filter(&self, index: usize) -> Vec<Complex64> {
        assert!(
            index < self.shearlet_count(),
            "shearlet {index} does not exist"
        );
        let (scale, orientation) = (index / self.layout.count(), index % self.layout.count());
        let mut spectrum = spectra::unnormalised(&self.geometry, &self.layout, scale, orientation);
        let normaliser = self.normalisers[scale];
        spectrum.iter_mut().for_each(|value| *value /= normaliser);
        spectrum
    }
}

/// Checks sizes and parameters; returns the number of scales.
fn check(rows: usize, cols: usize, config: &EdgeConfig) -> Result<usize, LabError> {
    if rows < MIN_SIDE || cols < MIN_SIDE || rows % 2 == 1 || cols % 2 == 1 {
        return Err(LabError::Config(format!(
            "the edge detector needs even sides of at least {MIN_SIDE} pixels, not \
             {rows}x{cols}; pad or crop the image by a pixel"
        )));
    }
    if !(2..=MAX_SHEAR_LEVEL).contains(&config.shear_level) {
        return Err(LabError::Config(format!(
            "the edge detector's shear level is {}; use 2 to {MAX_SHEAR_LEVEL} (3 is the \
             default)",
            config.shear_level
        )));
    }
    let positive = |value: Option<f64>| value.is_none_or(|v| v.is_finite() && v > 0.0);
    if config.scales_per_octave == 0
        || !config.alpha.is_finite()
        || !positive(Some(config.octaves))
        || !positive(config.wavelet_support)
        || !positive(config.gaussian_support)
    {
        return Err(LabError::Config(
            "the edge detector needs at least one scale per octave, a finite alpha and \
             positive octaves and supports"
                .into(),
        ));
    }
    let scales = (f64::from(config.scales_per_octave) * config.octaves).ceil() as usize;
    // The odd responses of a scale are compared with the even ones an octave finer, so there
    // must be more than an octave of scales.
    if scales <= config.scales_per_octave as usize {
        return Err(LabError::Config(format!(
            "the edge detector compares scales an octave apart, so it needs more than one \
             octave; {} octaves were asked for",
            config.octaves
        )));
    }
    Ok(scales)
}
