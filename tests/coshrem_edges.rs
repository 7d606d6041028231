//! CoShREM's edge detector and ShearletX's hallucination score against PyCoShREM 0.0.2.
//!
//! `tests/fixtures/coshrem_edges.json` comes from `tests/oracle/coshrem_edges.py`:
//! PyCoShREM's `EdgeSystem` (256x256 at shear level 3, ShearletX's system, and two small
//! non-square systems at levels 4 and 2), its filters sampled at fixed frequencies, and
//! `detect(grey, min_contrast=3)` on scikit-image photographs (the same files as the asset
//! cache holds) reduced or cropped to 256x256 and on synthetic images; the hallucination
//! score of four explanations per photo counted with SciPy's binary dilation. The script
//! says exactly how every input is made; the test makes the same inputs from the same
//! integers, so both sides detect edges on identical grey levels (checked by their sum).
//!
//! Tolerances:
//! - filters: both sides compute in f64, the reference through FFTs, here in closed form:
//!   1e-12 relative to the band's largest magnitude;
//! - edge measure: 1e-9 absolute (the measure lies in [0, 1]; the two FFT libraries differ
//!   by rounding, about 1e-13 here);
//! - edge maps: identical, except where the measure lies within 1e-9 of the threshold 0.1,
//!   at most 1e-4 of the pixels (in these images no measure comes nearer than 8e-7, so
//!   none differ);
//! - orientations, where both detect an edge: 1e-4 degrees, as the fixture stores them in
//!   float32 (about 1e-5 degrees at 180); an undefined orientation (-1) must be undefined on
//!   both sides;
//! - hallucination scores: 1e-6 where the edge maps agree (they are ratios of counts, so in
//!   fact equal), and the counting itself is checked exactly on the reference's edge maps.

mod common;

use std::sync::OnceLock;

use rustfft::num_complex::Complex64;
use superlab::explain::hallucination::grey_levels;
use superlab::explain::{EdgeConfig, EdgeSystem, GreyLevels, HallucinationConfig, ImageEdges};

const FILTER_TOLERANCE: f64 = 1e-12;
const STRENGTH_TOLERANCE: f64 = 1e-9;
const THRESHOLD_BAND: f64 = 1e-9;
const MAX_DISAGREEMENT_FRACTION: f64 = 1e-4;
const ORIENTATION_TOLERANCE: f64 = 1e-4;
const SCORE_TOLERANCE: f64 = 1e-6;
const SIZE: usize = 256;
/// The explanations' formulas, as in the oracle script.
const SQUARE_ROWS: std::ops::Range<usize> = 40..88;
const SQUARE_COLS: std::ops::Range<usize> = 168..216;
const MASK_RADIUS_SQUARED: f64 = 6400.0;

#[derive(serde::Deserialize)]
struct Fixture {
    min_contrast: f64,
    threshold: f64,
    filters: Vec<FilterCase>,
    synthetic: Vec<SyntheticCase>,
    photos: Vec<PhotoCase>,
}

#[derive(serde::Deserialize)]
struct FilterCase {
    rows: usize,
    cols: usize,
    shear_level: u32,
    shearlets: usize,
    bands: Vec<BandPrint>,
}

#[derive(serde::Deserialize)]
struct BandPrint {
    sum_re: f64,
    sum_im: f64,
    l2_norm: f64,
    max_abs: f64,
    positions: Vec<[usize; 2]>,
    re: Vec<f64>,
    im: Vec<f64>,
}

/// What the oracle recorded about one detection.
#[derive(serde::Deserialize)]
struct Detection {
    edges: String,
    edge_count: usize,
    positive_count: usize,
    strength_sum: f64,
    positions: Vec<[usize; 2]>,
    strength: Vec<f64>,
    orientation: Option<String>,
    orientation_undefined: Option<usize>,
}

#[derive(serde::Deserialize)]
struct SyntheticCase {
    rows: usize,
    cols: usize,
    shear_level: u32,
    grey_sum: f64,
    #[serde(flatten)]
    detection: Detection,
}

#[derive(serde::Deserialize)]
struct PhotoCase {
    name: String,
    preparation: String,
    divisor: u32,
    grey_sum: f64,
    #[serde(flatten)]
    detection: Detection,
    explanations: Vec<ExplanationCase>,
}

#[derive(serde::Deserialize)]
struct ExplanationCase {
    name: String,
    grey: GreyLevels,
    #[serde(flatten)]
    detection: Detection,
    invented: usize,
    image_edges: usize,
    explanation_edges: usize,
    score: f64,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| common::fixture("coshrem_edges"))
}

fn system_256() -> &'static EdgeSystem {
    static SYSTEM: OnceLock<EdgeSystem> = OnceLock::new();
    SYSTEM.get_or_init(|| EdgeSystem::new(SIZE, SIZE).expect("ShearletX's edge system"))
}

fn system_of(rows: usize, cols: usize, shear_level: u32) -> EdgeSystem {
    let config = EdgeConfig {
        shear_level,
        ..EdgeConfig::default()
    };
    EdgeSystem::with_config(rows, cols, &config).expect("a supported system")
}

/// Standard base64, as Python's `base64.b64encode` writes it.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |byte: u8| match byte {
        b'A'..=b'Z' => u32::from(byte - b'A'),
        b'a'..=b'z' => u32::from(byte - b'a') + 26,
        b'0'..=b'9' => u32::from(byte - b'0') + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {byte}"),
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for chunk in text.as_bytes().chunks(4) {
        let digits: Vec<u32> = chunk
            .iter()
            .filter(|&&b| b != b'=')
            .map(|&b| value(b))
            .collect();
        let word = digits
            .iter()
            .enumerate()
            .fold(0u32, |w, (i, d)| w | d << (18 - 6 * i));
        out.extend(word.to_be_bytes()[1..digits.len()].iter().copied());
    }
    out
}

/// NumPy's `packbits` of a row-major boolean map: first pixel in the top bit.
fn unpack_bits(text: &str, count: usize) -> Vec<bool> {
    let bytes = base64_decode(text);
    (0..count)
        .map(|i| bytes[i / 8] & (0x80 >> (i % 8)) != 0)
        .collect()
}

fn unpack_f32(text: &str) -> Vec<f64> {
    base64_decode(text)
        .chunks_exact(4)
        .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect()
}

/// Compares one detection with the oracle's record; returns our edge map.
fn check_detection(
    what: &str,
    system: &EdgeSystem,
    grey: &[f64],
    reference: &Detection,
) -> Vec<bool> {
    let fixture = fixture();
    let map = system
        .detect(grey, fixture.min_contrast)
        .expect("a detection");
    let edges = map.edges(fixture.threshold);
    let theirs = unpack_bits(&reference.edges, edges.len());

    let disagreements: Vec<usize> = (0..edges.len())
        .filter(|&p| edges[p] != theirs[p])
        .collect();
    let nearest = map
        .strength
        .iter()
        .map(|s| (s - fixture.threshold).abs())
        .fold(f64::INFINITY, f64::min);
    println!(
        "{what}: {} edge pixels, {} disagree with PyCoShREM; nearest measure to the threshold \
         {nearest:.1e}",
        edges.iter().filter(|&&e| e).count(),
        disagreements.len()
    );
    for &p in &disagreements {
        let margin = (map.strength[p] - fixture.threshold).abs();
        assert!(
            margin <= THRESHOLD_BAND,
            "{what}: pixel {p} disagrees with measure {} (not at the threshold)",
            map.strength[p]
        );
    }
    assert!(
        disagreements.len() as f64 <= MAX_DISAGREEMENT_FRACTION * edges.len() as f64,
        "{what}: {} pixels disagree",
        disagreements.len()
    );
    if disagreements.is_empty() {
        assert_eq!(edges.iter().filter(|&&e| e).count(), reference.edge_count);
    }
    let positive = map.strength.iter().filter(|&&s| s > 0.0).count();
    assert_eq!(
        positive, reference.positive_count,
        "{what}: pixels with a positive measure"
    );

    let mut largest: f64 = 0.0;
    for (&[r, c], &want) in reference.positions.iter().zip(&reference.strength) {
        largest = largest.max((map.strength[r * system.cols() + c] - want).abs());
    }
    let sum: f64 = map.strength.iter().sum();
    let sum_error = (sum - reference.strength_sum).abs() / reference.strength_sum;
    println!(
        "{what}: measure differs by at most {largest:.1e}, its sum by {sum_error:.1e} (relative)"
    );
    assert!(
        largest <= STRENGTH_TOLERANCE,
        "{what}: measure differs by {largest:e}"
    );
    assert!(
        sum_error <= STRENGTH_TOLERANCE,
        "{what}: sum of the measure differs by {sum_error:e}"
    );

    if let Some(encoded) = &reference.orientation {
        check_orientations(
            what,
            &map.orientation,
            &edges,
            &theirs,
            &unpack_f32(encoded),
        );
        let undefined = theirs
            .iter()
            .zip(&map.orientation)
            .filter(|&(&edge, &angle)| edge && angle < 0.0)
            .count();
        assert_eq!(
            Some(undefined),
            reference.orientation_undefined,
            "{what}: undefined"
        );
    }
    edges
}

/// `theirs_at_edges` holds the reference's angle at each of its edge pixels, in order.
fn check_orientations(
    what: &str,
    ours: &[f64],
    our_edges: &[bool],
    their_edges: &[bool],
    theirs_at_edges: &[f64],
) {
    let mut largest: f64 = 0.0;
    let mut compared = 0;
    let mut k = 0;
    for p in 0..ours.len() {
        if !their_edges[p] {
            continue;
        }
        let theirs = theirs_at_edges[k];
        k += 1;
        if !our_edges[p] {
            continue;
        }
        compared += 1;
        assert_eq!(
            ours[p] < 0.0,
            theirs < 0.0,
            "{what}: pixel {p} has orientation {} here and {theirs} in PyCoShREM",
            ours[p]
        );
        largest = largest.max((ours[p] - theirs).abs());
    }
    assert_eq!(
        k,
        theirs_at_edges.len(),
        "{what}: one orientation per edge pixel"
    );
    println!(
        "{what}: orientations of {compared} edge pixels differ by at most {largest:.1e} degrees"
    );
    assert!(
        largest <= ORIENTATION_TOLERANCE,
        "{what}: orientation differs by {largest}"
    );
}

/// A photograph as the oracle prepares it: integer values per channel and their divisor.
struct Photo {
    channels: usize,
    counts: Vec<u32>,
    divisor: u32,
}

impl Photo {
    fn load(case: &PhotoCase) -> Self {
        let decoded =
            image::load_from_memory(&common::read_asset(&format!("photos/{}", case.name)))
                .expect("a readable photo");
        let (width, height) = (decoded.width() as usize, decoded.height() as usize);
        let (channels, pixels) = if decoded.color().channel_count() == 1 {
            (1, decoded.to_luma8().into_raw())
        } else {
            (3, decoded.to_rgb8().into_raw())
        };
        let at = |ch: usize, r: usize, c: usize| u32::from(pixels[(r * width + c) * channels + ch]);
        let mut counts = Vec::with_capacity(channels * SIZE * SIZE);
        for ch in 0..channels {
            for r in 0..SIZE {
                for c in 0..SIZE {
                    counts.push(match case.preparation.as_str() {
                        "blocks" => {
                            at(ch, 2 * r, 2 * c)
                                + at(ch, 2 * r, 2 * c + 1)
                                + at(ch, 2 * r + 1, 2 * c)
                                + at(ch, 2 * r + 1, 2 * c + 1)
                        }
                        "crop" => at(ch, r + (height - SIZE) / 2, c + (width - SIZE) / 2),
                        other => panic!("unknown preparation {other}"),
                    });
                }
            }
        }
        let divisor = if case.preparation == "blocks" {
            1020
        } else {
            255
        };
        assert_eq!(divisor, case.divisor);
        Self {
            channels,
            counts,
            divisor,
        }
    }

    fn image(&self) -> Vec<f64> {
        self.counts
            .iter()
            .map(|&v| f64::from(v) / f64::from(self.divisor))
            .collect()
    }

    fn blurred(&self) -> Vec<f64> {
        let clamp = |i: isize| i.clamp(0, SIZE as isize - 1) as usize;
        let mut out = Vec::with_capacity(self.counts.len());
        for plane in self.counts.chunks_exact(SIZE * SIZE) {
            for r in 0..SIZE as isize {
                for c in 0..SIZE as isize {
                    let window: u32 = (-2..=2)
                        .flat_map(|dr| (-2..=2).map(move |dc| (dr, dc)))
                        .map(|(dr, dc)| plane[clamp(r + dr) * SIZE + clamp(c + dc)])
                        .sum();
                    out.push(f64::from(window) / f64::from(25 * self.divisor));
                }
            }
        }
        out
    }

    fn square(&self) -> Vec<f64> {
        let mut out = self.image();
        for plane in out.chunks_exact_mut(SIZE * SIZE) {
            for r in SQUARE_ROWS {
                plane[r * SIZE + SQUARE_COLS.start..r * SIZE + SQUARE_COLS.end].fill(1.0);
            }
        }
        out
    }

    fn masked(&self) -> Vec<f64> {
        let mut out = self.image();
        for plane in out.chunks_exact_mut(SIZE * SIZE) {
            for (p, value) in plane.iter_mut().enumerate() {
                let (r, c) = ((p / SIZE) as f64, (p % SIZE) as f64);
                let distance = (r - 128.0) * (r - 128.0) + (c - 128.0) * (c - 128.0);
                *value *= (1.0 - distance / MASK_RADIUS_SQUARED).max(0.0);
            }
        }
        let largest = out.iter().copied().fold(f64::MIN, f64::max);
        out.iter_mut().for_each(|v| *v /= largest);
        out
    }

    fn explanation(&self, name: &str) -> Vec<f64> {
        match name {
            "photo" => self.image(),
            "blurred" => self.blurred(),
            "square" => self.square(),
            "masked" => self.masked(),
            other => panic!("unknown explanation {other}"),
        }
    }
}

fn grey(photo: &Photo, image: &[f64], levels: GreyLevels) -> Vec<f64> {
    grey_levels(image, photo.channels, SIZE, SIZE, levels).expect("grey levels")
}

#[test]
fn shearletx_system_has_seventy_shearlets() {
    let system = system_256();
    assert_eq!(system.scale_count(), 7);
    assert_eq!(system.orientation_count(), 10);
    assert_eq!(system.shearlet_count(), 70);
    for case in &fixture().filters {
        let system = system_of(case.rows, case.cols, case.shear_level);
        assert_eq!(system.shearlet_count(), case.shearlets);
    }
}

#[test]
fn filters_match_pycoshrem() {
    for case in &fixture().filters {
        let what = format!("{}x{} level {}", case.rows, case.cols, case.shear_level);
        let system = system_of(case.rows, case.cols, case.shear_level);
        let (mut values, mut summaries): (f64, f64) = (0.0, 0.0);
        for (k, print) in case.bands.iter().enumerate() {
            let filter = system.filter(k);
            for (i, &[r, c]) in print.positions.iter().enumerate() {
                let want = Complex64::new(print.re[i], print.im[i]);
                let error = (filter[r * case.cols + c] - want).norm() / print.max_abs;
                values = values.max(error);
            }
            let sum: Complex64 = filter.iter().sum();
            let norm = filter.iter().map(|v| v.norm_sqr()).sum::<f64>().sqrt();
            let largest = filter.iter().map(|v| v.norm()).fold(0.0, f64::max);
            // Sums of 65536 terms, in another order than NumPy's: relative to the sum of
            // magnitudes.
            let magnitudes: f64 = filter.iter().map(|v| v.norm()).sum();
            for (ours, theirs, scale) in [
                (sum.re, print.sum_re, magnitudes),
                (sum.im, print.sum_im, magnitudes),
                (norm, print.l2_norm, print.l2_norm),
                (largest, print.max_abs, print.max_abs),
            ] {
                summaries = summaries.max((ours - theirs).abs() / scale);
            }
        }
        println!(
            "{what}: sampled values differ by {values:.1e}, sums, norms and maxima by \
             {summaries:.1e} (relative)"
        );
        assert!(
            values <= FILTER_TOLERANCE,
            "{what}: filter values differ by {values:e}"
        );
        assert!(
            summaries <= FILTER_TOLERANCE,
            "{what}: filter summaries differ by {summaries:e}"
        );
    }
}

#[test]
fn synthetic_edges_match_pycoshrem_on_non_square_systems() {
    for case in &fixture().synthetic {
        let what = format!(
            "synthetic {}x{} level {}",
            case.rows, case.cols, case.shear_level
        );
        let system = system_of(case.rows, case.cols, case.shear_level);
        // The oracle's formula: a bright disc, a mid-grey bar, a faint periodic texture.
        let (rows, cols) = (case.rows as i64, case.cols as i64);
        let grey: Vec<f64> = (0..rows)
            .flat_map(|r| (0..cols).map(move |c| (r, c)))
            .map(|(r, c)| {
                let disc = (r - rows / 3).pow(2) + (c - cols / 2).pow(2) < (rows / 4).pow(2);
                let bar = r >= rows / 2 && r < rows - 8 && (8..cols / 3).contains(&c);
                (40 + 160 * i64::from(disc) + 70 * i64::from(bar) + (r + 2 * c) % 17) as f64
            })
            .collect();
        assert_eq!(grey.iter().sum::<f64>(), case.grey_sum, "{what}: the input");
        check_detection(&what, &system, &grey, &case.detection);
    }
}

#[test]
fn photo_edges_and_orientations_match_pycoshrem() {
    for case in &fixture().photos {
        let photo = Photo::load(case);
        let grey = grey(&photo, &photo.image(), GreyLevels::Floor);
        assert_eq!(
            grey.iter().sum::<f64>(),
            case.grey_sum,
            "{}: the input",
            case.name
        );
        check_detection(&case.name, system_256(), &grey, &case.detection);
    }
}

/// The counting alone, on the reference's own edge maps: must be exact.
#[test]
fn hallucination_counts_match_scipy_on_the_reference_edge_maps() {
    for case in &fixture().photos {
        for explanation in &case.explanations {
            let image_edges = match explanation.grey {
                GreyLevels::Floor => unpack_bits(&case.detection.edges, SIZE * SIZE),
                // The oracle's wrapped photo edges are not stored; its counts still are.
                GreyLevels::ReferenceInt8 => continue,
            };
            let ours = ImageEdges::from_edges(image_edges, SIZE, SIZE)
                .compare(&unpack_bits(&explanation.detection.edges, SIZE * SIZE));
            assert_eq!(
                ours.invented_edges, explanation.invented,
                "{}",
                explanation.name
            );
            assert_eq!(ours.image_edges, explanation.image_edges);
            assert_eq!(ours.explanation_edges, explanation.explanation_edges);
        }
    }
}

/// Each explanation's edges are checked against the oracle's, then counted against the
/// photo's; the scoring entry point itself runs on the masked explanations.
#[test]
fn hallucination_scores_match_the_reference() {
    let system = system_256();
    let mut largest: f64 = 0.0;
    for case in &fixture().photos {
        let photo = Photo::load(case);
        let mut references: Vec<(GreyLevels, ImageEdges)> = Vec::new();
        for explanation in &case.explanations {
            let what = format!(
                "{} {} ({:?})",
                case.name, explanation.name, explanation.grey
            );
            let config = HallucinationConfig {
                grey: explanation.grey,
                ..HallucinationConfig::default()
            };
            if !references.iter().any(|(levels, _)| *levels == config.grey) {
                let edges = ImageEdges::of_image(system, &photo.image(), photo.channels, &config)
                    .expect("the photo's edges");
                references.push((config.grey, edges));
            }
            let reference = &references
                .iter()
                .find(|(levels, _)| *levels == config.grey)
                .unwrap()
                .1;
            let pixels = photo.explanation(&explanation.name);
            let grey = grey(&photo, &pixels, explanation.grey);
            let edges = check_detection(&what, system, &grey, &explanation.detection);
            let counts = reference.compare(&edges);
            if explanation.name == "masked" {
                let scored = reference.score(system, &pixels, photo.channels, &config);
                assert_eq!(
                    scored.expect("a score"),
                    counts,
                    "{what}: the scoring entry point"
                );
            }
            let score = counts.score().expect("the photo has edges");
            println!(
                "{what}: score {score:.6} (PyCoShREM {:.6}), {} of {} edge pixels invented",
                explanation.score, counts.invented_edges, counts.explanation_edges
            );
            if explanation.name == "photo" {
                assert_eq!(score, 0.0, "{what}: a photo invents nothing against itself");
            }
            largest = largest.max((score - explanation.score).abs());
            assert!(
                (score - explanation.score).abs() <= SCORE_TOLERANCE,
                "{what}: score {score} against {}",
                explanation.score
            );
        }
    }
    println!("hallucination scores differ by at most {largest:.1e}");
}

#[test]
fn unusable_sizes_and_inputs_are_refused() {
    assert!(EdgeSystem::new(255, 256).is_err(), "odd sides");
    assert!(EdgeSystem::new(8, 8).is_err(), "too small");
    let level_one = EdgeConfig {
        shear_level: 1,
        ..EdgeConfig::default()
    };
    assert!(EdgeSystem::with_config(64, 64, &level_one).is_err());
    let system = system_of(32, 32, 3);
    assert!(system.detect(&[0.0; 100], 3.0).is_err(), "wrong size");
    let mut grey = vec![0.0; 32 * 32];
    assert!(system.detect(&grey, -1.0).is_err(), "negative contrast");
    // A flat image has no edges (the reference's measure is 0/0 there).
    let flat = system.detect(&grey, 3.0).expect("a flat image");
    assert!(flat.strength.iter().all(|&s| s == 0.0));
    assert!(flat.orientation.iter().all(|&o| o == -1.0));
    grey[5] = f64::NAN;
    assert!(system.detect(&grey, 3.0).is_err(), "NaN pixel");
}
