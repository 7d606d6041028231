//! GPT-2 (`gpt2`, `distilgpt2` and their fine-tunes) as Hugging Face's `GPT2LMHeadModel`
//! computes it: learned positions, pre-norm blocks, fused query-key-value projection, and the
//! output projection tied to the token embedding.

use super::activation::Activation;
use super::attention::{causal_attention, merge_heads, split_heads};
use super::cache::KvCache;
use super::checkpoint::{
    CheckpointTensor, HeldTensor, check_no_extra_layer, linear_tensors, norm_tensors,
};
use super::embedding::{embed, unembed};
use super::lora::{BlockProjections, Projection, named_projections, named_projections_mut};
use super::weights::WeightSource;
use super::{CausalLm, layer_norm, linear};
use crate::LabError;
use burn::module::{Module, Param};
use burn::nn::LayerNorm;
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

/// The fields of a hub `config.json` that the computation depends on, with transformers'
/// defaults for those a file leaves out (`save_pretrained` writes only the ones that differ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Gpt2Config {
    pub vocab_size: usize,
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    /// The feed-forward width; `4 * n_embd` when absent.
    pub n_inner: Option<usize>,
    pub layer_norm_epsilon: f64,
    pub activation_function: String,
    pub scale_attn_weights: bool,
    pub scale_attn_by_inverse_layer_idx: bool,
}

impl Default for Gpt2Config {
    /// transformers' `GPT2Config()`: the 124M `gpt2`.
    fn default() -> Self {
        Self {
            vocab_size: 50257,
            n_positions: 1024,
            n_embd: 768,
            n_layer: 12,
            n_head: 12,
            n_inner: None,
            layer_norm_epsilon: 1e-5,
            activation_function: "gelu_new".into(),
            scale_attn_weights: true,
            scale_attn_by_inverse_layer_idx: false,
        }
    }
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
    qkv: Projection,
    attention_out: Projection,
    norm_mlp: LayerNorm,
    mlp_in: Projection,
    mlp_out: Projection,
}

impl BlockProjections for Block {
    const LAYERS: &'static str = "transformer.h";
    const PATHS: &'static [&'static str] =
        &["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"];

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
    /// The prefix of the checkpoint's tensors (`transformer.` or none).
    #[module(skip)]
    prefix: String,
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
                let projection = |part: &str, shape: [usize; 2]| {
                    linear(weights, &name(part), shape, device).map(Projection::plain)
                };
                Ok(Block {
                    norm_attention: layer_norm(weights, &name("ln_1"), d, eps, device)?,
                    qkv: projection("attn.c_attn", [d, 3 * d])?,
                    attention_out: projection("attn.c_proj", [d, d])?,
                    norm_mlp: layer_norm(weights, &name("ln_2"), d, eps, device)?,
                    mlp_in: projection("mlp.c_fc", [d, config.inner()])?,
                    mlp_out: projection("mlp.c_proj", [config.inner(), d])?,
                })
            })
            .collect::<Result<Vec<_>, LabError>>()?;
        let extra = tensor(&format!("h.{}.ln_1.weight", blocks.len()));
        check_no_extra_layer(weights, &extra, blocks.len())?;
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
            prefix: prefix.to_string(),
        })
    }

    /// Every projection under its module path in `GPT2LMHeadModel` (`transformer.h.0.attn.c_attn`),
    /// whatever prefix the checkpoint used: the names peft's adapters carry.
    pub fn projections(&self) -> Vec<(String, &Projection)> {
        named_projections(&self.blocks)
    }

    pub fn projections_mut(&mut self) -> Vec<(String, &mut Projection)> {
        named_projections_mut(&mut self.blocks)
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

    fn width(&self) -> usize {
        self.token_embedding.dims()[1]
    }

    fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Shapes: `tokens` is `[batch, new]`; the result is `[batch, new, n_embd]`.
    fn hidden_states(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        let [_, new] = tokens.dims();
        let past = cache.len();
        let positions =
            Tensor::<1, Int>::arange(past as i64..(past + new) as i64, &tokens.device());
        let position_rows = self.position_embedding.val().select(0, positions);
        let mut x = embed(&self.token_embedding, tokens) + position_rows.unsqueeze::<3>();
        for layer in 0..self.blocks.len() {
            x = self.block(layer, x, cache);
        }
        self.final_norm.forward(x)
    }

    /// The output projection is the token embedding.
    fn project(&self, hidden: Tensor<3>) -> Tensor<3> {
        unembed(hidden, &self.token_embedding)
    }

    fn checkpoint_parameters(&self) -> Vec<CheckpointTensor> {
        let prefix = &self.prefix;
        let matrix = |name: &str, param: &Param<Tensor<2>>| {
            CheckpointTensor::new(format!("{prefix}{name}"), HeldTensor::Matrix(param.val()))
        };
        let mut tensors = vec![
            matrix("wte.weight", &self.token_embedding),
            matrix("wpe.weight", &self.position_embedding),
        ];
        let norm = |name: &str, norm: &LayerNorm| {
            norm_tensors(&format!("{prefix}{name}"), &norm.gamma, norm.beta.as_ref())
        };
        for (i, block) in self.blocks.iter().enumerate() {
            let name = |part: &str| format!("h.{i}.{part}");
            let linear = |part: &str, projection: &Projection| {
                linear_tensors(&format!("{prefix}{}", name(part)), &projection.base, false)
            };
            tensors.extend(norm(&name("ln_1"), &block.norm_attention));
            tensors.extend(linear("attn.c_attn", &block.qkv));
            tensors.extend(linear("attn.c_proj", &block.attention_out));
            tensors.extend(norm(&name("ln_2"), &block.norm_mlp));
            tensors.extend(linear("mlp.c_fc", &block.mlp_in));
            tensors.extend(linear("mlp.c_proj", &block.mlp_out));
        }
        tensors.extend(norm("ln_f", &self.final_norm));
        tensors
    }
}
