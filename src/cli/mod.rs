//! The command-line tool's commands that have grown beyond a few lines, one module each, with
//! what they share: progress logging, file output, finding a model's files on this machine and
//! the device to run on.

pub mod bench;
pub mod classify;
pub mod files;
pub mod generate;
pub mod model_files;
pub mod ppo;
pub mod score;
pub mod shearletx;
pub mod superhf;
pub mod train_reward;

use std::path::{Path, PathBuf};
use superlab::LabError;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::models::load::defaults::{self, AssetFile, IMAGENET_NAMES};
use superlab::models::load::{FileKind, Loaded, ModelFiles, ModelKind};
use superlab::progress::{Control, Progress, StepEvent};

/// Logs each step to standard error.
pub struct LogSteps;

impl Progress for LogSteps {
    async fn step(&mut self, event: &StepEvent) -> Control {
        let metrics: Vec<String> = event
            .metrics
            .iter()
            .map(|(name, value)| format!("{name} {value:.6}"))
            .collect();
        log::info!(
            "step {}/{}: {}",
            event.step,
            event.total,
            metrics.join(", ")
        );
        Control::Continue
    }
}

pub fn to_json(value: &impl serde::Serialize) -> Result<String, LabError> {
    serde_json::to_string_pretty(value)
        .map_err(|error| LabError::Execution(format!("cannot encode the report: {error}")))
}

pub fn write_file(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), LabError> {
    std::fs::write(path, contents)
        .map_err(|error| LabError::Config(format!("cannot write {}: {error}", path.display())))
}

pub fn read_file(path: &Path) -> Result<Vec<u8>, LabError> {
    std::fs::read(path)
        .map_err(|error| LabError::Config(format!("cannot read {}: {error}", path.display())))
}

/// The lab's cache folder, by the rule of `scripts/lib.sh`: `$SUPERLAB_CACHE`, else
/// `$XDG_CACHE_HOME/superlab`, else `~/.cache/superlab`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(cache) = std::env::var_os("SUPERLAB_CACHE") {
        return Some(PathBuf::from(cache));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("superlab"))
}

/// Where `scripts/assets.py` keeps the default models, photos and data.
pub fn asset_dir() -> Result<PathBuf, LabError> {
    cache_dir()
        .map(|cache| cache.join("assets"))
        .ok_or_else(|| {
            LabError::Config(
                "neither SUPERLAB_CACHE nor HOME is set, so there is no asset cache".into(),
            )
        })
}

fn read(path: &Path) -> Result<Vec<u8>, LabError> {
    std::fs::read(path)
        .map_err(|error| LabError::Config(format!("cannot read {}: {error}", path.display())))
}

fn read_asset(file: &AssetFile) -> Result<Vec<u8>, LabError> {
    let assets = asset_dir()?;
    let path = assets.join(file.asset);
    if !path.is_file() {
        return Err(LabError::Config(format!(
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
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        ModelFiles::new().with(name.unwrap_or_default(), read(path)?)
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
        .map_err(|error| LabError::Config(format!("cannot list {}: {error}", folder.display())))?;
    let mut files = ModelFiles::new();
    for entry in listing.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let wanted = FileKind::of(&name).is_some() || name.ends_with(".bin");
        if wanted && entry.path().is_file() {
            files.insert(name, read(&entry.path())?);
        }
    }
    if files.is_empty() {
        return Err(LabError::Config(format!(
            "{} holds none of a model's files (config.json, tokenizer.json, *.safetensors, \
             *.gguf, *.pth)",
            folder.display()
        )));
    }
    Ok(files)
}

fn not_found(spec: &str, kind: ModelKind) -> LabError {
    let names: Vec<&str> = (defaults::DEFAULT_MODELS.iter())
        .filter(|model| model.kind == kind)
        .map(|model| model.name)
        .collect();
    let defaults = match names.is_empty() {
        true => String::new(),
        false => format!(
            " or one of the defaults ({}, {})",
            defaults::DEFAULT,
            names.join(", ")
        ),
    };
    LabError::Config(format!(
        "there is no file or folder {spec}. The command-line tool reads models from local files: \
         download the model's config.json, tokenizer.json and weights (*.safetensors, or one \
         .gguf file) from https://huggingface.co/{spec} into a folder and pass the \
         folder{defaults}; the page loads hub ids directly"
    ))
}

/// The device the user chose, said on standard error.
pub async fn device(backend: BackendChoice) -> Result<LabDevice, LabError> {
    let device = LabDevice::acquire(backend, &Requirements::default()).await?;
    log::info!("computing on {}", device.report.description);
    if let Some(reason) = &device.report.fallback_reason {
        log::info!("on the CPU because {reason}");
    }
    Ok(device)
}

/// Loads the model `spec` names, which must be of `kind`.
pub async fn load(
    spec: &str,
    kind: ModelKind,
    backend: BackendChoice,
) -> Result<(Loaded, LabDevice), LabError> {
    let files = model_files(spec, kind)?;
    let device = device(backend).await?;
    let loaded = superlab::models::load::load(files, &device, Some(kind))?;
    let summary = &loaded.summary;
    log::info!(
        "{} ({}, {} parameters, {:.1} MiB as f32)",
        summary.name,
        summary.architecture,
        summary.parameters,
        summary.weights_bytes as f64 / (1 << 20) as f64
    );
    Ok((loaded, device))
}
