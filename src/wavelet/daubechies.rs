//! Daubechies' orthogonal wavelet filters, from their closed form.
//!
//! The scaling filter `h` of `dbN` is the minimum-phase spectral factor of Daubechies'
//! polynomial (Daubechies, "Orthonormal bases of compactly supported wavelets", Comm. Pure
//! Appl. Math. 41, 1988; "Ten Lectures on Wavelets", SIAM 1992, section 6.1). For `N = 3` the
//! factorisation has radicals only: with `a = sqrt 10` and `b = sqrt(5 + 2 sqrt 10)`,
//!
//! ```text
//! h = [1 + a + b, 5 + a + 3b, 10 - 2a + 2b, 10 - 2a - 2b, 5 + a - 3b, 1 + a - b] / (16 sqrt 2)
//! ```
//!
//! which is the table of published db3 values (0.33267, 0.80689, 0.45988, -0.13501, -0.08544,
//! 0.03523) to every digit f64 holds. The tests check what defines it: orthonormal to its even
//! shifts, sum `sqrt 2`, and three vanishing moments of the wavelet.

use serde::{Deserialize, Serialize};

/// The orthogonal wavelets the transform offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wavelet {
    /// Daubechies' wavelet with three vanishing moments (6 taps), WaveletX's choice.
    #[default]
    Db3,
}

impl Wavelet {
    pub fn name(self) -> &'static str {
        match self {
            Wavelet::Db3 => "db3",
        }
    }

    /// The scaling filter `h` (synthesis lowpass), normalised to sum `sqrt 2`.
    pub fn scaling_filter(self) -> Vec<f64> {
        match self {
            Wavelet::Db3 => {
                let a = 10f64.sqrt();
                let b = (5.0 + 2.0 * a).sqrt();
                let scale = 16.0 * std::f64::consts::SQRT_2;
                [
                    1.0 + a + b,
                    5.0 + a + 3.0 * b,
                    10.0 - 2.0 * a + 2.0 * b,
                    10.0 - 2.0 * a - 2.0 * b,
                    5.0 + a - 3.0 * b,
                    1.0 + a - b,
                ]
                .iter()
                .map(|v| v / scale)
                .collect()
            }
        }
    }

    /// The analysis lowpass and highpass, as convolution taps: the time-reversed scaling
    /// filter, and the quadrature mirror `g[t] = (-1)^(t + 1) h[t]` of the scaling filter.
    /// These are the `dec_lo` and `dec_hi` of PyWavelets.
    pub fn analysis_filters(self) -> [Vec<f64>; 2] {
        let scaling = self.scaling_filter();
        let lowpass = scaling.iter().rev().copied().collect();
        let highpass = scaling
            .iter()
            .enumerate()
            .map(|(t, v)| if t % 2 == 0 { -v } else { *v })
            .collect();
        [lowpass, highpass]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXACT: f64 = 1e-15;

    #[test]
    fn db3_is_orthonormal_to_its_even_shifts() {
        let h = Wavelet::Db3.scaling_filter();
        for shift in (0..h.len()).step_by(2) {
            let product: f64 = (0..h.len() - shift).map(|t| h[t] * h[t + shift]).sum();
            let want = if shift == 0 { 1.0 } else { 0.0 };
            assert!((product - want).abs() < EXACT, "shift {shift}: {product}");
        }
        let sum: f64 = h.iter().sum();
        assert!((sum - std::f64::consts::SQRT_2).abs() < EXACT, "sum {sum}");
    }

    #[test]
    fn db3_wavelet_has_three_vanishing_moments() {
        let [_, highpass] = Wavelet::Db3.analysis_filters();
        for power in 0..3 {
            let moment: f64 = highpass
                .iter()
                .enumerate()
                .map(|(t, g)| g * (t as f64).powi(power))
                .sum();
            assert!(moment.abs() < 1e-13, "moment {power}: {moment}");
        }
    }

    /// The leading digits of the published table (Daubechies 1992, table 6.1, scaled by
    /// `sqrt 2` as PyWavelets stores them), as a guard against a sign or order slip.
    #[test]
    fn db3_matches_the_published_table() {
        let published = [0.332671, 0.806892, 0.459878, -0.135011, -0.085441, 0.035226];
        for (h, p) in Wavelet::Db3.scaling_filter().iter().zip(published) {
            assert!((h - p).abs() < 1e-6, "{h} against {p}");
        }
    }
}
