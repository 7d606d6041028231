//! A small real 2-D array for building the filters in pixel space.
//!
//! Every kernel here has odd side lengths and its origin at its centre element, index
//! `(rows / 2, cols / 2)`; embedding keeps that origin at `floor(size / 2)`, which is where
//! ShearLab keeps it and where `ifftshift` expects it.

/// Row-major real values, `[rows, cols]`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Grid {
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<f64>,
}

impl Grid {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            values: vec![0.0; rows * cols],
        }
    }

    /// A 1-D filter laid out along a column (it filters along the vertical axis).
    pub fn column_filter(taps: &[f64]) -> Self {
        Self {
            rows: taps.len(),
            cols: 1,
            values: taps.to_vec(),
        }
    }

    pub fn at(&self, row: usize, col: usize) -> f64 {
        self.values[row * self.cols + col]
    }

    pub fn set(&mut self, row: usize, col: usize, value: f64) {
        self.values[row * self.cols + col] = value;
    }

    pub fn row(&self, row: usize) -> &[f64] {
        &self.values[row * self.cols..(row + 1) * self.cols]
    }

    pub fn row_mut(&mut self, row: usize) -> &mut [f64] {
        &mut self.values[row * self.cols..(row + 1) * self.cols]
    }

    pub fn scaled(mut self, factor: f64) -> Self {
        self.values.iter_mut().for_each(|v| *v *= factor);
        self
    }

    pub fn sum(&self) -> f64 {
        self.values.iter().sum()
    }

    pub fn sum_abs(&self) -> f64 {
        self.values.iter().map(|v| v.abs()).sum()
    }

    /// Full linear convolution; the result has `rows + kernel.rows - 1` rows (likewise for
    /// columns), so for odd sizes the origins stay at the centres.
    pub fn convolve_full(&self, kernel: &Grid) -> Grid {
        let mut out = Grid::zeros(self.rows + kernel.rows - 1, self.cols + kernel.cols - 1);
        for r in 0..self.rows {
            for c in 0..self.cols {
                let value = self.at(r, c);
                if value == 0.0 {
                    continue;
                }
                for kr in 0..kernel.rows {
                    let out_row = out.row_mut(r + kr);
                    let kernel_row = kernel.row(kr);
                    for (kc, k) in kernel_row.iter().enumerate() {
                        out_row[c + kc] += value * k;
                    }
                }
            }
        }
        out
    }

    /// Inserts `factor - 1` zero rows between consecutive rows: in frequency this compresses
    /// the vertical axis by `factor`, repeating the spectrum `factor` times along it.
    pub fn upsample_rows(&self, factor: usize) -> Grid {
        let mut out = Grid::zeros((self.rows - 1) * factor + 1, self.cols);
        for r in 0..self.rows {
            out.row_mut(r * factor).copy_from_slice(self.row(r));
        }
        out
    }

    /// Inserts `factor - 1` zero columns between consecutive columns.
    pub fn upsample_cols(&self, factor: usize) -> Grid {
        let mut out = Grid::zeros(self.rows, (self.cols - 1) * factor + 1);
        for r in 0..self.rows {
            let source = self.row(r);
            let target = out.row_mut(r);
            for (c, value) in source.iter().enumerate() {
                target[c * factor] = *value;
            }
        }
        out
    }

    /// Zero-pads an odd-sized kernel to `[rows, cols]` with its centre at
    /// `(rows / 2, cols / 2)`.
    ///
    /// # Panics
    /// If the kernel has an even side or does not fit; the size check in `support` rules both
    /// out before any filter is built.
    pub fn embed_centred(&self, rows: usize, cols: usize) -> Grid {
        assert!(
            self.rows % 2 == 1 && self.cols % 2 == 1,
            "kernels have odd sizes, got {}x{}",
            self.rows,
            self.cols
        );
        assert!(
            self.rows <= rows && self.cols <= cols,
            "kernel larger than {rows}x{cols}"
        );
        let top = rows / 2 - self.rows / 2;
        let left = cols / 2 - self.cols / 2;
        let mut out = Grid::zeros(rows, cols);
        for r in 0..self.rows {
            out.row_mut(top + r)[left..left + self.cols].copy_from_slice(self.row(r));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_keeps_the_centre_at_half_the_size() {
        let kernel = Grid {
            rows: 3,
            cols: 1,
            values: vec![1.0, 2.0, 3.0],
        };
        for size in [6, 7] {
            let embedded = kernel.embed_centred(size, size);
            assert_eq!(embedded.at(size / 2, size / 2), 2.0);
            assert_eq!(embedded.at(size / 2 - 1, size / 2), 1.0);
        }
    }

    #[test]
    fn full_convolution_of_deltas_adds_offsets() {
        let a = Grid::column_filter(&[0.0, 1.0, 0.0]);
        let b = Grid {
            rows: 1,
            cols: 3,
            values: vec![2.0, 0.0, 0.0],
        };
        let out = a.convolve_full(&b);
        assert_eq!((out.rows, out.cols), (3, 3));
        assert_eq!(out.at(1, 0), 2.0);
        assert_eq!(out.sum(), 2.0);
    }
}
