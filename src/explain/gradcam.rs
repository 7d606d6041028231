//! Grad-CAM (Selvaraju et al., "Grad-CAM: Visual explanations from deep networks via
//! gradient-based localization", ICCV 2017) on the classifier's last convolutional block, as
//! the `grad-cam` package (pytorch-grad-cam) computes it.
//!
//! With `A_k` the block's feature maps and `y_c` the class score (the logit), each map is
//! weighted by the spatial mean of `dy_c / dA_k`; the heatmap is the ReLU of the weighted sum,
//! enlarged bilinearly to the image and scaled to [0, 1] by its minimum and maximum.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::bilinear;
use crate::LabError;
use crate::device::read;
use crate::models::classifier::ImageClassifier;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GradCamConfig {
    /// The class to explain; the classifier's top class when absent.
    pub class: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradCamResult {
    /// The class explained.
    pub class: usize,
    /// `[height, width]` of the image and the heatmap.
    pub size: [usize; 2],
    /// Values in [0, 1], row-major; all zero where no feature map speaks for the class.
    pub heatmap: Vec<f32>,
    /// The weight of each feature map: the spatial mean of the class score's gradient.
    pub channel_weights: Vec<f32>,
}

/// Explains the classifier's decision on one image.
///
/// Shapes: `image` is `[1, 3, height, width]` with values in [0, 1].
pub async fn grad_cam(
    classifier: &impl ImageClassifier,
    image: Tensor<4>,
    config: &GradCamConfig,
) -> Result<GradCamResult, LabError> {
    let [batch, _, height, width] = image.dims();
    if batch != 1 {
        return Err(LabError::Config(format!(
            "Grad-CAM explains one image at a time, not a batch of {batch}"
        )));
    }
    // Burn keeps the gradients of leaf tensors only, so the features enter the rest of the
    // network as a leaf of their own.
    let features = classifier.features(image);
    let [_, maps, rows, cols] = features.dims();
    let features = features.detach().autodiff().require_grad();
    let logits = classifier.logits_from_features(features.clone());
    let class = match config.class {
        Some(class) if class >= classifier.classes() => {
            return Err(LabError::Config(format!(
                "class {class} is not one of the classifier's {} classes",
                classifier.classes()
            )));
        }
        Some(class) => class,
        None => top_class(&read(logits.clone().detach()).await?),
    };
    let score = logits.slice([0..1, class..class + 1]).sum();
    let gradient = features
        .grad(&score.backward())
        .ok_or_else(|| LabError::Execution("no gradient reached the feature maps".into()))?;
    let weights = gradient.mean_dim(3).mean_dim(2);
    let map = (features.inner() * weights.clone())
        .sum_dim(1)
        .reshape([rows * cols]);
    let map: Vec<f64> = read(map)
        .await?
        .into_iter()
        .map(|v| f64::from(v.max(0.0)))
        .collect();
    let enlarged = bilinear::resize(&map, [rows, cols], [height, width]);
    Ok(GradCamResult {
        class,
        size: [height, width],
        heatmap: scaled_to_unit(&enlarged),
        channel_weights: read(weights.reshape([maps])).await?,
    })
}

fn top_class(logits: &[f32]) -> usize {
    let largest = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    logits
        .iter()
        .position(|&l| l == largest)
        .expect("at least one class")
}

/// `(v - min) / (max - min)`, or zeros where the map is flat.
fn scaled_to_unit(values: &[f64]) -> Vec<f32> {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let range = high - low;
    values
        .iter()
        .map(|v| {
            if range > 0.0 {
                ((v - low) / range) as f32
            } else {
                0.0
            }
        })
        .collect()
}
