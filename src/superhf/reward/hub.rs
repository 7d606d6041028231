//! Any reward model a hub checkpoint makes, by its `config.json`: an encoder (BERT,
//! DistilBERT; a classifier, or a plain encoder with a pooled scalar head) or a causal language
//! model with a score head.

use super::causal_lm::CausalLmReward;
use super::text::{TextReward, TextTokens};
use crate::LabError;
use crate::models::encoder::batch::TokenBatch;
use crate::models::encoder::reward::{EncoderReward, RewardModel};
use crate::models::language_model::KNOWN_MODEL_TYPES;
use crate::models::tokenizer::Tokenizer;
use crate::models::weights::WeightSource;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::Deserialize;

#[derive(Module, Debug)]
pub enum HubRewardModel {
    Encoder(EncoderReward),
    CausalLm(CausalLmReward),
}

#[derive(Deserialize)]
struct Header {
    model_type: Option<String>,
    max_position_embeddings: Option<usize>,
}

impl HubRewardModel {
    pub fn from_hub(
        config_json: &str,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        match header(config_json)?.model_type.as_deref() {
            Some(causal) if KNOWN_MODEL_TYPES.contains(&causal) => Ok(Self::CausalLm(
                CausalLmReward::from_hub(config_json, weights, device)?,
            )),
            // Without a model_type the encoders recognise their architectures by name.
            None | Some("bert" | "distilbert") => Ok(Self::Encoder(EncoderReward::from_hub(
                config_json,
                weights,
                device,
            )?)),
            Some(other) => Err(LabError::ModelConfig(format!(
                "the checkpoint's model_type is {other}; a reward model is a BERT or DistilBERT \
                 encoder or classifier, or a causal language model ({}) with a score head",
                KNOWN_MODEL_TYPES.join(", ")
            ))),
        }
    }
}

impl RewardModel for HubRewardModel {
    fn rewards(&self, batch: &TokenBatch) -> Result<Tensor<1>, LabError> {
        match self {
            Self::Encoder(model) => model.rewards(batch),
            Self::CausalLm(model) => model.rewards(batch),
        }
    }
}

fn header(config_json: &str) -> Result<Header, LabError> {
    serde_json::from_str(config_json)
        .map_err(|error| LabError::ModelConfig(format!("config.json cannot be read: {error}")))
}

/// How many tokens per text a reward model built from this checkpoint and tokenizer reads:
/// the length the tokenizer truncates to when it names one (sentence-transformers' exports
/// name the length their encoder was trained with), else the model's positions.
pub fn max_tokens(config_json: &str, tokenizer: &Tokenizer) -> Result<usize, LabError> {
    let positions = header(config_json)?.max_position_embeddings;
    let named = tokenizer.truncation_length();
    Ok(match (named, positions) {
        (Some(named), Some(positions)) => named.min(positions),
        (Some(length), None) | (None, Some(length)) => length,
        (None, None) => DEFAULT_MAX_TOKENS,
    })
}

/// GPT-2's context, for a configuration that names none.
const DEFAULT_MAX_TOKENS: usize = 1024;

/// A hub checkpoint's reward model with its tokenizer.
pub fn text_reward_from_hub(
    config_json: &str,
    tokenizer_json: &[u8],
    weights: &impl WeightSource,
    device: &Device,
) -> Result<TextReward<HubRewardModel>, LabError> {
    let tokenizer = Tokenizer::from_json_bytes(tokenizer_json)?;
    let model = HubRewardModel::from_hub(config_json, weights, device)?;
    let tokens = TextTokens::new(&tokenizer, max_tokens(config_json, &tokenizer)?)?;
    Ok(TextReward { model, tokens })
}
