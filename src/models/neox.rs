//! GPT-NeoX (Pythia and its fine-tunes) as Hugging Face's `GPTNeoXForCausalLM` computes it:
//! layer norms, rotary positions on the first `rotary_pct` of each head's features, a fused
//! query-key-value projection laid out per head, attention and MLP added to the residual in
//! parallel (or one after the other when `use_parallel_residual` is false), and an output
//! projection `embed_out` of its own.

use super::activation::Activation;
use super::attention::{causal_attention, merge_heads};
use super::cache::KvCache;
use super::checkpoint::{
    CheckpointTensor, HeldTensor, check_no_extra_layer, linear_tensors, norm_tensors, torch_linear,
};
use super::embedding::{embed, unembed};
use super::lora::{BlockProjections, Projection, named_projections, named_projections_mut};
use super::rotary::{Rotary, RotaryTable};
use super::weights::WeightSource;
use super::{CausalLm, layer_norm};
use crate::LabError;
use burn::module::{Module, Param};
use burn::nn::LayerNorm;
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

/// The fields of a hub `config.json` that the computation depends on, with transformers'
/// defaults for those a file leaves out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NeoXConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    /// The fraction of each head's features that rotate.
    pub rotary_pct: f64,
    pub rotary_emb_base: f64,
    pub max_position_embeddings: usize,
    pub layer_norm_eps: f64,
    pub use_parallel_residual: bool,
    pub tie_word_embeddings: bool,
    pub attention_bias: bool,
    /// Only its absence (or `null`) is supported.
    pub rope_scaling: Option<serde_json::Value>,
}

impl Default for NeoXConfig {
    /// transformers' `GPTNeoXConfig()` (GPT-NeoX 20B's sizes).
    fn default() -> Self {
        Self {
            vocab_size: 50432,
            hidden_size: 6144,
            num_hidden_layers: 44,
            num_attention_heads: 64,
            intermediate_size: 24576,
            hidden_act: "gelu".into(),
            rotary_pct: 0.25,
            rotary_emb_base: 10000.0,
            max_position_embeddings: 2048,
            layer_norm_eps: 1e-5,
            use_parallel_residual: true,
            tie_word_embeddings: false,
            attention_bias: true,
            rope_scaling: None,
        }
    }
}

impl NeoXConfig {
    pub fn validate(&self) -> Result<Activation, LabError> {
        let sizes = [
            self.vocab_size,
            self.hidden_size,
            self.num_hidden_layers,
            self.num_attention_heads,
            self.intermediate_size,
            self.max_position_embeddings,
        ];
        if sizes.contains(&0) {
            return Err(LabError::ModelConfig(
                "GPT-NeoX: the sizes, head count and max_position_embeddings must be positive"
                    .into(),
            ));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(LabError::ModelConfig(format!(
                "GPT-NeoX: hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if !(self.rotary_pct > 0.0 && self.rotary_pct <= 1.0) || self.rotary_dims() == 0 {
            return Err(LabError::ModelConfig(format!(
                "GPT-NeoX: rotary_pct {} leaves no rotating feature in heads of {}; it must be \
                 in (0, 1]",
                self.rotary_pct,
                self.head_dim()
            )));
        }
        if self.rotary_emb_base <= 0.0 {
            return Err(LabError::ModelConfig(
                "GPT-NeoX: rotary_emb_base must be positive".into(),
            ));
        }
        if let Some(scaling) = self.rope_scaling.as_ref().filter(|value| !value.is_null()) {
            return Err(LabError::ModelConfig(format!(
                "GPT-NeoX: rope_scaling {scaling} is not supported; the lab implements plain \
                 rotary positions (rope_scaling null), as Pythia uses"
            )));
        }
        Activation::from_hub_name(&self.hidden_act)
    }

    fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// transformers truncates `head_dim * rotary_pct` to an integer.
    fn rotary_dims(&self) -> usize {
        (self.head_dim() as f64 * self.rotary_pct) as usize
    }
}

#[derive(Module, Debug)]
struct Block {
    norm_attention: LayerNorm,
    /// Queries, keys and values of each head side by side: output `h * 3 * head_dim + j` is
    /// the query (`j < head_dim`), key or value feature of head `h`.
    qkv: Projection,
    attention_out: Projection,
    norm_mlp: LayerNorm,
    mlp_in: Projection,
    mlp_out: Projection,
}

impl BlockProjections for Block {
    const LAYERS: &'static str = "gpt_neox.layers";
    const PATHS: &'static [&'static str] = &[
        "attention.query_key_value",
        "attention.dense",
        "mlp.dense_h_to_4h",
        "mlp.dense_4h_to_h",
    ];

    fn projections(&self) -> Vec<&Projection> {
        vec![&self.qkv, &self.attention_out, &self.mlp_in, &self.mlp_out]
    }

    fn projections_mut(&mut self) -> Vec<&mut Projection> {
        vec![
            &mut self.qkv,
            &mut self.attention_out,
            &mut self.mlp_in,
            &mut self.mlp_out,
        ]
    }
}

#[derive(Module, Debug)]
pub struct NeoX {
    /// `embed_in`, `[vocab_size, hidden_size]`.
    token_embedding: Param<Tensor<2>>,
    blocks: Vec<Block>,
    final_norm: LayerNorm,
    /// `embed_out`, `[vocab_size, hidden_size]`; `None` when tied to the token embedding.
    output: Option<Param<Tensor<2>>>,
    heads: usize,
    parallel_residual: bool,
    max_positions: usize,
    #[module(skip)]
    rotary: Rotary,
    #[module(skip)]
    activation: Activation,
    /// The prefix of the checkpoint's decoder tensors (`gpt_neox.` or none).
    #[module(skip)]
    prefix: String,
}

impl NeoX {
    /// Builds the model from hub-named weights (`gpt_neox.embed_in.weight`,
    /// `gpt_neox.layers.0.attention.query_key_value.weight`, ..., `embed_out.weight`), with or
    /// without the `gpt_neox.` prefix.
    pub fn load(
        config: &NeoXConfig,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        let activation = config.validate()?;
        let prefix = weights.find_prefix(&["gpt_neox.", ""], "embed_in.weight")?;
        let tensor = |name: &str| format!("{prefix}{name}");
        let blocks = (0..config.num_hidden_layers)
            .map(|i| load_block(config, weights, &tensor(&format!("layers.{i}.")), device))
            .collect::<Result<Vec<_>, LabError>>()?;
        let extra = tensor(&format!("layers.{}.input_layernorm.weight", blocks.len()));
        check_no_extra_layer(weights, &extra, blocks.len())?;
        let (vocab, width) = (config.vocab_size, config.hidden_size);
        let output = match config.tie_word_embeddings {
            true => None,
            false if weights.contains("embed_out.weight") => Some(Param::from_tensor(
                weights.tensor("embed_out.weight", [vocab, width], device)?,
            )),
            false => {
                return Err(LabError::Weights(
                    "the weights have no embed_out.weight, the output projection of \
                     GPTNeoXForCausalLM: they may be of a GPTNeoXModel without its head"
                        .into(),
                ));
            }
        };
        let embedding = weights.tensor(&tensor("embed_in.weight"), [vocab, width], device)?;
        let epsilon = config.layer_norm_eps;
        Ok(Self {
            token_embedding: Param::from_tensor(embedding),
            blocks,
            final_norm: layer_norm(weights, &tensor("final_layer_norm"), width, epsilon, device)?,
            output,
            heads: config.num_attention_heads,
            parallel_residual: config.use_parallel_residual,
            max_positions: config.max_position_embeddings,
            rotary: Rotary::new(config.rotary_dims(), config.rotary_emb_base),
            activation,
            prefix: prefix.to_string(),
        })
    }

    /// Every projection under its module path in `GPTNeoXForCausalLM`
    /// (`gpt_neox.layers.0.attention.query_key_value`), whatever prefix the checkpoint used:
    /// the names peft's adapters carry.
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
        let [batch, positions, width] = x.dims();
        let head_dim = width / self.heads;
        let qkv = (block.qkv.forward(block.norm_attention.forward(x.clone())))
            .reshape([batch, positions, self.heads, 3 * head_dim])
            .swap_dims(1, 2);
        let part = |i: usize| qkv.clone().narrow(3, i * head_dim, head_dim);
        let (keys, values) = cache.extend(layer, rotary.apply(part(1)), part(2));
        let scale = 1.0 / (head_dim as f64).sqrt();
        let attended = causal_attention(rotary.apply(part(0)), keys, values, scale);
        let attention = block.attention_out.forward(merge_heads(attended));
        let mlp = |input: Tensor<3>| {
            let hidden = block.mlp_in.forward(block.norm_mlp.forward(input));
            block.mlp_out.forward(self.activation.apply(hidden))
        };
        match self.parallel_residual {
            true => x.clone() + attention + mlp(x),
            false => {
                let x = x + attention;
                x.clone() + mlp(x)
            }
        }
    }
}

fn load_block(
    config: &NeoXConfig,
    weights: &impl WeightSource,
    layer: &str,
    device: &Device,
) -> Result<Block, LabError> {
    let name = |part: &str| format!("{layer}{part}");
    let (width, inner) = (config.hidden_size, config.intermediate_size);
    let (epsilon, bias) = (config.layer_norm_eps, config.attention_bias);
    let norm = |part: &str| layer_norm(weights, &name(part), width, epsilon, device);
    let linear = |part: &str, shape: [usize; 2], bias: bool| {
        torch_linear(weights, &name(part), shape, bias, device).map(Projection::plain)
    };
    Ok(Block {
        norm_attention: norm("input_layernorm")?,
        qkv: linear("attention.query_key_value", [width, 3 * width], bias)?,
        attention_out: linear("attention.dense", [width, width], bias)?,
        norm_mlp: norm("post_attention_layernorm")?,
        mlp_in: linear("mlp.dense_h_to_4h", [width, inner], true)?,
        mlp_out: linear("mlp.dense_4h_to_h", [inner, width], true)?,
    })
}

impl CausalLm for NeoX {
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
            format!("{prefix}embed_in.weight"),
            HeldTensor::Matrix(self.token_embedding.val()),
        )];
        for (i, block) in self.blocks.iter().enumerate() {
            let name = |part: &str| format!("{prefix}layers.{i}.{part}");
            let norm = |part: &str, norm: &LayerNorm| {
                norm_tensors(&name(part), &norm.gamma, norm.beta.as_ref())
            };
            let linear = |part: &str, projection: &Projection| {
                linear_tensors(&name(part), &projection.base, true)
            };
            tensors.extend(norm("input_layernorm", &block.norm_attention));
            tensors.extend(linear("attention.query_key_value", &block.qkv));
            tensors.extend(linear("attention.dense", &block.attention_out));
            tensors.extend(norm("post_attention_layernorm", &block.norm_mlp));
            tensors.extend(linear("mlp.dense_h_to_4h", &block.mlp_in));
            tensors.extend(linear("mlp.dense_4h_to_h", &block.mlp_out));
        }
        let final_norm = &self.final_norm;
        let name = format!("{prefix}final_layer_norm");
        tensors.extend(norm_tensors(
            &name,
            &final_norm.gamma,
            final_norm.beta.as_ref(),
        ));
        if let Some(output) = &self.output {
            let held = HeldTensor::Matrix(output.val());
            tensors.push(CheckpointTensor::new("embed_out.weight", held));
        }
        tensors
    }
}
