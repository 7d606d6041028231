//! Reference analysis and synthesis on the CPU, in f64.
//!
//! Analysis is a filter bank, `c_k = IFFT2(FFT2(x) psi_k)`; synthesis applies the canonical
//! dual frame, `x = IFFT2(sum_k FFT2(c_k) psi_k / W)` with `W = sum_k psi_k^2`, which inverts
//! the analysis exactly because `sum_k psi_k^2 / W = 1`. These are pyShearLab's
//! `SLsheardec2D` and `SLshearrec2D`: their fftshift pairs around each transform cancel out
//! to this plain form once the filters are stored in natural FFT layout (ShearLab's analysis
//! multiplies by `conj(psi_k)`, the same for real filters). The filters are real and even
//! (`psi(-w) = psi(w)`), so every result is real up to rounding and the imaginary parts are
//! dropped, as ShearLab does.

use rustfft::num_complex::Complex64;

use super::ShearletSystem;
use super::fft2::Fft2;

impl ShearletSystem {
    /// Shearlet coefficients of a `[rows, cols]` image: `[bands, rows, cols]`, band-major, in
    /// the order of `self.bands`.
    ///
    /// # Panics
    /// If `image` does not hold `rows * cols` values.
    pub fn analyse(&self, image: &[f32]) -> Vec<f32> {
        let image: Vec<f64> = image.iter().map(|&v| v.into()).collect();
        self.analyse_f64(&image)
            .into_iter()
            .map(|v| v as f32)
            .collect()
    }

    /// [`ShearletSystem::analyse`] in f64 throughout, for references that need more digits
    /// than f32 holds (finite differences).
    ///
    /// # Panics
    /// If `image` does not hold `rows * cols` values.
    pub fn analyse_f64(&self, image: &[f64]) -> Vec<f64> {
        let plane = self.rows * self.cols;
        assert_eq!(
            image.len(),
            plane,
            "image is not {}x{}",
            self.rows,
            self.cols
        );
        let fft = Fft2::new(self.rows, self.cols);
        let mut spectrum: Vec<Complex64> = image.iter().map(|&v| Complex64::new(v, 0.0)).collect();
        fft.forward(&mut spectrum);
        let mut coefficients = Vec::with_capacity(self.bands.len() * plane);
        let mut band = vec![Complex64::default(); plane];
        for filter in self.filters.chunks_exact(plane) {
            for ((b, s), psi) in band.iter_mut().zip(&spectrum).zip(filter) {
                *b = s * psi;
            }
            fft.inverse(&mut band);
            coefficients.extend(band.iter().map(|z| z.re));
        }
        coefficients
    }

    /// The image whose coefficients are `coefficients` (`[bands, rows, cols]`), through the
    /// canonical dual frame; `synthesise(analyse(x))` returns `x` up to rounding.
    ///
    /// # Panics
    /// If `coefficients` does not hold `bands * rows * cols` values.
    pub fn synthesise(&self, coefficients: &[f32]) -> Vec<f32> {
        let coefficients: Vec<f64> = coefficients.iter().map(|&v| v.into()).collect();
        self.synthesise_f64(&coefficients)
            .into_iter()
            .map(|v| v as f32)
            .collect()
    }

    /// [`ShearletSystem::synthesise`] in f64 throughout.
    ///
    /// # Panics
    /// If `coefficients` does not hold `bands * rows * cols` values.
    pub fn synthesise_f64(&self, coefficients: &[f64]) -> Vec<f64> {
        let plane = self.rows * self.cols;
        assert_eq!(
            coefficients.len(),
            self.bands.len() * plane,
            "coefficients are not {}x{}x{}",
            self.bands.len(),
            self.rows,
            self.cols
        );
        let fft = Fft2::new(self.rows, self.cols);
        let mut sum = vec![Complex64::default(); plane];
        let mut band = vec![Complex64::default(); plane];
        for (filter, values) in self
            .filters
            .chunks_exact(plane)
            .zip(coefficients.chunks_exact(plane))
        {
            for (b, &v) in band.iter_mut().zip(values) {
                *b = Complex64::new(v, 0.0);
            }
            fft.forward(&mut band);
            for ((s, b), psi) in sum.iter_mut().zip(&band).zip(filter) {
                *s += b * psi;
            }
        }
        for (s, w) in sum.iter_mut().zip(&self.dual_weights) {
            *s /= w;
        }
        fft.inverse(&mut sum);
        sum.iter().map(|z| z.re).collect()
    }
}
