//! The post-norm layer BERT and DistilBERT share: bidirectional attention over the real tokens
//! and a two-layer MLP, each added to its input and then normalised. The two families differ
//! only in what their checkpoints call each part ([`LayerNames`]).

use super::attention::padded_attention;
use super::linear_out_in;
use crate::LabError;
use crate::models::activation::Activation;
use crate::models::attention::{merge_heads, split_heads};
use crate::models::layer_norm;
use crate::models::weights::WeightSource;
use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Bool, Device, Tensor};

#[derive(Module, Debug)]
pub struct EncoderLayer {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub attention_out: Linear,
    pub norm_attention: LayerNorm,
    /// `[width, inner]`: BERT's `intermediate.dense`, DistilBERT's `ffn.lin1`.
    pub mlp_in: Linear,
    /// `[inner, width]`: BERT's `output.dense`, DistilBERT's `ffn.lin2`.
    pub mlp_out: Linear,
    pub norm_output: LayerNorm,
}

/// Where a family's checkpoints keep each part of layer `N`, under `{layers}.N.`.
pub struct LayerNames {
    pub layers: &'static str,
    pub query: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    pub attention_out: &'static str,
    pub norm_attention: &'static str,
    pub mlp_in: &'static str,
    pub mlp_out: &'static str,
    pub norm_output: &'static str,
}

impl LayerNames {
    /// The checkpoint name of `part` of layer `layer`.
    pub fn of(&self, layer: usize, part: &str) -> String {
        format!("{}.{layer}.{part}", self.layers)
    }
}

/// The sizes of a layer: its width, the MLP's inner width and the norms' epsilon.
pub(super) struct LayerSizes {
    pub width: usize,
    pub inner: usize,
    pub epsilon: f64,
}

impl EncoderLayer {
    pub(super) fn load(
        weights: &impl WeightSource,
        names: &LayerNames,
        layer: usize,
        sizes: &LayerSizes,
        device: &Device,
    ) -> Result<Self, LabError> {
        let LayerSizes {
            width,
            inner,
            epsilon,
        } = *sizes;
        let linear = |part: &str, shape: [usize; 2]| {
            linear_out_in(weights, &names.of(layer, part), shape, device)
        };
        let norm = |part: &str| layer_norm(weights, &names.of(layer, part), width, epsilon, device);
        Ok(Self {
            query: linear(names.query, [width, width])?,
            key: linear(names.key, [width, width])?,
            value: linear(names.value, [width, width])?,
            attention_out: linear(names.attention_out, [width, width])?,
            norm_attention: norm(names.norm_attention)?,
            mlp_in: linear(names.mlp_in, [width, inner])?,
            mlp_out: linear(names.mlp_out, [inner, width])?,
            norm_output: norm(names.norm_output)?,
        })
    }

    /// The projections under their checkpoint names within a layer.
    pub fn linears(&self, names: &LayerNames) -> [(&'static str, &Linear); 6] {
        [
            (names.query, &self.query),
            (names.key, &self.key),
            (names.value, &self.value),
            (names.attention_out, &self.attention_out),
            (names.mlp_in, &self.mlp_in),
            (names.mlp_out, &self.mlp_out),
        ]
    }

    /// The norms under their checkpoint names within a layer.
    pub fn norms(&self, names: &LayerNames) -> [(&'static str, &LayerNorm); 2] {
        [
            (names.norm_attention, &self.norm_attention),
            (names.norm_output, &self.norm_output),
        ]
    }

    /// `scale` is `1 / sqrt(head width)`; `padding` marks the positions attention skips.
    ///
    /// Shapes: `x` is `[batch, seq, width]`, and so is the result; `padding` is `[batch, seq]`.
    pub(super) fn forward(
        &self,
        x: Tensor<3>,
        padding: Tensor<2, Bool>,
        heads: usize,
        scale: f64,
        activation: Activation,
    ) -> Tensor<3> {
        let split = |projection: &Linear| split_heads(projection.forward(x.clone()), heads);
        let (query, key, value) = (split(&self.query), split(&self.key), split(&self.value));
        let attended = merge_heads(padded_attention(query, key, value, padding, scale));
        let x = (self.norm_attention).forward(self.attention_out.forward(attended) + x);
        let hidden = activation.apply(self.mlp_in.forward(x.clone()));
        self.norm_output.forward(self.mlp_out.forward(hidden) + x)
    }
}
