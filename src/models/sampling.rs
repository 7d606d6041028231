//! Choosing each sequence's next token on the device, so that a decoding step reads back only
//! the chosen ids and their log-probabilities.
//!
//! Sorting a vocabulary is not available on the GPU backends (burn falls back to a synchronous
//! read, which the browser forbids), and burn's GPU cumulative sum costs the square of the
//! length. So top-k and top-p find their thresholds by bisection over values, and the draw
//! inverts the cumulative distribution in two levels: a block of about `sqrt(vocab)` tokens,
//! then a token inside it.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Bool, Int, Tensor};

/// Bisection steps for the top-k and top-p thresholds. Each halves the interval known to hold
/// the threshold: 40 narrow a range of logits 100 wide below 1e-10, finer than f32 resolves
/// logits or probabilities of the size that decide a draw.
const BISECTION_STEPS: usize = 40;

/// How the distribution of the next token is reshaped before a draw (`temperature` > 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Filter {
    pub temperature: f32,
    /// Keeps the `top_k` most probable tokens (and any tied with the last of them); 0 keeps all.
    pub top_k: usize,
    /// Keeps the most probable tokens until their probabilities (after top-k) reach `top_p`;
    /// 1 keeps all.
    pub top_p: f32,
}

/// The most probable token of each row and its log-probability.
///
/// Shapes: `logits` is `[batch, vocab]`; both results are `[batch, 1]`.
pub fn most_probable(logits: Tensor<2>) -> (Tensor<2, Int>, Tensor<2>) {
    let tokens = logits.clone().argmax(1);
    let log_probs = log_softmax(logits, 1).gather(1, tokens.clone());
    (tokens, log_probs)
}

/// A token drawn from each row's filtered distribution, with `uniforms` (in [0, 1)) as the
/// random numbers, and its log-probability under the unfiltered distribution at temperature 1.
///
/// Shapes: `logits` is `[batch, vocab]`, `uniforms` `[batch, 1]`; both results are
/// `[batch, 1]`.
pub fn draw(
    logits: Tensor<2>,
    filter: &Filter,
    uniforms: Tensor<2>,
) -> (Tensor<2, Int>, Tensor<2>) {
    let log_probs = log_softmax(logits.clone(), 1);
    let weights = filtered_weights(logits, filter);
    let tokens = inverse_cdf(weights, uniforms);
    (tokens.clone(), log_probs.gather(1, tokens))
}

/// Unnormalised probabilities after temperature, top-k and top-p: zero for every token the
/// filters remove.
///
/// Shapes: `logits` is `[batch, vocab]`, and so is the result.
pub fn filtered_weights(logits: Tensor<2>, filter: &Filter) -> Tensor<2> {
    let [batch, vocab] = logits.dims();
    let scaled = logits / f64::from(filter.temperature);
    let largest = scaled.clone().max_dim(1).expand([batch, vocab]);
    let mut weights = (scaled.clone() - largest).exp();
    if filter.top_k > 0 && filter.top_k < vocab {
        let kept = top_k_kept(scaled, filter.top_k);
        weights = weights.mask_fill(kept.bool_not(), 0.0);
    }
    if filter.top_p < 1.0 {
        let total = weights.clone().sum_dim(1).expand([batch, vocab]);
        let kept = top_p_kept(weights.clone() / total, filter.top_p);
        weights = weights.mask_fill(kept.bool_not(), 0.0);
    }
    weights
}

/// Whether each value is among the `k` largest of its row: at or above the `k`-th largest,
/// found by bisection between the row's minimum and maximum. The interval keeps
/// `count(x >= low) >= k` and holds the `k`-th largest value throughout.
///
/// Shapes: `scores` is `[batch, vocab]`, and so is the result.
fn top_k_kept(scores: Tensor<2>, k: usize) -> Tensor<2, Bool> {
    let [batch, vocab] = scores.dims();
    let mut low = scores.clone().min_dim(1);
    let mut high = scores.clone().max_dim(1);
    for _ in 0..BISECTION_STEPS {
        let middle = (low.clone() + high.clone()) * 0.5;
        let at_or_above = scores
            .clone()
            .greater_equal(middle.clone().expand([batch, vocab]));
        let enough = at_or_above.float().sum_dim(1).greater_equal_elem(k as f32);
        low = low.mask_where(enough.clone(), middle.clone());
        high = high.mask_where(enough.bool_not(), middle);
    }
    scores.greater_equal(low.expand([batch, vocab]))
}

/// Whether each probability belongs to the smallest set of most probable tokens whose mass
/// reaches `p`: at or above the largest threshold `t` with `mass(q >= t) >= p`, found by
/// bisection between 0 and the row's largest probability.
///
/// Shapes: `probs` is `[batch, vocab]`, each row summing to 1, and so is the result.
fn top_p_kept(probs: Tensor<2>, p: f32) -> Tensor<2, Bool> {
    let [batch, vocab] = probs.dims();
    let mut high = probs.clone().max_dim(1);
    let mut low = high.zeros_like();
    for _ in 0..BISECTION_STEPS {
        let middle = (low.clone() + high.clone()) * 0.5;
        let below = probs.clone().lower(middle.clone().expand([batch, vocab]));
        let mass = probs.clone().mask_fill(below, 0.0).sum_dim(1);
        let enough = mass.greater_equal_elem(p);
        low = low.mask_where(enough.clone(), middle.clone());
        high = high.mask_where(enough.bool_not(), middle);
    }
    probs.greater_equal(low.expand([batch, vocab]))
}

/// For each row, the token where the cumulative weight first reaches `uniform * total`: a draw
/// from the weights' distribution. Tokens of zero weight are never chosen.
///
/// Shapes: `weights` is `[batch, vocab]`, non-negative with a positive sum per row;
/// `uniforms` is `[batch, 1]` in [0, 1); the result is `[batch, 1]`.
pub fn inverse_cdf(weights: Tensor<2>, uniforms: Tensor<2>) -> Tensor<2, Int> {
    let [batch, vocab] = weights.dims();
    let block = (vocab as f64).sqrt().ceil() as usize;
    let blocks = vocab.div_ceil(block);
    let weights = match blocks * block - vocab {
        0 => weights,
        padding => {
            let zeros = Tensor::zeros([batch, padding], &weights.device());
            Tensor::cat(vec![weights, zeros], 1)
        }
    };
    let by_block = weights.reshape([batch, blocks, block]);
    let block_mass = by_block.clone().sum_dim(2).reshape([batch, blocks]);
    // Each prefix is summed in the same order, so the sums never decrease.
    let block_cumulative = block_mass.clone().cumsum(1);
    let total = block_cumulative.clone().narrow(1, blocks - 1, 1);
    let target = uniforms * total;
    let chosen_block = first_reaching(block_cumulative.clone(), block_mass, target.clone());
    let before = match blocks {
        1 => target.zeros_like(),
        _ => {
            let earlier = block_cumulative.narrow(1, 0, blocks - 1);
            Tensor::cat(vec![target.zeros_like(), earlier], 1).gather(1, chosen_block.clone())
        }
    };
    let rows = by_block
        .gather(
            1,
            chosen_block
                .clone()
                .unsqueeze_dim::<3>(2)
                .expand([batch, 1, block]),
        )
        .reshape([batch, block]);
    let cumulative = rows.clone().cumsum(1);
    // Rounding may put the target a little outside the chosen block; its last token with
    // weight reaches the block's sum.
    let within = (target - before)
        .clamp_min(0.0)
        .min_pair(cumulative.clone().narrow(1, block - 1, 1));
    let chosen = first_reaching(cumulative, rows, within);
    // Weights that are not numbers (a diverged model) could land on a padding position; the
    // id stays inside the vocabulary, and the caller sees the log-probability's NaN.
    (chosen_block * (block as i32) + chosen).clamp_max(vocab as i32 - 1)
}

/// The first position with positive mass whose cumulative sum reaches the target.
///
/// Shapes: `cumulative` and `mass` are `[batch, n]`, `target` `[batch, 1]`; the result is
/// `[batch, 1]`.
fn first_reaching(cumulative: Tensor<2>, mass: Tensor<2>, target: Tensor<2>) -> Tensor<2, Int> {
    let [batch, n] = cumulative.dims();
    let short = cumulative.clone().lower(target.expand([batch, n]));
    let empty = mass.lower_equal_elem(0.0);
    cumulative
        .mask_fill(short.bool_or(empty), f32::INFINITY)
        .argmin(1)
}
