//! Reward-model training against PyTorch, and the training loop's behaviour: repeatable runs,
//! Stop, divergence, and clear errors for malformed data.
//!
//! The reference values come from `tests/oracle/reward_training.py`: tiny random BERT and
//! DistilBERT encoders (transformers, evaluation mode) with a linear head on mean-pooled hidden
//! states, one step of `torch.optim.Adam` or `AdamW` on the mean squared error or the
//! Bradley-Terry loss, with the encoder trained or frozen. The lab runs the same step through
//! its training loop (one epoch, one minibatch holding every item).
//!
//! Tolerance 1e-5, relative to the largest magnitude of each compared tensor: both sides compute
//! in f32 through two layers, and rounding differs by summation order only (about 1e-7 of the
//! values). Adam's first step moves a parameter by `lr * g / (|g| + 1e-8)`, about `lr * sign(g)`,
//! which rounding could flip only where `|g|` is near zero; the fixture records the smallest
//! nonzero `|g|` of every compared tensor and the test checks it stays far above that.

mod common;

use std::collections::BTreeMap;

use burn::tensor::{Device, Int, Tensor};
use common::{WeightSpec, assert_close, weights_from_spec};
use serde::Deserialize;
use superlab::LabError;
use superlab::device::LabDevice;
use superlab::models::checkpoint::CheckpointTensor;
use superlab::models::encoder::batch::TokenBatch;
use superlab::models::encoder::reward::{EncoderReward, PooledScalarHead, RewardModel, Scorer};
use superlab::progress::{Control, Progress, Silent, StepEvent};
use superlab::report::RunStatus;
use superlab::superhf::loss::bradley_terry;
use superlab::superhf::reward::checkpoint::{pooled_reward_tensors, to_safetensors};
use superlab::superhf::reward::{
    OptimizerKind, RewardData, RewardLoss, RewardTrainingConfig, TokenisedData, TokenisedItems,
    regression_loss, train_encoder_reward,
};

const TOLERANCE: f64 = 1e-5;
/// Gradients this far from zero keep their sign and Adam's step through f32 rounding (about
/// 1e-7 of the largest gradient, which is below 6 in every case).
const SMALLEST_SAFE_GRADIENT: f64 = 1e-6;

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
    /// Regression labels, or none for pairs (rows 0 and 1, 2 and 3, ...; the first chosen).
    labels: Option<Vec<f32>>,
    optimizer: String,
    learning_rate: f64,
    weight_decay: f64,
    frozen: bool,
    loss: f64,
    gradients: BTreeMap<String, Vec<f64>>,
    smallest_gradient: BTreeMap<String, f64>,
    updated: BTreeMap<String, Vec<f64>>,
    unmoved: BTreeMap<String, Vec<f64>>,
}

impl Case {
    fn model(&self, seed: u64, device: &Device) -> EncoderReward {
        let weights = weights_from_spec(seed, &self.weights);
        EncoderReward::from_hub(&self.config.to_string(), &weights, device).unwrap()
    }

    /// Each row cut back to its real tokens.
    fn sequences(&self) -> Vec<Vec<u32>> {
        (self.tokens.iter().zip(&self.mask))
            .map(|(row, mask)| row[..mask.iter().sum::<u32>() as usize].to_vec())
            .collect()
    }

    fn data(&self) -> TokenisedData {
        let sequences = self.sequences();
        let items = match &self.labels {
            Some(labels) => TokenisedItems::Labelled {
                sequences,
                labels: labels.clone(),
            },
            None => TokenisedItems::Pairs {
                chosen: sequences.iter().step_by(2).cloned().collect(),
                rejected: sequences.iter().skip(1).step_by(2).cloned().collect(),
            },
        };
        TokenisedData { pad_id: 0, items }
    }

    fn training(&self) -> RewardTrainingConfig {
        RewardTrainingConfig {
            loss: match self.labels {
                Some(_) => RewardLoss::Regression,
                None => RewardLoss::BradleyTerry,
            },
            epochs: 1,
            batch_size: self.tokens.len(),
            learning_rate: self.learning_rate,
            optimizer: match self.optimizer.as_str() {
                "adam" => OptimizerKind::Adam,
                _ => OptimizerKind::AdamW,
            },
            weight_decay: self.weight_decay,
            train_encoder: !self.frozen,
            validation_fraction: 0.0,
            ..RewardTrainingConfig::default()
        }
    }
}

fn fixture() -> Fixture {
    common::fixture("reward_training")
}

fn values(tensor: Tensor<1>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_into_vec().unwrap()
}

fn pooled(model: &EncoderReward) -> &PooledScalarHead {
    match &model.scorer {
        Scorer::Pooled(pooled) => pooled,
        _ => panic!("a plain encoder gets a pooled head"),
    }
}

fn named<'a>(tensors: &'a [CheckpointTensor], name: &str) -> &'a CheckpointTensor {
    (tensors.iter().find(|t| t.name == name)).unwrap_or_else(|| panic!("no parameter {name}"))
}

/// The loss and its gradients, from the lab's reward model and loss functions on an autodiff
/// device (the encoder's gradients are those of the trainable case even when frozen, since
/// PyTorch reports the head's only).
#[test]
fn losses_and_gradients_match_pytorch() {
    let fixture = fixture();
    let device = Device::flex().autodiff();
    for (name, case) in &fixture.cases {
        let model = case.model(fixture.seed, &device);
        let batch = TokenBatch::right_padded(&case.sequences(), 0, &device).unwrap();
        let rewards = model.rewards(&batch).unwrap();
        let loss = match &case.labels {
            Some(labels) => regression_loss(rewards, Tensor::from_floats(&labels[..], &device)),
            None => {
                let [count] = rewards.dims();
                let rows = |start| Tensor::<1, Int>::arange_step(start..count as i64, 2, &device);
                bradley_terry(
                    rewards.clone().select(0, rows(0)),
                    rewards.select(0, rows(1)),
                )
            }
        };
        assert_close(
            &format!("{name} loss"),
            &values(loss.clone()),
            &[case.loss],
            TOLERANCE,
            true,
        );
        let grads = loss.backward();
        let tensors = pooled_reward_tensors(pooled(&model));
        for (parameter, want) in &case.gradients {
            let gradient = named(&tensors, parameter).gradient(&grads).unwrap();
            assert_close(
                &format!("{name} d loss / d {parameter}"),
                &values(gradient),
                want,
                TOLERANCE,
                true,
            );
        }
    }
}

/// One epoch of one minibatch through the lab's training loop: the loss it reports and the
/// parameters after its Adam or AdamW step; a frozen encoder stays exactly as loaded.
#[test]
fn one_optimiser_step_matches_pytorch() {
    let fixture = fixture();
    let lab_device = LabDevice::cpu(None);
    for (name, case) in &fixture.cases {
        for (parameter, &smallest) in &case.smallest_gradient {
            assert!(
                smallest > SMALLEST_SAFE_GRADIENT,
                "{name} {parameter}: a gradient of {smallest:e} is too close to zero to compare \
                 Adam's first step"
            );
        }
        let model = case.model(fixture.seed, &lab_device.device);
        let run = pollster::block_on(train_encoder_reward(
            model,
            &case.data(),
            &case.training(),
            &lab_device,
            &mut Silent,
        ))
        .unwrap()
        .completed()
        .unwrap();
        let result = run.report.result.as_ref().unwrap();
        assert_eq!(result.epochs_finished, 1);
        assert_close(
            &format!("{name} reported loss"),
            &[result.train_loss.unwrap() as f32],
            &[case.loss],
            TOLERANCE,
            true,
        );
        let tensors = pooled_reward_tensors(pooled(&run.model));
        for (parameter, want) in case.updated.iter().chain(&case.unmoved) {
            assert_close(
                &format!("{name} {parameter} after the step"),
                &values(named(&tensors, parameter).values()),
                want,
                TOLERANCE,
                true,
            );
        }
        if case.frozen {
            for (parameter, want) in &case.unmoved {
                let got = values(named(&tensors, parameter).values());
                // As f32: serde_json may round the last bit of an f64 it parses.
                let same = got.iter().zip(want).all(|(&g, &w)| g == w as f32);
                assert!(same, "{name}: the frozen encoder's {parameter} moved");
            }
        }
    }
}

/// A larger labelled set on the BERT case's encoder: ten texts per label sign, cut from the
/// case's token rows, so that a validation split and several minibatches exist.
fn labelled_set(case: &Case) -> TokenisedData {
    let base = case.sequences();
    let sequences: Vec<Vec<u32>> = (0..20)
        .map(|i| {
            let row = &base[i % base.len()];
            row[..1 + i % row.len()].to_vec()
        })
        .collect();
    let labels = (0..20).map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0).collect();
    TokenisedData {
        pad_id: 0,
        items: TokenisedItems::Labelled { sequences, labels },
    }
}

fn several_epochs(train_encoder: bool) -> RewardTrainingConfig {
    RewardTrainingConfig {
        epochs: 4,
        batch_size: 6,
        learning_rate: 1e-2,
        train_encoder,
        validation_fraction: 0.25,
        seed: 5,
        ..RewardTrainingConfig::default()
    }
}

fn train(
    case: &Case,
    seed: u64,
    data: &TokenisedData,
    config: &RewardTrainingConfig,
    progress: &mut impl Progress,
) -> superlab::superhf::reward::TrainingRun<EncoderReward> {
    let lab_device = LabDevice::cpu(None);
    let model = case.model(seed, &lab_device.device);
    pollster::block_on(train_encoder_reward(
        model,
        data,
        config,
        &lab_device,
        progress,
    ))
    .unwrap()
}

fn parameters(model: &EncoderReward) -> Vec<Vec<f32>> {
    (pooled_reward_tensors(pooled(model)).iter())
        .map(|t| values(t.values()))
        .collect()
}

/// The same seed gives the same run, bit for bit, with the encoder frozen or trained; another
/// seed shuffles differently. Every epoch reports its training loss and the held-out loss and
/// correlations of the 5 items (a quarter of 20) set aside.
#[test]
fn a_seed_repeats_a_run_exactly() {
    let fixture = fixture();
    let case = &fixture.cases["bert_regression"];
    let data = labelled_set(case);
    for train_encoder in [false, true] {
        let config = several_epochs(train_encoder);
        let first = train(case, fixture.seed, &data, &config, &mut Silent);
        let again = train(case, fixture.seed, &data, &config, &mut Silent);
        let other_seed = RewardTrainingConfig { seed: 6, ..config };
        let other = train(case, fixture.seed, &data, &other_seed, &mut Silent);
        assert_eq!(parameters(&first.model), parameters(&again.model));
        assert_ne!(parameters(&first.model), parameters(&other.model));

        let steps = &first.report.steps;
        assert_eq!(steps.len(), 4);
        for (event, repeated) in steps.iter().zip(&again.report.steps) {
            assert_eq!(event.metrics, repeated.metrics);
            let names: Vec<&str> = event.metrics.keys().map(String::as_str).collect();
            assert_eq!(
                names,
                [
                    "train_loss",
                    "validation_loss",
                    "validation_pearson",
                    "validation_spearman"
                ]
            );
            assert!(event.metrics.values().all(|v| v.is_finite()));
        }
        let result = first.report.result.as_ref().unwrap();
        assert_eq!((result.training_items, result.validation_items), (15, 5));
        let losses: Vec<f64> = steps.iter().map(|s| s.metrics["train_loss"]).collect();
        println!("train_encoder {train_encoder}: training losses {losses:?}");
        assert!(losses[3] < losses[0], "{losses:?}");
    }
}

/// Labelled texts train under the Bradley-Terry loss as pairs of texts with different labels,
/// reported with the held-out pairs' accuracy.
#[test]
fn labelled_texts_train_as_pairs() {
    let fixture = fixture();
    let case = &fixture.cases["bert_regression"];
    let config = RewardTrainingConfig {
        loss: RewardLoss::BradleyTerry,
        ..several_epochs(false)
    };
    let run = train(
        case,
        fixture.seed,
        &labelled_set(case),
        &config,
        &mut Silent,
    );
    let result = run.report.result.as_ref().unwrap();
    // 20 texts make 10 pairs, less those of equal labels; a quarter are held out.
    let pairs = result.training_items + result.validation_items;
    assert!((8..=10).contains(&pairs), "{pairs} pairs");
    let validation = result.validation.as_ref().unwrap();
    assert!(validation.accuracy.is_some() && validation.pearson.is_none());
}

/// Stops after the second epoch.
struct StopAfter(usize);

impl Progress for StopAfter {
    async fn step(&mut self, event: &StepEvent) -> Control {
        match event.step >= self.0 {
            true => Control::Stop,
            false => Control::Continue,
        }
    }
}

/// Stop ends the run after the epoch that reported it, keeping that epoch's model: the same
/// parameters as a two-epoch run.
#[test]
fn stop_keeps_the_finished_epochs() {
    let fixture = fixture();
    let case = &fixture.cases["bert_regression"];
    let data = labelled_set(case);
    let config = several_epochs(false);
    let stopped = train(case, fixture.seed, &data, &config, &mut StopAfter(2));
    assert!(matches!(stopped.report.status, RunStatus::Stopped));
    assert_eq!(stopped.report.steps.len(), 2);
    assert_eq!(stopped.report.result.as_ref().unwrap().epochs_finished, 2);
    let two = RewardTrainingConfig {
        epochs: 2,
        ..config
    };
    let two_epochs = train(case, fixture.seed, &data, &two, &mut Silent);
    assert_eq!(parameters(&stopped.model), parameters(&two_epochs.model));
}

/// An absurd learning rate makes the rewards overflow: the run stops at the first epoch whose
/// loss is not a number, says so, and keeps the epochs before it.
#[test]
fn a_diverging_run_stops_with_a_clear_error() {
    let fixture = fixture();
    let case = &fixture.cases["bert_regression"];
    let config = RewardTrainingConfig {
        learning_rate: 1e30,
        batch_size: 100,
        validation_fraction: 0.0,
        ..several_epochs(false)
    };
    let run = train(
        case,
        fixture.seed,
        &labelled_set(case),
        &config,
        &mut Silent,
    );
    let Some(LabError::Diverged { step, what }) = &run.diverged else {
        panic!("the run should diverge: {:?}", run.report.status)
    };
    let message = run.diverged.as_ref().unwrap().to_string();
    println!("{message}");
    assert_eq!(*step, 2);
    assert!(what.contains("training loss of epoch 2") && what.contains("learning rate"));
    assert!(matches!(&run.report.status, RunStatus::Failed(m) if *m == message));
    assert_eq!(run.report.steps.len(), 1);
    assert_eq!(run.report.result.as_ref().unwrap().epochs_finished, 1);
    let kept = parameters(&run.model);
    assert!(kept.iter().flatten().all(|v| v.is_finite()));
    assert!(matches!(
        run.completed(),
        Err(LabError::Diverged { step: 2, .. })
    ));
}

fn data_error(text: &str) -> String {
    match RewardData::from_jsonl("data.jsonl", text) {
        Ok(data) => panic!("{text:?} should not parse, but gave {data:?}"),
        Err(error) => {
            let message = error.to_string();
            println!("{message}");
            message
        }
    }
}

/// Both record kinds parse, a prompt joins each completion, and malformed lines are errors that
/// name the line and what is wrong with it.
#[test]
fn data_files_parse_and_malformed_lines_are_clear_errors() {
    let labelled = "{\"text\": \"Good.\", \"label\": 0.5}\n\n{\"text\": \"Bad.\", \"label\": -1}\n";
    let RewardData::Labelled(items) = RewardData::from_jsonl("a", labelled).unwrap() else {
        panic!("labelled texts")
    };
    assert_eq!((items.len(), items[1].label), (2, -1.0));
    let pairs = "{\"prompt\": \"Q:\", \"chosen\": \"yes\", \"rejected\": \"no\"}\n\
                 {\"chosen\": \"A\", \"rejected\": \"B\", \"prompt\": null}";
    let RewardData::Pairs(items) = RewardData::from_jsonl("b", pairs).unwrap() else {
        panic!("pairs")
    };
    assert_eq!(
        (items[0].chosen.as_str(), items[0].rejected.as_str()),
        ("Q: yes", "Q: no")
    );
    assert_eq!(items[1].chosen, "A");

    let good = "{\"text\": \"Fine.\", \"label\": 0.1}\n";
    let cases: [(String, &[&str]); 9] = [
        (
            format!("{good}{{\"text\": \"x\", \"label\": 1"),
            &["data.jsonl:2", "not valid JSON"],
        ),
        (
            format!("{good}{{\"text\": \"x\"}}"),
            &["data.jsonl:2", "\"label\"", "nothing"],
        ),
        (
            format!("{good}{{\"text\": \"x\", \"label\": \"high\"}}"),
            &["data.jsonl:2", "finite number", "\"high\""],
        ),
        (
            format!("{good}{{\"text\": 3, \"label\": 1}}"),
            &["data.jsonl:2", "\"text\" must be a string"],
        ),
        (
            format!("{good}{{\"text\": \" \", \"label\": 1}}"),
            &["data.jsonl:2", "\"text\" is empty"],
        ),
        (
            format!("{good}{{\"chosen\": \"a\", \"rejected\": \"b\"}}"),
            &[
                "data.jsonl:2 is a preference pair",
                "data.jsonl:1 is a labelled text",
                "one kind",
            ],
        ),
        (
            "{\"chosen\": \"a\"}".into(),
            &["data.jsonl:1", "\"rejected\" is missing"],
        ),
        (
            "{\"input\": \"a\", \"score\": 2}".into(),
            &["data.jsonl:1", "\"input\"", "\"chosen\""],
        ),
        ("\n\n".into(), &["data.jsonl holds no records"]),
    ];
    for (text, parts) in &cases {
        let message = data_error(text);
        for part in *parts {
            assert!(message.contains(part), "{message:?} lacks {part:?}");
        }
    }
    let message = data_error("[1, 2]");
    assert!(message.contains("JSON object"), "{message}");
    let message = data_error("{\"prompt\": 4, \"chosen\": \"a\", \"rejected\": \"b\"}");
    assert!(message.contains("\"prompt\" must be a string"), "{message}");

    let split = RewardData::from_json_split(
        "s.json",
        "{\"train\": [{\"text\": \"a\", \"label\": 1}]}",
        "heldout",
    );
    let message = split.unwrap_err().to_string();
    assert!(
        message.contains("\"heldout\"") && message.contains("train"),
        "{message}"
    );
}

/// Data the chosen loss cannot use, and configurations out of range, are refused before
/// training starts.
#[test]
fn unusable_training_requests_are_clear_errors() {
    let fixture = fixture();
    let case = &fixture.cases["distilbert_bradley_terry"];
    let lab_device = LabDevice::cpu(None);
    let attempt = |data: &TokenisedData, config: &RewardTrainingConfig| {
        let model = case.model(fixture.seed, &lab_device.device);
        let mut silent = Silent;
        let run = train_encoder_reward(model, data, config, &lab_device, &mut silent);
        match pollster::block_on(run) {
            Ok(_) => panic!("training should be refused"),
            Err(error) => error.to_string(),
        }
    };
    let pairs = case.data();
    let regression = RewardTrainingConfig::default();
    let message = attempt(&pairs, &regression);
    assert!(message.contains("no labels to regress on"), "{message}");
    let bad = RewardTrainingConfig {
        learning_rate: -1.0,
        loss: RewardLoss::BradleyTerry,
        ..RewardTrainingConfig::default()
    };
    assert!(attempt(&pairs, &bad).contains("learning rate"));
    let tied = TokenisedData {
        pad_id: 0,
        items: TokenisedItems::Labelled {
            sequences: vec![vec![1, 2], vec![3]],
            labels: vec![0.5, 0.5],
        },
    };
    let pairwise = RewardTrainingConfig {
        loss: RewardLoss::BradleyTerry,
        ..RewardTrainingConfig::default()
    };
    assert!(attempt(&tied, &pairwise).contains("nothing to train on"));
    let empty_text = TokenisedData {
        pad_id: 0,
        items: TokenisedItems::Labelled {
            sequences: vec![vec![1, 2], vec![]],
            labels: vec![0.5, 0.1],
        },
    };
    assert!(attempt(&empty_text, &regression).contains("text 2 has no tokens"));
}

/// A model trained end to end is written under the hub's names and reads back through
/// `EncoderReward::from_hub` (as a plain encoder with a pooled head) with the same rewards.
#[test]
fn a_trained_model_reads_back_from_its_safetensors() {
    let fixture = fixture();
    for name in ["bert_regression", "distilbert_bradley_terry"] {
        let case = &fixture.cases[name];
        let config = RewardTrainingConfig {
            epochs: 2,
            ..case.training()
        };
        let run = train(case, fixture.seed, &case.data(), &config, &mut Silent);
        let tensors = pooled_reward_tensors(pooled(&run.model));
        let bytes = pollster::block_on(to_safetensors(&tensors)).unwrap();
        let weights = superlab::models::weights::Weights::from_safetensors("t", bytes).unwrap();
        assert_eq!(weights.names().len(), tensors.len());
        // The checkpoint is a plain encoder's: its configuration names the plain class.
        let mut config_json = case.config.clone();
        config_json["architectures"] = match name.starts_with("bert") {
            true => serde_json::json!(["BertModel"]),
            false => serde_json::json!(["DistilBertModel"]),
        };
        let device = Device::flex();
        let reloaded = EncoderReward::from_hub(&config_json.to_string(), &weights, &device);
        let batch = TokenBatch::right_padded(&case.sequences(), 0, &device).unwrap();
        let want = values(run.model.rewards(&batch).unwrap());
        let got = values(reloaded.unwrap().rewards(&batch).unwrap());
        assert_eq!(got, want, "{name}");
    }
}

/// One optimiser step on wgpu (Vulkan; Mesa's lavapipe without a GPU), where the page trains:
/// the trained encoder's case and a frozen one, against the same reference and tolerance.
#[test]
fn one_optimiser_step_matches_pytorch_on_wgpu() {
    let fixture = fixture();
    let lab_device = pollster::block_on(LabDevice::acquire(
        superlab::device::BackendChoice::Wgpu,
        &superlab::device::Requirements::default(),
    ))
    .expect("a wgpu device");
    for name in ["bert_regression", "distilbert_bradley_terry_frozen"] {
        let case = &fixture.cases[name];
        let model = case.model(fixture.seed, &lab_device.device);
        let run = pollster::block_on(train_encoder_reward(
            model,
            &case.data(),
            &case.training(),
            &lab_device,
            &mut Silent,
        ))
        .unwrap();
        let result = run.report.result.as_ref().unwrap();
        assert_close(
            &format!("{name} reported loss, wgpu"),
            &[result.train_loss.unwrap() as f32],
            &[case.loss],
            TOLERANCE,
            true,
        );
        let tensors = pooled_reward_tensors(pooled(&run.model));
        for (parameter, want) in &case.updated {
            let got = pollster::block_on(named(&tensors, parameter).values().into_data_async());
            let got: Vec<f32> = got.unwrap().convert::<f32>().try_into_vec().unwrap();
            assert_close(
                &format!("{name} {parameter} after the step, wgpu"),
                &got,
                want,
                TOLERANCE,
                true,
            );
        }
    }
}
