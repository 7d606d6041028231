//! GPT-2 (`gpt2`, `distilgpt2` and their fine-tunes) as Hugging Face's `GPT2LMHeadModel`
//! computes it: learned positions, pre-norm blocks, fused query-key-value projection, and the
//! output projection tied to the token embedding.

use super::activation::Activation;
use super::attention::{causal_attention, merge_heads, split_heads};
use super::cache::KvCache;
use super::weights::WeightSource;
use super::{CausalLm, layer_norm, linear};
use crate::LabError;
use burn::module::{Module, Param};
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

/// The fields of a hub `config.json` that the computation depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpt2Config {
    pub vocab_size: usize,
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    /// The feed-forward width; `4 * n_embd` when absent.
    #[serde(default)]
    pub n_inner: Option<usize>,
    #[serde(default = "default_epsilon")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_activation")]
    pub activation_function: String,
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
}

fn default_epsilon() -> f64 {
    1e-5
}

fn default_activation() -> String {
    "gelu_new".into()
}

fn default_true() -> bool {
    true
}

impl Gpt2Config {
    pub fn validate(&self) -> Result<Activation, LabError> {
        let sizes = [
            self.vocab_size,
            self.n_positions,
            self.n_embd,
            self.n_layer,
            self.n_head,
        ];
        if sizes.contains(&0) {
            return Err(LabError::ModelConfig(
                "GPT-2: vocab_size, n_positions, n_embd, n_layer and n_head must be positive"
                    .into(),
            ));
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(LabError::ModelConfig(format!(
                "GPT-2: n_embd {} is not a multiple of n_head {}",
                self.n_embd, self.n_head
            )));
        }
        Activation::from_hub_name(&self.activation_function)
    }

    fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    fn inner(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }
}

#[derive(Module, Debug)]
struct Block {
    norm_attention: LayerNorm,
    /// Queries, keys and values in one `[n_embd, 3 * n_embd]` projection.
    qkv: Linear,
    attention_out: Linear,
    norm_mlp: LayerNorm,
    mlp_in: Linear,
    mlp_out: Linear,
}

#[derive(Module, Debug)]
pub struct Gpt2 {
    /// `[vocab_size, n_embd]`, also the output projection.
    token_embedding: Param<Tensor<2>>,
    /// `[n_positions, n_embd]`.
    position_embedding: Param<Tensor<2>>,
    blocks: Vec<Block>,
    final_norm: LayerNorm,
    heads: usize,
    #[module(skip)]
    activation: Activation,
    /// The attention scale of each layer.
    #[module(skip)]
    scales: Vec<f64>,
    max_positions: usize,
}

impl Gpt2 {
    /// Builds the model from hub-named weights (`wte.weight`, `h.0.attn.c_attn.weight`, ...,
    /// with or without the `transformer.` prefix of `GPT2LMHeadModel` checkpoints).
    pub fn load(
        config: &Gpt2Config,
        weights: &impl WeightSource,
        device: &Device,
    ) -> Result<Self, LabError> {
        let activation = config.validate()?;
        let prefix = weights.find_prefix(&["", "transformer."], "wte.weight")?;
        let (d, eps) = (config.n_embd, config.layer_norm_epsilon);
        let tensor = |name: &str| format!("{prefix}{name}");
        let blocks = (0..config.n_layer)
            .map(|i| {
                let name = |part: &str| tensor(&format!("h.{i}.{part}"));
                Ok(Block {
                    norm_attention: layer_norm(weights, &name("ln_1"), d, eps, device)?,
                    qkv: linear(weights, &name("attn.c_attn"), [d, 3 * d], device)?,
                    attention_out: linear(weights, &name("attn.c_proj"), [d, d], device)?,
                    norm_mlp: layer_norm(weights, &name("ln_2"), d, eps, device)?,
                    mlp_in: linear(weights, &name("mlp.c_fc"), [d, config.inner()], device)?,
                    mlp_out: linear(weights, &name("mlp.c_proj"), [config.inner(), d], device)?,
                })
            })
            .collect::<Result<Vec<_>, LabError>>()?;
        let base_scale = if config.scale_attn_weights {
            1.0 / (config.head_dim() as f64).sqrt()
        } else {
            1.0
        };
        let scales = (0..config.n_layer)
            .map(|i| match config.scale_attn_by_inverse_layer_idx {
                true => base_scale / (i + 1) as f64,
                false => base_scale,
            })
            .collect();
        let embedding = |name: &str, rows: usize| {
            weights
                .tensor(&tensor(name), [rows, d], device)
                .map(Param::from_tensor)
        };
        Ok(Self {
            token_embedding: embedding("wte.weight", config.vocab_size)?,
            position_embedding: embedding("wpe.weight", config.n_positions)?,
            blocks,
            final_norm: layer_norm(weights, &tensor("ln_f"), d, eps, device)?,
            heads: config.n_head,
            activation,
            scales,
            max_positions: config.n_positions,
        })
    }

    fn block(&self, layer: usize, x: Tensor<3>, cache: &mut KvCache) -> Tensor<3> {
        let block = &self.blocks[layer];
        let [_, _, width] = x.dims();
        let qkv = block.qkv.forward(block.norm_attention.forward(x.clone()));
        let part = |i: usize| split_heads(qkv.clone().narrow(2, i * width, width), self.heads);
        let (keys, values) = cache.extend(layer, part(1), part(2));
        let attended = causal_attention(part(0), keys, values, self.scales[layer]);
        let x = x + block.attention_out.forward(merge_heads(attended));
        let hidden = self
            .activation
            .apply(block.mlp_in.forward(block.norm_mlp.forward(x.clone())));
        x + block.mlp_out.forward(hidden)
    }
}

impl CausalLm for Gpt2 {
    fn layers(&self) -> usize {
        self.blocks.len()
    }

    fn vocab_size(&self) -> usize {
        self.token_embedding.dims()[0]
    }

    fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Shapes: `tokens` is `[batch, new]`; the result is `[batch, new, vocab_size]`.
    fn forward(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        let [batch, new] = tokens.dims();
        let past = cache.len();
        let device = tokens.device();
        let positions = Tensor::<1, Int>::arange(past as i64..(past + new) as i64, &device);
        let position_rows = self.position_embedding.val().select(0, positions);
        let token_rows = (self.token_embedding.val())
            .select(0, tokens.reshape([batch * new]))
            .reshape([batch, new, position_rows.dims()[1]]);
        let mut x = token_rows + position_rows.unsqueeze::<3>();
        for layer in 0..self.blocks.len() {
            x = self.block(layer, x, cache);
        }
        let x = self.final_norm.forward(x);
        x.matmul(self.token_embedding.val().transpose().unsqueeze::<3>())
    }
}
