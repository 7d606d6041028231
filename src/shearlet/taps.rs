//! The 1-D filters of the shearlet system: a quadrature mirror pair and its dyadic cascades.
//!
//! With `h_1` the 9-tap symmetric QMF lowpass and `g_1(t) = (-1)^t h_1(t)` its mirror (a
//! highpass), the filters of a 1-D wavelet transform on `j` levels follow from
//! `h_{j+1} = h_1 * (h_j upsampled by 2)` and `g_{j+1} = h_1 * (g_j upsampled by 2)`, where
//! upsampling inserts one zero between taps. `g_j` passes the octave around `pi / 2^j`, so the
//! shearlet system's scale `s` of `J` (1 coarsest) takes `g_{J + 1 - s}` as its radial bandpass
//! and `h_J` as its lowpass. Lengths grow as `L_{j+1} = 2 L_j + 7`: 9, 25, 57, 121, ...

/// ShearLab's default quadrature mirror lowpass `h_1`, to the digits ShearLab states them
/// (the last digits make it very slightly asymmetric; kept for exact agreement).
pub(crate) const QMF_LOWPASS: [f64; 9] = [
    0.0104933261758410,
    -0.0263483047033631,
    -0.0517766952966370,
    0.276348304703363,
    0.582566738241592,
    0.276348304703363,
    -0.0517766952966369,
    -0.0263483047033631,
    0.0104933261758408,
];

/// `g_1(t) = (-1)^t h_1(t)`: moves the lowpass response from zero frequency to Nyquist.
pub(crate) fn mirror(taps: &[f64]) -> Vec<f64> {
    taps.iter()
        .enumerate()
        .map(|(t, v)| if t % 2 == 0 { *v } else { -v })
        .collect()
}

/// Full linear convolution of two tap sequences.
pub(crate) fn convolve(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; a.len() + b.len() - 1];
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            out[i + j] += x * y;
        }
    }
    out
}

/// Inserts a zero between consecutive taps, halving the filter's frequency scale.
fn upsample_by_two(taps: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; 2 * taps.len() - 1];
    for (t, v) in taps.iter().enumerate() {
        out[2 * t] = *v;
    }
    out
}

/// The filter `level` steps down the cascade that starts from `first` (level 1).
fn cascade(first: &[f64], level: usize) -> Vec<f64> {
    let mut taps = first.to_vec();
    for _ in 1..level {
        taps = convolve(&QMF_LOWPASS, &upsample_by_two(&taps));
    }
    taps
}

/// `h_level`: the lowpass that keeps frequencies below about `pi / 2^level`.
pub(crate) fn lowpass(level: usize) -> Vec<f64> {
    cascade(&QMF_LOWPASS, level)
}

/// `g_level`: the bandpass for the octave around `pi / 2^level`.
pub(crate) fn bandpass(level: usize) -> Vec<f64> {
    cascade(&mirror(&QMF_LOWPASS), level)
}

/// Length of the level-`level` cascade filter without building it.
pub(crate) fn cascade_length(level: usize) -> usize {
    (1..level).fold(QMF_LOWPASS.len(), |length, _| {
        QMF_LOWPASS.len() + 2 * length - 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cascade_lengths_follow_the_recursion() {
        for level in 1..=5 {
            assert_eq!(lowpass(level).len(), cascade_length(level));
            assert_eq!(bandpass(level).len(), cascade_length(level));
        }
        assert_eq!(cascade_length(4), 121);
    }

    #[test]
    fn the_lowpass_passes_dc_and_the_bandpass_blocks_it() {
        let dc_gain: f64 = lowpass(3).iter().sum();
        let high_dc: f64 = bandpass(3).iter().sum();
        // The QMF is normalised to sum 1, so every cascade level keeps unit DC gain.
        assert!((dc_gain - 1.0).abs() < 1e-12, "{dc_gain}");
        assert!(high_dc.abs() < 1e-12, "{high_dc}");
    }
}
