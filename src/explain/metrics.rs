//! The scores by which the ShearletX paper compares explanations, for every method.
//!
//! With `r` the retained probability (the top-class probability of the explanation over that
//! of the image, each input's own top class), a mask `m` over the coefficients `c` of the
//! representation the method masks (pixels for pixel methods), and `H(v) = -sum q log q`
//! over `q = |v|^2 / sum |v|^2`:
//!
//! - CP-L1 `= r / (sum |m c| / sum |c|)`,
//! - CP-L1-pixel `= r / (|explanation|_1 / |image|_1)`,
//! - CP-Entropy `= r / exp(H(m c) - H(c))`.
//!
//! High scores mean the explanation keeps the class probability with little of the image.
//! Sums run over every channel and coefficient at once. The arithmetic is f64 on the host:
//! the scores are ratios of sums over millions of values, which f32 would blur in the sixth
//! digit.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::Representation;
use crate::LabError;
use crate::device::read;
use crate::models::classifier::ImageClassifier;

/// The scores of one explanation. A score is absent where it is undefined: a mask that keeps
/// nothing (an empty explanation) has no conciseness ratio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplanationScores {
    /// The top class of the image and its probability.
    pub image_class: usize,
    pub image_probability: f64,
    /// The top class of the explanation and its probability.
    pub explanation_class: usize,
    pub explanation_probability: f64,
    pub retained_probability: f64,
    pub cp_l1: Option<f64>,
    pub cp_l1_pixel: Option<f64>,
    pub cp_entropy: Option<f64>,
}

/// The class with the largest probability and that probability, from logits (softmax in f64).
pub fn top_probability(logits: &[f32]) -> (usize, f64) {
    let largest = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let normaliser: f64 = logits
        .iter()
        .map(|&l| (f64::from(l) - f64::from(largest)).exp())
        .sum();
    let class = logits
        .iter()
        .position(|&l| l == largest)
        .expect("at least one logit");
    (class, 1.0 / normaliser)
}

/// `p_top(explanation) / p_top(image)`, each input with its own top class.
pub fn retained_probability(logits_explanation: &[f32], logits_image: &[f32]) -> f64 {
    top_probability(logits_explanation).1 / top_probability(logits_image).1
}

/// `sum |m c| / sum |c|`, with `mask` shared by the channels laid out one after another in
/// `coefficients` (or one value per coefficient of every channel).
pub fn masked_l1_fraction(mask: &[f32], coefficients: &[f32]) -> f64 {
    let masked: f64 = masked(mask, coefficients).map(f64::abs).sum();
    masked / l1(coefficients)
}

/// `H(v) = -sum q log q` with `q = |v|^2 / sum |v|^2`, taking `0 log 0 = 0`; NaN for a
/// vector of zeros, which has no distribution.
pub fn entropy(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let energy: f64 = values.clone().map(|v| v * v).sum();
    if energy == 0.0 {
        return f64::NAN;
    }
    -values
        .map(|v| v * v / energy)
        .filter(|&q| q > 0.0)
        .map(|q| q * q.ln())
        .sum::<f64>()
}

pub fn cp_l1(retained: f64, mask: &[f32], coefficients: &[f32]) -> f64 {
    retained / masked_l1_fraction(mask, coefficients)
}

pub fn cp_l1_pixel(retained: f64, explanation: &[f32], image: &[f32]) -> f64 {
    retained / (l1(explanation) / l1(image))
}

pub fn cp_entropy(retained: f64, mask: &[f32], coefficients: &[f32]) -> f64 {
    let kept = entropy(masked(mask, coefficients));
    let all = entropy(coefficients.iter().map(|&c| f64::from(c)));
    retained / (kept - all).exp()
}

fn l1(values: &[f32]) -> f64 {
    values.iter().map(|&v| f64::from(v.abs())).sum()
}

/// `m c` with the mask repeated for each channel.
fn masked<'a>(mask: &'a [f32], coefficients: &'a [f32]) -> impl Iterator<Item = f64> + Clone + 'a {
    coefficients
        .iter()
        .zip(mask.iter().cycle())
        .map(|(&c, &m)| f64::from(m) * f64::from(c))
}

impl ExplanationScores {
    /// The scores from values already on the host. `mask` has one value per coefficient of a
    /// channel (shared by all) or per coefficient of every channel; `coefficients` is
    /// `[channels, coefficients]`; `explanation` and `image` are the pixels of both images.
    pub fn from_values(
        logits_explanation: &[f32],
        logits_image: &[f32],
        mask: &[f32],
        coefficients: &[f32],
        explanation: &[f32],
        image: &[f32],
    ) -> Result<Self, LabError> {
        if mask.is_empty() || !coefficients.len().is_multiple_of(mask.len()) {
            return Err(LabError::Config(format!(
                "a mask of {} values does not cover {} coefficients channel by channel",
                mask.len(),
                coefficients.len()
            )));
        }
        if explanation.len() != image.len() {
            return Err(LabError::Config(format!(
                "the explanation has {} pixels and the image {}",
                explanation.len(),
                image.len()
            )));
        }
        let (image_class, image_probability) = top_probability(logits_image);
        let (explanation_class, explanation_probability) = top_probability(logits_explanation);
        let retained = explanation_probability / image_probability;
        let finite = |score: f64| score.is_finite().then_some(score);
        Ok(Self {
            image_class,
            image_probability,
            explanation_class,
            explanation_probability,
            retained_probability: retained,
            cp_l1: finite(cp_l1(retained, mask, coefficients)),
            cp_l1_pixel: finite(cp_l1_pixel(retained, explanation, image)),
            cp_entropy: finite(cp_entropy(retained, mask, coefficients)),
        })
    }

    /// Classifies both images and scores the explanation.
    ///
    /// Shapes: `image` and `explanation` are `[1, channels, height, width]`; `mask` is
    /// `[coefficients]` of `representation`, shared by the channels (pixels for pixel
    /// methods, Grad-CAM's heatmap included).
    pub async fn compute(
        classifier: &impl ImageClassifier,
        representation: &impl Representation,
        image: Tensor<4>,
        explanation: Tensor<4>,
        mask: Tensor<1>,
    ) -> Result<Self, LabError> {
        let [batch, ..] = image.dims();
        if batch != 1 || explanation.dims() != image.dims() {
            return Err(LabError::Config(format!(
                "scores take one image and one explanation of the same shape, not {:?} and {:?}",
                image.dims(),
                explanation.dims()
            )));
        }
        let logits = classifier.logits(Tensor::cat(vec![explanation.clone(), image.clone()], 0));
        let logits = read(logits).await?;
        let (logits_explanation, logits_image) = logits.split_at(logits.len() / 2);
        let coefficients = read(representation.analyse(image.clone())).await?;
        Self::from_values(
            logits_explanation,
            logits_image,
            &read(mask).await?,
            &coefficients,
            &read(explanation).await?,
            &read(image).await?,
        )
    }
}
