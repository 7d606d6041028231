//! EfficientNet-Lite0, the variant of EfficientNet-B0 (Tan and Le, 2019) that TensorFlow Lite
//! ships: no squeeze-and-excitation, ReLU6 instead of swish, and the stem and head kept at 32
//! and 1280 channels. The packaged checkpoint is a port of the TensorFlow model, so it computes
//! as TensorFlow does: "SAME" padding (the odd padding pixel of a strided convolution on the
//! bottom and right), batch-norm epsilon 1e-3, and inputs scaled to [-1, 1] as
//! `(255 x - 127.5) / 127.5`.
//!
//! Two naming schemes load:
//! - the packaged checkpoint's (`efficientnet-lite0-57934424.pth`, in the style of the
//!   `efficientnet_pytorch` package): `_conv_stem`, `_bn0`, `_blocks.{i}._expand_conv`,
//!   `._bn0`, `._depthwise_conv`, `._bn1`, `._project_conv`, `._bn2` with `i` counting all
//!   sixteen blocks, then `_conv_head`, `_bn1`, `_fc`;
//! - timm's `tf_efficientnet_lite0` (the hub's `timm/tf_efficientnet_lite0.in1k`):
//!   `conv_stem`, `bn1`, `blocks.{stage}.{j}.conv_pw`, `bn1`, `conv_dw`, `bn2`, `conv_pwl`,
//!   `bn3` (for the first stage, without expansion, `conv_dw`, `bn1`, `conv_pw`, `bn2`), then
//!   `conv_head`, `bn2`, `classifier`.

use super::layers::{Conv, ConvShape, Dense, InputScaling, Padding, global_average};
use super::prepare::{Preparation, Resampling};
use crate::LabError;
use crate::models::classifier::ImageClassifier;
use crate::models::weights::WeightSource;
use burn::module::Module;
use burn::tensor::activation::relu6;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

const BATCH_NORM_EPSILON: f64 = 1e-3;
const STEM_WIDTH: usize = 32;
const HEAD_WIDTH: usize = 1280;

/// A stage of mobile inverted-bottleneck blocks: how many, kernel, stride of the first,
/// expansion ratio, output width (EfficientNet-B0's table 1; Lite0 keeps B0's depth and width).
struct StageSpec {
    repeats: usize,
    kernel: usize,
    stride: usize,
    expansion: usize,
    outputs: usize,
}

const fn stage(
    repeats: usize,
    kernel: usize,
    stride: usize,
    expansion: usize,
    outputs: usize,
) -> StageSpec {
    StageSpec {
        repeats,
        kernel,
        stride,
        expansion,
        outputs,
    }
}

const LITE0: [StageSpec; 7] = [
    stage(1, 3, 1, 1, 16),
    stage(2, 3, 2, 6, 24),
    stage(2, 5, 2, 6, 40),
    stage(3, 3, 2, 6, 80),
    stage(3, 5, 1, 6, 112),
    stage(4, 5, 2, 6, 192),
    stage(1, 3, 1, 6, 320),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EfficientNetLiteConfig {
    #[serde(default = "imagenet_classes")]
    pub classes: usize,
}

fn imagenet_classes() -> usize {
    1000
}

impl Default for EfficientNetLiteConfig {
    fn default() -> Self {
        Self {
            classes: imagenet_classes(),
        }
    }
}

/// Where each part of the network lives in a checkpoint.
#[derive(Clone, Copy)]
enum Naming {
    /// `efficientnet_pytorch`'s names, as in the packaged checkpoint.
    Packaged,
    Timm,
}

impl Naming {
    /// The `(conv, norm)` names of part `part` (0 expansion, 1 depthwise, 2 projection) of the
    /// block at `stage`, `index` within the stage, `flat` counting all blocks.
    fn block_part(
        self,
        stage: usize,
        index: usize,
        flat: usize,
        expands: bool,
        part: usize,
    ) -> (String, String) {
        match self {
            Naming::Packaged => {
                let (conv, norm) = [
                    ("_expand_conv", "_bn0"),
                    ("_depthwise_conv", "_bn1"),
                    ("_project_conv", "_bn2"),
                ][part];
                (
                    format!("_blocks.{flat}.{conv}"),
                    format!("_blocks.{flat}.{norm}"),
                )
            }
            Naming::Timm => {
                let parts = match expands {
                    true => [("conv_pw", "bn1"), ("conv_dw", "bn2"), ("conv_pwl", "bn3")],
                    false => [("", ""), ("conv_dw", "bn1"), ("conv_pw", "bn2")],
                };
                let (conv, norm) = parts[part];
                let at = format!("blocks.{stage}.{index}");
                (format!("{at}.{conv}"), format!("{at}.{norm}"))
            }
        }
    }

    /// `(stem conv, stem norm, head conv, head norm, classifier)`.
    fn ends(self) -> [&'static str; 5] {
        match self {
            Naming::Packaged => ["_conv_stem", "_bn0", "_conv_head", "_bn1", "_fc"],
            Naming::Timm => ["conv_stem", "bn1", "conv_head", "bn2", "classifier"],
        }
    }
}

#[derive(Module, Debug)]
struct MobileBottleneck {
    expand: Option<Conv>,
    depthwise: Conv,
    project: Conv,
    residual: bool,
}

impl MobileBottleneck {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = x.clone();
        if let Some(expand) = &self.expand {
            y = relu6(expand.forward(y));
        }
        y = self.project.forward(relu6(self.depthwise.forward(y)));
        match self.residual {
            true => y + x,
            false => y,
        }
    }
}

#[derive(Module, Debug)]
pub struct EfficientNetLite {
    stem: Conv,
    blocks: Vec<MobileBottleneck>,
    head: Conv,
    classifier: Dense,
    #[module(skip)]
    scaling: InputScaling,
    #[module(skip)]
    config: EfficientNetLiteConfig,
}

impl EfficientNetLite {
    /// EfficientNet-Lite0 from the packaged checkpoint's names or timm's.
    pub fn load_lite0(
        config: &EfficientNetLiteConfig,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        if config.classes == 0 {
            return Err(LabError::ModelConfig(
                "EfficientNet-Lite: no classes".into(),
            ));
        }
        let naming = match weights.contains("_conv_stem.weight") {
            true => Naming::Packaged,
            false => {
                weights.find_prefix(&[""], "conv_stem.weight")?;
                Naming::Timm
            }
        };
        let conv_bn = |(conv, norm): (String, String), shape: ConvShape| {
            let shape = shape.with_padding(Padding::TensorFlowSame);
            Conv::with_batch_norm(weights, &conv, &norm, shape, BATCH_NORM_EPSILON, device)
        };
        let [stem_conv, stem_norm, head_conv, head_norm, classifier] = naming.ends();
        let stem = conv_bn(
            (stem_conv.into(), stem_norm.into()),
            ConvShape::dense(3, STEM_WIDTH, 3, 2),
        )?;
        let mut blocks = Vec::new();
        let mut inputs = STEM_WIDTH;
        for (stage, spec) in LITE0.iter().enumerate() {
            for index in 0..spec.repeats {
                let flat = blocks.len();
                let expands = spec.expansion != 1;
                let names = |part| naming.block_part(stage, index, flat, expands, part);
                let stride = if index == 0 { spec.stride } else { 1 };
                let hidden = inputs * spec.expansion;
                let expand = expands
                    .then(|| conv_bn(names(0), ConvShape::dense(inputs, hidden, 1, 1)))
                    .transpose()?;
                blocks.push(MobileBottleneck {
                    expand,
                    depthwise: conv_bn(
                        names(1),
                        ConvShape::depthwise(hidden, spec.kernel, stride),
                    )?,
                    project: conv_bn(names(2), ConvShape::dense(hidden, spec.outputs, 1, 1))?,
                    residual: stride == 1 && inputs == spec.outputs,
                });
                inputs = spec.outputs;
            }
        }
        let head = conv_bn(
            (head_conv.into(), head_norm.into()),
            ConvShape::dense(inputs, HEAD_WIDTH, 1, 1),
        )?;
        let model = Self {
            stem,
            blocks,
            head,
            classifier: Dense::load(weights, classifier, [HEAD_WIDTH, config.classes], device)?,
            scaling: InputScaling::symmetric(),
            config: config.clone(),
        };
        Ok(model.set_require_grad(false))
    }

    pub fn config(&self) -> &EfficientNetLiteConfig {
        &self.config
    }
}

impl ImageClassifier for EfficientNetLite {
    fn classes(&self) -> usize {
        self.config.classes
    }

    fn input_size(&self) -> usize {
        224
    }

    /// timm's evaluation transform for `tf_efficientnet_lite0`: the shorter side to 256
    /// (224 / 0.875) bicubically, then the centre 224x224.
    fn preparation(&self) -> Preparation {
        Preparation::centre_crop(self.input_size(), Resampling::Bicubic)
    }

    /// The head convolution's output after its batch norm and ReLU6, just before pooling:
    /// `[batch, 1280, rows / 32, cols / 32]`.
    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        let mut x = relu6(self.stem.forward(self.scaling.apply(images)));
        for block in &self.blocks {
            x = block.forward(x);
        }
        relu6(self.head.forward(x))
    }

    fn logits_from_features(&self, features: Tensor<4>) -> Tensor<2> {
        self.classifier.forward(global_average(features))
    }
}
