//! The files the commands read and write: the lab's asset cache, models named on the command
//! line (a default model's name, a folder of a model's files or a single weights file), encoder
//! checkpoints and data files, with messages that say which file is wrong.

use std::path::{Path, PathBuf};
use superlab::LabError;
use superlab::models::load::defaults::{self, AssetFile, IMAGENET_NAMES};
use superlab::models::load::{FileKind, ModelFiles, ModelKind, WeightFiles};
use superlab::models::weights::Weights;
use superlab::superhf::reward::defaults::EncoderFiles;

/// The lab's cache folder, by the rule of `scripts/lib.sh`: `$SUPERLAB_CACHE`, else
/// `$XDG_CACHE_HOME/superlab`, else `~/.cache/superlab`.
pub fn cache_dir() -> Result<PathBuf, LabError> {
    if let Some(cache) = std::env::var_os("SUPERLAB_CACHE") {
        return Ok(PathBuf::from(cache));
    }
    let base = (std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .ok_or_else(|| {
            LabError::Input(
                "neither SUPERLAB_CACHE, XDG_CACHE_HOME nor HOME is set, so there is no asset \
                 cache"
                    .into(),
            )
        })?;
    Ok(base.join("superlab"))
}

/// Where `scripts/assets.py` keeps the default models, photos and data.
pub fn asset_dir() -> Result<PathBuf, LabError> {
    Ok(cache_dir()?.join("assets"))
}

pub fn read(path: &Path) -> Result<Vec<u8>, LabError> {
    std::fs::read(path).map_err(|error| {
        let in_cache = cache_dir().is_ok_and(|cache| path.starts_with(cache));
        let hint = match in_cache {
            true => " (fetch the lab's assets with python3 scripts/assets.py)",
            false => "",
        };
        LabError::Input(format!("cannot read {}: {error}{hint}", path.display()))
    })
}

/// A file's contents that cannot be used, naming the file.
pub fn in_file(path: &Path, error: LabError) -> LabError {
    match error {
        LabError::Input(message) => LabError::Input(format!("{}: {message}", path.display())),
        other => other,
    }
}

pub fn read_text(path: &Path) -> Result<String, LabError> {
    String::from_utf8(read(path)?)
        .map_err(|_| LabError::Input(format!("{} is not UTF-8 text", path.display())))
}

pub fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), LabError> {
    std::fs::write(path, contents)
        .map_err(|error| LabError::Input(format!("cannot write {}: {error}", path.display())))
}

pub fn create_folder(folder: &Path) -> Result<(), LabError> {
    std::fs::create_dir_all(folder)
        .map_err(|error| LabError::Input(format!("cannot create {}: {error}", folder.display())))
}

pub fn file_name(path: &Path) -> String {
    (path.file_name()).map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

/// One of the cached assets.
pub fn read_asset(file: &AssetFile) -> Result<Vec<u8>, LabError> {
    let assets = asset_dir()?;
    let path = assets.join(file.asset);
    if !path.is_file() {
        return Err(LabError::Input(format!(
            "{} is not in the asset cache; fetch the defaults with `python3 scripts/assets.py \
             --cache {}`",
            path.display(),
            assets.display()
        )));
    }
    read(&path)
}

/// The files of the model `spec` names: `default` or a default model's name, a folder of a
/// model's files, or a single weights file.
pub fn model_files(spec: &str, kind: ModelKind) -> Result<ModelFiles, LabError> {
    if let Some(model) = defaults::find(spec, kind)? {
        log::info!("{}, from the asset cache", model.title);
        let mut files = ModelFiles::new();
        for file in model.files {
            files.insert(file.name, read_asset(file)?);
        }
        for file in model.built_in {
            files.insert(file.name, file.bytes.to_vec());
        }
        return Ok(files);
    }
    let path = Path::new(spec);
    let mut files = if path.is_dir() {
        folder_files(path)?
    } else if path.is_file() {
        ModelFiles::new().with(file_name(path), read(path)?)
    } else {
        return Err(not_found(spec, kind));
    };
    if kind == ModelKind::ImageClassifier && files.find(FileKind::ClassNames).is_none() {
        // The classifiers the lab knows all name ImageNet's classes.
        if let Ok(names) = read_asset(&IMAGENET_NAMES) {
            files.insert(IMAGENET_NAMES.name, names);
        }
    }
    Ok(files)
}

/// Every file in `folder` whose name the lab reads.
fn folder_files(folder: &Path) -> Result<ModelFiles, LabError> {
    let listing = std::fs::read_dir(folder)
        .map_err(|error| LabError::Input(format!("cannot list {}: {error}", folder.display())))?;
    let mut files = ModelFiles::new();
    for entry in listing.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let wanted = FileKind::of(&name).is_some() || name.ends_with(".bin");
        if wanted && entry.path().is_file() {
            files.insert(name, read(&entry.path())?);
        }
    }
    if files.is_empty() {
        return Err(LabError::Input(format!(
            "{} holds none of a model's files (config.json, tokenizer.json, *.safetensors, \
             *.gguf, *.pth)",
            folder.display()
        )));
    }
    Ok(files)
}

fn not_found(spec: &str, kind: ModelKind) -> LabError {
    let mut names = vec![defaults::DEFAULT];
    if kind == ModelKind::RewardModel {
        names.push(defaults::DEFAULT_HELDOUT);
    }
    names.extend(
        (defaults::DEFAULT_MODELS.iter())
            .filter(|model| model.kind == kind)
            .map(|model| model.name),
    );
    let defaults = names.join(", ");
    let files = match kind {
        ModelKind::ImageClassifier => "its weights (*.safetensors or a .pth checkpoint)",
        _ => "config.json, tokenizer.json and weights (*.safetensors, or one .gguf file)",
    };
    // A spec shaped like a hub id (`owner/name`) may be one the user expects the tool to fetch.
    let hub_id = !spec.starts_with(['/', '.', '~']) && spec.matches('/').count() == 1;
    let advice = match hub_id {
        true => format!(
            "The command-line tool reads models from local files: download the model's {files} \
             from https://huggingface.co/{spec} into a folder and pass the folder, or use one \
             of the defaults ({defaults}); the page loads hub ids directly"
        ),
        false => format!(
            "Pass a folder holding the model's {files}, a single weights file, or one of the \
             defaults ({defaults})"
        ),
    };
    LabError::Input(format!("there is no file or folder {spec}. {advice}"))
}

/// `default` names the packaged all-MiniLM-L6-v2 encoder; anything else is a folder.
pub fn encoder_dir(encoder: &str) -> Result<PathBuf, LabError> {
    match encoder {
        defaults::DEFAULT => Ok(asset_dir()?.join("models/all-MiniLM-L6-v2")),
        folder => Ok(PathBuf::from(folder)),
    }
}

/// An encoder checkpoint folder as the hub lays it out: `config.json`, `tokenizer.json` and
/// the weights (`model.safetensors`, or the shards of a `model.safetensors.index.json`, or
/// every `*.safetensors` file).
pub fn checkpoint(folder: &Path) -> Result<EncoderFiles, LabError> {
    if !folder.is_dir() {
        return Err(LabError::Input(format!(
            "{} is not a folder; a model is a folder with config.json, tokenizer.json and \
             *.safetensors weights",
            folder.display()
        )));
    }
    let mut files = folder_files(folder)?;
    let shards = match files.weights()? {
        WeightFiles::Safetensors(shards) if shards.iter().any(|s| s == "model.safetensors") => {
            vec!["model.safetensors".to_string()]
        }
        WeightFiles::Safetensors(shards) => shards,
        other => {
            return Err(LabError::Input(format!(
                "{} holds {} weights, not *.safetensors",
                folder.display(),
                other.format()
            )));
        }
    };
    let mut take = |name: &str| {
        files
            .take(name)
            .ok_or_else(|| LabError::Input(format!("{} holds no {name}", folder.display())))
    };
    let named = (shards.iter())
        .map(|name| Ok((name.clone(), take(name)?)))
        .collect::<Result<Vec<_>, LabError>>()?;
    let config_json = String::from_utf8(take("config.json")?).map_err(|_| {
        LabError::Input(format!(
            "{}/config.json is not UTF-8 text",
            folder.display()
        ))
    })?;
    Ok(EncoderFiles {
        config_json,
        tokenizer_json: take("tokenizer.json")?,
        weights: Weights::from_shards(named)?,
    })
}
