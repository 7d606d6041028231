//! The packaged EfficientNet-Lite0 checkpoint through the lab's legacy PyTorch reader, the
//! packaged photos through the lab's decoding and preparation, and the model's predictions on
//! them, against PyTorch, torchvision and timm.
//!
//! `tests/fixtures/efficientnet_lite0.json` comes from `tests/oracle/efficientnet_lite0.py`:
//! `torch.load` of the checkpoint (every tensor's dtype, shape, sum and values at fixed
//! positions), Pillow's decoding of each photo, torchvision's antialiased resize on float
//! tensors and centre crop, and timm's `tf_efficientnet_lite0` in float64 with the checkpoint's
//! tensors assigned in order, on the bicubic preparation.
//!
//! JPEG decoders may round differently (the standard leaves the inverse DCT's and the chroma
//! upsampling's rounding to the implementation): the lab's decoder and Pillow's libjpeg-turbo
//! differ by up to 4 levels on `retina.jpg` (4:2:0) and 2 on `rocket.jpg`, in 6% and 0.7% of
//! the values. So the PNG photos go through the whole pipeline (decoding, preparation, model)
//! on both sides with identical inputs, and for the JPEG photos the fixture carries the exact
//! prepared input (Pillow's decoding, prepared and rounded to 8 bits, as a PNG), which the
//! model must classify as timm does; the lab's own decoding of them is held to looser bounds.
//!
//! Two photos also run through wgpu (Mesa's lavapipe where there is no GPU).
//!
//! Tolerances: checkpoint values exactly (f32 read as f32, int64 counters as small integers);
//! PNG pixels exactly; prepared pixels within 1e-5 (both resample in f32 with the same filter
//! weights, summed in another order); logits within 1e-3 absolute (they reach about 11; the
//! lab runs 18 layers in f32 from inputs that already differ by 1e-6 or so), and the same top
//! 5 classes in the same order (the smallest gap between the 5th and 6th logit is 0.056). For
//! the lab's decoding of the JPEGs: pixels within 4 levels, prepared pixels within 4 / 255,
//! logits within 0.1 and the same top class.

mod common;

use burn::tensor::Device;
use common::{asset, read_asset};
use image::Rgb32FImage;
use serde::Deserialize;
use std::collections::HashMap;
use superlab::LabError;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::models::torch_legacy::{StorageDtype, TorchCheckpoint};
use superlab::models::vision::prepare::{self, Preparation, Resampling};
use superlab::models::vision::{Architecture, ClassNames, top_k};
use superlab::models::weights::WeightSource;
use superlab::rng::SplitMix64;

const CHECKPOINT: &str = "models/efficientnet-lite0/efficientnet-lite0-57934424.pth";
const NAMES: &str = "data/imagenet1k_names.json";
const PREPARED_TOLERANCE: f64 = 1e-5;
const LOGIT_TOLERANCE: f64 = 1e-3;
/// How far the lab's JPEG decoding may take pixels, prepared pixels and logits from Pillow's.
const JPEG_LEVELS: f64 = 4.0;
const JPEG_LOGIT_TOLERANCE: f64 = 0.1;

#[derive(Deserialize)]
struct Fixture {
    checkpoint: Vec<TensorPrint>,
    /// timm's `tf_efficientnet_lite0` state-dict names, in the checkpoint's order.
    timm_names: Vec<String>,
    shorter_side: usize,
    crop: usize,
    photos: Vec<Photo>,
}

#[derive(Deserialize)]
struct TensorPrint {
    name: String,
    dtype: String,
    shape: Vec<usize>,
    sum: f64,
    positions: Vec<usize>,
    values: Vec<f64>,
}

#[derive(Deserialize)]
struct Photo {
    file: String,
    width: usize,
    height: usize,
    pixel_sum: u64,
    pixels: Sampled,
    bilinear: Sampled,
    bicubic: Sampled,
    logits: Vec<f64>,
    top5: Vec<usize>,
    /// For JPEG photos only.
    exact_input: Option<ExactInput>,
}

impl Photo {
    fn is_jpeg(&self) -> bool {
        self.exact_input.is_some()
    }
}

/// The prepared input as Pillow decoded it, rounded to 8 bits, and timm's predictions on it.
#[derive(Deserialize)]
struct ExactInput {
    png_base64: String,
    logits: Vec<f64>,
    top5: Vec<usize>,
}

#[derive(Deserialize)]
struct Sampled {
    shape: Vec<usize>,
    sum: f64,
    positions: Vec<usize>,
    values: Vec<f64>,
}

fn fixture() -> Fixture {
    common::fixture("efficientnet_lite0")
}

fn checkpoint() -> TorchCheckpoint {
    TorchCheckpoint::from_bytes(CHECKPOINT, read_asset(CHECKPOINT)).expect("the checkpoint reads")
}

fn dtype_name(dtype: StorageDtype) -> &'static str {
    match dtype {
        StorageDtype::F32 => "float32",
        StorageDtype::I64 => "int64",
        other => panic!("the packaged checkpoint has no {other:?} tensors"),
    }
}

#[test]
fn the_reader_matches_torch_load() {
    let fixture = fixture();
    let checkpoint = checkpoint();
    let names: Vec<&str> = fixture.checkpoint.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(checkpoint.names(), names.as_slice(), "names, in order");
    let mut compared = 0;
    for want in &fixture.checkpoint {
        let info = checkpoint.info(&want.name).unwrap();
        assert_eq!(dtype_name(info.dtype), want.dtype, "{}", want.name);
        let (values, shape) = checkpoint.read_f32(&want.name).unwrap();
        assert_eq!(shape, want.shape, "{}", want.name);
        for (&position, &value) in want.positions.iter().zip(&want.values) {
            // JSON carries the f32 values widened to f64; reading them back may be off by an
            // f64 ulp, which the cast to f32 removes.
            assert_eq!(values[position], value as f32, "{}[{position}]", want.name);
            compared += 1;
        }
        let sum: f64 = values.iter().map(|&v| f64::from(v)).sum();
        assert!(
            (sum - want.sum).abs() <= 1e-9 * want.sum.abs().max(1.0),
            "{}: sum {sum} against {}",
            want.name,
            want.sum
        );
    }
    println!("{} tensors, {compared} sampled values equal", names.len());
}

fn decoded(photo: &Photo) -> Rgb32FImage {
    prepare::decode(&read_asset(&format!("photos/{}", photo.file))).expect("the photo decodes")
}

/// Pillow's and the `image` crate's decoders give the same 8-bit values for PNG (within 4 levels
/// for JPEG), and the preparation the same pixels as torchvision's.
#[test]
fn photos_decode_and_prepare_as_torchvision() {
    let fixture = fixture();
    for photo in &fixture.photos {
        let image = decoded(photo);
        assert_eq!(
            image.dimensions(),
            (photo.width as u32, photo.height as u32)
        );
        let bytes: Vec<u8> = image
            .as_raw()
            .iter()
            .map(|&v| (v * 255.0).round() as u8)
            .collect();
        let sum: u64 = bytes.iter().map(|&b| u64::from(b)).sum();
        let picked: Vec<f32> = photo
            .pixels
            .positions
            .iter()
            .map(|&p| f32::from(bytes[p]))
            .collect();
        let what = format!("{} decoded", photo.file);
        let mean_difference = (sum as f64 - photo.pixel_sum as f64) / bytes.len() as f64;
        println!("{what}: mean difference {mean_difference:.4} levels");
        match photo.is_jpeg() {
            false => {
                assert_eq!(sum, photo.pixel_sum, "{what}: sum of 8-bit values");
                common::assert_close(&what, &picked, &photo.pixels.values, 0.0, false);
            }
            true => {
                assert!(mean_difference.abs() < 0.1, "{what}");
                common::assert_close(&what, &picked, &photo.pixels.values, JPEG_LEVELS, false);
            }
        }
        for (resampling, want) in [
            (Resampling::Bilinear, &photo.bilinear),
            (Resampling::Bicubic, &photo.bicubic),
        ] {
            let preparation = Preparation {
                shorter_side: fixture.shorter_side,
                crop: fixture.crop,
                resampling,
            };
            let tensor =
                prepare::to_tensor(&[preparation.apply(&image).unwrap()], &Device::flex()).unwrap();
            assert_eq!(tensor.dims()[1..], want.shape[..]);
            let values = tensor.into_data().try_into_vec::<f32>().unwrap();
            let picked: Vec<f32> = want.positions.iter().map(|&p| values[p]).collect();
            let what = format!("{} {resampling:?}", photo.file);
            let tolerance = match photo.is_jpeg() {
                false => PREPARED_TOLERANCE,
                true => JPEG_LEVELS / 255.0,
            };
            common::assert_close(&what, &picked, &want.values, tolerance, false);
            let sum: f64 = values.iter().map(|&v| f64::from(v)).sum();
            assert!(
                (sum - want.sum).abs() < tolerance * values.len() as f64,
                "{what}"
            );
        }
    }
}

/// All photos in one batch at 224x224, the model's own preparation, and the exact inputs of the
/// JPEG photos.
#[test]
fn lite0_predicts_as_timm() {
    let fixture = fixture();
    let device = Device::flex();
    let model = Architecture::EfficientnetLite0
        .load(&checkpoint(), &device)
        .unwrap();
    let preparation = model.preparation();
    assert_eq!(preparation.resampling, Resampling::Bicubic);
    assert_eq!(
        (preparation.shorter_side, preparation.crop),
        (fixture.shorter_side, fixture.crop)
    );
    let mut images: Vec<Rgb32FImage> = (fixture.photos.iter())
        .map(|photo| preparation.apply(&decoded(photo)).unwrap())
        .collect();
    let exact: Vec<(&Photo, &ExactInput)> = (fixture.photos.iter())
        .filter_map(|photo| Some((photo, photo.exact_input.as_ref()?)))
        .collect();
    for (_, input) in &exact {
        let png = base64_decode(&input.png_base64);
        images.push(prepare::decode(&png).unwrap());
    }
    let logits = model.logits(prepare::to_tensor(&images, &device).unwrap());
    let logits = logits.into_data().try_into_vec::<f32>().unwrap();
    let mut rows = logits.chunks(model.classes());
    let names = ClassNames::from_json(&std::fs::read_to_string(asset(NAMES)).unwrap()).unwrap();
    let top5 = |row: &[f32]| -> Vec<usize> { top_k(row, 5).iter().map(|r| r.class).collect() };
    for photo in &fixture.photos {
        let row = rows.next().unwrap();
        let labels: Vec<&str> = top5(row).iter().map(|&c| names.name(c)).collect();
        println!("{}: {labels:?}", photo.file);
        match photo.is_jpeg() {
            false => {
                common::assert_close(&photo.file, row, &photo.logits, LOGIT_TOLERANCE, false);
                assert_eq!(top5(row), photo.top5, "{}: top 5", photo.file);
            }
            true => {
                let what = format!("{} as the lab decodes it", photo.file);
                common::assert_close(&what, row, &photo.logits, JPEG_LOGIT_TOLERANCE, false);
                assert_eq!(top5(row)[0], photo.top5[0], "{what}: top class");
            }
        }
    }
    for (photo, input) in exact {
        let row = rows.next().unwrap();
        let what = format!("{} exact input", photo.file);
        common::assert_close(&what, row, &input.logits, LOGIT_TOLERANCE, false);
        assert_eq!(top5(row), input.top5, "{what}: top 5");
    }
}

/// TensorFlow's asymmetric padding and the depthwise convolutions through wgpu's kernels (Mesa's
/// lavapipe where there is no GPU), which the browser uses through WebGPU: two PNG photos.
#[test]
fn lite0_predicts_as_timm_on_wgpu() {
    let fixture = fixture();
    let needs = Requirements::default();
    let device = pollster::block_on(LabDevice::acquire(BackendChoice::Wgpu, &needs))
        .expect("a wgpu adapter")
        .device;
    let model = Architecture::EfficientnetLite0
        .load(&checkpoint(), &device)
        .unwrap();
    let photos: Vec<&Photo> = (fixture.photos.iter())
        .filter(|photo| ["camera.png", "chelsea.png"].contains(&photo.file.as_str()))
        .collect();
    let images: Vec<Rgb32FImage> = (photos.iter())
        .map(|photo| model.preparation().apply(&decoded(photo)).unwrap())
        .collect();
    let logits = model.logits(prepare::to_tensor(&images, &device).unwrap());
    let logits = logits.into_data().try_into_vec::<f32>().unwrap();
    for (photo, row) in photos.iter().zip(logits.chunks(model.classes())) {
        let what = format!("{} on wgpu", photo.file);
        common::assert_close(&what, row, &photo.logits, LOGIT_TOLERANCE, false);
        let top5: Vec<usize> = top_k(row, 5).iter().map(|r| r.class).collect();
        assert_eq!(top5, photo.top5, "{what}: top 5");
    }
}

/// The checkpoint's tensors under timm's names, as the hub's `timm/tf_efficientnet_lite0.in1k`
/// names them.
struct TimmNamed {
    checkpoint: TorchCheckpoint,
    /// timm's name to the checkpoint's.
    names: HashMap<String, String>,
}

impl WeightSource for TimmNamed {
    fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    fn read_f32(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), LabError> {
        let ours = self.names.get(name).map_or(name, String::as_str);
        self.checkpoint.read_f32(ours)
    }
}

/// timm's names load the same network: equal logits on a photo.
#[test]
fn lite0_takes_timm_names() {
    let fixture = fixture();
    let checkpoint = checkpoint();
    assert_eq!(fixture.timm_names.len(), checkpoint.names().len());
    let names = (fixture.timm_names.iter().cloned())
        .zip(checkpoint.names().iter().cloned())
        .collect();
    let timm = TimmNamed { checkpoint, names };
    let device = Device::flex();
    let model = Architecture::EfficientnetLite0
        .load(&timm, &device)
        .unwrap();
    let photo = &fixture.photos[0];
    let image = model.preparation().apply(&decoded(photo)).unwrap();
    let logits = model.logits(prepare::to_tensor(&[image], &device).unwrap());
    let row = logits.into_data().try_into_vec::<f32>().unwrap();
    let what = format!("{} through timm's names", photo.file);
    common::assert_close(&what, &row, &photo.logits, LOGIT_TOLERANCE, false);
}

/// Standard base64 with padding, as Python's `base64.b64encode` writes it.
fn base64_decode(text: &str) -> Vec<u8> {
    let digit = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            other => panic!("not base64: {other}"),
        }
    };
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3);
    for chunk in text.as_bytes().chunks(4) {
        let data: Vec<u8> = chunk.iter().copied().filter(|&c| c != b'=').collect();
        let word =
            (data.iter()).fold(0u32, |word, &c| (word << 6) | digit(c)) << (6 * (4 - data.len()));
        bytes.extend_from_slice(&word.to_be_bytes()[1..data.len()]);
    }
    bytes
}

/// Every kind of damage is an error naming the file and saying what is wrong, never a panic.
#[test]
fn truncated_and_corrupt_checkpoints_are_errors() {
    let bytes = read_asset(CHECKPOINT);
    let error = |bytes: Vec<u8>| match TorchCheckpoint::from_bytes("damaged.pth", bytes) {
        Ok(_) => panic!("a damaged checkpoint was accepted"),
        Err(error) => error.to_string(),
    };
    // The header pickles end at byte 137, the object pickle at 42486, the key list at 47176;
    // then each storage's count and data.
    for length in [
        0,
        1,
        14,
        100,
        137,
        5_000,
        42_486,
        42_500,
        47_176,
        47_180,
        1_000_000,
        bytes.len() - 1,
    ] {
        let message = error(bytes[..length].to_vec());
        assert!(
            message.contains("damaged.pth") && message.contains("truncated"),
            "{length}: {message}"
        );
    }
    println!("{}", error(bytes[..1_000_000].to_vec()));

    let mut magic = bytes.clone();
    magic[5] ^= 0x40;
    assert!(error(magic).contains("magic number"));

    let mut zip = bytes.clone();
    zip[..4].copy_from_slice(b"PK\x03\x04");
    assert!(error(zip).contains("zip format"));

    // The first storage's element count, just after the key list.
    let mut count = bytes.clone();
    count[47_176] ^= 0x01;
    let message = error(count);
    println!("{message}");
    assert!(message.contains("elements"), "{message}");

    // A shape entry of the first tensor, `(32, 3, 3, 3)` at byte 305, made far too large.
    let mut shape = bytes.clone();
    assert_eq!(&shape[305..307], b"K\x20");
    shape[305..307].copy_from_slice(b"K\xff");
    let message = error(shape);
    println!("{message}");
    assert!(message.contains("beyond its storage"), "{message}");

    // Random damage to the pickles: some is harmless (a changed name or memo index), the rest
    // must be reported, and nothing may panic.
    let mut numbers = SplitMix64::new(7);
    let mut rejected = 0;
    let mut damaged = bytes.clone();
    for _ in 0..150 {
        let position = (numbers.next_u64() % 47_176) as usize;
        let original = damaged[position];
        damaged[position] = numbers.next_u64() as u8;
        if TorchCheckpoint::from_bytes("damaged.pth", damaged.clone()).is_err() {
            rejected += 1;
        }
        damaged[position] = original;
    }
    println!("{rejected} of 150 random one-byte corruptions rejected");
    assert!(rejected > 0);
}

/// The class names asset is the 1000 ImageNet-1k classes in logit order.
#[test]
fn imagenet_names_load() {
    let path = asset(NAMES);
    let names = ClassNames::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(names.len(), 1000);
    assert_eq!(names.name(0), "tench");
    assert_eq!(names.name(281), "tabby cat");
}
