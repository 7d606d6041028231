//! The mask optimisation every masking method shares, over any [`Representation`].
//!
//! A mask `m` holds one value per coefficient, shared by the colour channels, starts at 1 and
//! is projected onto [0, 1] after each Adam step. Each step draws `noise_samples`
//! perturbations `p_s` (see `noise`), obfuscates the image with them (see `obfuscation`) and
//! minimises
//!
//! `distortion + lambda1 * mean|m| + lambda2 * mean|clamp01(SH^-1(m * c_grey))|`,
//!
//! with `SH^-1` the representation's synthesis, the distortion the mean over samples of
//! `(1 - softmax(f(x_obf))_c)^2` for the target class `c`, and `c_grey` the coefficients of
//! the grey image (the mean of the channels). `lambda2 = 0` leaves the spatial term out.
//! `mean|m|` is summed blockwise: a plain f32 sum over millions of values drifts.
//!
//! Memory: the samples go through the classifier a few at a time (`samples_per_pass`), each
//! pass with its own backward, and the mask gradients add up before the Adam step, so only one
//! pass's graph lives at a time. The paper variant synthesises `SH^-1(m * c_j)` once per step
//! outside the passes; the gradient reaching it from every pass is collected and sent through
//! its synthesis once, together with the regularisers.

use burn::optim::Optimizer;
use burn::optim::{Adam, AdamConfig, AdamState};
use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::Representation;
use super::noise::{NoiseDistribution, NoiseSource, band_statistics};
use super::obfuscation::{Variant, synthesise_masked, synthesise_mixed, synthesise_noise};
use crate::LabError;
use crate::device::read;
use crate::models::classifier::ImageClassifier;
use crate::progress::{Control, Progress, StepEvent};

/// PyTorch's default, which the reference implementations run with.
pub const ADAM_EPSILON: f32 = 1e-8;

/// Without a `samples_per_pass`, a pass takes as many samples as keep the coefficients it
/// synthesises under this many bytes.
pub const PASS_BUDGET_BYTES: usize = 96 << 20;

const MAX_STEPS: usize = 100_000;
/// The most values one round of a blockwise sum adds up.
const REDUCTION_BLOCK: usize = 256;
const MAX_SAMPLES: usize = 4096;

/// Everything a mask optimisation needs besides the image, the representation and the
/// classifier. Each method provides its own defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskSettings {
    pub steps: usize,
    pub learning_rate: f64,
    /// Weight of `mean|m|`, the sparsity of the mask.
    pub lambda1: f64,
    /// Weight of the spatial term `mean|clamp01(SH^-1(m * c_grey))|`; 0 leaves it out.
    pub lambda2: f64,
    /// Perturbations drawn per step.
    pub noise_samples: usize,
    pub noise: NoiseDistribution,
    pub variant: Variant,
    /// The class to explain; the classifier's top class for the image when absent.
    pub target_class: Option<usize>,
    /// Seeds the noise; the same seed repeats a run exactly on one backend.
    pub seed: u64,
    /// Samples per forward and backward pass; absent, as many as fit `PASS_BUDGET_BYTES`.
    pub samples_per_pass: Option<usize>,
}

impl MaskSettings {
    /// Checks what can be checked without the classifier (the target class is checked
    /// against it when the optimisation starts).
    pub fn validate(&self) -> Result<(), LabError> {
        let problem = if self.steps == 0 || self.steps > MAX_STEPS {
            format!(
                "steps must be between 1 and {MAX_STEPS}, not {}",
                self.steps
            )
        } else if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            format!(
                "the learning rate must be positive, not {}",
                self.learning_rate
            )
        } else if !(self.lambda1.is_finite() && self.lambda1 >= 0.0) {
            format!("lambda1 must be zero or positive, not {}", self.lambda1)
        } else if !(self.lambda2.is_finite() && self.lambda2 >= 0.0) {
            format!("lambda2 must be zero or positive, not {}", self.lambda2)
        } else if self.noise_samples == 0 || self.noise_samples > MAX_SAMPLES {
            format!(
                "noise samples must be between 1 and {MAX_SAMPLES}, not {}",
                self.noise_samples
            )
        } else if self.samples_per_pass == Some(0) {
            "samples per pass must be at least 1 (or left out to choose automatically)".into()
        } else {
            return Ok(());
        };
        Err(LabError::Config(problem))
    }
}

/// The loss terms of one step, before its Adam update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LossTerms {
    pub loss: f64,
    pub distortion: f64,
    /// `mean|m|`.
    pub mask_l1: f64,
    /// `mean|clamp01(SH^-1(m * c_grey))|`, 0 when the term is left out.
    pub spatial: f64,
    /// The target class's softmax probability, averaged over the obfuscated images.
    pub probability: f64,
    /// `probability` over the target's probability for the unmasked image.
    pub retained: f64,
}

impl LossTerms {
    pub fn event(&self, step: usize, total: usize) -> StepEvent {
        let metrics = [
            ("loss", self.loss),
            ("distortion", self.distortion),
            ("mask_l1", self.mask_l1),
            ("spatial", self.spatial),
            ("probability", self.probability),
            ("retained", self.retained),
        ];
        StepEvent {
            step,
            total,
            metrics: BTreeMap::from(metrics.map(|(name, value)| (name.to_string(), value))),
        }
    }
}

/// What a finished (or stopped) optimisation leaves.
#[derive(Debug, Clone, Serialize)]
pub struct MaskOutcome {
    pub target_class: usize,
    /// The target's softmax probability for the unmasked image.
    pub original_probability: f32,
    /// The final mask, one value per coefficient. Left out of serialised reports (3.2 M
    /// values for a 256x256 shearlet mask).
    #[serde(skip)]
    pub mask: Vec<f32>,
    /// `clamp01(SH^-1(m * c_j))` per channel, divided by its largest value over all channels
    /// (which keeps its colours): `[channels, height, width]`.
    pub explanation: Vec<f32>,
    pub explanation_shape: [usize; 3],
    /// The largest value the explanation was divided by; multiply to get what the classifier
    /// sees. 0 when the explanation is black.
    pub explanation_scale: f32,
    pub history: Vec<LossTerms>,
    /// Whether the run ended on a Stop before its last step.
    pub stopped: bool,
}

/// Runs the optimisation, reporting each step to `progress` and appending it to `steps`. A
/// Stop ends it after the current step. A loss that is not finite ends it with
/// [`LabError::Diverged`]; `steps` then keeps the steps that finished.
///
/// Shapes: `image` is `[channels, height, width]` in [0, 1] at the representation's size, on
/// the device of the representation and the classifier (which may be an autodiff device or
/// its inner device; the mask's gradients are taken on the autodiff one either way).
pub async fn optimise_mask<R, C, P>(
    representation: &R,
    classifier: &C,
    image: Tensor<3>,
    settings: &MaskSettings,
    progress: &mut P,
    steps: &mut Vec<StepEvent>,
) -> Result<MaskOutcome, LabError>
where
    R: Representation,
    C: ImageClassifier,
    P: Progress,
{
    let mut optimiser = MaskOptimiser::new(representation, classifier, image, settings).await?;
    let mut stopped = false;
    for step in 1..=settings.steps {
        let event = optimiser.step(step).await?.event(step, settings.steps);
        steps.push(event.clone());
        if progress.step(&event).await == Control::Stop {
            stopped = step < settings.steps;
            break;
        }
    }
    optimiser.finish(stopped).await
}

/// The state of one optimisation between steps.
pub struct MaskOptimiser<'a, R, C> {
    representation: &'a R,
    classifier: &'a C,
    settings: MaskSettings,
    /// One `[1, coefficients]` vector per channel.
    coefficients: Vec<Tensor<2>>,
    /// The grey image's coefficients, `[1, coefficients]`.
    coefficients_grey: Tensor<2>,
    target_class: usize,
    original_probability: f32,
    noise: NoiseSource,
    samples_per_pass: usize,
    /// `[1, coefficients]`, without autodiff between steps.
    mask: Tensor<2>,
    adam: Adam,
    adam_state: Option<AdamState<2>>,
    history: Vec<LossTerms>,
}

impl<'a, R: Representation, C: ImageClassifier> MaskOptimiser<'a, R, C> {
    /// Analyses the image, finds the target class and draws nothing yet.
    pub async fn new(
        representation: &'a R,
        classifier: &'a C,
        image: Tensor<3>,
        settings: &MaskSettings,
    ) -> Result<Self, LabError> {
        settings.validate()?;
        check_image(representation, &image)?;
        let image = image.without_autodiff();
        let device = image.device();
        let (target_class, original_probability) =
            target(classifier, image.clone(), settings.target_class).await?;

        let channels = image.dims()[0];
        let coefficients: Vec<Tensor<2>> = (0..channels)
            .map(|channel| analyse_plane(representation, image.clone().narrow(0, channel, 1)))
            .collect();
        let coefficients_grey = analyse_plane(representation, image.mean_dim(0));
        let grey = read(coefficients_grey.clone()).await?;
        let statistics = band_statistics(&grey, representation.bands());
        let noise = NoiseSource::new(
            settings.noise,
            statistics,
            representation.bands(),
            settings.seed,
        );

        let count = representation.coefficient_count();
        let images_per_sample = match settings.variant {
            Variant::Reference => channels,
            Variant::Paper => 1,
        };
        let automatic = PASS_BUDGET_BYTES / (images_per_sample * count * 4).max(1);
        let samples_per_pass = settings
            .samples_per_pass
            .unwrap_or(automatic)
            .clamp(1, settings.noise_samples);
        Ok(Self {
            representation,
            classifier,
            settings: settings.clone(),
            coefficients,
            coefficients_grey,
            target_class,
            original_probability,
            noise,
            samples_per_pass,
            mask: Tensor::ones([1, count], &device),
            adam: AdamConfig::new().with_epsilon(ADAM_EPSILON).build(),
            adam_state: None,
            history: Vec::new(),
        })
    }

    pub fn target_class(&self) -> usize {
        self.target_class
    }

    /// The target's softmax probability for the unmasked image.
    pub fn original_probability(&self) -> f32 {
        self.original_probability
    }

    pub fn samples_per_pass(&self) -> usize {
        self.samples_per_pass
    }

    /// The mask as it stands, `[1, coefficients]`.
    pub fn mask(&self) -> Tensor<2> {
        self.mask.clone()
    }

    pub fn history(&self) -> &[LossTerms] {
        &self.history
    }

    /// One Adam step on the mask; `step` (from 1) only names it in a divergence.
    pub async fn step(&mut self, step: usize) -> Result<LossTerms, LabError> {
        let (terms, gradient) = self.loss_and_gradient(step).await?;
        self.apply(terms.clone(), gradient);
        Ok(terms)
    }

    /// The Adam update with `gradient` from [`MaskOptimiser::loss_and_gradient`], then the
    /// projection onto [0, 1]; `terms` join the history.
    pub fn apply(&mut self, terms: LossTerms, gradient: Tensor<2>) {
        let (mask, state) = self.adam.step(
            self.settings.learning_rate,
            self.mask.clone(),
            gradient,
            self.adam_state.take(),
        );
        self.mask = mask.clamp(0.0, 1.0);
        self.adam_state = state;
        self.history.push(terms);
    }

    /// The loss terms at the current mask with fresh noise, and the loss's gradient with
    /// respect to the mask (`[1, coefficients]`), without changing the mask. A loss that is
    /// not finite is a [`LabError::Diverged`] at `step`.
    pub async fn loss_and_gradient(
        &mut self,
        step: usize,
    ) -> Result<(LossTerms, Tensor<2>), LabError> {
        let mask_leaf = self.mask.clone().autodiff().require_grad();
        let distortion = self.distortion(&mask_leaf).await?;
        let regulariser = self.regularise(&mask_leaf, distortion.retained_gradient);
        let gradient =
            distortion.mask_gradient + gradient_of(&mask_leaf, &regulariser.total.backward())?;

        let values = read(Tensor::cat(
            vec![distortion.sums, regulariser.values.without_autodiff()],
            0,
        ))
        .await?;
        let samples = self.settings.noise_samples as f64;
        let (distortion, probability_sum) = (f64::from(values[0]), f64::from(values[1]));
        let (mask_l1, spatial) = (f64::from(values[2]), f64::from(values[3]));
        let terms = LossTerms {
            loss: distortion + self.settings.lambda1 * mask_l1 + self.settings.lambda2 * spatial,
            distortion,
            mask_l1,
            spatial,
            probability: probability_sum / samples,
            retained: probability_sum / samples / f64::from(self.original_probability),
        };
        if !terms.loss.is_finite() {
            return Err(LabError::Diverged {
                step,
                what: format!("the loss is {}", terms.loss),
            });
        }
        Ok((terms, gradient))
    }

    /// The distortion over all samples, pass by pass, each pass with its own backward.
    async fn distortion(&mut self, mask_leaf: &Tensor<2>) -> Result<Distortion, LabError> {
        let samples = self.settings.noise_samples;
        let retained = (self.settings.variant == Variant::Paper)
            .then(|| synthesise_masked(self.representation, self.mask.clone(), &self.coefficients));
        let mut mask_gradient = self.mask.zeros_like();
        let mut retained_gradient = retained.as_ref().map(Tensor::zeros_like);
        let mut sums = Tensor::<1>::zeros([2], &self.mask.device());
        let direct = retained.is_none() && self.representation.has_adjoint_on(&self.mask.device());
        let mut start = 0;
        while start < samples {
            let count = self.samples_per_pass.min(samples - start);
            start += count;
            let noise = self.draw_noise(count);
            if direct {
                let (pass_sums, gradient) = self.direct_pass(noise)?;
                mask_gradient = mask_gradient + gradient;
                sums = sums + pass_sums;
                continue;
            }
            let retained_leaf = retained
                .clone()
                .map(|images| images.autodiff().require_grad());
            let images = match &retained_leaf {
                None => synthesise_mixed(
                    self.representation,
                    mask_leaf.clone(),
                    &self.coefficients,
                    noise,
                    true,
                ),
                Some(retained) => {
                    retained.clone()
                        + synthesise_noise(self.representation, mask_leaf.clone(), noise)
                }
            };
            let probabilities = softmax(self.classifier.logits(images), 1)
                .narrow(1, self.target_class, 1)
                .reshape([count]);
            let distortion = probabilities
                .clone()
                .neg()
                .add_scalar(1.0)
                .powi_scalar(2)
                .sum()
                .div_scalar(samples as f64);
            let gradients = distortion.backward();
            mask_gradient = mask_gradient + gradient_of(mask_leaf, &gradients)?;
            if let (Some(total), Some(leaf)) = (retained_gradient.as_mut(), &retained_leaf) {
                *total = total.clone() + gradient_of(leaf, &gradients)?;
            }
            let pass_sums = Tensor::cat(vec![distortion, probabilities.sum()], 0);
            sums = sums + pass_sums.without_autodiff();
        }
        Ok(Distortion {
            mask_gradient,
            retained_gradient,
            sums,
        })
    }

    /// One pass of the reference variant with the gradient sent back through the synthesis
    /// by its adjoint instead of autodiff: the mixed coefficients and the images are computed
    /// without a graph, the classifier's gradient with respect to the images goes through
    /// [`Representation::synthesis_adjoint`], then through the clamp and the mixture by hand:
    /// `d/dm clamp(m c_j + (1 - m) p_s) = [0 <= . <= 1] (c_j - p_s)`. Returns the pass's
    /// distortion and probability sums and its gradient with respect to the mask.
    fn direct_pass(&self, noise: Tensor<2>) -> Result<(Tensor<1>, Tensor<2>), LabError> {
        let [count, coefficients] = noise.dims();
        let kept_noise = self.mask.clone().neg().add_scalar(1.0) * noise.clone();
        let mixtures: Vec<Tensor<2>> = (self.coefficients.iter())
            .map(|channel| self.mask.clone() * channel.clone() + kept_noise.clone())
            .collect();
        let clamped = mixtures.iter().map(|mixed| mixed.clone().clamp(0.0, 1.0));
        let images = self
            .representation
            .synthesise(Tensor::stack(clamped.collect(), 1));
        let images = images.autodiff().require_grad();
        let probabilities = softmax(self.classifier.logits(images.clone()), 1)
            .narrow(1, self.target_class, 1)
            .reshape([count]);
        let distortion = probabilities
            .clone()
            .neg()
            .add_scalar(1.0)
            .powi_scalar(2)
            .sum()
            .div_scalar(self.settings.noise_samples as f64);
        let image_gradient = gradient_of(&images, &distortion.backward())?;
        let coefficient_gradient = (self.representation)
            .synthesis_adjoint(image_gradient)
            .ok_or_else(|| {
                LabError::Execution("the representation has no adjoint on this device".into())
            })?;
        let mut gradient = self.mask.zeros_like();
        for (channel, (mixed, coefficients_j)) in
            mixtures.into_iter().zip(&self.coefficients).enumerate()
        {
            let inside = (mixed.clone().greater_equal_elem(0.0).float())
                * mixed.lower_equal_elem(1.0).float();
            let through = coefficient_gradient
                .clone()
                .narrow(1, channel, 1)
                .reshape([count, coefficients])
                * inside
                * (coefficients_j.clone() - noise.clone());
            gradient = gradient + through.sum_dim(0);
        }
        let sums = Tensor::cat(vec![distortion, probabilities.sum()], 0);
        Ok((sums.without_autodiff(), gradient))
    }

    /// The regularisers, and for the paper variant the gradient collected on
    /// `SH^-1(m * c_j)` sent back through that synthesis, as one scalar to differentiate.
    fn regularise(
        &self,
        mask_leaf: &Tensor<2>,
        retained_gradient: Option<Tensor<4>>,
    ) -> Regulariser {
        let mask_l1 = mean_in_blocks(mask_leaf.clone().abs());
        let mut total = mask_l1.clone().mul_scalar(self.settings.lambda1);
        let spatial = if self.settings.lambda2 > 0.0 {
            let grey = mask_leaf.clone() * self.coefficients_grey.clone();
            let spatial = self
                .representation
                .synthesise(grey.unsqueeze())
                .clamp(0.0, 1.0)
                .abs()
                .mean();
            total = total + spatial.clone().mul_scalar(self.settings.lambda2);
            spatial
        } else {
            Tensor::zeros([1], &mask_leaf.device())
        };
        if let Some(gradient) = retained_gradient {
            let retained =
                synthesise_masked(self.representation, mask_leaf.clone(), &self.coefficients);
            total = total + (retained * gradient).sum();
        }
        Regulariser {
            total,
            values: Tensor::cat(vec![mask_l1, spatial], 0),
        }
    }

    /// `count` perturbations as `[count, coefficients]` on the mask's device.
    fn draw_noise(&mut self, count: usize) -> Tensor<2> {
        let values = self.noise.draw(count);
        let shape = [count, self.representation.coefficient_count()];
        Tensor::from_data(TensorData::new(values, shape), &self.mask.device())
    }

    /// The final mask and explanation.
    pub async fn finish(self, stopped: bool) -> Result<MaskOutcome, LabError> {
        let explanation =
            synthesise_masked(self.representation, self.mask.clone(), &self.coefficients)
                .clamp(0.0, 1.0);
        let [_, channels, height, width] = explanation.dims();
        let scale = read(explanation.clone().max()).await?[0];
        let explanation = if scale > 0.0 {
            explanation.div_scalar(scale)
        } else {
            explanation
        };
        Ok(MaskOutcome {
            target_class: self.target_class,
            original_probability: self.original_probability,
            mask: read(self.mask).await?,
            explanation: read(explanation).await?,
            explanation_shape: [channels, height, width],
            explanation_scale: scale,
            history: self.history,
            stopped,
        })
    }
}

struct Distortion {
    /// Summed over passes, `[1, coefficients]`.
    mask_gradient: Tensor<2>,
    /// The paper variant's gradient on `SH^-1(m * c_j)`, `[1, channels, height, width]`.
    retained_gradient: Option<Tensor<4>>,
    /// The distortion and the sum of the target's probabilities, `[2]`.
    sums: Tensor<1>,
}

struct Regulariser {
    /// What to differentiate.
    total: Tensor<1>,
    /// `mean|m|` and the spatial term, `[2]`.
    values: Tensor<1>,
}

fn check_image<R: Representation>(representation: &R, image: &Tensor<3>) -> Result<(), LabError> {
    let [channels, height, width] = image.dims();
    if channels != 3 {
        return Err(LabError::Config(format!(
            "the classifiers take RGB images with 3 channels; this image has {channels}"
        )));
    }
    let [rows, cols] = representation.image_size();
    if [height, width] != [rows, cols] {
        return Err(LabError::Config(format!(
            "the image is {height}x{width} but the {} representation takes {rows}x{cols}: \
             resize it first",
            representation.name()
        )));
    }
    Ok(())
}

/// The coefficients of one `[1, height, width]` plane, `[1, coefficients]`.
fn analyse_plane<R: Representation>(representation: &R, plane: Tensor<3>) -> Tensor<2> {
    representation
        .analyse(plane.unsqueeze())
        .reshape([1, representation.coefficient_count()])
}

/// The target class (the top class unless `requested`) and its probability for `image`.
async fn target<C: ImageClassifier>(
    classifier: &C,
    image: Tensor<3>,
    requested: Option<usize>,
) -> Result<(usize, f32), LabError> {
    let classes = classifier.classes();
    if let Some(class) = requested.filter(|&class| class >= classes) {
        return Err(LabError::Config(format!(
            "target class {class} does not exist: the classifier has {classes} classes \
             (0 to {})",
            classes.saturating_sub(1)
        )));
    }
    let probabilities = read(softmax(classifier.logits(image.unsqueeze()), 1)).await?;
    let class = requested.unwrap_or_else(|| top_class(&probabilities));
    Ok((class, probabilities[class]))
}

/// The index of the largest value, the first one on ties.
fn top_class(probabilities: &[f32]) -> usize {
    probabilities
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &p)| {
            if p > best.1 { (i, p) } else { best }
        })
        .0
}

/// The mean of all `[1, count]` values, summed in rounds of blocks of at most
/// `REDUCTION_BLOCK` values: a plain f32 sum over millions of nearly equal values (a mask
/// after a few steps) drifts by 1e-5 of its value on some GPUs.
fn mean_in_blocks(values: Tensor<2>) -> Tensor<1> {
    let count = values.dims()[1];
    let mut sums = values;
    let mut remaining = count;
    while let Some(block) = (2..=REDUCTION_BLOCK.min(remaining - 1))
        .rev()
        .find(|block| remaining.is_multiple_of(*block))
    {
        remaining /= block;
        sums = sums
            .reshape([remaining, block])
            .sum_dim(1)
            .reshape([1, remaining]);
    }
    sums.sum().div_scalar(count as f64)
}

fn gradient_of<const D: usize>(
    leaf: &Tensor<D>,
    gradients: &burn::tensor::Gradients,
) -> Result<Tensor<D>, LabError> {
    leaf.grad(gradients).ok_or_else(|| {
        LabError::Execution("no gradient reached the mask; the classifier may be detached".into())
    })
}
