//! The db3 wavelet transform (5 levels, zero padding) against PyWavelets, on burn's CPU
//! backend and on wgpu.
//!
//! `tests/fixtures/wavelet.json` comes from `tests/oracle/wavelet.py`: `pywt.wavedec2` and
//! `waverec2` in float64 on every channel of two photographs (astronaut at 256x256, an odd
//! 123x237 crop of chelsea), sampled at fixed positions, with the synthesis of masked
//! coefficients and central finite differences of two quadratic losses (exact but for
//! rounding). The script also checks that ptwt and pytorch_wavelets' `DWTForward` agree with
//! PyWavelets; the largest differences it saw are printed here.
//!
//! Tolerance: 1e-5, relative to the largest absolute value of what is compared (a band, the
//! image, the sampled gradients). The lab computes in f32 (about 1e-7 relative per value); the
//! references are float64.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::explain::Representation;
use superlab::rng::named_uniform;
use superlab::wavelet::{WaveletConfig, WaveletTransform};

const TOLERANCE: f64 = 1e-5;

#[derive(serde::Deserialize)]
struct Fixture {
    wavelet: String,
    levels: usize,
    seed: u64,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    photo: String,
    size: [usize; 2],
    channels: usize,
    coefficient_count: usize,
    bands: Vec<BandPrint>,
    reconstruction_error: f64,
    masked_synthesis: MaskedPrint,
    gradients: GradientPrint,
    ptwt_relative_difference: f64,
    pytorch_wavelets_relative_difference: f64,
}

#[derive(serde::Deserialize)]
struct BandPrint {
    shape: [usize; 2],
    l2_norms: Vec<f64>,
    max_abs: Vec<f64>,
    positions: Vec<usize>,
    /// `[channel][position]`.
    values: Vec<Vec<f64>>,
}

#[derive(serde::Deserialize)]
struct MaskedPrint {
    mask_name: String,
    l2_norms: Vec<f64>,
    positions: Vec<usize>,
    values: Vec<Vec<f64>>,
}

#[derive(serde::Deserialize)]
struct GradientPrint {
    analysis_loss: f64,
    /// `[channel, row, col]`.
    analysis_positions: Vec<[usize; 3]>,
    analysis_gradient: Vec<f64>,
    synthesis_loss: f64,
    /// `[channel, coefficient]`.
    synthesis_positions: Vec<[usize; 2]>,
    synthesis_gradient: Vec<f64>,
}

fn the_fixture() -> Fixture {
    let fixture: Fixture = common::fixture("wavelet");
    assert_eq!((fixture.wavelet.as_str(), fixture.levels), ("db3", 5));
    fixture
}

/// Tracks the largest relative error of one kind and where it was.
struct Largest {
    what: String,
    error: f64,
    at: String,
}

impl Largest {
    fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            error: 0.0,
            at: String::new(),
        }
    }

    fn update(&mut self, ours: f64, reference: f64, scale: f64, at: impl FnOnce() -> String) {
        let error = (ours - reference).abs() / scale;
        if error > self.error || error.is_nan() {
            self.error = error;
            self.at = format!("{} (ours {ours:e}, reference {reference:e})", at());
        }
    }

    fn assert_within(&self, tolerance: f64) {
        println!(
            "{}: largest relative error {:.3e} at {}",
            self.what, self.error, self.at
        );
        assert!(
            self.error <= tolerance,
            "{}: {:e} at {}",
            self.what,
            self.error,
            self.at
        );
    }
}

/// The oracle's input, `[channels, height, width]`: 2x2 block means of the astronaut, or the
/// chelsea crop, over 255, rounded to f32.
fn photo(case: &Case) -> Vec<f32> {
    let bytes = common::read_asset(&format!("photos/{}", case.photo));
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut pixels).expect("a frame");
    assert_eq!(
        (info.color_type, info.bit_depth),
        (png::ColorType::Rgb, png::BitDepth::Eight)
    );
    let width = info.width as usize;
    let pixel =
        |r: usize, c: usize, channel: usize| f64::from(pixels[(r * width + c) * 3 + channel]);
    let [height, out_width] = case.size;
    let mut image = Vec::with_capacity(3 * height * out_width);
    for channel in 0..3 {
        for r in 0..height {
            for c in 0..out_width {
                let value = if case.photo == "astronaut.png" {
                    let block = pixel(2 * r, 2 * c, channel)
                        + pixel(2 * r, 2 * c + 1, channel)
                        + pixel(2 * r + 1, 2 * c, channel)
                        + pixel(2 * r + 1, 2 * c + 1, channel);
                    block / (4.0 * 255.0)
                } else {
                    pixel(50 + r, 100 + c, channel) / 255.0
                };
                image.push(value as f32);
            }
        }
    }
    image
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32 values")
}

fn max_abs(values: &[f32]) -> f64 {
    values
        .iter()
        .map(|v| f64::from(v.abs()))
        .fold(0.0, f64::max)
}

fn check_coefficients(case: &Case, transform: &WaveletTransform, coefficients: &[f32]) {
    let shapes: Vec<[usize; 2]> = case.bands.iter().map(|band| band.shape).collect();
    assert_eq!(transform.band_shapes(), shapes, "band shapes");
    assert_eq!(transform.coefficient_count(), case.coefficient_count);
    let count = case.coefficient_count;
    let mut sampled = Largest::new(format!("{}: coefficients", case.photo));
    let mut summaries = Largest::new(format!("{}: band norms and maxima", case.photo));
    for (k, (print, range)) in case.bands.iter().zip(transform.bands()).enumerate() {
        for channel in 0..case.channels {
            let band = &coefficients[channel * count + range.start..channel * count + range.end];
            let scale = print.max_abs[channel];
            for (&position, &reference) in print.positions.iter().zip(&print.values[channel]) {
                sampled.update(band[position].into(), reference, scale, || {
                    format!("band {k}, channel {channel}, index {position}")
                });
            }
            let norm = band
                .iter()
                .map(|&v| f64::from(v).powi(2))
                .sum::<f64>()
                .sqrt();
            let reference_norm = print.l2_norms[channel];
            summaries.update(norm, reference_norm, reference_norm, || {
                format!("band {k} norm")
            });
            summaries.update(max_abs(band), scale, scale, || format!("band {k} maximum"));
        }
    }
    sampled.assert_within(TOLERANCE);
    summaries.assert_within(TOLERANCE);
}

fn check_masked_synthesis(case: &Case, seed: u64, transform: &WaveletTransform, device: &Device) {
    let print = &case.masked_synthesis;
    let image = photo(case);
    let [height, width] = case.size;
    let count = case.coefficient_count;
    let images = Tensor::<4>::from_data(
        TensorData::new(image, [1, case.channels, height, width]),
        device,
    );
    let mask = named_uniform(seed, &print.mask_name, case.channels * count, 0.5, 0.5);
    let mask = Tensor::<3>::from_data(TensorData::new(mask, [1, case.channels, count]), device);
    let masked = values(transform.synthesise(transform.analyse(images) * mask));
    let plane = height * width;
    let mut largest = Largest::new(format!("{}: synthesis of masked coefficients", case.photo));
    for channel in 0..case.channels {
        let channel_values = &masked[channel * plane..(channel + 1) * plane];
        let norm = channel_values
            .iter()
            .map(|&v| f64::from(v).powi(2))
            .sum::<f64>()
            .sqrt();
        let reference_norm = print.l2_norms[channel];
        largest.update(norm, reference_norm, reference_norm, || {
            format!("channel {channel} norm")
        });
        let scale = max_abs(channel_values);
        for (&position, &reference) in print.positions.iter().zip(&print.values[channel]) {
            largest.update(channel_values[position].into(), reference, scale, || {
                format!("channel {channel}, pixel {position}")
            });
        }
    }
    largest.assert_within(TOLERANCE);
}

fn check_gradients(case: &Case, seed: u64, transform: &WaveletTransform, device: &Device) {
    let print = &case.gradients;
    let device = device.clone().autodiff();
    let [height, width] = case.size;
    let (channels, count) = (case.channels, case.coefficient_count);

    let image = Tensor::<4>::from_data(
        TensorData::new(photo(case), [1, channels, height, width]),
        &device,
    )
    .require_grad();
    let weights = named_uniform(seed, "analysis_weights", channels * count, 1.0, 0.0);
    let weights = Tensor::<3>::from_data(TensorData::new(weights, [1, channels, count]), &device);
    let coefficients = transform.analyse(image.clone());
    let loss = (weights * coefficients.clone().powi_scalar(2)).sum();
    let loss_value = f64::from(values(loss.clone())[0]);
    let gradient = values(
        image
            .grad(&loss.backward())
            .expect("a gradient of the image"),
    );
    let scale = print
        .analysis_gradient
        .iter()
        .map(|g| g.abs())
        .fold(0.0, f64::max);
    let mut analysis = Largest::new(format!("{}: analysis gradient", case.photo));
    analysis.update(
        loss_value,
        print.analysis_loss,
        print.analysis_loss.abs(),
        || "the loss".into(),
    );
    for (&[c, r, q], &reference) in print
        .analysis_positions
        .iter()
        .zip(&print.analysis_gradient)
    {
        let ours = gradient[(c * height + r) * width + q];
        analysis.update(ours.into(), reference, scale, || {
            format!("pixel ({c}, {r}, {q})")
        });
    }
    analysis.assert_within(TOLERANCE);

    let coefficients = coefficients.detach().require_grad();
    let weights = named_uniform(
        seed,
        "synthesis_weights",
        channels * height * width,
        1.0,
        0.0,
    );
    let weights = Tensor::<4>::from_data(
        TensorData::new(weights, [1, channels, height, width]),
        &device,
    );
    let loss = (weights * transform.synthesise(coefficients.clone()).powi_scalar(2)).sum();
    let loss_value = f64::from(values(loss.clone())[0]);
    let gradient = values(coefficients.grad(&loss.backward()).expect("a gradient"));
    let scale = print
        .synthesis_gradient
        .iter()
        .map(|g| g.abs())
        .fold(0.0, f64::max);
    let mut synthesis = Largest::new(format!("{}: synthesis gradient", case.photo));
    synthesis.update(
        loss_value,
        print.synthesis_loss,
        print.synthesis_loss.abs(),
        || "the loss".into(),
    );
    for (&[c, k], &reference) in print
        .synthesis_positions
        .iter()
        .zip(&print.synthesis_gradient)
    {
        let ours = gradient[c * count + k];
        synthesis.update(ours.into(), reference, scale, || {
            format!("coefficient ({c}, {k})")
        });
    }
    synthesis.assert_within(TOLERANCE);
}

fn check_case(case: &Case, seed: u64, device: &Device) {
    println!(
        "{}: the oracle saw ptwt differ from PyWavelets by {:.1e} and pytorch_wavelets (f32 \
         taps) by {:.1e}, relative",
        case.photo, case.ptwt_relative_difference, case.pytorch_wavelets_relative_difference
    );
    let transform =
        WaveletTransform::new(&WaveletConfig::default(), case.size, device).expect("a transform");
    let [height, width] = case.size;
    let image = photo(case);
    let images = Tensor::<4>::from_data(
        TensorData::new(image.clone(), [1, case.channels, height, width]),
        device,
    );
    let coefficients = transform.analyse(images);
    assert_eq!(
        coefficients.dims(),
        [1, case.channels, case.coefficient_count]
    );
    let reconstruction = values(transform.synthesise(coefficients.clone()));
    check_coefficients(case, &transform, &values(coefficients));

    let scale = max_abs(&image);
    let mut largest = Largest::new(format!("{}: reconstruction", case.photo));
    for (i, (&ours, &pixel)) in reconstruction.iter().zip(&image).enumerate() {
        largest.update(ours.into(), pixel.into(), scale, || format!("pixel {i}"));
    }
    println!(
        "PyWavelets' own reconstruction error: {:e}",
        case.reconstruction_error
    );
    largest.assert_within(TOLERANCE);

    check_masked_synthesis(case, seed, &transform, device);
    check_gradients(case, seed, &transform, device);
}

#[test]
fn the_transform_of_photos_matches_pywavelets_on_the_cpu() {
    let fixture = the_fixture();
    for case in &fixture.cases {
        check_case(case, fixture.seed, &Device::flex());
    }
}

#[test]
fn the_transform_of_photos_matches_pywavelets_on_wgpu() {
    let fixture = the_fixture();
    let device = pollster::block_on(LabDevice::acquire(
        BackendChoice::Wgpu,
        &Requirements::default(),
    ))
    .expect("a wgpu device (lavapipe where there is no GPU)");
    for case in &fixture.cases {
        check_case(case, fixture.seed, &device.device);
    }
}

#[test]
fn a_batch_of_several_channels_analyses_each_image_alike() {
    let device = Device::flex();
    let transform = WaveletTransform::new(&WaveletConfig::default(), [19, 26], &device).unwrap();
    let single = named_uniform(5, "image", 19 * 26, 1.0, 0.0);
    let one = Tensor::<4>::from_data(TensorData::new(single.clone(), [1, 1, 19, 26]), &device);
    let repeated: Vec<f32> = (0..6).flat_map(|_| single.clone()).collect();
    let many = Tensor::<4>::from_data(TensorData::new(repeated, [2, 3, 19, 26]), &device);
    let want = values(transform.analyse(one));
    let got = values(transform.analyse(many));
    for chunk in got.chunks(want.len()) {
        assert_eq!(chunk, want.as_slice());
    }
}

#[test]
fn bad_configurations_are_refused() {
    let device = Device::flex();
    for levels in [0, 13] {
        let config = WaveletConfig {
            levels,
            ..WaveletConfig::default()
        };
        let error = WaveletTransform::new(&config, [256, 256], &device).unwrap_err();
        assert!(error.to_string().contains("levels"), "{error}");
    }
    let error = WaveletTransform::new(&WaveletConfig::default(), [0, 4], &device).unwrap_err();
    assert!(
        error.to_string().contains("nothing to transform"),
        "{error}"
    );
}
