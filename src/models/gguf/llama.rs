//! A Llama-architecture GGUF file seen as a Hugging Face checkpoint: tensors under the names
//! and in the layouts of `LlamaForCausalLM`'s state dict, and the `config.json` values that the
//! file's metadata determines.
//!
//! llama.cpp's converter reorders the rows of the query and key projections within each head,
//! interleaving the two halves that Hugging Face's rotary embedding rotates against each other
//! (`[h, 2, half]` becomes `[h, half, 2]`); reading them back undoes that.

use super::tokenizer::{GgufTokenizerFlavor, tokenizer_from_gguf};
use super::{GgufFile, MetaValue, TensorInfo};
use crate::LabError;
use crate::models::tokenizer::Tokenizer;
use crate::models::weights::WeightSource;
use serde::{Deserialize, Serialize};

/// The values of a Hugging Face Llama `config.json` that a GGUF file determines, under the same
/// names, so that `serde_json::to_value` gives what `config.json` would hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaHfConfig {
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub max_position_embeddings: usize,
    pub rope_theta: f64,
    pub rms_norm_eps: f64,
    pub hidden_act: String,
    /// Whether the output projection is the token embedding (the file has no `output.weight`).
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

/// Where Hugging Face's rotary embedding starts when the file does not say.
const DEFAULT_ROPE_BASE: f64 = 10_000.0;
/// What llama.cpp assumes when `llama.attention.layer_norm_rms_epsilon` is missing.
const DEFAULT_RMS_EPSILON: f64 = 1e-5;

/// Per-layer tensors: Hugging Face's name after `model.layers.N.`, GGUF's after `blk.N.`.
const LAYER_TENSORS: [(&str, &str); 9] = [
    ("input_layernorm.weight", "attn_norm.weight"),
    ("self_attn.q_proj.weight", "attn_q.weight"),
    ("self_attn.k_proj.weight", "attn_k.weight"),
    ("self_attn.v_proj.weight", "attn_v.weight"),
    ("self_attn.o_proj.weight", "attn_output.weight"),
    ("post_attention_layernorm.weight", "ffn_norm.weight"),
    ("mlp.gate_proj.weight", "ffn_gate.weight"),
    ("mlp.up_proj.weight", "ffn_up.weight"),
    ("mlp.down_proj.weight", "ffn_down.weight"),
];

/// Tensors outside the layers.
const MODEL_TENSORS: [(&str, &str); 3] = [
    ("model.embed_tokens.weight", "token_embd.weight"),
    ("model.norm.weight", "output_norm.weight"),
    ("lm_head.weight", "output.weight"),
];

/// A GGUF Llama model read as a Hugging Face checkpoint.
pub struct LlamaGguf {
    file: GgufFile,
    config: LlamaHfConfig,
}

impl LlamaGguf {
    /// Parses the file and derives its configuration; fails unless it holds a Llama model.
    pub fn open(file_name: &str, bytes: Vec<u8>) -> Result<Self, LabError> {
        Self::from_file(GgufFile::parse(file_name, bytes)?)
    }

    pub fn from_file(file: GgufFile) -> Result<Self, LabError> {
        let config = derive_config(&file)?;
        let model = Self { file, config };
        model.check_shapes()?;
        Ok(model)
    }

    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    pub fn config(&self) -> &LlamaHfConfig {
        &self.config
    }

    /// The tokenizer stored in the file's metadata.
    pub fn tokenizer(&self, flavor: GgufTokenizerFlavor) -> Result<Tokenizer, LabError> {
        tokenizer_from_gguf(&self.file, flavor)
    }

    /// The Hugging Face names of the tensors present, sorted.
    pub fn names(&self) -> Vec<String> {
        let layers = (0..self.config.num_hidden_layers).flat_map(|layer| {
            LAYER_TENSORS
                .iter()
                .map(move |(hf, _)| format!("model.layers.{layer}.{hf}"))
        });
        let mut names: Vec<String> = (MODEL_TENSORS.iter().map(|(hf, _)| hf.to_string()))
            .chain(layers)
            .filter(|name| self.contains(name))
            .collect();
        names.sort();
        names
    }

    /// The GGUF name under which a Hugging Face name is stored, and the number of heads whose
    /// rows the converter interleaved (for the query and key projections).
    fn locate(&self, hf_name: &str) -> Option<(String, Option<usize>)> {
        if let Some(&(_, gguf)) = MODEL_TENSORS.iter().find(|(hf, _)| *hf == hf_name) {
            return Some((gguf.to_string(), None));
        }
        let (layer, rest) = hf_name.strip_prefix("model.layers.")?.split_once('.')?;
        let layer: usize = layer
            .parse()
            .ok()
            .filter(|&l| l < self.config.num_hidden_layers)?;
        let &(_, gguf) = LAYER_TENSORS.iter().find(|(hf, _)| *hf == rest)?;
        let heads = match gguf {
            "attn_q.weight" => Some(self.config.num_attention_heads),
            "attn_k.weight" => Some(self.config.num_key_value_heads),
            _ => None,
        };
        Some((format!("blk.{layer}.{gguf}"), heads))
    }

    /// Every tensor the architecture reads must have the shape the configuration implies.
    fn check_shapes(&self) -> Result<(), LabError> {
        let c = &self.config;
        let (width, inner) = (c.hidden_size, c.intermediate_size);
        let (q_rows, kv_rows) = (
            c.num_attention_heads * c.head_dim,
            c.num_key_value_heads * c.head_dim,
        );
        let mut expected = vec![
            (
                "model.embed_tokens.weight".to_string(),
                vec![c.vocab_size, width],
            ),
            ("model.norm.weight".to_string(), vec![width]),
        ];
        if !c.tie_word_embeddings {
            expected.push(("lm_head.weight".into(), vec![c.vocab_size, width]));
        }
        for layer in 0..c.num_hidden_layers {
            let shapes = [
                vec![width],
                vec![q_rows, width],
                vec![kv_rows, width],
                vec![kv_rows, width],
                vec![width, q_rows],
                vec![width],
                vec![inner, width],
                vec![inner, width],
                vec![width, inner],
            ];
            for ((hf, _), shape) in LAYER_TENSORS.iter().zip(shapes) {
                expected.push((format!("model.layers.{layer}.{hf}"), shape));
            }
        }
        for (name, shape) in expected {
            let (gguf_name, _) = self.locate(&name).expect("a name from the tables");
            let info = self.file.tensor_info(&gguf_name).ok_or_else(|| {
                LabError::Weights(format!(
                    "{} has no tensor {gguf_name} ({name}), which a Llama model with this \
                     configuration needs; the file is incomplete",
                    self.file.file_name()
                ))
            })?;
            if info.shape() != shape {
                return Err(LabError::Weights(format!(
                    "{}: the tensor {gguf_name} ({name}) has shape {:?}, but the file's metadata \
                     implies {shape:?}; the file is inconsistent",
                    self.file.file_name(),
                    info.shape()
                )));
            }
        }
        Ok(())
    }
}

impl WeightSource for LlamaGguf {
    fn contains(&self, name: &str) -> bool {
        self.locate(name)
            .is_some_and(|(gguf, _)| self.file.contains(&gguf))
    }

    /// Shapes as Hugging Face stores them: projections `[outputs, inputs]`.
    fn read_f32(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), LabError> {
        let (gguf_name, heads) = self.locate(name).ok_or_else(|| {
            LabError::Weights(format!(
                "{}: no tensor of a Llama model is named {name}",
                self.file.file_name()
            ))
        })?;
        let (values, shape) = self.file.read_f32(&gguf_name)?;
        match heads {
            Some(heads) => Ok((undo_rotary_interleave(&values, &shape, heads), shape)),
            None => Ok((values, shape)),
        }
    }
}

/// Row `h * head_dim + j * half + i` of Hugging Face's projection is row
/// `h * head_dim + 2 * i + j` of llama.cpp's (`j` is 0 or 1, `i < half`).
///
/// Shapes: `values` is `[heads * head_dim, inputs]`, as is the result.
fn undo_rotary_interleave(values: &[f32], shape: &[usize], heads: usize) -> Vec<f32> {
    let [rows, inputs] = [shape[0], shape[1]];
    let half = rows / heads / 2;
    let mut restored = Vec::with_capacity(values.len());
    for head in 0..heads {
        for j in 0..2 {
            for i in 0..half {
                let row = head * 2 * half + 2 * i + j;
                restored.extend_from_slice(&values[row * inputs..(row + 1) * inputs]);
            }
        }
    }
    restored
}

fn derive_config(file: &GgufFile) -> Result<LlamaHfConfig, LabError> {
    check_architecture(file)?;
    let width = file.require_usize("llama.embedding_length")?;
    let (heads, kv_heads, head_dim) = attention_shape(file, width)?;
    let optional_f64 = |key: &str, default: f64| match file.get(key) {
        Some(_) => file.require_f64(key),
        None => Ok(default),
    };
    let token_id = |key: &str| -> Result<Option<u32>, LabError> {
        Ok(file
            .optional_u64(key)?
            .and_then(|id| u32::try_from(id).ok()))
    };
    Ok(LlamaHfConfig {
        model_type: "llama".into(),
        vocab_size: vocab_size(file)?,
        hidden_size: width,
        intermediate_size: file.require_usize("llama.feed_forward_length")?,
        num_hidden_layers: file.require_usize("llama.block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        head_dim,
        max_position_embeddings: file.require_usize("llama.context_length")?,
        rope_theta: optional_f64("llama.rope.freq_base", DEFAULT_ROPE_BASE)?,
        rms_norm_eps: optional_f64(
            "llama.attention.layer_norm_rms_epsilon",
            DEFAULT_RMS_EPSILON,
        )?,
        hidden_act: "silu".into(),
        tie_word_embeddings: !file.contains("output.weight"),
        bos_token_id: token_id("tokenizer.ggml.bos_token_id")?,
        eos_token_id: token_id("tokenizer.ggml.eos_token_id")?,
        pad_token_id: token_id("tokenizer.ggml.padding_token_id")?,
    })
}

/// A Llama model without rotary scaling, which the lab's Llama does not implement.
fn check_architecture(file: &GgufFile) -> Result<(), LabError> {
    let architecture = file.architecture()?;
    if architecture != "llama" {
        return Err(LabError::Weights(format!(
            "{} holds a model of the architecture {architecture}; this reader takes Llama models \
             (general.architecture = llama)",
            file.file_name()
        )));
    }
    match file
        .get("llama.rope.scaling.type")
        .and_then(MetaValue::as_str)
    {
        Some(kind) if kind != "none" => Err(LabError::Weights(format!(
            "{} scales its rotary embedding ({kind}), which the lab's Llama does not implement",
            file.file_name()
        ))),
        _ => Ok(()),
    }
}

/// Query heads, key-value heads (as many as query heads unless the file says) and the width
/// of a head (the rotated width, or the model's width shared among the heads).
fn attention_shape(file: &GgufFile, width: usize) -> Result<(usize, usize, usize), LabError> {
    let heads = file.require_usize("llama.attention.head_count")?;
    let kv_heads = file
        .optional_usize("llama.attention.head_count_kv")?
        .unwrap_or(heads);
    if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
        return Err(LabError::Weights(format!(
            "{}: {heads} attention heads cannot share {kv_heads} key-value heads evenly",
            file.file_name()
        )));
    }
    let head_dim = match file.optional_usize("llama.attention.key_length")? {
        Some(length) => length,
        None => file
            .optional_usize("llama.rope.dimension_count")?
            .unwrap_or(width / heads),
    };
    if head_dim == 0 || !head_dim.is_multiple_of(2) {
        return Err(LabError::Weights(format!(
            "{}: the head width {head_dim} must be even for the rotary embedding",
            file.file_name()
        )));
    }
    Ok((heads, kv_heads, head_dim))
}

/// `llama.vocab_size`, else the number of tokens, else the embedding's rows.
fn vocab_size(file: &GgufFile) -> Result<usize, LabError> {
    if let Some(size) = file.optional_usize("llama.vocab_size")? {
        return Ok(size);
    }
    if let Some(tokens) = file
        .get("tokenizer.ggml.tokens")
        .and_then(MetaValue::as_array)
    {
        return Ok(tokens.len());
    }
    let embedding = file.tensor_info("token_embd.weight").map(TensorInfo::shape);
    Ok(embedding.map_or(0, |shape| shape[0]))
}
