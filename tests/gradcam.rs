//! Grad-CAM against the `grad-cam` package (pytorch-grad-cam) on a small random network.
//!
//! `tests/fixtures/gradcam.json` comes from `tests/oracle/gradcam.py`: a miniature VGG
//! (two stride-2 convolutions with ReLU as its last convolutional block, a 2x2 average pool,
//! two linear layers) with weights drawn by `named_uniform`, rebuilt here from the fixture's
//! list, and `GradCAM(model, target_layers=[model.features])` on a random 48x40 image, for the
//! top class and for a fixed one. The feature-map weights come from plain autograd.
//!
//! Tolerance: 1e-4 absolute on the heatmap (values in [0, 1]) and relative to the largest
//! feature-map weight. Both sides compute in f32; the package also adds 1e-7 to each
//! normaliser, and OpenCV's bilinear resize rounds its weights in f32.

mod common;

use burn::tensor::module::{avg_pool2d, conv2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions};
use burn::tensor::{Device, Tensor, TensorData};
use common::WeightSpec;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::explain::{FeatureClassifier, GradCamConfig, grad_cam};
use superlab::models::classifier::ImageClassifier;
use superlab::models::weights::WeightSource;
use superlab::rng::named_uniform;

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

struct Conv {
    weight: Tensor<4>,
    bias: Tensor<1>,
}

struct Linear {
    /// `[inputs, outputs]`: PyTorch's weight transposed.
    weight: Tensor<2>,
    /// `[1, outputs]`.
    bias: Tensor<2>,
}

/// The oracle's `TinyVgg`.
struct TinyVgg {
    convs: [Conv; 2],
    linears: [Linear; 2],
}

impl TinyVgg {
    fn load(fixture: &Fixture, device: &Device) -> Self {
        let weights = common::weights_from_spec(fixture.seed, &fixture.weights);
        let conv = |name: &str, shape: [usize; 4]| Conv {
            weight: weights
                .tensor(&format!("{name}.weight"), shape, device)
                .unwrap(),
            bias: weights
                .tensor(&format!("{name}.bias"), [shape[0]], device)
                .unwrap(),
        };
        let linear = |name: &str, [outputs, inputs]: [usize; 2]| Linear {
            weight: weights
                .tensor::<2>(&format!("{name}.weight"), [outputs, inputs], device)
                .unwrap()
                .transpose(),
            bias: weights
                .tensor::<1>(&format!("{name}.bias"), [outputs], device)
                .unwrap()
                .reshape([1, outputs]),
        };
        Self {
            convs: [
                conv("features.0", [8, 3, 3, 3]),
                conv("features.2", [16, 8, 3, 3]),
            ],
            linears: [
                linear("classifier.0", [32, 480]),
                linear("classifier.2", [10, 32]),
            ],
        }
    }
}

impl ImageClassifier for TinyVgg {
    fn classes(&self) -> usize {
        10
    }

    fn input_size(&self) -> usize {
        48
    }

    fn features_and_logits(&self, images: Tensor<4>) -> (Tensor<4>, Tensor<2>) {
        let options = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
        let features = self.convs.iter().fold(images, |x, conv| {
            let y = conv2d(
                x,
                conv.weight.clone(),
                Some(conv.bias.clone()),
                options.clone(),
            );
            burn::tensor::activation::relu(y)
        });
        let logits = self.logits_from_features(features.clone());
        (features, logits)
    }
}

impl FeatureClassifier for TinyVgg {
    /// Shapes: `features` is `[batch, 16, 12, 10]`, pooled to `[batch, 16, 6, 5]`.
    fn logits_from_features(&self, features: Tensor<4>) -> Tensor<2> {
        let [batch, ..] = features.dims();
        let pooled = avg_pool2d(features, AvgPoolOptions::new([2, 2]).with_stride([2, 2]));
        let flat = pooled.reshape([batch, 480]);
        let [first, second] = &self.linears;
        let hidden = flat.matmul(first.weight.clone()) + first.bias.clone();
        let hidden = burn::tensor::activation::relu(hidden);
        hidden.matmul(second.weight.clone()) + second.bias.clone()
    }
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
    let model = TinyVgg::load(&fixture, device);
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
    let model = TinyVgg::load(&fixture, &device);
    let image = Tensor::<4>::zeros(fixture.image, &device);
    let config = GradCamConfig { class: Some(10) };
    let error = pollster::block_on(grad_cam(&model, image.clone(), &config)).unwrap_err();
    assert!(error.to_string().contains("not one of"), "{error}");
    let batch = Tensor::cat(vec![image.clone(), image], 0);
    let error = pollster::block_on(grad_cam(&model, batch, &GradCamConfig::default())).unwrap_err();
    assert!(error.to_string().contains("one image at a time"), "{error}");
}
