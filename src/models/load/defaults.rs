//! The embedded default models: which cached assets make each one, and under which names the
//! loader sees them. `scripts/assets.py` caches the assets; the command-line tool reads them
//! from the cache folder and the page fetches them from its own origin under `/assets/`, both
//! through this one list.

use super::ModelKind;
use crate::LabError;
use serde::Serialize;

/// One file of a default model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AssetFile {
    /// The path under the asset cache (and under `/assets/` in the page).
    pub asset: &'static str,
    /// The name the loader sees it under.
    pub name: &'static str,
}

/// A model the lab brings along.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DefaultModel {
    /// What `--model NAME` and the page call it.
    pub name: &'static str,
    pub kind: ModelKind,
    /// What the page shows.
    pub title: &'static str,
    pub files: &'static [AssetFile],
}

/// ImageNet-1k's class names, in the order of the classifiers' logits.
pub const IMAGENET_NAMES: AssetFile = AssetFile {
    asset: "data/imagenet1k_names.json",
    name: "class_names.json",
};

/// The default models; the first of each kind is what `default` means for that kind.
///
/// TODO: the default reward models (all-MiniLM-L6-v2 with a trained scalar head) belong here as
/// `ModelKind::RewardModel` entries once their heads are cached by `scripts/assets.py`; until
/// then `default` has no reward model and scoring takes a model by its files.
pub const DEFAULT_MODELS: &[DefaultModel] = &[
    DefaultModel {
        name: "smollm2-135m-instruct",
        kind: ModelKind::LanguageModel,
        title: "SmolLM2-135M-Instruct (GGUF, Q4_1)",
        files: &[AssetFile {
            asset: "models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
            name: "SmolLM2-135M-Instruct.Q4_1.gguf",
        }],
    },
    DefaultModel {
        name: "efficientnet-lite0",
        kind: ModelKind::ImageClassifier,
        title: "EfficientNet-Lite0 (ImageNet)",
        files: &[
            AssetFile {
                asset: "models/efficientnet-lite0/efficientnet-lite0-57934424.pth",
                name: "efficientnet-lite0-57934424.pth",
            },
            IMAGENET_NAMES,
        ],
    },
];

/// The word that stands for the default model of a kind.
pub const DEFAULT: &str = "default";

/// The default model of `kind` for `name` = `default`, or the default model called `name`.
pub fn find(name: &str, kind: ModelKind) -> Result<Option<&'static DefaultModel>, LabError> {
    if name == DEFAULT {
        return DEFAULT_MODELS
            .iter()
            .find(|model| model.kind == kind)
            .map(Some)
            .ok_or_else(|| {
                LabError::Config(format!(
                    "the lab has no default {} yet: give one by its files",
                    kind.describe()
                ))
            });
    }
    let Some(model) = DEFAULT_MODELS.iter().find(|model| model.name == name) else {
        return Ok(None);
    };
    if model.kind != kind {
        return Err(LabError::Config(format!(
            "{name} is {}, not {}",
            model.kind.describe_with_article(),
            kind.describe_with_article()
        )));
    }
    Ok(Some(model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_means_the_first_of_its_kind() {
        let policy = find(DEFAULT, ModelKind::LanguageModel).unwrap().unwrap();
        assert_eq!(policy.name, "smollm2-135m-instruct");
        let classifier = find(DEFAULT, ModelKind::ImageClassifier).unwrap().unwrap();
        assert!(classifier.files.contains(&IMAGENET_NAMES));
        assert!(find("efficientnet-lite0", ModelKind::LanguageModel).is_err());
        assert_eq!(find("my-folder", ModelKind::LanguageModel).unwrap(), None);
    }
}
