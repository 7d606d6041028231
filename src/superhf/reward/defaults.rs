//! The lab's two default reward models: the all-MiniLM-L6-v2 encoder with a linear head on
//! the mean of its hidden states, trained by the lab (`superlab train-reward`, frozen encoder,
//! regression) on the VADER sentiment scores of templated sentences
//! (`tests/fixtures/sentiment_data.json`). One head learnt the `train` half, the other the
//! disjoint `heldout` half: SuperHF optimises against the first and reports the second, so
//! that the gap between the two shows reward hacking. Only the heads (1.6 KB each) ship in the
//! lab; the encoder is the cached asset.

use super::overlay::Overlay;
use super::text::{TextReward, TextTokens};
use crate::LabError;
use crate::models::encoder::reward::{EncoderReward, Scorer};
use crate::models::load::defaults::{DEFAULT, DEFAULT_HELDOUT};
use crate::models::tokenizer::Tokenizer;
use crate::models::weights::Weights;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DefaultReward {
    /// Trained on the `train` half: the reward SuperHF optimises.
    #[serde(rename = "default")]
    Train,
    /// Trained on the `heldout` half: the reward SuperHF reports.
    #[serde(rename = "default-heldout")]
    Heldout,
}

impl DefaultReward {
    pub const ALL: [Self; 2] = [Self::Train, Self::Heldout];

    /// How the command-line tool and the page name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => DEFAULT,
            Self::Heldout => DEFAULT_HELDOUT,
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|which| which.name() == name)
    }

    /// The split of the sentiment data its head was trained on.
    pub fn split(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Heldout => "heldout",
        }
    }

    /// The head, as the safetensors file `superlab train-reward` wrote.
    pub const fn head_safetensors(self) -> &'static [u8] {
        match self {
            Self::Train => include_bytes!("heads/train.safetensors"),
            Self::Heldout => include_bytes!("heads/heldout.safetensors"),
        }
    }

    pub fn head(self) -> Result<Weights, LabError> {
        let name = format!("{}.safetensors", self.split());
        Weights::from_safetensors(&name, self.head_safetensors().to_vec())
    }
}

/// The files of the packaged all-MiniLM-L6-v2 (`models/all-MiniLM-L6-v2/` of the asset cache).
pub struct EncoderFiles {
    pub config_json: String,
    pub tokenizer_json: Vec<u8>,
    pub weights: Weights,
}

/// A default reward model, from the MiniLM files and the head built into the lab, on `device`.
pub fn default_reward_model(
    which: DefaultReward,
    encoder: &EncoderFiles,
    device: &Device,
) -> Result<TextReward<EncoderReward>, LabError> {
    let head = which.head()?;
    let weights = Overlay {
        top: &head,
        base: &encoder.weights,
    };
    let model = EncoderReward::from_hub(&encoder.config_json, &weights, device)?;
    // A classifier checkpoint would score with its own head and ignore the default one.
    if !matches!(model.scorer, Scorer::Pooled(_)) {
        return Err(LabError::ModelConfig(
            "the default reward heads read all-MiniLM-L6-v2, a plain BERT encoder; the \
             checkpoint given is a classifier"
                .into(),
        ));
    }
    let tokenizer = Tokenizer::from_json_bytes(&encoder.tokenizer_json)?;
    let max_tokens = super::hub::max_tokens(&encoder.config_json, &tokenizer)?;
    Ok(TextReward {
        model,
        tokens: TextTokens::new(&tokenizer, max_tokens)?,
    })
}
