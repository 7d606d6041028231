//! SuperHF and best-of-N end to end on a tiny random Llama policy and tiny random BERT reward
//! models (`tests/tiny_superhf/mod.rs`), on the CPU backend.
//!
//! A run has no external reference to compare with (its numbers depend on every random draw),
//! so these tests check what must hold: fine-tuning on the best completions raises the
//! training reward; the KL to the reference starts at 0 (new adapters leave the policy equal to
//! it) and stays finite; a seed repeats a run exactly; best-of-N answers with the completion of
//! highest training reward; a diverging run stops with a message and keeps its finished
//! steps; Stop after step k keeps k steps. The loss through the model is compared with PyTorch
//! and peft in `tests/lora.rs`; the schedule with transformers in `superhf_schedule_matches`.

mod common;
mod tiny_superhf;

use std::collections::BTreeMap;

use burn::tensor::Device;
use superlab::LabError;
use superlab::device::LabDevice;
use superlab::models::encoder::reward::EncoderReward;
use superlab::models::language_model::LanguageModel;
use superlab::models::lora::LoraConfig;
use superlab::models::tokenizer::Tokenizer;
use superlab::progress::{Control, Progress, Silent, StepEvent};
use superlab::report::RunStatus;
use superlab::superhf::best_of_n;
use superlab::superhf::config::{BestOfNConfig, SuperHfConfig};
use superlab::superhf::finetune::{Example, FineTuner};
use superlab::superhf::models::RunModels;
use superlab::superhf::prompts::PromptSet;
use superlab::superhf::report::{BestOfNReport, ModelIdentity, ModelsUsed};
use superlab::superhf::rollout::{RewardScorer, cut_at_turn};
use superlab::superhf::schedule::CosineWithWarmup;
use superlab::superhf::train::{self, SuperHfOutcome};
use tiny_superhf::{HELDOUT_SEED, REWARD_SEED};

struct Fixtures {
    device: LabDevice,
    tokenizer: Tokenizer,
    reward: EncoderReward,
    heldout: EncoderReward,
}

impl Fixtures {
    fn new() -> Self {
        let device = LabDevice::cpu(None);
        Self {
            tokenizer: tiny_superhf::tokenizer(),
            reward: tiny_superhf::reward_model(REWARD_SEED, &device.device),
            heldout: tiny_superhf::reward_model(HELDOUT_SEED, &device.device),
            device,
        }
    }

    fn models(&self) -> RunModels<'_> {
        let identity = |id: &str| ModelIdentity {
            id: id.into(),
            files: Vec::new(),
        };
        RunModels {
            policy: tiny_superhf::policy(&self.device.device),
            tokenizer: &self.tokenizer,
            reward: RewardScorer::new(&self.reward, &self.tokenizer, &self.device.device),
            heldout: Some(RewardScorer::new(
                &self.heldout,
                &self.tokenizer,
                &self.device.device,
            )),
            used: ModelsUsed {
                policy: identity("tiny-llama"),
                reward: identity("tiny-bert-train"),
                heldout_reward: Some(identity("tiny-bert-heldout")),
            },
        }
    }

    fn superhf(&self, config: SuperHfConfig, progress: &mut impl Progress) -> SuperHfOutcome {
        pollster::block_on(train::run(&self.device, config, self.models(), progress))
            .expect("the run starts")
    }

    fn best_of_n(&self, config: BestOfNConfig) -> BestOfNReport {
        pollster::block_on(best_of_n::run(
            &self.device,
            config,
            self.models(),
            &mut Silent,
        ))
        .expect("the run starts")
        .report
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The report as JSON without its timing, which is all that may differ between two runs.
fn comparable<R: serde::Serialize>(report: &R) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap();
    value.as_object_mut().unwrap().remove("elapsed_ms");
    value
}

const STEPS: usize = 20;
const LR: f64 = 3e-2;
const KL: f64 = 0.1;

#[test]
fn superhf_raises_the_training_reward_and_keeps_kl_finite() {
    let fixtures = Fixtures::new();
    // The same two prompts every step, so that the reward measures the policy, not the draw
    // of prompts (the reward model reads the prompt too).
    let mut config = tiny_superhf::config(STEPS, 3);
    config.prompts = PromptSet::Custom(tiny_superhf::prompts()[..2].to_vec());
    config.learning_rate = LR;
    config.kl_coefficient = KL;
    let outcome = fixtures.superhf(config, &mut Silent);
    let report = outcome.report;
    assert!(
        matches!(report.status, RunStatus::Completed),
        "{:?}",
        report.status
    );
    let result = report.result.as_ref().unwrap();
    let series = &result.series;
    println!("reward_train {:?}", series.reward_train);
    println!("reward_heldout {:?}", series.reward_heldout);
    println!("kl {:?}", series.kl);
    println!("loss {:?}", series.loss);
    println!("meteor {:?}", series.meteor_similarity);
    println!("dropped {:?}", series.dropped_empty);
    assert_eq!(series.reward_train.len(), STEPS);
    let early = mean(&series.reward_train[..5]);
    let late = mean(&series.reward_train[STEPS - 5..]);
    println!("training reward: first five steps {early:.4}, last five {late:.4}");
    assert!(
        late > early + 0.5,
        "the training reward rose from {early} to {late}"
    );
    let kl: Vec<f64> = series
        .kl
        .iter()
        .map(|kl| kl.expect("every step trains"))
        .collect();
    assert!(
        kl[0].abs() < 1e-6,
        "new adapters leave the policy at the reference: {}",
        kl[0]
    );
    assert!(kl.iter().all(|kl| kl.is_finite() && *kl >= -1e-6), "{kl:?}");
    assert!(
        kl[STEPS - 1] > 0.1,
        "training moved the policy away from the reference"
    );
    assert!(
        series
            .meteor_similarity
            .iter()
            .all(|m| m.is_some_and(|m| (0.0..=1.0).contains(&m)))
    );
    assert!(series.reward_heldout.iter().all(Option::is_some));
    assert_eq!(report.steps.len(), STEPS);
    let kept = result.samples.iter().filter(|sample| sample.kept).count();
    assert_eq!(kept, STEPS * 2, "one kept completion per prompt and step");
    assert!(result.lora && outcome.policy.has_adapters());
}

#[test]
fn a_seed_repeats_a_run_exactly() {
    let fixtures = Fixtures::new();
    let first = fixtures
        .superhf(tiny_superhf::config(3, 8), &mut Silent)
        .report;
    let second = fixtures
        .superhf(tiny_superhf::config(3, 8), &mut Silent)
        .report;
    assert_eq!(comparable(&first), comparable(&second));
    let other = fixtures
        .superhf(tiny_superhf::config(3, 9), &mut Silent)
        .report;
    assert_ne!(comparable(&first)["result"], comparable(&other)["result"]);
}

#[test]
fn best_of_n_answers_with_the_highest_reward_completion() {
    let fixtures = Fixtures::new();
    let config = BestOfNConfig::from(tiny_superhf::config(3, 5));
    let report = fixtures.best_of_n(config);
    assert!(
        matches!(report.status, RunStatus::Completed),
        "{:?}",
        report.status
    );
    let result = report.result.unwrap();
    let mut groups: BTreeMap<(usize, String), Vec<_>> = BTreeMap::new();
    for sample in &result.samples {
        groups
            .entry((sample.step, sample.prompt.clone()))
            .or_default()
            .push(sample);
    }
    assert_eq!(groups.len(), 3 * 2);
    for ((step, prompt), samples) in &groups {
        let chosen: Vec<_> = samples.iter().filter(|sample| sample.kept).collect();
        assert_eq!(chosen.len(), 1, "step {step}, {prompt}: one answer");
        let best = samples
            .iter()
            .map(|s| s.reward_train)
            .fold(f64::MIN, f64::max);
        assert_eq!(chosen[0].reward_train, best, "step {step}, {prompt}");
        assert!(
            samples.iter().any(|s| s.reward_train < best),
            "the rewards differ"
        );
    }
    let series = &result.series;
    for step in 0..3 {
        assert!(series.reward_train[step] > series.reward_train_all[step]);
        let n = series.completions[step] as f64 / 2.0;
        let bound = n.ln() - (n - 1.0) / n;
        assert!(
            (series.kl[step].unwrap() - bound).abs() < 0.5,
            "{:?}",
            series.kl
        );
    }
}

#[test]
fn a_diverging_run_stops_and_keeps_its_finished_steps() {
    let fixtures = Fixtures::new();
    let mut config = tiny_superhf::config(6, 3);
    config.learning_rate = 1e30;
    config.warmup_steps = 0;
    let report = fixtures.superhf(config, &mut Silent).report;
    let RunStatus::Failed(message) = &report.status else {
        panic!("the run must fail, not {:?}", report.status);
    };
    println!("{message}");
    assert!(message.contains("diverged at step"), "{message}");
    let finished = report.steps.len();
    assert!((1..6).contains(&finished), "{finished} steps finished");
    assert!(
        message.contains(&format!("step {}", finished + 1)),
        "{message}"
    );
    let series = &report.result.as_ref().unwrap().series;
    assert_eq!(series.reward_train.len(), finished);
    assert_eq!(series.loss.len(), finished);
}

/// Stops after the step `after`.
struct StopAfter {
    after: usize,
    seen: Vec<usize>,
}

impl Progress for StopAfter {
    async fn step(&mut self, event: &StepEvent) -> Control {
        self.seen.push(event.step);
        match event.step >= self.after {
            true => Control::Stop,
            false => Control::Continue,
        }
    }
}

#[test]
fn stop_after_step_k_keeps_k_steps() {
    let fixtures = Fixtures::new();
    let mut progress = StopAfter {
        after: 2,
        seen: Vec::new(),
    };
    let outcome = fixtures.superhf(tiny_superhf::config(6, 3), &mut progress);
    let report = outcome.report;
    assert!(
        matches!(report.status, RunStatus::Stopped),
        "{:?}",
        report.status
    );
    assert_eq!(progress.seen, vec![1, 2]);
    assert_eq!(report.steps.len(), 2);
    let metrics = &report.steps[1].metrics;
    for name in [
        "reward_train",
        "reward_heldout",
        "kl",
        "loss",
        "meteor_similarity",
    ] {
        assert!(
            metrics.contains_key(name),
            "step metrics carry {name}: {metrics:?}"
        );
    }
    let series = &report.result.as_ref().unwrap().series;
    assert_eq!(series.reward_train.len(), 2);
    assert!(report.result.unwrap().samples.iter().all(|s| s.step <= 2));
}

#[test]
fn full_fine_tuning_trains_every_parameter_against_a_frozen_copy() {
    let fixtures = Fixtures::new();
    let mut config = tiny_superhf::config(2, 3);
    config.fine_tuning = superlab::superhf::config::FineTuning::Full;
    config.learning_rate = 1e-3;
    config.warmup_steps = 0;
    let outcome = fixtures.superhf(config, &mut Silent);
    let series = &outcome.report.result.as_ref().unwrap().series;
    println!("kl {:?}", series.kl);
    assert!(series.kl[0].unwrap().abs() < 1e-6 && series.kl[1].unwrap() > 1e-6);
    assert!(!outcome.policy.has_adapters());
}

#[derive(serde::Deserialize)]
struct ScheduleFixture {
    peak: f64,
    cases: Vec<ScheduleCase>,
}

#[derive(serde::Deserialize)]
struct ScheduleCase {
    warmup_steps: usize,
    total_steps: usize,
    learning_rates: Vec<f64>,
}

/// `tests/oracle/superhf_schedule.py`: transformers' `get_cosine_schedule_with_warmup`, read
/// after each optimiser step. Both compute in f64; the tolerance is rounding.
#[test]
fn the_schedule_matches_transformers() {
    let fixture: ScheduleFixture = common::fixture("superhf_schedule");
    for case in &fixture.cases {
        let schedule = CosineWithWarmup {
            peak: fixture.peak,
            warmup_steps: case.warmup_steps,
            total_steps: case.total_steps,
        };
        let ours: Vec<f32> = (0..case.learning_rates.len())
            .map(|step| (schedule.learning_rate(step) / fixture.peak) as f32)
            .collect();
        let want: Vec<f64> = (case.learning_rates.iter())
            .map(|rate| rate / fixture.peak)
            .collect();
        let what = format!("schedule {}/{}", case.warmup_steps, case.total_steps);
        common::assert_close(&what, &ours, &want, 1e-6, false);
    }
}

/// A loss that is not a number (here from a reference model whose weights are NaN) stops the
/// fine-tuning before its optimiser step, leaving the policy as it was.
#[test]
fn a_nan_loss_stops_before_its_update() {
    let device = Device::flex().autodiff();
    let mut policy = tiny_superhf::policy(&device)
        .with_lora(&LoraConfig::default(), 1)
        .unwrap();
    let mut broken_spec = tiny_superhf::policy_spec();
    broken_spec[0].scale = f32::NAN;
    let weights = common::weights_from_spec(1, &broken_spec);
    let config = tiny_superhf::policy_config().to_string();
    let reference = LanguageModel::from_hub(&config, &weights, &device).unwrap();
    let schedule = CosineWithWarmup {
        peak: 1e-2,
        warmup_steps: 0,
        total_steps: 4,
    };
    let mut tuner = FineTuner::new(schedule, 0.01, 0.35, 2);
    let examples = [Example {
        tokens: vec![5, 6, 7, 8, 9, 10],
        prompt_len: 3,
    }];
    let adapters = |model: &LanguageModel| -> Vec<Vec<f32>> {
        (model.adapter_tensors().iter())
            .map(|tensor| tensor.values().into_data().try_to_vec::<f32>().unwrap())
            .collect()
    };
    let before = adapters(&policy);
    let training =
        pollster::block_on(tuner.train(&mut policy, &reference, &examples, (4, 7), &device));
    let error = training.expect_err("the loss is NaN");
    println!("{error}");
    assert!(
        matches!(error, LabError::Diverged { step: 4, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("the loss is NaN"));
    assert_eq!(adapters(&policy), before, "no update was made");
}

#[test]
fn completions_are_cut_at_the_next_turn() {
    let markers = ["\nHuman:".to_string(), "\nAssistant:".to_string()];
    let cut = |text: &str| cut_at_turn(text, &markers);
    assert_eq!(
        cut(" Sure, tea.\n\nHuman: thanks"),
        ("Sure, tea.".into(), true)
    );
    assert_eq!(cut(" One\nAssistant: two\nHuman: x"), ("One".into(), true));
    assert_eq!(cut("\n\nHuman: hello"), (String::new(), true));
    assert_eq!(cut("  plain text  "), ("plain text".into(), false));
}

#[test]
fn invalid_settings_are_refused_before_the_run() {
    let fixtures = Fixtures::new();
    let mut config = tiny_superhf::config(2, 3);
    config.keep_top = 9;
    let error = pollster::block_on(train::run(
        &fixtures.device,
        config,
        fixtures.models(),
        &mut Silent,
    ))
    .err()
    .unwrap();
    println!("{error}");
    assert!(matches!(error, LabError::Config(_)));
}
