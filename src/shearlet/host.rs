//! The shearlet transform on the host, in f32, for burn's CPU backend when no gradient is
//! needed: the same `c_k = IFFT2(FFT2(x) psi_k)` and `x = IFFT2(sum_k FFT2(c_k) psi_k / W)` as
//! the tensor transform, with realfft's and rustfft's FFTs (SIMD kernels chosen for the
//! machine) and every band of a plane computed in one pass over cache-sized rows, where the
//! tensor transform runs burn's one-dimensional FFTs and an element-wise operation at a time
//! over every band.
//!
//! Layout of a half spectrum: the column frequencies `v` in `0..=cols/2` major, the row
//! frequencies `u` contiguous (`[half, size]`), so that the complex FFTs along the rows'
//! direction run on contiguous runs; a real FFT along each image row fills one column of it.
//! The filters are stored in the same layout with the FFTs' `1 / size^2` folded in.

use std::sync::Arc;

use rayon::prelude::*;
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

use super::ShearletSystem;

/// Bands one task of the synthesis sums; fixed, so that sums are grouped the same way on any
/// number of threads.
const BANDS_PER_TASK: usize = 7;

pub(crate) struct HostTransform {
    size: usize,
    half: usize,
    bands: usize,
    /// `psi_k / size^2`, `[bands, half, size]`.
    analysis: Vec<f32>,
    /// `psi_k / (W size^2)`, `[bands, half, size]`.
    synthesis: Vec<f32>,
    along_rows: Arc<dyn RealToComplex<f32>>,
    along_rows_inverse: Arc<dyn ComplexToReal<f32>>,
    along_columns: Arc<dyn Fft<f32>>,
    along_columns_inverse: Arc<dyn Fft<f32>>,
}

impl std::fmt::Debug for HostTransform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HostTransform({0}x{0}, {1} bands)",
            self.size, self.bands
        )
    }
}

impl HostTransform {
    /// `system` must be square; any side the FFTs take (the tensor transform checks it).
    pub fn new(system: &ShearletSystem) -> Self {
        let size = system.rows;
        let half = size / 2 + 1;
        let bands = system.band_count();
        let scale = 1.0 / (size * size) as f64;
        let mut analysis = Vec::with_capacity(bands * half * size);
        let mut synthesis = Vec::with_capacity(bands * half * size);
        for band in 0..bands {
            let filter = system.filter(band);
            for v in 0..half {
                for u in 0..size {
                    let at = u * size + v;
                    analysis.push((filter[at] * scale) as f32);
                    synthesis.push((filter[at] / system.dual_weights[at] * scale) as f32);
                }
            }
        }
        let mut real = RealFftPlanner::<f32>::new();
        let mut complex = FftPlanner::<f32>::new();
        Self {
            size,
            half,
            bands,
            analysis,
            synthesis,
            along_rows: real.plan_fft_forward(size),
            along_rows_inverse: real.plan_fft_inverse(size),
            along_columns: complex.plan_fft_forward(size),
            along_columns_inverse: complex.plan_fft_inverse(size),
        }
    }

    fn plane(&self) -> usize {
        self.size * self.size
    }

    fn spectrum_len(&self) -> usize {
        self.half * self.size
    }

    /// Shapes: `images` holds `[planes, size, size]`; the result `[planes, bands, size, size]`.
    pub fn analyse(&self, images: &[f32]) -> Vec<f32> {
        self.filter_bands(images, &self.analysis)
    }

    /// The adjoint of [`HostTransform::synthesise`]: each band's synthesis is a convolution
    /// with a real, symmetric frequency response (the real part of the inverse FFT keeps
    /// the symmetric part of its filter), so its adjoint is the same filtering, and the
    /// adjoint of the sum over bands is the analysis with the synthesis filters. Shapes as
    /// [`HostTransform::analyse`].
    pub fn synthesis_adjoint(&self, images: &[f32]) -> Vec<f32> {
        self.filter_bands(images, &self.synthesis)
    }

    /// Every image filtered by every band of `filters`.
    fn filter_bands(&self, images: &[f32], filters: &[f32]) -> Vec<f32> {
        let plane = self.plane();
        let spectra: Vec<Vec<Complex32>> = images
            .par_chunks(plane)
            .map(|image| self.spectrum(image))
            .collect();
        let mut coefficients = vec![0.0; spectra.len() * self.bands * plane];
        coefficients
            .par_chunks_mut(plane)
            .enumerate()
            .for_each(|(index, out)| {
                let (spectrum, band) = (&spectra[index / self.bands], index % self.bands);
                let filter = self.filter(filters, band);
                let mut filtered: Vec<Complex32> =
                    spectrum.iter().zip(filter).map(|(z, &f)| z * f).collect();
                self.image(&mut filtered, out);
            });
        coefficients
    }

    /// Shapes: `coefficients` holds `[planes, bands, size, size]`; the result `[planes, size,
    /// size]`.
    pub fn synthesise(&self, coefficients: &[f32]) -> Vec<f32> {
        let (plane, length) = (self.plane(), self.spectrum_len());
        let mut images = vec![0.0; coefficients.len() / self.bands];
        images
            .par_chunks_mut(plane)
            .zip(coefficients.par_chunks(self.bands * plane))
            .for_each(|(out, bands)| {
                // Fixed groups of bands, summed in order, so that the result does not depend
                // on how the thread pool splits the work.
                let partial: Vec<Vec<Complex32>> = bands
                    .par_chunks(BANDS_PER_TASK * plane)
                    .enumerate()
                    .map(|(group, chunk)| {
                        let mut sum = vec![Complex32::default(); length];
                        for (offset, coefficients) in chunk.chunks_exact(plane).enumerate() {
                            let spectrum = self.spectrum(coefficients);
                            let band = group * BANDS_PER_TASK + offset;
                            let filter = self.filter(&self.synthesis, band);
                            for ((s, z), &f) in sum.iter_mut().zip(&spectrum).zip(filter) {
                                *s += z * f;
                            }
                        }
                        sum
                    })
                    .collect();
                let mut sum = (partial.into_iter())
                    .reduce(|mut a, b| {
                        a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                        a
                    })
                    .unwrap_or_else(|| vec![Complex32::default(); length]);
                self.image(&mut sum, out);
            });
        images
    }

    fn filter<'a>(&self, filters: &'a [f32], band: usize) -> &'a [f32] {
        let length = self.spectrum_len();
        &filters[band * length..(band + 1) * length]
    }

    /// The half spectrum of one `[size, size]` image, `[half, size]`, unnormalised.
    fn spectrum(&self, image: &[f32]) -> Vec<Complex32> {
        let (size, half) = (self.size, self.half);
        let mut spectrum = vec![Complex32::default(); half * size];
        let mut row = self.along_rows.make_input_vec();
        let mut frequencies = self.along_rows.make_output_vec();
        let mut scratch = self.along_rows.make_scratch_vec();
        for (r, pixels) in image.chunks_exact(size).enumerate() {
            row.copy_from_slice(pixels);
            self.along_rows
                .process_with_scratch(&mut row, &mut frequencies, &mut scratch)
                .expect("buffers planned for this length");
            for (v, &value) in frequencies.iter().enumerate() {
                spectrum[v * size + r] = value;
            }
        }
        let mut scratch = vec![Complex32::default(); self.along_columns.get_inplace_scratch_len()];
        self.along_columns
            .process_with_scratch(&mut spectrum, &mut scratch);
        spectrum
    }

    /// The real `[size, size]` image whose half spectrum, already scaled by `1 / size^2`, is
    /// `spectrum` (overwritten). Like `irfft`, it keeps the real part of what is not the half
    /// of a Hermitian spectrum.
    fn image(&self, spectrum: &mut [Complex32], out: &mut [f32]) {
        let size = self.size;
        let mut scratch =
            vec![Complex32::default(); self.along_columns_inverse.get_inplace_scratch_len()];
        self.along_columns_inverse
            .process_with_scratch(spectrum, &mut scratch);
        let mut frequencies = self.along_rows_inverse.make_input_vec();
        let mut scratch = self.along_rows_inverse.make_scratch_vec();
        let last = frequencies.len() - 1;
        for (r, pixels) in out.chunks_exact_mut(size).enumerate() {
            for (v, value) in frequencies.iter_mut().enumerate() {
                *value = spectrum[v * size + r];
            }
            frequencies[0].im = 0.0;
            frequencies[last].im = 0.0;
            self.along_rows_inverse
                .process_with_scratch(&mut frequencies, pixels, &mut scratch)
                .expect("buffers planned for this length");
        }
    }
}
