//! 2-D discrete Fourier transforms on row-major complex arrays, by rows then by columns.
//!
//! Conventions are numpy's: `forward` computes `X(u, v) = sum x(r, c) e^{-2 pi i (u r / R +
//! v c / C)}` unnormalised, `inverse` includes the `1 / (R C)` factor, and index 0 holds zero
//! frequency (the natural layout, no fftshift).

use std::sync::Arc;

use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};

/// Planned transforms for one `[rows, cols]` shape.
pub(crate) struct Fft2 {
    rows: usize,
    cols: usize,
    forward_rows: Arc<dyn Fft<f64>>,
    forward_cols: Arc<dyn Fft<f64>>,
    inverse_rows: Arc<dyn Fft<f64>>,
    inverse_cols: Arc<dyn Fft<f64>>,
}

impl Fft2 {
    pub fn new(rows: usize, cols: usize) -> Self {
        let mut planner = FftPlanner::new();
        Self {
            rows,
            cols,
            forward_rows: planner.plan_fft_forward(cols),
            forward_cols: planner.plan_fft_forward(rows),
            inverse_rows: planner.plan_fft_inverse(cols),
            inverse_cols: planner.plan_fft_inverse(rows),
        }
    }

    /// In-place forward transform of `[rows, cols]` values.
    pub fn forward(&self, data: &mut [Complex64]) {
        self.transform(data, &*self.forward_rows, &*self.forward_cols);
    }

    /// In-place inverse transform, normalised so that `inverse(forward(x)) == x`.
    pub fn inverse(&self, data: &mut [Complex64]) {
        self.transform(data, &*self.inverse_rows, &*self.inverse_cols);
        let scale = 1.0 / (self.rows * self.cols) as f64;
        data.iter_mut().for_each(|v| *v *= scale);
    }

    /// Every row through `along_rows`, then every column through `along_cols` (columns are
    /// made contiguous by a transpose, since rustfft transforms contiguous runs).
    fn transform(
        &self,
        data: &mut [Complex64],
        along_rows: &dyn Fft<f64>,
        along_cols: &dyn Fft<f64>,
    ) {
        assert_eq!(
            data.len(),
            self.rows * self.cols,
            "array is not {}x{}",
            self.rows,
            self.cols
        );
        along_rows.process(data);
        let mut columns = transpose(data, self.rows, self.cols);
        along_cols.process(&mut columns);
        data.copy_from_slice(&transpose(&columns, self.cols, self.rows));
    }
}

/// `[rows, cols]` row-major into `[cols, rows]` row-major.
fn transpose(data: &[Complex64], rows: usize, cols: usize) -> Vec<Complex64> {
    let mut out = vec![Complex64::default(); data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn naive_dft(data: &[Complex64], rows: usize, cols: usize) -> Vec<Complex64> {
        let mut out = vec![Complex64::default(); data.len()];
        for u in 0..rows {
            for v in 0..cols {
                for r in 0..rows {
                    for c in 0..cols {
                        let phase = -2.0
                            * PI
                            * ((u * r) as f64 / rows as f64 + (v * c) as f64 / cols as f64);
                        out[u * cols + v] += data[r * cols + c] * Complex64::from_polar(1.0, phase);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn forward_matches_the_definition_and_inverse_undoes_it() {
        let (rows, cols) = (6, 10);
        let input: Vec<Complex64> = (0..rows * cols)
            .map(|i| Complex64::new((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos()))
            .collect();
        let fft = Fft2::new(rows, cols);
        let mut data = input.clone();
        fft.forward(&mut data);
        for (a, b) in data.iter().zip(naive_dft(&input, rows, cols)) {
            assert!((a - b).norm() < 1e-12, "{a} against {b}");
        }
        fft.inverse(&mut data);
        for (a, b) in data.iter().zip(&input) {
            assert!((a - b).norm() < 1e-14);
        }
    }
}
