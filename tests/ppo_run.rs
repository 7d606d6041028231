//! PPO end to end on the tiny random Llama policy and tiny random BERT reward models of
//! `tests/tiny_superhf/mod.rs`, on the CPU backend.
//!
//! A run has no external reference to compare with (its numbers depend on every random draw;
//! the update itself is compared with PyTorch in `tests/ppo.rs`), so these tests check what
//! must hold: PPO raises the training reward; the KL to the reference starts at 0 (new adapters
//! leave the policy equal to it) and stays finite; a seed repeats a run exactly; a diverging
//! run stops with a message that says where and why and keeps its finished steps and policy;
//! Stop after step k keeps k steps; the report carries SuperHF's series under SuperHF's names;
//! PPO trains on the sampled tokens up to the turn marker.

mod common;
mod tiny_superhf;

use std::collections::BTreeSet;

use superlab::LabError;
use superlab::device::LabDevice;
use superlab::models::generate::Completion;
use superlab::progress::{Control, Progress, Silent, StepEvent};
use superlab::report::RunStatus;
use superlab::superhf::config::{FineTuning, PpoRunConfig};
use superlab::superhf::ppo_train::{self, PpoOutcome, response_tokens};
use superlab::superhf::prompts::PromptSet;
use superlab::superhf::rollout::Sample;
use superlab::superhf::train;
use tiny_superhf::TinyModels;

fn tiny() -> TinyModels {
    TinyModels::new(LabDevice::cpu(None))
}

fn ppo(models: &TinyModels, config: PpoRunConfig, progress: &mut impl Progress) -> PpoOutcome {
    let run = ppo_train::run(&models.device, config, models.models(true), progress);
    pollster::block_on(run).expect("the run starts")
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

/// The B factors of the adapters, which start at zero.
fn adapter_up_factors(outcome: &PpoOutcome) -> Vec<f32> {
    (outcome.model.policy.adapter_tensors().iter())
        .filter(|tensor| tensor.name.contains("lora_B"))
        .flat_map(|tensor| tensor.values().into_data().try_to_vec::<f32>().unwrap())
        .collect()
}

const STEPS: usize = 30;
/// A weaker pull to the reference than the reference's 0.2, as SuperHF's run test lowers its
/// coefficient: the tiny policy's KL grows fast, and its reward slowly.
const KL: f64 = 0.05;

#[test]
fn ppo_raises_the_training_reward_and_keeps_kl_finite() {
    let models = tiny();
    // The same two prompts every step, so that the reward measures the policy, not the draw
    // of prompts (the reward model reads the prompt too).
    let mut config = tiny_superhf::ppo_config(STEPS, 3);
    config.prompts = PromptSet::Custom(tiny_superhf::prompts()[..2].to_vec());
    config.ppo.kl_coefficient = KL;
    let outcome = ppo(&models, config, &mut Silent);
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
    println!("kl_sampled {:?}", series.kl_sampled);
    println!("loss {:?}", series.loss);
    println!("clip_fraction {:?}", series.clip_fraction);
    println!("approximate_kl {:?}", series.approximate_kl);
    println!("meteor {:?}", series.meteor_similarity);
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
    let terms = [
        &series.loss,
        &series.policy_loss,
        &series.value_loss,
        &series.clip_fraction,
        &series.approximate_kl,
        &series.kl_sampled,
    ];
    assert!(
        terms
            .iter()
            .all(|term| term.iter().all(|v| v.unwrap().is_finite()))
    );
    assert!(series.kl_coefficient.iter().all(|&c| c == KL), "fixed");
    assert!(
        series.clip_fraction.iter().any(|c| c.unwrap() > 0.0),
        "the clip acts"
    );
    assert!(
        series
            .meteor_similarity
            .iter()
            .all(|m| m.is_some_and(|m| (0.0..=1.0).contains(&m)))
    );
    assert!(series.reward_heldout.iter().all(Option::is_some));
    let trained = result.samples.iter().filter(|sample| sample.kept).count();
    let completions: usize = series.completions.iter().sum();
    assert_eq!(
        trained, completions,
        "PPO trains on every completion with text"
    );
    assert!(result.lora && outcome.model.policy.has_adapters());
    assert!(result.divergence.is_none());
}

#[test]
fn a_seed_repeats_a_run_exactly() {
    let models = tiny();
    let run = |seed| ppo(&models, tiny_superhf::ppo_config(2, seed), &mut Silent).report;
    let first = run(8);
    assert_eq!(comparable(&first), comparable(&run(8)));
    assert_ne!(comparable(&first)["result"], comparable(&run(9))["result"]);
}

#[test]
fn a_run_that_diverges_later_keeps_its_finished_steps() {
    let models = tiny();
    // One optimiser step per PPO step: the first step finishes (its loss is computed before
    // its update) and its update ruins the policy.
    let mut config = tiny_superhf::ppo_config(4, 3);
    config.ppo.learning_rate = 1e30;
    config.ppo.epochs = 1;
    config.ppo.minibatch_size = config.batch_size();
    let report = ppo(&models, config, &mut Silent).report;
    let RunStatus::Failed(message) = &report.status else {
        panic!("the run must fail, not {:?}", report.status);
    };
    println!("{message}");
    assert!(message.contains("diverged at step 2"), "{message}");
    assert_eq!(report.steps.len(), 1);
    let result = report.result.as_ref().unwrap();
    assert_eq!(result.series.reward_train.len(), 1);
    assert_eq!(result.series.loss.len(), 1);
    let divergence = result.divergence.as_ref().expect("the report says where");
    assert_eq!(divergence.step, 2);
    assert!(message.ends_with(&divergence.reason));
    assert!(result.samples.iter().all(|sample| sample.step == 1));
}

#[test]
fn a_diverging_update_names_its_optimiser_step_and_keeps_the_policy() {
    let models = tiny();
    // Two epochs of one minibatch: the second optimiser step reads the ruined policy.
    let mut config = tiny_superhf::ppo_config(3, 3);
    config.ppo.learning_rate = 1e30;
    config.ppo.epochs = 2;
    config.ppo.minibatch_size = config.batch_size();
    let outcome = ppo(&models, config, &mut Silent);
    let error = outcome.error.as_ref().expect("the run fails");
    println!("{error}");
    assert!(
        matches!(error, LabError::Diverged { step: 1, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    for part in [
        "optimiser step 2 of 2 of the PPO update",
        "minibatch loss is",
        "value loss",
    ] {
        assert!(message.contains(part), "{message}");
    }
    assert!(outcome.report.steps.is_empty());
    let up = adapter_up_factors(&outcome);
    assert!(
        !up.is_empty() && up.iter().all(|&b| b == 0.0),
        "the policy as it started"
    );
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
    let models = tiny();
    let mut progress = StopAfter {
        after: 2,
        seen: Vec::new(),
    };
    let report = ppo(&models, tiny_superhf::ppo_config(5, 3), &mut progress).report;
    assert!(
        matches!(report.status, RunStatus::Stopped),
        "{:?}",
        report.status
    );
    assert_eq!(progress.seen, vec![1, 2]);
    assert_eq!(report.steps.len(), 2);
    let result = report.result.as_ref().unwrap();
    assert_eq!(result.series.reward_train.len(), 2);
    assert!(result.samples.iter().all(|s| s.step <= 2));
}

/// The names of the per-step series in a report's result (arrays with one entry per step).
fn series_names(result: &serde_json::Value, steps: usize) -> BTreeSet<String> {
    (result.as_object().unwrap().iter())
        .filter(|(name, values)| {
            *name != "samples" && values.as_array().is_some_and(|v| v.len() == steps)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// The page overlays runs by series name: PPO reports every series SuperHF does except those
/// of SuperHF's own filter and loss, under the same names, in its result and in each step's
/// metrics.
#[test]
fn the_report_carries_superhf_series_under_their_names() {
    let models = tiny();
    let superhf_config = tiny_superhf::config(2, 3);
    let superhf = pollster::block_on(train::run(
        &models.device,
        superhf_config,
        models.models(true),
        &mut Silent,
    ))
    .unwrap()
    .report;
    let ppo_report = ppo(&models, tiny_superhf::ppo_config(2, 3), &mut Silent).report;
    let superhf_json = serde_json::to_value(&superhf).unwrap();
    let ppo_json = serde_json::to_value(&ppo_report).unwrap();
    let superhf_series = series_names(&superhf_json["result"], 2);
    let ppo_series = series_names(&ppo_json["result"], 2);
    println!("SuperHF {superhf_series:?}\nPPO {ppo_series:?}");
    let missing: Vec<&String> = superhf_series.difference(&ppo_series).collect();
    assert_eq!(missing, ["cross_entropy", "reward_train_kept"]);
    for name in [
        "reward_train",
        "reward_heldout",
        "kl",
        "meteor_similarity",
        "loss",
    ] {
        assert!(ppo_series.contains(name), "{name}");
        assert!(ppo_report.steps[1].metrics.contains_key(name), "{name}");
    }
    for name in [
        "policy_loss",
        "value_loss",
        "clip_fraction",
        "approximate_kl",
        "kl_coefficient",
        "score_mean",
    ] {
        assert!(ppo_series.contains(name), "{name}");
    }
    assert_eq!(ppo_json["lab"], "ppo");
    assert_eq!(ppo_json["config"]["ppo"]["kl_coefficient"], 0.2);
    assert!(ppo_json["result"]["divergence"].is_null());
    let sample_fields = |json: &serde_json::Value| -> BTreeSet<String> {
        json["result"]["samples"][0]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(sample_fields(&ppo_json), sample_fields(&superhf_json));
}

#[test]
fn full_fine_tuning_trains_against_a_frozen_copy() {
    let models = tiny();
    let mut config = tiny_superhf::ppo_config(2, 3);
    config.fine_tuning = FineTuning::Full;
    config.ppo.learning_rate = 1e-3;
    let outcome = ppo(&models, config, &mut Silent);
    let series = &outcome.report.result.as_ref().unwrap().series;
    println!("kl {:?}", series.kl);
    assert!(series.kl[0].unwrap().abs() < 1e-6 && series.kl[1].unwrap() > 1e-6);
    assert!(!outcome.model.policy.has_adapters());
    assert!(!outcome.report.result.unwrap().lora);
}

/// A completion cut at a turn marker trains on the sampled tokens before the marker; one that
/// ran to its end trains on all of them, the end-of-sequence token included.
#[test]
fn ppo_trains_on_the_sampled_tokens_up_to_the_turn_marker() {
    let tokenizer = tiny_superhf::tokenizer();
    let ids = |text: &str| tokenizer.encode(text, false).unwrap();
    let eos = tokenizer.eos_id().expect("the tiny tokenizer has </s>");
    let sample = |tokens: Vec<u32>, text: &str, cut: bool| Sample {
        prompt: 0,
        text: text.into(),
        generated: Completion {
            log_probs: vec![-1.0; tokens.len()],
            tokens,
            stopped: false,
        },
        cut,
    };
    let cut = sample(ids("good day Human: the movie"), "good day", true);
    assert_eq!(response_tokens(&cut, &tokenizer).unwrap(), ids("good day"));
    let mut whole = ids("a nice dog");
    whole.push(eos);
    let ended = sample(whole.clone(), "a nice dog", false);
    assert_eq!(response_tokens(&ended, &tokenizer).unwrap(), whole);
}
