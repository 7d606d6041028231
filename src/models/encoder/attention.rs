//! Bidirectional scaled dot-product attention over padded sequences.

use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Tensor};

/// What the score of a padded key becomes, as transformers' `torch.finfo(float32).min`: its
/// weight underflows to exactly zero, and a row stays finite.
const MASKED_SCORE: f32 = f32::MIN;

/// Every query attends to every real key of its own sequence; padded keys get no weight.
///
/// Shapes: `query`, `key` and `value` are `[batch, heads, seq, head_dim]`, `padding`
/// `[batch, seq]` (true at padding); the result is `[batch, heads, seq, head_dim]`.
pub fn padded_attention(
    query: Tensor<4>,
    key: Tensor<4>,
    value: Tensor<4>,
    padding: Tensor<2, Bool>,
    scale: f64,
) -> Tensor<4> {
    let [batch, heads, queries, _] = query.dims();
    let [_, keys] = padding.dims();
    let scores = query.matmul(key.swap_dims(2, 3)) * scale;
    let padding = padding
        .reshape([batch, 1, 1, keys])
        .expand([batch, heads, queries, keys]);
    softmax(scores.mask_fill(padding, MASKED_SCORE), 3).matmul(value)
}
