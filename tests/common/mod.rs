//! Shared by the native tests: where fixtures and cached assets live, weights rebuilt from a
//! fixture's description, and comparisons that report the largest difference they saw.
//!
//! Each test binary uses only part of this module.
#![allow(dead_code)]

use std::path::PathBuf;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use superlab::models::weights::Weights;
use superlab::rng::named_uniform;

/// `tests/fixtures/NAME.json`, as written by `tests/oracle/NAME.py`.
pub fn fixture<T: DeserializeOwned>(name: &str) -> T {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The lab's cache folder, by the same rule as `scripts/lib.sh`.
pub fn cache_dir() -> PathBuf {
    if let Some(cache) = std::env::var_os("SUPERLAB_CACHE") {
        return PathBuf::from(cache);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME must be set");
    base.join("superlab")
}

/// A file that `scripts/assets.py` fetched, such as `photos/camera.png`. The test fails when
/// it is missing: `scripts/test` fetches the assets before the native tests.
pub fn asset(relative: &str) -> PathBuf {
    let path = cache_dir().join("assets").join(relative);
    assert!(
        path.is_file(),
        "{} is missing; fetch it with python3 scripts/assets.py --cache {}",
        path.display(),
        cache_dir().join("assets").display()
    );
    path
}

pub fn read_asset(relative: &str) -> Vec<u8> {
    let path = asset(relative);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// One tensor of a fixture's random checkpoint: `offset + uniform(-scale, scale)` drawn by the
/// generator of its name (`tests/oracle/_common.py`'s `named_uniform`).
#[derive(Debug, Clone, Deserialize)]
pub struct WeightSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub scale: f32,
    pub offset: f32,
}

/// The checkpoint the oracle drew, written as a safetensors file and read back through the
/// lab's own reader, so loading is tested along with the architecture.
pub fn weights_from_spec(seed: u64, specs: &[WeightSpec]) -> Weights {
    Weights::from_safetensors("fixture.safetensors", safetensors_from_spec(seed, specs))
        .expect("the fixture's checkpoint reads back")
}

pub fn safetensors_from_spec(seed: u64, specs: &[WeightSpec]) -> Vec<u8> {
    let tensors: Vec<(String, Vec<u8>, Vec<usize>)> = specs
        .iter()
        .map(|spec| {
            let count = spec.shape.iter().product();
            let values = named_uniform(seed, &spec.name, count, spec.scale, spec.offset);
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (spec.name.clone(), bytes, spec.shape.clone())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(name, bytes, shape)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .expect("a consistent tensor");
            (name.clone(), view)
        })
        .collect();
    safetensors::serialize(views, None).expect("serialisable tensors")
}

/// The largest absolute difference between two sequences of equal length, and where it is.
pub fn largest_difference(got: &[f32], want: &[f64]) -> (f64, usize) {
    assert_eq!(got.len(), want.len(), "lengths differ");
    got.iter()
        .zip(want)
        .map(|(&g, &w)| (f64::from(g) - w).abs())
        .enumerate()
        .fold(
            (0.0, 0),
            |(best, at), (i, d)| if d > best { (d, i) } else { (best, at) },
        )
}

/// Asserts that `got` is within `tolerance` of `want` everywhere (absolute, or relative to the
/// largest reference magnitude when `relative`), printing the largest difference either way.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], tolerance: f64, relative: bool) {
    let (difference, at) = largest_difference(got, want);
    let scale = if relative {
        want.iter()
            .fold(0.0f64, |m, w| m.max(w.abs()))
            .max(f64::MIN_POSITIVE)
    } else {
        1.0
    };
    println!(
        "{what}: largest difference {difference:.3e} at {at} ({} values, scale {scale:.3e})",
        got.len()
    );
    assert!(
        difference / scale <= tolerance,
        "{what}: differs by {difference:e} at {at} (lab {}, reference {}), over {tolerance:e}",
        got[at],
        want[at]
    );
}

/// A photograph from the assets (`photos/NAME`) as RGB in [0, 1], resized to `size x size`
/// with a triangle (bilinear) filter: `[3, size, size]` values, channel after channel.
pub fn photo_rgb(name: &str, size: u32) -> Vec<f32> {
    let bytes = read_asset(&format!("photos/{name}"));
    let image = image::load_from_memory(&bytes)
        .unwrap_or_else(|error| panic!("photos/{name}: {error}"))
        .to_rgb8();
    let image = image::imageops::resize(&image, size, size, image::imageops::FilterType::Triangle);
    (0..3)
        .flat_map(|channel| {
            image
                .pixels()
                .map(move |pixel| f32::from(pixel.0[channel]) / 255.0)
        })
        .collect()
}
