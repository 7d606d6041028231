//! ResNet-18, VGG-19 and MobileNetV3-small against torchvision, on random weights at 64x64,
//! batch 2, on burn's CPU backend.
//!
//! `tests/fixtures/classifiers.json` comes from `tests/oracle/classifiers.py`: torchvision's
//! own models in float64, every parameter and batch-norm statistic drawn with `named_uniform`
//! under its state-dict name (VGG-19's fully connected layers narrowed to 64 units), the
//! images drawn the same way, ImageNet normalisation, mean cross-entropy against fixed
//! targets, and autograd's gradient with respect to the images. The lab rebuilds the same
//! checkpoint as a safetensors file, loads it through its own reader and computes in f32.
//!
//! The same checks run on wgpu (Mesa's lavapipe where there is no GPU), whose kernels the
//! browser uses through WebGPU.
//!
//! Tolerances: logits and features within 1e-4 absolute (they span a few units, at most about
//! 9 and 18), input gradients within 1e-4 of their largest magnitude (about 0.08 to 0.25). The
//! lab computes in f32, so rounding through up to 19 layers stays near 1e-5 of the values'
//! scale; the printed differences show the margin.

mod common;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use common::{WeightSpec, assert_close, weights_from_spec};
use serde::Deserialize;
use std::collections::BTreeMap;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::models::classifier::ImageClassifier;
use superlab::models::vision::{
    MobileNetV3, MobileNetV3Config, ResNet, ResNetConfig, Vgg, VggConfig,
};
use superlab::models::weights::Weights;
use superlab::rng::named_uniform;

const TOLERANCE: f64 = 1e-4;

#[derive(Deserialize)]
struct Fixture {
    seed: u64,
    batch: usize,
    side: usize,
    targets: Vec<usize>,
    cases: BTreeMap<String, Case>,
    timm_names: BTreeMap<String, Vec<(String, Vec<usize>)>>,
}

#[derive(Deserialize)]
struct Case {
    config: serde_json::Value,
    weights: Vec<WeightSpec>,
    logits: Vec<f64>,
    loss: f64,
    gradient_positions: Vec<usize>,
    gradient: Sampled,
    feature_positions: Vec<usize>,
    features: Sampled,
    feature_gradient: Sampled,
}

#[derive(Deserialize)]
struct Sampled {
    shape: Vec<usize>,
    sum: f64,
    l2_norm: f64,
    values: Vec<f64>,
}

fn fixture() -> Fixture {
    common::fixture("classifiers")
}

fn load(
    architecture: &str,
    config: &serde_json::Value,
    weights: &Weights,
    device: &Device,
) -> Box<dyn ImageClassifier> {
    let config = config.clone();
    let model: Box<dyn ImageClassifier> = match architecture {
        "resnet18" => {
            let config: ResNetConfig = serde_json::from_value(config).unwrap();
            Box::new(ResNet::load(&config, weights, device).unwrap())
        }
        "vgg19" => {
            let config: VggConfig = serde_json::from_value(config).unwrap();
            Box::new(Vgg::load(&config, weights, device).unwrap())
        }
        "mobilenet_v3_small" => {
            let config: MobileNetV3Config = serde_json::from_value(config).unwrap();
            Box::new(MobileNetV3::load_small(&config, weights, device).unwrap())
        }
        other => panic!("no such architecture {other}"),
    };
    model
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_into_vec::<f32>().unwrap()
}

/// The mean cross-entropy of `logits` `[batch, classes]` against `targets`.
fn cross_entropy(logits: Tensor<2>, targets: &[usize]) -> Tensor<1> {
    let [batch, classes] = logits.dims();
    let mut one_hot = vec![0.0f32; batch * classes];
    for (row, &target) in targets.iter().enumerate() {
        one_hot[row * classes + target] = 1.0;
    }
    let one_hot =
        Tensor::<2>::from_data(TensorData::new(one_hot, [batch, classes]), &logits.device());
    -(log_softmax(logits, 1) * one_hot).sum() / batch as f64
}

fn images(fixture: &Fixture, device: &Device) -> Tensor<4> {
    let shape = [fixture.batch, 3, fixture.side, fixture.side];
    let count = shape.iter().product();
    let values = named_uniform(fixture.seed, "images", count, 0.5, 0.5);
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Sampled values within 1e-4, absolute or `relative` to the largest sampled magnitude; the sum
/// and the norm of all values too.
fn sampled(
    what: &str,
    got: &[f32],
    shape: &[usize],
    positions: &[usize],
    want: &Sampled,
    relative: bool,
) {
    assert_eq!(shape, want.shape.as_slice(), "{what}: shape");
    let picked: Vec<f32> = positions.iter().map(|&p| got[p]).collect();
    assert_close(what, &picked, &want.values, TOLERANCE, relative);
    let sum: f64 = got.iter().map(|&v| f64::from(v)).sum();
    let norm = got
        .iter()
        .map(|&v| f64::from(v).powi(2))
        .sum::<f64>()
        .sqrt();
    println!(
        "{what}: sum {sum:.6e} against {:.6e}, norm {norm:.6e} against {:.6e}",
        want.sum, want.l2_norm
    );
    assert!(
        (sum - want.sum).abs() <= TOLERANCE * got.len() as f64,
        "{what}: sum"
    );
    assert!(
        (norm - want.l2_norm).abs() <= TOLERANCE * want.l2_norm.max(1.0),
        "{what}: norm"
    );
}

/// Logits, features, loss and the loss gradient with respect to the images, in one autodiff
/// pass.
fn check(architecture: &str, device: Device) {
    let fixture = fixture();
    let case = &fixture.cases[architecture];
    let device = device.autodiff();
    let weights = weights_from_spec(fixture.seed, &case.weights);
    let model = load(architecture, &case.config, &weights, &device);
    let images = images(&fixture, &device).require_grad();
    let (features, logits) = model.features_and_logits(images.clone());
    let loss = cross_entropy(logits.clone(), &fixture.targets);
    let gradients = loss.backward();
    let gradient = images.grad(&gradients).expect("a gradient for the images");

    assert_close(
        &format!("{architecture} logits"),
        &values(logits),
        &case.logits,
        TOLERANCE,
        false,
    );
    let loss = values(loss)[0];
    println!("{architecture} loss: {loss} against {}", case.loss);
    assert!((f64::from(loss) - case.loss).abs() <= TOLERANCE);
    let shape = features.dims().to_vec();
    sampled(
        &format!("{architecture} features"),
        &values(features),
        &shape,
        &case.feature_positions,
        &case.features,
        false,
    );
    let shape = gradient.dims().to_vec();
    sampled(
        &format!("{architecture} image gradient"),
        &values(gradient),
        &shape,
        &case.gradient_positions,
        &case.gradient,
        true,
    );
}

/// The wgpu device (Mesa's lavapipe where there is no GPU); the test fails without one.
fn wgpu() -> Device {
    let needs = Requirements::default();
    let device = pollster::block_on(LabDevice::acquire(BackendChoice::Wgpu, &needs));
    device.expect("a wgpu adapter").device
}

#[test]
fn resnet18_matches_torchvision() {
    check("resnet18", Device::flex());
}

#[test]
fn vgg19_matches_torchvision() {
    check("vgg19", Device::flex());
}

#[test]
fn mobilenet_v3_small_matches_torchvision() {
    check("mobilenet_v3_small", Device::flex());
}

/// The browser runs the classifiers on WebGPU: the same checks through wgpu's kernels.
#[test]
fn the_classifiers_match_torchvision_on_wgpu() {
    let device = wgpu();
    for architecture in ["resnet18", "vgg19", "mobilenet_v3_small"] {
        let start = std::time::Instant::now();
        check(architecture, device.clone());
        println!(
            "{architecture} on wgpu: {:.1} s",
            start.elapsed().as_secs_f64()
        );
    }
}

/// timm's ResNet-18 names its tensors as torchvision does (the fixture lists timm's names and
/// shapes, from a model built on the meta device), so `timm/resnet18.tv_in1k` loads as it is.
/// Grad-CAM's path: the features detached and marked as a leaf, the logits computed from them
/// alone, and the loss gradient with respect to them.
#[test]
fn feature_gradients_match_torchvision() {
    let fixture = fixture();
    let device = Device::flex().autodiff();
    for (architecture, case) in &fixture.cases {
        let weights = weights_from_spec(fixture.seed, &case.weights);
        let model = load(architecture, &case.config, &weights, &device);
        let features = model
            .features(images(&fixture, &device))
            .detach()
            .require_grad();
        let logits = model.logits_from_features(features.clone());
        let gradients = cross_entropy(logits, &fixture.targets).backward();
        let gradient = features
            .grad(&gradients)
            .expect("a gradient for the features");
        let shape = gradient.dims().to_vec();
        sampled(
            &format!("{architecture} feature gradient"),
            &values(gradient),
            &shape,
            &case.feature_positions,
            &case.feature_gradient,
            true,
        );
    }
}

#[test]
fn resnet18_takes_timm_names() {
    let fixture = fixture();
    let ours: BTreeMap<String, Vec<usize>> = (fixture.cases["resnet18"].weights.iter())
        .map(|spec| (spec.name.clone(), spec.shape.clone()))
        .collect();
    let timm: BTreeMap<String, Vec<usize>> = (fixture.timm_names["resnet18"].iter())
        .filter(|(name, _)| !name.ends_with("num_batches_tracked"))
        .cloned()
        .collect();
    assert_eq!(ours, timm);
}

/// timm's VGG-19 stores the classifier as convolutions under other names. The lab's renaming of
/// torchvision's tensors must give exactly timm's names and shapes at full size, and the same
/// logits as torchvision's names on the narrowed test network.
#[test]
fn vgg19_takes_timm_names() {
    let fixture = fixture();
    let case = &fixture.cases["vgg19"];
    let to_timm = |name: &str, shape: &[usize]| -> (String, Vec<usize>) {
        let renamed = [
            ("classifier.0", "pre_logits.fc1"),
            ("classifier.3", "pre_logits.fc2"),
            ("classifier.6", "head.fc"),
        ]
        .iter()
        .find_map(|(from, to)| name.strip_prefix(from).map(|rest| format!("{to}{rest}")))
        .unwrap_or_else(|| name.to_string());
        let shape = match name {
            "classifier.0.weight" => vec![shape[0], 512, 7, 7],
            "classifier.3.weight" => vec![shape[0], shape[1], 1, 1],
            _ => shape.to_vec(),
        };
        (renamed, shape)
    };
    let full_size = |name: &str, shape: &[usize]| -> Vec<usize> {
        let full: &[usize] = match name {
            "classifier.0.weight" => &[4096, 25088],
            "classifier.0.bias" | "classifier.3.bias" => &[4096],
            "classifier.3.weight" => &[4096, 4096],
            "classifier.6.weight" => &[1000, 4096],
            _ => shape,
        };
        full.to_vec()
    };
    let renamed_full: Vec<(String, Vec<usize>)> = (case.weights.iter())
        .map(|spec| to_timm(&spec.name, &full_size(&spec.name, &spec.shape)))
        .collect();
    assert_eq!(renamed_full, fixture.timm_names["vgg19"]);

    // The same values under timm's names and shapes: the checkpoint bytes are the same, only
    // the header differs.
    let timm_specs: Vec<WeightSpec> = (case.weights.iter())
        .map(|spec| {
            let (name, shape) = to_timm(&spec.name, &spec.shape);
            WeightSpec {
                name,
                shape,
                ..spec.clone()
            }
        })
        .collect();
    let torchvision = weights_from_spec(fixture.seed, &case.weights);
    let bytes = rename_in(&torchvision, &timm_specs, &case.weights);
    let timm = Weights::from_safetensors("timm.safetensors", bytes).unwrap();
    let device = Device::flex();
    let model = load("vgg19", &case.config, &timm, &device);
    let logits = model.logits(images(&fixture, &device));
    assert_close(
        "vgg19 logits from timm names",
        &values(logits),
        &case.logits,
        TOLERANCE,
        false,
    );
}

/// A safetensors file holding the tensors of `source` named by `specs` (in the order of
/// `original`, whose names they replace) with the values of the originals.
fn rename_in(source: &Weights, specs: &[WeightSpec], original: &[WeightSpec]) -> Vec<u8> {
    use superlab::models::weights::WeightSource;
    let tensors: Vec<(String, Vec<u8>, Vec<usize>)> = (specs.iter().zip(original))
        .map(|(spec, old)| {
            let (values, _) = source.read_f32(&old.name).unwrap();
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (spec.name.clone(), bytes, spec.shape.clone())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = (tensors.iter())
        .map(|(name, bytes, shape)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .unwrap();
            (name.clone(), view)
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// Weights of another architecture are an error that says so, never a panic.
#[test]
fn foreign_weights_are_errors() {
    let fixture = fixture();
    let device = Device::flex();
    let vgg = weights_from_spec(fixture.seed, &fixture.cases["vgg19"].weights);
    let error = ResNet::load(&ResNetConfig::resnet18(), &vgg, &device).unwrap_err();
    println!("{error}");
    assert!(error.to_string().contains("conv1.weight"));
    let mobilenet = weights_from_spec(fixture.seed, &fixture.cases["mobilenet_v3_small"].weights);
    let narrow = VggConfig {
        classes: 10,
        hidden: 64,
    };
    assert!(
        Vgg::load(&narrow, &vgg, &device).is_err(),
        "the class count is checked"
    );
    let error = Vgg::load(&VggConfig::default(), &mobilenet, &device).unwrap_err();
    println!("{error}");
}
