//! The settings of the baselines that share ShearletX's mask optimisation: WaveletX, CartoonX
//! and the pixel mask. Each carries exactly the knobs its method has, with the defaults of
//! the ShearletX paper's comparison (300 Adam steps at learning rate 0.1, 16 uniform noise
//! samples per step, the mask starting at 1).

use serde::{Deserialize, Serialize};

use crate::explain::mask_optimiser::MaskSettings;
use crate::explain::noise::NoiseDistribution;
use crate::explain::obfuscation::Variant;
use crate::wavelet::WaveletConfig;

const STEPS: usize = 300;
const LEARNING_RATE: f64 = 0.1;
const NOISE_SAMPLES: usize = 16;

/// WaveletX: the mask over the coefficients of the 2-D discrete wavelet transform (db3, 5
/// levels, zero padding), with the spatial term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WaveletXConfig {
    pub steps: usize,
    pub learning_rate: f64,
    /// Weight of the mask's sparsity, `mean|m|`.
    pub lambda1: f64,
    /// Weight of the spatial term, `mean|clamp01(DWT^-1(m * c_grey))|`.
    pub lambda2: f64,
    pub noise_samples: usize,
    pub noise: NoiseDistribution,
    /// The class to explain; the classifier's top class for the image when absent.
    pub target_class: Option<usize>,
    pub seed: u64,
    pub variant: Variant,
    /// Samples per forward and backward pass; absent, chosen to bound memory.
    pub samples_per_pass: Option<usize>,
    pub wavelet: WaveletConfig,
}

impl Default for WaveletXConfig {
    fn default() -> Self {
        Self {
            steps: STEPS,
            learning_rate: LEARNING_RATE,
            lambda1: 2.0,
            lambda2: 10.0,
            noise_samples: NOISE_SAMPLES,
            noise: NoiseDistribution::Uniform,
            target_class: None,
            seed: 0,
            variant: Variant::Reference,
            samples_per_pass: None,
            wavelet: WaveletConfig::default(),
        }
    }
}

impl WaveletXConfig {
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

/// CartoonX: WaveletX without the spatial term (Kolek et al., "Cartoon explanations of image
/// classifiers", ECCV 2022), with WaveletX's sparsity weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CartoonXConfig {
    pub steps: usize,
    pub learning_rate: f64,
    /// Weight of the mask's sparsity, `mean|m|`.
    pub lambda1: f64,
    pub noise_samples: usize,
    pub noise: NoiseDistribution,
    /// The class to explain; the classifier's top class for the image when absent.
    pub target_class: Option<usize>,
    pub seed: u64,
    pub variant: Variant,
    /// Samples per forward and backward pass; absent, chosen to bound memory.
    pub samples_per_pass: Option<usize>,
    pub wavelet: WaveletConfig,
}

impl Default for CartoonXConfig {
    fn default() -> Self {
        Self {
            steps: STEPS,
            learning_rate: LEARNING_RATE,
            lambda1: 2.0,
            noise_samples: NOISE_SAMPLES,
            noise: NoiseDistribution::Uniform,
            target_class: None,
            seed: 0,
            variant: Variant::Reference,
            samples_per_pass: None,
            wavelet: WaveletConfig::default(),
        }
    }
}

impl CartoonXConfig {
    pub fn settings(&self) -> MaskSettings {
        MaskSettings {
            steps: self.steps,
            learning_rate: self.learning_rate,
            lambda1: self.lambda1,
            lambda2: 0.0,
            noise_samples: self.noise_samples,
            noise: self.noise,
            variant: self.variant,
            target_class: self.target_class,
            seed: self.seed,
            samples_per_pass: self.samples_per_pass,
        }
    }
}

/// The pixel mask: one mask value per pixel, shared by the colour channels, with the sparsity
/// term alone (no smoothness and no spatial term).
///
/// Like every method here it draws one noise value per coefficient from the grey image's
/// statistics, the same for all three channels; the ShearletX reference code's pixel mask
/// draws each channel's noise independently from the colour image's mean and deviation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PixelMaskConfig {
    pub steps: usize,
    pub learning_rate: f64,
    /// Weight of the mask's sparsity, `mean|m|`.
    pub lambda1: f64,
    pub noise_samples: usize,
    pub noise: NoiseDistribution,
    /// The class to explain; the classifier's top class for the image when absent.
    pub target_class: Option<usize>,
    pub seed: u64,
    pub variant: Variant,
    /// Samples per forward and backward pass; absent, chosen to bound memory.
    pub samples_per_pass: Option<usize>,
}

impl Default for PixelMaskConfig {
    fn default() -> Self {
        Self {
            steps: STEPS,
            learning_rate: LEARNING_RATE,
            lambda1: 1.0,
            noise_samples: NOISE_SAMPLES,
            noise: NoiseDistribution::Uniform,
            target_class: None,
            seed: 0,
            variant: Variant::Reference,
            samples_per_pass: None,
        }
    }
}

impl PixelMaskConfig {
    pub fn settings(&self) -> MaskSettings {
        MaskSettings {
            steps: self.steps,
            learning_rate: self.learning_rate,
            lambda1: self.lambda1,
            lambda2: 0.0,
            noise_samples: self.noise_samples,
            noise: self.noise,
            variant: self.variant,
            target_class: self.target_class,
            seed: self.seed,
            samples_per_pass: self.samples_per_pass,
        }
    }
}
