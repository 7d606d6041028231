//! The ShearletX paper's scores for any method's result (see `metrics` and `hallucination`
//! for their definitions).
//!
//! What each score sees:
//! - CP-L1 and CP-Entropy: the mask over the representation the method masks, times the
//!   coefficients of the image's colour channels: shearlet coefficients for ShearletX,
//!   wavelet coefficients for WaveletX and CartoonX, pixels for the pixel mask, the smooth
//!   pixel mask and Grad-CAM (whose heatmap counts as a pixel mask);
//! - the retained probability, CP-L1-pixel and the hallucination score: the explanation image
//!   as [`super::ExplainedMask::explanation`] holds it (for the masking methods divided by its
//!   largest value, as the reference scores them; for the smooth pixel mask and Grad-CAM the
//!   mask times the image, unscaled, as the reference scores smooth masks);
//! - the hallucination score: edges by CoShREM with the paper's parameters on grey levels
//!   `floor(255 * mean of the channels)` ([`GreyLevels::Floor`], the default). The reference
//!   wraps those levels to a signed byte, which turns bright regions dark and draws a false
//!   edge along the level-128 contour of both images; `GreyLevels::ReferenceInt8` reproduces
//!   it for comparison with published numbers.
//!
//! A score is `None` where it is undefined rather than not applicable: every score applies to
//! every method. CP-L1 and CP-Entropy are `None` for a mask that keeps nothing (`m c = 0`),
//! CP-L1-pixel for a black explanation, the hallucination score for an image without a
//! single edge pixel.
//!
//! [`GreyLevels::Floor`]: crate::explain::GreyLevels::Floor

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{Borrowed, Explanation};
use crate::LabError;
use crate::device::read;
use crate::explain::edges::{EdgeConfig, EdgeSystem};
use crate::explain::hallucination::{Hallucination, HallucinationConfig, ImageEdges};
use crate::explain::metrics::ExplanationScores;
use crate::models::classifier::ImageClassifier;

/// How the scores are computed; the defaults are the paper's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoreConfig {
    pub hallucination: HallucinationConfig,
    pub edges: EdgeConfig,
}

/// The scores of one mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskScores {
    /// The smooth pixel mask's area; absent for other methods.
    pub area: Option<f64>,
    #[serde(flatten)]
    pub scores: ExplanationScores,
    /// The edge counts behind the hallucination score.
    pub hallucination: Hallucination,
    pub hallucination_score: Option<f64>,
}

/// Scores every mask of `explanation`, an explanation of `image` (`[3, height, width]`, RGB
/// in [0, 1], on the classifier's device) by `classifier`.
pub async fn score<C: ImageClassifier + ?Sized>(
    classifier: &C,
    image: Tensor<3>,
    explanation: &Explanation,
    config: &ScoreConfig,
) -> Result<Vec<MaskScores>, LabError> {
    let classifier = Borrowed(classifier);
    let [channels, height, width] = image.dims();
    if [height, width] != explanation.image_size {
        return Err(LabError::Config(format!(
            "the explanation is of a {:?} image, not of this {height}x{width} one",
            explanation.image_size
        )));
    }
    let device = image.device();
    let representation = explanation.representation.build([height, width], &device)?;
    let edges = EdgeSystem::with_config(height, width, &config.edges)?;
    let pixels = read(image.clone()).await?;
    let image_edges = ImageEdges::of_image(&edges, &pixels, channels, &config.hallucination)?;
    let image = image.unsqueeze::<4>();
    let mut all = Vec::with_capacity(explanation.masks.len());
    for mask in &explanation.masks {
        let shape = [1, channels, height, width];
        let explained =
            Tensor::from_data(TensorData::new(mask.explanation.clone(), shape), &device);
        let values = Tensor::from_data(
            TensorData::new(mask.mask.clone(), [mask.mask.len()]),
            &device,
        );
        let scores = ExplanationScores::compute(
            &classifier,
            &representation,
            image.clone(),
            explained,
            values,
        )
        .await?;
        let hallucination =
            image_edges.score(&edges, &mask.explanation, channels, &config.hallucination)?;
        all.push(MaskScores {
            area: mask.area,
            scores,
            hallucination_score: hallucination.score(),
            hallucination,
        });
    }
    Ok(all)
}
