//! Every explanation method by name, with its settings, behind one call and one result type:
//!
//! | method | what it masks | paper's settings |
//! | --- | --- | --- |
//! | `shearletx` | shearlet coefficients (49 bands) | lambda1 1, lambda2 2 |
//! | `waveletx` | db3 wavelet coefficients, 5 levels | lambda1 2, lambda2 10 |
//! | `cartoonx` | the same, without the spatial term | lambda1 2 |
//! | `pixel` | pixels, no smoothness | lambda1 1 |
//! | `smooth-pixel` | a smooth pixel mask (extremal perturbations) | areas 0.05, 0.1, 0.2 |
//! | `gradcam` | no mask is optimised: Grad-CAM's heatmap, scored as a pixel mask | - |
//!
//! The four masking methods run the shared mask optimisation (300 Adam steps at learning rate
//! 0.1, 16 noise samples a step, in the reference variant; see `mask_optimiser`). The smooth
//! pixel mask runs torchray's extremal perturbation with its defaults (800 steps) for every
//! area at once: the masks do not interact, so this equals one run per area, which is how the
//! ShearletX paper compares them. All three areas are kept and scored; the first listed
//! (0.05 by default) is the headline that reports and images lead with. Its reward is the
//! class logit (torchray's default; the ShearletX reference code passes torchray's
//! contrastive reward). Grad-CAM weighs the last convolutional block's feature maps.
//!
//! [`explain`] runs a method and returns an [`Explanation`]: the mask (one per area for the
//! smooth pixel mask), the explanation image, mask images per band group for display, the
//! per-step history and timings. [`score`] computes the paper's scores on it, and [`run`]
//! does both into an [`ExplanationReport`]. [`explanation_images`] turns the result into PNG
//! files and [`RunRecord`] into the report that goes with them, the same for the
//! command-line tool and the page.

mod configs;
mod images;
mod overrides;
mod record;
mod representation;
mod run;
mod scores;
mod views;

pub use configs::{CartoonXConfig, PixelMaskConfig, WaveletXConfig};
pub use images::{NamedImage, explanation_images, grey_png, rgb_png};
pub use overrides::MethodOverrides;
pub use record::{ImageRecord, ModelRecord, RunRecord};
pub use representation::{AnyRepresentation, RepresentationKind};
pub use run::{ExplanationReport, RunTimings, run};
pub use scores::{MaskScores, ScoreConfig, score};
pub use views::MaskView;

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use web_time::Instant;

use super::extremal::{ExtremalConfig, extremal_perturbation};
use super::gradcam::{GradCamConfig, grad_cam};
use super::mask_optimiser::{MaskSettings, optimise_mask};
use super::shearletx::ShearletXConfig;
use crate::LabError;
use crate::device::read;
use crate::models::classifier::ImageClassifier;
use crate::models::vision::prepare::Preparation;
use crate::progress::{Control, Progress, StepEvent};

/// The methods by the names a configuration and the command line use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    #[default]
    Shearletx,
    Waveletx,
    Cartoonx,
    Pixel,
    SmoothPixel,
    Gradcam,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Shearletx,
        Method::Waveletx,
        Method::Cartoonx,
        Method::Pixel,
        Method::SmoothPixel,
        Method::Gradcam,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Shearletx => "shearletx",
            Method::Waveletx => "waveletx",
            Method::Cartoonx => "cartoonx",
            Method::Pixel => "pixel",
            Method::SmoothPixel => "smooth-pixel",
            Method::Gradcam => "gradcam",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, LabError> {
        Self::ALL
            .into_iter()
            .find(|method| method.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|m| m.name()).collect();
                LabError::Config(format!(
                    "unknown method {name:?}; the lab offers {}",
                    known.join(", ")
                ))
            })
    }

    /// The method with the paper's settings.
    pub fn default_config(self) -> MethodConfig {
        match self {
            Method::Shearletx => MethodConfig::Shearletx(ShearletXConfig::default()),
            Method::Waveletx => MethodConfig::Waveletx(WaveletXConfig::default()),
            Method::Cartoonx => MethodConfig::Cartoonx(CartoonXConfig::default()),
            Method::Pixel => MethodConfig::Pixel(PixelMaskConfig::default()),
            Method::SmoothPixel => MethodConfig::SmoothPixel(ExtremalConfig::default()),
            Method::Gradcam => MethodConfig::Gradcam(GradCamConfig::default()),
        }
    }
}

impl std::str::FromStr for Method {
    type Err = LabError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::from_name(name)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A method with every one of its settings. As JSON, `{"method": "waveletx", "lambda1": 3}`:
/// the settings left out take the method's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum MethodConfig {
    Shearletx(ShearletXConfig),
    Waveletx(WaveletXConfig),
    Cartoonx(CartoonXConfig),
    Pixel(PixelMaskConfig),
    SmoothPixel(ExtremalConfig),
    Gradcam(GradCamConfig),
}

impl Default for MethodConfig {
    fn default() -> Self {
        Method::default().default_config()
    }
}

impl MethodConfig {
    pub fn method(&self) -> Method {
        match self {
            MethodConfig::Shearletx(_) => Method::Shearletx,
            MethodConfig::Waveletx(_) => Method::Waveletx,
            MethodConfig::Cartoonx(_) => Method::Cartoonx,
            MethodConfig::Pixel(_) => Method::Pixel,
            MethodConfig::SmoothPixel(_) => Method::SmoothPixel,
            MethodConfig::Gradcam(_) => Method::Gradcam,
        }
    }

    /// The class to explain; the classifier's top class when absent.
    pub fn target_class(&self) -> Option<usize> {
        match self {
            MethodConfig::Shearletx(config) => config.target_class,
            MethodConfig::Waveletx(config) => config.target_class,
            MethodConfig::Cartoonx(config) => config.target_class,
            MethodConfig::Pixel(config) => config.target_class,
            MethodConfig::SmoothPixel(config) => config.class,
            MethodConfig::Gradcam(config) => config.class,
        }
    }

    /// What the method's mask covers.
    pub fn representation(&self) -> RepresentationKind {
        match self {
            MethodConfig::Shearletx(_) => RepresentationKind::Shearlet,
            MethodConfig::Waveletx(config) => RepresentationKind::Wavelet {
                wavelet: config.wavelet.clone(),
            },
            MethodConfig::Cartoonx(config) => RepresentationKind::Wavelet {
                wavelet: config.wavelet.clone(),
            },
            MethodConfig::Pixel(_) | MethodConfig::SmoothPixel(_) | MethodConfig::Gradcam(_) => {
                RepresentationKind::Pixel
            }
        }
    }

    /// The optimisation settings of the four masking methods; `None` for the smooth pixel
    /// mask and Grad-CAM.
    pub fn mask_settings(&self) -> Option<MaskSettings> {
        match self {
            MethodConfig::Shearletx(config) => Some(config.settings()),
            MethodConfig::Waveletx(config) => Some(config.settings()),
            MethodConfig::Cartoonx(config) => Some(config.settings()),
            MethodConfig::Pixel(config) => Some(config.settings()),
            MethodConfig::SmoothPixel(_) | MethodConfig::Gradcam(_) => None,
        }
    }

    /// The names of the settings [`MethodOverrides`] may change for this method, as
    /// [`MethodOverrides`] spells them (the class aside, which every method takes).
    pub fn setting_names(&self) -> Vec<&'static str> {
        let mut copy = self.clone();
        let knobs = copy.knobs();
        let present = [
            ("steps", knobs.steps.is_some()),
            ("learning_rate", knobs.learning_rate.is_some()),
            ("seed", knobs.seed.is_some()),
            ("variant", knobs.variant.is_some()),
            ("noise_samples", knobs.noise_samples.is_some()),
            ("lambda1", knobs.lambda1.is_some()),
            ("lambda2", knobs.lambda2.is_some()),
            ("areas", knobs.areas.is_some()),
        ];
        (present.into_iter())
            .filter_map(|(name, has)| has.then_some(name))
            .collect()
    }

    /// The same settings with the class to explain set.
    pub fn with_target_class(mut self, class: Option<usize>) -> Self {
        *self.knobs().target_class = class;
        self
    }
}

/// One mask of an explanation and what it shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplainedMask {
    /// The fraction of the image a smooth pixel mask was asked to keep; absent otherwise.
    pub area: Option<f64>,
    /// One value in [0, 1] per coefficient of the representation, shared by the colour
    /// channels. Left out of serialised reports (3.2 M values for ShearletX at 256x256).
    #[serde(skip)]
    pub mask: Vec<f32>,
    /// The explanation image, `[3, height, width]` in [0, 1], as the scores see it: for the
    /// four masking methods `clamp01(SH^-1(m * c_j))` divided by its largest value (as the
    /// ShearletX reference shows and scores it); for the smooth pixel mask and Grad-CAM the
    /// mask (or heatmap) times the image. Left out of serialised reports.
    #[serde(skip)]
    pub explanation: Vec<f32>,
    /// The mask as images, one per band group.
    pub views: Vec<MaskView>,
}

/// Where the time of an explanation went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Timings {
    /// Classifying the image and building the representation.
    pub setup_ms: f64,
    /// The optimisation up to the final mask and explanation (Grad-CAM: its one pass).
    pub optimisation_ms: f64,
    /// Steps taken.
    pub steps: usize,
    pub ms_per_step: Option<f64>,
}

/// What a method found.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub method: Method,
    /// The class explained and its softmax probability for the image.
    pub target_class: usize,
    pub target_probability: f64,
    /// `[height, width]` of the image.
    pub image_size: [usize; 2],
    pub representation: RepresentationKind,
    /// One mask; for the smooth pixel mask one per area, in the order asked for.
    pub masks: Vec<ExplainedMask>,
    pub history: Vec<StepEvent>,
    pub timings: Timings,
    /// Whether a Stop ended the run before its last step.
    pub stopped: bool,
}

impl Explanation {
    /// The mask that reports and images lead with: the only one, or the smooth pixel mask of
    /// the first area asked for.
    pub fn headline(&self) -> &ExplainedMask {
        &self.masks[0]
    }
}

/// Explains `classifier`'s decision on `image` with the method and settings of `config`,
/// reporting each step to `progress` (a Stop ends the run after the current step, with the
/// mask as it stands).
///
/// Bad settings, an image of the wrong shape or a class the classifier does not have are a
/// [`LabError::Config`]; a loss that is not finite is a [`LabError::Diverged`].
///
/// Shapes: `image` is `[3, height, width]`, RGB in [0, 1] (prepared as
/// [`super::shearletx::preparation`] does: 256x256; the shearlet transform takes 256 or 512
/// pixels square), on the classifier's device.
pub async fn explain<C, P>(
    classifier: &C,
    image: Tensor<3>,
    config: &MethodConfig,
    progress: &mut P,
) -> Result<Explanation, LabError>
where
    C: ImageClassifier + ?Sized,
    P: Progress,
{
    let classifier = &Borrowed(classifier);
    let mut recorder = Recorder::new(progress);
    let [channels, height, width] = image.dims();
    if channels != 3 {
        return Err(LabError::Config(format!(
            "the classifiers take RGB images with 3 channels; this image has {channels}"
        )));
    }
    let (target_class, target_probability) =
        target(classifier, image.clone(), config.target_class()).await?;
    let config = config.clone().with_target_class(Some(target_class));
    let found = match &config {
        MethodConfig::SmoothPixel(extremal) => {
            smooth_pixel(classifier, image, extremal, &mut recorder).await?
        }
        MethodConfig::Gradcam(settings) => {
            gradcam(classifier, image, settings, &mut recorder).await?
        }
        masking => {
            let settings = masking.mask_settings().expect("a masking method");
            let kind = masking.representation();
            mask_method(classifier, image, kind, &settings, &mut recorder).await?
        }
    };
    let elapsed_ms = recorder.since_start_ms();
    let steps = recorder.steps.len();
    let optimisation_ms = elapsed_ms - found.setup_ms;
    Ok(Explanation {
        method: config.method(),
        target_class,
        target_probability,
        image_size: [height, width],
        representation: config.representation(),
        masks: found.masks,
        history: recorder.steps,
        timings: Timings {
            setup_ms: found.setup_ms,
            optimisation_ms,
            steps,
            ms_per_step: (steps > 0).then(|| optimisation_ms / steps as f64),
        },
        stopped: found.stopped,
    })
}

/// What one method's run leaves.
struct Found {
    masks: Vec<ExplainedMask>,
    stopped: bool,
    /// From the start of [`explain`] to the start of the optimisation.
    setup_ms: f64,
}

async fn mask_method<C: ImageClassifier, P: Progress>(
    classifier: &C,
    image: Tensor<3>,
    kind: RepresentationKind,
    settings: &MaskSettings,
    progress: &mut Recorder<'_, P>,
) -> Result<Found, LabError> {
    let [_, height, width] = image.dims();
    let representation = kind.build([height, width], &image.device())?;
    let setup_ms = progress.since_start_ms();
    let mut steps = Vec::new();
    let outcome = optimise_mask(
        &representation,
        classifier,
        image,
        settings,
        progress,
        &mut steps,
    )
    .await?;
    let views = views::coefficient_views(&representation, &outcome.mask);
    Ok(Found {
        masks: vec![ExplainedMask {
            area: None,
            mask: outcome.mask,
            explanation: outcome.explanation,
            views,
        }],
        stopped: outcome.stopped,
        setup_ms,
    })
}

async fn smooth_pixel<C: ImageClassifier, P: Progress>(
    classifier: &C,
    image: Tensor<3>,
    config: &ExtremalConfig,
    progress: &mut Recorder<'_, P>,
) -> Result<Found, LabError> {
    let setup_ms = progress.since_start_ms();
    let result =
        extremal_perturbation(classifier, image.clone().unsqueeze(), config, progress).await?;
    let pixels = read(image).await?;
    let masks = (result.areas.iter().zip(&result.masks))
        .map(|(&area, mask)| ExplainedMask {
            area: Some(area),
            mask: mask.clone(),
            explanation: masked_pixels(&pixels, mask),
            views: vec![views::pixel_view("mask", mask, result.size)],
        })
        .collect();
    Ok(Found {
        masks,
        stopped: result.history.len() < config.steps,
        setup_ms,
    })
}

async fn gradcam<C: ImageClassifier, P: Progress>(
    classifier: &C,
    image: Tensor<3>,
    config: &GradCamConfig,
    progress: &mut Recorder<'_, P>,
) -> Result<Found, LabError> {
    let setup_ms = progress.since_start_ms();
    let result = grad_cam(classifier, image.clone().unsqueeze(), config).await?;
    let heatmap = result.heatmap;
    let mean = heatmap.iter().map(|&v| f64::from(v)).sum::<f64>() / heatmap.len() as f64;
    let event = StepEvent {
        step: 1,
        total: 1,
        metrics: BTreeMap::from([("heatmap_mean".to_string(), mean)]),
    };
    // One pass: there is nothing left for a Stop to interrupt.
    progress.step(&event).await;
    let pixels = read(image).await?;
    Ok(Found {
        masks: vec![ExplainedMask {
            area: None,
            explanation: masked_pixels(&pixels, &heatmap),
            views: vec![views::pixel_view("heatmap", &heatmap, result.size)],
            mask: heatmap,
        }],
        stopped: false,
        setup_ms,
    })
}

/// Each channel of `pixels` (`[channels, plane]`) times the `[plane]` mask.
fn masked_pixels(pixels: &[f32], mask: &[f32]) -> Vec<f32> {
    pixels
        .iter()
        .zip(mask.iter().cycle())
        .map(|(&p, &m)| p * m)
        .collect()
}

/// The class to explain (the top class unless `requested`) and its softmax probability.
async fn target<C: ImageClassifier>(
    classifier: &C,
    image: Tensor<3>,
    requested: Option<usize>,
) -> Result<(usize, f64), LabError> {
    let classes = classifier.classes();
    if let Some(class) = requested.filter(|&class| class >= classes) {
        return Err(LabError::Config(format!(
            "class {class} does not exist: the classifier has {classes} classes, numbered 0 to \
             {}",
            classes.saturating_sub(1)
        )));
    }
    let logits = read(classifier.logits(image.unsqueeze())).await?;
    if logits.iter().any(|logit| !logit.is_finite()) {
        return Err(LabError::Execution(
            "the classifier's logits for the image are not finite".into(),
        ));
    }
    let class = requested.unwrap_or_else(|| super::metrics::top_probability(&logits).0);
    let largest = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let normaliser: f64 = (logits.iter())
        .map(|&l| (f64::from(l) - f64::from(largest)).exp())
        .sum();
    let probability = (f64::from(logits[class]) - f64::from(largest)).exp() / normaliser;
    Ok((class, probability))
}

/// Mutable access to the settings [`MethodOverrides`] names, where the method has them.
struct Knobs<'a> {
    target_class: &'a mut Option<usize>,
    steps: Option<&'a mut usize>,
    learning_rate: Option<&'a mut f64>,
    seed: Option<&'a mut u64>,
    variant: Option<&'a mut super::Variant>,
    noise_samples: Option<&'a mut usize>,
    lambda1: Option<&'a mut f64>,
    lambda2: Option<&'a mut f64>,
    areas: Option<&'a mut Vec<f64>>,
}

impl MethodConfig {
    fn knobs(&mut self) -> Knobs<'_> {
        let none = |target_class| Knobs {
            target_class,
            steps: None,
            learning_rate: None,
            seed: None,
            variant: None,
            noise_samples: None,
            lambda1: None,
            lambda2: None,
            areas: None,
        };
        match self {
            MethodConfig::Shearletx(c) => Knobs {
                steps: Some(&mut c.steps),
                learning_rate: Some(&mut c.learning_rate),
                seed: Some(&mut c.seed),
                variant: Some(&mut c.variant),
                noise_samples: Some(&mut c.noise_samples),
                lambda1: Some(&mut c.lambda1),
                lambda2: Some(&mut c.lambda2),
                ..none(&mut c.target_class)
            },
            MethodConfig::Waveletx(c) => Knobs {
                steps: Some(&mut c.steps),
                learning_rate: Some(&mut c.learning_rate),
                seed: Some(&mut c.seed),
                variant: Some(&mut c.variant),
                noise_samples: Some(&mut c.noise_samples),
                lambda1: Some(&mut c.lambda1),
                lambda2: Some(&mut c.lambda2),
                ..none(&mut c.target_class)
            },
            MethodConfig::Cartoonx(c) => Knobs {
                steps: Some(&mut c.steps),
                learning_rate: Some(&mut c.learning_rate),
                seed: Some(&mut c.seed),
                variant: Some(&mut c.variant),
                noise_samples: Some(&mut c.noise_samples),
                lambda1: Some(&mut c.lambda1),
                ..none(&mut c.target_class)
            },
            MethodConfig::Pixel(c) => Knobs {
                steps: Some(&mut c.steps),
                learning_rate: Some(&mut c.learning_rate),
                seed: Some(&mut c.seed),
                variant: Some(&mut c.variant),
                noise_samples: Some(&mut c.noise_samples),
                lambda1: Some(&mut c.lambda1),
                ..none(&mut c.target_class)
            },
            MethodConfig::SmoothPixel(c) => Knobs {
                steps: Some(&mut c.steps),
                learning_rate: Some(&mut c.learning_rate),
                areas: Some(&mut c.areas),
                ..none(&mut c.class)
            },
            MethodConfig::Gradcam(c) => none(&mut c.class),
        }
    }
}

/// Hands `progress` every step and keeps a copy; measures from its creation.
struct Recorder<'a, P> {
    inner: &'a mut P,
    steps: Vec<StepEvent>,
    started: Instant,
}

impl<'a, P: Progress> Recorder<'a, P> {
    fn new(inner: &'a mut P) -> Self {
        Self {
            inner,
            steps: Vec::new(),
            started: Instant::now(),
        }
    }

    fn since_start_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1e3
    }
}

impl<P: Progress> Progress for Recorder<'_, P> {
    async fn step(&mut self, event: &StepEvent) -> Control {
        self.steps.push(event.clone());
        self.inner.step(event).await
    }
}

/// A borrowed classifier, sized, so that one behind a `Box<dyn ImageClassifier>` can go
/// where a sized classifier is expected.
struct Borrowed<'a, C: ?Sized>(&'a C);

impl<C: ImageClassifier + ?Sized> ImageClassifier for Borrowed<'_, C> {
    fn classes(&self) -> usize {
        self.0.classes()
    }

    fn input_size(&self) -> usize {
        self.0.input_size()
    }

    fn preparation(&self) -> Preparation {
        self.0.preparation()
    }

    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        self.0.features(images)
    }

    fn logits_from_features(&self, features: Tensor<4>) -> Tensor<2> {
        self.0.logits_from_features(features)
    }

    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.0.logits(images)
    }

    fn features_and_logits(&self, images: Tensor<4>) -> (Tensor<4>, Tensor<2>) {
        self.0.features_and_logits(images)
    }
}
