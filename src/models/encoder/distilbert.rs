//! DistilBERT as transformers' `DistilBertModel` and `DistilBertForSequenceClassification`
//! compute it: word and absolute position embeddings (no token types), post-norm layers of
//! bidirectional attention over the real tokens, and for classification the first
//! position's hidden state through a dense layer, ReLU and a linear classifier.

use super::batch::TokenBatch;
use super::hub::parse_config;
use super::layer::{EncoderLayer, LayerNames, LayerSizes};
use super::names::Prefixed;
use super::{embedding, linear_out_in};
use crate::LabError;
use crate::models::activation::Activation;
use crate::models::layer_norm;
use crate::models::weights::WeightSource;
use burn::module::Module;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// DistilBERT's layer norms all use this epsilon; its configuration has no field for it.
const LAYER_NORM_EPSILON: f64 = 1e-12;

/// DistilBERT has no token types; a batch that carries any must carry only the first.
const TOKEN_TYPES: usize = 1;

/// The fields of a hub `config.json` that the computation depends on, with transformers'
/// defaults for those a configuration leaves out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DistilBertConfig {
    pub vocab_size: usize,
    pub max_position_embeddings: usize,
    pub dim: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub hidden_dim: usize,
    pub activation: String,
    /// Whether the position table holds fixed sinusoids rather than learned rows. Either way
    /// checkpoints store the table, and the lab reads it from the weights.
    pub sinusoidal_pos_embds: bool,
}

impl Default for DistilBertConfig {
    fn default() -> Self {
        Self {
            vocab_size: 30522,
            max_position_embeddings: 512,
            dim: 768,
            n_layers: 6,
            n_heads: 12,
            hidden_dim: 3072,
            activation: "gelu".into(),
            sinusoidal_pos_embds: false,
        }
    }
}

impl DistilBertConfig {
    pub fn from_json(config_json: &str) -> Result<Self, LabError> {
        parse_config(config_json, " as a DistilBERT configuration")
    }

    pub fn validate(&self) -> Result<Activation, LabError> {
        let sizes = [
            self.vocab_size,
            self.max_position_embeddings,
            self.dim,
            self.n_layers,
            self.n_heads,
            self.hidden_dim,
        ];
        if sizes.contains(&0) {
            return Err(LabError::ModelConfig(
                "DistilBERT: every size (vocab_size, max_position_embeddings, dim, n_layers, \
                 n_heads, hidden_dim) must be positive"
                    .into(),
            ));
        }
        if !self.dim.is_multiple_of(self.n_heads) {
            return Err(LabError::ModelConfig(format!(
                "DistilBERT: dim {} is not a multiple of n_heads {}",
                self.dim, self.n_heads
            )));
        }
        Activation::from_hub_name(&self.activation)
    }
}

#[derive(Module, Debug)]
pub struct DistilBertEmbeddings {
    /// `[vocab_size, dim]`.
    pub words: Embedding,
    /// `[max_position_embeddings, dim]`.
    pub positions: Embedding,
    pub norm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct DistilBertModel {
    pub embeddings: DistilBertEmbeddings,
    pub layers: Vec<EncoderLayer>,
    heads: usize,
    #[module(skip)]
    activation: Activation,
}

/// What `DistilBertModel` checkpoints call the parts of a layer.
pub const LAYER_NAMES: LayerNames = LayerNames {
    layers: "transformer.layer",
    query: "attention.q_lin",
    key: "attention.k_lin",
    value: "attention.v_lin",
    attention_out: "attention.out_lin",
    norm_attention: "sa_layer_norm",
    mlp_in: "ffn.lin1",
    mlp_out: "ffn.lin2",
    norm_output: "output_layer_norm",
};

/// A tensor name of `DistilBertModel`, found in checkpoints of every DistilBERT head.
const ENCODER_PROBE: &str = "transformer.layer.0.attention.q_lin.weight";
/// `DistilBertModel` checkpoints name tensors bare; those of models with a head put them
/// under `distilbert.`.
const PREFIXES: [&str; 2] = ["", "distilbert."];

impl DistilBertModel {
    /// Builds the encoder from hub-named weights (`embeddings.word_embeddings.weight`,
    /// `transformer.layer.0.attention.q_lin.weight`, ..., bare or under `distilbert.`),
    /// ignoring any head the checkpoint carries.
    pub fn load(
        config: &DistilBertConfig,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        let weights = Prefixed::find(weights, &PREFIXES, ENCODER_PROBE)?;
        Self::load_bare(config, &weights, device)
    }

    fn load_bare(
        config: &DistilBertConfig,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        let activation = config.validate()?;
        let (d, eps) = (config.dim, LAYER_NORM_EPSILON);
        let embeddings = DistilBertEmbeddings {
            words: embedding(
                weights,
                "embeddings.word_embeddings",
                [config.vocab_size, d],
                device,
            )?,
            positions: embedding(
                weights,
                "embeddings.position_embeddings",
                [config.max_position_embeddings, d],
                device,
            )?,
            norm: layer_norm(weights, "embeddings.LayerNorm", d, eps, device)?,
        };
        let sizes = LayerSizes {
            width: d,
            inner: config.hidden_dim,
            epsilon: eps,
        };
        let layers = (0..config.n_layers)
            .map(|i| EncoderLayer::load(weights, &LAYER_NAMES, i, &sizes, device))
            .collect::<Result<Vec<_>, LabError>>()?;
        Ok(Self {
            embeddings,
            layers,
            heads: config.n_heads,
            activation,
        })
    }

    pub fn width(&self) -> usize {
        self.embeddings.words.weight.dims()[1]
    }

    /// The last layer's hidden state at every position. Token types in the batch are
    /// refused unless all are 0: DistilBERT has none.
    ///
    /// Shapes: `batch` is `[batch, seq]`; the result is `[batch, seq, dim]`.
    pub fn forward(&self, batch: &TokenBatch) -> Result<Tensor<3>, LabError> {
        let [vocab, width] = self.embeddings.words.weight.dims();
        let [max_positions, _] = self.embeddings.positions.weight.dims();
        batch.check_fits("DistilBERT", vocab, TOKEN_TYPES, max_positions)?;
        let [_, seq] = batch.dims();

        let position_rows = self.embeddings.positions.weight.val().narrow(0, 0, seq);
        let x =
            self.embeddings.words.forward(batch.tokens()) + position_rows.reshape([1, seq, width]);
        let mut x = self.embeddings.norm.forward(x);
        let padding = batch.padding();
        let scale = 1.0 / ((width / self.heads) as f64).sqrt();
        for layer in &self.layers {
            x = layer.forward(x, padding.clone(), self.heads, scale, self.activation);
        }
        Ok(x)
    }
}

/// DistilBERT with transformers' sequence-classification head: the first position's hidden
/// state through `pre_classifier`, ReLU, then `classifier`.
#[derive(Module, Debug)]
pub struct DistilBertForSequenceClassification {
    pub distilbert: DistilBertModel,
    /// `[dim, dim]`.
    pub pre_classifier: Linear,
    /// `[dim, labels]`.
    pub classifier: Linear,
}

impl DistilBertForSequenceClassification {
    /// Builds the model from a `DistilBertForSequenceClassification` checkpoint
    /// (`distilbert.` encoder, top-level `pre_classifier` and `classifier`) with `labels`
    /// outputs.
    pub fn load(
        config: &DistilBertConfig,
        labels: usize,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        let d = config.dim;
        Ok(Self {
            distilbert: DistilBertModel::load(config, weights, device)?,
            pre_classifier: linear_out_in(weights, "pre_classifier", [d, d], device)?,
            classifier: linear_out_in(weights, "classifier", [d, labels], device)?,
        })
    }

    /// Shapes: `batch` is `[batch, seq]`; the result is `[batch, labels]`.
    pub fn logits(&self, batch: &TokenBatch) -> Result<Tensor<2>, LabError> {
        Ok(self.classify(self.distilbert.forward(batch)?))
    }

    /// The logits from the encoder's hidden states.
    ///
    /// Shapes: `hidden` is `[batch, seq, dim]`; the result is `[batch, labels]`.
    pub fn classify(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [batch, _, width] = hidden.dims();
        let first = hidden.narrow(1, 0, 1).reshape([batch, width]);
        self.classifier
            .forward(relu(self.pre_classifier.forward(first)))
    }
}
