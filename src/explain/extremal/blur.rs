//! The blur perturbation: the image blurred at a ladder of strengths, and a mask that picks,
//! pixel by pixel, how blurred the image is there (torchray's `Perturbation` of type blur).
//!
//! Level `l` of `L` is the image convolved with a Gaussian of deviation
//! `sigma_l = (1 - l / (L - 1)) sigma_max`: level 0 the most blurred, level `L - 1` the image
//! itself. The Gaussian is separable, truncated at `ceil(4 sigma)` taps each side and
//! normalised to sum 1, with zero padding outside the image. A mask value `m` in [0, 1] reads
//! the ladder at `w = m (L - 1)`, interpolating linearly between levels `floor(w)` and
//! `floor(w) + 1`.

use burn::tensor::{Device, Tensor, TensorData};

use crate::LabError;

/// Added to the Gaussian's scale as torchray adds it (f32's machine epsilon), so that a
/// deviation of 0 gives the identity.
const SCALE_EPSILON: f64 = f32::EPSILON as f64;

/// The blurred ladder of one image.
#[derive(Debug, Clone)]
pub struct BlurPyramid {
    /// `levels` images `[1, channels, height, width]`, most blurred first.
    levels: Vec<Tensor<4>>,
}

impl BlurPyramid {
    /// Shapes: `image` is `[1, channels, height, width]`.
    pub fn new(image: Tensor<4>, levels: usize, max_blur: f64) -> Result<Self, LabError> {
        if levels < 2 || !(max_blur.is_finite() && max_blur > 0.0) {
            return Err(LabError::Config(format!(
                "the blur perturbation needs at least 2 levels and a positive largest blur, not \
                 {levels} levels and {max_blur}"
            )));
        }
        let [_, _, height, width] = image.dims();
        let device = image.device();
        let image = image.detach();
        let levels = (0..levels)
            .map(|level| {
                let sigma = (1.0 - level as f64 / (levels - 1) as f64) * max_blur;
                let rows = blur_matrix(height, sigma, &device).unsqueeze::<4>();
                let cols = blur_matrix(width, sigma, &device).transpose().unsqueeze();
                rows.matmul(image.clone()).matmul(cols)
            })
            .collect();
        Ok(Self { levels })
    }

    pub fn level_count(&self) -> usize {
        self.levels.len()
    }

    /// The ladder itself, most blurred first.
    pub fn levels(&self) -> &[Tensor<4>] {
        &self.levels
    }

    /// The perturbed images. The gradient reaches the mask through the interpolation
    /// fraction only (the chosen levels are constants), as with torchray.
    ///
    /// Shapes: `mask` is `[masks, 1, height, width]` in [0, 1]; the result is
    /// `[masks, channels, height, width]`.
    pub fn apply(&self, mask: Tensor<4>) -> Tensor<4> {
        let top = (self.levels.len() - 1) as f32;
        let position = mask * top;
        let lower = position.clone().detach().floor();
        let upper = (lower.clone() + 1.0).clamp_max(top);
        let fraction = position - lower.clone();
        let below = fraction.clone().neg() + 1.0;
        self.levels
            .iter()
            .enumerate()
            .map(|(level, image)| {
                let level = level as f32;
                let weight = lower.clone().equal_elem(level).float() * below.clone()
                    + upper.clone().equal_elem(level).float() * fraction.clone();
                image.clone() * weight
            })
            .reduce(|sum, term| sum + term)
            .expect("at least two levels")
    }
}

/// The `[size, size]` matrix of a truncated, normalised Gaussian blur with zero padding.
fn blur_matrix(size: usize, sigma: f64, device: &Device) -> Tensor<2> {
    let taps = gaussian_taps(sigma);
    let half = (taps.len() / 2) as isize;
    let mut matrix = vec![0.0f32; size * size];
    for u in 0..size {
        for (j, &tap) in taps.iter().enumerate() {
            let t = u as isize + j as isize - half;
            if (0..size as isize).contains(&t) {
                matrix[u * size + t as usize] = tap as f32;
            }
        }
    }
    Tensor::from_data(TensorData::new(matrix, [size, size]), device)
}

/// `exp(-(i / (sqrt 2 sigma + eps))^2)` for `i` in `-ceil(4 sigma)..=ceil(4 sigma)`, summing
/// to 1.
fn gaussian_taps(sigma: f64) -> Vec<f64> {
    let half = (4.0 * sigma).ceil() as i64;
    let scale = std::f64::consts::SQRT_2 * sigma + SCALE_EPSILON;
    let taps: Vec<f64> = (-half..=half)
        .map(|i| (-(i as f64 / scale).powi(2)).exp())
        .collect();
    let total: f64 = taps.iter().sum();
    taps.iter().map(|t| t / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_blur_is_the_identity_and_taps_sum_to_one() {
        assert_eq!(gaussian_taps(0.0), [1.0]);
        let taps = gaussian_taps(20.0);
        assert_eq!(taps.len(), 161);
        assert!((taps.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    }
}
