//! From a model's files to a model ready to use, whatever they hold: a causal language model
//! with its tokenizer, a text-encoder reward model with its tokenizer, or an image classifier
//! with its class names. The page and the command-line tool both come here with the same named
//! files ([`ModelFiles`]).
//!
//! What the files are is decided by the weights' format and `config.json`:
//!
//! - a `.gguf` file is a Llama-architecture language model, with the tokenizer from its
//!   metadata (or a `tokenizer.json` given beside it);
//! - safetensors with a `config.json` whose `model_type` is `gpt2`, `gpt_neox` or `llama` are a
//!   language model, `bert` or `distilbert` a reward model (both need `tokenizer.json`), and a
//!   timm `config.json` (naming an `architecture`) an image classifier;
//! - a legacy `.pth` checkpoint, or safetensors without `config.json`, is an image classifier
//!   recognised by its tensor names.
//!
//! Before any weight is uploaded, the checkpoint's headers are checked against the device
//! ([`fit`]), and a tokenizer against the model's vocabulary.

pub mod chat;
pub mod classifier;
pub mod defaults;
pub mod files;
pub mod fit;
pub mod policy;
pub mod reward;

use crate::LabError;
use crate::device::LabDevice;
use crate::models::encoder::reward::EncoderReward;
use crate::models::gguf::{GgufTokenizerFlavor, LlamaGguf};
use crate::models::language_model::{KNOWN_MODEL_TYPES, LanguageModel, LanguageModelConfig};
use crate::models::tokenizer::Tokenizer;
use crate::models::torch_legacy::TorchCheckpoint;
use crate::models::vision::layers::MAX_BLOCK_BYTES;
use crate::models::vision::{Architecture, ClassNames};
use crate::models::weights::{WeightSource, Weights};
use burn::tensor::Device;
use chat::ChatFormat;
use classifier::ImageModel;
pub use files::{FileKind, ModelFiles, WeightFiles};
use fit::{DeviceCapacity, Footprint};
use policy::Policy;
use reward::TextReward;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The encoder families a reward model can be built on.
const ENCODER_MODEL_TYPES: [&str; 2] = ["bert", "distilbert"];

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    LanguageModel,
    RewardModel,
    ImageClassifier,
}

impl ModelKind {
    pub fn describe(self) -> &'static str {
        match self {
            Self::LanguageModel => "language model",
            Self::RewardModel => "reward model",
            Self::ImageClassifier => "image classifier",
        }
    }

    pub fn describe_with_article(self) -> String {
        match self {
            Self::ImageClassifier => format!("an {}", self.describe()),
            _ => format!("a {}", self.describe()),
        }
    }
}

/// What the page and the tool show about a loaded model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSummary {
    pub kind: ModelKind,
    /// `config.json`'s `_name_or_path`, else the weights file's name.
    pub name: String,
    /// The architecture: a hub `model_type` (`llama`), a transformers class
    /// (`DistilBertForSequenceClassification`) or a classifier (`efficientnet_lite0`).
    pub architecture: String,
    pub format: String,
    pub parameters: usize,
    /// The weights as f32 on the device.
    pub weights_bytes: u64,
    pub largest_tensor: Option<Footprint>,
    pub vocab_size: Option<usize>,
    pub tokenizer_vocab_size: Option<usize>,
    pub max_positions: Option<usize>,
    /// Whether prompts can be framed in the model's chat template.
    pub chat: bool,
    pub classes: Option<usize>,
    pub class_names: bool,
    /// Where the weights live.
    pub device: String,
}

/// A model ready to use.
#[derive(Debug)]
pub enum LoadedModel {
    Language(Box<Policy>),
    Reward(Box<TextReward>),
    Classifier(ImageModel),
}

#[derive(Debug)]
pub struct Loaded {
    pub model: LoadedModel,
    pub summary: ModelSummary,
}

/// What the files make, decided from their names and `config.json` without reading weights.
pub fn kind_of(files: &ModelFiles) -> Result<ModelKind, LabError> {
    Ok(match files.weights()? {
        WeightFiles::Gguf(_) => ModelKind::LanguageModel,
        WeightFiles::Torch(_) => ModelKind::ImageClassifier,
        WeightFiles::Safetensors(_) => match files.text(FileKind::Config)? {
            None => ModelKind::ImageClassifier,
            Some((_, config)) => kind_from_config(&parse_config(config)?)?,
        },
    })
}

/// Loads what the files make onto the device, after checking it fits. With `expected`, files
/// that make another kind of model are refused before any weight is read.
pub fn load(
    files: ModelFiles,
    device: &LabDevice,
    expected: Option<ModelKind>,
) -> Result<Loaded, LabError> {
    let capacity = DeviceCapacity::of(&device.report);
    let mut loaded = load_on(files, &device.device, &capacity, expected)?;
    loaded.summary.device = device.report.description.clone();
    Ok(loaded)
}

/// [`load`] with the device's capacity given.
pub fn load_on(
    mut files: ModelFiles,
    device: &Device,
    capacity: &DeviceCapacity,
    expected: Option<ModelKind>,
) -> Result<Loaded, LabError> {
    let kind = kind_of(&files)?;
    if let Some(expected) = expected
        && expected != kind
    {
        return Err(LabError::Config(format!(
            "the files hold {}, not {}",
            kind.describe_with_article(),
            expected.describe_with_article()
        )));
    }
    match files.weights()? {
        WeightFiles::Gguf(name) => language_from_gguf(&mut files, &name, device, capacity),
        WeightFiles::Torch(name) => {
            let bytes = files.take(&name).unwrap_or_default();
            let checkpoint = TorchCheckpoint::from_bytes(&name, bytes)?;
            let footprints = (checkpoint.names().iter())
                .filter_map(|tensor| Some((tensor, &checkpoint.info(tensor)?.shape)))
                .map(|(tensor, shape)| classifier_footprint(tensor, shape))
                .collect();
            let architecture = classifier::architecture_from_names(&name, &checkpoint)?;
            let source = Source {
                name,
                format: "pth",
                footprints,
            };
            classifier(&files, architecture, &checkpoint, source, device, capacity)
        }
        WeightFiles::Safetensors(shards) => {
            let weights = read_shards(&mut files, &shards)?;
            let config = files
                .text(FileKind::Config)?
                .map(|(_, text)| text.to_string());
            let config = config.as_deref().map(parse_config).transpose()?;
            let shapes = weights.shapes();
            let mut source = Source {
                name: config_name(config.as_ref()).unwrap_or_else(|| weights_name(&shards)),
                format: "safetensors",
                footprints: shapes.iter().map(|(n, s)| Footprint::whole(n, s)).collect(),
            };
            match (kind, config) {
                (ModelKind::LanguageModel, Some(config)) => {
                    language_from_safetensors(&files, &config, &weights, source, device, capacity)
                }
                (ModelKind::RewardModel, Some(config)) => {
                    reward(&files, &config, &weights, source, device, capacity)
                }
                (_, config) => {
                    let architecture = match config
                        .as_ref()
                        .and_then(classifier::architecture_from_timm)
                    {
                        Some(architecture) => architecture?,
                        None => classifier::architecture_from_names(&shards.join(", "), &weights)?,
                    };
                    source.footprints = (shapes.iter())
                        .map(|(n, s)| classifier_footprint(n, s))
                        .collect();
                    classifier(&files, architecture, &weights, source, device, capacity)
                }
            }
        }
    }
}

/// Where a model's weights came from and what they take on the device.
struct Source {
    name: String,
    format: &'static str,
    footprints: Vec<Footprint>,
}

impl Source {
    fn summary(&self, kind: ModelKind, architecture: String) -> ModelSummary {
        ModelSummary {
            kind,
            name: self.name.clone(),
            architecture,
            format: self.format.into(),
            parameters: self.footprints.iter().map(Footprint::elements).sum(),
            weights_bytes: self.footprints.iter().map(Footprint::bytes).sum(),
            largest_tensor: (self.footprints.iter())
                .max_by_key(|footprint| footprint.bytes())
                .cloned(),
            vocab_size: None,
            tokenizer_vocab_size: None,
            max_positions: None,
            chat: false,
            classes: None,
            class_names: false,
            device: String::new(),
        }
    }
}

fn parse_config(text: &str) -> Result<Value, LabError> {
    serde_json::from_str(text).map_err(|error| {
        LabError::ModelConfig(format!(
            "config.json is not valid JSON ({error}); it may be truncated"
        ))
    })
}

fn kind_from_config(config: &Value) -> Result<ModelKind, LabError> {
    let model_type = config.get("model_type").and_then(Value::as_str);
    let first_class = (config.get("architectures"))
        .and_then(|classes| classes.get(0))
        .and_then(Value::as_str);
    if let Some(model_type) = model_type {
        if KNOWN_MODEL_TYPES.contains(&model_type) {
            return Ok(ModelKind::LanguageModel);
        }
        if ENCODER_MODEL_TYPES.contains(&model_type) {
            return Ok(ModelKind::RewardModel);
        }
    } else if config.get("architecture").is_some_and(Value::is_string) {
        return Ok(ModelKind::ImageClassifier);
    } else if first_class.is_some_and(|c| c.starts_with("Bert") || c.starts_with("DistilBert")) {
        return Ok(ModelKind::RewardModel);
    }
    let classifiers: Vec<&str> = Architecture::ALL.iter().map(|a| a.name()).collect();
    Err(LabError::ModelConfig(format!(
        "config.json describes a model of type {} ({}), which the lab does not read. It reads \
         causal language models of the types {}, reward models on the encoders {}, and the \
         image classifiers {}",
        model_type.unwrap_or("(not given)"),
        first_class.unwrap_or("no architecture named"),
        KNOWN_MODEL_TYPES.join(", "),
        ENCODER_MODEL_TYPES.join(", "),
        classifiers.join(", ")
    )))
}

fn config_name(config: Option<&Value>) -> Option<String> {
    let name = config?.get("_name_or_path")?.as_str()?;
    (!name.is_empty()).then(|| name.to_string())
}

/// A checkpoint's name from its weights files: the file name without its extension, or the
/// part shared by a checkpoint's shards.
fn weights_name(files: &[String]) -> String {
    let first = files.first().map_or("", |name| files::base_name(name));
    let stem = first.split_once('.').map_or(first, |(stem, _)| stem);
    match files.len() {
        1 => stem.to_string(),
        _ => stem.split("-0").next().unwrap_or(stem).to_string(),
    }
}

fn read_shards(files: &mut ModelFiles, shards: &[String]) -> Result<Weights, LabError> {
    let named = (shards.iter())
        .map(|name| (name.clone(), files.take(name).unwrap_or_default()))
        .collect();
    Weights::from_shards(named)
}

/// In an image classifier every two-dimensional tensor is a fully connected layer's weight,
/// which the classifier keeps in blocks.
fn classifier_footprint(name: &str, shape: &[usize]) -> Footprint {
    match shape.len() {
        2 => Footprint::in_blocks(name, shape, MAX_BLOCK_BYTES as u64),
        _ => Footprint::whole(name, shape),
    }
}

/// The `tokenizer.json` among the files, which a safetensors language or reward model needs.
fn required_tokenizer(files: &ModelFiles, kind: ModelKind) -> Result<Tokenizer, LabError> {
    match files.find(FileKind::Tokenizer) {
        Some(name) => Tokenizer::from_json_bytes(files.bytes(name).unwrap_or_default()),
        None => Err(LabError::Tokenizer(format!(
            "there is no tokenizer.json among the files; {} needs the tokenizer.json of its \
             checkpoint beside config.json and the weights",
            kind.describe_with_article()
        ))),
    }
}

/// The chat template a `tokenizer_config.json` carries, or why there is none.
fn chat_from_tokenizer_config(files: &ModelFiles) -> Result<ChatFormat, String> {
    let Ok(Some((_, text))) = files.text(FileKind::TokenizerConfig) else {
        return Err("no tokenizer_config.json with a chat template among the files".into());
    };
    let config: Value = serde_json::from_str(text)
        .map_err(|error| format!("tokenizer_config.json is not valid JSON: {error}"))?;
    let template = (config.get("chat_template"))
        .and_then(Value::as_str)
        .ok_or("tokenizer_config.json has no chat_template")?;
    ChatFormat::from_template(template).map_err(|error| error.to_string())
}

fn language_from_gguf(
    files: &mut ModelFiles,
    name: &str,
    device: &Device,
    capacity: &DeviceCapacity,
) -> Result<Loaded, LabError> {
    let gguf = LlamaGguf::open(name, files.take(name).unwrap_or_default())?;
    let source = Source {
        name: weights_name(&[name.to_string()]),
        format: "gguf",
        footprints: (gguf.file().tensors().iter())
            .map(|info| Footprint::whole(&info.name, &info.shape()))
            .collect(),
    };
    capacity.check(&source.footprints)?;
    let tokenizer = match files.find(FileKind::Tokenizer) {
        Some(tokenizer) => Tokenizer::from_json_bytes(files.bytes(tokenizer).unwrap_or_default())?,
        None => gguf.tokenizer(GgufTokenizerFlavor::AsFile)?,
    };
    let config = gguf.config();
    tokenizer.check_fits(config.vocab_size)?;
    let chat = match gguf.file().get("tokenizer.chat_template") {
        Some(template) => (template.as_str())
            .ok_or_else(|| "the GGUF chat template is not a string".to_string())
            .and_then(|text| ChatFormat::from_template(text).map_err(|e| e.to_string())),
        None => chat_from_tokenizer_config(files),
    };
    let config_json =
        serde_json::to_string(config).map_err(|error| LabError::ModelConfig(error.to_string()))?;
    let model = LanguageModel::from_hub(&config_json, &gguf, device)?;
    let mut summary = source.summary(ModelKind::LanguageModel, "llama".into());
    summary.vocab_size = Some(config.vocab_size);
    summary.max_positions = Some(config.max_position_embeddings);
    Ok(policy(model, tokenizer, chat, summary))
}

fn language_from_safetensors(
    files: &ModelFiles,
    config: &Value,
    weights: &Weights,
    source: Source,
    device: &Device,
    capacity: &DeviceCapacity,
) -> Result<Loaded, LabError> {
    let config = LanguageModelConfig::from_hub_json(&config.to_string())?;
    let (vocab_size, max_positions) = match &config {
        LanguageModelConfig::Gpt2(c) => (c.vocab_size, c.n_positions),
        LanguageModelConfig::NeoX(c) => (c.vocab_size, c.max_position_embeddings),
        LanguageModelConfig::Llama(c) => (c.vocab_size, c.max_position_embeddings),
    };
    capacity.check(&source.footprints)?;
    let tokenizer = required_tokenizer(files, ModelKind::LanguageModel)?;
    tokenizer.check_fits(vocab_size)?;
    let model = LanguageModel::load(&config, weights, device)?;
    let mut summary = source.summary(ModelKind::LanguageModel, config.model_type().into());
    summary.vocab_size = Some(vocab_size);
    summary.max_positions = Some(max_positions);
    Ok(policy(
        model,
        tokenizer,
        chat_from_tokenizer_config(files),
        summary,
    ))
}

fn policy(
    model: LanguageModel,
    tokenizer: Tokenizer,
    chat: Result<ChatFormat, String>,
    mut summary: ModelSummary,
) -> Loaded {
    summary.tokenizer_vocab_size = Some(tokenizer.vocab_size());
    summary.chat = chat.is_ok();
    let (chat, chat_unavailable) = match chat {
        Ok(chat) => (Some(chat), None),
        Err(why) => (None, Some(why)),
    };
    let policy = Policy {
        model,
        tokenizer,
        chat,
        chat_unavailable,
    };
    Loaded {
        model: LoadedModel::Language(Box::new(policy)),
        summary,
    }
}

fn reward(
    files: &ModelFiles,
    config: &Value,
    weights: &Weights,
    source: Source,
    device: &Device,
    capacity: &DeviceCapacity,
) -> Result<Loaded, LabError> {
    let size = |key: &str| config.get(key).and_then(Value::as_u64).map(|v| v as usize);
    let (Some(vocab_size), Some(max_positions)) =
        (size("vocab_size"), size("max_position_embeddings"))
    else {
        return Err(LabError::ModelConfig(
            "config.json of an encoder must give vocab_size and max_position_embeddings".into(),
        ));
    };
    capacity.check(&source.footprints)?;
    let tokenizer = required_tokenizer(files, ModelKind::RewardModel)?;
    tokenizer.check_fits(vocab_size)?;
    let config_text = config.to_string();
    let model = EncoderReward::from_hub(&config_text, weights, device)?;
    let architecture = (config.get("architectures"))
        .and_then(|classes| classes.get(0))
        .and_then(Value::as_str)
        .or_else(|| config.get("model_type").and_then(Value::as_str))
        .unwrap_or_default()
        .to_string();
    let mut summary = source.summary(ModelKind::RewardModel, architecture);
    summary.vocab_size = Some(vocab_size);
    summary.max_positions = Some(max_positions);
    summary.tokenizer_vocab_size = Some(tokenizer.vocab_size());
    let scorer = TextReward::new(model, tokenizer, max_positions)?;
    Ok(Loaded {
        model: LoadedModel::Reward(Box::new(scorer)),
        summary,
    })
}

fn classifier(
    files: &ModelFiles,
    architecture: Architecture,
    weights: &impl WeightSource,
    source: Source,
    device: &Device,
    capacity: &DeviceCapacity,
) -> Result<Loaded, LabError> {
    capacity.check(&source.footprints)?;
    let names = match files.text(FileKind::ClassNames)? {
        Some((_, text)) => Some(ClassNames::from_json(text)?),
        None => timm_label_names(files),
    };
    let model = architecture.load(weights, device)?;
    let mut summary = source.summary(ModelKind::ImageClassifier, architecture.name().into());
    summary.classes = Some(model.classes());
    summary.class_names = names.is_some();
    Ok(Loaded {
        model: LoadedModel::Classifier(ImageModel {
            architecture,
            model,
            names,
        }),
        summary,
    })
}

/// timm's `config.json` may list the class names as `label_names`.
fn timm_label_names(files: &ModelFiles) -> Option<ClassNames> {
    let (_, text) = files.text(FileKind::Config).ok()??;
    let config: Value = serde_json::from_str(text).ok()?;
    let names = config.get("label_names")?;
    ClassNames::from_json(&names.to_string()).ok()
}
