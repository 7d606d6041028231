//! The token filters and the draw of `superlab::models::sampling`, which run on the device
//! without sorting.
//!
//! Filters: against Hugging Face transformers' temperature, top-k and top-p logits warpers on
//! random logits (`tests/oracle/sampling.py`, fixture `tests/fixtures/sampling.json`). The kept
//! sets must be identical (the random logits have no near-ties), and the renormalised
//! probabilities agree to 1e-6, f32 rounding of an exponential and a sum.
//!
//! The draw: each chosen token must be where the cumulative weight, summed in f64 on the host,
//! reaches `uniform * total`, within 1e-5 of the total (f32 sums of up to 500 terms).

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::fixture;
use serde::Deserialize;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::models::sampling::{Filter, filtered_weights, inverse_cdf};
use superlab::rng::{SplitMix64, named_uniform};

const PROBABILITY_TOLERANCE: f64 = 1e-6;
const DRAW_TOLERANCE: f64 = 1e-5;

#[derive(Deserialize)]
struct Fixture {
    seed: u64,
    rows: usize,
    vocab: usize,
    logit_scale: f32,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    temperature: f32,
    top_k: usize,
    top_p: f32,
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    kept: Vec<usize>,
    probs: Vec<f64>,
}

impl Fixture {
    fn logits(&self, device: &Device) -> Tensor<2> {
        let values = named_uniform(
            self.seed,
            "logits",
            self.rows * self.vocab,
            self.logit_scale,
            0.0,
        );
        Tensor::from_data(TensorData::new(values, [self.rows, self.vocab]), device)
    }
}

impl Case {
    fn filter(&self) -> Filter {
        Filter {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
        }
    }
}

fn read(tensor: Tensor<2>) -> Vec<f32> {
    (pollster::block_on(tensor.into_data_async()).expect("readable"))
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 values")
}

fn filters_match_transformers(device: &Device) {
    let fixture: Fixture = fixture("sampling");
    let logits = fixture.logits(device);
    let mut largest = 0.0f64;
    for case in &fixture.cases {
        let weights = read(filtered_weights(logits.clone(), &case.filter()));
        for (row, want) in weights.chunks_exact(fixture.vocab).zip(&case.rows) {
            let kept: Vec<usize> = (0..fixture.vocab).filter(|&i| row[i] > 0.0).collect();
            assert_eq!(
                kept, want.kept,
                "temperature {}, top-k {}, top-p {}: kept tokens",
                case.temperature, case.top_k, case.top_p
            );
            let total: f64 = kept.iter().map(|&i| f64::from(row[i])).sum();
            for (&i, &p) in kept.iter().zip(&want.probs) {
                largest = largest.max((f64::from(row[i]) / total - p).abs());
            }
        }
    }
    println!("largest difference of a kept probability: {largest:.3e}");
    assert!(
        largest <= PROBABILITY_TOLERANCE,
        "probabilities differ by {largest:e}"
    );
}

/// Every row of the fixture's filtered distributions drawn with 64 uniforms each, including
/// both ends of [0, 1).
fn draws_invert_the_cumulative_weights(device: &Device) {
    let fixture: Fixture = fixture("sampling");
    let vocab = fixture.vocab;
    let draws_per_row = 64;
    let case = &fixture.cases[0];
    let weights = filtered_weights(fixture.logits(device), &case.filter());
    let batch = fixture.rows * draws_per_row;
    let weights = weights
        .unsqueeze_dim::<3>(1)
        .repeat_dim(1, draws_per_row)
        .reshape([batch, vocab]);
    let mut numbers = SplitMix64::new(5);
    let mut uniforms: Vec<f32> = (0..batch).map(|_| numbers.unit_f32()).collect();
    uniforms[0] = 0.0;
    uniforms[1] = 1.0 - f32::EPSILON / 2.0;
    let uniform_tensor = Tensor::from_data(TensorData::new(uniforms.clone(), [batch, 1]), device);
    let chosen = inverse_cdf(weights.clone(), uniform_tensor);
    let chosen: Vec<usize> = (pollster::block_on(chosen.into_data_async()).expect("readable"))
        .convert::<i64>()
        .try_to_vec::<i64>()
        .expect("ids")
        .into_iter()
        .map(|id| id as usize)
        .collect();
    let weights = read(weights);
    let mut largest = 0.0f64;
    for ((row, &token), &uniform) in weights.chunks_exact(vocab).zip(&chosen).zip(&uniforms) {
        assert!(
            token < vocab && row[token] > 0.0,
            "drew token {token} of weight 0"
        );
        let before: f64 = row[..token].iter().map(|&w| f64::from(w)).sum();
        let through = before + f64::from(row[token]);
        let total: f64 = row.iter().map(|&w| f64::from(w)).sum();
        let target = f64::from(uniform) * total;
        let miss = (before - target).max(target - through).max(0.0) / total;
        largest = largest.max(miss);
    }
    println!("largest miss of a draw, relative to the total: {largest:.3e}");
    assert!(largest <= DRAW_TOLERANCE, "a draw misses by {largest:e}");
}

#[test]
fn filters_match_transformers_on_the_cpu() {
    filters_match_transformers(&Device::flex());
}

#[test]
fn draws_invert_the_cumulative_weights_on_the_cpu() {
    draws_invert_the_cumulative_weights(&Device::flex());
}

/// The same checks on the GPU backend, whose cumulative sum, argmin and gather kernels differ.
#[test]
fn filters_and_draws_hold_on_wgpu() {
    let device = pollster::block_on(LabDevice::acquire(
        BackendChoice::Wgpu,
        &Requirements::default(),
    ))
    .unwrap_or_else(|error| panic!("no wgpu device: {error}"));
    filters_match_transformers(&device.device);
    draws_invert_the_cumulative_weights(&device.device);
}
