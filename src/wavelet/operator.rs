//! One level of the 1-D transform as a matrix, so that the 2-D transform is two matrix
//! products per level on any backend, and autodiff needs nothing of its own.
//!
//! With zero padding the transform is the infinite-signal DWT restricted to the coefficients
//! that see the signal: for `n` samples and `F` taps, `m = (n + F - 1) / 2` (rounded down)
//! coefficients per filter, `c[i] = sum_j f[j] x[2i + 1 - j]` with `x` zero outside `[0, n)`
//! (the odd samples of the full convolution, as PyWavelets takes them). Because the filters
//! are orthogonal, the stacked matrix `A` (lowpass rows over highpass rows) satisfies
//! `A^T A = I`: synthesis is the transpose, and reconstruction is exact although `A` has more
//! rows than columns.

/// The coefficients per filter that one level leaves of `samples` samples.
pub(crate) fn half_length(samples: usize, taps: usize) -> usize {
    (samples + taps - 1) / 2
}

/// `A` for `samples` samples, `[2m, samples]` row-major: rows `0..m` the lowpass, `m..2m` the
/// highpass coefficients.
pub(crate) fn analysis_matrix(filters: &[Vec<f64>; 2], samples: usize) -> Vec<f64> {
    let taps = filters[0].len();
    let half = half_length(samples, taps);
    let mut matrix = vec![0.0; 2 * half * samples];
    for (band, filter) in filters.iter().enumerate() {
        for i in 0..half {
            let row = (band * half + i) * samples;
            for (j, &tap) in filter.iter().enumerate() {
                // The sample that tap j meets: 2i + 1 - j, when it lies inside the signal.
                if let Some(t) = (2 * i + 1).checked_sub(j).filter(|&t| t < samples) {
                    matrix[row + t] = tap;
                }
            }
        }
    }
    matrix
}

/// The transpose of a `[rows, cols]` row-major matrix.
pub(crate) fn transpose(matrix: &[f64], [rows, cols]: [usize; 2]) -> Vec<f64> {
    let mut out = vec![0.0; matrix.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = matrix[r * cols + c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wavelet::Wavelet;

    /// `A^T A = I` at even and odd lengths, including lengths shorter than the filter.
    #[test]
    fn synthesis_by_the_transpose_inverts_analysis() {
        let filters = Wavelet::Db3.analysis_filters();
        for samples in [1, 2, 5, 12, 67, 130] {
            let half = half_length(samples, 6);
            let a = analysis_matrix(&filters, samples);
            for p in 0..samples {
                for q in 0..samples {
                    let product: f64 = (0..2 * half)
                        .map(|r| a[r * samples + p] * a[r * samples + q])
                        .sum();
                    let want = if p == q { 1.0 } else { 0.0 };
                    assert!(
                        (product - want).abs() < 1e-14,
                        "{samples} samples, ({p}, {q}): {product}"
                    );
                }
            }
        }
    }

    #[test]
    fn level_sizes_are_those_of_pywavelets_at_256() {
        let mut samples = 256;
        let mut sizes = Vec::new();
        for _ in 0..5 {
            samples = half_length(samples, 6);
            sizes.push(samples);
        }
        assert_eq!(sizes, [130, 67, 36, 20, 12]);
    }
}
