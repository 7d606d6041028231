//! The real SmolLM2-135M-Instruct (the packaged Q4_1 GGUF file, read through the lab's GGUF
//! reader under Hugging Face's names and loaded through the one causal-LM entry point) against
//! transformers' LlamaForCausalLM on the same file dequantised to float32
//! (`tests/oracle/smollm2.py`, fixture `tests/fixtures/smollm2.json`).
//!
//! Tolerances: both sides compute in f32 through 30 layers, whose rounding differences grow
//! with the size of the values (logits up to about 30, hidden states up to a few hundred), so
//! each comparison is relative to the largest magnitude of what it compares, within 1e-4:
//! logits and log-sum-exps to the largest logit (seen: 2e-6), the last hidden state to its
//! largest value (1e-6), gradients to their largest magnitude (2e-5), gradient norms to the
//! norm (5e-5 for the tied embedding, whose output half carries every probability's
//! relative error, the absolute error of its logit), the loss and the sampled
//! log-probabilities absolutely (6e-6, 2e-5). Greedy decoding must give the same ids; the
//! smallest gap between the two largest logits along the way, 0.35, is far above these.

mod common;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor};
use common::{assert_close, fixture, read_asset};
use serde::Deserialize;
use std::collections::BTreeMap;
use superlab::models::CausalLm;
use superlab::models::generate::{self, SamplingConfig, tokens_tensor};
use superlab::models::gguf::LlamaGguf;
use superlab::models::language_model::LanguageModel;

const TOLERANCE: f64 = 1e-4;
/// `<|im_end|>`, which closes an assistant turn.
const END_OF_TURN: u32 = 2;

#[derive(Deserialize)]
struct Fixture {
    file: String,
    tokens: Vec<u32>,
    logits: Logits,
    last_hidden: Vec<f64>,
    loss: f64,
    gradients: BTreeMap<String, GradientSummary>,
    greedy: Greedy,
}

#[derive(Deserialize)]
struct Logits {
    log_sum_exp: Vec<f64>,
    top_ids: Vec<Vec<usize>>,
    top_values: Vec<Vec<f64>>,
    at: Vec<usize>,
    values: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct GradientSummary {
    at: Vec<usize>,
    values: Vec<f64>,
    largest: f64,
    norm: f64,
    all: Option<Vec<f64>>,
}

#[derive(Deserialize)]
struct Greedy {
    continuation: Vec<u32>,
    text: String,
    smallest_top2_margin: f64,
}

fn read<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    (pollster::block_on(tensor.into_data_async()).expect("readable"))
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 values")
}

fn load(fixture: &Fixture, device: &Device) -> LanguageModel {
    let gguf = LlamaGguf::open(&fixture.file, read_asset(&fixture.file)).expect("the GGUF file");
    let config = serde_json::to_string(gguf.config()).expect("a config.json");
    LanguageModel::from_hub(&config, &gguf, device).expect("the model loads")
}

fn largest(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |m, v| m.max(v.abs()))
}

#[test]
fn logits_and_hidden_states_match_transformers() {
    let fixture: Fixture = fixture("smollm2");
    let device = Device::flex();
    let model = load(&fixture, &device);
    let tokens = tokens_tensor(std::slice::from_ref(&fixture.tokens), &device);
    let hidden = model.hidden(tokens);
    let [_, positions, width] = hidden.dims();
    let last = hidden.clone().narrow(1, positions - 1, 1).reshape([width]);
    let scale = largest(&fixture.last_hidden);
    assert_close(
        "last hidden state / its largest magnitude",
        &read(last)
            .iter()
            .map(|&v| v / scale as f32)
            .collect::<Vec<_>>(),
        &fixture
            .last_hidden
            .iter()
            .map(|v| v / scale)
            .collect::<Vec<_>>(),
        TOLERANCE,
        false,
    );

    let vocab = model.vocab_size();
    let all = read(model.project(hidden));
    let logits = &fixture.logits;
    let scale = (logits.top_values.iter())
        .map(|row| row[0].abs())
        .fold(0.0, f64::max);
    let (mut got, mut want) = (Vec::new(), Vec::new());
    for (position, row) in all.chunks_exact(vocab).enumerate() {
        for (&at, &value) in logits.at.iter().zip(&logits.values[position]) {
            got.push(row[at] / scale as f32);
            want.push(value / scale);
        }
        for (&at, &value) in logits.top_ids[position]
            .iter()
            .zip(&logits.top_values[position])
        {
            got.push(row[at] / scale as f32);
            want.push(value / scale);
        }
        let most = row.iter().fold(f32::MIN, |m, &v| m.max(v));
        let sum: f64 = row.iter().map(|&v| f64::from(v - most).exp()).sum();
        got.push((f64::from(most) + sum.ln()) as f32 / scale as f32);
        want.push(logits.log_sum_exp[position] / scale);
        let mut order: Vec<usize> = (0..vocab).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        assert_eq!(
            order[..3],
            logits.top_ids[position][..3],
            "the three most probable tokens at position {position}"
        );
    }
    assert_eq!(positions * vocab, all.len());
    assert_close("logits / largest logit", &got, &want, TOLERANCE, false);
}

#[test]
fn loss_and_gradients_match_pytorch_autograd() {
    let fixture: Fixture = fixture("smollm2");
    let device = Device::flex().autodiff();
    let model = load(&fixture, &device);
    let tokens = tokens_tensor(std::slice::from_ref(&fixture.tokens), &device);
    let positions = fixture.tokens.len();
    let predicted = model.logits(tokens.clone()).narrow(1, 0, positions - 1);
    let targets = tokens
        .narrow(1, 1, positions - 1)
        .reshape([1, positions - 1, 1]);
    let loss = log_softmax(predicted, 2).gather(2, targets).mean().neg();
    assert_close(
        "loss",
        &read(loss.clone()),
        &[fixture.loss],
        TOLERANCE,
        false,
    );
    let gradients = loss.backward();
    let parameters = model.checkpoint_parameters();
    for (name, want) in &fixture.gradients {
        let parameter = (parameters.iter())
            .find(|tensor| &tensor.name == name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        let gradient = read(parameter.gradient(&gradients).expect("a gradient"));
        let scale = want.largest;
        let relative = |values: &[f64]| values.iter().map(|v| v / scale).collect::<Vec<_>>();
        let sampled: Vec<f32> = want
            .at
            .iter()
            .map(|&i| gradient[i] / scale as f32)
            .collect();
        assert_close(
            &format!("gradient of {name}, sampled, / its largest magnitude"),
            &sampled,
            &relative(&want.values),
            TOLERANCE,
            false,
        );
        if let Some(all) = &want.all {
            let got: Vec<f32> = gradient.iter().map(|&g| g / scale as f32).collect();
            assert_close(
                &format!("gradient of {name} / its largest magnitude"),
                &got,
                &relative(all),
                TOLERANCE,
                false,
            );
        }
        let norm = gradient
            .iter()
            .map(|&g| f64::from(g).powi(2))
            .sum::<f64>()
            .sqrt();
        assert_close(
            &format!("norm of the gradient of {name} / its norm"),
            &[(norm / want.norm) as f32],
            &[1.0],
            TOLERANCE,
            false,
        );
    }
}

/// Greedy decoding through the cache gives transformers' continuation; with `<|im_end|>` as a
/// stop token it ends with the assistant's turn.
#[test]
fn greedy_decoding_matches_transformers() {
    let fixture: Fixture = fixture("smollm2");
    let device = Device::flex();
    let model = load(&fixture, &device);
    let want = &fixture.greedy.continuation;
    let config = SamplingConfig::greedy(want.len());
    let prompts = [fixture.tokens.clone()];
    let completion = pollster::block_on(generate::generate(&model, &prompts, &config, &device))
        .expect("greedy decoding")
        .remove(0);
    println!(
        "{:?} ({:?}; smallest top-2 margin {:.3})",
        completion.tokens, fixture.greedy.text, fixture.greedy.smallest_top2_margin
    );
    assert_eq!(&completion.tokens, want);

    let until_end = SamplingConfig {
        stop_tokens: vec![END_OF_TURN],
        ..config
    };
    let completion = pollster::block_on(generate::generate(&model, &prompts, &until_end, &device))
        .expect("greedy decoding")
        .remove(0);
    let end = want
        .iter()
        .position(|&t| t == END_OF_TURN)
        .expect("the turn ends");
    assert_eq!(completion.tokens, want[..=end]);
    assert!(completion.stopped);
}

/// SuperHF's sampling (temperature 1, top-p 0.95) of a batch of one prompt: the returned
/// log-probabilities are those of a full forward pass over prompt and completion.
#[test]
fn sampled_log_probs_match_a_full_forward_pass() {
    let fixture: Fixture = fixture("smollm2");
    let device = Device::flex();
    let model = load(&fixture, &device);
    let config = SamplingConfig {
        max_new_tokens: 12,
        seed: 1,
        ..SamplingConfig::default()
    };
    let prompts = vec![fixture.tokens.clone(); 4];
    let completions = pollster::block_on(generate::generate(&model, &prompts, &config, &device))
        .expect("sampling");
    let prompt_len = fixture.tokens.len();
    let mut got = Vec::new();
    let mut want = Vec::new();
    for completion in &completions {
        let sequence = [fixture.tokens.as_slice(), &completion.tokens].concat();
        let tokens = tokens_tensor(&[sequence], &device);
        let new = completion.tokens.len();
        let log_probs = log_softmax(model.logits(tokens.clone()), 2)
            .narrow(1, prompt_len - 1, new)
            .gather(2, tokens.narrow(1, prompt_len, new).reshape([1, new, 1]));
        got.extend(completion.log_probs.iter().copied());
        want.extend(read(log_probs).into_iter().map(f64::from));
    }
    assert_close("sampled log-probabilities", &got, &want, TOLERANCE, false);
}
