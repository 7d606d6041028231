//! MobileNetV3-small (Howard et al., "Searching for MobileNetV3", 2019) as torchvision defines
//! it at width multiplier 1: a 3x3 stem, eleven inverted-residual blocks (some with
//! squeeze-and-excitation), a 1x1 convolution to 576 channels, global pooling and two fully
//! connected layers with hard-swish between them. Batch norm uses epsilon 1e-3.
//!
//! Weights use torchvision's state-dict names: `features.0.{0,1}` for the stem, `features.{i}.
//! block.{j}` for the parts of block `i` (expansion, depthwise, squeeze-excitation with `fc1`
//! and `fc2`, projection, in that order, the expansion absent where it would not widen), then
//! `features.12.{0,1}` and `classifier.{0,3}`. timm's `mobilenetv3_small_100` is a different
//! network (other head, other weights), so only torchvision's names load.

use super::layers::{Conv, ConvShape, Dense, InputScaling, global_average};
use crate::LabError;
use crate::models::classifier::ImageClassifier;
use crate::models::weights::WeightSource;
use burn::module::Module;
use burn::tensor::activation::{hard_sigmoid, hard_swish, relu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

const BATCH_NORM_EPSILON: f64 = 1e-3;
const STEM_WIDTH: usize = 16;
const LAST_CONV_WIDTH: usize = 576;
const HIDDEN_WIDTH: usize = 1024;

/// One inverted-residual block of the small network, as in the paper's table 2.
struct BlockSpec {
    kernel: usize,
    expanded: usize,
    outputs: usize,
    squeeze_excite: bool,
    hard_swish: bool,
    stride: usize,
}

const fn block(
    kernel: usize,
    expanded: usize,
    outputs: usize,
    squeeze_excite: bool,
    hard_swish: bool,
    stride: usize,
) -> BlockSpec {
    BlockSpec {
        kernel,
        expanded,
        outputs,
        squeeze_excite,
        hard_swish,
        stride,
    }
}

const SMALL: [BlockSpec; 11] = [
    block(3, 16, 16, true, false, 2),
    block(3, 72, 24, false, false, 2),
    block(3, 88, 24, false, false, 1),
    block(5, 96, 40, true, true, 2),
    block(5, 240, 40, true, true, 1),
    block(5, 240, 40, true, true, 1),
    block(5, 120, 48, true, true, 1),
    block(5, 144, 48, true, true, 1),
    block(5, 288, 96, true, true, 2),
    block(5, 576, 96, true, true, 1),
    block(5, 576, 96, true, true, 1),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MobileNetV3Config {
    #[serde(default = "imagenet_classes")]
    pub classes: usize,
}

fn imagenet_classes() -> usize {
    1000
}

impl Default for MobileNetV3Config {
    fn default() -> Self {
        Self {
            classes: imagenet_classes(),
        }
    }
}

/// The nearest multiple of 8 to `width` (halves up), at least 8, and not more than 10% below
/// `width`: how MobileNets round channel counts.
fn round_to_eight(width: usize) -> usize {
    let mut rounded = ((width + 4) / 8 * 8).max(8);
    if 10 * rounded < 9 * width {
        rounded += 8;
    }
    rounded
}

/// Channel attention: global pooling, a bottleneck of two 1x1 convolutions, and a hard-sigmoid
/// gate on each channel.
#[derive(Module, Debug)]
struct SqueezeExcite {
    reduce: Conv,
    expand: Conv,
}

impl SqueezeExcite {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, channels, _, _] = x.dims();
        let pooled = global_average(x.clone()).reshape([batch, channels, 1, 1]);
        let gate = self.expand.forward(relu(self.reduce.forward(pooled)));
        x * hard_sigmoid(gate, 1.0 / 6.0, 0.5)
    }
}

#[derive(Module, Debug)]
struct InvertedResidual {
    expand: Option<Conv>,
    depthwise: Conv,
    squeeze_excite: Option<SqueezeExcite>,
    project: Conv,
    hard_swish: bool,
    residual: bool,
}

impl InvertedResidual {
    fn activation(&self, x: Tensor<4>) -> Tensor<4> {
        match self.hard_swish {
            true => hard_swish(x),
            false => relu(x),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = x.clone();
        if let Some(expand) = &self.expand {
            y = self.activation(expand.forward(y));
        }
        y = self.activation(self.depthwise.forward(y));
        if let Some(squeeze_excite) = &self.squeeze_excite {
            y = squeeze_excite.forward(y);
        }
        y = self.project.forward(y);
        match self.residual {
            true => y + x,
            false => y,
        }
    }
}

#[derive(Module, Debug)]
pub struct MobileNetV3 {
    stem: Conv,
    blocks: Vec<InvertedResidual>,
    last_conv: Conv,
    fc1: Dense,
    fc2: Dense,
    #[module(skip)]
    scaling: InputScaling,
    #[module(skip)]
    config: MobileNetV3Config,
}

impl MobileNetV3 {
    /// MobileNetV3-small from torchvision-named weights.
    pub fn load_small(
        config: &MobileNetV3Config,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        if config.classes == 0 {
            return Err(LabError::ModelConfig("MobileNetV3: no classes".into()));
        }
        let prefix = weights.find_prefix(&["", "model.", "mobilenet."], "features.0.0.weight")?;
        let name = |part: &str| format!("{prefix}{part}");
        let conv_bn = |at: &str, shape| {
            let (conv, norm) = (name(&format!("{at}.0")), name(&format!("{at}.1")));
            Conv::with_batch_norm(weights, &conv, &norm, shape, BATCH_NORM_EPSILON, device)
        };
        let stem = conv_bn("features.0", ConvShape::dense(3, STEM_WIDTH, 3, 2))?;
        let mut blocks = Vec::new();
        let mut inputs = STEM_WIDTH;
        for (index, spec) in SMALL.iter().enumerate() {
            let part = |j: usize| format!("features.{}.block.{j}", index + 1);
            let mut next = 0;
            let expand = (spec.expanded != inputs)
                .then(|| {
                    next += 1;
                    conv_bn(&part(0), ConvShape::dense(inputs, spec.expanded, 1, 1))
                })
                .transpose()?;
            let shape = ConvShape::depthwise(spec.expanded, spec.kernel, spec.stride);
            let depthwise = conv_bn(&part(next), shape)?;
            next += 1;
            let squeeze_excite = match spec.squeeze_excite {
                true => {
                    let squeezed = round_to_eight(spec.expanded / 4);
                    let at = part(next);
                    next += 1;
                    let conv = |fc: &str, shape| {
                        Conv::with_bias(weights, &name(&format!("{at}.{fc}")), shape, device)
                    };
                    Some(SqueezeExcite {
                        reduce: conv("fc1", ConvShape::dense(spec.expanded, squeezed, 1, 1))?,
                        expand: conv("fc2", ConvShape::dense(squeezed, spec.expanded, 1, 1))?,
                    })
                }
                false => None,
            };
            let project = conv_bn(
                &part(next),
                ConvShape::dense(spec.expanded, spec.outputs, 1, 1),
            )?;
            blocks.push(InvertedResidual {
                expand,
                depthwise,
                squeeze_excite,
                project,
                hard_swish: spec.hard_swish,
                residual: spec.stride == 1 && inputs == spec.outputs,
            });
            inputs = spec.outputs;
        }
        let last_at = format!("features.{}", SMALL.len() + 1);
        let last_conv = conv_bn(&last_at, ConvShape::dense(inputs, LAST_CONV_WIDTH, 1, 1))?;
        let model = Self {
            stem,
            blocks,
            last_conv,
            fc1: Dense::load(
                weights,
                &name("classifier.0"),
                [LAST_CONV_WIDTH, HIDDEN_WIDTH],
                device,
            )?,
            fc2: Dense::load(
                weights,
                &name("classifier.3"),
                [HIDDEN_WIDTH, config.classes],
                device,
            )?,
            scaling: InputScaling::imagenet(),
            config: config.clone(),
        };
        Ok(model.set_require_grad(false))
    }

    pub fn config(&self) -> &MobileNetV3Config {
        &self.config
    }
}

impl ImageClassifier for MobileNetV3 {
    fn classes(&self) -> usize {
        self.config.classes
    }

    fn input_size(&self) -> usize {
        224
    }

    /// The output of torchvision's `features` sequence, after the 1x1 convolution to 576
    /// channels and its hard-swish: `[batch, 576, rows / 32, cols / 32]` (what
    /// `pytorch-grad-cam` documents as `model.features[-1]`).
    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        let mut x = hard_swish(self.stem.forward(self.scaling.apply(images)));
        for block in &self.blocks {
            x = block.forward(x);
        }
        hard_swish(self.last_conv.forward(x))
    }

    fn logits_from_features(&self, features: Tensor<4>) -> Tensor<2> {
        let x = hard_swish(self.fc1.forward(global_average(features)));
        self.fc2.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::round_to_eight;

    /// The squeeze widths of torchvision's MobileNetV3-small, a quarter of each expanded width.
    #[test]
    fn squeeze_widths_round_as_torchvision_does() {
        let expanded = [16, 96, 240, 120, 144, 288, 576];
        let squeezed = expanded.map(|width| round_to_eight(width / 4));
        assert_eq!(squeezed, [8, 24, 64, 32, 40, 72, 144]);
    }
}
