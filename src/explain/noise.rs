//! The perturbations that replace masked-out coefficients: random values drawn per band from
//! the band's statistics in the grey image, the same for every colour channel.
//!
//! Values come from the lab's SplitMix64 on the CPU, so a run draws the same noise on every
//! backend and repeats exactly with the same seed. They are drawn sample after sample, band
//! after band, coefficient after coefficient.

use std::f32::consts::TAU;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// How a perturbation of band `k` is distributed, given the mean `mu_k` and standard deviation
/// `sigma_k` of that band's coefficients in the grey image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NoiseDistribution {
    /// Uniform on `[mu_k - sigma_k, mu_k + sigma_k]`, as ShearletX draws it.
    #[default]
    Uniform,
    /// Normal with mean `mu_k` and deviation `sigma_k`.
    Gaussian,
}

/// The mean and standard deviation of one band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BandStatistics {
    pub mean: f32,
    pub deviation: f32,
}

/// Mean and sample standard deviation (divided by `n - 1`, as PyTorch's `std` computes it)
/// of each band of `coefficients`, accumulated in f64.
pub fn band_statistics(coefficients: &[f32], bands: &[Range<usize>]) -> Vec<BandStatistics> {
    bands
        .iter()
        .map(|band| {
            let values = &coefficients[band.clone()];
            let count = values.len() as f64;
            let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / count;
            let squares: f64 = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum();
            let deviation = if values.len() > 1 {
                (squares / (count - 1.0)).sqrt()
            } else {
                0.0
            };
            BandStatistics {
                mean: mean as f32,
                deviation: deviation as f32,
            }
        })
        .collect()
}

/// Draws perturbations of a representation's coefficients.
pub struct NoiseSource {
    distribution: NoiseDistribution,
    statistics: Vec<BandStatistics>,
    bands: Vec<Range<usize>>,
    numbers: SplitMix64,
}

impl NoiseSource {
    pub fn new(
        distribution: NoiseDistribution,
        statistics: Vec<BandStatistics>,
        bands: &[Range<usize>],
        seed: u64,
    ) -> Self {
        Self {
            distribution,
            statistics,
            bands: bands.to_vec(),
            numbers: SplitMix64::new(seed),
        }
    }

    /// `samples` perturbations, one flat coefficient vector each: `[samples, coefficients]`
    /// row-major.
    pub fn draw(&mut self, samples: usize) -> Vec<f32> {
        let count = self.bands.last().map_or(0, |band| band.end);
        let mut values = Vec::with_capacity(samples * count);
        for _ in 0..samples {
            for (band, statistics) in self.bands.iter().zip(&self.statistics) {
                let numbers = &mut self.numbers;
                let (mean, deviation) = (statistics.mean, statistics.deviation);
                match self.distribution {
                    NoiseDistribution::Uniform => values.extend(
                        (0..band.len())
                            .map(|_| mean + deviation * (2.0 * numbers.unit_f32() - 1.0)),
                    ),
                    NoiseDistribution::Gaussian => {
                        extend_gaussian(numbers, &mut values, band.len(), mean, deviation)
                    }
                }
            }
        }
        values
    }
}

/// `len` normal values by the Box-Muller transform, both values of each pair used.
fn extend_gaussian(
    numbers: &mut SplitMix64,
    values: &mut Vec<f32>,
    len: usize,
    mean: f32,
    deviation: f32,
) {
    let mut remaining = len;
    while remaining > 0 {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let radius = (-2.0 * (1.0 - numbers.unit_f32()).ln()).sqrt();
        let angle = TAU * numbers.unit_f32();
        values.push(mean + deviation * radius * angle.cos());
        if remaining > 1 {
            values.push(mean + deviation * radius * angle.sin());
        }
        remaining = remaining.saturating_sub(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(values: &[f32]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let variance = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0);
        (mean, variance.sqrt())
    }

    #[test]
    fn statistics_are_the_mean_and_sample_deviation_of_each_band() {
        let coefficients = [1.0, 2.0, 3.0, 4.0, 10.0, 10.0];
        let statistics = band_statistics(&coefficients, &[0..4, 4..6]);
        assert_eq!(statistics[0].mean, 2.5);
        // sqrt(((1.5^2 + 0.5^2) * 2) / 3)
        assert!((statistics[0].deviation - (5.0f32 / 3.0).sqrt()).abs() < 1e-6);
        assert_eq!(statistics[1].deviation, 0.0);
    }

    /// Each band's noise has its band's moments: a uniform on `[mu - s, mu + s]` has deviation
    /// `s / sqrt(3)`; 20000 draws pin a mean to about 1% of `s`.
    #[test]
    fn noise_follows_each_band_and_repeats_with_its_seed() {
        let bands = [0..20_000, 20_000..40_000];
        let statistics = vec![
            BandStatistics {
                mean: 1.0,
                deviation: 0.5,
            },
            BandStatistics {
                mean: -3.0,
                deviation: 2.0,
            },
        ];
        for distribution in [NoiseDistribution::Uniform, NoiseDistribution::Gaussian] {
            let mut source = NoiseSource::new(distribution, statistics.clone(), &bands, 5);
            let values = source.draw(1);
            let again = NoiseSource::new(distribution, statistics.clone(), &bands, 5).draw(1);
            assert_eq!(values, again);
            for (band, stats) in bands.iter().zip(&statistics) {
                let (mean, deviation) = moments(&values[band.clone()]);
                let expected = match distribution {
                    NoiseDistribution::Uniform => f64::from(stats.deviation) / 3f64.sqrt(),
                    NoiseDistribution::Gaussian => f64::from(stats.deviation),
                };
                let scale = f64::from(stats.deviation);
                assert!(
                    (mean - f64::from(stats.mean)).abs() < 0.03 * scale,
                    "{mean}"
                );
                assert!((deviation - expected).abs() < 0.03 * scale, "{deviation}");
                if distribution == NoiseDistribution::Uniform {
                    let low = stats.mean - stats.deviation;
                    let high = stats.mean + stats.deviation;
                    assert!(
                        values[band.clone()]
                            .iter()
                            .all(|v| (low..=high).contains(v))
                    );
                }
            }
        }
    }
}
