//! The shearlet transform on tensors against the CPU reference transform, on burn's CPU
//! backend (where the transform runs on the host), on its autodiff twin (burn's tensor
//! operations, as on every other device) and on wgpu (lavapipe where there is no GPU).
//!
//! The reference is `ShearletSystem::analyse_f64` / `synthesise_f64`: ShearLab's system and
//! transform computed in f64 with rustfft, which `tests/shearlet_cpu.rs` checks against
//! pyShearLab itself. The input is the scikit-image photograph `chelsea.png` resized to
//! 256x256 (and 512x512), RGB in [0, 1].
//!
//! Tolerances: the tensor transform computes in f32 through several FFT passes, which rounds
//! each value to about 1e-7 of the magnitudes it is summed from; 1e-5 relative to the largest
//! magnitude of each compared set leaves room for that and for the summation order of GPU
//! kernels, while any wrong filter, layout or normalisation is off by far more. Gradients are
//! compared as directional derivatives (random directions) against central differences of the
//! f64 reference; the test losses are quadratic, so central differences are exact up to
//! rounding, and the tolerance (1e-4 relative to the central difference) covers f32 rounding
//! of a gradient summed over 65536 pixels.

mod common;

use std::sync::OnceLock;

use burn::tensor::{Device, Tensor, TensorData};
use superlab::LabError;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::explain::Representation;
use superlab::rng::SplitMix64;
use superlab::shearlet::{ShearletSystem, ShearletTransform};

const PHOTO: &str = "chelsea.png";
const VALUE_TOLERANCE: f64 = 1e-5;
const GRADIENT_TOLERANCE: f64 = 1e-4;
/// Directions per gradient check; each costs two reference transforms.
const DIRECTIONS: usize = 3;
/// Any fixed value: the directions and weights only need to be reproducible.
const SEED: u64 = 11;

fn system(size: usize) -> &'static ShearletSystem {
    static SYSTEMS: [OnceLock<ShearletSystem>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = if size == 256 {
        &SYSTEMS[0]
    } else {
        &SYSTEMS[1]
    };
    slot.get_or_init(|| ShearletSystem::shearletx(size).expect("a supported size"))
}

fn device(choice: BackendChoice) -> Device {
    pollster::block_on(LabDevice::acquire(choice, &Requirements::default()))
        .unwrap_or_else(|error| panic!("no {choice:?} device: {error}"))
        .device
}

fn read<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32 values")
}

fn widen(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| v.into()).collect()
}

fn max_abs(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The largest difference relative to the largest reference magnitude, printed, then
/// asserted.
fn assert_relative(what: &str, ours: &[f32], reference: &[f64], tolerance: f64) {
    assert_eq!(ours.len(), reference.len(), "{what}: lengths");
    let scale = max_abs(reference);
    let (difference, at) = ours
        .iter()
        .zip(reference)
        .map(|(&o, r)| (f64::from(o) - r).abs())
        .enumerate()
        .fold(
            (0.0, 0),
            |best, (i, d)| if d > best.0 { (d, i) } else { best },
        );
    let relative = difference / scale;
    println!("{what}: largest relative difference {relative:.3e} at {at} (scale {scale:.3e})");
    assert!(
        relative <= tolerance,
        "{what}: {relative:e} at {at} (ours {}, reference {})",
        ours[at],
        reference[at]
    );
}

/// The photo's first `channels` channels.
fn photo(size: usize, channels: usize) -> Vec<f32> {
    let mut values = common::photo_rgb(PHOTO, size as u32);
    values.truncate(channels * size * size);
    values
}

/// All three channels on the CPU backend; one on wgpu, where lavapipe computes slowly.
fn channels(choice: BackendChoice) -> usize {
    match choice {
        BackendChoice::Wgpu => 1,
        _ => 3,
    }
}

/// Where a value check runs: each takes its own path through the transform.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// burn's CPU backend: the host transform.
    Cpu,
    /// The CPU backend's autodiff twin: burn's tensor operations.
    CpuAutodiff,
    /// wgpu: burn's tensor operations on its kernels.
    Wgpu,
}

impl Target {
    fn device(self) -> Device {
        match self {
            Self::Cpu => device(BackendChoice::Cpu),
            Self::CpuAutodiff => device(BackendChoice::Cpu).autodiff(),
            Self::Wgpu => device(BackendChoice::Wgpu),
        }
    }

    fn channels(self) -> usize {
        match self {
            Self::Wgpu => channels(BackendChoice::Wgpu),
            _ => channels(BackendChoice::Cpu),
        }
    }
}

fn image_tensor(values: Vec<f32>, channels: usize, size: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, [1, channels, size, size]), device)
}

/// Every channel of the photo, band by band, against the reference.
fn check_analysis(target: Target, size: usize, channels: usize) {
    let device = target.device();
    let transform = ShearletTransform::new(system(size), &device).unwrap();
    let image = photo(size, channels);
    let images = image_tensor(image.clone(), channels, size, &device);
    let coefficients = read(transform.analyse(images));
    let plane = size * size;
    let bands = system(size).band_count();
    assert_eq!(coefficients.len(), channels * bands * plane);
    for (channel, (ours, pixels)) in coefficients
        .chunks_exact(bands * plane)
        .zip(image.chunks_exact(plane))
        .enumerate()
    {
        let reference = system(size).analyse_f64(&widen(pixels));
        assert_relative(
            &format!("{target:?} {size}: analysis of channel {channel}"),
            ours,
            &reference,
            VALUE_TOLERANCE,
        );
        // Per band as well, so that faint high-frequency bands are held to the same standard.
        let worst = (0..bands)
            .map(|k| {
                let band = k * plane..(k + 1) * plane;
                let scale = max_abs(&reference[band.clone()]);
                let difference = ours[band.clone()]
                    .iter()
                    .zip(&reference[band])
                    .map(|(&o, r)| (f64::from(o) - r).abs())
                    .fold(0.0, f64::max);
                difference / scale
            })
            .fold(0.0, f64::max);
        println!("  largest difference relative to its own band: {worst:.3e}");
        assert!(worst <= VALUE_TOLERANCE, "a band differs by {worst:e}");
    }
}

/// Synthesis of masked coefficients (not only of an analysis) against the reference, and
/// synthesis after analysis against the photo.
fn check_synthesis(target: Target, size: usize, channels: usize) {
    let device = target.device();
    let transform = ShearletTransform::new(system(size), &device).unwrap();
    let image = photo(size, channels);
    let coefficients = transform.analyse(image_tensor(image.clone(), channels, size, &device));
    let reconstruction = read(transform.synthesise(coefficients.clone()));
    assert_relative(
        &format!("{target:?} {size}: synthesis after analysis"),
        &reconstruction,
        &widen(&image),
        VALUE_TOLERANCE,
    );

    let count = coefficients.dims()[2];
    let mask = SplitMix64::new(SEED).uniform(count, 0.5);
    let mask: Vec<f32> = mask.iter().map(|m| m + 0.5).collect();
    let mask = Tensor::<3>::from_data(TensorData::new(mask, [1, 1, count]), &device);
    let masked = coefficients * mask;
    let ours = read(transform.synthesise(masked.clone()));
    let masked = read(masked);
    let plane = size * size;
    for (channel, values) in masked.chunks_exact(count).enumerate() {
        let reference = system(size).synthesise_f64(&widen(values));
        assert_relative(
            &format!("{target:?} {size}: synthesis of masked coefficients, channel {channel}"),
            &ours[channel * plane..(channel + 1) * plane],
            &reference,
            VALUE_TOLERANCE,
        );
    }
}

/// `L(c) = sum_i weight_i c_i^2 / 2` over a flat vector.
fn quadratic(weights: &[f64], values: &[f64]) -> f64 {
    weights
        .iter()
        .zip(values)
        .map(|(w, v)| w * v * v / 2.0)
        .sum()
}

/// Central difference of `loss` at `point` along `direction`.
fn central_difference(
    loss: impl Fn(&[f64]) -> f64,
    point: &[f64],
    direction: &[f64],
    step: f64,
) -> f64 {
    let shifted = |sign: f64| -> Vec<f64> {
        point
            .iter()
            .zip(direction)
            .map(|(p, d)| p + sign * step * d)
            .collect()
    };
    (loss(&shifted(1.0)) - loss(&shifted(-1.0))) / (2.0 * step)
}

/// Directional derivatives of burn's gradient against central differences of `reference`.
fn check_directions(
    what: &str,
    gradient: &[f32],
    point: &[f64],
    reference: impl Fn(&[f64]) -> f64,
    numbers: &mut SplitMix64,
) {
    let gradient = widen(gradient);
    for direction in 0..DIRECTIONS {
        let d = widen(&numbers.uniform(point.len(), 1.0));
        let ours = dot(&gradient, &d);
        let theirs = central_difference(&reference, point, &d, 1e-3);
        let relative = (ours - theirs).abs() / theirs.abs();
        println!(
            "{what}, direction {direction}: autodiff {ours:.9e}, central difference \
             {theirs:.9e}, relative difference {relative:.3e}"
        );
        assert!(relative <= GRADIENT_TOLERANCE, "{what}: {relative:e}");
    }
}

fn check_analysis_gradient(choice: BackendChoice) {
    let size = 256;
    let device = device(choice);
    let autodiff = device.clone().autodiff();
    let transform = ShearletTransform::new(system(size), &device).unwrap();
    let image = photo(size, 1);
    let mut numbers = SplitMix64::new(SEED);
    let count = transform.coefficient_count();
    let weights = numbers.uniform(count, 1.0);

    let pixels = image_tensor(image.clone(), 1, size, &autodiff).require_grad();
    let weights_tensor =
        Tensor::<3>::from_data(TensorData::new(weights.clone(), [1, 1, count]), &device);
    let coefficients = transform.analyse(pixels.clone());
    let loss = (coefficients.powi_scalar(2) * weights_tensor)
        .sum()
        .div_scalar(2.0);
    let gradient = read(
        pixels
            .grad(&loss.backward())
            .expect("a gradient for the image"),
    );

    let weights = widen(&weights);
    let reference = |x: &[f64]| quadratic(&weights, &system(size).analyse_f64(x));
    check_directions(
        &format!("{choice:?}: analysis gradient"),
        &gradient,
        &widen(&image),
        reference,
        &mut numbers,
    );
}

fn check_synthesis_gradient(choice: BackendChoice) {
    let size = 256;
    let device = device(choice);
    let autodiff = device.clone().autodiff();
    let transform = ShearletTransform::new(system(size), &device).unwrap();
    let image = photo(size, 1);
    let coefficients = read(transform.analyse(image_tensor(image, 1, size, &device)));
    let mut numbers = SplitMix64::new(SEED + 1);
    let weights = numbers.uniform(size * size, 1.0);
    let count = coefficients.len();

    let leaf = Tensor::<3>::from_data(
        TensorData::new(coefficients.clone(), [1, 1, count]),
        &autodiff,
    )
    .require_grad();
    let weights_tensor = image_tensor(weights.clone(), 1, size, &device);
    let pixels = transform.synthesise(leaf.clone());
    let loss = (pixels.powi_scalar(2) * weights_tensor)
        .sum()
        .div_scalar(2.0);
    let gradient = read(
        leaf.grad(&loss.backward())
            .expect("a gradient for the coefficients"),
    );

    let weights = widen(&weights);
    let reference = |c: &[f64]| quadratic(&weights, &system(size).synthesise_f64(c));
    check_directions(
        &format!("{choice:?}: synthesis gradient"),
        &gradient,
        &widen(&coefficients),
        reference,
        &mut numbers,
    );
}

#[test]
fn analysis_matches_the_reference_on_the_cpu_backend() {
    check_analysis(Target::Cpu, 256, Target::Cpu.channels());
}

#[test]
fn analysis_matches_the_reference_with_tensor_operations_on_the_cpu_backend() {
    check_analysis(Target::CpuAutodiff, 256, Target::CpuAutodiff.channels());
}

#[test]
fn analysis_matches_the_reference_on_wgpu() {
    check_analysis(Target::Wgpu, 256, Target::Wgpu.channels());
}

#[test]
fn synthesis_matches_the_reference_and_inverts_analysis_on_the_cpu_backend() {
    check_synthesis(Target::Cpu, 256, Target::Cpu.channels());
}

#[test]
fn synthesis_matches_the_reference_with_tensor_operations_on_the_cpu_backend() {
    check_synthesis(Target::CpuAutodiff, 256, Target::CpuAutodiff.channels());
}

#[test]
fn synthesis_matches_the_reference_and_inverts_analysis_on_wgpu() {
    check_synthesis(Target::Wgpu, 256, Target::Wgpu.channels());
}

#[test]
fn the_transform_serves_512_pixels() {
    for target in [Target::Cpu, Target::CpuAutodiff] {
        check_analysis(target, 512, 1);
        check_synthesis(target, 512, 1);
    }
}

#[test]
fn gradients_match_central_differences_on_the_cpu_backend() {
    check_analysis_gradient(BackendChoice::Cpu);
    check_synthesis_gradient(BackendChoice::Cpu);
}

#[test]
fn gradients_match_central_differences_on_wgpu() {
    check_analysis_gradient(BackendChoice::Wgpu);
    check_synthesis_gradient(BackendChoice::Wgpu);
}

#[test]
fn sizes_that_are_not_powers_of_two_are_refused_with_what_to_do() {
    let device = Device::flex();
    for size in [300, 384] {
        let Err(error) = ShearletTransform::shearletx(size, &device) else {
            panic!("{size}x{size} must be refused");
        };
        let message = error.to_string();
        println!("{size}: {message}");
        assert!(matches!(error, LabError::Config(_)));
        assert!(message.contains("power-of-two") && message.contains("256x256"));
    }
    let Err(error) = ShearletTransform::new(&ShearletSystem::shearletx(300).unwrap(), &device)
    else {
        panic!("a 300x300 system must be refused");
    };
    assert!(error.to_string().contains("Resize the image to 256x256"));
}
