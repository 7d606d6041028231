//! A classifier's forward and backward on one batch: mean cross-entropy against fixed
//! targets, gradients for every parameter and for the images.

use std::time::Instant;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Tensor, TensorData};
use superlab::LabError;
use superlab::device::LabDevice;
use superlab::models::classifier::ImageClassifier;
use superlab::models::vision::Architecture;

use super::load_classifier;
use crate::cli::bench::inputs::Inputs;
use crate::cli::bench::plan::{ClassifierPlan, Plan};
use crate::cli::bench::report::Measured;
use crate::cli::bench::timing::{repeat, seconds_since};

pub async fn measure(
    device: &LabDevice,
    workload: &ClassifierPlan,
    plan: &Plan,
    architecture: Architecture,
    inputs: &Inputs,
) -> Result<Measured, LabError> {
    let (batch, side) = (workload.batch, workload.size);
    let autodiff = device.device.clone().autodiff();
    let start = Instant::now();
    let model = load_classifier(architecture, plan, &autodiff)?;
    let setup = seconds_since(start, &autodiff)?;
    let data = TensorData::new(inputs.images.clone(), [batch, 3, side, side]);
    let images = Tensor::<4>::from_data(data, &autodiff);
    let targets = one_hot(&workload.targets, model.classes(), &autodiff);
    let mut timings = repeat(&autodiff, plan.warmup, workload.repetitions, async || {
        let images = images.clone().require_grad();
        let log_probabilities = log_softmax(model.logits(images.clone()), 1);
        let loss = (log_probabilities * targets.clone())
            .sum()
            .neg()
            .div_scalar(batch as f64);
        let gradients = loss.backward();
        images
            .grad(&gradients)
            .map(|_| ())
            .ok_or_else(|| LabError::Execution("no gradient reached the images".into()))
    })
    .await?;
    timings.setup_seconds = Some(setup);
    Ok(Measured::new(timings))
}

/// Shapes: the result is `[targets, classes]`.
fn one_hot(targets: &[usize], classes: usize, device: &burn::tensor::Device) -> Tensor<2> {
    let mut values = vec![0.0f32; targets.len() * classes];
    for (row, &target) in targets.iter().enumerate() {
        values[row * classes + target] = 1.0;
    }
    Tensor::from_data(TensorData::new(values, [targets.len(), classes]), device)
}
