//! Reward models on causal language models against transformers' `GPT2ForSequenceClassification`,
//! `GPTNeoXForSequenceClassification` and `LlamaForSequenceClassification` with one label, on
//! tiny random checkpoints (`tests/oracle/causal_reward.py`, fixture
//! `tests/fixtures/causal_reward.json`): the reward of each sequence of a right-padded batch,
//! read at its last real token, and the final hidden states of the real tokens.
//!
//! Tolerance 1e-4, absolute: both sides compute in f32 through two layers with values of order
//! one, and differ by summation order only (about 1e-6).

mod common;

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor};
use common::{WeightSpec, assert_close, weights_from_spec};
use serde::Deserialize;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::models::CausalLm;
use superlab::models::encoder::batch::TokenBatch;
use superlab::models::encoder::reward::RewardModel;
use superlab::superhf::reward::causal_lm::CausalLmReward;

const TOLERANCE: f64 = 1e-4;

#[derive(Deserialize)]
struct Fixture {
    seed: u64,
    cases: BTreeMap<String, Case>,
}

#[derive(Deserialize)]
struct Case {
    config: serde_json::Value,
    weights: Vec<WeightSpec>,
    tokens: Vec<Vec<u32>>,
    mask: Vec<Vec<u32>>,
    last_positions: Vec<usize>,
    /// `[batch, seq, width]`, flattened; padded positions included.
    hidden: Vec<f64>,
    rewards: Vec<f64>,
}

impl Case {
    fn lengths(&self) -> Vec<usize> {
        (self.mask.iter())
            .map(|row| row.iter().sum::<u32>() as usize)
            .collect()
    }

    fn batch(&self, device: &Device) -> TokenBatch {
        let sequences: Vec<&[u32]> = (self.tokens.iter().zip(self.lengths()))
            .map(|(row, length)| &row[..length])
            .collect();
        TokenBatch::right_padded(&sequences, 0, device).unwrap()
    }

    fn load(&self, seed: u64, device: &Device) -> CausalLmReward {
        let weights = weights_from_spec(seed, &self.weights);
        CausalLmReward::from_hub(&self.config.to_string(), &weights, device)
            .unwrap_or_else(|error| panic!("the reward model loads: {error}"))
    }
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    let data = pollster::block_on(tensor.into_data_async()).unwrap();
    data.convert::<f32>().try_into_vec().unwrap()
}

/// The rewards of a right-padded batch, and the hidden states they are read from.
#[test]
fn rewards_match_transformers() {
    let fixture: Fixture = common::fixture("causal_reward");
    let device = Device::flex();
    for (name, case) in &fixture.cases {
        // The lab reads each reward at the batch's last real token; transformers at the
        // right-most token that is not padding: the same positions here.
        let last: Vec<usize> = case.lengths().iter().map(|length| length - 1).collect();
        assert_eq!(last, case.last_positions, "{name}");

        let model = case.load(fixture.seed, &device);
        let batch = case.batch(&device);
        let hidden = values(model.model.hidden(batch.tokens()));
        let width = model.model.width();
        let seq = case.tokens[0].len();
        let (mut got, mut want) = (Vec::new(), Vec::new());
        for (row, length) in case.lengths().into_iter().enumerate() {
            let real = row * seq * width..(row * seq + length) * width;
            got.extend_from_slice(&hidden[real.clone()]);
            want.extend_from_slice(&case.hidden[real]);
        }
        assert_close(
            &format!("{name} hidden states of real tokens"),
            &got,
            &want,
            TOLERANCE,
            false,
        );
        let rewards = values(model.rewards(&batch).unwrap());
        assert_close(
            &format!("{name} rewards"),
            &rewards,
            &case.rewards,
            TOLERANCE,
            false,
        );
    }
}

/// Padding after a text changes nothing: each text alone gets the reward it gets in the batch.
#[test]
fn each_text_alone_gets_its_batch_reward() {
    let fixture: Fixture = common::fixture("causal_reward");
    let device = Device::flex();
    let case = &fixture.cases["llama"];
    let model = case.load(fixture.seed, &device);
    for (row, length) in case.lengths().into_iter().enumerate() {
        let alone = TokenBatch::right_padded(&[&case.tokens[row][..length]], 0, &device).unwrap();
        let reward = values(model.rewards(&alone).unwrap());
        assert_close(
            &format!("text {row} alone"),
            &reward,
            &case.rewards[row..=row],
            TOLERANCE,
            false,
        );
    }
}

/// The same rewards on wgpu (Vulkan; Mesa's lavapipe without a GPU), where the page scores.
#[test]
fn rewards_match_transformers_on_wgpu() {
    let fixture: Fixture = common::fixture("causal_reward");
    let lab_device = pollster::block_on(LabDevice::acquire(
        BackendChoice::Wgpu,
        &Requirements::default(),
    ))
    .expect("a wgpu device");
    let device = lab_device.device.clone();
    let case = &fixture.cases["gpt2"];
    let model = case.load(fixture.seed, &device);
    let rewards = values(model.rewards(&case.batch(&device)).unwrap());
    assert_close(
        "gpt2 rewards, wgpu",
        &rewards,
        &case.rewards,
        TOLERANCE,
        false,
    );
}

fn load_error(config: &serde_json::Value, specs: &[WeightSpec], seed: u64) -> String {
    let weights = weights_from_spec(seed, specs);
    match CausalLmReward::from_hub(&config.to_string(), &weights, &Device::flex()) {
        Ok(_) => panic!("loading should fail"),
        Err(error) => {
            println!("{error}");
            error.to_string()
        }
    }
}

/// A language-model head instead of a score, several labels and a missing score are errors
/// that say what a causal reward model is.
#[test]
fn checkpoints_that_are_no_reward_model_are_clear_errors() {
    let fixture: Fixture = common::fixture("causal_reward");
    let case = &fixture.cases["gpt2"];
    let mut config = case.config.clone();
    config["architectures"] = serde_json::json!(["GPT2LMHeadModel"]);
    let message = load_error(&config, &case.weights, fixture.seed);
    assert!(message.contains("GPT2LMHeadModel") && message.contains("ForSequenceClassification"));

    let mut config = case.config.clone();
    config["id2label"] = serde_json::json!({"0": "NEGATIVE", "1": "POSITIVE"});
    let message = load_error(&config, &case.weights, fixture.seed);
    assert!(message.contains("2 labels"), "{message}");

    let specs: Vec<WeightSpec> = (case.weights.iter())
        .filter(|spec| spec.name != "score.weight")
        .cloned()
        .collect();
    let message = load_error(&case.config, &specs, fixture.seed);
    assert!(message.contains("score.weight"), "{message}");
}

/// A causal reward model trains end to end through the same loop as the encoders: three
/// preference pairs of the fixture's texts, learnt in a few epochs of Adam.
#[test]
fn a_causal_reward_model_trains_on_preferences() {
    use superlab::progress::Silent;
    use superlab::superhf::reward::{
        RewardLoss, RewardTrainingConfig, TokenisedData, TokenisedItems, train_reward_model,
    };
    let fixture: Fixture = common::fixture("causal_reward");
    let case = &fixture.cases["gpt2"];
    let lab_device = LabDevice::cpu(None);
    let texts: Vec<Vec<u32>> = (case.tokens.iter().zip(case.lengths()))
        .map(|(row, length)| row[..length].to_vec())
        .collect();
    // A consistent order: text 0 before 1 before 2.
    let pick = |indices: [usize; 3]| indices.map(|i| texts[i].clone()).to_vec();
    let data = TokenisedData {
        pad_id: 0,
        items: TokenisedItems::Pairs {
            chosen: pick([0, 0, 1]),
            rejected: pick([1, 2, 2]),
        },
    };
    let config = RewardTrainingConfig {
        loss: RewardLoss::BradleyTerry,
        epochs: 8,
        batch_size: 3,
        learning_rate: 1e-3,
        train_encoder: true,
        validation_fraction: 0.0,
        ..RewardTrainingConfig::default()
    };
    let model = case.load(fixture.seed, &lab_device.device);
    let run = pollster::block_on(train_reward_model(
        model,
        &data,
        &config,
        &lab_device,
        &mut Silent,
    ))
    .unwrap()
    .completed()
    .unwrap();
    let losses: Vec<f64> = (run.report.steps.iter())
        .map(|step| step.metrics["train_loss"])
        .collect();
    println!("Bradley-Terry losses: {losses:?}");
    assert!(losses[7] < 0.1 * losses[0], "{losses:?}");
    let rewards = values(run.model.rewards(&case.batch(&lab_device.device)).unwrap());
    assert!(
        rewards[0] > rewards[1] && rewards[1] > rewards[2],
        "{rewards:?}"
    );
}
