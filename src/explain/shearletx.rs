//! ShearletX: a sparse mask over the shearlet coefficients of an image that keeps the
//! classifier's decision (Kolek et al., "Explaining Image Classifiers with Multiscale
//! Directional Image Representation", CVPR 2023).
//!
//! The image is RGB in [0, 1] at 256x256 (the transform's FFTs need a power-of-two side:
//! resize images to 256x256 first, as the paper does, for instance with [`preparation`];
//! 512x512 works too, at four times the cost). The mask optimisation itself is the shared one
//! in `mask_optimiser`.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::mask_optimiser::{MaskOutcome, MaskSettings, optimise_mask};
use super::noise::NoiseDistribution;
use super::obfuscation::Variant;
use crate::LabError;
use crate::device::LabDevice;
use crate::models::classifier::ImageClassifier;
use crate::models::vision::prepare::{Preparation, Resampling};
use crate::progress::Progress;
use crate::report::{RunReport, RunStatus};
use crate::shearlet::ShearletTransform;

/// The side ShearletX resizes images to.
pub const IMAGE_SIZE: usize = 256;

/// How a photograph becomes ShearletX's input: the shorter side resized to 256 pixels
/// (bilinear, antialiased), then the centre 256x256 cropped.
pub fn preparation() -> Preparation {
    Preparation {
        shorter_side: IMAGE_SIZE,
        crop: IMAGE_SIZE,
        resampling: Resampling::Bilinear,
    }
}

/// Every setting of a ShearletX run; the defaults are the paper's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShearletXConfig {
    pub steps: usize,
    /// Adam's learning rate on the mask.
    pub learning_rate: f64,
    /// Weight of the mask's sparsity, `mean|m|`.
    pub lambda1: f64,
    /// Weight of the spatial term, `mean|clamp01(SH^-1(m * c_grey))|`; 0 leaves it out.
    pub lambda2: f64,
    /// Perturbations per step.
    pub noise_samples: usize,
    pub noise: NoiseDistribution,
    /// The class to explain; the classifier's top class for the image when absent.
    pub target_class: Option<usize>,
    /// Seeds the noise. Any value; one seed repeats a run exactly on one backend.
    pub seed: u64,
    pub variant: Variant,
    /// Samples per forward and backward pass; absent, chosen to bound memory.
    pub samples_per_pass: Option<usize>,
}

impl Default for ShearletXConfig {
    fn default() -> Self {
        Self {
            steps: 300,
            learning_rate: 0.1,
            lambda1: 1.0,
            lambda2: 2.0,
            noise_samples: 16,
            noise: NoiseDistribution::Uniform,
            target_class: None,
            seed: 0,
            variant: Variant::Reference,
            samples_per_pass: None,
        }
    }
}

impl ShearletXConfig {
    pub fn settings(&self) -> MaskSettings {
        MaskSettings {
            steps: self.steps,
            learning_rate: self.learning_rate,
            lambda1: self.lambda1,
            lambda2: self.lambda2,
            noise_samples: self.noise_samples,
            noise: self.noise,
            variant: self.variant,
            target_class: self.target_class,
            seed: self.seed,
            samples_per_pass: self.samples_per_pass,
        }
    }
}

pub type ShearletXReport = RunReport<ShearletXConfig, MaskOutcome>;

/// Explains `classifier`'s decision on `image` (`[3, size, size]`, RGB in [0, 1], on
/// `device`, where the classifier lives too). Bad settings or an image of the wrong shape are
/// an `Err`; a divergence ends the run with a failed report that keeps the finished steps; a
/// Stop from `progress` ends it after the current step with the mask as it stands.
pub async fn run<C: ImageClassifier>(
    device: &LabDevice,
    classifier: &C,
    image: Tensor<3>,
    config: ShearletXConfig,
    progress: &mut impl Progress,
) -> Result<ShearletXReport, LabError> {
    let settings = config.settings();
    settings.validate()?;
    let [_, rows, cols] = image.dims();
    if rows != cols {
        return Err(LabError::Config(format!(
            "ShearletX takes square images; this one is {rows}x{cols}: resize it to \
             {IMAGE_SIZE}x{IMAGE_SIZE}"
        )));
    }
    let transform = ShearletTransform::shearletx(rows, &device.device)?;
    let mut report = ShearletXReport::new("shearletx", config, device.report.clone());
    let started = web_time::Instant::now();
    let outcome = optimise_mask(
        &transform,
        classifier,
        image,
        &settings,
        progress,
        &mut report.steps,
    )
    .await;
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    match outcome {
        Ok(outcome) => {
            if outcome.stopped {
                report.status = RunStatus::Stopped;
            }
            report.result = Some(outcome);
        }
        Err(error @ LabError::Config(_)) => return Err(error),
        Err(error) => report.status = RunStatus::Failed(error.to_string()),
    }
    Ok(report)
}
