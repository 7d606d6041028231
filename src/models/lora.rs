//! Low-rank adapters (LoRA; Hu et al. 2021) on a causal language model's projections, laid out,
//! named and initialised as Hugging Face's peft does, so that an adapter trained here loads in
//! peft and one trained with peft loads here.
//!
//! A projection `y = x W + b` with an adapter computes
//! `y + scale * (dropout(x) A^T) B^T`, with `A` `[rank, inputs]`, `B` `[outputs, rank]` and
//! `scale = alpha / rank`. The base weights are frozen; only `A` and `B` train. A new adapter
//! starts as peft's does: `A` Kaiming-uniform (bounds `±1/sqrt(inputs)`, peft's
//! `kaiming_uniform_(a = sqrt(5))`), drawn with the lab's SplitMix64 so that a seed repeats it,
//! and `B` zero, so the adapted model starts equal to the base.
//!
//! Where adapters go: peft's `target_modules`, matched against module paths of the hub's
//! causal-LM classes (`model.layers.0.self_attn.q_proj`, `transformer.h.0.attn.c_attn`). By
//! default the lab targets what peft targets for the architecture: Llama's `q_proj` and
//! `v_proj`, the query and value projections; GPT-2's fused `c_attn` and GPT-NeoX's fused
//! `query_key_value`, which project queries, keys and values at once, so there the adapter also
//! reaches the keys (peft has no narrower target for these architectures).
//!
//! Dropout acts on the adapter's input while training. Its masks come from SplitMix64 seeded
//! by the training step and the module path (not from a backend's random numbers), so a run
//! repeats exactly and a reference implementation can rebuild the same masks.

use super::checkpoint::{CheckpointTensor, HeldTensor, transposed_matrix};
use super::language_model::LanguageModel;
use super::weights::WeightSource;
use crate::LabError;
use crate::device::read;
use crate::rng::{SplitMix64, named_uniform};
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// The prefix peft gives every tensor of a saved adapter: the wrapper (`base_model`) and the
/// wrapped causal-LM class (`model`).
pub const PEFT_PREFIX: &str = "base_model.model.";

/// The adapter's settings: rank, scale, dropout and where it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoraConfig {
    pub rank: usize,
    /// The adapter's output is scaled by `alpha / rank`.
    pub alpha: f64,
    /// The probability of zeroing each input feature of the adapter while training.
    pub dropout: f64,
    /// Module paths or their last parts, as peft's `target_modules`: a projection is adapted
    /// when its path equals a target or ends with `.` and the target. Empty: what peft targets
    /// by default for the architecture (see [`default_targets`]).
    pub target_modules: Vec<String>,
}

impl Default for LoraConfig {
    /// SuperHF's settings: rank 4, alpha 32, dropout 0.05, the default targets.
    fn default() -> Self {
        Self {
            rank: 4,
            alpha: 32.0,
            dropout: 0.05,
            target_modules: Vec::new(),
        }
    }
}

impl LoraConfig {
    pub fn validate(&self) -> Result<(), LabError> {
        if self.rank == 0 {
            return Err(LabError::Config("the LoRA rank must be at least 1".into()));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(LabError::Config(format!(
                "the LoRA alpha is {}; it must be positive",
                self.alpha
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(LabError::Config(format!(
                "the LoRA dropout is {}; it must be at least 0 and below 1",
                self.dropout
            )));
        }
        Ok(())
    }

    /// The targets in force for a model of `model_type`.
    pub fn targets(&self, model_type: &str) -> Vec<String> {
        match self.target_modules.is_empty() {
            true => (default_targets(model_type).iter())
                .map(|target| target.to_string())
                .collect(),
            false => self.target_modules.clone(),
        }
    }

    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }
}

/// What peft 0.17 targets when `target_modules` is not given (its
/// `TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING`).
pub fn default_targets(model_type: &str) -> &'static [&'static str] {
    match model_type {
        "gpt2" => &["c_attn"],
        "gpt_neox" => &["query_key_value"],
        _ => &["q_proj", "v_proj"],
    }
}

/// Whether the module at `path` is one of `targets`, by peft's rule.
pub fn is_target(path: &str, targets: &[String]) -> bool {
    targets.iter().any(|target| {
        path == target
            || path
                .strip_suffix(target.as_str())
                .is_some_and(|head| head.ends_with('.'))
    })
}

/// A decoder block's projections, each under its module path in the hub's model, which is
/// the name peft's adapters carry.
pub(crate) trait BlockProjections {
    /// The module path of the blocks (`model.layers`).
    const LAYERS: &'static str;
    /// Each projection's path within a block, in the order the methods below give them.
    const PATHS: &'static [&'static str];

    fn projections(&self) -> Vec<&Projection>;

    fn projections_mut(&mut self) -> Vec<&mut Projection>;
}

/// Every projection of `blocks` under its full module path (`model.layers.0.self_attn.q_proj`).
pub(crate) fn named_projections<B: BlockProjections>(blocks: &[B]) -> Vec<(String, &Projection)> {
    (blocks.iter().enumerate())
        .flat_map(|(layer, block)| named(layer, block.projections(), B::LAYERS, B::PATHS))
        .collect()
}

pub(crate) fn named_projections_mut<B: BlockProjections>(
    blocks: &mut [B],
) -> Vec<(String, &mut Projection)> {
    (blocks.iter_mut().enumerate())
        .flat_map(|(layer, block)| named(layer, block.projections_mut(), B::LAYERS, B::PATHS))
        .collect()
}

fn named<T>(
    layer: usize,
    projections: Vec<T>,
    layers: &'static str,
    paths: &'static [&'static str],
) -> impl Iterator<Item = (String, T)> {
    (paths.iter().zip(projections)).map(move |(path, x)| (format!("{layers}.{layer}.{path}"), x))
}

/// A linear projection with an optional low-rank adapter.
#[derive(Module, Debug)]
pub struct Projection {
    pub base: Linear,
    pub adapter: Option<LoraAdapter>,
}

impl Projection {
    pub fn plain(base: Linear) -> Self {
        Self {
            base,
            adapter: None,
        }
    }

    pub fn inputs(&self) -> usize {
        self.base.weight.dims()[0]
    }

    pub fn outputs(&self) -> usize {
        self.base.weight.dims()[1]
    }

    /// Shapes: `x` is `[batch, positions, inputs]`; the result is
    /// `[batch, positions, outputs]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match &self.adapter {
            None => self.base.forward(x),
            Some(adapter) => self.base.forward(x.clone()) + adapter.forward(x),
        }
    }
}

/// The two factors of one adapter and how they apply.
#[derive(Module, Debug)]
pub struct LoraAdapter {
    /// peft's `lora_A`, held as `[inputs, rank]` (peft stores `[rank, inputs]`).
    pub down: Param<Tensor<2>>,
    /// peft's `lora_B`, held as `[rank, outputs]` (peft stores `[outputs, rank]`).
    pub up: Param<Tensor<2>>,
    /// `alpha / rank`.
    pub scale: f64,
    pub dropout: f64,
    /// The seed of this forward pass's dropout masks; `None` applies no dropout (sampling,
    /// evaluation, the reference computation).
    #[module(skip)]
    pub dropout_seed: Option<u64>,
    /// The module path it adapts, which also names its dropout stream.
    #[module(skip)]
    pub path: String,
}

impl LoraAdapter {
    /// A new adapter as peft initialises one: `A` uniform in `±1/sqrt(inputs)` (drawn by name
    /// from `seed`), `B` zero.
    pub fn initial(
        path: &str,
        [inputs, outputs]: [usize; 2],
        config: &LoraConfig,
        seed: u64,
        device: &Device,
    ) -> Self {
        let rank = config.rank;
        let bound = 1.0 / (inputs as f32).sqrt();
        let a_name = format!("{PEFT_PREFIX}{path}.lora_A.weight");
        let a = named_uniform(seed, &a_name, rank * inputs, bound, 0.0);
        let down = Tensor::<2>::from_data(TensorData::new(a, [rank, inputs]), device).transpose();
        let up = Tensor::zeros([rank, outputs], device);
        Self::from_factors(path, down, up, config)
    }

    /// An adapter with the given factors, held as `[inputs, rank]` and `[rank, outputs]`.
    pub fn from_factors(path: &str, down: Tensor<2>, up: Tensor<2>, config: &LoraConfig) -> Self {
        Self {
            down: Param::from_tensor(down),
            up: Param::from_tensor(up),
            scale: config.scale(),
            dropout: config.dropout,
            dropout_seed: None,
            path: path.to_string(),
        }
    }

    pub fn rank(&self) -> usize {
        self.down.dims()[1]
    }

    /// Shapes: `x` is `[batch, positions, inputs]`; the result is
    /// `[batch, positions, outputs]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, positions, inputs] = x.dims();
        let [_, outputs] = self.up.dims();
        let x = match self.dropout_seed {
            Some(seed) if self.dropout > 0.0 => {
                let mask = dropout_mask(seed, &self.path, x.dims(), self.dropout, &x.device());
                x * mask
            }
            _ => x,
        };
        let low = x
            .reshape([batch * positions, inputs])
            .matmul(self.down.val());
        (low.matmul(self.up.val()) * self.scale).reshape([batch, positions, outputs])
    }
}

/// Inverted dropout's mask for the adapter at `path`: each value is 0 with probability `p`
/// (where the draw `u`, uniform in [0, 1) from SplitMix64 seeded by `seed` and the path, is
/// below `p`) and `1 / (1 - p)` otherwise, drawn in row-major order.
///
/// Shapes: the result is `shape`.
// TODO: draw the masks on the device; uploading them costs a transfer of the adapter's input
// size per forward pass on a GPU.
pub fn dropout_mask(
    seed: u64,
    path: &str,
    shape: [usize; 3],
    p: f64,
    device: &Device,
) -> Tensor<3> {
    let mut numbers = SplitMix64::for_name(seed, path);
    let (p, kept) = (p as f32, 1.0 / (1.0 - p as f32));
    let values: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| match numbers.unit_f32() < p {
            true => 0.0,
            false => kept,
        })
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// `adapter_config.json` as peft writes and reads it, with the fields the lab sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeftAdapterConfig {
    pub peft_type: String,
    pub task_type: Option<String>,
    pub r: usize,
    pub lora_alpha: f64,
    #[serde(default)]
    pub lora_dropout: f64,
    pub target_modules: serde_json::Value,
    #[serde(default = "no_bias")]
    pub bias: String,
    /// True for GPT-2, whose `Conv1D` stores weights `[inputs, outputs]`; it affects only
    /// merging, never the factors' layout.
    #[serde(default)]
    pub fan_in_fan_out: bool,
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    #[serde(default)]
    pub inference_mode: bool,
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default)]
    pub use_dora: bool,
    #[serde(default)]
    pub modules_to_save: Option<serde_json::Value>,
}

fn no_bias() -> String {
    "none".into()
}

impl PeftAdapterConfig {
    pub fn new(config: &LoraConfig, model_type: &str, base_model: &str) -> Self {
        Self {
            peft_type: "LORA".into(),
            task_type: Some("CAUSAL_LM".into()),
            r: config.rank,
            lora_alpha: config.alpha,
            lora_dropout: config.dropout,
            target_modules: config.targets(model_type).into(),
            bias: no_bias(),
            fan_in_fan_out: model_type == "gpt2",
            base_model_name_or_path: Some(base_model.to_string()),
            inference_mode: true,
            use_rslora: false,
            use_dora: false,
            modules_to_save: None,
        }
    }

    /// Reads an `adapter_config.json`, refusing the variants the lab does not compute.
    pub fn from_json(text: &str) -> Result<Self, LabError> {
        let config: Self = serde_json::from_str(text).map_err(|error| {
            LabError::ModelConfig(format!("adapter_config.json cannot be read: {error}"))
        })?;
        let unsupported = [
            (config.peft_type != "LORA", "an adapter other than LoRA"),
            (config.use_rslora, "rank-stabilised scaling (use_rslora)"),
            (config.use_dora, "DoRA (use_dora)"),
            (
                config.bias != "none",
                "trained biases (bias other than none)",
            ),
            (
                config
                    .modules_to_save
                    .as_ref()
                    .is_some_and(|m| !m.is_null()),
                "modules_to_save",
            ),
        ];
        if let Some((_, what)) = unsupported.iter().find(|(found, _)| *found) {
            return Err(LabError::ModelConfig(format!(
                "the adapter uses {what}, which the lab does not implement; it loads plain LoRA \
                 adapters"
            )));
        }
        Ok(config)
    }

    /// The settings as the lab holds them.
    pub fn lora(&self) -> Result<LoraConfig, LabError> {
        let target_modules = match &self.target_modules {
            serde_json::Value::Array(targets) => (targets.iter())
                .map(|target| target.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>(),
            _ => None,
        }
        .ok_or_else(|| {
            LabError::ModelConfig(format!(
                "the adapter's target_modules is {}; the lab reads a list of module names \
                 (a regular expression is not supported)",
                self.target_modules
            ))
        })?;
        let config = LoraConfig {
            rank: self.r,
            alpha: self.lora_alpha,
            dropout: self.lora_dropout,
            target_modules,
        };
        config.validate()?;
        Ok(config)
    }
}

impl LanguageModel {
    /// The model with a fresh adapter on every targeted projection and every other parameter
    /// frozen. The adapters' `A` factors are drawn from `seed`.
    pub fn with_lora(self, config: &LoraConfig, seed: u64) -> Result<Self, LabError> {
        config.validate()?;
        let targets = config.targets(self.model_type());
        let mut model = self.no_grad();
        let device = model.parameter_device();
        let mut adapted = 0;
        for (path, projection) in model.projections_mut() {
            if is_target(&path, &targets) {
                let shape = [projection.inputs(), projection.outputs()];
                let adapter = LoraAdapter::initial(&path, shape, config, seed, &device);
                projection.adapter = Some(adapter);
                adapted += 1;
            }
        }
        model.check_targets_found(&targets, adapted)?;
        Ok(model)
    }

    /// The model with the adapter of a peft `adapter_config.json` and its weights
    /// (`adapter_model.safetensors`), its other parameters frozen. The factors stay trainable.
    pub fn load_adapter(
        self,
        config_json: &str,
        weights: &impl WeightSource,
    ) -> Result<Self, LabError> {
        let config = PeftAdapterConfig::from_json(config_json)?.lora()?;
        let targets = config.targets(self.model_type());
        let mut model = self.no_grad();
        let device = model.parameter_device();
        let mut adapted = 0;
        for (path, projection) in model.projections_mut() {
            if !is_target(&path, &targets) {
                continue;
            }
            let name = |factor: &str| format!("{PEFT_PREFIX}{path}.{factor}.weight");
            let (inputs, outputs, rank) = (projection.inputs(), projection.outputs(), config.rank);
            let down = transposed_matrix(weights, &name("lora_A"), [rank, inputs], &device)?;
            let up = transposed_matrix(weights, &name("lora_B"), [outputs, rank], &device)?;
            projection.adapter = Some(LoraAdapter::from_factors(&path, down, up, &config));
            adapted += 1;
        }
        model.check_targets_found(&targets, adapted)?;
        Ok(model)
    }

    fn check_targets_found(&self, targets: &[String], adapted: usize) -> Result<(), LabError> {
        let paths: Vec<String> = self.projections().into_iter().map(|(p, _)| p).collect();
        let missing = (targets.iter()).find(|target| {
            !paths
                .iter()
                .any(|path| is_target(path, &[target.to_string()]))
        });
        match (missing, adapted) {
            (None, 1..) => Ok(()),
            (missing, _) => Err(LabError::Config(format!(
                "the LoRA target {} names no projection of this {} model; its projections are \
                 named like {}",
                missing.map_or("list", String::as_str),
                self.model_type(),
                paths.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// The same network with every adapter switched off: the base weights are shared, not
    /// copied. With the base frozen, this is the reference model of LoRA fine-tuning.
    pub fn without_adapters(&self) -> Self {
        let mut model = self.clone();
        for (_, projection) in model.projections_mut() {
            projection.adapter = None;
        }
        model
    }

    /// Whether any projection carries an adapter.
    pub fn has_adapters(&self) -> bool {
        (self.projections().iter()).any(|(_, projection)| projection.adapter.is_some())
    }

    /// The model with adapter dropout drawn from `seed` in its next forward passes, or off
    /// with `None`.
    pub fn with_adapter_dropout(mut self, seed: Option<u64>) -> Self {
        for (_, projection) in self.projections_mut() {
            if let Some(adapter) = projection.adapter.as_mut() {
                adapter.dropout_seed = seed;
            }
        }
        self
    }

    /// The adapters' factors under peft's names and in its layout:
    /// `base_model.model.PATH.lora_A.weight` `[rank, inputs]` and `...lora_B.weight`
    /// `[outputs, rank]`.
    pub fn adapter_tensors(&self) -> Vec<CheckpointTensor> {
        let mut tensors = Vec::new();
        for (path, projection) in self.projections() {
            if let Some(adapter) = &projection.adapter {
                let name = |factor: &str| format!("{PEFT_PREFIX}{path}.{factor}.weight");
                let (down, up) = (adapter.down.val(), adapter.up.val());
                tensors.push(CheckpointTensor::new(
                    name("lora_A"),
                    HeldTensor::Transposed(down),
                ));
                tensors.push(CheckpointTensor::new(
                    name("lora_B"),
                    HeldTensor::Transposed(up),
                ));
            }
        }
        tensors
    }

    /// The adapters as peft's `adapter_model.safetensors` (float32).
    pub async fn adapter_safetensors(&self) -> Result<Vec<u8>, LabError> {
        let mut tensors = Vec::new();
        for tensor in self.adapter_tensors() {
            let shape = tensor.shape();
            let values = read(tensor.values()).await?;
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            tensors.push((tensor.name, shape, bytes));
        }
        if tensors.is_empty() {
            return Err(LabError::Config(
                "the model has no adapter to save (it was fine-tuned in full)".into(),
            ));
        }
        let views = (tensors.iter())
            .map(|(name, shape, bytes)| {
                let view = safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    shape.clone(),
                    bytes,
                );
                view.map(|view| (name.clone(), view))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| LabError::Execution(format!("cannot lay out the adapter: {error}")))?;
        let metadata = Some([("format".to_string(), "pt".to_string())].into());
        safetensors::serialize(views, metadata)
            .map_err(|error| LabError::Execution(format!("cannot write the adapter: {error}")))
    }

    fn parameter_device(&self) -> Device {
        let (_, projection) = self
            .projections()
            .into_iter()
            .next()
            .expect("a language model has projections");
        projection.base.weight.device()
    }
}
