//! Decoding from a causal language model through its key-value cache: greedy, or sampling with
//! temperature, top-k and top-p, for a batch of prompts at once.
//!
//! The prompts of one batch must have the same length (SuperHF repeats one prompt for all its
//! completions, so no padding is needed); prompts of different lengths are rejected with an
//! error that says to batch them by length. A prompt repeated over the whole batch runs through
//! the model once, its keys and values then copied for each sequence. Each step reads back one
//! small tensor, the chosen ids and their log-probabilities for the whole batch.
//!
//! A caller that shows progress, offers Stop or ends sequences by their text (stop strings)
//! passes an observer to [`generate_observed`], which it awaits after every step with each
//! sequence's tokens so far and which may mark sequences as stopped.
//!
//! The random numbers come from the lab's SplitMix64, one per sequence and step in order, so a
//! seed repeats a run exactly on the same backend (backends may still round logits
//! differently, which can change a draw that falls on a boundary).

use super::CausalLm;
use super::cache::KvCache;
use super::sampling::{self, Filter};
use crate::LabError;
use crate::device::read;
use crate::progress::Control;
use crate::rng::SplitMix64;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingConfig {
    pub max_new_tokens: usize,
    /// Divides the logits before top-k and top-p; 0 decodes greedily (the most probable token
    /// each step, no random numbers).
    pub temperature: f32,
    /// Keeps only the `top_k` most probable tokens; 0 keeps all.
    pub top_k: usize,
    /// Keeps only the most probable tokens whose probabilities sum to `top_p`; 1 keeps all.
    pub top_p: f32,
    /// A sequence ends after any of these tokens (which its completion includes).
    pub stop_tokens: Vec<u32>,
    pub seed: u64,
}

impl Default for SamplingConfig {
    /// SuperHF's sampling: temperature 1, top-p 0.95, up to 64 new tokens.
    fn default() -> Self {
        Self {
            max_new_tokens: 64,
            temperature: 1.0,
            top_k: 0,
            top_p: 0.95,
            stop_tokens: Vec::new(),
            seed: 0,
        }
    }
}

impl SamplingConfig {
    /// The most probable token each step.
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self {
            max_new_tokens,
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            ..Self::default()
        }
    }

    pub fn validate(&self) -> Result<(), LabError> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(LabError::Config(format!(
                "the sampling temperature is {}; it must be 0 (greedy) or positive",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(LabError::Config(format!(
                "top_p is {}; it must be in (0, 1], 1 keeping every token",
                self.top_p
            )));
        }
        Ok(())
    }
}

/// One sequence's new tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The sampled ids, ending with the stop token when one was sampled.
    pub tokens: Vec<u32>,
    /// The log-probability of each sampled token under the model's own distribution
    /// (temperature 1, no top-k or top-p), given the prompt and the tokens before it.
    pub log_probs: Vec<f32>,
    /// Whether the sequence ended with a stop token (or its observer ended it) rather than at
    /// `max_new_tokens`.
    pub stopped: bool,
}

/// Continues each prompt, all in one batch; stops early once every sequence has stopped.
pub async fn generate(
    model: &impl CausalLm,
    prompts: &[Vec<u32>],
    config: &SamplingConfig,
    device: &Device,
) -> Result<Vec<Completion>, LabError> {
    let go_on = async |_: usize, _: &mut [Completion]| Control::Continue;
    generate_observed(model, prompts, config, device, go_on).await
}

/// [`generate`], awaiting `after_step(step, completions)` after every decoding step (`step`
/// counts from 1); when it answers [`Control::Stop`] the completions end there, with the tokens
/// chosen so far. It may also end single sequences by setting their `stopped`.
pub async fn generate_observed(
    model: &impl CausalLm,
    prompts: &[Vec<u32>],
    config: &SamplingConfig,
    device: &Device,
    mut after_step: impl AsyncFnMut(usize, &mut [Completion]) -> Control,
) -> Result<Vec<Completion>, LabError> {
    config.validate()?;
    let prompt_len = check_prompts(prompts)?;
    check_length(model, prompt_len, config.max_new_tokens)?;
    let batch = prompts.len();
    let filter = Filter {
        temperature: config.temperature,
        top_k: config.top_k,
        top_p: config.top_p,
    };
    let mut completions = vec![Completion::default(); batch];
    if config.max_new_tokens == 0 {
        return Ok(completions);
    }
    let mut numbers = SplitMix64::new(config.seed);
    let mut cache = KvCache::new(model.layers());
    let mut last = prompt_logits(model, prompts, &mut cache, device);
    for step in 1..=config.max_new_tokens {
        let (tokens, log_probs) = match config.temperature {
            0.0 => sampling::most_probable(last),
            _ => {
                let uniforms: Vec<f32> = (0..batch).map(|_| numbers.unit_f32()).collect();
                let uniforms = Tensor::from_data(TensorData::new(uniforms, [batch, 1]), device);
                sampling::draw(last, &filter, uniforms)
            }
        };
        let chosen = read(Tensor::cat(vec![tokens.clone().float(), log_probs], 1)).await?;
        for (completion, pair) in completions.iter_mut().zip(chosen.chunks_exact(2)) {
            if completion.stopped {
                continue;
            }
            let token = pair[0] as u32;
            completion.tokens.push(token);
            completion.log_probs.push(pair[1]);
            completion.stopped = config.stop_tokens.contains(&token);
        }
        let control = after_step(step, &mut completions).await;
        let all_stopped = completions.iter().all(|completion| completion.stopped);
        if step == config.max_new_tokens || all_stopped || control == Control::Stop {
            break;
        }
        last = last_logits(model, model.hidden_states(tokens, &mut cache));
    }
    Ok(completions)
}

/// The logits of the token after each prompt, leaving the prompts' keys and values in `cache`.
/// A prompt shared by the whole batch runs once.
///
/// Shapes: the result is `[batch, vocab]`.
fn prompt_logits(
    model: &impl CausalLm,
    prompts: &[Vec<u32>],
    cache: &mut KvCache,
    device: &Device,
) -> Tensor<2> {
    let batch = prompts.len();
    if prompts.iter().all(|prompt| prompt == &prompts[0]) {
        let hidden = model.hidden_states(tokens_tensor(&prompts[..1], device), cache);
        cache.repeat_batch(batch);
        last_logits(model, hidden).repeat_dim(0, batch)
    } else {
        last_logits(
            model,
            model.hidden_states(tokens_tensor(prompts, device), cache),
        )
    }
}

/// The logits of the last position only: the others need no output projection.
///
/// Shapes: `hidden` is `[batch, positions, width]`; the result is `[batch, vocab]`.
fn last_logits(model: &impl CausalLm, hidden: Tensor<3>) -> Tensor<2> {
    let [batch, positions, _] = hidden.dims();
    let last = hidden.narrow(1, positions - 1, 1);
    model.project(last).reshape([batch, model.vocab_size()])
}

/// The `new_tokens` most probable continuations of `prompt`, one token at a time through the
/// key-value cache.
pub async fn greedy(
    model: &impl CausalLm,
    prompt: &[u32],
    new_tokens: usize,
    device: &Device,
) -> Result<Vec<u32>, LabError> {
    let config = SamplingConfig::greedy(new_tokens);
    let mut completions = generate(model, &[prompt.to_vec()], &config, device).await?;
    Ok(completions.remove(0).tokens)
}

/// The length shared by all prompts.
fn check_prompts(prompts: &[Vec<u32>]) -> Result<usize, LabError> {
    let Some(first) = prompts.first() else {
        return Err(LabError::Config("no prompt to continue".into()));
    };
    if first.is_empty() {
        return Err(LabError::Config("the prompt has no tokens".into()));
    }
    if let Some(other) = prompts.iter().find(|prompt| prompt.len() != first.len()) {
        return Err(LabError::Config(format!(
            "the prompts of one batch must have the same length, but one has {} tokens and \
             another {}; generate prompts of different lengths in separate batches",
            first.len(),
            other.len()
        )));
    }
    Ok(first.len())
}

fn check_length(model: &impl CausalLm, prompt: usize, new_tokens: usize) -> Result<(), LabError> {
    let positions = model.max_positions();
    if prompt + new_tokens > positions {
        return Err(LabError::Config(format!(
            "{prompt} prompt tokens and {new_tokens} new ones exceed the model's {positions} \
             positions; shorten the prompt or ask for at most {} new tokens",
            positions.saturating_sub(prompt)
        )));
    }
    Ok(())
}

/// Sequences of token ids of equal length as a `[batch, len]` tensor.
pub fn tokens_tensor(sequences: &[Vec<u32>], device: &Device) -> Tensor<2, Int> {
    let len = sequences.first().map_or(0, Vec::len);
    let ids: Vec<i32> = sequences.iter().flatten().map(|&id| id as i32).collect();
    Tensor::from_data(TensorData::new(ids, [sequences.len(), len]), device)
}
