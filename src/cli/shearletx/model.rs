//! Which classifier `--model` names and where its weights come from.
//!
//! `--model` takes:
//! - `default`: EfficientNet-Lite0 from the lab's asset cache;
//! - an architecture name (`resnet18`, `vgg19`, `mobilenet_v3_small`, `efficientnet_lite0`):
//!   its weights from the asset cache (which holds EfficientNet-Lite0's only);
//! - a weights file or a folder holding one: a safetensors file or a legacy PyTorch
//!   checkpoint, the architecture recognised from its tensor names;
//! - `NAME:PATH`: that architecture from that file or folder.
//!
//! The asset cache is `$SUPERLAB_CACHE/assets`, else `$XDG_CACHE_HOME/superlab/assets`, else
//! `~/.cache/superlab/assets`, as `scripts/assets.py` fills it.

use std::path::{Path, PathBuf};

use crate::cli::files::{asset_dir, file_name, read};
use burn::tensor::Device;
use superlab::LabError;
use superlab::models::classifier::ImageClassifier;
use superlab::models::torch_legacy::TorchCheckpoint;
use superlab::models::vision::Architecture;
use superlab::models::weights::{WeightSource, Weights};

/// Where each architecture's weights lie in the asset cache, when they are there.
const CACHED_WEIGHTS: [(Architecture, &str); 1] =
    [(Architecture::EfficientnetLite0, "models/efficientnet-lite0")];
/// File endings taken for weights when a folder is given.
const WEIGHT_ENDINGS: [&str; 4] = ["safetensors", "pth", "pt", "bin"];

/// A resolved `--model`.
#[derive(Debug, Clone)]
pub struct ModelSource {
    /// Known from the name, or recognised once the weights are read.
    pub architecture: Option<Architecture>,
    pub weights: PathBuf,
}

/// Reads `--model`.
pub fn resolve(spec: &str) -> Result<ModelSource, LabError> {
    if spec == "default" {
        return cached(Architecture::EfficientnetLite0);
    }
    if let Some((name, path)) = spec.split_once(':')
        && let Ok(architecture) = Architecture::from_name(name)
    {
        return Ok(ModelSource {
            architecture: Some(architecture),
            weights: weights_file(Path::new(path))?,
        });
    }
    if let Ok(architecture) = Architecture::from_name(spec) {
        return cached(architecture);
    }
    let path = Path::new(spec);
    if !path.exists() {
        let names: Vec<&str> = Architecture::ALL.iter().map(|a| a.name()).collect();
        return Err(LabError::Input(format!(
            "--model {spec}: no such file or folder, and not one of default, {}",
            names.join(", ")
        )));
    }
    Ok(ModelSource {
        architecture: None,
        weights: weights_file(path)?,
    })
}

/// The classifier, on `device`, and its architecture.
pub fn load(
    source: &ModelSource,
    device: &Device,
) -> Result<(Architecture, Box<dyn ImageClassifier>), LabError> {
    let weights = LoadedWeights::read(&source.weights)?;
    let architecture = match source.architecture {
        Some(architecture) => architecture,
        None => weights.recognise().ok_or_else(|| {
            LabError::Input(format!(
                "cannot tell which classifier {} holds; name it: --model NAME:{}",
                source.weights.display(),
                source.weights.display()
            ))
        })?,
    };
    let classifier = match &weights {
        LoadedWeights::Torch(checkpoint) => architecture.load(checkpoint, device)?,
        LoadedWeights::Safetensors(weights) => architecture.load(weights, device)?,
    };
    Ok((architecture, classifier))
}

fn cached(architecture: Architecture) -> Result<ModelSource, LabError> {
    let Some((_, folder)) = CACHED_WEIGHTS.iter().find(|(a, _)| *a == architecture) else {
        return Err(LabError::Input(format!(
            "the asset cache holds no weights for {0}; pass --model {0}:PATH with a \
             safetensors file or a legacy PyTorch checkpoint of its ImageNet weights",
            architecture.name()
        )));
    };
    let folder = asset_dir()?.join(folder);
    if !folder.is_dir() {
        return Err(LabError::Input(format!(
            "{} is missing; fetch the assets with python3 scripts/assets.py",
            folder.display()
        )));
    }
    Ok(ModelSource {
        architecture: Some(architecture),
        weights: weights_file(&folder)?,
    })
}

/// The file itself, or the one weights file in a folder.
fn weights_file(path: &Path) -> Result<PathBuf, LabError> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let entries = std::fs::read_dir(path)
        .map_err(|error| LabError::Input(format!("cannot read {}: {error}", path.display())))?;
    let mut candidates: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|file| {
            let ending = file.extension().and_then(|e| e.to_str()).unwrap_or("");
            file.is_file() && WEIGHT_ENDINGS.contains(&ending)
        })
        .collect();
    candidates.sort();
    if let Some(preferred) = candidates.iter().find(|file| {
        file.file_name()
            .is_some_and(|name| name == "model.safetensors")
    }) {
        return Ok(preferred.clone());
    }
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(LabError::Input(format!(
            "{} holds no weights file (*.safetensors, *.pth, *.pt, *.bin)",
            path.display()
        ))),
        several => Err(LabError::Input(format!(
            "{} holds {} weights files; name one: {}",
            path.display(),
            several.len(),
            several
                .iter()
                .map(|file| file.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Weights in either format the lab reads.
enum LoadedWeights {
    Torch(TorchCheckpoint),
    Safetensors(Weights),
}

impl LoadedWeights {
    fn read(path: &Path) -> Result<Self, LabError> {
        let bytes = read(path)?;
        let name = file_name(path);
        // A safetensors file starts with its header's length, then the JSON header.
        if bytes.get(8) == Some(&b'{') {
            Ok(Self::Safetensors(Weights::from_safetensors(&name, bytes)?))
        } else {
            Ok(Self::Torch(TorchCheckpoint::from_bytes(&name, bytes)?))
        }
    }

    fn contains(&self, name: &str) -> bool {
        match self {
            Self::Torch(checkpoint) => checkpoint.contains(name),
            Self::Safetensors(weights) => weights.contains(name),
        }
    }

    /// The architecture whose tensor names these are, by names only that architecture has
    /// (VGG-19 without batch norm has its last convolution at `features.34` and nothing with
    /// weights at `features.1`; ResNet-18 has two blocks per stage).
    fn recognise(&self) -> Option<Architecture> {
        let has = |name: &str| {
            ["", "model.", "module."]
                .iter()
                .any(|prefix| self.contains(&format!("{prefix}{name}")))
        };
        if has("_conv_stem.weight") || has("conv_stem.weight") {
            Some(Architecture::EfficientnetLite0)
        } else if has("layer1.1.conv2.weight") && !has("layer1.2.conv1.weight") {
            Some(Architecture::Resnet18)
        } else if has("features.34.weight") && !has("features.1.weight") {
            Some(Architecture::Vgg19)
        } else if has("features.12.0.weight") {
            Some(Architecture::MobilenetV3Small)
        } else {
            None
        }
    }
}
