//! Scaled dot-product attention with a causal mask, shared by the causal architectures.

use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Tensor};

/// What a masked score becomes: finite, so that a row with every key masked (a padded
/// position) gives a uniform average instead of NaN.
const MASKED_SCORE: f32 = f32::MIN;

/// Each query attends to the keys at or before its own position. The queries are the last
/// `queries` positions of the `keys` positions (the ones before them come from a cache).
///
/// Shapes: `query` is `[batch, heads, queries, head_dim]`, `key` and `value`
/// `[batch, heads, keys, head_dim]`; the result is `[batch, heads, queries, head_dim]`.
pub fn causal_attention(
    query: Tensor<4>,
    key: Tensor<4>,
    value: Tensor<4>,
    scale: f64,
) -> Tensor<4> {
    let [_, _, queries, _] = query.dims();
    let [_, _, keys, _] = key.dims();
    let past = keys - queries;
    let scores = query.matmul(key.swap_dims(2, 3)) * scale;
    let future = Tensor::<2, Bool>::tril_mask([queries, keys], past as i64, &scores.device());
    let scores = scores.mask_fill(future.unsqueeze::<4>(), MASKED_SCORE);
    softmax(scores, 3).matmul(value)
}

/// `[batch, positions, heads * head_dim]` to `[batch, heads, positions, head_dim]`.
pub fn split_heads(x: Tensor<3>, heads: usize) -> Tensor<4> {
    let [batch, positions, width] = x.dims();
    x.reshape([batch, positions, heads, width / heads])
        .swap_dims(1, 2)
}

/// The inverse of [`split_heads`].
pub fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [batch, heads, positions, head_dim] = x.dims();
    x.swap_dims(1, 2)
        .reshape([batch, positions, heads * head_dim])
}
