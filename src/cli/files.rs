//! Files the commands read: checkpoint folders, the asset cache and data files, with messages
//! that say which file is wrong.

use std::path::{Path, PathBuf};
use superlab::LabError;
use superlab::models::weights::Weights;
use superlab::superhf::reward::defaults::EncoderFiles;

/// The lab's cache folder, by the same rule as `scripts/lib.sh`.
pub fn cache_dir() -> Result<PathBuf, LabError> {
    if let Some(cache) = std::env::var_os("SUPERLAB_CACHE") {
        return Ok(PathBuf::from(cache));
    }
    let base = (std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .ok_or_else(|| {
            LabError::Config("neither SUPERLAB_CACHE, XDG_CACHE_HOME nor HOME is set".into())
        })?;
    Ok(base.join("superlab"))
}

/// The packaged all-MiniLM-L6-v2, which `scripts/assets.py` fetches.
pub fn minilm_dir() -> Result<PathBuf, LabError> {
    Ok(cache_dir()?.join("assets/models/all-MiniLM-L6-v2"))
}

/// `default` names the packaged MiniLM encoder; anything else is a folder.
pub fn encoder_dir(encoder: &str) -> Result<PathBuf, LabError> {
    match encoder {
        "default" => minilm_dir(),
        folder => Ok(PathBuf::from(folder)),
    }
}

pub fn read(path: &Path) -> Result<Vec<u8>, LabError> {
    std::fs::read(path).map_err(|error| {
        let hint = match path.starts_with(cache_dir().unwrap_or_default()) {
            true => " (fetch the lab's assets with python3 scripts/assets.py)",
            false => "",
        };
        LabError::Config(format!("cannot read {}: {error}{hint}", path.display()))
    })
}

pub fn read_text(path: &Path) -> Result<String, LabError> {
    String::from_utf8(read(path)?)
        .map_err(|_| LabError::Config(format!("{} is not UTF-8 text", path.display())))
}

pub fn write(path: &Path, bytes: &[u8]) -> Result<(), LabError> {
    std::fs::write(path, bytes)
        .map_err(|error| LabError::Config(format!("cannot write {}: {error}", path.display())))
}

/// A checkpoint folder as the hub lays it out: `config.json`, `tokenizer.json` and the weights
/// (`model.safetensors`, or every `*.safetensors` shard).
pub fn checkpoint(folder: &Path) -> Result<EncoderFiles, LabError> {
    if !folder.is_dir() {
        return Err(LabError::Config(format!(
            "{} is not a folder; a model is a folder with config.json, tokenizer.json and \
             *.safetensors weights",
            folder.display()
        )));
    }
    let config_json = read_text(&folder.join("config.json"))?;
    let tokenizer_json = read(&folder.join("tokenizer.json"))?;
    let single = folder.join("model.safetensors");
    let files = match single.is_file() {
        true => vec![single],
        false => shards(folder)?,
    };
    let named = (files.iter())
        .map(|path| Ok((file_name(path), read(path)?)))
        .collect::<Result<Vec<_>, LabError>>()?;
    Ok(EncoderFiles {
        config_json,
        tokenizer_json,
        weights: Weights::from_shards(named)?,
    })
}

fn shards(folder: &Path) -> Result<Vec<PathBuf>, LabError> {
    let entries = std::fs::read_dir(folder)
        .map_err(|error| LabError::Config(format!("cannot list {}: {error}", folder.display())))?;
    let mut files: Vec<PathBuf> = (entries.filter_map(|entry| entry.ok()))
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(LabError::Config(format!(
            "{} holds no *.safetensors weights",
            folder.display()
        )));
    }
    Ok(files)
}

pub fn file_name(path: &Path) -> String {
    (path.file_name()).map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}
