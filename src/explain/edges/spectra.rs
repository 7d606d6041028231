//! The spectra of CoShREM's complex shearlets, in closed form.
//!
//! A shearlet of scale `j` (0-based) and shear `k` is, for the horizontal cone, at the
//! signed frequency `(u, v)` (`u` along rows):
//!
//! `psi(u, v) = 2 [u >= 0] * wavelet_j(u) * gaussian_j(wrap(q v - k u))`
//!
//! - `wavelet_j` is a Mexican hat `2 pi w^2 exp(-w^2 / 2)` at `w = c_wav (2 pi u / rows) /
//!   2^(j / s)` (with `s` scales per octave), sampled half a pixel off the origin: in the
//!   frequency domain that is the phase `exp(i pi u / rows)`, with half the amplitude and
//!   nothing at the Nyquist frequency (the reference samples the wavelet at twice the rate
//!   and keeps every odd sample, which comes to exactly this);
//! - `gaussian_j(m) = exp(-g^2 / 2)` at `g = c_gau (2 pi m / (q cols)) / 2^(alpha j / s)`,
//!   on a grid `q = 2^(L-2)` times finer than the image so that shears move it by `k / q`
//!   columns per row; `wrap` folds `m` into `[-q cols / 2, q cols / 2)`, as the reference's
//!   circular shear does;
//! - the factor `2 [u >= 0]` keeps one half-plane: the real and imaginary parts of the
//!   filter are then a Hilbert pair in space, an even and an odd detector of the same line;
//! - `c_wav = 63 s_wav / 512` and `c_gau = 74 s_gau / 512` set the effective supports.
//!
//! The vertical cone swaps the roles of rows and columns and keeps `v < 0`, negated for its
//! last run of orientations. Every filter of scale `j` is divided by one number: the sum of
//! the imaginary part of the scale's first filter (vertical, shear 0) over the left half of
//! the image, with the filter centred in space.

use std::f64::consts::PI;

use rustfft::num_complex::Complex64;

use super::orientations::{Group, Orientations};
use crate::shearlet::fft2::Fft2;

/// What a filter depends on besides its scale and orientation.
#[derive(Clone, Debug)]
pub struct Geometry {
    pub rows: usize,
    pub cols: usize,
    pub scales_per_octave: f64,
    pub alpha: f64,
    pub wavelet_support: f64,
    pub gaussian_support: f64,
}

/// `i` in natural FFT order as a signed frequency in `[-len/2, len/2)` (even `len`).
fn signed(i: usize, len: usize) -> i64 {
    if i < len / 2 {
        i as i64
    } else {
        i as i64 - len as i64
    }
}

/// The off-origin Mexican hat of scale `scale` along an axis of `len` pixels, natural order.
fn wavelet_line(geometry: &Geometry, scale: usize, len: usize) -> Vec<Complex64> {
    let dilation = 2f64.powf(scale as f64 / geometry.scales_per_octave);
    let support = 63.0 * geometry.wavelet_support / 512.0;
    (0..len)
        .map(|i| {
            let w = signed(i, len);
            if w == -(len as i64) / 2 {
                return Complex64::default();
            }
            let omega = support * (2.0 * PI / len as f64 * w as f64) / dilation;
            let hat = 2.0 * PI * omega * omega * (-omega * omega / 2.0).exp();
            Complex64::from_polar(0.5 * hat, PI * w as f64 / len as f64)
        })
        .collect()
}

/// The Gaussian of scale `scale` on the fine grid of `len` points, natural order.
fn gaussian_line(geometry: &Geometry, scale: usize, len: usize) -> Vec<f64> {
    let dilation = 2f64
        .powf(scale as f64 / geometry.scales_per_octave)
        .powf(geometry.alpha);
    let support = 74.0 * geometry.gaussian_support / 512.0;
    (0..len)
        .map(|i| {
            let omega = support * (2.0 * PI / len as f64 * signed(i, len) as f64) / dilation;
            (-omega * omega / 2.0).exp()
        })
        .collect()
}

/// The spectrum of one shearlet before normalisation, `[rows, cols]` in natural FFT layout.
pub fn unnormalised(
    geometry: &Geometry,
    layout: &Orientations,
    scale: usize,
    orientation: usize,
) -> Vec<Complex64> {
    let (rows, cols) = (geometry.rows, geometry.cols);
    let fine = layout.steps() as i64;
    let shear = layout.shear(orientation);
    let group = layout.group(orientation);
    // Along which axis the wavelet runs, and the fine Gaussian grid across it.
    let (wave_len, gauss_len) = match group {
        Group::Horizontal => (rows, cols * layout.steps()),
        _ => (cols, rows * layout.steps()),
    };
    let wavelet = wavelet_line(geometry, scale, wave_len);
    let gaussian = gaussian_line(geometry, scale, gauss_len);
    let side = match group {
        Group::VerticalLast => -2.0,
        _ => 2.0,
    };
    let mut spectrum = vec![Complex64::default(); rows * cols];
    for r in 0..rows {
        let u = signed(r, rows);
        for c in 0..cols {
            let v = signed(c, cols);
            let (along, across, kept) = match group {
                Group::Horizontal => (r, fine * v - shear * u, u >= 0),
                _ => (c, fine * u - shear * v, v < 0),
            };
            if kept {
                let g = gaussian[across.rem_euclid(gauss_len as i64) as usize];
                spectrum[r * cols + c] = wavelet[along] * (side * g);
            }
        }
    }
    spectrum
}

/// The number every filter of `scale` is divided by.
pub fn normaliser(geometry: &Geometry, layout: &Orientations, fft: &Fft2, scale: usize) -> f64 {
    let (rows, cols) = (geometry.rows, geometry.cols);
    let mut filter = unnormalised(geometry, layout, scale, 0);
    fft.inverse(&mut filter);
    // Centred in space, the left half is natural columns `cols/2..cols`.
    let sum: f64 = (0..rows)
        .flat_map(|r| (cols / 2..cols).map(move |c| r * cols + c))
        .map(|i| filter[i].im)
        .sum();
    sum.abs()
}
