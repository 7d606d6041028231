//! BERT as transformers' `BertModel` and `BertForSequenceClassification` compute it: word,
//! absolute position and token-type embeddings, post-norm layers of bidirectional attention
//! over the real tokens, and for classification a tanh pooler on the first position.
//! MiniLM checkpoints such as `sentence-transformers/all-MiniLM-L6-v2` are BERT models.

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
use burn::tensor::activation::tanh;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// The fields of a hub `config.json` that the computation depends on, with transformers'
/// defaults for those a configuration leaves out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    /// Only `absolute` (learned positions) is implemented.
    pub position_embedding_type: String,
    /// A decoder BERT attends causally; the lab reads encoders only.
    pub is_decoder: bool,
}

impl Default for BertConfig {
    fn default() -> Self {
        Self {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            position_embedding_type: "absolute".into(),
            is_decoder: false,
        }
    }
}

impl BertConfig {
    pub fn from_json(config_json: &str) -> Result<Self, LabError> {
        parse_config(config_json, " as a BERT configuration")
    }

    pub fn validate(&self) -> Result<Activation, LabError> {
        let sizes = [
            self.vocab_size,
            self.hidden_size,
            self.num_hidden_layers,
            self.num_attention_heads,
            self.intermediate_size,
            self.max_position_embeddings,
            self.type_vocab_size,
        ];
        if sizes.contains(&0) {
            return Err(LabError::ModelConfig(
                "BERT: every size (vocab_size, hidden_size, num_hidden_layers, \
                 num_attention_heads, intermediate_size, max_position_embeddings, \
                 type_vocab_size) must be positive"
                    .into(),
            ));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(LabError::ModelConfig(format!(
                "BERT: hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if self.position_embedding_type != "absolute" {
            return Err(LabError::ModelConfig(format!(
                "BERT: position_embedding_type {:?} is not implemented; the lab reads absolute \
                 positions only",
                self.position_embedding_type
            )));
        }
        if self.is_decoder {
            return Err(LabError::ModelConfig(
                "BERT: this checkpoint is a decoder (is_decoder is true); the lab reads BERT \
                 as a bidirectional encoder only"
                    .into(),
            ));
        }
        Activation::from_hub_name(&self.hidden_act)
    }
}

#[derive(Module, Debug)]
pub struct BertEmbeddings {
    /// `[vocab_size, hidden_size]`.
    pub words: Embedding,
    /// `[max_position_embeddings, hidden_size]`.
    pub positions: Embedding,
    /// `[type_vocab_size, hidden_size]`.
    pub token_types: Embedding,
    pub norm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct BertModel {
    pub embeddings: BertEmbeddings,
    pub layers: Vec<EncoderLayer>,
    heads: usize,
    #[module(skip)]
    activation: Activation,
}

/// What `BertModel` checkpoints call the parts of a layer.
pub const LAYER_NAMES: LayerNames = LayerNames {
    layers: "encoder.layer",
    query: "attention.self.query",
    key: "attention.self.key",
    value: "attention.self.value",
    attention_out: "attention.output.dense",
    norm_attention: "attention.output.LayerNorm",
    mlp_in: "intermediate.dense",
    mlp_out: "output.dense",
    norm_output: "output.LayerNorm",
};

/// Tensor names of `BertModel`, found in checkpoints of every BERT head.
const ENCODER_PROBE: &str = "encoder.layer.0.attention.self.query.weight";
/// `BertModel` checkpoints name tensors bare; those of models with a head put them under
/// `bert.`.
const PREFIXES: [&str; 2] = ["", "bert."];

impl BertModel {
    /// Builds the encoder from hub-named weights (`embeddings.word_embeddings.weight`,
    /// `encoder.layer.0.attention.self.query.weight`, ..., bare or under `bert.`), ignoring
    /// any head the checkpoint carries.
    pub fn load(
        config: &BertConfig,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        let weights = Prefixed::find(weights, &PREFIXES, ENCODER_PROBE)?;
        Self::load_bare(config, &weights, device)
    }

    fn load_bare(
        config: &BertConfig,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        let activation = config.validate()?;
        let (d, eps) = (config.hidden_size, config.layer_norm_eps);
        let embeddings = BertEmbeddings {
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
            token_types: embedding(
                weights,
                "embeddings.token_type_embeddings",
                [config.type_vocab_size, d],
                device,
            )?,
            norm: layer_norm(weights, "embeddings.LayerNorm", d, eps, device)?,
        };
        let sizes = LayerSizes {
            width: d,
            inner: config.intermediate_size,
            epsilon: eps,
        };
        let layers = (0..config.num_hidden_layers)
            .map(|i| EncoderLayer::load(weights, &LAYER_NAMES, i, &sizes, device))
            .collect::<Result<Vec<_>, LabError>>()?;
        Ok(Self {
            embeddings,
            layers,
            heads: config.num_attention_heads,
            activation,
        })
    }

    pub fn width(&self) -> usize {
        self.embeddings.words.weight.dims()[1]
    }

    /// The last layer's hidden state at every position.
    ///
    /// Shapes: `batch` is `[batch, seq]`; the result is `[batch, seq, hidden_size]`.
    pub fn forward(&self, batch: &TokenBatch) -> Result<Tensor<3>, LabError> {
        let [vocab, width] = self.embeddings.words.weight.dims();
        let [max_positions, _] = self.embeddings.positions.weight.dims();
        let [type_vocab, _] = self.embeddings.token_types.weight.dims();
        batch.check_fits("BERT", vocab, type_vocab, max_positions)?;
        let [_, seq] = batch.dims();

        let position_rows = self.embeddings.positions.weight.val().narrow(0, 0, seq);
        let x = self.embeddings.words.forward(batch.tokens())
            + self.embeddings.token_types.forward(batch.token_types())
            + position_rows.reshape([1, seq, width]);
        let mut x = self.embeddings.norm.forward(x);
        let padding = batch.padding();
        let scale = 1.0 / ((width / self.heads) as f64).sqrt();
        for layer in &self.layers {
            x = layer.forward(x, padding.clone(), self.heads, scale, self.activation);
        }
        Ok(x)
    }
}

/// BERT with transformers' sequence-classification head: the first position's hidden state
/// through the pooler (a dense layer and tanh), then a linear classifier.
#[derive(Module, Debug)]
pub struct BertForSequenceClassification {
    pub bert: BertModel,
    /// `[hidden_size, hidden_size]`.
    pub pooler: Linear,
    /// `[hidden_size, labels]`.
    pub classifier: Linear,
}

impl BertForSequenceClassification {
    /// Builds the model from a `BertForSequenceClassification` checkpoint (`bert.` encoder
    /// and pooler, top-level `classifier`) with `labels` outputs.
    pub fn load(
        config: &BertConfig,
        labels: usize,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        let encoder_weights = Prefixed::find(weights, &PREFIXES, ENCODER_PROBE)?;
        let d = config.hidden_size;
        Ok(Self {
            bert: BertModel::load_bare(config, &encoder_weights, device)?,
            pooler: linear_out_in(&encoder_weights, "pooler.dense", [d, d], device)?,
            classifier: linear_out_in(weights, "classifier", [d, labels], device)?,
        })
    }

    /// Shapes: `batch` is `[batch, seq]`; the result is `[batch, labels]`.
    pub fn logits(&self, batch: &TokenBatch) -> Result<Tensor<2>, LabError> {
        Ok(self.classify(self.bert.forward(batch)?))
    }

    /// The logits from the encoder's hidden states.
    ///
    /// Shapes: `hidden` is `[batch, seq, hidden_size]`; the result is `[batch, labels]`.
    pub fn classify(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [batch, _, width] = hidden.dims();
        let first = hidden.narrow(1, 0, 1).reshape([batch, width]);
        self.classifier.forward(tanh(self.pooler.forward(first)))
    }
}
