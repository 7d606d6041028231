//! SuperHF on the GPU backend (Mesa's lavapipe where there is no GPU), as the page runs it:
//! LoRA logits against peft's (`tests/fixtures/lora.json`, tolerance 1e-4 as in
//! `tests/lora.rs`), and a short run of the tiny models that finishes with finite loss, KL and
//! rewards and a moved adapter; the same for a short PPO run, whose value head must also read
//! back from the GPU. Sampling on another backend may round logits differently, so the runs
//! are not compared number for number with the CPU's.

mod common;
mod tiny_superhf;

use burn::tensor::Device;
use common::{assert_close, fixture, weights_from_spec};
use serde::Deserialize;
use std::collections::BTreeMap;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::models::CausalLm;
use superlab::models::generate::tokens_tensor;
use superlab::models::language_model::LanguageModel;
use superlab::models::lora::{LoraConfig, PeftAdapterConfig};
use superlab::progress::Silent;
use superlab::report::RunStatus;
use superlab::superhf::models::RunModels;
use superlab::superhf::report::{ModelIdentity, ModelsUsed};
use superlab::superhf::rollout::RewardScorer;
use superlab::superhf::{ppo_train, train};

fn wgpu() -> LabDevice {
    let device = pollster::block_on(LabDevice::acquire(
        BackendChoice::Wgpu,
        &Requirements::default(),
    ))
    .unwrap_or_else(|error| panic!("no wgpu device: {error}"));
    println!("wgpu: {}", device.report.description);
    device
}

fn read<const D: usize>(tensor: burn::tensor::Tensor<D>) -> Vec<f32> {
    pollster::block_on(tensor.into_data_async())
        .unwrap()
        .try_to_vec::<f32>()
        .unwrap()
}

#[derive(Deserialize)]
struct LoraFixture {
    seed: u64,
    rank: usize,
    alpha: f64,
    cases: BTreeMap<String, LoraCase>,
}

#[derive(Deserialize)]
struct LoraCase {
    config: serde_json::Value,
    weights: Vec<common::WeightSpec>,
    adapter: Vec<common::WeightSpec>,
    tokens: Vec<Vec<u32>>,
    logits_policy: Vec<f64>,
}

fn lora_logits_match_peft(device: &Device) {
    let f: LoraFixture = fixture("lora");
    let case = &f.cases["llama"];
    let weights = weights_from_spec(f.seed, &case.weights);
    let model = LanguageModel::from_hub(&case.config.to_string(), &weights, device).unwrap();
    let lora = LoraConfig {
        rank: f.rank,
        alpha: f.alpha,
        dropout: 0.0,
        target_modules: Vec::new(),
    };
    let config = PeftAdapterConfig::new(&lora, "llama", "");
    let adapter = weights_from_spec(f.seed, &case.adapter);
    let model = model
        .load_adapter(&serde_json::to_string(&config).unwrap(), &adapter)
        .unwrap();
    let logits = model.logits(tokens_tensor(&case.tokens, device));
    let what = "llama with its adapter, on wgpu: logits";
    assert_close(what, &read(logits), &case.logits_policy, 1e-4, false);
}

#[test]
fn lora_and_a_superhf_run_work_on_wgpu() {
    let device = wgpu();
    lora_logits_match_peft(&device.device);

    let tokenizer = tiny_superhf::tokenizer();
    let reward = tiny_superhf::reward_model(tiny_superhf::REWARD_SEED, &device.device);
    let identity = || ModelIdentity {
        id: "tiny".into(),
        files: Vec::new(),
    };
    let models = RunModels {
        policy: tiny_superhf::policy(&device.device),
        tokenizer: &tokenizer,
        reward: RewardScorer::new(&reward, &tokenizer, &device.device),
        heldout: None,
        used: ModelsUsed {
            policy: identity(),
            reward: identity(),
            heldout_reward: None,
        },
    };
    let mut config = tiny_superhf::config(3, 3);
    config.warmup_steps = 0;
    let outcome = pollster::block_on(train::run(&device, config, models, &mut Silent)).unwrap();
    let report = outcome.report;
    assert!(
        matches!(report.status, RunStatus::Completed),
        "{:?}",
        report.status
    );
    let series = &report.result.as_ref().unwrap().series;
    println!(
        "wgpu run: reward {:?}, kl {:?}",
        series.reward_train, series.kl
    );
    assert!(series.reward_train.iter().all(|r| r.is_finite()));
    let kl: Vec<f64> = series.kl.iter().map(|kl| kl.unwrap()).collect();
    assert!(
        kl[0].abs() < 1e-5 && kl[2].is_finite() && kl[2] > 1e-4,
        "{kl:?}"
    );
    assert!(series.loss.iter().all(|loss| loss.unwrap().is_finite()));
    let moved = (outcome.policy.adapter_tensors().iter())
        .filter(|tensor| tensor.name.contains("lora_B"))
        .any(|tensor| read(tensor.values()).iter().any(|v| v.abs() > 1e-4));
    assert!(moved, "the adapters trained");
}

#[test]
fn a_ppo_run_works_on_wgpu() {
    let models = tiny_superhf::TinyModels::new(wgpu());
    let mut config = tiny_superhf::ppo_config(2, 3);
    // One epoch of two minibatches keeps the run short on a software GPU.
    config.ppo.epochs = 1;
    config.ppo.minibatch_size = 8;
    let mut progress = Silent;
    let run = ppo_train::run(&models.device, config, models.models(false), &mut progress);
    let outcome = pollster::block_on(run).unwrap();
    let report = &outcome.report;
    assert!(
        matches!(report.status, RunStatus::Completed),
        "{:?}",
        report.status
    );
    let series = &report.result.as_ref().unwrap().series;
    println!(
        "wgpu PPO run: reward {:?}, kl {:?}, loss {:?}",
        series.reward_train, series.kl, series.loss
    );
    assert!(series.reward_train.iter().all(|r| r.is_finite()));
    assert!(series.reward_heldout.iter().all(Option::is_none));
    let kl: Vec<f64> = series.kl.iter().map(|kl| kl.unwrap()).collect();
    assert!(
        kl[0].abs() < 1e-5 && kl[1].is_finite() && kl[1] > 1e-4,
        "{kl:?}"
    );
    let terms = [&series.loss, &series.value_loss, &series.approximate_kl];
    assert!(
        terms
            .iter()
            .all(|term| term.iter().all(|v| v.unwrap().is_finite()))
    );
    let moved = (outcome.model.policy.adapter_tensors().iter())
        .filter(|tensor| tensor.name.contains("lora_B"))
        .any(|tensor| read(tensor.values()).iter().any(|v| v.abs() > 1e-4));
    assert!(moved, "the adapters trained");
    let head = pollster::block_on(outcome.model.value_head.safetensors()).unwrap();
    assert!(head.len() > 32 * 4, "the value head reads back");
}
