//! The layers the convolutional classifiers share: convolutions with their batch norm folded
//! in, fully connected layers in PyTorch's weight layout, and the input normalisations.
//!
//! Batch norm is used in inference form only (the explanation methods never train the
//! classifier): `gamma * (x - running_mean) / sqrt(running_var + eps) + beta` is an affine map
//! per channel, folded into the preceding convolution's weights and bias in f64 when loading.

use crate::LabError;
use crate::models::weights::WeightSource;
use burn::module::{Module, Param};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// How a convolution pads its input with zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Padding {
    /// The same number of pixels on every side, as PyTorch's `padding=n`.
    Symmetric(usize),
    /// TensorFlow's "SAME": the output has `ceil(input / stride)` pixels, and when the padding
    /// needed for that is odd, the extra pixel goes to the bottom and right.
    TensorFlowSame,
}

/// The shape of a convolution as its checkpoint stores it.
#[derive(Debug, Clone, Copy)]
pub struct ConvShape {
    pub inputs: usize,
    pub outputs: usize,
    pub kernel: usize,
    pub stride: usize,
    /// `inputs` for a depthwise convolution, 1 for a dense one.
    pub groups: usize,
    pub padding: Padding,
}

impl ConvShape {
    /// A dense convolution with PyTorch's usual padding `kernel / 2`.
    pub fn dense(inputs: usize, outputs: usize, kernel: usize, stride: usize) -> Self {
        Self {
            inputs,
            outputs,
            kernel,
            stride,
            groups: 1,
            padding: Padding::Symmetric(kernel / 2),
        }
    }

    /// A depthwise convolution (one filter per channel) with padding `kernel / 2`.
    pub fn depthwise(channels: usize, kernel: usize, stride: usize) -> Self {
        Self {
            groups: channels,
            ..Self::dense(channels, channels, kernel, stride)
        }
    }

    pub fn with_padding(self, padding: Padding) -> Self {
        Self { padding, ..self }
    }

    fn weight_shape(&self) -> [usize; 4] {
        [
            self.outputs,
            self.inputs / self.groups,
            self.kernel,
            self.kernel,
        ]
    }
}

/// A 2-D convolution with a bias (its own, or its batch norm's folded in).
#[derive(Module, Debug)]
pub struct Conv {
    /// `[outputs, inputs / groups, kernel, kernel]`.
    weight: Param<Tensor<4>>,
    /// `[outputs]`.
    bias: Param<Tensor<1>>,
    stride: usize,
    groups: usize,
    kernel: usize,
    #[module(skip)]
    padding: Padding,
}

impl Conv {
    /// A convolution stored as `{conv}.weight` (no bias) followed by a batch norm stored as
    /// `{norm}.weight`, `.bias`, `.running_mean`, `.running_var`.
    pub fn with_batch_norm(
        weights: &impl WeightSource,
        conv: &str,
        norm: &str,
        shape: ConvShape,
        epsilon: f64,
        device: &Device,
    ) -> Result<Self, LabError> {
        let weight = read(weights, &format!("{conv}.weight"), &shape.weight_shape())?;
        let channel = |part: &str| read(weights, &format!("{norm}.{part}"), &[shape.outputs]);
        let (gamma, beta) = (channel("weight")?, channel("bias")?);
        let (mean, variance) = (channel("running_mean")?, channel("running_var")?);
        if let Some(c) = variance.iter().position(|&v| f64::from(v) + epsilon <= 0.0) {
            return Err(LabError::Weights(format!(
                "{norm}.running_var[{c}] is {}, so the batch norm divides by zero or a negative \
                 number's root: the weights are corrupt",
                variance[c]
            )));
        }
        let scales: Vec<f64> = (gamma.iter().zip(&variance))
            .map(|(&g, &v)| f64::from(g) / (f64::from(v) + epsilon).sqrt())
            .collect();
        let per_output = weight.len() / shape.outputs;
        let weight = (weight.iter().enumerate())
            .map(|(i, &w)| (f64::from(w) * scales[i / per_output]) as f32)
            .collect();
        let bias = (0..shape.outputs)
            .map(|c| (f64::from(beta[c]) - f64::from(mean[c]) * scales[c]) as f32)
            .collect();
        Ok(Self::new(shape, weight, bias, device))
    }

    /// A convolution stored as `{conv}.weight` and `{conv}.bias`.
    pub fn with_bias(
        weights: &impl WeightSource,
        conv: &str,
        shape: ConvShape,
        device: &Device,
    ) -> Result<Self, LabError> {
        let weight = read(weights, &format!("{conv}.weight"), &shape.weight_shape())?;
        let bias = read(weights, &format!("{conv}.bias"), &[shape.outputs])?;
        Ok(Self::new(shape, weight, bias, device))
    }

    fn new(shape: ConvShape, weight: Vec<f32>, bias: Vec<f32>, device: &Device) -> Self {
        let weight = Tensor::from_data(TensorData::new(weight, shape.weight_shape()), device);
        let bias = Tensor::from_data(TensorData::new(bias, [shape.outputs]), device);
        Self {
            weight: Param::from_tensor(weight),
            bias: Param::from_tensor(bias),
            stride: shape.stride,
            groups: shape.groups,
            kernel: shape.kernel,
            padding: shape.padding,
        }
    }

    /// Shapes: `x` is `[batch, inputs, rows, cols]`; the result `[batch, outputs, rows', cols']`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, rows, cols] = x.dims();
        let padding = match self.padding {
            Padding::Symmetric(p) => [(p, p), (p, p)],
            Padding::TensorFlowSame => [
                same_padding(rows, self.kernel, self.stride),
                same_padding(cols, self.kernel, self.stride),
            ],
        };
        let options = ConvOptions::new_with_padding([self.stride; 2], padding, [1, 1], self.groups);
        conv2d(x, self.weight.val(), Some(self.bias.val()), options)
    }
}

/// TensorFlow's "SAME" padding `(before, after)` of one axis of `size` pixels.
pub fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let outputs = size.div_ceil(stride);
    let total = ((outputs.max(1) - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// The largest weight block of a fully connected layer, in bytes: half of the 128 MiB storage
/// binding that WebGPU guarantees. VGG's first layer (25088 x 4096, 392 MiB) exceeds it.
pub const MAX_BLOCK_BYTES: usize = 64 << 20;

/// A fully connected layer stored as PyTorch's `nn.Linear`: `{name}.weight` `[outputs, inputs]`
/// and `{name}.bias` `[outputs]`.
///
/// A matrix larger than [`MAX_BLOCK_BYTES`] is kept as several blocks of whole output columns,
/// each multiplied on its own, so that no GPU buffer exceeds what every WebGPU adapter binds.
#[derive(Module, Debug)]
pub struct Dense {
    /// Column blocks of the transpose of the stored matrix, `[inputs, outputs_i]` each.
    blocks: Vec<Param<Tensor<2>>>,
    /// `[1, outputs]`.
    bias: Param<Tensor<2>>,
}

impl Dense {
    pub fn load(
        weights: &impl WeightSource,
        name: &str,
        [inputs, outputs]: [usize; 2],
        device: &Device,
    ) -> Result<Self, LabError> {
        let stored = read(weights, &format!("{name}.weight"), &[outputs, inputs])?;
        Self::from_rows(weights, name, stored, [inputs, outputs], device)
    }

    /// The same from a matrix already read as `[outputs, inputs]` rows.
    pub fn from_rows(
        weights: &impl WeightSource,
        name: &str,
        rows: Vec<f32>,
        [inputs, outputs]: [usize; 2],
        device: &Device,
    ) -> Result<Self, LabError> {
        let bias = read(weights, &format!("{name}.bias"), &[outputs])?;
        let block_columns = (MAX_BLOCK_BYTES / (4 * inputs.max(1))).max(1);
        Ok(Self::new(
            &rows,
            bias,
            [inputs, outputs],
            block_columns,
            device,
        ))
    }

    fn new(
        rows: &[f32],
        bias: Vec<f32>,
        [inputs, outputs]: [usize; 2],
        block_columns: usize,
        device: &Device,
    ) -> Self {
        let blocks = (0..outputs)
            .step_by(block_columns)
            .map(|first| {
                let width = block_columns.min(outputs - first);
                let mut transposed = vec![0.0; inputs * width];
                for (o, row) in rows
                    .chunks_exact(inputs)
                    .skip(first)
                    .take(width)
                    .enumerate()
                {
                    for (i, &w) in row.iter().enumerate() {
                        transposed[i * width + o] = w;
                    }
                }
                let block = TensorData::new(transposed, [inputs, width]);
                Param::from_tensor(Tensor::from_data(block, device))
            })
            .collect();
        let bias = Tensor::from_data(TensorData::new(bias, [1, outputs]), device);
        Self {
            blocks,
            bias: Param::from_tensor(bias),
        }
    }

    /// Shapes: `x` is `[batch, inputs]`; the result `[batch, outputs]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let columns: Vec<Tensor<2>> = (self.blocks.iter())
            .map(|block| x.clone().matmul(block.val()))
            .collect();
        let y = match columns.len() {
            1 => columns.into_iter().next().expect("one block"),
            _ => Tensor::cat(columns, 1),
        };
        y + self.bias.val()
    }
}

/// The tensor `name`, which must have exactly `shape`, as f32 values in row-major order.
pub fn read(
    weights: &impl WeightSource,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f32>, LabError> {
    let (values, found) = weights.read_f32(name)?;
    if found != shape {
        return Err(LabError::Weights(format!(
            "the tensor {name} has shape {found:?}, but this architecture needs {shape:?}: the \
             weights belong to another architecture or configuration"
        )));
    }
    Ok(values)
}

/// A per-channel affine map `x * scale + shift` that turns images in [0, 1] into what a model
/// was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputScaling {
    pub scale: [f32; 3],
    pub shift: [f32; 3],
}

impl InputScaling {
    /// `(x - mean) / std` with ImageNet's channel statistics, as torchvision's models expect.
    pub fn imagenet() -> Self {
        const MEAN: [f64; 3] = [0.485, 0.456, 0.406];
        const STD: [f64; 3] = [0.229, 0.224, 0.225];
        Self {
            scale: STD.map(|s| (1.0 / s) as f32),
            shift: [0, 1, 2].map(|c| (-MEAN[c] / STD[c]) as f32),
        }
    }

    /// `(255 x - 127.5) / 127.5`, TensorFlow Lite's scaling of 8-bit pixels to [-1, 1].
    pub fn symmetric() -> Self {
        Self {
            scale: [2.0; 3],
            shift: [-1.0; 3],
        }
    }

    /// Shapes: `images` is `[batch, 3, rows, cols]`, as is the result.
    pub fn apply(&self, images: Tensor<4>) -> Tensor<4> {
        let device = images.device();
        let column = |values: [f32; 3]| {
            Tensor::<4>::from_data(TensorData::new(values.to_vec(), [1, 3, 1, 1]), &device)
        };
        images * column(self.scale) + column(self.shift)
    }
}

/// The mean over all pixels of each channel.
///
/// Shapes: `x` is `[batch, channels, rows, cols]`; the result `[batch, channels]`.
pub fn global_average(x: Tensor<4>) -> Tensor<2> {
    let [batch, channels, rows, cols] = x.dims();
    x.reshape([batch, channels, rows * cols])
        .mean_dim(2)
        .reshape([batch, channels])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Split into blocks of 2 and 1 output columns, the layer computes what the whole matrix
    /// does: `y = x W^T + b` with `W` `[outputs, inputs]`.
    #[test]
    fn dense_blocks_compute_the_whole_product() {
        let rows = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -1.0, 0.5, 2.0];
        let bias = vec![0.5, -0.5, 1.0];
        let device = Device::flex();
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0, -1.0, 2.0], [1, 3]), &device);
        for block_columns in [1, 2, 3] {
            let dense = Dense::new(&rows, bias.clone(), [3, 3], block_columns, &device);
            assert_eq!(dense.blocks.len(), 3usize.div_ceil(block_columns));
            let y = dense
                .forward(x.clone())
                .into_data()
                .try_into_vec::<f32>()
                .unwrap();
            assert_eq!(y, [5.5, 10.5, 3.5], "blocks of {block_columns}");
        }
    }

    /// TensorFlow's rule: output `ceil(n / s)`, total padding `max((out - 1) s + k - n, 0)`,
    /// the odd pixel after.
    #[test]
    fn same_padding_puts_the_extra_pixel_after() {
        assert_eq!(same_padding(224, 3, 2), (0, 1));
        assert_eq!(same_padding(224, 5, 2), (1, 2));
        assert_eq!(same_padding(225, 3, 2), (1, 1));
        assert_eq!(same_padding(112, 3, 1), (1, 1));
        assert_eq!(same_padding(7, 5, 1), (2, 2));
        assert_eq!(same_padding(1, 1, 1), (0, 0));
    }
}
