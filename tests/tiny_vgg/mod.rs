//! The miniature VGG of `tests/oracle/_tiny_vgg.py`, rebuilt from a fixture's list of weights:
//! two 3x3 stride-2 convolutions with ReLU (its last convolutional block), a 2x2 average pool,
//! and two linear layers. Inputs are `[batch, 3, 48, 40]`.
#![allow(dead_code)]

use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool2d, conv2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions};
use burn::tensor::{Device, Tensor};
use superlab::models::classifier::ImageClassifier;
use superlab::models::weights::WeightSource;

use crate::common::{self, WeightSpec};

pub const CLASSES: usize = 10;

struct Conv {
    weight: Tensor<4>,
    bias: Tensor<1>,
}

struct Linear {
    /// `[inputs, outputs]`: PyTorch's weight transposed.
    weight: Tensor<2>,
    /// `[1, outputs]`.
    bias: Tensor<2>,
}

pub struct TinyVgg {
    convs: [Conv; 2],
    linears: [Linear; 2],
}

impl TinyVgg {
    pub fn load(seed: u64, specs: &[WeightSpec], device: &Device) -> Self {
        let weights = common::weights_from_spec(seed, specs);
        let conv = |name: &str, shape: [usize; 4]| Conv {
            weight: weights
                .tensor(&format!("{name}.weight"), shape, device)
                .unwrap(),
            bias: weights
                .tensor(&format!("{name}.bias"), [shape[0]], device)
                .unwrap(),
        };
        let linear = |name: &str, [outputs, inputs]: [usize; 2]| Linear {
            weight: weights
                .tensor::<2>(&format!("{name}.weight"), [outputs, inputs], device)
                .unwrap()
                .transpose(),
            bias: weights
                .tensor::<1>(&format!("{name}.bias"), [outputs], device)
                .unwrap()
                .reshape([1, outputs]),
        };
        Self {
            convs: [
                conv("features.0", [8, 3, 3, 3]),
                conv("features.2", [16, 8, 3, 3]),
            ],
            linears: [
                linear("classifier.0", [32, 480]),
                linear("classifier.2", [CLASSES, 32]),
            ],
        }
    }
}

impl ImageClassifier for TinyVgg {
    fn classes(&self) -> usize {
        CLASSES
    }

    fn input_size(&self) -> usize {
        48
    }

    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        let options = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
        self.convs.iter().fold(images, |x, conv| {
            relu(conv2d(
                x,
                conv.weight.clone(),
                Some(conv.bias.clone()),
                options.clone(),
            ))
        })
    }

    /// Shapes: `features` is `[batch, 16, 12, 10]`, pooled to `[batch, 16, 6, 5]`.
    fn logits_from_features(&self, features: Tensor<4>) -> Tensor<2> {
        let [batch, ..] = features.dims();
        let pooled = avg_pool2d(features, AvgPoolOptions::new([2, 2]).with_stride([2, 2]));
        let [first, second] = &self.linears;
        let hidden = pooled.reshape([batch, 480]).matmul(first.weight.clone()) + first.bias.clone();
        relu(hidden).matmul(second.weight.clone()) + second.bias.clone()
    }
}
