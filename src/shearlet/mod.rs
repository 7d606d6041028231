//! ShearLab's digital 2-D shearlet system, built on the CPU in f64.
//!
//! Shearlets are directional wavelets: each band keeps one octave of frequencies (its scale)
//! and one narrow wedge of directions (its shear), so edges and curves land in few
//! coefficients. This module builds the same system as pyShearLab's
//! `SLgetShearletSystem2D(0, n, n, scales, shear_levels)` with its defaults (9-tap QMF,
//! `dmaxflat4` directional filter, `full = 0`): for 4 scales and shear levels `[1, 1, 2, 2]`,
//! 8 + 8 + 16 + 16 directional bands and one lowpass, 49 in all.
//!
//! Layout: `filters` holds the real frequency responses `psi_k`, `[bands, rows, cols]`
//! band-major, in natural FFT layout (zero frequency at index `(0, 0)`, as `FFT2` returns it;
//! ShearLab stores the same arrays fftshifted). Analysis is then
//! `c_k = IFFT2(FFT2(x) psi_k)` and synthesis `x = IFFT2(sum_k FFT2(c_k) psi_k / W)`, with the
//! dual-frame weights `W = sum_k psi_k^2` in `dual_weights`. `cpu` implements both as the
//! reference for faster paths; [`ShearletTransform`] computes them on tensors (any device,
//! differentiable) for the explanation methods, and on the host (`host`) for burn's CPU backend
//! where no gradient is needed.
//!
//! The spectra are real: every filter is centrally symmetric in pixel space (ShearLab's are
//! complex arrays whose imaginary parts stay below 1e-15 at even sizes). They are stored as
//! real f64, and construction fails rather than drop imaginary parts that are not rounding.

mod bands;
mod cpu;
mod directional;
pub(crate) mod fft2;
mod filters;
mod grid;
mod host;
mod spectrum;
mod support;
mod taps;
mod transform;
mod wedge;

pub use bands::{BandInfo, Cone};
pub use support::minimum_size;
pub use transform::ShearletTransform;

use crate::LabError;

/// The system ShearletX uses: 4 scales with shear levels `[1, 1, 2, 2]`.
pub const SHEARLETX_SCALES: usize = 4;
pub const SHEARLETX_SHEAR_LEVELS: [u32; 4] = [1, 1, 2, 2];

/// Frequency-domain shearlet filters for `[rows, cols]` images.
#[derive(Clone, Debug)]
pub struct ShearletSystem {
    pub rows: usize,
    pub cols: usize,
    /// Real spectra `psi_k`, `[bands, rows, cols]`, natural FFT layout.
    pub filters: Vec<f64>,
    /// `W = sum_k psi_k^2`, `[rows, cols]`; positive (at least about 0.067 for ShearletX's
    /// system, at most about 1).
    pub dual_weights: Vec<f64>,
    /// What each band of `filters` is, in the same order.
    pub bands: Vec<BandInfo>,
}

impl ShearletSystem {
    /// Builds the system for `rows x cols` images with `scales` scales and one shear level
    /// per scale (`2^l` shears to each side of the cone's axis).
    ///
    /// Sizes must be square and even and at least [`minimum_size`] (250 for ShearletX's
    /// system); anything else is refused with a message saying what works, where ShearLab
    /// would silently change its filters or fail.
    pub fn new(
        rows: usize,
        cols: usize,
        scales: usize,
        shear_levels: &[u32],
    ) -> Result<Self, LabError> {
        support::check(rows, cols, scales, shear_levels)?;
        let bands = bands::band_list(shear_levels);
        let filters = filters::build(rows, shear_levels, &bands)?;
        let dual_weights = dual_weights(&filters, rows * cols);
        Ok(Self {
            rows,
            cols,
            filters,
            dual_weights,
            bands,
        })
    }

    /// ShearletX's system for `size x size` images.
    pub fn shearletx(size: usize) -> Result<Self, LabError> {
        Self::new(size, size, SHEARLETX_SCALES, &SHEARLETX_SHEAR_LEVELS)
    }

    pub fn band_count(&self) -> usize {
        self.bands.len()
    }

    /// The spectrum of band `band`, `[rows, cols]`.
    pub fn filter(&self, band: usize) -> &[f64] {
        let plane = self.rows * self.cols;
        &self.filters[band * plane..(band + 1) * plane]
    }
}

/// `W = sum_k psi_k^2`, the normalisation of the canonical dual frame.
fn dual_weights(filters: &[f64], plane: usize) -> Vec<f64> {
    let mut weights = vec![0.0; plane];
    for filter in filters.chunks_exact(plane) {
        for (w, psi) in weights.iter_mut().zip(filter) {
            *w += psi * psi;
        }
    }
    weights
}
