//! Models named on the command line: a folder of hub files (`config.json`, `tokenizer.json`,
//! `*.safetensors`), a `.gguf` file (policies), or `default`. Every file read is hashed, so the
//! report names exactly the weights a run used.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use superlab::LabError;
use superlab::models::encoder::reward::EncoderReward;
use superlab::models::gguf::{GgufTokenizerFlavor, LlamaGguf};
use superlab::models::language_model::LanguageModel;
use superlab::models::tokenizer::Tokenizer;
use superlab::models::weights::Weights;
use superlab::superhf::report::{FileDigest, ModelIdentity};

use super::read_file;

/// What a model is for, which decides what `default` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Policy,
    Reward,
    HeldoutReward,
}

impl Role {
    fn flag(self) -> &'static str {
        match self {
            Self::Policy => "--policy",
            Self::Reward => "--reward-model",
            Self::HeldoutReward => "--heldout-reward-model",
        }
    }
}

/// The path a model argument names. This is the one place where `default` resolves.
pub fn resolve(spec: &str, role: Role) -> Result<PathBuf, LabError> {
    if spec != "default" {
        return Ok(PathBuf::from(spec));
    }
    // TODO: resolve `default` through the lab's registry of default models (the embedded
    // SmolLM2 policy, the trained default reward heads) once it exists; until then a run
    // names its models.
    Err(LabError::Config(format!(
        "no default model is registered for {}; give a path: a folder with config.json, \
         tokenizer.json and *.safetensors{}",
        role.flag(),
        if role == Role::Policy {
            ", or a .gguf file"
        } else {
            ""
        }
    )))
}

pub struct LoadedPolicy {
    pub model: LanguageModel,
    pub tokenizer: Tokenizer,
    pub identity: ModelIdentity,
}

pub struct LoadedReward {
    pub model: EncoderReward,
    pub tokenizer: Tokenizer,
    pub identity: ModelIdentity,
}

/// Files read so far, with their digests.
struct Reader {
    files: Vec<FileDigest>,
}

impl Reader {
    fn read(&mut self, path: &Path) -> Result<Vec<u8>, LabError> {
        let bytes = read_file(path)?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        self.files.push(FileDigest {
            name,
            bytes: bytes.len() as u64,
            sha256: Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        });
        Ok(bytes)
    }

    fn text(&mut self, path: &Path) -> Result<String, LabError> {
        String::from_utf8(self.read(path)?)
            .map_err(|_| LabError::Config(format!("{} is not UTF-8 text", path.display())))
    }

    fn identity(self, spec: &str) -> ModelIdentity {
        ModelIdentity {
            id: spec.to_string(),
            files: self.files,
        }
    }
}

/// A causal language model and its tokenizer, from a folder or a GGUF file.
pub fn load_policy(spec: &str, device: &burn::tensor::Device) -> Result<LoadedPolicy, LabError> {
    let path = resolve(spec, Role::Policy)?;
    let mut reader = Reader { files: Vec::new() };
    let (model, tokenizer) = if path.extension().is_some_and(|e| e == "gguf") {
        let name = path.display().to_string();
        let gguf = LlamaGguf::open(&name, reader.read(&path)?)?;
        let config = serde_json::to_string(gguf.config())
            .map_err(|error| LabError::ModelConfig(error.to_string()))?;
        let tokenizer = gguf.tokenizer(GgufTokenizerFlavor::AsFile)?;
        (LanguageModel::from_hub(&config, &gguf, device)?, tokenizer)
    } else {
        let folder = hub_folder(&path, Role::Policy)?;
        let config = reader.text(&folder.join("config.json"))?;
        let tokenizer = Tokenizer::from_json_bytes(&reader.read(&folder.join("tokenizer.json"))?)?;
        let weights = folder_weights(&folder, &mut reader)?;
        (
            LanguageModel::from_hub(&config, &weights, device)?,
            tokenizer,
        )
    };
    Ok(LoadedPolicy {
        model,
        tokenizer,
        identity: reader.identity(spec),
    })
}

/// An encoder reward model and its tokenizer, from a folder.
pub fn load_reward(
    spec: &str,
    role: Role,
    device: &burn::tensor::Device,
) -> Result<LoadedReward, LabError> {
    let folder = hub_folder(&resolve(spec, role)?, role)?;
    let mut reader = Reader { files: Vec::new() };
    let config = reader.text(&folder.join("config.json"))?;
    let tokenizer = Tokenizer::from_json_bytes(&reader.read(&folder.join("tokenizer.json"))?)?;
    let weights = folder_weights(&folder, &mut reader)?;
    Ok(LoadedReward {
        model: EncoderReward::from_hub(&config, &weights, device)?,
        tokenizer,
        identity: reader.identity(spec),
    })
}

fn hub_folder(path: &Path, role: Role) -> Result<PathBuf, LabError> {
    if !path.join("config.json").is_file() || !path.join("tokenizer.json").is_file() {
        return Err(LabError::Config(format!(
            "{} {}: expected a folder with config.json, tokenizer.json and *.safetensors",
            role.flag(),
            path.display()
        )));
    }
    Ok(path.to_path_buf())
}

/// The folder's safetensors files: the shards `model.safetensors.index.json` lists, or every
/// `*.safetensors` file.
fn folder_weights(folder: &Path, reader: &mut Reader) -> Result<Weights, LabError> {
    let index = folder.join("model.safetensors.index.json");
    let mut names: Vec<String> = if index.is_file() {
        let text = reader.text(&index)?;
        let parsed: serde_json::Value = serde_json::from_str(&text)
            .map_err(|error| LabError::Weights(format!("{}: {error}", index.display())))?;
        (parsed["weight_map"].as_object().into_iter().flatten())
            .filter_map(|(_, file)| file.as_str().map(str::to_string))
            .collect()
    } else {
        let entries = std::fs::read_dir(folder)
            .map_err(|error| LabError::Config(format!("{}: {error}", folder.display())))?;
        (entries.flatten())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".safetensors"))
            .collect()
    };
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(LabError::Weights(format!(
            "{} holds no .safetensors weights",
            folder.display()
        )));
    }
    let shards = (names.into_iter())
        .map(|name| Ok((name.clone(), reader.read(&folder.join(&name))?)))
        .collect::<Result<Vec<_>, LabError>>()?;
    Weights::from_shards(shards)
}
