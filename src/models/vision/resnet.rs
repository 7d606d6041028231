//! ResNet with basic blocks as torchvision defines it (He et al., "Deep Residual Learning for
//! Image Recognition", 2015, with the stride of a downsampling block on its first 3x3
//! convolution): ResNet-18, and ResNet-34 with `blocks: [3, 4, 6, 3]` (untested).
//!
//! Weights use torchvision's state-dict names (`conv1.weight`, `bn1.running_mean`,
//! `layer2.0.downsample.0.weight`, `fc.weight`, ...), optionally under a `model.` or `resnet.`
//! prefix. timm's ResNet-18 names its tensors identically, so the hub's
//! `timm/resnet18.tv_in1k` (torchvision's ImageNet weights) loads as it is.

use super::layers::{Conv, ConvShape, Dense, InputScaling, global_average};
use crate::LabError;
use crate::models::classifier::ImageClassifier;
use crate::models::weights::WeightSource;
use burn::module::Module;
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// PyTorch's default batch-norm epsilon.
const BATCH_NORM_EPSILON: f64 = 1e-5;
/// The widths of the four stages.
const WIDTHS: [usize; 4] = [64, 128, 256, 512];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResNetConfig {
    /// Basic blocks per stage.
    #[serde(default = "resnet18_blocks")]
    pub blocks: [usize; 4],
    #[serde(default = "imagenet_classes")]
    pub classes: usize,
}

fn resnet18_blocks() -> [usize; 4] {
    [2, 2, 2, 2]
}

fn imagenet_classes() -> usize {
    1000
}

impl Default for ResNetConfig {
    fn default() -> Self {
        Self::resnet18()
    }
}

impl ResNetConfig {
    pub fn resnet18() -> Self {
        Self {
            blocks: resnet18_blocks(),
            classes: imagenet_classes(),
        }
    }
}

/// Two 3x3 convolutions and a shortcut, which is a strided 1x1 convolution where the block
/// changes the resolution or width.
#[derive(Module, Debug)]
struct BasicBlock {
    conv1: Conv,
    conv2: Conv,
    downsample: Option<Conv>,
}

impl BasicBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = match &self.downsample {
            Some(conv) => conv.forward(x.clone()),
            None => x.clone(),
        };
        let y = relu(self.conv1.forward(x));
        relu(self.conv2.forward(y) + shortcut)
    }
}

#[derive(Module, Debug)]
pub struct ResNet {
    stem: Conv,
    stages: Vec<Vec<BasicBlock>>,
    fc: Dense,
    #[module(skip)]
    scaling: InputScaling,
    #[module(skip)]
    config: ResNetConfig,
}

impl ResNet {
    pub fn load(
        config: &ResNetConfig,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        if config.classes == 0 || config.blocks.contains(&0) {
            return Err(LabError::ModelConfig(
                "ResNet: the classes and every stage's block count must be positive".into(),
            ));
        }
        let prefix = weights.find_prefix(&["", "model.", "resnet."], "conv1.weight")?;
        let name = |part: &str| format!("{prefix}{part}");
        let conv_bn = |conv: &str, norm: &str, shape| {
            Conv::with_batch_norm(
                weights,
                &name(conv),
                &name(norm),
                shape,
                BATCH_NORM_EPSILON,
                device,
            )
        };
        let stem = conv_bn("conv1", "bn1", ConvShape::dense(3, 64, 7, 2))?;
        let mut stages = Vec::new();
        let mut inputs = WIDTHS[0];
        for (stage, (&width, &count)) in WIDTHS.iter().zip(&config.blocks).enumerate() {
            let mut blocks = Vec::new();
            for index in 0..count {
                let stride = if stage > 0 && index == 0 { 2 } else { 1 };
                let block = |part: &str| format!("layer{}.{index}.{part}", stage + 1);
                let downsample = (stride != 1 || inputs != width)
                    .then(|| {
                        let shape = ConvShape::dense(inputs, width, 1, stride);
                        conv_bn(&block("downsample.0"), &block("downsample.1"), shape)
                    })
                    .transpose()?;
                blocks.push(BasicBlock {
                    conv1: conv_bn(
                        &block("conv1"),
                        &block("bn1"),
                        ConvShape::dense(inputs, width, 3, stride),
                    )?,
                    conv2: conv_bn(
                        &block("conv2"),
                        &block("bn2"),
                        ConvShape::dense(width, width, 3, 1),
                    )?,
                    downsample,
                });
                inputs = width;
            }
            stages.push(blocks);
        }
        let fc = Dense::load(weights, &name("fc"), [inputs, config.classes], device)?;
        let model = Self {
            stem,
            stages,
            fc,
            scaling: InputScaling::imagenet(),
            config: config.clone(),
        };
        Ok(model.set_require_grad(false))
    }

    pub fn config(&self) -> &ResNetConfig {
        &self.config
    }
}

impl ImageClassifier for ResNet {
    fn classes(&self) -> usize {
        self.config.classes
    }

    fn input_size(&self) -> usize {
        224
    }

    /// The output of the last stage (`layer4`): `[batch, 512, rows / 32, cols / 32]`.
    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        let x = relu(self.stem.forward(self.scaling.apply(images)));
        let pool = MaxPoolOptions::new([3, 3])
            .with_stride([2, 2])
            .with_padding([1, 1]);
        let mut x = max_pool2d(x, pool);
        for block in self.stages.iter().flatten() {
            x = block.forward(x);
        }
        x
    }

    fn logits_from_features(&self, features: Tensor<4>) -> Tensor<2> {
        self.fc.forward(global_average(features))
    }
}
