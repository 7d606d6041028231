//! An image classifier with its class names: encoded photographs in, the most probable classes
//! out. Which architecture a checkpoint holds is read from timm's `config.json` (its
//! `architecture`) when there is one, else from the tensor names each architecture's loader
//! reads.

use crate::LabError;
use crate::models::classifier::ImageClassifier;
use crate::models::vision::imagenet::top_k_of_batch;
use crate::models::vision::prepare;
use crate::models::vision::{Architecture, ClassNames};
use crate::models::weights::WeightSource;
use burn::tensor::Device;
use image::Rgb32FImage;
use serde::{Deserialize, Serialize};

/// timm's names of the architectures the lab implements with timm's tensor names.
const TIMM_ARCHITECTURES: [(&str, Architecture); 3] = [
    ("resnet18", Architecture::Resnet18),
    ("vgg19", Architecture::Vgg19),
    ("tf_efficientnet_lite0", Architecture::EfficientnetLite0),
];

/// Weight prefixes under which checkpoints wrap a classifier.
const PREFIXES: [&str; 4] = ["", "model.", "module.", "net."];

/// A tensor each architecture's checkpoints hold and the others' do not, tried in this order
/// (VGG's `features.0.weight` is also MobileNet's prefix, so MobileNet comes first).
const SIGNATURES: [(&str, Architecture); 5] = [
    ("_conv_stem.weight", Architecture::EfficientnetLite0),
    ("conv_stem.weight", Architecture::EfficientnetLite0),
    ("layer4.1.conv2.weight", Architecture::Resnet18),
    ("features.0.0.weight", Architecture::MobilenetV3Small),
    ("features.0.weight", Architecture::Vgg19),
];

/// The architecture a timm `config.json` names, when it names one the lab implements.
pub fn architecture_from_timm(
    config: &serde_json::Value,
) -> Option<Result<Architecture, LabError>> {
    let name = config.get("architecture")?.as_str()?;
    let known = TIMM_ARCHITECTURES.iter().find(|(timm, _)| *timm == name);
    Some(known.map(|&(_, architecture)| architecture).ok_or_else(|| {
        let names: Vec<&str> = TIMM_ARCHITECTURES.iter().map(|(timm, _)| *timm).collect();
        LabError::ModelConfig(format!(
            "config.json names the timm architecture {name}; the lab's image classifiers are \
             timm's {}",
            names.join(", ")
        ))
    }))
}

/// The architecture whose tensor names the checkpoint holds.
pub fn architecture_from_names(
    file: &str,
    weights: &impl WeightSource,
) -> Result<Architecture, LabError> {
    (SIGNATURES.iter())
        .find(|(probe, _)| {
            (PREFIXES.iter()).any(|prefix| weights.contains(&format!("{prefix}{probe}")))
        })
        .map(|&(_, architecture)| architecture)
        .ok_or_else(|| {
            let known: Vec<&str> = Architecture::ALL.iter().map(|a| a.name()).collect();
            LabError::ModelConfig(format!(
                "{file} holds none of the image classifiers the lab knows ({}, by torchvision's \
                 or timm's tensor names); a language or reward model needs its config.json \
                 beside the weights",
                known.join(", ")
            ))
        })
}

/// One of the most probable classes of an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedClass {
    pub class: usize,
    pub name: String,
    pub probability: f32,
    pub logit: f32,
}

pub struct ImageModel {
    pub architecture: Architecture,
    pub model: Box<dyn ImageClassifier>,
    pub names: Option<ClassNames>,
}

impl std::fmt::Debug for ImageModel {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ImageModel")
            .field("architecture", &self.architecture)
            .field("classes", &self.model.classes())
            .finish()
    }
}

impl ImageModel {
    /// The `k` most probable classes of a decoded image (see
    /// [`crate::explain::photo::decode_photo`]), prepared as the classifier was evaluated.
    pub async fn classify(
        &self,
        image: &Rgb32FImage,
        k: usize,
        device: &Device,
    ) -> Result<Vec<RankedClass>, LabError> {
        let prepared = self.model.preparation().apply(image)?;
        let logits = self.model.logits(prepare::to_tensor(&[prepared], device)?);
        let ranked = top_k_of_batch(logits, k).await?.remove(0);
        Ok(ranked
            .into_iter()
            .map(|rank| RankedClass {
                class: rank.class,
                name: self.class_name(rank.class),
                probability: rank.probability,
                logit: rank.logit,
            })
            .collect())
    }

    pub fn class_name(&self, class: usize) -> String {
        match &self.names {
            Some(names) => names.name(class).to_string(),
            None => format!("class {class}"),
        }
    }
}
