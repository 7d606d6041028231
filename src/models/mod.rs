//! The model layer: architectures, weights, tokenizers and generation.

pub mod activation;
pub mod attention;
pub mod cache;
pub mod checkpoint;
pub mod classifier;
pub mod embedding;
pub mod encoder;
pub mod generate;
pub mod gguf;
pub mod gpt2;
pub mod language_model;
pub mod llama;
pub mod load;
pub mod lora;
pub mod neox;
pub mod rotary;
pub mod sampling;
pub mod tokenizer;
pub mod torch_legacy;
pub mod vision;
pub mod weights;

use crate::LabError;
use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Int, Tensor};
use cache::KvCache;
use weights::WeightSource;

/// A language model that predicts the next token, with a key-value cache.
pub trait CausalLm {
    fn layers(&self) -> usize;
    fn vocab_size(&self) -> usize;
    /// The width of the hidden states.
    fn width(&self) -> usize;
    /// The longest sequence its positions cover.
    fn max_positions(&self) -> usize;

    /// The final hidden states of every new position (after the last norm, before the output
    /// projection), given the positions already in `cache`, which it extends by the new ones.
    ///
    /// Shapes: `tokens` is `[batch, new]`; the result is `[batch, new, width]`.
    fn hidden_states(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3>;

    /// The output projection: hidden states to logits.
    ///
    /// Shapes: `hidden` is `[batch, positions, width]`; the result is
    /// `[batch, positions, vocab_size]`.
    fn project(&self, hidden: Tensor<3>) -> Tensor<3>;

    /// The parameters under the names and in the layout of the checkpoint they came from.
    fn checkpoint_parameters(&self) -> Vec<checkpoint::CheckpointTensor>;

    /// The logits of every new position, given the positions already in `cache`, which it
    /// extends by the new ones.
    ///
    /// Shapes: `tokens` is `[batch, new]`; the result is `[batch, new, vocab_size]`.
    fn forward(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        self.project(self.hidden_states(tokens, cache))
    }

    /// The logits of a whole sequence, with no cache kept.
    fn logits(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.forward(tokens, &mut KvCache::new(self.layers()))
    }

    /// The final hidden states of a whole sequence, with no cache kept: what a reward model's
    /// scalar head reads at the last token.
    ///
    /// Shapes: `tokens` is `[batch, positions]`; the result is `[batch, positions, width]`.
    fn hidden(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.hidden_states(tokens, &mut KvCache::new(self.layers()))
    }
}

/// A projection stored as `NAME.weight` `[inputs, outputs]` and `NAME.bias` `[outputs]`.
fn linear(
    weights: &impl WeightSource,
    name: &str,
    [inputs, outputs]: [usize; 2],
    device: &Device,
) -> Result<Linear, LabError> {
    let weight = weights.tensor(&format!("{name}.weight"), [inputs, outputs], device)?;
    let bias = weights.tensor(&format!("{name}.bias"), [outputs], device)?;
    Ok(Linear {
        weight: Param::from_tensor(weight),
        bias: Some(Param::from_tensor(bias)),
    })
}

/// A layer norm stored as `NAME.weight` and `NAME.bias`, both `[width]`.
fn layer_norm(
    weights: &impl WeightSource,
    name: &str,
    width: usize,
    epsilon: f64,
    device: &Device,
) -> Result<LayerNorm, LabError> {
    let mut norm = LayerNormConfig::new(width)
        .with_epsilon(epsilon)
        .init(device);
    norm.gamma = Param::from_tensor(weights.tensor(&format!("{name}.weight"), [width], device)?);
    norm.beta = Some(Param::from_tensor(weights.tensor(
        &format!("{name}.bias"),
        [width],
        device,
    )?));
    Ok(norm)
}
