//! The ShearletX paper's scores against an independent NumPy computation.
//!
//! `tests/fixtures/metrics.json` comes from `tests/oracle/metrics.py`: the definitions written
//! out in NumPy float64 on logits, masks, coefficients and images drawn with `named_uniform`
//! (the f32 numbers the lab draws here), and one end-to-end case through a linear classifier
//! and PyWavelets' db3 transform.
//!
//! Tolerances: 1e-6 relative on fixed inputs, where both sides compute in f64 from the same
//! f32 numbers; 1e-5 relative end to end, where the lab's classifier, transform and synthesis
//! run in f32 (about 1e-6 relative on the sums that enter the scores).

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use superlab::explain::ExplanationScores;
use superlab::explain::Representation;
use superlab::explain::metrics::{entropy, masked_l1_fraction};
use superlab::models::classifier::ImageClassifier;
use superlab::rng::named_uniform;
use superlab::wavelet::{WaveletConfig, WaveletTransform};

const FIXED_TOLERANCE: f64 = 1e-6;
const PIPELINE_TOLERANCE: f64 = 1e-5;

#[derive(serde::Deserialize)]
struct Fixture {
    seed: u64,
    classes: usize,
    channels: usize,
    coefficients: usize,
    image: [usize; 3],
    cases: Vec<FixedCase>,
    pipeline: PipelineCase,
}

#[derive(serde::Deserialize)]
struct FixedCase {
    name: String,
    per_channel_mask: bool,
    sparse: bool,
    scores: Scores,
}

#[derive(serde::Deserialize)]
struct PipelineCase {
    side: usize,
    coefficient_count: usize,
    scores: Scores,
}

#[derive(serde::Deserialize)]
struct Scores {
    image_class: usize,
    image_probability: f64,
    explanation_class: usize,
    explanation_probability: f64,
    retained_probability: f64,
    masked_l1_fraction: f64,
    entropy_masked: f64,
    entropy_coefficients: f64,
    cp_l1: f64,
    cp_l1_pixel: f64,
    cp_entropy: f64,
}

fn check_scores(what: &str, ours: &ExplanationScores, want: &Scores, tolerance: f64) {
    assert_eq!(ours.image_class, want.image_class, "{what}: image class");
    assert_eq!(
        ours.explanation_class, want.explanation_class,
        "{what}: explanation class"
    );
    let pairs = [
        (
            "image probability",
            Some(ours.image_probability),
            want.image_probability,
        ),
        (
            "explanation probability",
            Some(ours.explanation_probability),
            want.explanation_probability,
        ),
        (
            "retained probability",
            Some(ours.retained_probability),
            want.retained_probability,
        ),
        ("CP-L1", ours.cp_l1, want.cp_l1),
        ("CP-L1-pixel", ours.cp_l1_pixel, want.cp_l1_pixel),
        ("CP-Entropy", ours.cp_entropy, want.cp_entropy),
    ];
    let mut largest = 0.0f64;
    for (name, ours, reference) in pairs {
        let ours = ours.unwrap_or_else(|| panic!("{what}: {name} is undefined"));
        let error = (ours - reference).abs() / reference.abs();
        largest = largest.max(error);
        assert!(
            error <= tolerance,
            "{what}: {name} is {ours}, NumPy says {reference} ({error:e} relative)"
        );
    }
    println!("{what}: largest relative difference {largest:.3e}");
}

#[test]
fn scores_of_fixed_masks_match_numpy() {
    let fixture: Fixture = common::fixture("metrics");
    let draw = |name: &str, count: usize, scale: f32, offset: f32| {
        named_uniform(fixture.seed, name, count, scale, offset)
    };
    let pixels: usize = fixture.image.iter().product();
    let count = fixture.coefficients;
    for case in &fixture.cases {
        let name = &case.name;
        let mask_count = if case.per_channel_mask {
            fixture.channels * count
        } else {
            count
        };
        let mut mask = draw(&format!("{name}.mask"), mask_count, 0.5, 0.5);
        if case.sparse {
            mask.iter_mut()
                .for_each(|m| *m = (2.0 * *m - 0.5).clamp(0.0, 1.0));
            assert!(mask.contains(&0.0) && mask.contains(&1.0));
        }
        let coefficients = draw(
            &format!("{name}.coefficients"),
            fixture.channels * count,
            1.0,
            0.0,
        );
        let image = draw(&format!("{name}.image"), pixels, 0.5, 0.5);
        let pixel_mask = draw(&format!("{name}.pixel_mask"), pixels, 0.5, 0.5);
        let explanation: Vec<f32> = image.iter().zip(&pixel_mask).map(|(x, m)| x * m).collect();
        let logits_explanation = draw(
            &format!("{name}.logits_explanation"),
            fixture.classes,
            3.0,
            0.0,
        );
        let logits_image = draw(&format!("{name}.logits_image"), fixture.classes, 3.0, 0.0);

        let scores = ExplanationScores::from_values(
            &logits_explanation,
            &logits_image,
            &mask,
            &coefficients,
            &explanation,
            &image,
        )
        .unwrap();
        check_scores(name, &scores, &case.scores, FIXED_TOLERANCE);

        let fraction = masked_l1_fraction(&mask, &coefficients);
        let kept_entropy = entropy(
            coefficients
                .iter()
                .zip(mask.iter().cycle())
                .map(|(&c, &m)| f64::from(c) * f64::from(m)),
        );
        let all_entropy = entropy(coefficients.iter().map(|&c| f64::from(c)));
        for (what, ours, reference) in [
            ("L1 fraction", fraction, case.scores.masked_l1_fraction),
            ("entropy of m c", kept_entropy, case.scores.entropy_masked),
            (
                "entropy of c",
                all_entropy,
                case.scores.entropy_coefficients,
            ),
        ] {
            let error = (ours - reference).abs() / reference.abs();
            assert!(
                error <= FIXED_TOLERANCE,
                "{name}: {what} {ours} against {reference}"
            );
        }
    }
}

/// `logits = W x + b` on flattened `[3, side, side]` images, as the oracle computes it.
struct LinearClassifier {
    /// `[inputs, classes]`.
    weight: Tensor<2>,
    /// `[1, classes]`.
    bias: Tensor<2>,
    side: usize,
}

impl ImageClassifier for LinearClassifier {
    fn classes(&self) -> usize {
        self.bias.dims()[1]
    }

    fn input_size(&self) -> usize {
        self.side
    }

    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        images
    }

    fn logits_from_features(&self, features: Tensor<4>) -> Tensor<2> {
        let [batch, channels, height, width] = features.dims();
        let flat = features.reshape([batch, channels * height * width]);
        flat.matmul(self.weight.clone()) + self.bias.clone()
    }
}

#[test]
fn scores_of_a_wavelet_explanation_match_numpy_end_to_end() {
    let fixture: Fixture = common::fixture("metrics");
    let case = &fixture.pipeline;
    let device = Device::flex();
    let (side, classes, channels) = (case.side, fixture.classes, fixture.channels);
    let inputs = channels * side * side;
    let draw = |name: &str, count: usize, scale: f32, offset: f32| {
        named_uniform(fixture.seed, name, count, scale, offset)
    };
    // The oracle's weight is [classes, inputs]; the product here wants it transposed.
    let weight = Tensor::<2>::from_data(
        TensorData::new(
            draw("pipeline.weight", classes * inputs, 0.05, 0.0),
            [classes, inputs],
        ),
        &device,
    );
    let classifier = LinearClassifier {
        weight: weight.transpose(),
        bias: Tensor::from_data(
            TensorData::new(draw("pipeline.bias", classes, 0.1, 0.0), [1, classes]),
            &device,
        ),
        side,
    };
    let transform =
        WaveletTransform::new(&WaveletConfig::default(), [side, side], &device).unwrap();
    assert_eq!(transform.coefficient_count(), case.coefficient_count);
    let image = Tensor::<4>::from_data(
        TensorData::new(
            draw("pipeline.image", inputs, 0.5, 0.5),
            [1, channels, side, side],
        ),
        &device,
    );
    let count = case.coefficient_count;
    let mask = Tensor::<1>::from_data(
        TensorData::new(draw("pipeline.mask", count, 0.5, 0.5), [count]),
        &device,
    );
    let masked = transform.analyse(image.clone()) * mask.clone().reshape([1, 1, count]);
    let explanation = transform.synthesise(masked);
    let scores = pollster::block_on(ExplanationScores::compute(
        &classifier,
        &transform,
        image,
        explanation,
        mask,
    ))
    .unwrap();
    check_scores("pipeline", &scores, &case.scores, PIPELINE_TOLERANCE);
}

#[test]
fn an_empty_mask_has_no_conciseness_score_and_a_bad_mask_is_refused() {
    let logits = [1.0, 2.0, 0.5];
    let coefficients = [0.5, -1.0, 2.0, 0.25];
    let scores = ExplanationScores::from_values(
        &logits,
        &logits,
        &[0.0, 0.0],
        &coefficients,
        &[0.0],
        &[1.0],
    )
    .unwrap();
    assert_eq!(scores.retained_probability, 1.0);
    assert_eq!((scores.cp_l1, scores.cp_entropy), (None, None));
    assert_eq!(scores.cp_l1_pixel, None);

    let error =
        ExplanationScores::from_values(&logits, &logits, &[1.0; 3], &coefficients, &[1.0], &[1.0])
            .unwrap_err();
    assert!(error.to_string().contains("does not cover"), "{error}");
}
