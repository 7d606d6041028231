//! Rollouts: completions sampled from a policy for a batch of prompts, cut at the next turn of
//! the conversation, and scored by reward models. SuperHF, best-of-N and PPO all begin here.
//!
//! A completion's text is what the policy sampled, decoded without special tokens, cut at the
//! first turn marker and trimmed; an empty one carries no answer and the callers drop it. A
//! reward model reads `prompt + " " + completion`, the prompt as the policy saw it (framed).

use super::config::RolloutConfig;
use super::prompts::chat_frame;
use crate::LabError;
use crate::device::read;
use crate::models::CausalLm;
use crate::models::encoder::batch::TokenBatch;
use crate::models::encoder::reward::RewardModel;
use crate::models::generate::{Completion, generate};
use crate::models::tokenizer::Tokenizer;
use crate::rng::SplitMix64;
use burn::tensor::Device;

/// A prompt as the policy reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptTurn {
    /// The prompt as written.
    pub text: String,
    /// In the chat frame, or as written for plain text.
    pub framed: String,
    /// The policy's tokens of `framed`.
    pub tokens: Vec<u32>,
}

impl PromptTurn {
    pub fn new(text: &str, chat: bool, tokenizer: &Tokenizer) -> Result<Self, LabError> {
        let framed = match chat {
            true => chat_frame(text),
            false => text.to_string(),
        };
        let tokens = tokenizer.encode(&framed, true)?;
        Ok(Self {
            text: text.to_string(),
            framed,
            tokens,
        })
    }

    /// What a reward model reads for a completion of this prompt.
    pub fn scored_text(&self, completion: &str) -> String {
        format!("{} {completion}", self.framed)
    }
}

/// One sampled completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Which of the batch's prompts it answers.
    pub prompt: usize,
    /// The decoded text, cut at the first turn marker and trimmed; empty when nothing was
    /// said before the marker.
    pub text: String,
    /// The tokens as sampled, with their log-probabilities (what PPO trains on).
    pub generated: Completion,
    /// Whether a turn marker cut the text.
    pub cut: bool,
}

impl Sample {
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// `text` up to the first of `markers`, trimmed, and whether a marker was found.
pub fn cut_at_turn(text: &str, markers: &[String]) -> (String, bool) {
    let first = (markers.iter())
        .filter(|marker| !marker.is_empty())
        .filter_map(|marker| text.find(marker.as_str()))
        .min();
    match first {
        Some(end) => (text[..end].trim().to_string(), true),
        None => (text.trim().to_string(), false),
    }
}

/// The new-token budget and the sampling seed of each prompt of a step, drawn from the step's
/// seed so that a run repeats.
fn budget_and_seed(config: &RolloutConfig, step_seed: u64, prompt: usize) -> (usize, u64) {
    let mut numbers = SplitMix64::for_name(step_seed, &format!("prompt {prompt}"));
    let budget = config.new_tokens;
    let span = (budget.max - budget.min) as u64 + 1;
    let tokens = budget.min + (numbers.next_u64() % span) as usize;
    (tokens, numbers.next_u64())
}

/// `config.completions_per_prompt` completions of each prompt, prompt by prompt (each one's
/// completions in one batch, the prompt run once), ending at the tokenizer's end-of-sequence
/// token when it has one.
pub async fn sample(
    policy: &impl CausalLm,
    tokenizer: &Tokenizer,
    prompts: &[PromptTurn],
    config: &RolloutConfig,
    step_seed: u64,
    device: &Device,
) -> Result<Vec<Sample>, LabError> {
    let mut samples = Vec::new();
    for (index, prompt) in prompts.iter().enumerate() {
        let (budget, seed) = budget_and_seed(config, step_seed, index);
        let mut sampling = config.sampling(budget, seed);
        sampling.stop_tokens.extend(tokenizer.eos_id());
        let batch = vec![prompt.tokens.clone(); config.completions_per_prompt];
        for generated in generate(policy, &batch, &sampling, device).await? {
            let decoded = tokenizer.decode(&generated.tokens, true)?;
            let (text, cut) = cut_at_turn(&decoded, &config.turn_markers);
            samples.push(Sample {
                prompt: index,
                text,
                generated,
                cut,
            });
        }
    }
    Ok(samples)
}

/// A reward model with the tokenizer it reads with.
pub struct RewardScorer<'a> {
    pub model: &'a dyn RewardModel,
    pub tokenizer: &'a Tokenizer,
    /// Longer texts keep their first token (a classifier's `[CLS]`) and their last tokens,
    /// where the completion is.
    pub max_tokens: usize,
    pub device: Device,
}

/// The length a reward model reads when its tokenizer names none: BERT's positions.
pub const DEFAULT_REWARD_TOKENS: usize = 512;

impl<'a> RewardScorer<'a> {
    pub fn new(model: &'a dyn RewardModel, tokenizer: &'a Tokenizer, device: &Device) -> Self {
        Self {
            model,
            tokenizer,
            max_tokens: tokenizer
                .truncation_length()
                .unwrap_or(DEFAULT_REWARD_TOKENS),
            device: device.clone(),
        }
    }

    /// One reward per text, `batch_size` texts at a time.
    pub async fn score(&self, texts: &[String], batch_size: usize) -> Result<Vec<f32>, LabError> {
        let mut rewards = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(batch_size.max(1)) {
            let sequences = (chunk.iter())
                .map(|text| Ok(self.truncated(self.tokenizer.encode(text, true)?)))
                .collect::<Result<Vec<_>, LabError>>()?;
            let pad = self.tokenizer.pad_id().unwrap_or(0);
            let batch = TokenBatch::right_padded(&sequences, pad, &self.device)?;
            rewards.extend(read(self.model.rewards(&batch)?).await?);
        }
        Ok(rewards)
    }

    fn truncated(&self, mut tokens: Vec<u32>) -> Vec<u32> {
        if tokens.len() > self.max_tokens && self.max_tokens > 1 {
            tokens.drain(1..tokens.len() - (self.max_tokens - 1));
        }
        tokens
    }
}

/// The training reward with the length penalty: `reward - c * ln(characters)`.
pub fn penalised(reward: f64, completion: &str, length_penalty: f64) -> f64 {
    match length_penalty {
        0.0 => reward,
        c => reward - c * (completion.chars().count().max(1) as f64).ln(),
    }
}

/// The rewards of a batch of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Rewards {
    /// By the training reward model.
    pub train: Vec<f64>,
    /// By the held-out reward model, when there is one.
    pub heldout: Option<Vec<f64>>,
    /// The training reward after the length penalty: what filters rank.
    pub score: Vec<f64>,
}

/// Scores each sample after its prompt with the training and (when given) held-out reward
/// models.
pub async fn score(
    prompts: &[PromptTurn],
    samples: &[Sample],
    reward: &RewardScorer<'_>,
    heldout: Option<&RewardScorer<'_>>,
    config: &RolloutConfig,
) -> Result<Rewards, LabError> {
    let texts: Vec<String> = (samples.iter())
        .map(|sample| prompts[sample.prompt].scored_text(&sample.text))
        .collect();
    let widen = |values: Vec<f32>| -> Vec<f64> { values.into_iter().map(f64::from).collect() };
    let batch = config.score_batch_size;
    let train = widen(reward.score(&texts, batch).await?);
    let heldout = match heldout {
        Some(model) => Some(widen(model.score(&texts, batch).await?)),
        None => None,
    };
    let score = (train.iter().zip(samples))
        .map(|(&reward, sample)| penalised(reward, &sample.text, config.length_penalty))
        .collect();
    Ok(Rewards {
        train,
        heldout,
        score,
    })
}

/// One step's completions (see [`sample`]) under the step's own seed, checked for divergence,
/// with the empty ones dropped and counted.
pub async fn sample_step(
    policy: &impl CausalLm,
    tokenizer: &Tokenizer,
    prompts: &[PromptTurn],
    config: &RolloutConfig,
    run_seed: u64,
    step: usize,
    device: &Device,
) -> Result<(Vec<Sample>, usize), LabError> {
    let seed = super::train::step_seed(run_seed, "sample", step);
    let mut samples = sample(policy, tokenizer, prompts, config, seed, device).await?;
    check_finite(&samples, step)?;
    let dropped = drop_empty(&mut samples);
    Ok((samples, dropped))
}

/// Fails as diverged at `step` when the policy gave a sampled token a log-probability that is
/// not a number: the last update broke the policy.
pub fn check_finite(samples: &[Sample], step: usize) -> Result<(), LabError> {
    let finite = |sample: &Sample| sample.generated.log_probs.iter().all(|p| p.is_finite());
    match samples.iter().all(finite) {
        true => Ok(()),
        false => Err(LabError::Diverged {
            step,
            what: "the policy's logits are no longer finite numbers, so the last update \
                   broke it; lower the learning rate"
                .into(),
        }),
    }
}

/// Removes the samples with no text and says how many there were.
pub fn drop_empty(samples: &mut Vec<Sample>) -> usize {
    let before = samples.len();
    samples.retain(|sample| !sample.is_empty());
    before - samples.len()
}
