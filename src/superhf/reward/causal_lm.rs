//! A reward model on a causal language model: a linear head without bias on the final hidden
//! state of each sequence's last real token, as transformers' `GPT2ForSequenceClassification`,
//! `GPTNeoXForSequenceClassification` and `LlamaForSequenceClassification` compute it with one
//! label (`score.weight` `[1, width]`).
//!
//! transformers finds the last token as the right-most one that is not the padding id; the lab
//! reads it from the batch's mask, which agrees on every right-padded batch whose texts do not
//! end in the padding token (GPT-2 pads with its end-of-text token, and transformers would
//! skip a real one at the end of a text). Batches must be right-padded: the causal models here
//! take no attention mask, and causality alone keeps padding after a text from reaching it.

use crate::LabError;
use crate::models::CausalLm;
use crate::models::checkpoint::{CheckpointTensor, linear_tensors};
use crate::models::encoder::batch::TokenBatch;
use crate::models::encoder::hub::labels;
use crate::models::encoder::reward::RewardModel;
use crate::models::language_model::{LanguageModel, LanguageModelConfig};
use crate::models::weights::WeightSource;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};
use serde::Deserialize;

/// The checkpoint name of the head.
pub const SCORE: &str = "score";

#[derive(Module, Debug)]
pub struct CausalLmReward {
    pub model: LanguageModel,
    /// `[width, 1]`, without bias.
    pub score: Linear,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    architectures: Vec<String>,
}

impl CausalLmReward {
    /// The reward model of a `...ForSequenceClassification` checkpoint with one label, of any
    /// causal architecture the lab loads (`model_type` gpt2, gpt_neox or llama).
    pub fn from_hub(
        config_json: &str,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        let mut config = LanguageModelConfig::from_hub_json(config_json)?;
        let header: Header = serde_json::from_str(config_json)
            .map_err(|error| LabError::ModelConfig(format!("config.json: {error}")))?;
        let class = header
            .architectures
            .first()
            .map_or("none named", String::as_str);
        if !class.ends_with("ForSequenceClassification") {
            return Err(LabError::ModelConfig(format!(
                "the checkpoint's architecture is {class}; a reward model on a causal language \
                 model is a ...ForSequenceClassification checkpoint with a score head"
            )));
        }
        let labels = labels(config_json)?;
        if labels.len() != 1 {
            return Err(LabError::ModelConfig(format!(
                "the classifier has {} labels; a reward model has one (num_labels 1)",
                labels.len()
            )));
        }
        // The score head replaces the output projection, which such checkpoints do not hold:
        // load the body as if the projection were tied to the embedding, and never use it.
        match &mut config {
            LanguageModelConfig::Gpt2(_) => {}
            LanguageModelConfig::NeoX(config) => config.tie_word_embeddings = true,
            LanguageModelConfig::Llama(config) => config.tie_word_embeddings = true,
        }
        let model = LanguageModel::load(&config, weights, device)?;
        let width = model.width();
        let name = format!("{SCORE}.weight");
        if !weights.contains(&name) {
            return Err(LabError::Weights(format!(
                "the weights have no {name}, the reward head of a {class} checkpoint: they may \
                 be those of the language model alone"
            )));
        }
        let weight = weights.tensor::<2>(&name, [1, width], device)?;
        let score = Linear {
            weight: Param::from_tensor(weight.transpose()),
            bias: None,
        };
        Ok(Self { model, score })
    }

    /// The reward of each sequence, from its hidden states.
    ///
    /// Shapes: `hidden` is `[batch, seq, width]`, `batch` `[batch, seq]`; the result is
    /// `[batch]`.
    pub fn read_last(&self, hidden: Tensor<3>, batch: &TokenBatch) -> Tensor<1> {
        let [count, _, width] = hidden.dims();
        let last = batch.mask().sum_dim(1).sub_scalar(1).reshape([count, 1, 1]);
        let hidden_last = hidden.gather(1, last.expand([count, 1, width]));
        self.score
            .forward(hidden_last.reshape([count, width]))
            .reshape([count])
    }

    /// The parameters under their checkpoint names (`transformer.h.0...` or `model.layers...`
    /// as loaded, and `score.weight`).
    pub fn checkpoint_parameters(&self) -> Vec<CheckpointTensor> {
        let mut tensors = self.model.checkpoint_parameters();
        tensors.extend(linear_tensors(SCORE, &self.score, true));
        tensors
    }
}

impl RewardModel for CausalLmReward {
    fn rewards(&self, batch: &TokenBatch) -> Result<Tensor<1>, LabError> {
        let vocab = self.model.vocab_size();
        batch.check_fits("the language model", vocab, 1, self.model.max_positions())?;
        Ok(self.read_last(self.model.hidden(batch.tokens()), batch))
    }
}
