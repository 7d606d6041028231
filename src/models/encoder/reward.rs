//! Reward models: one scalar per token sequence, from a fine-tuned classifier or from an
//! encoder with a linear head the lab trains itself.

use super::TextEncoder;
use super::batch::TokenBatch;
use super::bert::{BertConfig, BertForSequenceClassification};
use super::distilbert::{DistilBertConfig, DistilBertForSequenceClassification};
use super::hub::{self, Family, Head, HubArchitecture};
use super::{linear_out_in, pooling};
use crate::LabError;
use crate::models::weights::WeightSource;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// A model that scores text: one scalar per sequence of a batch, higher meaning better.
pub trait RewardModel {
    /// Shapes: `batch` is `[batch, seq]`; the result is `[batch]`.
    fn rewards(&self, batch: &TokenBatch) -> Result<Tensor<1>, LabError>;
}

/// How a classifier's logits become one reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogitReading {
    /// The only logit of a one-label head (a regression or preference score).
    Single,
    /// The positive label's logit minus the negative label's: the log-odds of the positive
    /// label under the softmax, so the reward is positive exactly when the classifier calls
    /// the text positive.
    PositiveMinusNegative { positive: usize, negative: usize },
}

impl LogitReading {
    /// A one-label head reads its logit; a two-label head must name its labels (`id2label`)
    /// so that one reads as positive (`POSITIVE` or `POS`, in any case) and the other as
    /// negative (`NEGATIVE` or `NEG`), as the hub's sentiment classifiers do.
    pub fn from_labels(labels: &[String]) -> Result<Self, LabError> {
        let find = |names: [&str; 2]| {
            (labels.iter()).position(|label| names.contains(&label.trim().to_lowercase().as_str()))
        };
        match labels.len() {
            1 => Ok(Self::Single),
            2 => match (find(["positive", "pos"]), find(["negative", "neg"])) {
                (Some(positive), Some(negative)) => {
                    Ok(Self::PositiveMinusNegative { positive, negative })
                }
                _ => Err(LabError::ModelConfig(format!(
                    "the classifier's labels are {labels:?}; to read a reward from two labels \
                     one must be named POSITIVE and the other NEGATIVE in id2label"
                ))),
            },
            count => Err(LabError::ModelConfig(format!(
                "the classifier has {count} labels ({labels:?}); a reward is read from one \
                 label, or from two named POSITIVE and NEGATIVE"
            ))),
        }
    }

    /// Shapes: `logits` is `[batch, labels]`; the result is `[batch]`.
    pub fn read(self, logits: Tensor<2>) -> Tensor<1> {
        let [batch, _] = logits.dims();
        let column = |i: usize| logits.clone().narrow(1, i, 1).reshape([batch]);
        match self {
            Self::Single => column(0),
            Self::PositiveMinusNegative { positive, negative } => {
                column(positive) - column(negative)
            }
        }
    }
}

/// A plain encoder with a linear head on the mean of its hidden states over real tokens (the
/// pooling sentence-transformers uses for MiniLM, without its normalisation, so the head's
/// scale is free), for reward models the lab trains itself.
#[derive(Module, Debug)]
pub struct PooledScalarHead {
    pub encoder: TextEncoder,
    /// `[width, 1]`.
    pub head: Linear,
}

/// The names a trained scalar head is read from, in `nn.Linear`'s layout: `reward_head.weight`
/// `[1, width]` and `reward_head.bias` `[1]`.
pub const REWARD_HEAD: &str = "reward_head";

impl PooledScalarHead {
    /// The encoder with a head of zeros: every reward starts at 0, and the first gradient step
    /// moves the head along the pooled embeddings.
    pub fn untrained(encoder: TextEncoder, device: &Device) -> Self {
        let width = encoder.width();
        let head = Linear {
            weight: Param::from_tensor(Tensor::zeros([width, 1], device)),
            bias: Some(Param::from_tensor(Tensor::zeros([1], device))),
        };
        Self { encoder, head }
    }

    /// The encoder with the head stored under [`REWARD_HEAD`] in `weights`, or an untrained
    /// one when there is none.
    pub fn load(
        encoder: TextEncoder,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        if !weights.contains(&format!("{REWARD_HEAD}.weight")) {
            return Ok(Self::untrained(encoder, device));
        }
        let head = linear_out_in(weights, REWARD_HEAD, [encoder.width(), 1], device)?;
        Ok(Self { encoder, head })
    }

    /// Shapes: `batch` is `[batch, seq]`; the result is `[batch, 1]`.
    pub fn logits(&self, batch: &TokenBatch) -> Result<Tensor<2>, LabError> {
        let pooled = pooling::mean_over_tokens(self.encoder.forward(batch)?, batch.mask());
        Ok(self.head.forward(pooled))
    }
}

/// What computes the logits a reward is read from.
#[derive(Module, Debug)]
pub enum Scorer {
    Bert(BertForSequenceClassification),
    DistilBert(DistilBertForSequenceClassification),
    Pooled(PooledScalarHead),
}

impl Scorer {
    /// Shapes: `batch` is `[batch, seq]`; the result is `[batch, labels]`.
    pub fn logits(&self, batch: &TokenBatch) -> Result<Tensor<2>, LabError> {
        match self {
            Self::Bert(model) => model.logits(batch),
            Self::DistilBert(model) => model.logits(batch),
            Self::Pooled(model) => model.logits(batch),
        }
    }
}

/// A reward model on a BERT or DistilBERT encoder.
#[derive(Module, Debug)]
pub struct EncoderReward {
    pub scorer: Scorer,
    #[module(skip)]
    reading: LogitReading,
}

impl EncoderReward {
    /// `reading` must fit the scorer's labels (a pooled head has one).
    pub fn new(scorer: Scorer, reading: LogitReading) -> Self {
        Self { scorer, reading }
    }

    /// The reward model a hub checkpoint makes, by its `config.json` (`model_type` and the
    /// first of `architectures`):
    ///
    /// - `BertForSequenceClassification`, `DistilBertForSequenceClassification`: the
    ///   classifier, read by [`LogitReading::from_labels`] from its `id2label`;
    /// - `BertModel`, `DistilBertModel` (or a pre-training head, which is not read): the
    ///   encoder with a [`PooledScalarHead`], trained if the weights hold one under
    ///   [`REWARD_HEAD`], else of zeros.
    pub fn from_hub(
        config_json: &str,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        let architecture = HubArchitecture::from_config_json(config_json)?;
        if architecture.head == Head::Encoder {
            let encoder = TextEncoder::from_hub(config_json, weights, device)?;
            let scorer = Scorer::Pooled(PooledScalarHead::load(encoder, weights, device)?);
            return Ok(Self::new(scorer, LogitReading::Single));
        }
        let labels = hub::labels(config_json)?;
        let reading = LogitReading::from_labels(&labels)?;
        let scorer = match architecture.family {
            Family::Bert => Scorer::Bert(BertForSequenceClassification::load(
                &BertConfig::from_json(config_json)?,
                labels.len(),
                weights,
                device,
            )?),
            Family::DistilBert => Scorer::DistilBert(DistilBertForSequenceClassification::load(
                &DistilBertConfig::from_json(config_json)?,
                labels.len(),
                weights,
                device,
            )?),
        };
        Ok(Self::new(scorer, reading))
    }

    pub fn reading(&self) -> LogitReading {
        self.reading
    }

    /// Stops gradients at the encoder, so that training moves the head alone (the pooler and
    /// classifier of a fine-tuned classifier, or the scalar head).
    pub fn freeze_encoder(self) -> Self {
        let scorer = match self.scorer {
            Scorer::Bert(mut model) => {
                model.bert = model.bert.no_grad();
                Scorer::Bert(model)
            }
            Scorer::DistilBert(mut model) => {
                model.distilbert = model.distilbert.no_grad();
                Scorer::DistilBert(model)
            }
            Scorer::Pooled(mut model) => {
                model.encoder = model.encoder.no_grad();
                Scorer::Pooled(model)
            }
        };
        Self { scorer, ..self }
    }
}

impl RewardModel for EncoderReward {
    fn rewards(&self, batch: &TokenBatch) -> Result<Tensor<1>, LabError> {
        Ok(self.reading.read(self.scorer.logits(batch)?))
    }
}
