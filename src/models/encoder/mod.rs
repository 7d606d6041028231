//! Bidirectional text encoders (BERT, DistilBERT) as Hugging Face transformers computes them,
//! their sequence-classification heads, and the reward models built on them.
//!
//! Checkpoints come from the hub: a `config.json` text and safetensors weights under their
//! hub names. Dropout is never applied: every forward pass is the evaluation-mode computation,
//! also when training a reward head.

pub mod batch;
pub mod bert;
pub mod distilbert;
pub mod hub;
pub mod layer;
pub mod pooling;
pub mod reward;

mod attention;
mod names;

use super::weights::WeightSource;
use crate::LabError;
use batch::TokenBatch;
use burn::module::{Module, Param};
use burn::nn::{Embedding, Linear};
use burn::tensor::{Device, Tensor};

/// A projection stored as PyTorch's `nn.Linear` stores it: `NAME.weight` `[outputs, inputs]`
/// and `NAME.bias` `[outputs]`; burn's [`Linear`] holds the weight as `[inputs, outputs]`.
fn linear_out_in(
    weights: &impl WeightSource,
    name: &str,
    [inputs, outputs]: [usize; 2],
    device: &Device,
) -> Result<Linear, LabError> {
    let weight = weights.tensor::<2>(&format!("{name}.weight"), [outputs, inputs], device)?;
    let bias = weights.tensor(&format!("{name}.bias"), [outputs], device)?;
    Ok(Linear {
        weight: Param::from_tensor(weight.transpose()),
        bias: Some(Param::from_tensor(bias)),
    })
}

/// A lookup table stored as `NAME.weight` `[rows, width]`.
fn embedding(
    weights: &impl WeightSource,
    name: &str,
    [rows, width]: [usize; 2],
    device: &Device,
) -> Result<Embedding, LabError> {
    let weight = weights.tensor(&format!("{name}.weight"), [rows, width], device)?;
    Ok(Embedding {
        weight: Param::from_tensor(weight),
    })
}

/// The encoder of either architecture, without a head: what sentence embeddings and
/// trainable reward heads read.
#[derive(Module, Debug)]
pub enum TextEncoder {
    Bert(bert::BertModel),
    DistilBert(distilbert::DistilBertModel),
}

impl TextEncoder {
    /// The encoder a hub checkpoint holds, whatever head it carries (which is not loaded).
    pub fn from_hub(
        config_json: &str,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        let architecture = hub::HubArchitecture::from_config_json(config_json)?;
        match architecture.family {
            hub::Family::Bert => {
                let config = bert::BertConfig::from_json(config_json)?;
                Ok(Self::Bert(bert::BertModel::load(&config, weights, device)?))
            }
            hub::Family::DistilBert => {
                let config = distilbert::DistilBertConfig::from_json(config_json)?;
                let model = distilbert::DistilBertModel::load(&config, weights, device)?;
                Ok(Self::DistilBert(model))
            }
        }
    }

    /// The width of each position's hidden state.
    pub fn width(&self) -> usize {
        match self {
            Self::Bert(model) => model.width(),
            Self::DistilBert(model) => model.width(),
        }
    }

    /// The last layer's hidden state at every position (padded ones included: they are
    /// computed but attend only to real tokens, and nothing downstream should read them).
    ///
    /// Shapes: the result is `[batch, seq, width]`.
    pub fn forward(&self, batch: &TokenBatch) -> Result<Tensor<3>, LabError> {
        match self {
            Self::Bert(model) => model.forward(batch),
            Self::DistilBert(model) => model.forward(batch),
        }
    }

    /// One unit-length vector per sequence: the mean of its hidden states over real tokens,
    /// divided by its Euclidean norm, as sentence-transformers' `all-MiniLM-L6-v2` pipeline
    /// (Transformer, mean Pooling, Normalize) computes sentence embeddings.
    ///
    /// Shapes: the result is `[batch, width]`.
    pub fn sentence_embeddings(&self, batch: &TokenBatch) -> Result<Tensor<2>, LabError> {
        let hidden = self.forward(batch)?;
        Ok(pooling::normalize(pooling::mean_over_tokens(
            hidden,
            batch.mask(),
        )))
    }
}
