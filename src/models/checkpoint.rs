//! How a model's parameters correspond to the tensors of a hub checkpoint.
//!
//! PyTorch's `nn.Linear` stores its weight as `[outputs, inputs]`, while burn's `Linear` holds
//! `[inputs, outputs]` (as GPT-2's `Conv1D` stores it); such weights are transposed once when
//! loaded. A loaded model lists its parameters under their checkpoint names and says which are
//! held transposed, so that gradients and fine-tuned values can be compared with, or written
//! back as, the checkpoint's own tensors.

use super::weights::WeightSource;
use crate::LabError;
use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Gradients, Tensor, TensorData};

/// One parameter of a loaded model, as the model holds it.
#[derive(Debug, Clone)]
pub enum HeldTensor {
    Vector(Tensor<1>),
    /// Held with the checkpoint's own layout.
    Matrix(Tensor<2>),
    /// Held as `[inputs, outputs]`, stored in the checkpoint as `[outputs, inputs]`.
    Transposed(Tensor<2>),
}

/// A parameter under the name of the checkpoint tensor it was loaded from.
#[derive(Debug, Clone)]
pub struct CheckpointTensor {
    pub name: String,
    pub held: HeldTensor,
}

impl CheckpointTensor {
    pub fn new(name: impl Into<String>, held: HeldTensor) -> Self {
        Self {
            name: name.into(),
            held,
        }
    }

    /// The shape of the tensor in the checkpoint.
    pub fn shape(&self) -> Vec<usize> {
        match &self.held {
            HeldTensor::Vector(tensor) => tensor.dims().to_vec(),
            HeldTensor::Matrix(tensor) => tensor.dims().to_vec(),
            HeldTensor::Transposed(tensor) => {
                let [inputs, outputs] = tensor.dims();
                vec![outputs, inputs]
            }
        }
    }

    /// The values, flattened row-major in the checkpoint's layout.
    pub fn values(&self) -> Tensor<1> {
        match &self.held {
            HeldTensor::Vector(tensor) => tensor.clone(),
            HeldTensor::Matrix(tensor) => flatten(tensor.clone()),
            HeldTensor::Transposed(tensor) => flatten(tensor.clone().transpose()),
        }
    }

    /// The gradient of this parameter in `gradients`, flattened row-major in the checkpoint's
    /// layout; `None` when no gradient reached it (or the model is not on an autodiff device).
    pub fn gradient(&self, gradients: &Gradients) -> Option<Tensor<1>> {
        match &self.held {
            HeldTensor::Vector(tensor) => tensor.grad(gradients),
            HeldTensor::Matrix(tensor) => tensor.grad(gradients).map(flatten),
            HeldTensor::Transposed(tensor) => {
                (tensor.grad(gradients)).map(|gradient| flatten(gradient.transpose()))
            }
        }
    }
}

fn flatten(tensor: Tensor<2>) -> Tensor<1> {
    let [rows, columns] = tensor.dims();
    tensor.reshape([rows * columns])
}

/// The message for a checkpoint tensor whose shape does not fit the configuration.
pub fn shape_mismatch(name: &str, found: &[usize], wanted: &[usize]) -> LabError {
    LabError::Weights(format!(
        "the tensor {name} has shape {found:?}, but the model's configuration needs {wanted:?}: \
         the weights do not belong to this configuration"
    ))
}

/// The matrix `name`, stored `[rows, columns]`, as a `[columns, rows]` tensor.
pub fn transposed_matrix(
    weights: &impl WeightSource,
    name: &str,
    [rows, columns]: [usize; 2],
    device: &Device,
) -> Result<Tensor<2>, LabError> {
    let (values, found) = weights.read_f32(name)?;
    if found != [rows, columns] {
        return Err(shape_mismatch(name, &found, &[rows, columns]));
    }
    let mut transposed = vec![0.0; values.len()];
    for (row, stored) in values.chunks_exact(columns).enumerate() {
        for (column, &value) in stored.iter().enumerate() {
            transposed[column * rows + row] = value;
        }
    }
    Ok(Tensor::from_data(
        TensorData::new(transposed, [columns, rows]),
        device,
    ))
}

/// A PyTorch `nn.Linear` of the checkpoint: `NAME.weight` stored `[outputs, inputs]` and, when
/// `bias`, `NAME.bias` `[outputs]`.
pub fn torch_linear(
    weights: &impl WeightSource,
    name: &str,
    [inputs, outputs]: [usize; 2],
    bias: bool,
    device: &Device,
) -> Result<Linear, LabError> {
    let weight = transposed_matrix(
        weights,
        &format!("{name}.weight"),
        [outputs, inputs],
        device,
    )?;
    let bias = match bias {
        true => Some(weights.tensor(&format!("{name}.bias"), [outputs], device)?),
        false => None,
    };
    Ok(Linear {
        weight: Param::from_tensor(weight),
        bias: bias.map(Param::from_tensor),
    })
}

/// The weight and bias of a linear layer held in burn's layout, under `NAME.weight` and
/// `NAME.bias`; `transposed` when the checkpoint stores the weight as `nn.Linear` does.
pub fn linear_tensors(name: &str, linear: &Linear, transposed: bool) -> Vec<CheckpointTensor> {
    let weight = linear.weight.val();
    let held = match transposed {
        true => HeldTensor::Transposed(weight),
        false => HeldTensor::Matrix(weight),
    };
    let mut tensors = vec![CheckpointTensor::new(format!("{name}.weight"), held)];
    if let Some(bias) = &linear.bias {
        tensors.push(CheckpointTensor::new(
            format!("{name}.bias"),
            HeldTensor::Vector(bias.val()),
        ));
    }
    tensors
}

/// The scale (`NAME.weight`) and, when present, shift (`NAME.bias`) of a norm.
pub fn norm_tensors(
    name: &str,
    gamma: &Param<Tensor<1>>,
    beta: Option<&Param<Tensor<1>>>,
) -> Vec<CheckpointTensor> {
    let mut tensors = vec![CheckpointTensor::new(
        format!("{name}.weight"),
        HeldTensor::Vector(gamma.val()),
    )];
    if let Some(beta) = beta {
        tensors.push(CheckpointTensor::new(
            format!("{name}.bias"),
            HeldTensor::Vector(beta.val()),
        ));
    }
    tensors
}

/// Fails when the checkpoint holds a layer beyond the configured ones: its `config.json`
/// belongs to another model, and loading only the first layers would silently compute
/// something else.
pub fn check_no_extra_layer(
    weights: &impl WeightSource,
    probe: &str,
    layers: usize,
) -> Result<(), LabError> {
    if weights.contains(probe) {
        return Err(LabError::Weights(format!(
            "the weights have a tensor {probe}, but the configuration has only {layers} layers: \
             the weights and config.json belong to different models"
        )));
    }
    Ok(())
}
