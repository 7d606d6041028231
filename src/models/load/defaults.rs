//! The embedded default models: which cached assets make each one, and under which names the
//! loader sees them. `scripts/assets.py` caches the assets; the command-line tool reads them
//! from the cache folder and the page fetches them from its own origin under `/assets/`, both
//! through this one list. A few small files (the default reward models' trained heads) are
//! built into the lab instead.

use super::ModelKind;
use crate::LabError;
use crate::superhf::reward::defaults::DefaultReward;
use serde::Serialize;

/// One file of a default model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AssetFile {
    /// The path under the asset cache (and under `/assets/` in the page).
    pub asset: &'static str,
    /// The name the loader sees it under.
    pub name: &'static str,
}

/// A file built into the lab rather than cached: the page and the tool add it to the model's
/// cached files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BuiltInFile {
    /// The name the loader sees it under.
    pub name: &'static str,
    #[serde(skip)]
    pub bytes: &'static [u8],
}

/// A model the lab brings along.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DefaultModel {
    /// What `--model NAME` and the page call it.
    pub name: &'static str,
    pub kind: ModelKind,
    /// What the page shows.
    pub title: &'static str,
    /// The cached files.
    pub files: &'static [AssetFile],
    /// The files built into the lab.
    pub built_in: &'static [BuiltInFile],
}

/// ImageNet-1k's class names, in the order of the classifiers' logits.
pub const IMAGENET_NAMES: AssetFile = AssetFile {
    asset: "data/imagenet1k_names.json",
    name: "class_names.json",
};

/// all-MiniLM-L6-v2, the encoder of the default reward models.
const MINILM: [AssetFile; 3] = [
    AssetFile {
        asset: "models/all-MiniLM-L6-v2/config.json",
        name: "config.json",
    },
    AssetFile {
        asset: "models/all-MiniLM-L6-v2/tokenizer.json",
        name: "tokenizer.json",
    },
    AssetFile {
        asset: "models/all-MiniLM-L6-v2/model.safetensors",
        name: "model.safetensors",
    },
];

/// The default models; the first of each kind is what `default` means for that kind, and the
/// second reward model is what `default-heldout` means.
///
/// The reward models are all-MiniLM-L6-v2 with the linear heads the lab trained on the VADER
/// scores of disjoint halves of its sentiment data (`crate::superhf::reward::defaults`): the
/// loader reads the head's `reward_head.*` tensors beside the encoder's.
pub const DEFAULT_MODELS: &[DefaultModel] = &[
    DefaultModel {
        name: "smollm2-135m-instruct",
        kind: ModelKind::LanguageModel,
        title: "SmolLM2-135M-Instruct (GGUF, Q4_1)",
        files: &[AssetFile {
            asset: "models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
            name: "SmolLM2-135M-Instruct.Q4_1.gguf",
        }],
        built_in: &[],
    },
    DefaultModel {
        name: "minilm-sentiment",
        kind: ModelKind::RewardModel,
        title: "all-MiniLM-L6-v2 sentiment reward (trained on the train half)",
        files: &MINILM,
        built_in: &[BuiltInFile {
            name: "reward_head.safetensors",
            bytes: DefaultReward::Train.head_safetensors(),
        }],
    },
    DefaultModel {
        name: "minilm-sentiment-heldout",
        kind: ModelKind::RewardModel,
        title: "all-MiniLM-L6-v2 sentiment reward (held out: trained on the other half)",
        files: &MINILM,
        built_in: &[BuiltInFile {
            name: "reward_head.safetensors",
            bytes: DefaultReward::Heldout.head_safetensors(),
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
        built_in: &[],
    },
];

/// The word that stands for the default model of a kind.
pub const DEFAULT: &str = "default";

/// The word that stands for the held-out reward model: the second default reward model.
pub const DEFAULT_HELDOUT: &str = "default-heldout";

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
    if name == DEFAULT_HELDOUT {
        let heldout = (DEFAULT_MODELS.iter())
            .filter(|model| model.kind == ModelKind::RewardModel)
            .nth(1);
        return match (heldout, kind) {
            (Some(model), ModelKind::RewardModel) => Ok(Some(model)),
            _ => Err(LabError::Config(format!(
                "{DEFAULT_HELDOUT} names the held-out reward model, not {}",
                kind.describe_with_article()
            ))),
        };
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
        let train = find(DEFAULT, ModelKind::RewardModel).unwrap().unwrap();
        let heldout = find(DEFAULT_HELDOUT, ModelKind::RewardModel)
            .unwrap()
            .unwrap();
        assert_eq!(train.name, "minilm-sentiment");
        assert_eq!(heldout.name, "minilm-sentiment-heldout");
        assert_ne!(train.built_in[0].bytes, heldout.built_in[0].bytes);
        assert!(find(DEFAULT_HELDOUT, ModelKind::LanguageModel).is_err());
    }
}
