//! Shared by the causal language model tests (`tests/gpt2.rs`, `tests/llama.rs`,
//! `tests/neox.rs`, `tests/generate.rs`): the fixtures of `tests/oracle/_causal_lm.py` and the
//! checks each architecture runs against them.
//!
//! Tolerance: 1e-4, absolute, on logits, hidden states, the loss and its gradients. Both sides
//! compute in f32; they differ by rounding only (summation order in matmuls and reductions,
//! the tanh or erf of GELU), which stays near 1e-6 on values of size 1-10 through these few
//! layers.
#![allow(dead_code)]

use std::collections::BTreeMap;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor};
use serde::Deserialize;
use superlab::models::CausalLm;
use superlab::models::generate::{self, tokens_tensor};
use superlab::models::language_model::LanguageModel;
use superlab::models::weights::{WeightSource, Weights};

use crate::common::{WeightSpec, assert_close, weights_from_spec};

pub const TOLERANCE: f64 = 1e-4;

#[derive(Debug, Deserialize)]
pub struct Fixture {
    pub produced_by: String,
    pub seed: u64,
    pub cases: BTreeMap<String, Case>,
}

#[derive(Debug, Deserialize)]
pub struct Case {
    /// The model's `config.json`, as `save_pretrained` would write it.
    pub config: serde_json::Value,
    pub weights: Vec<WeightSpec>,
    /// `[batch, positions]`.
    pub tokens: Vec<Vec<u32>>,
    /// `[batch, positions, vocab]`, flattened.
    pub logits: Vec<f64>,
    /// The final hidden states, `[batch, positions, width]`, flattened.
    pub hidden: Vec<f64>,
    /// The mean cross-entropy of each next token.
    pub loss: f64,
    /// The loss gradients of some parameters, under their checkpoint names, flattened.
    pub gradients: BTreeMap<String, Vec<f64>>,
    pub greedy: Greedy,
}

#[derive(Debug, Deserialize)]
pub struct Greedy {
    pub prompt: Vec<u32>,
    pub continuation: Vec<u32>,
    pub smallest_top2_margin: f64,
}

impl Case {
    pub fn weights(&self, seed: u64) -> Weights {
        weights_from_spec(seed, &self.weights)
    }

    pub fn config_json(&self) -> String {
        self.config.to_string()
    }

    /// The model through the lab's one entry point, from `config.json` and the checkpoint.
    pub fn load(&self, seed: u64, device: &Device) -> LanguageModel {
        self.load_from(&self.weights(seed), device)
    }

    pub fn load_from(&self, weights: &impl WeightSource, device: &Device) -> LanguageModel {
        LanguageModel::from_hub(&self.config_json(), weights, device)
            .unwrap_or_else(|error| panic!("the model loads: {error}"))
    }

    pub fn tokens(&self, device: &Device) -> Tensor<2, Int> {
        let rows: Vec<Vec<u32>> = self.tokens.clone();
        tokens_tensor(&rows, device)
    }
}

pub fn read<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    pollster::block_on(tensor.into_data_async())
        .expect("readable")
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 values")
}

/// Logits and final hidden states of the whole token batch, in one pass without a cache.
pub fn check_logits_and_hidden(name: &str, case: &Case, seed: u64, device: &Device) {
    let model = case.load(seed, device);
    check_model_logits(name, &model, case, device);
    let hidden = model.hidden(case.tokens(device));
    assert_eq!(
        hidden.dims()[2],
        model.width(),
        "{name}: hidden states are [batch, positions, width]"
    );
    assert_close(
        &format!("{name} final hidden states"),
        &read(hidden),
        &case.hidden,
        TOLERANCE,
        false,
    );
}

pub fn check_model_logits(name: &str, model: &impl CausalLm, case: &Case, device: &Device) {
    let logits = model.logits(case.tokens(device));
    let [batch, positions, vocab] = logits.dims();
    assert_eq!(
        [batch, positions],
        [case.tokens.len(), case.tokens[0].len()]
    );
    assert_eq!(vocab, model.vocab_size());
    assert_close(
        &format!("{name} logits"),
        &read(logits),
        &case.logits,
        TOLERANCE,
        false,
    );
}

/// The mean next-token cross-entropy of the batch, and its gradients under burn's autodiff.
pub fn check_loss_and_gradients(name: &str, case: &Case, seed: u64) {
    let device = Device::flex().autodiff();
    let model = case.load(seed, &device);
    let tokens = case.tokens(&device);
    let [batch, positions] = tokens.dims();
    let logits = model.logits(tokens.clone());
    let vocab = model.vocab_size();
    let predicted = logits.narrow(1, 0, positions - 1);
    let targets = tokens
        .narrow(1, 1, positions - 1)
        .reshape([batch, positions - 1, 1]);
    let loss = log_softmax(predicted, 2).gather(2, targets).mean().neg();
    assert_eq!(vocab, case.config["vocab_size"].as_u64().unwrap() as usize);
    assert_close(
        &format!("{name} loss"),
        &read(loss.clone()),
        &[case.loss],
        TOLERANCE,
        false,
    );
    let gradients = loss.backward();
    let parameters = model.checkpoint_parameters();
    for (parameter, want) in &case.gradients {
        let held = (parameters.iter())
            .find(|tensor| &tensor.name == parameter)
            .unwrap_or_else(|| panic!("{name}: the model lists no parameter {parameter}"));
        let gradient = held
            .gradient(&gradients)
            .unwrap_or_else(|| panic!("{name}: no gradient reached {parameter}"));
        assert_close(
            &format!("{name} gradient of {parameter}"),
            &read(gradient),
            want,
            TOLERANCE,
            false,
        );
    }
}

/// Greedy decoding of the fixture's prompt through the key-value cache.
pub fn check_greedy(name: &str, case: &Case, seed: u64, device: &Device) {
    let model = case.load(seed, device);
    let new_tokens = case.greedy.continuation.len();
    let continuation = pollster::block_on(generate::greedy(
        &model,
        &case.greedy.prompt,
        new_tokens,
        device,
    ))
    .expect("greedy decoding");
    println!(
        "{name}: greedy continuation {continuation:?} (reference's smallest top-2 margin {:.2e})",
        case.greedy.smallest_top2_margin
    );
    assert_eq!(
        continuation, case.greedy.continuation,
        "{name}: greedy continuation"
    );
}

/// The checkpoint's parameters listed back under the names they were loaded from, with the
/// checkpoint's shapes and values.
pub fn check_checkpoint_parameters(name: &str, case: &Case, seed: u64, device: &Device) {
    let weights = case.weights(seed);
    let model = case.load_from(&weights, device);
    let listed = model.checkpoint_parameters();
    let mut names: Vec<&str> = listed.iter().map(|tensor| tensor.name.as_str()).collect();
    names.sort();
    let mut stored = weights.names();
    stored.sort();
    assert_eq!(
        names, stored,
        "{name}: the parameters are the checkpoint's tensors"
    );
    for tensor in &listed {
        let (values, shape) = weights.read_f32(&tensor.name).unwrap();
        assert_eq!(tensor.shape(), shape, "{name}: shape of {}", tensor.name);
        let want: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
        let got = read(tensor.values());
        assert!(
            got.iter().zip(&want).all(|(g, w)| f64::from(*g) == *w),
            "{name}: {} reads back its checkpoint values",
            tensor.name
        );
    }
}

/// A checkpoint seen under other names: `rename` maps a name the model asks for to the
/// stored one, or to `None` when the renamed checkpoint has no such tensor.
pub struct Renamed<'w, F> {
    pub inner: &'w Weights,
    pub rename: F,
}

impl<F: Fn(&str) -> Option<String>> WeightSource for Renamed<'_, F> {
    fn contains(&self, name: &str) -> bool {
        (self.rename)(name).is_some_and(|stored| self.inner.contains(&stored))
    }

    fn read_f32(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), superlab::LabError> {
        match (self.rename)(name) {
            Some(stored) => self.inner.read_f32(&stored),
            None => Err(superlab::LabError::Weights(format!("no tensor {name}"))),
        }
    }
}
