//! What a hub `config.json` says about a checkpoint: which architecture family, which head,
//! which labels.

use crate::LabError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// The architecture families the lab implements as encoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Bert,
    DistilBert,
}

impl Family {
    fn from_model_type(model_type: &str) -> Option<Self> {
        match model_type {
            "bert" => Some(Self::Bert),
            "distilbert" => Some(Self::DistilBert),
            _ => None,
        }
    }

    /// How transformers' class names of the family begin.
    fn class_prefix(self) -> &'static str {
        match self {
            Self::Bert => "Bert",
            Self::DistilBert => "DistilBert",
        }
    }
}

/// The head on top of the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// None, or one for pre-training (masked language modelling, next sentence): the lab reads
    /// the encoder alone.
    Encoder,
    /// `...ForSequenceClassification`: logits per sequence, read from the first position.
    SequenceClassification,
}

/// Heads whose checkpoints hold a usable encoder and nothing the lab reads besides it.
const ENCODER_SUFFIXES: [&str; 4] = ["Model", "ForMaskedLM", "ForPreTraining", "LMHeadModel"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubArchitecture {
    pub family: Family,
    pub head: Head,
    /// The class name in `architectures`, or the family's plain model when none is given.
    pub class: String,
}

#[derive(Deserialize)]
struct Header {
    model_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
    id2label: Option<BTreeMap<String, String>>,
    num_labels: Option<usize>,
}

impl HubArchitecture {
    /// Reads `model_type` (or, when absent, the first of `architectures`) and the head the
    /// first of `architectures` names.
    pub fn from_config_json(config_json: &str) -> Result<Self, LabError> {
        let header: Header = parse_config(config_json, "")?;
        let first_class = header.architectures.first().map(String::as_str);
        let family = match (header.model_type.as_deref(), first_class) {
            (Some(model_type), _) => Family::from_model_type(model_type),
            (None, Some(class)) if class.starts_with("DistilBert") => Some(Family::DistilBert),
            (None, Some(class)) if class.starts_with("Bert") => Some(Family::Bert),
            (None, _) => None,
        };
        let Some(family) = family else {
            return Err(LabError::ModelConfig(format!(
                "the checkpoint is of model type {} ({}); the lab's text encoders are BERT \
                 (model_type \"bert\") and DistilBERT (\"distilbert\")",
                header.model_type.as_deref().unwrap_or("(not given)"),
                first_class.unwrap_or("no architecture named"),
            )));
        };
        let class =
            first_class.map_or_else(|| format!("{}Model", family.class_prefix()), str::to_string);
        let suffix = class.strip_prefix(family.class_prefix()).ok_or_else(|| {
            LabError::ModelConfig(format!(
                "the configuration says model type {:?} but architecture {class}: it is \
                 inconsistent",
                header.model_type.as_deref().unwrap_or_default()
            ))
        })?;
        let head = match suffix {
            "ForSequenceClassification" => Head::SequenceClassification,
            _ if ENCODER_SUFFIXES.contains(&suffix) => Head::Encoder,
            _ => {
                return Err(LabError::ModelConfig(format!(
                    "{class} is not an architecture the lab can score text with: it reads \
                     {0}Model (and its pre-training variants) and {0}ForSequenceClassification",
                    family.class_prefix()
                )));
            }
        };
        Ok(Self {
            family,
            head,
            class,
        })
    }
}

/// The label names by index, from `id2label` or else `num_labels`; two labels when neither is
/// given, as transformers assumes.
pub fn labels(config_json: &str) -> Result<Vec<String>, LabError> {
    let header: Header = parse_config(config_json, "")?;
    let Some(id2label) = header.id2label else {
        let count = header.num_labels.unwrap_or(2);
        return Ok((0..count).map(|i| format!("LABEL_{i}")).collect());
    };
    let mut labels = vec![None; id2label.len()];
    for (index, label) in id2label {
        let slot = index.parse::<usize>().ok().and_then(|i| labels.get_mut(i));
        let Some(slot) = slot else {
            return Err(LabError::ModelConfig(format!(
                "id2label has the key {index:?}; its keys must be the indices 0 to {}",
                labels.len() - 1
            )));
        };
        *slot = Some(label);
    }
    Ok(labels.into_iter().flatten().collect())
}

/// A configuration struct from the hub's `config.json` text; `reading_as` says what it was
/// read as (" as a BERT configuration") in the message when the text does not fit.
pub(crate) fn parse_config<T: DeserializeOwned>(
    config_json: &str,
    reading_as: &str,
) -> Result<T, LabError> {
    serde_json::from_str(config_json).map_err(|error| {
        LabError::ModelConfig(format!("config.json cannot be read{reading_as}: {error}"))
    })
}
