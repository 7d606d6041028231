//! Shared by the loader and command-line tests (`tests/model_loading.rs`,
//! `tests/cli_models.rs`): model folders written from the fixtures' random checkpoints, with
//! tokenizers whose words are the token ids, so a text names exactly the ids a fixture used.
#![allow(dead_code)]

use crate::common::{WeightSpec, fixture, safetensors_from_spec};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use superlab::models::load::ModelFiles;

/// A word-level `tokenizer.json` of `size` tokens `w0` ... `w{size-1}`, split at whitespace,
/// with no special tokens and no framing: the text `w3 w1` is exactly the ids `[3, 1]`.
pub fn word_tokenizer(size: usize) -> Vec<u8> {
    let vocab: serde_json::Map<String, serde_json::Value> =
        (0..size).map(|id| (format!("w{id}"), id.into())).collect();
    let tokenizer = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "w0"},
    });
    tokenizer.to_string().into_bytes()
}

/// The text whose word-level tokens are `ids`.
pub fn words(ids: &[u32]) -> String {
    ids.iter()
        .map(|id| format!("w{id}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Deserialize)]
pub struct CausalFixture {
    pub seed: u64,
    pub cases: BTreeMap<String, CausalCase>,
}

#[derive(Deserialize)]
pub struct CausalCase {
    pub config: serde_json::Value,
    pub weights: Vec<WeightSpec>,
    pub greedy: Greedy,
}

#[derive(Deserialize)]
pub struct Greedy {
    pub prompt: Vec<u32>,
    pub continuation: Vec<u32>,
    pub smallest_top2_margin: f64,
}

/// The seed the GPT-2 fixture draws its weights with.
pub fn gpt2_seed() -> u64 {
    let fixture: CausalFixture = fixture("gpt2");
    fixture.seed
}

/// The tiny random GPT-2 of `tests/fixtures/gpt2.json` (case `gelu_new`, 97 tokens) as a hub
/// folder would hold it, and its case.
pub fn tiny_gpt2() -> (ModelFiles, CausalCase) {
    let mut fixture: CausalFixture = fixture("gpt2");
    let case = fixture.cases.remove("gelu_new").expect("the gelu_new case");
    let vocab = case.config["vocab_size"]
        .as_u64()
        .expect("a vocabulary size") as usize;
    let files = ModelFiles::new()
        .with("config.json", case.config.to_string().into_bytes())
        .with(
            "model.safetensors",
            safetensors_from_spec(fixture.seed, &case.weights),
        )
        .with("tokenizer.json", word_tokenizer(vocab));
    (files, case)
}

#[derive(Deserialize)]
pub struct EncoderFixture {
    pub seed: u64,
    pub classifiers: BTreeMap<String, EncoderCase>,
    pub pooled: BTreeMap<String, EncoderCase>,
}

#[derive(Deserialize)]
pub struct EncoderCase {
    pub config: serde_json::Value,
    pub weights: Vec<WeightSpec>,
    /// `[batch, seq]`, right-padded.
    pub tokens: Vec<Vec<u32>>,
    pub mask: Vec<Vec<u32>>,
    pub rewards: Vec<f64>,
}

impl EncoderCase {
    /// Each sequence's real tokens as word-level text.
    pub fn texts(&self) -> Vec<String> {
        (self.tokens.iter().zip(&self.mask))
            .map(|(tokens, mask)| {
                let real: Vec<u32> = (tokens.iter().zip(mask))
                    .filter(|&(_, &m)| m == 1)
                    .map(|(&t, _)| t)
                    .collect();
                words(&real)
            })
            .collect()
    }
}

/// A tiny random reward model of `tests/fixtures/encoders.json`: `classifiers.NAME` or
/// `pooled.NAME`. A pooled model's trained head is written to a file of its own beside the
/// encoder's checkpoint, as a head trained apart from its encoder is saved.
pub fn tiny_reward(group: &str, name: &str) -> (ModelFiles, EncoderCase) {
    let mut fixture: EncoderFixture = fixture("encoders");
    let cases = match group {
        "classifiers" => &mut fixture.classifiers,
        _ => &mut fixture.pooled,
    };
    let case = cases.remove(name).expect("a case of the encoder fixture");
    let vocab = case.config["vocab_size"]
        .as_u64()
        .expect("a vocabulary size") as usize;
    let (head, encoder): (Vec<WeightSpec>, Vec<WeightSpec>) =
        (case.weights.iter().cloned()).partition(|spec| spec.name.starts_with("reward_head."));
    let mut files = ModelFiles::new()
        .with("config.json", case.config.to_string().into_bytes())
        .with(
            "model.safetensors",
            safetensors_from_spec(fixture.seed, &encoder),
        )
        .with("tokenizer.json", word_tokenizer(vocab));
    if !head.is_empty() {
        files.insert(
            "reward_head.safetensors",
            safetensors_from_spec(fixture.seed, &head),
        );
    }
    (files, case)
}

/// A fresh folder under the system's temporary folder, removed when dropped.
pub struct TempFolder(pub PathBuf);

impl TempFolder {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("superlab-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temporary folder");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes every file of `files` into the folder.
    pub fn write(&self, files: &ModelFiles) {
        for name in files.names() {
            let bytes = files.bytes(name).expect("a named file");
            std::fs::write(self.0.join(name), bytes).expect("a written file");
        }
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
