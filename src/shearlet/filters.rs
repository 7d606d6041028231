//! Assembles the frequency-domain shearlets from wedge, scale and lowpass filters.
//!
//! Each directional band is the product of a wedge spectrum (its direction, see `wedge`) and a
//! scale spectrum (its octave): for the first cone at scale `s` and shear `k`,
//! `psi(u, v) = W_{l,k}(u, v) conj(G_s(v))`, with `G_s` the spectrum of the 1-D bandpass
//! `g_{J+1-s}` along columns (constant along rows) and `l` the scale's shear level. The second
//! cone is the transpose of the first with the opposite shear,
//! `psi(u, v) = W_{l,-k}(v, u) conj(G_s(u))`. The lowpass is separable,
//! `psi(u, v) = H_J(u) H_J(v)`. All spectra are in natural FFT layout: the filters are centred
//! in pixel space, and `ifftshift` moves their centre to the origin before the transform.

use std::f64::consts::PI;

use rustfft::num_complex::Complex64;

use super::bands::{BandInfo, Cone};
use super::directional::directional_filter;
use super::fft2::Fft2;
use super::taps;
use super::wedge::WedgeLevel;
use crate::LabError;

/// Imaginary parts of the spectra, relative to their largest magnitude, above which they are
/// not real to rounding and storing only their real part would be wrong.
const REAL_TOLERANCE: f64 = 1e-10;

/// The real filters `[bands, size, size]`, in the order of `bands`.
pub(crate) fn build(
    size: usize,
    shear_levels: &[u32],
    bands: &[BandInfo],
) -> Result<Vec<f64>, LabError> {
    let mut spectra = RealSpectra::zeros(bands.len() * size * size);
    fill_directional_bands(&mut spectra, size, shear_levels, bands);
    fill_lowpass(&mut spectra, size, shear_levels.len(), bands);
    spectra.into_values()
}

/// Real parts of complex spectra, remembering how large the dropped imaginary parts were.
struct RealSpectra {
    values: Vec<f64>,
    largest: f64,
    largest_imaginary: f64,
}

impl RealSpectra {
    fn zeros(len: usize) -> Self {
        Self {
            values: vec![0.0; len],
            largest: 0.0,
            largest_imaginary: 0.0,
        }
    }

    fn set(&mut self, index: usize, value: Complex64) {
        self.values[index] = value.re;
        self.largest = self.largest.max(value.norm());
        self.largest_imaginary = self.largest_imaginary.max(value.im.abs());
    }

    /// The real parts, after checking that the imaginary parts were rounding noise.
    fn into_values(self) -> Result<Vec<f64>, LabError> {
        let (largest, imaginary) = (self.largest, self.largest_imaginary);
        if imaginary > REAL_TOLERANCE * largest {
            return Err(LabError::Config(format!(
                "the shearlet filters came out complex (imaginary parts up to {imaginary:e} \
                 against magnitudes up to {largest:e}); this size is not supported"
            )));
        }
        log::debug!("shearlet spectra: largest imaginary part {imaginary:e} of {largest:e}");
        Ok(self.values)
    }
}

/// Every directional band, one wedge spectrum at a time so that only one is held.
fn fill_directional_bands(
    spectra: &mut RealSpectra,
    size: usize,
    shear_levels: &[u32],
    bands: &[BandInfo],
) {
    let scales = shear_levels.len();
    let scale_spectra: Vec<Vec<Complex64>> = (1..=scales)
        .map(|scale| centred_spectrum(&taps::bandpass(scales + 1 - scale), size))
        .collect();
    let directional = directional_filter();
    let fft = Fft2::new(size, size);
    let mut levels = shear_levels.to_vec();
    levels.sort_unstable();
    levels.dedup();
    for level in levels {
        let wedges = WedgeLevel::new(size, level, &directional);
        for shear in wedges.shears() {
            let wedge = wedges.spectrum(shear, &fft);
            for (index, band) in bands.iter().enumerate() {
                if band.cone == Cone::Lowpass || shear_levels[band.scale - 1] != level {
                    continue;
                }
                let scale = &scale_spectra[band.scale - 1];
                match band.cone {
                    Cone::Vertical if band.shear == shear => {
                        vertical_band(spectra, index, &wedge, scale, size)
                    }
                    Cone::Horizontal if band.shear == -shear => {
                        horizontal_band(spectra, index, &wedge, scale, size)
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Band `band`: `psi(u, v) = W(u, v) conj(G(v))`.
fn vertical_band(
    spectra: &mut RealSpectra,
    band: usize,
    wedge: &[Complex64],
    scale: &[Complex64],
    size: usize,
) {
    let offset = band * size * size;
    for u in 0..size {
        for v in 0..size {
            spectra.set(offset + u * size + v, wedge[u * size + v] * scale[v].conj());
        }
    }
}

/// Band `band`: `psi(u, v) = W(v, u) conj(G(u))`, the transpose of a first-cone band.
fn horizontal_band(
    spectra: &mut RealSpectra,
    band: usize,
    wedge: &[Complex64],
    scale: &[Complex64],
    size: usize,
) {
    let offset = band * size * size;
    for u in 0..size {
        for v in 0..size {
            spectra.set(offset + u * size + v, wedge[v * size + u] * scale[u].conj());
        }
    }
}

/// `psi(u, v) = H_J(u) H_J(v)`, the tensor product of the coarsest 1-D lowpass.
fn fill_lowpass(spectra: &mut RealSpectra, size: usize, scales: usize, bands: &[BandInfo]) {
    let lowpass = centred_spectrum(&taps::lowpass(scales), size);
    for (index, band) in bands.iter().enumerate() {
        if band.cone != Cone::Lowpass {
            continue;
        }
        let offset = index * size * size;
        for u in 0..size {
            for v in 0..size {
                spectra.set(offset + u * size + v, lowpass[u] * lowpass[v]);
            }
        }
    }
}

/// Length-`size` DFT of an odd-length filter whose centre tap sits at the origin:
/// `G(u) = sum_t g[t] e^{-2 pi i u (t - c) / size}`.
fn centred_spectrum(taps: &[f64], size: usize) -> Vec<Complex64> {
    let centre = taps.len() / 2;
    (0..size)
        .map(|u| {
            taps.iter()
                .enumerate()
                .map(|(t, tap)| {
                    let offset = (t as i64 - centre as i64).rem_euclid(size as i64) as usize;
                    // Reducing u * offset modulo size first keeps the angle accurate.
                    let turns = ((u * offset) % size) as f64 / size as f64;
                    Complex64::from_polar(*tap, -2.0 * PI * turns)
                })
                .sum()
        })
        .collect()
}
