//! ShearletX steps, the reference variant with the paper's settings, timed one by one.

use std::time::Instant;

use burn::tensor::{Tensor, TensorData};
use serde_json::json;
use superlab::LabError;
use superlab::device::LabDevice;
use superlab::explain::mask_optimiser::MaskOptimiser;
use superlab::explain::{MaskSettings, NoiseDistribution, Variant};
use superlab::models::classifier::ImageClassifier;
use superlab::shearlet::ShearletTransform;

use crate::cli::bench::inputs::Inputs;
use crate::cli::bench::plan::ShearletXPlan;
use crate::cli::bench::report::Measured;
use crate::cli::bench::timing::{Timings, seconds_since};

pub async fn measure(
    device: &LabDevice,
    workload: &ShearletXPlan,
    transform: &ShearletTransform,
    classifier: &impl ImageClassifier,
    inputs: &Inputs,
) -> Result<Measured, LabError> {
    let size = workload.size;
    let data = TensorData::new(inputs.photo.clone(), [3, size, size]);
    let image = Tensor::<3>::from_data(data, &device.device);
    let settings = MaskSettings {
        steps: workload.warmup_steps + workload.steps,
        learning_rate: workload.learning_rate,
        lambda1: workload.lambda1,
        lambda2: workload.lambda2,
        noise_samples: workload.noise_samples,
        noise: NoiseDistribution::Uniform,
        variant: Variant::Reference,
        target_class: None,
        seed: workload.seed,
        samples_per_pass: Some(workload.samples_per_pass),
    };
    let start = Instant::now();
    let mut optimiser = MaskOptimiser::new(transform, classifier, image, &settings).await?;
    let mut timings = Timings {
        setup_seconds: Some(seconds_since(start, &device.device)?),
        ..Timings::default()
    };
    let mut losses = Vec::with_capacity(settings.steps);
    for step in 1..=settings.steps {
        let start = Instant::now();
        losses.push(optimiser.step(step).await?.loss);
        let seconds = seconds_since(start, &device.device)?;
        log::info!("ShearletX step {step}/{}: {seconds:.2} s", settings.steps);
        match step <= workload.warmup_steps {
            true => timings.warmup_seconds.push(seconds),
            false => timings.seconds.push(seconds),
        }
    }
    let mut measured = Measured::new(timings);
    measured
        .extra
        .insert("target_class".into(), json!(optimiser.target_class()));
    measured.extra.insert("losses".into(), json!(losses));
    Ok(measured)
}
