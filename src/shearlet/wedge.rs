//! Wedge filters: the directional filter, sheared digitally, one per shear of a shear level.
//!
//! Following ShearLab 3D (Kutyniok, Lim, Reisenhofer, arXiv 1402.5670, eqs. 21-22), for shear
//! level `l` (`2^l` shears to each side) and an `n x n` image:
//!
//! 1. Upsample the fan filter `P` by `2^(l+1)` along rows, which packs `2^(l+1)` copies of its
//!    fan along the vertical frequency axis, and convolve along columns with the lowpass
//!    `h_{l+1}`, which keeps only the central copy: a narrow wedge around the horizontal
//!    frequency axis, `2^(l+1)` times thinner than the fan.
//! 2. Embed it centred in `n x n` and upsample by `2^l` along columns (a finer grid on which
//!    the shear is exact), then smooth the rows with `h_l` (circularly).
//! 3. For each shear `k` in `-2^l..=2^l`, shear the grid digitally: row `r` is rolled by
//!    `k * floor(n / 2 - r)` columns. On the image grid this is the shear
//!    `(x, y) -> (x + k y / 2^l, y)`, `y` counted up from the centre row, which tilts the
//!    wedge in frequency to the slope `k / 2^l`. Convolve the rows with the reversed `h_l`, keep every `2^l`-th column and
//!    multiply by `2^l` (downsampling back to the image grid).
//!
//! The shear is the only operation here that is not a convolution; it keeps the kernel
//! centrally symmetric about `(n/2, n/2)`, so on even sizes the wedge spectra are real.

use rustfft::num_complex::Complex64;

use super::fft2::Fft2;
use super::grid::Grid;
use super::taps;

/// The digital shear of level `level` at a fixed image size, ready to produce wedge spectra.
pub(crate) struct WedgeLevel {
    size: usize,
    level: u32,
    /// Step 2's smoothed, column-upsampled wedge, `[size, (size - 1) 2^l + 1]`.
    fine: Grid,
    /// `h_l` reversed, applied after the shear.
    reversed_lowpass: Vec<f64>,
}

impl WedgeLevel {
    /// Steps 1 and 2 for `directional` (the 17x17 fan filter). `level` must be at least 1.
    pub fn new(size: usize, level: u32, directional: &Grid) -> Self {
        let copies = 1usize << (level + 1);
        let column_lowpass = Grid::column_filter(&taps::lowpass(level as usize + 1));
        let isolated = directional
            .upsample_rows(copies)
            .convolve_full(&column_lowpass);
        let stretched = isolated.embed_centred(size, size).upsample_cols(1 << level);
        let lowpass = taps::lowpass(level as usize);
        let fine = convolve_rows_circular(&stretched, &lowpass);
        let reversed_lowpass = lowpass.iter().rev().copied().collect();
        Self {
            size,
            level,
            fine,
            reversed_lowpass,
        }
    }

    /// Shears `-2^l..=2^l`.
    pub fn shears(&self) -> std::ops::RangeInclusive<i64> {
        let extent = 1i64 << self.level;
        -extent..=extent
    }

    /// Step 3 for shear `shear`: the `[size, size]` wedge kernel in pixel space, centred.
    pub fn kernel(&self, shear: i64) -> Grid {
        let factor = 1usize << self.level;
        let width = self.fine.cols as i64;
        let centre = (self.reversed_lowpass.len() / 2) as i64;
        let mut out = Grid::zeros(self.size, self.size);
        for r in 0..self.size {
            let roll = shear * floor_half(self.size as i64 - 2 * r as i64);
            let source = self.fine.row(r);
            for (m, target) in out.row_mut(r).iter_mut().enumerate() {
                let origin = (m * factor) as i64 + centre - roll;
                let mut sum = 0.0;
                for (t, tap) in self.reversed_lowpass.iter().enumerate() {
                    sum += tap * source[(origin - t as i64).rem_euclid(width) as usize];
                }
                *target = factor as f64 * sum;
            }
        }
        out
    }

    /// The kernel's 2-D spectrum in natural FFT layout (zero frequency at index 0).
    pub fn spectrum(&self, shear: i64, fft: &Fft2) -> Vec<Complex64> {
        let mut values = ifftshift(&self.kernel(shear));
        fft.forward(&mut values);
        values
    }
}

/// `floor(value / 2)`; for `value = n - 2 r` it is ShearLab's shear offset `floor(n / 2 - r)`.
fn floor_half(value: i64) -> i64 {
    value.div_euclid(2)
}

/// Circular convolution of every row with a centred odd-length filter:
/// `out[r][j] = sum_t taps[t] in[r][j + c - t]` (indices modulo the width, `c` the centre tap).
fn convolve_rows_circular(grid: &Grid, taps: &[f64]) -> Grid {
    let width = grid.cols as i64;
    let centre = (taps.len() / 2) as i64;
    let mut out = Grid::zeros(grid.rows, grid.cols);
    for r in 0..grid.rows {
        let source = grid.row(r);
        for (j, target) in out.row_mut(r).iter_mut().enumerate() {
            let origin = j as i64 + centre;
            *target = taps
                .iter()
                .enumerate()
                .map(|(t, tap)| tap * source[(origin - t as i64).rem_euclid(width) as usize])
                .sum();
        }
    }
    out
}

/// Moves the centre element `(rows/2, cols/2)` to index `(0, 0)`, as numpy's `ifftshift`.
fn ifftshift(grid: &Grid) -> Vec<Complex64> {
    let (rows, cols) = (grid.rows, grid.cols);
    let mut out = vec![Complex64::default(); rows * cols];
    for r in 0..rows {
        let source_row = (r + rows / 2) % rows;
        for c in 0..cols {
            out[r * cols + c] = Complex64::new(grid.at(source_row, (c + cols / 2) % cols), 0.0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shearlet::directional::directional_filter;

    #[test]
    fn the_unsheared_kernel_is_centrally_symmetric() {
        let size = 256;
        let level = WedgeLevel::new(size, 1, &directional_filter());
        let kernel = level.kernel(0);
        let mut largest_asymmetry: f64 = 0.0;
        for r in 1..size {
            for c in 1..size {
                let mirrored = kernel.at(size - r, size - c);
                largest_asymmetry = largest_asymmetry.max((kernel.at(r, c) - mirrored).abs());
            }
        }
        assert!(largest_asymmetry < 1e-15, "{largest_asymmetry}");
    }
}
