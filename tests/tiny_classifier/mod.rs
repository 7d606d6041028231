//! A tiny convolutional classifier with random weights for the explanation tests: two
//! strided convolutions, global average pooling and a linear layer on 256x256 RGB images.
//! `tests/oracle/shearletx.py` builds the same network in PyTorch.

use std::cell::Cell;
use std::rc::Rc;

use burn::tensor::activation::relu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use superlab::models::classifier::ImageClassifier;
use superlab::rng::named_uniform;

pub const CLASSES: usize = 10;
const SIZE: usize = 256;
/// Any fixed value: the classifier's weights only need to be reproducible.
const WEIGHT_SEED: u64 = 2023;

/// Two strided convolutions, global average pooling and a linear layer, with random weights
/// drawn from the lab's generator. It can be poisoned to return NaN logits.
pub struct TinyNet {
    conv1: (Tensor<4>, Tensor<1>),
    conv2: (Tensor<4>, Tensor<1>),
    linear: (Tensor<2>, Tensor<1>),
    /// While set, the logits are NaN.
    pub poisoned: Rc<Cell<bool>>,
}

impl TinyNet {
    pub fn new(device: &Device) -> Self {
        let tensor = |name: &str, shape: &[usize], fan_in: usize| {
            let count = shape.iter().product();
            let scale = 1.0 / (fan_in as f32).sqrt();
            let values = named_uniform(WEIGHT_SEED, name, count, scale, 0.0);
            TensorData::new(values, shape.to_vec())
        };
        let conv = |name: &str, out: usize, inputs: usize, kernel: usize| {
            let fan_in = inputs * kernel * kernel;
            (
                Tensor::from_data(
                    tensor(
                        &format!("{name}.weight"),
                        &[out, inputs, kernel, kernel],
                        fan_in,
                    ),
                    device,
                ),
                Tensor::from_data(tensor(&format!("{name}.bias"), &[out], fan_in), device),
            )
        };
        Self {
            conv1: conv("conv1", 6, 3, 8),
            conv2: conv("conv2", 8, 6, 4),
            linear: (
                Tensor::from_data(tensor("linear.weight", &[8, CLASSES], 8), device),
                Tensor::from_data(tensor("linear.bias", &[CLASSES], 8), device),
            ),
            poisoned: Rc::new(Cell::new(false)),
        }
    }
}

impl ImageClassifier for TinyNet {
    fn classes(&self) -> usize {
        CLASSES
    }

    fn input_size(&self) -> usize {
        SIZE
    }

    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        let options = |stride| ConvOptions::new([stride, stride], [0, 0], [1, 1], 1);
        let (weight, bias) = self.conv1.clone();
        let hidden = relu(conv2d(images, weight, Some(bias), options(8)));
        let (weight, bias) = self.conv2.clone();
        relu(conv2d(hidden, weight, Some(bias), options(4)))
    }

    fn logits_from_features(&self, features: Tensor<4>) -> Tensor<2> {
        let [batch, channels, _, _] = features.dims();
        let pooled = features.mean_dim(3).mean_dim(2).reshape([batch, channels]);
        let (weight, bias) = self.linear.clone();
        let logits = pooled.matmul(weight) + bias.unsqueeze();
        if self.poisoned.get() {
            return logits.mul_scalar(f32::NAN);
        }
        logits
    }
}
