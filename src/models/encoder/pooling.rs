//! One vector per sequence from the hidden states of its real tokens.

use burn::tensor::{Int, Tensor};

/// Keeps the divisions finite for a row without real tokens, as sentence-transformers'
/// pooling clamps the token count at 1e-9.
const SMALLEST_COUNT: f32 = 1e-9;
/// Keeps normalisation finite for a zero vector, as PyTorch's `F.normalize` does.
const SMALLEST_NORM: f32 = 1e-12;

/// The mean of each sequence's hidden states over its real tokens (padding excluded), as
/// sentence-transformers' mean `Pooling` computes it.
///
/// Shapes: `hidden` is `[batch, seq, width]`, `mask` `[batch, seq]` (1 at real tokens); the
/// result is `[batch, width]`.
pub fn mean_over_tokens(hidden: Tensor<3>, mask: Tensor<2, Int>) -> Tensor<2> {
    let [batch, seq, width] = hidden.dims();
    let weights = mask.float().reshape([batch, seq, 1]);
    let sums = (hidden * weights.clone())
        .sum_dim(1)
        .reshape([batch, width]);
    let counts = weights
        .sum_dim(1)
        .reshape([batch, 1])
        .clamp_min(SMALLEST_COUNT);
    sums / counts
}

/// Each row divided by its Euclidean norm (at least 1e-12).
///
/// Shapes: `x` is `[batch, width]`, and so is the result.
pub fn normalize(x: Tensor<2>) -> Tensor<2> {
    let norms = x
        .clone()
        .powi_scalar(2)
        .sum_dim(1)
        .sqrt()
        .clamp_min(SMALLEST_NORM);
    x / norms
}
