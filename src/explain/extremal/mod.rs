//! The smooth pixel mask: extremal perturbations (Fong, Patrick and Vedaldi, "Understanding
//! deep networks via extremal perturbations and smooth masks", ICCV 2019) in their preservation
//! form, as torchray's `extremal_perturbation` runs them with blur perturbation.
//!
//! For each requested area `a` one smooth mask (see [`SmoothMask`]) is optimised to keep the
//! class score high when everything outside the mask is blurred away (see [`BlurPyramid`]),
//! while its sorted values stay close to a step that keeps the fraction `a` of the pixels
//! (see [`area_loss`]). Per step: the energy `logit_c(perturbed) - lambda_t area_loss` of each
//! mask, summed, is maximised by SGD with momentum 0.9 and dampening 0.9 (learning rate 0.01)
//! on the mask parameters, which are clamped to [0, 1] after each step; `lambda_t` starts at
//! 300 and grows by 0.35% a step; on even steps the perturbed images are flipped left to right
//! before the classifier sees them.

mod area;
mod blur;
mod mask;

pub use area::area_loss;
pub use blur::BlurPyramid;
pub use mask::SmoothMask;

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::device::read;
use crate::models::classifier::ImageClassifier;
use crate::progress::{Control, Progress, StepEvent};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtremalConfig {
    /// The fractions of the image each mask should keep; one mask per area.
    pub areas: Vec<f64>,
    pub steps: usize,
    /// The class to explain; the classifier's top class when absent.
    pub class: Option<usize>,
    /// Spacing of the mask's parameters in pixels.
    pub mask_step: usize,
    /// Size of the mask's bumps in pixels.
    pub mask_sigma: f64,
    pub blur_levels: usize,
    /// The deviation of the strongest blur, in pixels.
    pub max_blur: f64,
    /// Flip the perturbed images left to right on even steps.
    pub jitter: bool,
    pub learning_rate: f64,
    /// SGD momentum; the dampening equals it, as in torchray.
    pub momentum: f64,
    /// The area constraint's weight at the first step.
    pub area_weight: f64,
    /// The factor by which that weight grows each step.
    pub area_weight_growth: f64,
}

impl Default for ExtremalConfig {
    /// torchray's defaults, with the ShearletX paper's three areas.
    fn default() -> Self {
        Self {
            areas: vec![0.05, 0.1, 0.2],
            steps: 800,
            class: None,
            mask_step: 7,
            mask_sigma: 21.0,
            blur_levels: 8,
            max_blur: 20.0,
            jitter: true,
            learning_rate: 0.01,
            momentum: 0.9,
            area_weight: 300.0,
            area_weight_growth: 1.0035,
        }
    }
}

impl ExtremalConfig {
    fn validate(&self) -> Result<(), LabError> {
        if self.areas.is_empty() || self.areas.iter().any(|a| !(*a > 0.0 && *a < 1.0)) {
            return Err(LabError::Config(format!(
                "the areas must be fractions strictly between 0 and 1, not {:?}",
                self.areas
            )));
        }
        if self.steps == 0 || self.steps > 100_000 {
            return Err(LabError::Config(
                "the steps must be between 1 and 100000".into(),
            ));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.learning_rate) || !(0.0..1.0).contains(&self.momentum) {
            return Err(LabError::Config(
                "the learning rate must be positive and the momentum in [0, 1)".into(),
            ));
        }
        if !positive(self.area_weight) || !positive(self.area_weight_growth) {
            return Err(LabError::Config(
                "the area weight and its growth must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// The quantities of one optimisation step, per mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtremalStep {
    /// The class logit of each perturbed image.
    pub rewards: Vec<f32>,
    /// The area loss of each mask, before weighting.
    pub area_losses: Vec<f32>,
    /// The weight of the area losses at this step.
    pub area_weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtremalResult {
    pub class: usize,
    /// `[height, width]` of the image and the masks.
    pub size: [usize; 2],
    pub areas: Vec<f64>,
    /// One mask per area, row-major, in [0, 1]: the masks of the last step taken.
    pub masks: Vec<Vec<f32>>,
    pub history: Vec<ExtremalStep>,
}

/// Runs the optimisation for one image. A Stop from `progress` ends it after the current
/// step, with the masks of that step.
///
/// Shapes: `image` is `[1, channels, height, width]` with values in [0, 1].
pub async fn extremal_perturbation(
    classifier: &impl ImageClassifier,
    image: Tensor<4>,
    config: &ExtremalConfig,
    progress: &mut impl Progress,
) -> Result<ExtremalResult, LabError> {
    config.validate()?;
    let [batch, _, height, width] = image.dims();
    if batch != 1 {
        return Err(LabError::Config(format!(
            "extremal perturbation explains one image at a time, not a batch of {batch}"
        )));
    }
    let device = image.device();
    let class = target_class(classifier, image.clone(), config.class).await?;
    let pyramid = BlurPyramid::new(image, config.blur_levels, config.max_blur)?;
    let generator = SmoothMask::new(
        [height, width],
        config.mask_step,
        config.mask_sigma,
        &device,
    )?;
    let masks = config.areas.len();
    let [rows, cols] = generator.parameter_size();
    let mut optimiser = MomentumSgd::new(config);
    let mut parameters = Tensor::<4>::ones([masks, 1, rows, cols], &device);
    let mut area_weight = config.area_weight;
    let mut result = ExtremalResult {
        class,
        size: [height, width],
        areas: config.areas.clone(),
        masks: Vec::new(),
        history: Vec::new(),
    };
    for step in 0..config.steps {
        let leaf = parameters.clone().autodiff().require_grad();
        let (mask, full_mask) = generator.generate(leaf.clone());
        let mut perturbed = pyramid.apply(mask.clone());
        if config.jitter && step % 2 == 0 {
            perturbed = perturbed.flip([3]);
        }
        let rewards = classifier
            .logits(perturbed)
            .slice([0..masks, class..class + 1])
            .reshape([masks]);
        let area_losses = area_loss(full_mask, &config.areas).await?;
        let energy = rewards.clone() - area_losses.clone() * area_weight;
        let gradient = leaf
            .grad(&energy.sum().neg().backward())
            .ok_or_else(|| LabError::Execution("no gradient reached the mask".into()))?;
        parameters = optimiser.step(parameters, gradient).clamp(0.0, 1.0);

        let record = ExtremalStep {
            rewards: read(rewards.inner()).await?,
            area_losses: read(area_losses.inner()).await?,
            area_weight,
        };
        check_finite(step, &record)?;
        area_weight *= config.area_weight_growth;
        let event = step_event(step, config, &record);
        result.history.push(record);
        let last = step + 1 == config.steps;
        let stop = progress.step(&event).await == Control::Stop;
        if last || stop {
            let values = read(mask.inner()).await?;
            result.masks = values.chunks(height * width).map(<[f32]>::to_vec).collect();
            break;
        }
    }
    Ok(result)
}

async fn target_class(
    classifier: &impl ImageClassifier,
    image: Tensor<4>,
    requested: Option<usize>,
) -> Result<usize, LabError> {
    match requested {
        Some(class) if class < classifier.classes() => Ok(class),
        Some(class) => Err(LabError::Config(format!(
            "class {class} is not one of the classifier's {} classes",
            classifier.classes()
        ))),
        None => {
            let logits = read(classifier.logits(image)).await?;
            let largest = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            Ok(logits.iter().position(|&l| l == largest).unwrap_or(0))
        }
    }
}

/// PyTorch's SGD with momentum `mu` and dampening `mu`: the first step takes the gradient as
/// its velocity, later ones `v = mu v + (1 - mu) g`; then `p = p - lr v`.
struct MomentumSgd {
    learning_rate: f64,
    momentum: f64,
    velocity: Option<Tensor<4>>,
}

impl MomentumSgd {
    fn new(config: &ExtremalConfig) -> Self {
        Self {
            learning_rate: config.learning_rate,
            momentum: config.momentum,
            velocity: None,
        }
    }

    fn step(&mut self, parameters: Tensor<4>, gradient: Tensor<4>) -> Tensor<4> {
        let velocity = match self.velocity.take() {
            None => gradient,
            Some(velocity) => velocity * self.momentum + gradient * (1.0 - self.momentum),
        };
        self.velocity = Some(velocity.clone());
        parameters - velocity * self.learning_rate
    }
}

fn check_finite(step: usize, record: &ExtremalStep) -> Result<(), LabError> {
    let values = record.rewards.iter().chain(&record.area_losses);
    if let Some(value) = values.into_iter().find(|v| !v.is_finite()) {
        return Err(LabError::Diverged {
            step: step + 1,
            what: format!("a reward or area loss is {value}"),
        });
    }
    Ok(())
}

fn step_event(step: usize, config: &ExtremalConfig, record: &ExtremalStep) -> StepEvent {
    let mut metrics = BTreeMap::new();
    let mut energy = 0.0;
    for ((area, reward), loss) in config
        .areas
        .iter()
        .zip(&record.rewards)
        .zip(&record.area_losses)
    {
        metrics.insert(format!("reward@{area}"), f64::from(*reward));
        metrics.insert(format!("area_loss@{area}"), f64::from(*loss));
        energy += f64::from(*reward) - record.area_weight * f64::from(*loss);
    }
    metrics.insert("energy".into(), energy);
    StepEvent {
        step: step + 1,
        total: config.steps,
        metrics,
    }
}
