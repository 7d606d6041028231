//! Llama (SmolLM2, TinyLlama and their fine-tunes) as Hugging Face's `LlamaForCausalLM`
//! computes it: RMSNorm before attention and MLP, rotary positions, grouped-query attention, a
//! SwiGLU MLP, and an output projection that may be tied to the token embedding.

use super::CausalLm;
use super::activation::Activation;
use super::attention::{causal_attention, merge_heads, split_heads};
use super::cache::KvCache;
use super::checkpoint::{
    CheckpointTensor, HeldTensor, check_no_extra_layer, linear_tensors, norm_tensors, torch_linear,
};
use super::embedding::{embed, unembed};
use super::lora::{BlockProjections, Projection, named_projections, named_projections_mut};
use super::rotary::{Rotary, RotaryTable};
use super::weights::WeightSource;
use crate::LabError;
use burn::module::{Module, Param};
use burn::nn::{RmsNorm, RmsNormConfig};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

/// The fields of a hub `config.json` that the computation depends on, with transformers'
/// defaults for those a file leaves out (`save_pretrained` writes only the ones that differ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Fewer than `num_attention_heads` for grouped-query attention; equal when absent.
    pub num_key_value_heads: Option<usize>,
    /// `hidden_size / num_attention_heads` when absent.
    pub head_dim: Option<usize>,
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    /// Only its absence (or `null`) is supported: the lab implements plain rotary positions.
    pub rope_scaling: Option<serde_json::Value>,
    pub tie_word_embeddings: bool,
    pub attention_bias: bool,
    pub mlp_bias: bool,
}

impl Default for LlamaConfig {
    /// transformers' `LlamaConfig()` (Llama 7B's sizes).
    fn default() -> Self {
        Self {
            vocab_size: 32000,
            hidden_size: 4096,
            intermediate_size: 11008,
            num_hidden_layers: 32,
            num_attention_heads: 32,
            num_key_value_heads: None,
            head_dim: None,
            hidden_act: "silu".into(),
            max_position_embeddings: 2048,
            rms_norm_eps: 1e-6,
            rope_theta: 10000.0,
            rope_scaling: None,
            tie_word_embeddings: false,
            attention_bias: false,
            mlp_bias: false,
        }
    }
}

impl LlamaConfig {
    pub fn validate(&self) -> Result<Activation, LabError> {
        let sizes = [
            self.vocab_size,
            self.hidden_size,
            self.intermediate_size,
            self.num_hidden_layers,
            self.num_attention_heads,
            self.kv_heads(),
            self.head_dim(),
            self.max_position_embeddings,
        ];
        if sizes.contains(&0) {
            return Err(LabError::ModelConfig(
                "Llama: the sizes, head counts and max_position_embeddings must be positive".into(),
            ));
        }
        if !self.num_attention_heads.is_multiple_of(self.kv_heads()) {
            return Err(LabError::ModelConfig(format!(
                "Llama: num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads,
                self.kv_heads()
            )));
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(LabError::ModelConfig(format!(
                "Llama: hidden_size {} is not a multiple of num_attention_heads {}, and no \
                 head_dim is given",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if self.rope_theta <= 0.0 {
            return Err(LabError::ModelConfig(
                "Llama: rope_theta must be positive".into(),
            ));
        }
        match &self.rope_scaling {
            None | Some(serde_json::Value::Null) => {}
            Some(scaling) => {
                return Err(LabError::ModelConfig(format!(
                    "Llama: rope_scaling {scaling} is not supported; the lab implements plain \
                     rotary positions (rope_scaling null), as SmolLM2 and TinyLlama use"
                )));
            }
        }
        Activation::from_hub_name(&self.hidden_act)
    }

    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        (self.head_dim).unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }
}

#[derive(Module, Debug)]
struct Block {
    norm_attention: RmsNorm,
    query: Projection,
    key: Projection,
    value: Projection,
    attention_out: Projection,
    norm_mlp: RmsNorm,
    mlp_gate: Projection,
    mlp_up: Projection,
    mlp_down: Projection,
}

impl BlockProjections for Block {
    const LAYERS: &'static str = "model.layers";
    const PATHS: &'static [&'static str] = &[
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "self_attn.o_proj",
        "mlp.gate_proj",
        "mlp.up_proj",
        "mlp.down_proj",
    ];

    fn projections(&self) -> Vec<&Projection> {
        vec![
            &self.query,
            &self.key,
            &self.value,
            &self.attention_out,
            &self.mlp_gate,
            &self.mlp_up,
            &self.mlp_down,
        ]
    }

    fn projections_mut(&mut self) -> Vec<&mut Projection> {
        vec![
            &mut self.query,
            &mut self.key,
            &mut self.value,
            &mut self.attention_out,
            &mut self.mlp_gate,
            &mut self.mlp_up,
            &mut self.mlp_down,
        ]
    }
}

#[derive(Module, Debug)]
pub struct Llama {
    /// `[vocab_size, hidden_size]`.
    token_embedding: Param<Tensor<2>>,
    blocks: Vec<Block>,
    final_norm: RmsNorm,
    /// `lm_head`, `[vocab_size, hidden_size]`; `None` when tied to the token embedding.
    output: Option<Param<Tensor<2>>>,
    heads: usize,
    kv_heads: usize,
    max_positions: usize,
    #[module(skip)]
    rotary: Rotary,
    #[module(skip)]
    activation: Activation,
    /// The prefix of the checkpoint's decoder tensors (`model.` or none).
    #[module(skip)]
    prefix: String,
}

impl Llama {
    /// Builds the model from hub-named weights (`model.embed_tokens.weight`,
    /// `model.layers.0.self_attn.q_proj.weight`, ..., `lm_head.weight`), with or without the
    /// `model.` prefix of `LlamaForCausalLM` checkpoints.
    pub fn load(
        config: &LlamaConfig,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        let activation = config.validate()?;
        let prefix = weights.find_prefix(&["model.", ""], "embed_tokens.weight")?;
        let tensor = |name: &str| format!("{prefix}{name}");
        let blocks = (0..config.num_hidden_layers)
            .map(|i| load_block(config, weights, &tensor(&format!("layers.{i}.")), device))
            .collect::<Result<Vec<_>, LabError>>()?;
        let extra = tensor(&format!("layers.{}.input_layernorm.weight", blocks.len()));
        check_no_extra_layer(weights, &extra, blocks.len())?;
        let (vocab, width) = (config.vocab_size, config.hidden_size);
        let output = match config.tie_word_embeddings {
            true => None,
            false if weights.contains("lm_head.weight") => Some(Param::from_tensor(
                weights.tensor("lm_head.weight", [vocab, width], device)?,
            )),
            false => {
                return Err(LabError::Weights(
                    "the configuration does not tie the output projection to the embedding \
                     (tie_word_embeddings false), but the weights have no lm_head.weight"
                        .into(),
                ));
            }
        };
        let embedding = weights.tensor(&tensor("embed_tokens.weight"), [vocab, width], device)?;
        Ok(Self {
            token_embedding: Param::from_tensor(embedding),
            blocks,
            final_norm: rms_norm(weights, &tensor("norm"), config, device)?,
            output,
            heads: config.num_attention_heads,
            kv_heads: config.kv_heads(),
            max_positions: config.max_position_embeddings,
            rotary: Rotary::new(config.head_dim(), config.rope_theta),
            activation,
            prefix: prefix.to_string(),
        })
    }

    /// Every projection under its module path in `LlamaForCausalLM`
    /// (`model.layers.0.self_attn.q_proj`), whatever prefix the checkpoint used: the names
    /// peft's adapters carry.
    pub fn projections(&self) -> Vec<(String, &Projection)> {
        named_projections(&self.blocks)
    }

    pub fn projections_mut(&mut self) -> Vec<(String, &mut Projection)> {
        named_projections_mut(&mut self.blocks)
    }

    fn block(
        &self,
        layer: usize,
        x: Tensor<3>,
        rotary: &RotaryTable,
        cache: &mut KvCache,
    ) -> Tensor<3> {
        let block = &self.blocks[layer];
        let normed = block.norm_attention.forward(x.clone());
        let query = rotary.apply(split_heads(block.query.forward(normed.clone()), self.heads));
        let key = rotary.apply(split_heads(
            block.key.forward(normed.clone()),
            self.kv_heads,
        ));
        let value = split_heads(block.value.forward(normed), self.kv_heads);
        let (keys, values) = cache.extend(layer, key, value);
        let groups = self.heads / self.kv_heads;
        let [_, _, _, head_dim] = query.dims();
        let scale = 1.0 / (head_dim as f64).sqrt();
        let attended = causal_attention(
            query,
            repeat_kv_heads(keys, groups),
            repeat_kv_heads(values, groups),
            scale,
        );
        let x = x + block.attention_out.forward(merge_heads(attended));
        let normed = block.norm_mlp.forward(x.clone());
        let gate = self
            .activation
            .apply(block.mlp_gate.forward(normed.clone()));
        x + block.mlp_down.forward(gate * block.mlp_up.forward(normed))
    }
}

fn load_block(
    config: &LlamaConfig,
    weights: &impl WeightSource,
    layer: &str,
    device: &Device,
) -> Result<Block, LabError> {
    let name = |part: &str| format!("{layer}{part}");
    let width = config.hidden_size;
    let attention_width = config.num_attention_heads * config.head_dim();
    let kv_width = config.kv_heads() * config.head_dim();
    let inner = config.intermediate_size;
    let (attention_bias, mlp_bias) = (config.attention_bias, config.mlp_bias);
    let linear = |part: &str, shape: [usize; 2], bias: bool| {
        torch_linear(weights, &name(part), shape, bias, device).map(Projection::plain)
    };
    Ok(Block {
        norm_attention: rms_norm(weights, &name("input_layernorm"), config, device)?,
        query: linear("self_attn.q_proj", [width, attention_width], attention_bias)?,
        key: linear("self_attn.k_proj", [width, kv_width], attention_bias)?,
        value: linear("self_attn.v_proj", [width, kv_width], attention_bias)?,
        attention_out: linear("self_attn.o_proj", [attention_width, width], attention_bias)?,
        norm_mlp: rms_norm(weights, &name("post_attention_layernorm"), config, device)?,
        mlp_gate: linear("mlp.gate_proj", [width, inner], mlp_bias)?,
        mlp_up: linear("mlp.up_proj", [width, inner], mlp_bias)?,
        mlp_down: linear("mlp.down_proj", [inner, width], mlp_bias)?,
    })
}

/// An RMS norm stored as `NAME.weight` `[hidden_size]`.
fn rms_norm(
    weights: &impl WeightSource,
    name: &str,
    config: &LlamaConfig,
    device: &Device,
) -> Result<RmsNorm, LabError> {
    let width = config.hidden_size;
    let mut norm = RmsNormConfig::new(width)
        .with_epsilon(config.rms_norm_eps)
        .init(device);
    norm.gamma = Param::from_tensor(weights.tensor(&format!("{name}.weight"), [width], device)?);
    Ok(norm)
}

/// Each key-value head repeated for the `groups` query heads that share it: query head `h`
/// reads key-value head `h / groups`.
///
/// Shapes: `x` is `[batch, kv_heads, positions, head_dim]`; the result is
/// `[batch, kv_heads * groups, positions, head_dim]`.
fn repeat_kv_heads(x: Tensor<4>, groups: usize) -> Tensor<4> {
    if groups == 1 {
        return x;
    }
    let [batch, kv_heads, positions, head_dim] = x.dims();
    x.unsqueeze_dim::<5>(2).repeat_dim(2, groups).reshape([
        batch,
        kv_heads * groups,
        positions,
        head_dim,
    ])
}

impl CausalLm for Llama {
    fn layers(&self) -> usize {
        self.blocks.len()
    }

    fn vocab_size(&self) -> usize {
        self.token_embedding.dims()[0]
    }

    fn width(&self) -> usize {
        self.token_embedding.dims()[1]
    }

    fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Shapes: `tokens` is `[batch, new]`; the result is `[batch, new, hidden_size]`.
    fn hidden_states(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        let [_, new] = tokens.dims();
        let rotary = self.rotary.table(cache.len(), new, &tokens.device());
        let mut x = embed(&self.token_embedding, tokens);
        for layer in 0..self.blocks.len() {
            x = self.block(layer, x, &rotary, cache);
        }
        self.final_norm.forward(x)
    }

    fn project(&self, hidden: Tensor<3>) -> Tensor<3> {
        unembed(
            hidden,
            self.output.as_ref().unwrap_or(&self.token_embedding),
        )
    }

    fn checkpoint_parameters(&self) -> Vec<CheckpointTensor> {
        let prefix = &self.prefix;
        let mut tensors = vec![CheckpointTensor::new(
            format!("{prefix}embed_tokens.weight"),
            HeldTensor::Matrix(self.token_embedding.val()),
        )];
        for (i, block) in self.blocks.iter().enumerate() {
            let name = |part: &str| format!("{prefix}layers.{i}.{part}");
            let norm = |part: &str, norm: &RmsNorm| norm_tensors(&name(part), &norm.gamma, None);
            let linear = |part: &str, projection: &Projection| {
                linear_tensors(&name(part), &projection.base, true)
            };
            tensors.extend(norm("input_layernorm", &block.norm_attention));
            tensors.extend(linear("self_attn.q_proj", &block.query));
            tensors.extend(linear("self_attn.k_proj", &block.key));
            tensors.extend(linear("self_attn.v_proj", &block.value));
            tensors.extend(linear("self_attn.o_proj", &block.attention_out));
            tensors.extend(norm("post_attention_layernorm", &block.norm_mlp));
            tensors.extend(linear("mlp.gate_proj", &block.mlp_gate));
            tensors.extend(linear("mlp.up_proj", &block.mlp_up));
            tensors.extend(linear("mlp.down_proj", &block.mlp_down));
        }
        tensors.extend(norm_tensors(
            &format!("{prefix}norm"),
            &self.final_norm.gamma,
            None,
        ));
        if let Some(output) = &self.output {
            let held = HeldTensor::Matrix(output.val());
            tensors.push(CheckpointTensor::new("lm_head.weight", held));
        }
        tensors
    }
}
