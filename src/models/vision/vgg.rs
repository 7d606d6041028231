//! VGG-19 (Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
//! Recognition", 2014, configuration E) as torchvision defines it, without batch norm: sixteen
//! 3x3 convolutions with ReLU in five blocks, each block ending in a 2x2 max pool; an adaptive
//! average pool to 7x7; three fully connected layers (dropout is inactive in inference).
//!
//! Weights use torchvision's state-dict names: `features.{i}.weight` and `.bias` at the
//! convolutions' positions in its `features` sequence (0, 2, 5, 7, 10, ...), and
//! `classifier.{0,3,6}` for the fully connected layers. The hub's `timm/vgg19.tv_in1k` stores
//! the same weights under timm's names, which load too: `features.*` as they are, and the
//! classifier as `pre_logits.fc1` (the first layer as a 7x7 convolution, `[4096, 512, 7, 7]`,
//! whose rows are exactly the flattened rows of `classifier.0`), `pre_logits.fc2` (a 1x1
//! convolution) and `head.fc`.

use super::layers::{Conv, ConvShape, Dense, InputScaling, read};
use crate::LabError;
use crate::models::classifier::ImageClassifier;
use crate::models::weights::WeightSource;
use burn::module::Module;
use burn::tensor::activation::relu;
use burn::tensor::module::{adaptive_avg_pool2d, max_pool2d};
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Configuration E: output widths of the convolutions, block by block.
const BLOCKS: [&[usize]; 5] = [
    &[64, 64],
    &[128, 128],
    &[256, 256, 256, 256],
    &[512, 512, 512, 512],
    &[512, 512, 512, 512],
];
/// The adaptive average pool's output side before the classifier.
const POOLED: usize = 7;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VggConfig {
    #[serde(default = "imagenet_classes")]
    pub classes: usize,
    /// The width of the two hidden fully connected layers (4096 in the paper and torchvision;
    /// smaller only for tests).
    #[serde(default = "hidden_width")]
    pub hidden: usize,
}

fn imagenet_classes() -> usize {
    1000
}

fn hidden_width() -> usize {
    4096
}

impl Default for VggConfig {
    fn default() -> Self {
        Self {
            classes: imagenet_classes(),
            hidden: hidden_width(),
        }
    }
}

/// How the checkpoint names the fully connected layers.
enum HeadNames {
    Torchvision,
    Timm,
}

#[derive(Module, Debug)]
pub struct Vgg {
    /// The convolutions of each block.
    blocks: Vec<Vec<Conv>>,
    fc1: Dense,
    fc2: Dense,
    fc3: Dense,
    #[module(skip)]
    scaling: InputScaling,
    #[module(skip)]
    config: VggConfig,
}

impl Vgg {
    pub fn load(
        config: &VggConfig,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        if config.classes == 0 || config.hidden == 0 {
            return Err(LabError::ModelConfig(
                "VGG: the classes and the hidden width must be positive".into(),
            ));
        }
        let prefix = weights.find_prefix(&["", "model.", "vgg."], "features.0.weight")?;
        let name = |part: &str| format!("{prefix}{part}");
        let mut blocks = Vec::new();
        // The position in torchvision's `features` sequence: each convolution is followed by
        // a ReLU, each block by a max pool.
        let mut position = 0;
        let mut inputs = 3;
        for widths in BLOCKS {
            let mut convs = Vec::new();
            for &width in widths {
                let conv = name(&format!("features.{position}"));
                convs.push(Conv::with_bias(
                    weights,
                    &conv,
                    ConvShape::dense(inputs, width, 3, 1),
                    device,
                )?);
                inputs = width;
                position += 2;
            }
            blocks.push(convs);
            position += 1;
        }
        let head = match weights.contains(&name("classifier.0.weight")) {
            true => HeadNames::Torchvision,
            false => HeadNames::Timm,
        };
        let flat = inputs * POOLED * POOLED;
        let [fc1, fc2, fc3] = match head {
            HeadNames::Torchvision => [
                Dense::load(
                    weights,
                    &name("classifier.0"),
                    [flat, config.hidden],
                    device,
                )?,
                Dense::load(
                    weights,
                    &name("classifier.3"),
                    [config.hidden, config.hidden],
                    device,
                )?,
                Dense::load(
                    weights,
                    &name("classifier.6"),
                    [config.hidden, config.classes],
                    device,
                )?,
            ],
            HeadNames::Timm => {
                // timm's convolutional form: flattening `[out, in, 7, 7]` per output gives the
                // rows of the linear layer over torchvision's flattened `[in, 7, 7]` features.
                let fc1_name = name("pre_logits.fc1");
                let fc1_shape = [config.hidden, inputs, POOLED, POOLED];
                let fc1 = read(weights, &format!("{fc1_name}.weight"), &fc1_shape)?;
                let fc2_name = name("pre_logits.fc2");
                let fc2_shape = [config.hidden, config.hidden, 1, 1];
                let fc2 = read(weights, &format!("{fc2_name}.weight"), &fc2_shape)?;
                [
                    Dense::from_rows(weights, &fc1_name, fc1, [flat, config.hidden], device)?,
                    Dense::from_rows(
                        weights,
                        &fc2_name,
                        fc2,
                        [config.hidden, config.hidden],
                        device,
                    )?,
                    Dense::load(
                        weights,
                        &name("head.fc"),
                        [config.hidden, config.classes],
                        device,
                    )?,
                ]
            }
        };
        let model = Self {
            blocks,
            fc1,
            fc2,
            fc3,
            scaling: InputScaling::imagenet(),
            config: config.clone(),
        };
        Ok(model.set_require_grad(false))
    }

    pub fn config(&self) -> &VggConfig {
        &self.config
    }
}

impl ImageClassifier for Vgg {
    fn classes(&self) -> usize {
        self.config.classes
    }

    fn input_size(&self) -> usize {
        224
    }

    /// The output of torchvision's `features` sequence, after the fifth block's max pool:
    /// `[batch, 512, rows / 32, cols / 32]`. This is the layer the Grad-CAM reference
    /// implementation (`pytorch-grad-cam`) documents for VGG, `model.features[-1]`.
    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        let mut x = self.scaling.apply(images);
        for block in &self.blocks {
            for conv in block {
                x = relu(conv.forward(x));
            }
            x = max_pool2d(x, MaxPoolOptions::new([2, 2]));
        }
        x
    }

    fn logits_from_features(&self, features: Tensor<4>) -> Tensor<2> {
        let [batch, channels, _, _] = features.dims();
        let pooled = adaptive_avg_pool2d(features, [POOLED, POOLED]);
        let x = pooled.reshape([batch, channels * POOLED * POOLED]);
        let x = relu(self.fc1.forward(x));
        let x = relu(self.fc2.forward(x));
        self.fc3.forward(x)
    }
}
