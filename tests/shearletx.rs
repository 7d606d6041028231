//! ShearletX and the shared mask optimiser on burn's CPU backend, with a tiny random
//! convolutional classifier defined here and the scikit-image photograph `chelsea.png`
//! resized to 256x256.
//!
//! What is compared with what:
//! - a run against itself: the same seed gives bit-identical losses and masks;
//! - the paper variant's shortcut `SH^-1(m c_j) + SH^-1((1 - m) p_s)` against synthesising
//!   every mixture `m c_j + (1 - m) p_s` on its own (tolerance 1e-5 of the largest pixel:
//!   the two differ only by f32 rounding in different summation orders);
//! - the optimiser's loss and gradient, assembled pass by pass (one sample per pass, the
//!   paper variant's retained images differentiated separately), against one autodiff graph
//!   of the whole loss written out directly from its definition, with the same noise
//!   (tolerance 1e-4 of the largest gradient entry: f32 sums in another order).
//!
//! - the first two steps against PyTorch in float64 on pyShearLab's filters
//!   (`tests/fixtures/shearletx.json` from `tests/oracle/shearletx.py`, which states the
//!   method as it computes it): same photograph, classifier weights and noise draws. Loss
//!   terms and the first gradient within 1e-5 (relative, the gradient relative to its largest
//!   entry), the mask after two steps within 1e-5 relative in mean and norm: f32 against f64
//!   through the transform, the classifier and the softmax rounds to about 1e-7 here.
//!
//! Runs are a few steps with one or two noise samples, to keep this binary near a minute.

mod common;
mod tiny_classifier;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::OnceLock;

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use superlab::LabError;
use superlab::device::LabDevice;
use superlab::explain::mask_optimiser::MaskOptimiser;
use superlab::explain::noise::{NoiseSource, band_statistics};
use superlab::explain::obfuscation::{obfuscate, synthesise_mixed};
use superlab::explain::shearletx::{self, ShearletXConfig, ShearletXReport};
use superlab::explain::{MaskSettings, NoiseDistribution, Representation, Variant, optimise_mask};
use superlab::models::classifier::ImageClassifier;
use superlab::progress::{Control, Progress, Silent, StepEvent};
use superlab::report::RunStatus;
use superlab::rng::named_uniform;
use superlab::shearlet::ShearletTransform;
use tiny_classifier::{CLASSES, TinyNet};

const SIZE: usize = 256;
fn photo(device: &Device) -> Tensor<3> {
    let values = common::photo_rgb("chelsea.png", SIZE as u32);
    Tensor::from_data(TensorData::new(values, [3, SIZE, SIZE]), device)
}

/// The oracle's input: scikit-image's astronaut, each 2x2 block averaged, over 255, mapped
/// to [0.05, 0.95] (no pixel on the spatial term's clamp, where rounding would decide the
/// gradient), in f32.
fn astronaut(device: &Device) -> Tensor<3> {
    let bytes = common::read_asset("photos/astronaut.png");
    let image = image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (512, 512));
    let mut values = Vec::with_capacity(3 * SIZE * SIZE);
    for channel in 0..3 {
        for r in 0..SIZE {
            for c in 0..SIZE {
                let pixel = |dr: usize, dc: usize| {
                    let (x, y) = ((2 * c + dc) as u32, (2 * r + dr) as u32);
                    f64::from(image.get_pixel(x, y).0[channel])
                };
                let block = pixel(0, 0) + pixel(0, 1) + pixel(1, 0) + pixel(1, 1);
                values.push((0.05 + 0.9 * (block / (4.0 * 255.0))) as f32);
            }
        }
    }
    Tensor::from_data(TensorData::new(values, [3, SIZE, SIZE]), device)
}

fn transform(device: &Device) -> &'static ShearletTransform {
    static TRANSFORM: OnceLock<ShearletTransform> = OnceLock::new();
    TRANSFORM.get_or_init(|| ShearletTransform::shearletx(SIZE, device).unwrap())
}

fn short_config() -> ShearletXConfig {
    ShearletXConfig {
        steps: 3,
        noise_samples: 2,
        seed: 3,
        ..ShearletXConfig::default()
    }
}

fn run(config: ShearletXConfig, progress: &mut impl Progress) -> Result<ShearletXReport, LabError> {
    let device = LabDevice::cpu(None);
    let classifier = TinyNet::new(&device.device);
    let image = photo(&device.device);
    pollster::block_on(shearletx::run(
        &device,
        &classifier,
        image,
        config,
        progress,
    ))
}

/// The short run, twice, shared by the tests that look at it.
fn two_runs() -> &'static (ShearletXReport, ShearletXReport) {
    static RUNS: OnceLock<(ShearletXReport, ShearletXReport)> = OnceLock::new();
    RUNS.get_or_init(|| {
        let first = run(short_config(), &mut Silent).unwrap();
        let second = run(short_config(), &mut Silent).unwrap();
        (first, second)
    })
}

fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn max_abs(values: &[f32]) -> f32 {
    values.iter().fold(0.0, |m, v| m.max(v.abs()))
}

#[test]
fn a_short_run_lowers_its_loss_and_repeats_exactly() {
    let (first, second) = two_runs();
    assert!(matches!(first.status, RunStatus::Completed));
    let outcome = first.result.as_ref().unwrap();
    let again = second.result.as_ref().unwrap();
    let losses: Vec<f64> = outcome.history.iter().map(|terms| terms.loss).collect();
    println!("losses: {losses:?}");
    for terms in &outcome.history {
        println!("{terms:?}");
    }
    assert_eq!(losses.len(), 3);
    assert_eq!(first.steps.len(), 3);
    assert!(
        losses[2] < losses[0],
        "the loss went from {} to {}",
        losses[0],
        losses[2]
    );
    assert_eq!(outcome.history, again.history, "losses differ between runs");
    assert!(outcome.mask == again.mask, "masks differ between runs");
    assert!(outcome.explanation == again.explanation);
    println!(
        "target class {}, probability {}",
        outcome.target_class, outcome.original_probability
    );
}

#[test]
fn the_mask_stays_in_the_unit_interval_and_the_explanation_is_scaled() {
    let outcome = two_runs().0.result.as_ref().unwrap();
    assert_eq!(outcome.mask.len(), 49 * SIZE * SIZE);
    let (low, high) = outcome
        .mask
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &m| {
            (l.min(m), h.max(m))
        });
    let moved = outcome.mask.iter().filter(|&&m| m < 1.0).count();
    println!("mask in [{low}, {high}], {moved} values below 1");
    assert!((0.0..=1.0).contains(&low) && (0.0..=1.0).contains(&high));
    assert!(moved > outcome.mask.len() / 2, "the mask hardly moved");
    assert_eq!(outcome.explanation_shape, [3, SIZE, SIZE]);
    assert!(outcome.explanation.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(max_abs(&outcome.explanation), 1.0);
    assert!(outcome.explanation_scale > 0.0);
}

/// The same coefficients, mask and noise through the shortcut and through one synthesis per
/// mixture.
#[test]
fn the_paper_variant_shortcut_equals_the_per_channel_computation() {
    let device = Device::flex();
    let transform = transform(&device);
    let count = transform.coefficient_count();
    let coefficients = channel_coefficients(transform, &device);
    let mask = named_uniform(1, "mask", count, 0.5, 0.5);
    let mask = Tensor::<2>::from_data(TensorData::new(mask, [1, count]), &device);
    let noise = noise_for(transform, &device, 1, 2, 2).remove(0);

    let shortcut = obfuscate(
        transform,
        mask.clone(),
        &coefficients,
        noise.clone(),
        Variant::Paper,
    );
    let direct = synthesise_mixed(transform, mask, &coefficients, noise, false);
    assert_eq!(shortcut.dims(), [2, 3, SIZE, SIZE]);
    let shortcut = shortcut.into_data().try_into_vec::<f32>().unwrap();
    let direct = direct.into_data().try_into_vec::<f32>().unwrap();
    let difference = largest_difference(&shortcut, &direct) / max_abs(&direct);
    println!("shortcut against per-channel synthesis: largest relative difference {difference:e}");
    assert!(difference <= 1e-5);
}

fn channel_coefficients(transform: &ShearletTransform, device: &Device) -> Vec<Tensor<2>> {
    let count = transform.coefficient_count();
    let image = photo(device);
    (0..3)
        .map(|c| {
            transform
                .analyse(image.clone().narrow(0, c, 1).unsqueeze())
                .reshape([1, count])
        })
        .collect()
}

/// The noise the optimiser draws with `seed`: `steps` draws of `samples` perturbations.
fn noise_for(
    transform: &ShearletTransform,
    device: &Device,
    seed: u64,
    samples: usize,
    steps: usize,
) -> Vec<Tensor<2>> {
    let count = transform.coefficient_count();
    let grey = transform
        .analyse(photo(device).mean_dim(0).unsqueeze())
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let statistics = band_statistics(&grey, transform.bands());
    let mut source = NoiseSource::new(
        NoiseDistribution::Uniform,
        statistics,
        transform.bands(),
        seed,
    );
    (0..steps)
        .map(|_| {
            Tensor::from_data(
                TensorData::new(source.draw(samples), [samples, count]),
                device,
            )
        })
        .collect()
}

/// The loss of `settings` at `mask` with `noise`, as one graph straight from the definition;
/// returns the loss and its gradient with respect to the mask. The loss's value takes
/// `mean|m|` summed in f64 (an f32 sum over 3.2 M values is off by about 1e-4).
fn direct_loss_and_gradient(
    transform: &ShearletTransform,
    classifier: &TinyNet,
    mask: Tensor<2>,
    noise: Tensor<2>,
    settings: &MaskSettings,
    target: usize,
) -> (f64, Vec<f32>) {
    let device = mask.device();
    let mask_values = mask.clone().into_data().try_into_vec::<f32>().unwrap();
    let mask_l1_value =
        mask_values.iter().map(|&m| f64::from(m).abs()).sum::<f64>() / mask_values.len() as f64;
    let coefficients = channel_coefficients(transform, &device);
    let grey = transform
        .analyse(photo(&device).mean_dim(0).unsqueeze())
        .reshape([1, transform.coefficient_count()]);
    let leaf = mask.autodiff().require_grad();
    let clamp = settings.variant == Variant::Reference;
    let images = synthesise_mixed(transform, leaf.clone(), &coefficients, noise, clamp);
    let probabilities = softmax(classifier.logits(images), 1).narrow(1, target, 1);
    let distortion = probabilities.neg().add_scalar(1.0).powi_scalar(2).mean();
    let mask_l1 = leaf.clone().abs().mean();
    let spatial = transform
        .synthesise((leaf.clone() * grey).unsqueeze())
        .clamp(0.0, 1.0)
        .abs()
        .mean();
    let loss = distortion.clone()
        + mask_l1.mul_scalar(settings.lambda1)
        + spatial.clone().mul_scalar(settings.lambda2);
    let gradient = leaf.grad(&loss.backward()).unwrap();
    let value = |tensor: Tensor<1>| f64::from(tensor.into_data().try_into_vec::<f32>().unwrap()[0]);
    let loss =
        value(distortion) + settings.lambda1 * mask_l1_value + settings.lambda2 * value(spatial);
    (loss, gradient.into_data().try_into_vec::<f32>().unwrap())
}

/// After one Adam step (so the mask is no longer all ones), the optimiser's second loss and
/// gradient against the direct computation with the same noise.
fn check_gradient(variant: Variant) {
    let device = Device::flex();
    let transform = transform(&device);
    let classifier = TinyNet::new(&device);
    let settings = MaskSettings {
        noise_samples: 2,
        samples_per_pass: Some(1),
        variant,
        // So that the three terms contribute gradients of similar size (about 1e-6 each),
        // and an error in any of them shows.
        lambda1: 1.0,
        lambda2: 0.05,
        ..short_config().settings()
    };
    let (terms, gradient, mask, target) = pollster::block_on(async {
        let mut optimiser = MaskOptimiser::new(transform, &classifier, photo(&device), &settings)
            .await
            .unwrap();
        optimiser.step(1).await.unwrap();
        let (terms, gradient) = optimiser.loss_and_gradient(2).await.unwrap();
        (terms, gradient, optimiser.mask(), optimiser.target_class())
    });
    let gradient = gradient.into_data().try_into_vec::<f32>().unwrap();
    let noise = noise_for(transform, &device, settings.seed, 2, 2).remove(1);
    let (loss, direct) =
        direct_loss_and_gradient(transform, &classifier, mask, noise, &settings, target);
    let difference = largest_difference(&gradient, &direct) / max_abs(&direct);
    println!(
        "{variant:?}: loss {} against {loss}; gradient: largest relative difference \
         {difference:e} (largest entry {})",
        terms.loss,
        max_abs(&direct)
    );
    assert!((terms.loss - loss).abs() <= 1e-5 * loss.abs());
    assert!(difference <= 1e-4);
}

#[test]
fn the_reference_variant_gradient_equals_a_direct_computation() {
    check_gradient(Variant::Reference);
}

#[test]
fn the_paper_variant_gradient_equals_a_direct_computation() {
    check_gradient(Variant::Paper);
}

/// Answers Stop after step `at`, or poisons a classifier there.
struct StopAt {
    at: usize,
    poison: Option<Rc<Cell<bool>>>,
}

impl Progress for StopAt {
    async fn step(&mut self, event: &StepEvent) -> Control {
        if event.step < self.at {
            return Control::Continue;
        }
        match &self.poison {
            Some(poisoned) => {
                poisoned.set(true);
                Control::Continue
            }
            None => Control::Stop,
        }
    }
}

#[test]
fn stop_after_step_k_keeps_k_steps() {
    let config = ShearletXConfig {
        steps: 5,
        noise_samples: 1,
        ..short_config()
    };
    let stopped = run(
        config.clone(),
        &mut StopAt {
            at: 2,
            poison: None,
        },
    )
    .unwrap();
    assert!(
        matches!(stopped.status, RunStatus::Stopped),
        "{:?}",
        stopped.status
    );
    assert_eq!(stopped.steps.len(), 2);
    let outcome = stopped.result.unwrap();
    assert!(outcome.stopped);
    assert_eq!(outcome.history.len(), 2);
    let two_steps = run(ShearletXConfig { steps: 2, ..config }, &mut Silent).unwrap();
    let complete = two_steps.result.unwrap();
    assert!(!complete.stopped);
    assert!(
        outcome.mask == complete.mask,
        "the mask after a Stop is not the mask of step 2"
    );
}

#[test]
fn a_nan_loss_ends_the_run_as_diverged_keeping_the_finished_steps() {
    let device = Device::flex();
    let transform = transform(&device);
    let classifier = TinyNet::new(&device);
    let settings = MaskSettings {
        steps: 5,
        noise_samples: 1,
        ..short_config().settings()
    };
    let mut progress = StopAt {
        at: 2,
        poison: Some(classifier.poisoned.clone()),
    };
    let mut steps = Vec::new();
    let outcome = pollster::block_on(optimise_mask(
        transform,
        &classifier,
        photo(&device),
        &settings,
        &mut progress,
        &mut steps,
    ));
    let Err(error) = outcome else {
        panic!("a NaN loss must end the run");
    };
    println!("{error}");
    assert!(
        matches!(error, LabError::Diverged { step: 3, .. }),
        "{error:?}"
    );
    assert_eq!(steps.len(), 2);
    assert!(steps.iter().all(|event| event.metrics["loss"].is_finite()));
}

#[test]
fn out_of_range_settings_are_clear_errors() {
    let cases = [
        (
            ShearletXConfig {
                target_class: Some(CLASSES),
                ..short_config()
            },
            "target class 10 does not exist",
        ),
        (
            ShearletXConfig {
                lambda1: -1.0,
                ..short_config()
            },
            "lambda1 must be zero or positive",
        ),
        (
            ShearletXConfig {
                lambda2: -0.5,
                ..short_config()
            },
            "lambda2 must be zero or positive",
        ),
        (
            ShearletXConfig {
                noise_samples: 0,
                ..short_config()
            },
            "noise samples must be between 1",
        ),
        (
            ShearletXConfig {
                steps: 0,
                ..short_config()
            },
            "steps must be between 1",
        ),
        (
            ShearletXConfig {
                learning_rate: 0.0,
                ..short_config()
            },
            "the learning rate must be positive",
        ),
    ];
    for (config, expected) in cases {
        let error = run(config, &mut Silent).unwrap_err();
        println!("{error}");
        assert!(matches!(error, LabError::Config(_)));
        assert!(error.to_string().contains(expected), "{error}");
    }

    let device = LabDevice::cpu(None);
    let classifier = TinyNet::new(&device.device);
    let wrong_size = Tensor::<3>::zeros([3, 300, 300], &device.device);
    let error = pollster::block_on(shearletx::run(
        &device,
        &classifier,
        wrong_size,
        short_config(),
        &mut Silent,
    ))
    .unwrap_err();
    println!("{error}");
    assert!(error.to_string().contains("Resize the image to 256x256"));
}

#[test]
fn the_defaults_are_the_papers() {
    let config = ShearletXConfig::default();
    assert_eq!(
        (config.steps, config.noise_samples, config.target_class),
        (300, 16, None)
    );
    assert_eq!(
        (config.learning_rate, config.lambda1, config.lambda2),
        (0.1, 1.0, 2.0)
    );
    assert_eq!(config.noise, NoiseDistribution::Uniform);
    let partial: ShearletXConfig = serde_json::from_str(r#"{"steps": 10}"#).unwrap();
    assert_eq!(partial.steps, 10);
    assert_eq!(partial.lambda2, 2.0);
}

#[derive(serde::Deserialize)]
struct OracleFixture {
    noise_seed: u64,
    noise_samples: usize,
    learning_rate: f64,
    lambda1: f64,
    lambda2: f64,
    positions: Vec<usize>,
    runs: Vec<OracleRun>,
}

#[derive(serde::Deserialize)]
struct OracleRun {
    variant: Variant,
    target_class: usize,
    original_probability: f64,
    steps: Vec<OracleTerms>,
    first_gradient: OracleGradient,
    final_mask: OracleMask,
}

#[derive(serde::Deserialize)]
struct OracleTerms {
    loss: f64,
    distortion: f64,
    mask_l1: f64,
    spatial: f64,
    probability: f64,
}

#[derive(serde::Deserialize)]
struct OracleGradient {
    values: Vec<f64>,
    max_abs: f64,
    l2_norm: f64,
}

#[derive(serde::Deserialize)]
struct OracleMask {
    mean: f64,
    l2_norm: f64,
}

/// f32 against f64; see the module documentation.
const PYTORCH_TOLERANCE: f64 = 1e-5;

fn assert_relative(what: &str, ours: f64, reference: f64, tolerance: f64) {
    let relative = (ours - reference).abs() / reference.abs();
    println!("{what}: {ours} against {reference} (relative difference {relative:.2e})");
    assert!(relative <= tolerance, "{what}: {ours} against {reference}");
}

fn check_against_pytorch(variant: Variant) {
    let fixture: OracleFixture = common::fixture("shearletx");
    let reference = fixture
        .runs
        .iter()
        .find(|run| run.variant == variant)
        .unwrap();
    let device = Device::flex();
    let transform = transform(&device);
    let classifier = TinyNet::new(&device);
    let settings = MaskSettings {
        steps: reference.steps.len(),
        learning_rate: fixture.learning_rate,
        lambda1: fixture.lambda1,
        lambda2: fixture.lambda2,
        noise_samples: fixture.noise_samples,
        noise: NoiseDistribution::Uniform,
        variant,
        target_class: None,
        seed: fixture.noise_seed,
        samples_per_pass: None,
    };
    let (terms, gradient, mask, target, probability) = pollster::block_on(async {
        let image = astronaut(&device);
        let mut optimiser = MaskOptimiser::new(transform, &classifier, image, &settings)
            .await
            .unwrap();
        let mut terms = Vec::new();
        let mut first_gradient = None;
        for step in 1..=settings.steps {
            let (step_terms, gradient) = optimiser.loss_and_gradient(step).await.unwrap();
            first_gradient.get_or_insert_with(|| gradient.clone());
            terms.push(step_terms.clone());
            optimiser.apply(step_terms, gradient);
        }
        let gradient = first_gradient
            .unwrap()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let mask = optimiser.mask().into_data().try_into_vec::<f32>().unwrap();
        let (target, probability) = (optimiser.target_class(), optimiser.original_probability());
        (terms, gradient, mask, target, probability)
    });

    assert_eq!(target, reference.target_class);
    let name = format!("{variant:?}");
    assert_relative(
        &format!("{name}: original probability"),
        f64::from(probability),
        reference.original_probability,
        PYTORCH_TOLERANCE,
    );
    for (step, (ours, theirs)) in terms.iter().zip(&reference.steps).enumerate() {
        let pairs = [
            ("loss", ours.loss, theirs.loss),
            ("distortion", ours.distortion, theirs.distortion),
            ("mask_l1", ours.mask_l1, theirs.mask_l1),
            ("spatial", ours.spatial, theirs.spatial),
            ("probability", ours.probability, theirs.probability),
        ];
        for (what, ours, theirs) in pairs {
            assert_relative(
                &format!("{name}: step {}, {what}", step + 1),
                ours,
                theirs,
                PYTORCH_TOLERANCE,
            );
        }
    }

    let gradient_max = gradient
        .iter()
        .fold(0.0f64, |m, &g| m.max(f64::from(g).abs()));
    let gradient_norm = gradient
        .iter()
        .map(|&g| f64::from(g).powi(2))
        .sum::<f64>()
        .sqrt();
    assert_relative(
        &format!("{name}: largest gradient entry"),
        gradient_max,
        reference.first_gradient.max_abs,
        PYTORCH_TOLERANCE,
    );
    assert_relative(
        &format!("{name}: gradient norm"),
        gradient_norm,
        reference.first_gradient.l2_norm,
        PYTORCH_TOLERANCE,
    );
    let largest = fixture
        .positions
        .iter()
        .zip(&reference.first_gradient.values)
        .map(|(&at, &theirs)| (f64::from(gradient[at]) - theirs).abs())
        .fold(0.0, f64::max);
    let relative = largest / reference.first_gradient.max_abs;
    println!(
        "{name}: first gradient at {} positions: largest difference {relative:.2e} of the \
         largest entry",
        fixture.positions.len()
    );
    assert!(relative <= PYTORCH_TOLERANCE);

    let count = mask.len() as f64;
    let mean = mask.iter().map(|&m| f64::from(m)).sum::<f64>() / count;
    let norm = mask
        .iter()
        .map(|&m| f64::from(m).powi(2))
        .sum::<f64>()
        .sqrt();
    assert_relative(
        &format!("{name}: final mask mean"),
        mean,
        reference.final_mask.mean,
        PYTORCH_TOLERANCE,
    );
    assert_relative(
        &format!("{name}: final mask norm"),
        norm,
        reference.final_mask.l2_norm,
        PYTORCH_TOLERANCE,
    );
}

#[test]
fn the_reference_variant_matches_pytorch_on_its_first_steps() {
    check_against_pytorch(Variant::Reference);
}

#[test]
fn the_paper_variant_matches_pytorch_on_its_first_steps() {
    check_against_pytorch(Variant::Paper);
}
