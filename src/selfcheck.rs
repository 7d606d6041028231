//! The device check: a small MLP trained with Adam for a few steps, through burn's autodiff.
//!
//! It exercises what every lab relies on (matmul, element-wise kernels, reductions, backward,
//! an optimiser step, readback) on whatever backend the user has, and its numbers are
//! backend-independent: the weights and data come from a fixed integer generator, not from a
//! backend's random number generator, so the CPU and the GPU must agree to rounding.

use crate::LabError;
use crate::device::{LabDevice, read};
use crate::progress::{Control, Progress, StepEvent};
use crate::report::{RunReport, RunStatus};
use crate::rng::SplitMix64;
use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckConfig {
    pub samples: usize,
    pub inputs: usize,
    pub hidden: usize,
    pub steps: usize,
    pub learning_rate: f64,
    /// Seeds the integer generator of weights and data, so every backend sees the same ones.
    pub seed: u64,
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            samples: 32,
            inputs: 8,
            hidden: 16,
            steps: 10,
            learning_rate: 1e-2,
            seed: 7,
        }
    }
}

impl CheckConfig {
    fn validate(&self) -> Result<(), LabError> {
        let sizes = [self.samples, self.inputs, self.hidden];
        if sizes.iter().any(|&n| n == 0 || n > 4096) {
            return Err(LabError::Config(
                "samples, inputs and hidden must be between 1 and 4096".into(),
            ));
        }
        if self.steps == 0 || self.steps > 10_000 {
            return Err(LabError::Config("steps must be between 1 and 10000".into()));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(LabError::Config(
                "the learning rate must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// The numbers two backends must agree on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    pub losses: Vec<f32>,
    /// Gradients of the first step's loss, each parameter flattened in row-major order.
    pub first_gradients: BTreeMap<String, Vec<f32>>,
    /// Parameters after the last Adam step.
    pub final_parameters: BTreeMap<String, Vec<f32>>,
}

pub type CheckReport = RunReport<CheckConfig, CheckResult>;

/// PyTorch's default, so that the reference computation runs with stock settings.
pub const ADAM_EPSILON: f32 = 1e-8;

#[derive(Module, Debug)]
struct Mlp {
    hidden_weight: Param<Tensor<2>>,
    /// Biases are rows (`[1, width]`) so that they broadcast over samples.
    hidden_bias: Param<Tensor<2>>,
    output_weight: Param<Tensor<2>>,
    output_bias: Param<Tensor<2>>,
}

impl Mlp {
    fn new(config: &CheckConfig, numbers: &mut SplitMix64, device: &burn::tensor::Device) -> Self {
        let (inputs, hidden) = (config.inputs, config.hidden);
        let matrix = |numbers: &mut SplitMix64, rows: usize, cols: usize| {
            let scale = 1.0 / (rows as f32).sqrt();
            let values = numbers.uniform(rows * cols, scale);
            Param::from_tensor(Tensor::from_data(
                TensorData::new(values, [rows, cols]),
                device,
            ))
        };
        let row = |numbers: &mut SplitMix64, len: usize| {
            let values = numbers.uniform(len, 0.1);
            Param::from_tensor(Tensor::from_data(TensorData::new(values, [1, len]), device))
        };
        Self {
            hidden_weight: matrix(numbers, inputs, hidden),
            hidden_bias: row(numbers, hidden),
            output_weight: matrix(numbers, hidden, 1),
            output_bias: row(numbers, 1),
        }
    }

    /// Shapes: `inputs` is `[samples, inputs]`, the result `[samples, 1]`.
    fn forward(&self, inputs: Tensor<2>) -> Tensor<2> {
        let hidden = inputs.matmul(self.hidden_weight.val()) + self.hidden_bias.val();
        hidden.tanh().matmul(self.output_weight.val()) + self.output_bias.val()
    }

    fn named_tensors(&self) -> [(&'static str, Tensor<2>); 4] {
        [
            ("hidden_weight", self.hidden_weight.val()),
            ("hidden_bias", self.hidden_bias.val()),
            ("output_weight", self.output_weight.val()),
            ("output_bias", self.output_bias.val()),
        ]
    }
}

/// Trains the MLP on a fixed regression task and records losses, first gradients and final
/// parameters. A Stop from `progress` ends the run after the current step.
pub async fn run(
    device: &LabDevice,
    config: CheckConfig,
    progress: &mut impl Progress,
) -> Result<CheckReport, LabError> {
    config.validate()?;
    let mut report = CheckReport::new("device-check", config.clone(), device.report.clone());
    let started = web_time::Instant::now();
    let outcome = train(device, &config, progress, &mut report).await;
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    match outcome {
        Ok(result) => report.result = Some(result),
        Err(error @ LabError::Config(_)) => return Err(error),
        Err(error) => report.status = RunStatus::Failed(error.to_string()),
    }
    Ok(report)
}

async fn train(
    device: &LabDevice,
    config: &CheckConfig,
    progress: &mut impl Progress,
    report: &mut CheckReport,
) -> Result<CheckResult, LabError> {
    let device = device.device.clone().autodiff();
    let mut numbers = SplitMix64::new(config.seed);
    let mut model = Mlp::new(config, &mut numbers, &device);
    let (inputs, targets) = regression_data(config, &mut numbers, &device);
    let mut optimizer = AdamConfig::new().with_epsilon(ADAM_EPSILON).init();
    let mut result = CheckResult {
        losses: Vec::new(),
        first_gradients: BTreeMap::new(),
        final_parameters: BTreeMap::new(),
    };

    for step in 1..=config.steps {
        let predictions = model.forward(inputs.clone());
        let loss = (predictions - targets.clone()).powi_scalar(2).mean();
        let gradients = loss.backward();
        if step == 1 {
            result.first_gradients = read_gradients(&model, &gradients).await?;
        }
        let loss_value = read(loss).await?[0];
        if !loss_value.is_finite() {
            return Err(LabError::Diverged {
                step,
                what: format!("the loss is {loss_value}"),
            });
        }
        let gradients = GradientsParams::from_grads(gradients, &model);
        model = optimizer.step(config.learning_rate, model, gradients);
        result.losses.push(loss_value);

        let event = StepEvent {
            step,
            total: config.steps,
            metrics: BTreeMap::from([("loss".to_string(), f64::from(loss_value))]),
        };
        report.steps.push(event.clone());
        if progress.step(&event).await == Control::Stop {
            report.status = RunStatus::Stopped;
            break;
        }
    }
    for (name, tensor) in model.named_tensors() {
        result
            .final_parameters
            .insert(name.into(), read(tensor).await?);
    }
    Ok(result)
}

async fn read_gradients(
    model: &Mlp,
    gradients: &burn::tensor::Gradients,
) -> Result<BTreeMap<String, Vec<f32>>, LabError> {
    let mut values = BTreeMap::new();
    for (name, tensor) in model.named_tensors() {
        let gradient = tensor.grad(gradients).ok_or_else(|| {
            LabError::Execution(format!("no gradient reached the parameter {name}"))
        })?;
        values.insert(name.to_string(), read(gradient).await?);
    }
    Ok(values)
}

/// Inputs uniform in [-1, 1] and a smooth nonlinear target of them.
fn regression_data(
    config: &CheckConfig,
    numbers: &mut SplitMix64,
    device: &burn::tensor::Device,
) -> (Tensor<2>, Tensor<2>) {
    let inputs = numbers.uniform(config.samples * config.inputs, 1.0);
    let targets = inputs
        .chunks(config.inputs)
        .map(|row| {
            let weighted = row
                .iter()
                .enumerate()
                .map(|(i, &x)| f64::from(x) * (i % 3) as f64);
            weighted.sum::<f64>().sin() as f32
        })
        .collect::<Vec<_>>();
    (
        Tensor::from_data(
            TensorData::new(inputs, [config.samples, config.inputs]),
            device,
        ),
        Tensor::from_data(TensorData::new(targets, [config.samples, 1]), device),
    )
}
