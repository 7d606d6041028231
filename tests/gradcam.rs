//! Grad-CAM against the `grad-cam` package (pytorch-grad-cam) on a small random network.
//!
//! `tests/fixtures/gradcam.json` comes from `tests/oracle/gradcam.py`: a miniature VGG
//! (`tests/tiny_vgg`: two stride-2 convolutions with ReLU as its last convolutional block, a
//! 2x2 average pool, two linear layers) with weights drawn by `named_uniform`, rebuilt here
//! from the fixture's list, and `GradCAM(model, target_layers=[model.features])` on a random 48x40 image, for the
//! top class and for a fixed one. The feature-map weights come from plain autograd.
//!
//! Tolerance: 1e-4 absolute on the heatmap (values in [0, 1]) and relative to the largest
//! feature-map weight. Both sides compute in f32; the package also adds 1e-7 to each
//! normaliser, and OpenCV's bilinear resize rounds its weights in f32.

mod common;
mod tiny_vgg;

use burn::tensor::{Device, Tensor, TensorData};
use common::WeightSpec;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::explain::{GradCamConfig, grad_cam};
use superlab::models::classifier::ImageClassifier;
use superlab::rng::named_uniform;
use tiny_vgg::TinyVgg;

const TOLERANCE: f64 = 1e-4;

#[derive(serde::Deserialize)]
struct Fixture {
    seed: u64,
    image: [usize; 4],
    weights: Vec<WeightSpec>,
    logits: Vec<f64>,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    requested_class: Option<usize>,
    class: usize,
    heatmap: Vec<f64>,
    channel_weights: Vec<f64>,
}

fn largest_difference(ours: &[f32], reference: &[f64]) -> (f64, usize) {
    assert_eq!(ours.len(), reference.len());
    ours.iter()
        .zip(reference)
        .map(|(&o, &r)| (f64::from(o) - r).abs())
        .enumerate()
        .fold(
            (0.0, 0),
            |best, (i, d)| if d > best.0 { (d, i) } else { best },
        )
}

fn check_on(device: &Device, what: &str) {
    let fixture: Fixture = common::fixture("gradcam");
    let model = TinyVgg::load(fixture.seed, &fixture.weights, device);
    let count = fixture.image.iter().product();
    let image = Tensor::<4>::from_data(
        TensorData::new(
            named_uniform(fixture.seed, "image", count, 0.5, 0.5),
            fixture.image,
        ),
        device,
    );

    let logits = model
        .logits(image.clone())
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let (difference, _) = largest_difference(&logits, &fixture.logits);
    println!("{what}: logits differ from PyTorch's by {difference:.2e}");
    assert!(difference < 1e-5, "the network is not the oracle's");

    for case in &fixture.cases {
        let config = GradCamConfig {
            class: case.requested_class,
        };
        let result = pollster::block_on(grad_cam(&model, image.clone(), &config)).unwrap();
        assert_eq!(result.class, case.class, "{what}: class");
        assert_eq!(result.size, [fixture.image[2], fixture.image[3]]);

        let (difference, at) = largest_difference(&result.heatmap, &case.heatmap);
        println!(
            "{what}, class {}: heatmap differs by {difference:.2e} at {at} (ours {}, grad-cam {})",
            case.class, result.heatmap[at], case.heatmap[at]
        );
        assert!(
            difference <= TOLERANCE,
            "{what}: heatmap differs by {difference}"
        );

        let (difference, at) = largest_difference(&result.channel_weights, &case.channel_weights);
        let scale = case
            .channel_weights
            .iter()
            .map(|w| w.abs())
            .fold(0.0, f64::max);
        println!(
            "{what}: feature-map weights differ by {:.2e} relative",
            difference / scale
        );
        assert!(
            difference / scale <= TOLERANCE,
            "{what}: weight {at} differs by {difference}"
        );
    }
}

#[test]
fn grad_cam_matches_the_grad_cam_package_on_the_cpu() {
    check_on(&Device::flex(), "CPU");
}

#[test]
fn grad_cam_matches_the_grad_cam_package_on_wgpu() {
    let device = pollster::block_on(LabDevice::acquire(
        BackendChoice::Wgpu,
        &Requirements::default(),
    ))
    .expect("a wgpu device (lavapipe where there is no GPU)");
    check_on(&device.device, "wgpu");
}

#[test]
fn a_class_outside_the_classifier_is_refused() {
    let fixture: Fixture = common::fixture("gradcam");
    let device = Device::flex();
    let model = TinyVgg::load(fixture.seed, &fixture.weights, &device);
    let image = Tensor::<4>::zeros(fixture.image, &device);
    let config = GradCamConfig { class: Some(10) };
    let error = pollster::block_on(grad_cam(&model, image.clone(), &config)).unwrap_err();
    assert!(error.to_string().contains("not one of"), "{error}");
    let batch = Tensor::cat(vec![image.clone(), image], 0);
    let error = pollster::block_on(grad_cam(&model, batch, &GradCamConfig::default())).unwrap_err();
    assert!(error.to_string().contains("one image at a time"), "{error}");
}
