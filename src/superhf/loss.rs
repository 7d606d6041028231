//! The losses of the language-model training loops, on logits: SuperHF's fine-tuning loss,
//! PPO's clipped objective and value loss, and the reward model's Bradley-Terry loss.
//!
//! Every per-token quantity is averaged over the positions a mask selects (completion tokens,
//! not the prompt or padding). Shapes below: `batch` sequences of `positions` tokens over a
//! vocabulary of `vocab` entries; masks hold 1 where a position counts and 0 elsewhere.

use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::{Int, Tensor};

/// The log-probability each position gives its target token.
///
/// Shapes: `logits` is `[batch, positions, vocab]`, `targets` `[batch, positions]`; the result
/// is `[batch, positions]`.
pub fn token_log_probs(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<2> {
    let [batch, positions, _] = logits.dims();
    let log_probs = log_softmax(logits, 2);
    log_probs
        .gather(2, targets.reshape([batch, positions, 1]))
        .reshape([batch, positions])
}

/// The mean of `values` over the positions `mask` selects, as a one-element tensor.
///
/// Shapes: `values` and `mask` are `[batch, positions]`.
pub fn masked_mean(values: Tensor<2>, mask: Tensor<2>) -> Tensor<1> {
    // At least one position, so that an empty mask gives 0 rather than NaN.
    let count = mask.clone().sum().clamp_min(1.0);
    (values * mask).sum() / count
}

/// Cross-entropy of the target tokens, averaged over the masked positions.
///
/// Shapes: `logits` is `[batch, positions, vocab]`, `targets` and `mask` `[batch, positions]`.
pub fn cross_entropy(logits: Tensor<3>, targets: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<1> {
    masked_mean(token_log_probs(logits, targets).neg(), mask)
}

/// `KL(p_ref || p_policy)` over the full vocabulary at each position, averaged over the masked
/// positions: the reference distribution comes first, as SuperHF's prior is written.
///
/// The reference logits carry no gradient (the caller computes them from the frozen model).
///
/// Shapes: both logits are `[batch, positions, vocab]`, `mask` is `[batch, positions]`.
pub fn kl_reference_policy(
    logits_reference: Tensor<3>,
    logits_policy: Tensor<3>,
    mask: Tensor<2>,
) -> Tensor<1> {
    let [batch, positions, _] = logits_policy.dims();
    let logp_reference = log_softmax(logits_reference.detach(), 2);
    let logp_policy = log_softmax(logits_policy, 2);
    let per_position = (logp_reference.clone().exp() * (logp_reference - logp_policy))
        .sum_dim(2)
        .reshape([batch, positions]);
    masked_mean(per_position, mask)
}

/// SuperHF's loss on a minibatch of kept completions: cross-entropy plus `kl_coefficient`
/// times the KL prior. Both terms are means over completion positions, so the coefficient
/// means the same whatever the minibatch size (the reference code sums the KL over the
/// examples of a minibatch instead, which scales it with the minibatch).
pub struct SuperHfLoss {
    pub total: Tensor<1>,
    pub cross_entropy: Tensor<1>,
    pub kl: Tensor<1>,
}

pub fn superhf_loss(
    logits_policy: Tensor<3>,
    logits_reference: Tensor<3>,
    targets: Tensor<2, Int>,
    mask: Tensor<2>,
    kl_coefficient: f64,
) -> SuperHfLoss {
    let cross_entropy = cross_entropy(logits_policy.clone(), targets, mask.clone());
    let kl = kl_reference_policy(logits_reference, logits_policy, mask);
    SuperHfLoss {
        total: cross_entropy.clone() + kl.clone() * kl_coefficient,
        cross_entropy,
        kl,
    }
}

/// The Bradley-Terry loss of a reward model on preference pairs, `-log sigmoid(r_chosen -
/// r_rejected)`, averaged over pairs.
///
/// Shapes: both rewards are `[pairs]`.
pub fn bradley_terry(rewards_chosen: Tensor<1>, rewards_rejected: Tensor<1>) -> Tensor<1> {
    log_sigmoid(rewards_chosen - rewards_rejected).neg().mean()
}

/// PPO's clipped surrogate and clipped value loss for one minibatch.
pub struct PpoLoss {
    pub total: Tensor<1>,
    pub policy: Tensor<1>,
    pub value: Tensor<1>,
    /// The fraction of positions whose ratio the clip changed (a diagnostic).
    pub clip_fraction: Tensor<1>,
    /// `mean(logp_old - logp_new)`, an estimate of the KL between old and new policy.
    pub approximate_kl: Tensor<1>,
}

/// What PPO's losses take besides the new log-probabilities and values, all
/// `[batch, positions]` and without gradient.
pub struct PpoBatch {
    pub logp_old: Tensor<2>,
    pub values_old: Tensor<2>,
    pub advantages: Tensor<2>,
    pub returns: Tensor<2>,
    pub mask: Tensor<2>,
}

#[derive(Debug, Clone, Copy)]
pub struct PpoClip {
    /// The policy ratio is clipped to `[1 - ratio, 1 + ratio]`.
    pub ratio: f64,
    /// New values are clipped to `old ± value` before the second value loss.
    pub value: f64,
    /// The weight of the value loss in the total.
    pub value_coefficient: f64,
}

/// `max(-A r, -A clip(r))` for the policy and `0.5 max((v - R)^2, (clip(v) - R)^2)` for the
/// value, each averaged over the masked positions, as PPO for language models computes them.
///
/// Shapes: `logp_new` and `values_new` are `[batch, positions]`, like the batch's tensors.
pub fn ppo_loss(
    logp_new: Tensor<2>,
    values_new: Tensor<2>,
    batch: &PpoBatch,
    clip: PpoClip,
) -> PpoLoss {
    let log_ratio = logp_new - batch.logp_old.clone();
    let ratio = log_ratio.clone().exp();
    let clipped_ratio = ratio.clone().clamp(1.0 - clip.ratio, 1.0 + clip.ratio);
    let loss_unclipped = batch.advantages.clone().neg() * ratio;
    let loss_clipped = batch.advantages.clone().neg() * clipped_ratio;
    let clipped = loss_clipped.clone().greater(loss_unclipped.clone()).float();
    let policy = masked_mean(loss_unclipped.max_pair(loss_clipped), batch.mask.clone());

    let values_clipped = (values_new.clone())
        .max_pair(batch.values_old.clone() - clip.value)
        .min_pair(batch.values_old.clone() + clip.value);
    let error_unclipped = (values_new - batch.returns.clone()).powi_scalar(2);
    let error_clipped = (values_clipped - batch.returns.clone()).powi_scalar(2);
    let value = masked_mean(error_unclipped.max_pair(error_clipped), batch.mask.clone()) * 0.5;

    PpoLoss {
        total: policy.clone() + value.clone() * clip.value_coefficient,
        policy,
        value,
        clip_fraction: masked_mean(clipped, batch.mask.clone()),
        approximate_kl: masked_mean(log_ratio.neg().detach(), batch.mask.clone()),
    }
}
