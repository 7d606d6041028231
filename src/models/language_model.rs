//! One entry point for the causal language models the lab knows: a hub `config.json` and its
//! weights make a [`LanguageModel`], whichever of GPT-2, GPT-NeoX or Llama it is. The model is
//! a burn `Module`, so an optimiser can fine-tune it as it is.

use super::CausalLm;
use super::cache::KvCache;
use super::checkpoint::CheckpointTensor;
use super::gpt2::{Gpt2, Gpt2Config};
use super::llama::{Llama, LlamaConfig};
use super::lora::Projection;
use super::neox::{NeoX, NeoXConfig};
use super::weights::WeightSource;
use crate::LabError;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

/// The `model_type` values of hub configurations the lab can load as causal language models.
pub const KNOWN_MODEL_TYPES: [&str; 3] = ["gpt2", "gpt_neox", "llama"];

/// A causal language model's configuration, tagged by the hub's `model_type`, so that it
/// serialises back to the fields a `config.json` would hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model_type")]
pub enum LanguageModelConfig {
    #[serde(rename = "gpt2")]
    Gpt2(Gpt2Config),
    #[serde(rename = "gpt_neox")]
    NeoX(NeoXConfig),
    #[serde(rename = "llama")]
    Llama(LlamaConfig),
}

impl LanguageModelConfig {
    /// Reads a hub `config.json`, dispatching on its `model_type`.
    pub fn from_hub_json(text: &str) -> Result<Self, LabError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|error| {
            LabError::ModelConfig(format!("config.json is not valid JSON ({error})"))
        })?;
        let model_type = match value.get("model_type") {
            Some(serde_json::Value::String(model_type)) => model_type.clone(),
            _ => {
                return Err(LabError::ModelConfig(format!(
                    "config.json has no model_type, so the architecture is unknown; the lab \
                     loads causal language models of the types {}",
                    KNOWN_MODEL_TYPES.join(", ")
                )));
            }
        };
        if !KNOWN_MODEL_TYPES.contains(&model_type.as_str()) {
            return Err(LabError::ModelConfig(format!(
                "the architecture '{model_type}' is not a causal language model the lab knows; \
                 choose a model of the types {}",
                KNOWN_MODEL_TYPES.join(", ")
            )));
        }
        serde_json::from_value(value).map_err(|error| {
            LabError::ModelConfig(format!("config.json of a {model_type} model: {error}"))
        })
    }

    pub fn model_type(&self) -> &'static str {
        match self {
            Self::Gpt2(_) => "gpt2",
            Self::NeoX(_) => "gpt_neox",
            Self::Llama(_) => "llama",
        }
    }
}

/// Any of the causal language models, loaded from hub weights.
#[derive(Module, Debug)]
pub enum LanguageModel {
    Gpt2(Gpt2),
    NeoX(NeoX),
    Llama(Llama),
}

impl LanguageModel {
    /// Loads the model a hub `config.json` describes from its weights (on an autodiff device
    /// for training).
    pub fn from_hub(
        config_json: &str,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        Self::load(
            &LanguageModelConfig::from_hub_json(config_json)?,
            weights,
            device,
        )
    }

    pub fn load(
        config: &LanguageModelConfig,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        Ok(match config {
            LanguageModelConfig::Gpt2(config) => Self::Gpt2(Gpt2::load(config, weights, device)?),
            LanguageModelConfig::NeoX(config) => Self::NeoX(NeoX::load(config, weights, device)?),
            LanguageModelConfig::Llama(config) => {
                Self::Llama(Llama::load(config, weights, device)?)
            }
        })
    }

    /// The hub's `model_type` of the architecture.
    pub fn model_type(&self) -> &'static str {
        match self {
            Self::Gpt2(_) => "gpt2",
            Self::NeoX(_) => "gpt_neox",
            Self::Llama(_) => "llama",
        }
    }

    /// Every linear projection of the blocks under its module path in the hub's causal-LM
    /// class (`model.layers.0.self_attn.q_proj`): where LoRA adapters go (see `lora`).
    pub fn projections(&self) -> Vec<(String, &Projection)> {
        match self {
            Self::Gpt2(model) => model.projections(),
            Self::NeoX(model) => model.projections(),
            Self::Llama(model) => model.projections(),
        }
    }

    pub fn projections_mut(&mut self) -> Vec<(String, &mut Projection)> {
        match self {
            Self::Gpt2(model) => model.projections_mut(),
            Self::NeoX(model) => model.projections_mut(),
            Self::Llama(model) => model.projections_mut(),
        }
    }

    fn inner(&self) -> &dyn CausalLm {
        match self {
            Self::Gpt2(model) => model,
            Self::NeoX(model) => model,
            Self::Llama(model) => model,
        }
    }
}

impl CausalLm for LanguageModel {
    fn layers(&self) -> usize {
        self.inner().layers()
    }

    fn vocab_size(&self) -> usize {
        self.inner().vocab_size()
    }

    fn width(&self) -> usize {
        self.inner().width()
    }

    fn max_positions(&self) -> usize {
        self.inner().max_positions()
    }

    fn hidden_states(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        self.inner().hidden_states(tokens, cache)
    }

    fn project(&self, hidden: Tensor<3>) -> Tensor<3> {
        self.inner().project(hidden)
    }

    fn checkpoint_parameters(&self) -> Vec<CheckpointTensor> {
        self.inner().checkpoint_parameters()
    }
}
