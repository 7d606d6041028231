//! What SuperHF and best-of-N runs report: per-step series, the sampled completions with their
//! rewards, and which models (by file hash) produced them.

use super::config::{BestOfNConfig, SuperHfConfig};
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

pub type SuperHfReport = RunReport<SuperHfConfig, SuperHfResult>;
pub type BestOfNReport = RunReport<BestOfNConfig, BestOfNResult>;

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
