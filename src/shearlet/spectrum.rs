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
//! The complex FFT along the rows of `a + i b` is built from `rfft(a)` and `rfft(b)`, which
//! hold row frequencies `0..=rows/2` only; the rest follows from `A(rows - u) = conj(A(u))`.
//! [`FoldedRows`] keeps the result in that folded form, so that a sum over many bands can be
//! formed before the spectrum is unfolded to all rows, once, for the sum alone.

use burn::signal::{irfft, rfft};
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
        FoldedRows::of_images(images).unfold()
    }

    /// The spectrum times a real `filter` that broadcasts against it.
    pub fn times(self, filter: Tensor<4>) -> Self {
        Self {
            re: self.re * filter.clone(),
            im: self.im * filter,
        }
    }

    /// The real images whose half spectrum this is: `[batch, planes, rows, cols]`.
    ///
    /// Only meaningful when the full spectrum is Hermitian (the spectrum of a real image times
    /// real, even filters); `irfft` keeps the real part of what is not.
    pub fn into_images(self, cols: usize) -> Tensor<4> {
        // IFFT(z) = conj(FFT(conj(z))) / n along the rows.
        let rows = self.re.dims()[2] as f64;
        let Self { re, im } = FoldedRows::of_complex(self.re, self.im.neg()).unfold();
        irfft(re.div_scalar(rows), im.div_scalar(-rows), 3, Some(cols))
    }
}

/// The FFT along the rows of a complex signal, folded: `low` holds `Z(u)` and `mirror` holds
/// `Z(rows - u)`, both for `u` in `0..=rows/2`, so that rows `0..=rows/2` of `low` and rows
/// `1..rows/2` of `mirror` (reversed) make up the whole spectrum.
///
/// Shapes: all four `[batch, planes, rows / 2 + 1, width]`.
pub(crate) struct FoldedRows {
    low_re: Tensor<4>,
    low_im: Tensor<4>,
    mirror_re: Tensor<4>,
    mirror_im: Tensor<4>,
}

impl FoldedRows {
    /// The 2-D spectrum of real images, `[batch, planes, rows, cols]`, over column
    /// frequencies `0..=cols/2`.
    pub fn of_images(images: Tensor<4>) -> Self {
        let (re, im) = rfft(images, 3, None);
        Self::of_complex(re, im)
    }

    /// The FFT along the rows of `re + i im`, `[batch, planes, rows, width]`.
    pub fn of_complex(re: Tensor<4>, im: Tensor<4>) -> Self {
        // With A = rfft(re) and B = rfft(im): Z(u) = A(u) + i B(u), and since re and im are
        // real, Z(rows - u) = conj(A(u)) + i conj(B(u)).
        let (a_re, a_im) = rfft(re, 2, None);
        let (b_re, b_im) = rfft(im, 2, None);
        Self {
            low_re: a_re.clone() - b_im.clone(),
            low_im: a_im.clone() + b_re.clone(),
            mirror_re: a_re + b_im,
            mirror_im: b_re - a_im,
        }
    }

    /// `sum_k filter_k(u, v) Z_k(u, v)` over the planes `k`, still folded: `low_filters`
    /// holds the filters at rows `0..=rows/2`, `mirror_filters` at rows `rows - u` for `u` in
    /// `0..=rows/2`; both `[1, planes, rows / 2 + 1, width]`, real. The result has one plane.
    pub fn filtered_sum(self, low_filters: &Tensor<4>, mirror_filters: &Tensor<4>) -> Self {
        let weigh = |values: Tensor<4>, filters: &Tensor<4>| (values * filters.clone()).sum_dim(1);
        Self {
            low_re: weigh(self.low_re, low_filters),
            low_im: weigh(self.low_im, low_filters),
            mirror_re: weigh(self.mirror_re, mirror_filters),
            mirror_im: weigh(self.mirror_im, mirror_filters),
        }
    }

    /// The spectrum at every row, `[batch, planes, rows, width]`.
    pub fn unfold(self) -> HalfSpectrum {
        let half = self.low_re.dims()[2] - 1;
        let unfold = |low: Tensor<4>, mirror: Tensor<4>| {
            if half < 2 {
                return low;
            }
            Tensor::cat(vec![low, mirror.narrow(2, 1, half - 1).flip([2])], 2)
        };
        HalfSpectrum {
            re: unfold(self.low_re, self.mirror_re),
            im: unfold(self.low_im, self.mirror_im),
        }
    }
}
