//! The 2-D directional filter `dmaxflat4` that gives the shearlets their orientation.
//!
//! It is the diamond lowpass of da Cunha's nonsubsampled contourlet toolbox built by a
//! McClellan transform: a 1-D zero-phase lowpass `B(w) = sum_n a_n cos(n w)` becomes
//! `H(w1, w2) = sum_n a_n T_n(F(w1, w2))`, with `T_n` the Chebyshev polynomials
//! (`T_n(cos w) = cos(n w)`) and `F` the frequency response of a diamond-symmetric kernel (the
//! maximally flat diamond kernel of order 4). `H` then inherits the diamond-shaped level
//! curves of `F`: it passes the diamond `|w1| + |w2| < pi` (`w1` the vertical, `w2` the
//! horizontal frequency). Modulating its columns by `(-1)^n` moves that diamond to `(0, pi)`,
//! which turns it into the fan (bow-tie) `|w1| < |w2|` around the horizontal-frequency axis:
//! the directional component of the shearlets of the first cone.

use super::grid::Grid;

/// Upper-left quarter of the order-4 maximally flat diamond kernel, in units of `2^-12`;
/// the full 9x9 kernel is its mirror image in both axes, with a zero centre.
const DIAMOND_QUARTER: [[f64; 5]; 5] = [
    [0.0, -5.0, 0.0, -3.0, 0.0],
    [-5.0, 0.0, 52.0, 0.0, 34.0],
    [0.0, 52.0, 0.0, -276.0, 0.0],
    [-3.0, 0.0, -276.0, 0.0, 1454.0],
    [0.0, 34.0, 0.0, 1454.0, 0.0],
];
const DIAMOND_SCALE: f64 = 4096.0;

/// The 9x9 diamond kernel `F` used in place of `cos w`.
fn diamond_kernel() -> Grid {
    let last = 2 * (DIAMOND_QUARTER.len() - 1);
    let mut kernel = Grid::zeros(last + 1, last + 1);
    for r in 0..=last {
        for c in 0..=last {
            let quarter = DIAMOND_QUARTER[r.min(last - r)][c.min(last - c)];
            kernel.set(r, c, quarter / DIAMOND_SCALE);
        }
    }
    kernel
}

/// The 1-D lowpass of the `dmaxflat4` ladder structure, `[x0, x1, x2, x1, x0]`, from its lifting
/// constants `k1 = k3 = 1 - sqrt 2`, `k2 = 1 / sqrt 2` and gain `1 / sqrt 2`.
fn ladder_lowpass() -> [f64; 5] {
    let gain = 1.0 / 2f64.sqrt();
    let k2 = gain;
    let k3 = 1.0 - 2f64.sqrt();
    let outer = 0.25 * k2 * k3 * gain;
    let inner = 0.5 * k2 * gain;
    let centre = (1.0 + 0.5 * k2 * k3) * gain;
    [outer, inner, centre, inner, outer]
}

/// Chebyshev coefficients `a_n` of a symmetric odd-length filter: `B(w) = sum_n a_n cos(n w)`
/// with `a_0` the centre tap and `a_n` twice the tap `n` away from it.
fn cosine_coefficients(taps: &[f64]) -> Vec<f64> {
    let centre = taps.len() / 2;
    (0..=centre)
        .map(|n| {
            if n == 0 {
                taps[centre]
            } else {
                2.0 * taps[centre + n]
            }
        })
        .collect()
}

/// Adds `weight * from` into `into`, both centred (`from` no larger than `into`).
fn add_centred(into: &mut Grid, from: &Grid, weight: f64) {
    let top = into.rows / 2 - from.rows / 2;
    let left = into.cols / 2 - from.cols / 2;
    for r in 0..from.rows {
        let target = &mut into.row_mut(top + r)[left..left + from.cols];
        for (t, f) in target.iter_mut().zip(from.row(r)) {
            *t += weight * f;
        }
    }
}

/// McClellan transform `sum_n a_n T_n(kernel)`, with the Chebyshev recursion
/// `T_0 = delta`, `T_1 = kernel`, `T_n = 2 kernel * T_{n-1} - T_{n-2}` (`*` convolution).
/// The result is centrally symmetric because the kernel is.
fn mcclellan(prototype: &[f64], kernel: &Grid) -> Grid {
    let coefficients = cosine_coefficients(prototype);
    let order = coefficients.len() - 1;
    let side = |n: usize| n * (kernel.rows - 1) + 1;
    let mut result = Grid::zeros(side(order), side(order));
    let mut previous = Grid {
        rows: 1,
        cols: 1,
        values: vec![1.0],
    };
    add_centred(&mut result, &previous, coefficients[0]);
    if order == 0 {
        return result;
    }
    let mut current = kernel.clone();
    add_centred(&mut result, &current, coefficients[1]);
    for coefficient in &coefficients[2..] {
        let mut next = kernel.convolve_full(&current).scaled(2.0);
        add_centred(&mut next, &previous, -1.0);
        add_centred(&mut result, &next, *coefficient);
        previous = std::mem::replace(&mut current, next);
    }
    result
}

/// Multiplies column `c` by `(-1)^(c - centre)`: a shift by `pi` in horizontal frequency.
fn modulate_columns(mut grid: Grid) -> Grid {
    let centre = grid.cols / 2;
    for r in 0..grid.rows {
        for (c, value) in grid.row_mut(r).iter_mut().enumerate() {
            if c.abs_diff(centre) % 2 == 1 {
                *value = -*value;
            }
        }
    }
    grid
}

/// The 17x17 directional filter: the `dmaxflat4` diamond lowpass normalised to unit DC gain,
/// modulated to a fan along the horizontal-frequency axis, then scaled to unit absolute sum
/// (ShearLab's normalisation, which fixes the overall gain of every wedge filter).
pub(crate) fn directional_filter() -> Grid {
    let diamond = mcclellan(&ladder_lowpass(), &diamond_kernel());
    let dc_gain = diamond.sum();
    let fan = modulate_columns(diamond.scaled(1.0 / dc_gain));
    let absolute_sum = fan.sum_abs();
    fan.scaled(1.0 / absolute_sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directional_filter_is_17_by_17_with_unit_absolute_sum() {
        let filter = directional_filter();
        assert_eq!((filter.rows, filter.cols), (17, 17));
        assert!((filter.sum_abs() - 1.0).abs() < 1e-14);
    }

    /// `sum_{r,c} (-1)^r (-1)^c f(r, c)` and friends: the filter's response at `(pi, pi)` etc.
    fn response_at(filter: &Grid, vertical_nyquist: bool, horizontal_nyquist: bool) -> f64 {
        let sign = |offset: usize, nyquist: bool| {
            if nyquist && offset % 2 == 1 {
                -1.0
            } else {
                1.0
            }
        };
        let mut sum = 0.0;
        for r in 0..filter.rows {
            for c in 0..filter.cols {
                let signs =
                    sign(r.abs_diff(8), vertical_nyquist) * sign(c.abs_diff(8), horizontal_nyquist);
                sum += signs * filter.at(r, c);
            }
        }
        sum
    }

    #[test]
    fn the_fan_passes_horizontal_frequencies_and_blocks_vertical_ones() {
        // The fan is the diamond lowpass H moved by pi horizontally: at (0, pi) it has H's DC
        // gain, at (pi, 0) H's value at (pi, pi), where the maximally flat diamond vanishes.
        let filter = directional_filter();
        let horizontal_nyquist = response_at(&filter, false, true);
        let vertical_nyquist = response_at(&filter, true, false);
        let zero = response_at(&filter, false, false);
        assert!(
            horizontal_nyquist > zero && zero > 0.0,
            "{horizontal_nyquist} {zero}"
        );
        assert!(vertical_nyquist.abs() < 1e-12, "{vertical_nyquist}");
        // At zero frequency the fan sits on the diamond's border, at 1 / sqrt 2 of its peak.
        assert!((zero / horizontal_nyquist - 0.5f64.sqrt()).abs() < 1e-3);
    }
}
