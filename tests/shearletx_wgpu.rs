//! One ShearletX step on wgpu (lavapipe where there is no GPU) against the same step on
//! burn's CPU backend, whose first steps `tests/shearletx.rs` checks against PyTorch: same
//! photograph (`chelsea.png` at 256x256), classifier weights and noise.
//!
//! Tolerances: the loss terms within 1e-5 relative and the explanation within 1e-5 absolute
//! (it lies in [0, 1]): the backends differ only in f32 rounding (kernel summation orders),
//! about 1e-7 here. The mask within 1e-4: Adam's first update is `lr * g / (|g| + 1e-8)`,
//! which turns a rounding difference of 1e-13 in a gradient entry near zero into 1e-6.
//! The default (reference) variant only, one noise sample and one step, because lavapipe
//! runs a step in about 20 seconds; the paper variant differs from it only in which tensor
//! operations it composes.

mod common;
mod tiny_classifier;

use burn::tensor::{Device, Tensor, TensorData};
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::explain::mask_optimiser::MaskOptimiser;
use superlab::explain::shearletx::ShearletXConfig;
use superlab::explain::{LossTerms, Variant};
use superlab::shearlet::ShearletTransform;
use tiny_classifier::TinyNet;

const SIZE: usize = 256;
const TOLERANCE: f64 = 1e-5;
const MASK_TOLERANCE: f64 = 1e-4;

struct Step {
    terms: LossTerms,
    mask: Vec<f32>,
    explanation: Vec<f32>,
}

fn one_step(choice: BackendChoice, variant: Variant) -> Step {
    let device: Device = pollster::block_on(LabDevice::acquire(choice, &Requirements::default()))
        .unwrap_or_else(|error| panic!("no {choice:?} device: {error}"))
        .device;
    let transform = ShearletTransform::shearletx(SIZE, &device).unwrap();
    let classifier = TinyNet::new(&device);
    let values = common::photo_rgb("chelsea.png", SIZE as u32);
    let image = Tensor::<3>::from_data(TensorData::new(values, [3, SIZE, SIZE]), &device);
    let settings = ShearletXConfig {
        steps: 1,
        noise_samples: 1,
        variant,
        seed: 5,
        ..ShearletXConfig::default()
    }
    .settings();
    pollster::block_on(async {
        let mut optimiser = MaskOptimiser::new(&transform, &classifier, image, &settings)
            .await
            .unwrap();
        let terms = optimiser.step(1).await.unwrap();
        let mask = optimiser.mask().into_data().try_into_vec::<f32>().unwrap();
        let outcome = optimiser.finish(false).await.unwrap();
        Step {
            terms,
            mask,
            explanation: outcome.explanation,
        }
    })
}

fn largest_difference(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .fold(0.0, f64::max)
}

fn check(variant: Variant) {
    let cpu = one_step(BackendChoice::Cpu, variant);
    let gpu = one_step(BackendChoice::Wgpu, variant);
    let pairs = [
        ("loss", cpu.terms.loss, gpu.terms.loss),
        ("distortion", cpu.terms.distortion, gpu.terms.distortion),
        ("spatial", cpu.terms.spatial, gpu.terms.spatial),
        ("probability", cpu.terms.probability, gpu.terms.probability),
    ];
    for (what, ours, theirs) in pairs {
        let relative = (ours - theirs).abs() / ours.abs();
        println!(
            "{variant:?} {what}: CPU {ours}, wgpu {theirs}, relative difference {relative:.2e}"
        );
        assert!(relative <= TOLERANCE, "{what}");
    }
    let mask = largest_difference(&cpu.mask, &gpu.mask);
    let explanation = largest_difference(&cpu.explanation, &gpu.explanation);
    println!("{variant:?}: mask differs by {mask:.2e}, explanation by {explanation:.2e}");
    assert!(mask <= MASK_TOLERANCE && explanation <= TOLERANCE);
}

#[test]
fn a_step_on_wgpu_equals_the_step_on_the_cpu() {
    check(Variant::Reference);
}
