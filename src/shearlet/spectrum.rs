//! 2-D Fourier transforms of real images on tensors, kept in half-spectrum form.
//!
//! The spectrum of a real image is Hermitian, `X(-u, -v) = conj(X(u, v))`, so the column
//! frequencies `0..=cols/2` determine it. Every transform here works on that half: a real FFT
//! along the columns (`rfft`), then a complex FFT along the rows, and back. Shearlet filters
//! are real and even, so multiplying a half spectrum by a filter keeps it the half of a
//! Hermitian spectrum, and the inverse is real again; the real FFTs halve the work of full
//! complex transforms.
//!
//! burn's `signal` FFTs are one-dimensional, differentiable, and take power-of-two lengths.
//! `cfft` is the forward complex transform; the inverse uses
//! `IFFT(z) = conj(FFT(conj(z))) / n`.

use burn::signal::{cfft, irfft, rfft};
use burn::tensor::Tensor;

/// `FFT2(x)(u, v)` for every row frequency `u` and the column frequencies `v` in
/// `0..=cols/2`, as real and imaginary parts.
///
/// Shapes: both `[batch, planes, rows, cols / 2 + 1]`.
pub(crate) struct HalfSpectrum {
    pub re: Tensor<4>,
    pub im: Tensor<4>,
}

impl HalfSpectrum {
    /// Shapes: `images` is `[batch, planes, rows, cols]`, rows and cols powers of two.
    pub fn of(images: Tensor<4>) -> Self {
        let (re, im) = rfft(images, 3, None);
        let (re, im) = cfft(re, im, 2, None);
        Self { re, im }
    }

    /// The spectrum times a real `filter` that broadcasts against it.
    pub fn times(self, filter: Tensor<4>) -> Self {
        Self {
            re: self.re * filter.clone(),
            im: self.im * filter,
        }
    }

    /// The sum over the `planes` dimension, kept as a dimension of one.
    pub fn sum_planes(self) -> Self {
        Self {
            re: self.re.sum_dim(1),
            im: self.im.sum_dim(1),
        }
    }

    /// The real images whose half spectrum this is: `[batch, planes, rows, cols]`.
    ///
    /// Only meaningful when the full spectrum is Hermitian (the spectrum of a real image times
    /// real, even filters); `irfft` keeps the real part of what is not.
    pub fn into_images(self, cols: usize) -> Tensor<4> {
        let rows = self.re.dims()[2] as f64;
        let (re, im) = cfft(self.re, self.im.neg(), 2, None);
        let (re, im) = (re.div_scalar(rows), im.div_scalar(-rows));
        irfft(re, im, 3, Some(cols))
    }
}
