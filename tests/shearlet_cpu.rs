//! The CPU shearlet system against pyShearLab, at 256x256 and 300x300.
//!
//! `tests/fixtures/shearlet.json` comes from `tests/oracle/shearlet.py`: pyShearLab-MIND's
//! `SLgetShearletSystem2D(0, n, n, 4, [1, 1, 2, 2])` with default filters, its filters and
//! dual-frame weights ifftshifted to natural FFT layout and sampled at fixed frequency
//! positions, and `SLsheardec2D` / `SLshearrec2D` on the camera photograph sampled at fixed
//! pixel positions. See the script for how positions and the photograph are chosen.
//!
//! Tolerances: sampled values are compared relative to the largest absolute value of their
//! band (or of the weights), per-band sums, norms and maxima relative to themselves.

use std::path::PathBuf;
use std::sync::OnceLock;

use superlab::shearlet::{BandInfo, Cone, ShearletSystem};

/// Both sides compute in f64; the analysed coefficients pass through f32 (about 6e-8).
const TOLERANCE: f64 = 1e-5;

#[derive(serde::Deserialize)]
struct Fixture {
    scales: usize,
    shear_levels: Vec<u32>,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    rows: usize,
    cols: usize,
    frequency_positions: Vec<[usize; 2]>,
    pixel_positions: Vec<[usize; 2]>,
    bands: Vec<FilterPrint>,
    dual_weights: WeightPrint,
    coefficients: Vec<CoefficientPrint>,
    reconstruction_error: f64,
}

#[derive(serde::Deserialize)]
struct FilterPrint {
    /// ShearLab's `[cone, scale, shear]`.
    index: [i64; 3],
    sum: f64,
    l2_norm: f64,
    max_abs: f64,
    max_abs_imaginary: f64,
    values: Vec<f64>,
}

#[derive(serde::Deserialize)]
struct WeightPrint {
    min: f64,
    max: f64,
    values: Vec<f64>,
}

#[derive(serde::Deserialize)]
struct CoefficientPrint {
    l2_norm: f64,
    max_abs: f64,
    values: Vec<f64>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        serde_json::from_str(include_str!("fixtures/shearlet.json")).expect("the fixture")
    })
}

fn case(size: usize) -> &'static Case {
    fixture()
        .cases
        .iter()
        .find(|c| c.rows == size)
        .expect("a fixture case of this size")
}

/// Each system is built once and shared by the tests of its size.
fn system(size: usize) -> &'static ShearletSystem {
    static SYSTEMS: [OnceLock<ShearletSystem>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = if size == 256 {
        &SYSTEMS[0]
    } else {
        &SYSTEMS[1]
    };
    slot.get_or_init(|| {
        let fixture = fixture();
        let case = case(size);
        ShearletSystem::new(case.rows, case.cols, fixture.scales, &fixture.shear_levels)
            .expect("a supported size")
    })
}

/// The photograph and its coefficients, computed once per size (analysis is slow unoptimised).
fn analysed_photo(size: usize) -> &'static (Vec<f32>, Vec<f32>) {
    static ANALYSED: [OnceLock<(Vec<f32>, Vec<f32>)>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = if size == 256 {
        &ANALYSED[0]
    } else {
        &ANALYSED[1]
    };
    slot.get_or_init(|| {
        let image = photo(size);
        let coefficients = system(size).analyse(&image);
        (image, coefficients)
    })
}

/// Tracks the largest relative error of one kind and what it was.
struct Largest {
    what: &'static str,
    error: f64,
    at: String,
}

impl Largest {
    fn new(what: &'static str) -> Self {
        Self {
            what,
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

    fn assert_within_tolerance(&self) {
        println!(
            "largest relative error, {}: {:e} at {}",
            self.what, self.error, self.at
        );
        assert!(
            self.error <= TOLERANCE,
            "{}: {:e} at {}",
            self.what,
            self.error,
            self.at
        );
    }
}

fn shearlab_index(band: &BandInfo) -> [i64; 3] {
    let scale = band.scale as i64;
    [band.cone.shearlab_index(), scale, band.shear]
}

fn sum(values: &[f64]) -> f64 {
    values.iter().sum()
}

fn l2_norm(values: impl Iterator<Item = f64>) -> f64 {
    values.map(|v| v * v).sum::<f64>().sqrt()
}

fn max_abs(values: impl Iterator<Item = f64>) -> f64 {
    values.map(f64::abs).fold(0.0, f64::max)
}

fn check_filters(size: usize) {
    let (case, system) = (case(size), system(size));
    let ours: Vec<[i64; 3]> = system.bands.iter().map(shearlab_index).collect();
    let theirs: Vec<[i64; 3]> = case.bands.iter().map(|b| b.index).collect();
    assert_eq!(ours, theirs, "band order");
    let mut values = Largest::new("filter values");
    let mut summaries = Largest::new("filter sums, norms and maxima");
    for (k, print) in case.bands.iter().enumerate() {
        assert!(
            print.max_abs_imaginary <= 1e-12 * print.max_abs,
            "pyShearLab's band {k} is not real: storing real filters would be wrong"
        );
        let filter = system.filter(k);
        for (&[r, c], &reference) in case.frequency_positions.iter().zip(&print.values) {
            let ours = filter[r * size + c];
            values.update(ours, reference, print.max_abs, || {
                format!("band {k}, ({r}, {c})")
            });
        }
        let norm = l2_norm(filter.iter().copied());
        let largest = max_abs(filter.iter().copied());
        summaries.update(sum(filter), print.sum, print.sum.abs(), || {
            format!("band {k} sum")
        });
        summaries.update(norm, print.l2_norm, print.l2_norm, || {
            format!("band {k} norm")
        });
        summaries.update(largest, print.max_abs, print.max_abs, || {
            format!("band {k} max")
        });
    }
    values.assert_within_tolerance();
    summaries.assert_within_tolerance();
}

fn check_dual_weights(size: usize) {
    let (case, system) = (case(size), system(size));
    let weights = &case.dual_weights;
    let mut largest = Largest::new("dual-frame weights");
    for (&[r, c], &reference) in case.frequency_positions.iter().zip(&weights.values) {
        let ours = system.dual_weights[r * size + c];
        largest.update(ours, reference, weights.max, || format!("({r}, {c})"));
    }
    let ours_min = system
        .dual_weights
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let ours_max = max_abs(system.dual_weights.iter().copied());
    largest.update(ours_min, weights.min, weights.min, || "the minimum".into());
    largest.update(ours_max, weights.max, weights.max, || "the maximum".into());
    largest.assert_within_tolerance();
    assert!(ours_min > 0.0, "W must be positive for the dual frame");
}

fn check_coefficients(size: usize) {
    let case = case(size);
    let (_, coefficients) = analysed_photo(size);
    let plane = size * size;
    let mut values = Largest::new("coefficients");
    let mut summaries = Largest::new("coefficient norms and maxima");
    for (k, print) in case.coefficients.iter().enumerate() {
        let band = &coefficients[k * plane..(k + 1) * plane];
        for (&[r, c], &reference) in case.pixel_positions.iter().zip(&print.values) {
            let ours = f64::from(band[r * size + c]);
            values.update(ours, reference, print.max_abs, || {
                format!("band {k}, ({r}, {c})")
            });
        }
        let norm = l2_norm(band.iter().map(|&v| f64::from(v)));
        let largest = max_abs(band.iter().map(|&v| f64::from(v)));
        summaries.update(norm, print.l2_norm, print.l2_norm, || {
            format!("band {k} norm")
        });
        summaries.update(largest, print.max_abs, print.max_abs, || {
            format!("band {k} max")
        });
    }
    values.assert_within_tolerance();
    summaries.assert_within_tolerance();
}

fn check_reconstruction(size: usize) {
    let (image, coefficients) = analysed_photo(size);
    let reconstruction = system(size).synthesise(coefficients);
    let scale = max_abs(image.iter().map(|&v| f64::from(v)));
    let mut largest = Largest::new("reconstruction (relative to the largest pixel)");
    for (i, (&ours, &pixel)) in reconstruction.iter().zip(image).enumerate() {
        largest.update(ours.into(), pixel.into(), scale, || format!("pixel {i}"));
    }
    println!(
        "pyShearLab's own reconstruction error: {:e}",
        case(size).reconstruction_error
    );
    largest.assert_within_tolerance();
}

/// Where `scripts/assets.py` caches the photographs (the same rule as `scripts/lib.sh`).
fn photo_path() -> PathBuf {
    let cache = std::env::var_os("SUPERLAB_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
                .expect("HOME or XDG_CACHE_HOME");
            base.join("superlab")
        });
    cache.join("assets/photos/camera.png")
}

/// The 512x512 8-bit grey camera photograph.
fn camera() -> Vec<u8> {
    let path = photo_path();
    let file = std::fs::File::open(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; fetch it with scripts/assets.py",
            path.display()
        )
    });
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (512, 512));
    assert_eq!(
        (info.color_type, info.bit_depth),
        (png::ColorType::Grayscale, png::BitDepth::Eight)
    );
    pixels.truncate(info.buffer_size());
    pixels
}

/// The oracle's input: 2x2 block means for 256, the central crop for 300, over 255.
fn photo(size: usize) -> Vec<f32> {
    const SIDE: usize = 512;
    let camera = camera();
    let pixel = |r: usize, c: usize| f64::from(camera[r * SIDE + c]);
    let mut image = Vec::with_capacity(size * size);
    for r in 0..size {
        for c in 0..size {
            let value = if size == SIDE / 2 {
                let block = pixel(2 * r, 2 * c)
                    + pixel(2 * r, 2 * c + 1)
                    + pixel(2 * r + 1, 2 * c)
                    + pixel(2 * r + 1, 2 * c + 1);
                block / (4.0 * 255.0)
            } else {
                let start = (SIDE - size) / 2;
                pixel(start + r, start + c) / 255.0
            };
            image.push(value as f32);
        }
    }
    image
}

#[test]
fn filters_match_pyshearlab_at_256() {
    check_filters(256);
}

#[test]
fn filters_match_pyshearlab_at_300() {
    check_filters(300);
}

#[test]
fn dual_weights_match_pyshearlab_at_256() {
    check_dual_weights(256);
}

#[test]
fn dual_weights_match_pyshearlab_at_300() {
    check_dual_weights(300);
}

#[test]
fn coefficients_of_a_photo_match_pyshearlab_at_256() {
    check_coefficients(256);
}

#[test]
fn coefficients_of_a_photo_match_pyshearlab_at_300() {
    check_coefficients(300);
}

#[test]
fn synthesis_inverts_analysis_at_256() {
    check_reconstruction(256);
}

#[test]
fn synthesis_inverts_analysis_at_300() {
    check_reconstruction(300);
}

#[test]
fn the_shearletx_system_has_49_bands_with_the_lowpass_last() {
    let system = system(256);
    assert_eq!(system.band_count(), 49);
    assert_eq!(system.filters.len(), 49 * 256 * 256);
    assert_eq!(system.bands[48].cone, Cone::Lowpass);
}

#[test]
fn unsupported_sizes_are_refused_with_what_works() {
    for (rows, cols) in [(248, 248), (224, 224), (257, 257), (256, 320)] {
        let Err(error) = ShearletSystem::new(rows, cols, 4, &[1, 1, 2, 2]) else {
            panic!("{rows}x{cols} must be refused");
        };
        let message = error.to_string();
        assert!(
            message.contains("at least 250 pixels"),
            "{rows}x{cols}: {message}"
        );
    }
}
