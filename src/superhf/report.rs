//! What SuperHF, best-of-N and PPO runs report: per-step series, the sampled completions with
//! their rewards, and which models (by file hash) produced them. The series every run reports
//! share their names (`reward_train`, `reward_heldout`, `kl`, `meteor_similarity`), so that a
//! page can overlay the runs.

use super::config::{BestOfNConfig, PpoRunConfig, SuperHfConfig};
use super::rollout::{PromptTurn, Rewards, Sample};
use crate::progress::StepEvent;
use crate::report::RunReport;
use serde::Serialize;

/// One file of a model, so that a report names exactly the weights it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileDigest {
    pub name: String,
    pub bytes: u64,
    /// Lower-case hexadecimal.
    pub sha256: String,
}

/// Where a model came from: a hub id or a path, and its files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelIdentity {
    pub id: String,
    pub files: Vec<FileDigest>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelsUsed {
    pub policy: ModelIdentity,
    pub reward: ModelIdentity,
    pub heldout_reward: Option<ModelIdentity>,
}

/// One sampled completion and what the reward models made of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleRecord {
    pub step: usize,
    pub prompt: String,
    pub completion: String,
    pub reward_train: f64,
    pub reward_heldout: Option<f64>,
    /// The training reward after the length penalty: what the filter ranks.
    pub score: f64,
    /// Kept for fine-tuning (SuperHF) or chosen as the answer (best-of-N).
    pub kept: bool,
    /// Whether a turn marker cut the completion.
    pub cut: bool,
}

/// SuperHF's series, one value per finished step; `null` where a step had nothing to measure
/// (no held-out model, no pair of prompts, or every completion empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SuperHfSeries {
    /// Mean training reward of the step's completions: the current policy's reward.
    pub reward_train: Vec<f64>,
    /// Mean held-out reward of the same completions: the headline figure.
    pub reward_heldout: Vec<Option<f64>>,
    /// `KL(p_ref || p_policy)` on the kept completions, mean over their positions, before each
    /// optimiser step, averaged over the step's minibatches.
    pub kl: Vec<Option<f64>>,
    /// METEOR similarity between kept completions of different prompts.
    pub meteor_similarity: Vec<Option<f64>>,
    /// The loss (cross-entropy plus the weighted KL), averaged over the step's minibatches.
    pub loss: Vec<Option<f64>>,
    pub cross_entropy: Vec<Option<f64>>,
    /// Mean training reward of the kept completions.
    pub reward_train_kept: Vec<f64>,
    /// The learning rate of the step's last optimiser step.
    pub learning_rate: Vec<Option<f64>>,
    /// Completions with text, and completions dropped for having none.
    pub completions: Vec<usize>,
    pub dropped_empty: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuperHfResult {
    pub seed: u64,
    pub models: ModelsUsed,
    /// The policy was fine-tuned with LoRA adapters (else in full).
    pub lora: bool,
    #[serde(flatten)]
    pub series: SuperHfSeries,
    pub samples: Vec<SampleRecord>,
}

/// Best-of-N's series, one value per batch of prompts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BestOfNSeries {
    /// Mean training reward of the chosen completions: best-of-N's answers.
    pub reward_train: Vec<f64>,
    pub reward_heldout: Vec<Option<f64>>,
    /// The KL of the best-of-N distribution from the policy's, `ln N - (N - 1) / N` (Stiennon
    /// et al. 2020), an upper bound that holds whatever the rewards, with N the completions
    /// with text.
    pub kl: Vec<Option<f64>>,
    pub meteor_similarity: Vec<Option<f64>>,
    /// Mean training reward of all N completions: the policy's own reward.
    pub reward_train_all: Vec<f64>,
    pub completions: Vec<usize>,
    pub dropped_empty: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BestOfNResult {
    pub seed: u64,
    pub models: ModelsUsed,
    #[serde(flatten)]
    pub series: BestOfNSeries,
    pub samples: Vec<SampleRecord>,
}

/// PPO's series, one value per finished step: SuperHF's under the same names first, then
/// PPO's own. `null` where a step had nothing to measure or train on (every completion empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PpoSeries {
    /// Mean training reward of the step's completions: the current policy's reward.
    pub reward_train: Vec<f64>,
    /// Mean held-out reward of the same completions: the headline figure.
    pub reward_heldout: Vec<Option<f64>>,
    /// SuperHF's KL, `KL(p_ref || p_policy)` over the full vocabulary at each completion
    /// token, mean over the completion tokens of the step's batch, under the policy that
    /// sampled them (before the step's update). SuperHF measures the same on its kept
    /// completions.
    pub kl: Vec<Option<f64>>,
    /// METEOR similarity between the step's completions of different prompts (PPO keeps no
    /// subset: it trains on them all).
    pub meteor_similarity: Vec<Option<f64>>,
    /// PPO's loss, `policy_loss + value_coefficient * value_loss`, averaged over the update's
    /// optimiser steps.
    pub loss: Vec<Option<f64>>,
    /// The clipped surrogate loss, averaged over the update's optimiser steps.
    pub policy_loss: Vec<Option<f64>>,
    /// The clipped value loss, averaged likewise.
    pub value_loss: Vec<Option<f64>>,
    /// The share of completion tokens whose probability ratio the clip changed.
    pub clip_fraction: Vec<Option<f64>>,
    /// `mean(logp_old - logp_new)`: how far each optimiser step moved the policy from the one
    /// that sampled.
    pub approximate_kl: Vec<Option<f64>>,
    /// The KL penalty's coefficient this step's rewards used.
    pub kl_coefficient: Vec<f64>,
    /// Mean of the scores PPO optimised (the training reward after the length penalty), before
    /// whitening.
    pub score_mean: Vec<Option<f64>>,
    /// PPO's own KL estimate, the sum over a completion's tokens of
    /// `logp_policy - logp_reference` of the sampled tokens, averaged over completions: what the
    /// penalty and the adaptive coefficient use.
    pub kl_sampled: Vec<Option<f64>>,
    /// Mean over completions of the summed per-token rewards: the whitened score minus the KL
    /// penalty.
    pub reward_with_penalty: Vec<Option<f64>>,
    pub learning_rate: Vec<Option<f64>>,
    /// Completions with text (each one a rollout), and completions dropped for having none.
    pub completions: Vec<usize>,
    pub dropped_empty: Vec<usize>,
}

/// Where and why a run diverged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Divergence {
    /// The step that failed (the finished steps are those before it).
    pub step: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PpoResult {
    pub seed: u64,
    pub models: ModelsUsed,
    /// The policy was fine-tuned with LoRA adapters (else in full).
    pub lora: bool,
    #[serde(flatten)]
    pub series: PpoSeries,
    /// Every sampled completion; `kept` marks those PPO trained on.
    pub samples: Vec<SampleRecord>,
    /// Set when the run diverged.
    pub divergence: Option<Divergence>,
}

pub type SuperHfReport = RunReport<SuperHfConfig, SuperHfResult>;
pub type BestOfNReport = RunReport<BestOfNConfig, BestOfNResult>;
pub type PpoReport = RunReport<PpoRunConfig, PpoResult>;

/// The steps' metrics as CSV: a `step` column, then one column per metric name (sorted), empty
/// where a step lacks it.
pub fn metrics_csv(steps: &[StepEvent]) -> String {
    let mut names: Vec<&str> = (steps.iter())
        .flat_map(|event| event.metrics.keys().map(String::as_str))
        .collect();
    names.sort();
    names.dedup();
    let mut csv = format!("step,{}\n", names.join(","));
    for event in steps {
        let cells = names.iter().map(|name| match event.metrics.get(*name) {
            Some(value) if value.is_finite() => format!("{value}"),
            _ => String::new(),
        });
        csv.push_str(&format!(
            "{},{}\n",
            event.step,
            cells.collect::<Vec<_>>().join(",")
        ));
    }
    csv
}

/// The samples as JSON Lines, one completion per line.
pub fn samples_jsonl(samples: &[SampleRecord]) -> String {
    samples
        .iter()
        .map(|sample| serde_json::to_string(sample).unwrap_or_default() + "\n")
        .collect()
}

/// The table of a step's samples; `kept` lists the indices kept or chosen.
pub fn sample_records(
    step: usize,
    prompts: &[PromptTurn],
    samples: &[Sample],
    rewards: &Rewards,
    kept: &[usize],
) -> Vec<SampleRecord> {
    (samples.iter().enumerate())
        .map(|(i, sample)| SampleRecord {
            step,
            prompt: prompts[sample.prompt].text.clone(),
            completion: sample.text.clone(),
            reward_train: rewards.train[i],
            reward_heldout: rewards.heldout.as_ref().map(|heldout| heldout[i]),
            score: rewards.score[i],
            kept: kept.contains(&i),
            cut: sample.cut,
        })
        .collect()
}
