//! RLHF with PPO, the baseline SuperHF is judged against: a value head on the policy, per-token
//! rewards with a KL penalty toward the reference model, generalised advantage estimates, and
//! several epochs of clipped policy and value updates per batch of rollouts (Ziegler et al.
//! 2019, as PPO for language models is commonly run).
//!
//! A batch holds one row per completion: its prompt tokens followed by its response tokens,
//! right-padded to a common length. Log-probabilities and values are laid out by position,
//! `[rows, positions - 1]`: entry `t` belongs to the token at position `t + 1`, predicted from
//! the positions before it; only the response tokens count, as a mask selects.

use super::advantage::{generalised_advantages, token_rewards, whiten};
use super::loss::{PpoBatch, PpoClip, ppo_loss, token_log_probs};
use crate::LabError;
use crate::device::read;
use crate::models::CausalLm;
use crate::models::language_model::LanguageModel;
use crate::rng::named_uniform;
use burn::module::{Module, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// PPO's settings, with the values METHODS.md gives for the SuperHF paper's baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PpoConfig {
    /// The KL penalty's coefficient in the reward (its starting value when adaptive).
    pub kl_coefficient: f64,
    /// Adapts the coefficient toward `kl_target` (Ziegler et al.'s proportional controller).
    pub adaptive_kl: bool,
    pub kl_target: f64,
    pub kl_horizon: f64,
    pub gamma: f64,
    pub lambda: f64,
    pub clip_ratio: f64,
    pub clip_value: f64,
    pub value_coefficient: f64,
    /// Optimisation passes over each batch of rollouts.
    pub epochs: usize,
    /// Rows per optimiser step.
    pub minibatch_size: usize,
    pub learning_rate: f64,
    /// Shifts and scales the reward model's scores over each batch to mean 0 and deviation 1.
    pub whiten_scores: bool,
    /// Visits the minibatches of each epoch in a seeded random order, else in order.
    pub shuffle: bool,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            kl_coefficient: 0.2,
            adaptive_kl: false,
            kl_target: 6.0,
            kl_horizon: 10_000.0,
            gamma: 1.0,
            lambda: 0.95,
            clip_ratio: 0.2,
            clip_value: 0.2,
            value_coefficient: 0.1,
            epochs: 4,
            minibatch_size: 4,
            learning_rate: 1e-5,
            whiten_scores: true,
            shuffle: true,
        }
    }
}

impl PpoConfig {
    pub fn validate(&self) -> Result<(), LabError> {
        let positive = [
            ("the learning rate", self.learning_rate),
            ("the clip ratio", self.clip_ratio),
            ("the value clip", self.clip_value),
            ("the KL target", self.kl_target),
            ("the KL horizon", self.kl_horizon),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| !(v.is_finite() && *v > 0.0)) {
            return Err(LabError::Config(format!("PPO: {name} must be positive")));
        }
        let unit = [("gamma", self.gamma), ("lambda", self.lambda)];
        if let Some((name, _)) = unit.iter().find(|(_, v)| !(0.0..=1.0).contains(v)) {
            return Err(LabError::Config(format!("PPO: {name} must be in [0, 1]")));
        }
        if !(self.kl_coefficient >= 0.0 && self.value_coefficient >= 0.0) {
            return Err(LabError::Config(
                "PPO: the KL and value coefficients must not be negative".into(),
            ));
        }
        if self.epochs == 0 || self.minibatch_size == 0 {
            return Err(LabError::Config(
                "PPO: epochs and the minibatch size must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// The value head: one linear map from the policy's final hidden state to a value estimate.
#[derive(Module, Debug)]
pub struct ValueHead {
    /// `[width, 1]`.
    pub weight: Param<Tensor<2>>,
    /// `[1]`.
    pub bias: Param<Tensor<1>>,
}

impl ValueHead {
    /// Weights uniform in `±1/sqrt(width)` (PyTorch's default for a linear layer), drawn by
    /// name from `seed` so that a run repeats and a reference can rebuild them.
    pub fn new(width: usize, seed: u64, device: &Device) -> Self {
        let bound = 1.0 / (width as f32).sqrt();
        let weight = named_uniform(seed, "value_head.weight", width, bound, 0.0);
        let bias = named_uniform(seed, "value_head.bias", 1, bound, 0.0);
        Self {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(weight, [width, 1]),
                device,
            )),
            bias: Param::from_tensor(Tensor::from_data(TensorData::new(bias, [1]), device)),
        }
    }

    /// Shapes: `hidden` is `[rows, positions, width]`; the result `[rows, positions]`.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [rows, positions, width] = hidden.dims();
        let values = hidden
            .reshape([rows * positions, width])
            .matmul(self.weight.val());
        (values + self.bias.val().unsqueeze::<2>()).reshape([rows, positions])
    }

    /// The head as safetensors (float32) under the names of trl's
    /// `AutoModelForCausalLMWithValueHead` state dict, in PyTorch's layout:
    /// `v_head.summary.weight` `[1, width]` and `v_head.summary.bias` `[1]`.
    pub async fn safetensors(&self) -> Result<Vec<u8>, LabError> {
        let width = self.weight.dims()[0];
        // `[width, 1]` and its transpose `[1, width]` hold their values in the same order.
        let weight = read(self.weight.val()).await?;
        let bias = read(self.bias.val()).await?;
        let bytes =
            |values: &[f32]| -> Vec<u8> { values.iter().flat_map(|v| v.to_le_bytes()).collect() };
        let tensors = [
            ("v_head.summary.weight", vec![1, width], bytes(&weight)),
            ("v_head.summary.bias", vec![1], bytes(&bias)),
        ];
        let views = (tensors.iter())
            .map(|(name, shape, data)| {
                let view = safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    shape.clone(),
                    data,
                );
                view.map(|view| (name.to_string(), view))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| {
                LabError::Execution(format!("cannot lay out the value head: {error}"))
            })?;
        let metadata = Some([("format".to_string(), "pt".to_string())].into());
        safetensors::serialize(views, metadata)
            .map_err(|error| LabError::Execution(format!("cannot write the value head: {error}")))
    }
}

/// The policy and its value head, trained together.
#[derive(Module, Debug)]
pub struct PolicyWithValue {
    pub policy: LanguageModel,
    pub value_head: ValueHead,
}

impl PolicyWithValue {
    /// Log-probabilities of each next token and the value of each state before it.
    ///
    /// Shapes: `tokens` is `[rows, positions]`; both results are `[rows, positions - 1]`.
    pub fn evaluate(&self, tokens: Tensor<2, Int>) -> (Tensor<2>, Tensor<2>) {
        let [rows, positions] = tokens.dims();
        let hidden = self.policy.hidden(tokens.clone());
        let states = hidden.narrow(1, 0, positions - 1);
        let logits = self.policy.project(states.clone());
        let targets = tokens.narrow(1, 1, positions - 1);
        let logp = token_log_probs(logits, targets);
        let values = self.value_head.forward(states);
        debug_assert_eq!(values.dims(), [rows, positions - 1]);
        (logp, values)
    }
}

/// One batch of rollouts: prompt and response tokens of each row, and the reward model's score
/// of each response.
#[derive(Debug, Clone)]
pub struct Rollouts {
    /// One row per completion, prompt then response, unpadded.
    pub rows: Vec<Vec<u32>>,
    pub prompt_lengths: Vec<usize>,
    pub scores: Vec<f32>,
}

impl Rollouts {
    fn validate(&self) -> Result<(), LabError> {
        let count = self.rows.len();
        if count == 0 || self.prompt_lengths.len() != count || self.scores.len() != count {
            return Err(LabError::Config(
                "PPO: a batch needs one prompt length and one score per row".into(),
            ));
        }
        let empty = (self.rows.iter().zip(&self.prompt_lengths))
            .any(|(row, &prompt)| prompt == 0 || row.len() <= prompt);
        if empty {
            return Err(LabError::Config(
                "PPO: every row needs a prompt token and at least one response token".into(),
            ));
        }
        Ok(())
    }

    /// The longest row's length.
    pub fn width(&self) -> usize {
        self.rows.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// The rows right-padded with `pad`, `[rows, width]`.
    pub fn tokens(&self, pad: u32, device: &Device) -> Tensor<2, Int> {
        let width = self.width();
        let ids: Vec<i32> = (self.rows.iter())
            .flat_map(|row| (0..width).map(move |i| *row.get(i).unwrap_or(&pad) as i32))
            .collect();
        Tensor::from_data(TensorData::new(ids, [self.rows.len(), width]), device)
    }

    /// Where each row's response lies in the `[rows, width - 1]` layout.
    pub fn response_span(&self, row: usize) -> std::ops::Range<usize> {
        self.prompt_lengths[row] - 1..self.rows[row].len() - 1
    }
}

/// What one PPO update did, averaged over its minibatch steps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PpoStats {
    pub score: f64,
    /// Sum over response tokens of `logp_policy - logp_reference`, averaged over rows.
    pub kl: f64,
    pub kl_coefficient: f64,
    pub reward: f64,
    pub policy_loss: f64,
    pub value_loss: f64,
    pub loss: f64,
    pub clip_fraction: f64,
    pub approximate_kl: f64,
    /// The total loss of every minibatch step, in order.
    pub step_losses: Vec<f64>,
}

/// The proportional controller that moves the KL coefficient toward its target.
pub fn adapt_kl_coefficient(config: &PpoConfig, coefficient: f64, kl: f64, rows: usize) -> f64 {
    if !config.adaptive_kl {
        return coefficient;
    }
    let error = (kl / config.kl_target - 1.0).clamp(-0.2, 0.2);
    coefficient * (1.0 + error * rows as f64 / config.kl_horizon)
}

/// Advantages and returns of every row in the `[rows, width - 1]` layout, with the mask of
/// response positions, from the old log-probabilities and values read back to the host.
struct Targets {
    advantages: Vec<f32>,
    returns: Vec<f32>,
    mask: Vec<f32>,
    kl: f64,
    reward: f64,
}

fn targets(
    rollouts: &Rollouts,
    logp_old: &[f32],
    logp_reference: &[f32],
    values_old: &[f32],
    config: &PpoConfig,
    kl_coefficient: f64,
) -> Targets {
    let columns = rollouts.width() - 1;
    let mut scores = vec![rollouts.scores.clone()];
    if config.whiten_scores {
        whiten(&mut scores, false);
    }
    let (mut advantage_rows, mut return_rows) = (Vec::new(), Vec::new());
    let (mut kl, mut reward) = (0.0, 0.0);
    for row in 0..rollouts.rows.len() {
        let span = rollouts.response_span(row);
        let at =
            |values: &[f32]| values[row * columns + span.start..row * columns + span.end].to_vec();
        let (policy, reference) = (at(logp_old), at(logp_reference));
        let rewards = token_rewards(scores[0][row], &policy, &reference, kl_coefficient as f32);
        kl += policy
            .iter()
            .zip(&reference)
            .map(|(p, r)| f64::from(p - r))
            .sum::<f64>();
        reward += rewards.iter().map(|&r| f64::from(r)).sum::<f64>();
        let (advantages, returns) = generalised_advantages(
            &rewards,
            &at(values_old),
            config.gamma as f32,
            config.lambda as f32,
        );
        advantage_rows.push(advantages);
        return_rows.push(returns);
    }
    whiten(&mut advantage_rows, false);
    let rows = rollouts.rows.len();
    let (mut advantages, mut returns, mut mask) = (
        vec![0.0; rows * columns],
        vec![0.0; rows * columns],
        vec![0.0; rows * columns],
    );
    for row in 0..rows {
        let span = rollouts.response_span(row);
        let range = row * columns + span.start..row * columns + span.end;
        advantages[range.clone()].copy_from_slice(&advantage_rows[row]);
        returns[range.clone()].copy_from_slice(&return_rows[row]);
        mask[range].fill(1.0);
    }
    Targets {
        advantages,
        returns,
        mask,
        kl: kl / rows as f64,
        reward: reward / rows as f64,
    }
}

/// One PPO update on a batch of rollouts: old log-probabilities and values, the reference's
/// log-probabilities, rewards and advantages, then `epochs` passes of minibatch steps.
///
/// `model` lives on an autodiff device; `reference` is the frozen initial policy, whose
/// log-probabilities carry no gradient. `minibatch_order` draws the order of each epoch's minibatches
/// when the config shuffles. A minibatch loss that is not finite ends the update with
/// `LabError::Diverged`, its step the optimiser step of this update (from 1) that found it.
pub async fn update(
    mut model: PolicyWithValue,
    reference: &LanguageModel,
    optimizer: &mut ModuleOptimizer,
    rollouts: &Rollouts,
    config: &PpoConfig,
    kl_coefficient: f64,
    mut minibatch_order: impl FnMut(usize) -> Vec<usize>,
) -> Result<(PolicyWithValue, PpoStats), LabError> {
    config.validate()?;
    rollouts.validate()?;
    let device = model.value_head.weight.val().device();
    let tokens = rollouts.tokens(0, &device);
    let (rows, columns) = (rollouts.rows.len(), rollouts.width() - 1);

    let (logp_old, values_old) = model.evaluate(tokens.clone());
    let (logp_old, values_old) = (logp_old.detach(), values_old.detach());
    let logits_reference = reference.logits(tokens.clone()).narrow(1, 0, columns);
    let logp_reference = token_log_probs(logits_reference, tokens.clone().narrow(1, 1, columns));
    let targets = targets(
        rollouts,
        &read(logp_old.clone()).await?,
        &read(logp_reference).await?,
        &read(values_old.clone()).await?,
        config,
        kl_coefficient,
    );
    let host = |values: Vec<f32>| {
        Tensor::<2>::from_data(TensorData::new(values, [rows, columns]), &device)
    };
    let (advantages, returns, mask) = (
        host(targets.advantages),
        host(targets.returns),
        host(targets.mask),
    );

    let mut stats = PpoStats {
        score: rollouts.scores.iter().map(|&s| f64::from(s)).sum::<f64>() / rows as f64,
        kl: targets.kl,
        kl_coefficient,
        reward: targets.reward,
        policy_loss: 0.0,
        value_loss: 0.0,
        loss: 0.0,
        clip_fraction: 0.0,
        approximate_kl: 0.0,
        step_losses: Vec::new(),
    };
    let minibatches = rows.div_ceil(config.minibatch_size);
    for _ in 0..config.epochs {
        let order = if config.shuffle {
            minibatch_order(minibatches)
        } else {
            (0..minibatches).collect()
        };
        for minibatch in order {
            let start = minibatch * config.minibatch_size;
            let size = config.minibatch_size.min(rows - start);
            let select = |t: &Tensor<2>| t.clone().narrow(0, start, size);
            let (logp_new, values_new) = model.evaluate(tokens.clone().narrow(0, start, size));
            let batch = PpoBatch {
                logp_old: select(&logp_old),
                values_old: select(&values_old),
                advantages: select(&advantages),
                returns: select(&returns),
                mask: select(&mask),
            };
            let clip = PpoClip {
                ratio: config.clip_ratio,
                value: config.clip_value,
                value_coefficient: config.value_coefficient,
            };
            let loss = ppo_loss(logp_new, values_new, &batch, clip);
            let gradients = loss.total.backward();
            let values = read(Tensor::cat(
                vec![
                    loss.total.detach(),
                    loss.policy.detach(),
                    loss.value.detach(),
                    loss.clip_fraction,
                    loss.approximate_kl,
                ],
                0,
            ))
            .await?;
            if values.iter().any(|v| !v.is_finite()) {
                return Err(LabError::Diverged {
                    step: stats.step_losses.len() + 1,
                    what: format!(
                        "the minibatch loss is {} (policy loss {}, value loss {}, approximate KL \
                         to the sampling policy {})",
                        values[0], values[1], values[2], values[4]
                    ),
                });
            }
            let gradients = GradientsParams::from_grads(gradients, &model);
            model = optimizer.step(config.learning_rate, model, gradients);
            stats.step_losses.push(f64::from(values[0]));
            stats.policy_loss += f64::from(values[1]);
            stats.value_loss += f64::from(values[2]);
            stats.clip_fraction += f64::from(values[3]);
            stats.approximate_kl += f64::from(values[4]);
        }
    }
    let steps = stats.step_losses.len() as f64;
    stats.loss = stats.step_losses.iter().sum::<f64>() / steps;
    stats.policy_loss /= steps;
    stats.value_loss /= steps;
    stats.clip_fraction /= steps;
    stats.approximate_kl /= steps;
    Ok((model, stats))
}
