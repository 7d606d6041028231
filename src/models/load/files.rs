//! A model as the files it is made of, named as the hub names them: what the page's model store
//! hands the worker, what the command-line tool reads from a folder, what the defaults are
//! fetched as. Each file's role is recognised by its name; its content is checked when it is
//! read.

use crate::LabError;
use std::collections::BTreeMap;

/// What a file is to the lab, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `config.json`: the architecture and its sizes.
    Config,
    /// `tokenizer.json`: Hugging Face's tokenizers format.
    Tokenizer,
    /// `tokenizer_config.json`: where the hub keeps a chat template.
    TokenizerConfig,
    /// `model.safetensors.index.json`: which shard holds each tensor.
    Index,
    Safetensors,
    Gguf,
    /// A legacy PyTorch checkpoint (`.pth`, `.pt`).
    Torch,
    /// `class_names.json`: an image classifier's class names, a JSON array of strings.
    ClassNames,
}

impl FileKind {
    pub fn of(name: &str) -> Option<Self> {
        let base = base_name(name);
        Some(match base {
            "config.json" => Self::Config,
            "tokenizer.json" => Self::Tokenizer,
            "tokenizer_config.json" => Self::TokenizerConfig,
            "class_names.json" => Self::ClassNames,
            _ if base.ends_with(".safetensors.index.json") => Self::Index,
            _ if base.ends_with(".safetensors") => Self::Safetensors,
            _ if base.ends_with(".gguf") => Self::Gguf,
            _ if base.ends_with(".pth") || base.ends_with(".pt") => Self::Torch,
            _ => return None,
        })
    }
}

/// The part of a path after its last `/`.
pub fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The weights among a model's files, in the order they are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightFiles {
    /// One or more safetensors files: a checkpoint's shards in its index's order, or every
    /// safetensors file given (a checkpoint and a separately saved head, for instance).
    Safetensors(Vec<String>),
    Gguf(String),
    Torch(String),
}

impl WeightFiles {
    pub fn format(&self) -> &'static str {
        match self {
            Self::Safetensors(_) => "safetensors",
            Self::Gguf(_) => "gguf",
            Self::Torch(_) => "pth",
        }
    }
}

/// Files by name. Names the lab does not read (a README, `generation_config.json`) are kept
/// but ignored.
#[derive(Debug, Clone, Default)]
pub struct ModelFiles {
    files: BTreeMap<String, Vec<u8>>,
}

impl ModelFiles {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, bytes: Vec<u8>) {
        self.files.insert(name.into(), bytes);
    }

    pub fn with(mut self, name: impl Into<String>, bytes: Vec<u8>) -> Self {
        self.insert(name, bytes);
        self
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn total_bytes(&self) -> usize {
        self.files.values().map(Vec::len).sum()
    }

    /// The first file of `kind`, by name order.
    pub fn find(&self, kind: FileKind) -> Option<&str> {
        self.of_kind(kind).into_iter().next()
    }

    /// Every file of `kind`, in name order.
    pub fn of_kind(&self, kind: FileKind) -> Vec<&str> {
        self.names()
            .filter(|name| FileKind::of(name) == Some(kind))
            .collect()
    }

    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }

    /// Takes a file out, so that its bytes move into the reader that needs them.
    pub fn take(&mut self, name: &str) -> Option<Vec<u8>> {
        self.files.remove(name)
    }

    /// The text of the first file of `kind`, if there is one.
    pub fn text(&self, kind: FileKind) -> Result<Option<(&str, &str)>, LabError> {
        let Some(name) = self.find(kind) else {
            return Ok(None);
        };
        let bytes = self.bytes(name).unwrap_or_default();
        let text = std::str::from_utf8(bytes).map_err(|_| {
            LabError::ModelConfig(format!("{name} is not UTF-8 text; it is not a {name} file"))
        })?;
        Ok(Some((name, text)))
    }

    /// Which files hold the weights. Exactly one model's weights must be among the files.
    pub fn weights(&self) -> Result<WeightFiles, LabError> {
        let safetensors = self.of_kind(FileKind::Safetensors);
        let gguf = self.of_kind(FileKind::Gguf);
        let torch = self.of_kind(FileKind::Torch);
        let formats = [!safetensors.is_empty(), !gguf.is_empty(), !torch.is_empty()];
        let all: Vec<&str> = [&safetensors, &gguf, &torch]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        match formats.iter().filter(|&&present| present).count() {
            0 => return Err(self.no_weights()),
            1 => {}
            _ => return Err(several_models(&all)),
        }
        if gguf.len() > 1 || torch.len() > 1 {
            return Err(several_models(&all));
        }
        if let Some(&name) = gguf.first() {
            return Ok(WeightFiles::Gguf(name.to_string()));
        }
        if let Some(&name) = torch.first() {
            return Ok(WeightFiles::Torch(name.to_string()));
        }
        match self.text(FileKind::Index)? {
            Some((index_name, index)) => Ok(WeightFiles::Safetensors(shards_of_index(
                index_name,
                index,
                &safetensors,
            )?)),
            None => Ok(WeightFiles::Safetensors(
                safetensors.into_iter().map(str::to_string).collect(),
            )),
        }
    }

    fn no_weights(&self) -> LabError {
        let pickles: Vec<&str> = (self.names())
            .filter(|name| name.ends_with(".bin") || name.ends_with(".ckpt"))
            .collect();
        let advice = match pickles.is_empty() {
            true => String::new(),
            false => format!(
                " ({} is a pickled PyTorch checkpoint, which can run code when read: convert it \
                 with `safetensors.torch.save_file(torch.load(path), 'model.safetensors')`)",
                pickles.join(", ")
            ),
        };
        LabError::Weights(format!(
            "there are no weights among the files{advice}; the lab reads .safetensors (with \
             config.json and tokenizer.json), .gguf and legacy .pth files"
        ))
    }
}

fn several_models(names: &[&str]) -> LabError {
    LabError::Weights(format!(
        "the files hold more than one model's weights ({}): give one model at a time",
        names.join(", ")
    ))
}

/// The shards an index names, in order of their names, all of which must be among `present`.
fn shards_of_index(
    index_name: &str,
    index: &str,
    present: &[&str],
) -> Result<Vec<String>, LabError> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: BTreeMap<String, String>,
    }
    let index: Index = serde_json::from_str(index).map_err(|error| {
        LabError::Weights(format!(
            "{index_name} is not a safetensors index (a weight_map of tensor names to shard \
             files): {error}"
        ))
    })?;
    let mut shards: Vec<String> = index.weight_map.into_values().collect();
    shards.sort();
    shards.dedup();
    let given: Vec<&str> = present.iter().map(|name| base_name(name)).collect();
    let missing: Vec<&str> = (shards.iter())
        .map(String::as_str)
        .filter(|shard| !given.contains(shard))
        .collect();
    if !missing.is_empty() {
        return Err(LabError::Weights(format!(
            "{index_name} names the shards {}, which are not among the files: give all the \
             shards together",
            missing.join(", ")
        )));
    }
    Ok(shards
        .iter()
        .filter_map(|shard| present.iter().find(|name| base_name(name) == shard))
        .map(|name| name.to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_hub_names() {
        assert_eq!(FileKind::of("config.json"), Some(FileKind::Config));
        assert_eq!(
            FileKind::of("sub/tokenizer.json"),
            Some(FileKind::Tokenizer)
        );
        assert_eq!(
            FileKind::of("model.safetensors.index.json"),
            Some(FileKind::Index)
        );
        assert_eq!(
            FileKind::of("model-00001-of-00002.safetensors"),
            Some(FileKind::Safetensors)
        );
        assert_eq!(FileKind::of("a.Q4_1.gguf"), Some(FileKind::Gguf));
        assert_eq!(FileKind::of("net.pth"), Some(FileKind::Torch));
        assert_eq!(FileKind::of("README.md"), None);
    }

    #[test]
    fn shards_come_in_the_index_order_and_must_all_be_there() {
        let index =
            br#"{"metadata": {}, "weight_map": {"a": "m-2.safetensors", "b": "m-1.safetensors"}}"#;
        let files = ModelFiles::new()
            .with("model.safetensors.index.json", index.to_vec())
            .with("m-2.safetensors", vec![])
            .with("m-1.safetensors", vec![]);
        assert_eq!(
            files.weights().unwrap(),
            WeightFiles::Safetensors(vec!["m-1.safetensors".into(), "m-2.safetensors".into()])
        );
        let mut partial = files.clone();
        partial.take("m-2.safetensors");
        let error = partial.weights().unwrap_err().to_string();
        assert!(error.contains("m-2.safetensors"), "{error}");
    }

    #[test]
    fn one_model_at_a_time() {
        let files = ModelFiles::new()
            .with("a.gguf", vec![])
            .with("b.safetensors", vec![]);
        assert!(
            files
                .weights()
                .unwrap_err()
                .to_string()
                .contains("more than one")
        );
        let error = ModelFiles::new()
            .with("pytorch_model.bin", vec![])
            .weights()
            .unwrap_err()
            .to_string();
        assert!(error.contains("pickled"), "{error}");
    }
}
