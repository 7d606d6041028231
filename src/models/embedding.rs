//! Token embeddings and the output projection, which reads the same `[vocab, width]` table when
//! the two are tied and a table of that shape (`lm_head`, `embed_out`) when they are not.

use burn::module::Param;
use burn::tensor::{Int, Tensor};

/// The rows of `table` for each token.
///
/// Shapes: `table` is `[vocab, width]`, `tokens` `[batch, positions]`; the result is
/// `[batch, positions, width]`.
pub fn embed(table: &Param<Tensor<2>>, tokens: Tensor<2, Int>) -> Tensor<3> {
    let [batch, positions] = tokens.dims();
    let [_, width] = table.dims();
    (table.val())
        .select(0, tokens.reshape([batch * positions]))
        .reshape([batch, positions, width])
}

/// The logits: each hidden state's dot product with every row of `table`.
///
/// Shapes: `hidden` is `[batch, positions, width]`, `table` `[vocab, width]`; the result is
/// `[batch, positions, vocab]`.
pub fn unembed(hidden: Tensor<3>, table: &Param<Tensor<2>>) -> Tensor<3> {
    let [batch, positions, width] = hidden.dims();
    let [vocab, _] = table.dims();
    (hidden.reshape([batch * positions, width]))
        .matmul(table.val().transpose())
        .reshape([batch, positions, vocab])
}
