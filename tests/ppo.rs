//! One PPO update against an independent PyTorch computation.
//!
//! `tests/fixtures/ppo_update.json` comes from `tests/oracle/ppo_update.py`: a tiny GPT-2
//! policy with a value head and a reference policy (weights drawn by name), four rollouts of
//! different prompt and response lengths with fixed scores; PyTorch computes the old
//! log-probabilities and values, the advantages, and two epochs of two minibatch steps with
//! SGD (parameters compared) and with Adam (step losses compared). Tolerance 1e-4 relative:
//! both sides compute in f32 and the four steps compound rounding. The same fixture holds
//! SuperHF's KL of the batch under the initial policy (`batch_kl`, which a PPO run reports as
//! `kl`), computed by PyTorch in float64 from float32 logits; tolerance 1e-5 relative, f32
//! rounding of a sum over the vocabulary.

mod common;

use burn::optim::{AdamConfig, SgdConfig};
use burn::tensor::Device;
use common::{WeightSpec, assert_close, fixture, weights_from_spec};
use serde::Deserialize;
use std::collections::BTreeMap;
use superlab::models::language_model::LanguageModel;
use superlab::superhf::ppo::{PolicyWithValue, PpoConfig, Rollouts, ValueHead, update};
use superlab::superhf::ppo_train::batch_kl;

const TOLERANCE: f64 = 1e-4;

#[derive(Deserialize)]
struct Fixture {
    seed: u64,
    reference_seed: u64,
    config: serde_json::Value,
    prompt_lengths: Vec<usize>,
    settings: Settings,
    sgd_rate: f64,
    adam_rate: f64,
    sgd: Run,
    adam_step_losses: Vec<f64>,
    batch_kl: f64,
}

#[derive(Deserialize)]
struct Settings {
    kl_coefficient: f64,
    gamma: f64,
    lam: f64,
    clip_ratio: f64,
    clip_value: f64,
    value_coefficient: f64,
    epochs: usize,
    minibatch_size: usize,
}

#[derive(Deserialize)]
struct Run {
    weights: Vec<WeightSpec>,
    reference_weights: Vec<WeightSpec>,
    rows: Vec<Vec<u32>>,
    scores: Vec<f32>,
    step_losses: Vec<f64>,
    parameters: BTreeMap<String, Vec<f64>>,
}

fn config(f: &Fixture, learning_rate: f64) -> PpoConfig {
    let s = &f.settings;
    PpoConfig {
        kl_coefficient: s.kl_coefficient,
        gamma: s.gamma,
        lambda: s.lam,
        clip_ratio: s.clip_ratio,
        clip_value: s.clip_value,
        value_coefficient: s.value_coefficient,
        epochs: s.epochs,
        minibatch_size: s.minibatch_size,
        learning_rate,
        whiten_scores: true,
        shuffle: false,
        ..PpoConfig::default()
    }
}

fn models(f: &Fixture, device: &Device) -> (PolicyWithValue, LanguageModel) {
    let config = f.config.to_string();
    let load = |seed, spec: &[WeightSpec]| {
        LanguageModel::from_hub(&config, &weights_from_spec(seed, spec), device).unwrap()
    };
    let policy = load(f.seed, &f.sgd.weights);
    let width = f.config["n_embd"].as_u64().unwrap() as usize;
    let model = PolicyWithValue {
        policy,
        value_head: ValueHead::new(width, f.seed, device),
    };
    (model, load(f.reference_seed, &f.sgd.reference_weights))
}

fn rollouts(f: &Fixture) -> Rollouts {
    Rollouts {
        rows: f.sgd.rows.clone(),
        prompt_lengths: f.prompt_lengths.clone(),
        scores: f.sgd.scores.clone(),
    }
}

fn read(tensor: burn::tensor::Tensor<2>) -> Vec<f32> {
    tensor.into_data().try_into_vec::<f32>().unwrap()
}

/// Each listed parameter after the update, flattened in the checkpoint's layout.
fn parameters(model: &PolicyWithValue) -> BTreeMap<String, Vec<f32>> {
    use superlab::models::CausalLm;
    let mut values: BTreeMap<String, Vec<f32>> = (model.policy.checkpoint_parameters())
        .into_iter()
        .map(|p| (p.name.clone(), read(p.values().unsqueeze::<2>())))
        .collect();
    let head = &model.value_head;
    values.insert("value_head.weight".into(), read(head.weight.val()));
    values.insert(
        "value_head.bias".into(),
        read(head.bias.val().unsqueeze::<2>()),
    );
    values
}

#[test]
fn one_update_with_sgd_matches_pytorch() {
    let f: Fixture = fixture("ppo_update");
    let device = Device::flex().autodiff();
    let (model, reference) = models(&f, &device);
    let mut optimizer = SgdConfig::new().init();
    let (model, stats) = pollster::block_on(update(
        model,
        &reference,
        &mut optimizer,
        &rollouts(&f),
        &config(&f, f.sgd_rate),
        f.settings.kl_coefficient,
        |n| (0..n).collect(),
    ))
    .unwrap();
    let losses: Vec<f32> = stats.step_losses.iter().map(|&l| l as f32).collect();
    assert_close("step losses", &losses, &f.sgd.step_losses, TOLERANCE, true);
    let got = parameters(&model);
    for (name, want) in &f.sgd.parameters {
        let what = format!("{name} after the update");
        assert_close(&what, &got[name], want, TOLERANCE, true);
    }
}

#[test]
fn one_update_with_adam_matches_pytorch_losses() {
    let f: Fixture = fixture("ppo_update");
    let device = Device::flex().autodiff();
    let (model, reference) = models(&f, &device);
    let mut optimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let (_, stats) = pollster::block_on(update(
        model,
        &reference,
        &mut optimizer,
        &rollouts(&f),
        &config(&f, f.adam_rate),
        f.settings.kl_coefficient,
        |n| (0..n).collect(),
    ))
    .unwrap();
    let losses: Vec<f32> = stats.step_losses.iter().map(|&l| l as f32).collect();
    assert_close(
        "Adam step losses",
        &losses,
        &f.adam_step_losses,
        TOLERANCE,
        true,
    );
    assert!(
        stats.kl.is_finite() && stats.kl != 0.0,
        "the reference differs from the policy"
    );
}

#[test]
fn bad_batches_and_settings_are_errors() {
    let f: Fixture = fixture("ppo_update");
    let device = Device::flex().autodiff();
    let mut optimizer = SgdConfig::new().init();
    let mut empty_response = rollouts(&f);
    empty_response.prompt_lengths[0] = empty_response.rows[0].len();
    let mut bad_config = config(&f, 0.1);
    bad_config.lambda = 1.5;
    for (batch, settings, expected) in [
        (empty_response, config(&f, 0.1), "response token"),
        (rollouts(&f), bad_config, "lambda"),
    ] {
        let (model, reference) = models(&f, &device);
        let outcome = pollster::block_on(update(
            model,
            &reference,
            &mut optimizer,
            &batch,
            &settings,
            0.2,
            |n| (0..n).collect(),
        ));
        let message = outcome.expect_err("an error").to_string();
        assert!(message.contains(expected), "{message}");
    }
}

/// Three rows per pass, so that the last pass holds one row of its own length, and one pass of
/// all four: the KL is the same mean over every response position.
#[test]
fn the_batch_kl_matches_pytorch() {
    let f: Fixture = fixture("ppo_update");
    let device = Device::flex();
    let (model, reference) = models(&f, &device);
    for rows_per_pass in [3, 4] {
        let kl = pollster::block_on(batch_kl(
            &model.policy,
            &reference,
            &rollouts(&f),
            rows_per_pass,
            &device,
        ))
        .unwrap();
        let what = format!("batch KL, {rows_per_pass} rows per pass");
        assert_close(&what, &[kl as f32], &[f.batch_kl], 1e-5, true);
    }
}
