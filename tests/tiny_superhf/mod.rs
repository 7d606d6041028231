//! Shared by the SuperHF run tests (`tests/superhf.rs`, `tests/superhf_cli.rs`): a tiny Llama
//! policy and tiny BERT reward models over one word-level vocabulary, their weights drawn with
//! `named_uniform` under their checkpoint names, written as the hub's files (`config.json`,
//! `tokenizer.json`, `model.safetensors`) when a test needs folders.
#![allow(dead_code)]

use std::path::Path;

use burn::tensor::Device;
use superlab::device::LabDevice;
use superlab::models::encoder::reward::EncoderReward;
use superlab::models::language_model::LanguageModel;
use superlab::models::tokenizer::Tokenizer;
use superlab::superhf::config::{
    FineTuning, PpoRunConfig, RolloutConfig, SuperHfConfig, TokenBudget,
};
use superlab::superhf::models::RunModels;
use superlab::superhf::ppo::PpoConfig;
use superlab::superhf::prompts::PromptSet;
use superlab::superhf::report::{ModelIdentity, ModelsUsed};
use superlab::superhf::rollout::RewardScorer;

use crate::common::{WeightSpec, safetensors_from_spec, weights_from_spec};

/// Special tokens first, under the names the lab recognises (`[PAD]`, `[UNK]`, `</s>`), then
/// the turn markers of the chat frame, then plain words.
const SPECIAL: [&str; 3] = ["[PAD]", "[UNK]", "</s>"];
const WORDS: &str = "Human: Assistant: the a an it this that I you we they he she is was are \
    were be been good bad happy sad great terrible nice awful love hate like movie food dog cat \
    day night sun rain tree house friend music book game very not really so and but or today \
    tomorrow yesterday always never warm cold fun boring bright dark quick slow";

pub const POLICY_SEED: u64 = 41;
pub const REWARD_SEED: u64 = 42;
pub const HELDOUT_SEED: u64 = 43;

fn words() -> Vec<&'static str> {
    SPECIAL
        .into_iter()
        .chain(WORDS.split_whitespace())
        .collect()
}

pub fn vocab_size() -> usize {
    words().len()
}

/// A word-level `tokenizer.json`: whitespace splits words, unknown ones become `[UNK]`, and
/// decoding joins words with spaces.
pub fn tokenizer_json() -> String {
    let words = words();
    let vocab: serde_json::Map<String, serde_json::Value> = (words.iter().enumerate())
        .map(|(id, word)| (word.to_string(), id.into()))
        .collect();
    let added: Vec<serde_json::Value> = (SPECIAL.iter().enumerate())
        .map(|(id, token)| {
            serde_json::json!({"id": id, "content": token, "single_word": false,
                "lstrip": false, "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    })
    .to_string()
}

pub fn tokenizer() -> Tokenizer {
    Tokenizer::from_json_bytes(tokenizer_json().as_bytes()).expect("the tokenizer builds")
}

pub fn policy_config() -> serde_json::Value {
    serde_json::json!({
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": vocab_size(),
        "hidden_size": 32,
        "intermediate_size": 48,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 64,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": true
    })
}

fn spec(name: String, shape: Vec<usize>, scale: f32, offset: f32) -> WeightSpec {
    WeightSpec {
        name,
        shape,
        scale,
        offset,
    }
}

/// A matrix stored `[outputs, inputs]`, scaled by its fan-in.
fn matrix(name: String, outputs: usize, inputs: usize) -> WeightSpec {
    spec(
        name,
        vec![outputs, inputs],
        2.0 / (inputs as f32).sqrt(),
        0.0,
    )
}

pub fn policy_spec() -> Vec<WeightSpec> {
    let (vocab, width, inner, head_dim) = (vocab_size(), 32, 48, 8);
    let mut specs = vec![spec(
        "model.embed_tokens.weight".into(),
        vec![vocab, width],
        0.5,
        0.0,
    )];
    for layer in 0..2 {
        let name = |part: &str| format!("model.layers.{layer}.{part}");
        specs.extend([
            spec(name("input_layernorm.weight"), vec![width], 0.1, 1.0),
            matrix(name("self_attn.q_proj.weight"), 4 * head_dim, width),
            matrix(name("self_attn.k_proj.weight"), 2 * head_dim, width),
            matrix(name("self_attn.v_proj.weight"), 2 * head_dim, width),
            matrix(name("self_attn.o_proj.weight"), width, 4 * head_dim),
            spec(
                name("post_attention_layernorm.weight"),
                vec![width],
                0.1,
                1.0,
            ),
            matrix(name("mlp.gate_proj.weight"), inner, width),
            matrix(name("mlp.up_proj.weight"), inner, width),
            matrix(name("mlp.down_proj.weight"), width, inner),
        ]);
    }
    specs.push(spec("model.norm.weight".into(), vec![width], 0.1, 1.0));
    specs
}

pub fn policy(device: &Device) -> LanguageModel {
    let weights = weights_from_spec(POLICY_SEED, &policy_spec());
    LanguageModel::from_hub(&policy_config().to_string(), &weights, device)
        .expect("the tiny policy loads")
}

/// A BERT encoder without a task head (`BertModel`), which the lab reads as a reward model
/// with a scalar head on the mean of its hidden states (`reward_head`).
pub fn reward_config() -> serde_json::Value {
    serde_json::json!({
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": vocab_size(),
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "max_position_embeddings": 128,
        "type_vocab_size": 2
    })
}

pub fn reward_spec() -> Vec<WeightSpec> {
    let (vocab, width, inner) = (vocab_size(), 16, 32);
    let vector =
        |name: String, len: usize, scale: f32, offset: f32| spec(name, vec![len], scale, offset);
    let mut specs = vec![
        spec(
            "embeddings.word_embeddings.weight".into(),
            vec![vocab, width],
            1.0,
            0.0,
        ),
        spec(
            "embeddings.position_embeddings.weight".into(),
            vec![128, width],
            0.1,
            0.0,
        ),
        spec(
            "embeddings.token_type_embeddings.weight".into(),
            vec![2, width],
            0.1,
            0.0,
        ),
        vector("embeddings.LayerNorm.weight".into(), width, 0.1, 1.0),
        vector("embeddings.LayerNorm.bias".into(), width, 0.1, 0.0),
    ];
    let name = |part: &str| format!("encoder.layer.0.{part}");
    for part in [
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
    ] {
        specs.push(matrix(name(&format!("{part}.weight")), width, width));
        specs.push(vector(name(&format!("{part}.bias")), width, 0.05, 0.0));
    }
    specs.extend([
        matrix(name("attention.output.dense.weight"), width, width),
        vector(name("attention.output.dense.bias"), width, 0.05, 0.0),
        vector(name("attention.output.LayerNorm.weight"), width, 0.1, 1.0),
        vector(name("attention.output.LayerNorm.bias"), width, 0.1, 0.0),
        matrix(name("intermediate.dense.weight"), inner, width),
        vector(name("intermediate.dense.bias"), inner, 0.05, 0.0),
        matrix(name("output.dense.weight"), width, inner),
        vector(name("output.dense.bias"), width, 0.05, 0.0),
        vector(name("output.LayerNorm.weight"), width, 0.1, 1.0),
        vector(name("output.LayerNorm.bias"), width, 0.1, 0.0),
        spec("reward_head.weight".into(), vec![1, width], 1.0, 0.0),
        spec("reward_head.bias".into(), vec![1], 0.0, 0.0),
    ]);
    specs
}

/// The reward model drawn from `seed` (the training one or the held-out one).
pub fn reward_model(seed: u64, device: &Device) -> EncoderReward {
    let weights = weights_from_spec(seed, &reward_spec());
    EncoderReward::from_hub(&reward_config().to_string(), &weights, device)
        .expect("the tiny reward model loads")
}

/// Prompts in the tiny vocabulary.
pub fn prompts() -> Vec<String> {
    [
        "the movie was",
        "my friend and I",
        "today the sun is",
        "the food at the house",
        "we love music but",
        "a dog and a cat",
    ]
    .map(str::to_string)
    .to_vec()
}

/// A short run of the tiny models: the reference's method with LoRA, in the chat frame, cut
/// at the frame's own turn markers (word-level decoding has no newlines).
pub fn config(steps: usize, seed: u64) -> SuperHfConfig {
    SuperHfConfig {
        preset: None,
        prompts: PromptSet::Custom(prompts()),
        rollout: RolloutConfig {
            prompts_per_step: 2,
            completions_per_prompt: 8,
            new_tokens: TokenBudget { min: 6, max: 10 },
            turn_markers: vec!["Human:".into(), "Assistant:".into()],
            score_batch_size: 8,
            ..RolloutConfig::default()
        },
        keep_top: 1,
        kl_coefficient: 0.35,
        learning_rate: 2e-2,
        warmup_steps: 2,
        weight_decay: 0.01,
        minibatch_size: 2,
        fine_tuning: FineTuning::default(),
        steps,
        seed,
    }
}

/// PPO on the same tiny task as [`config`]: batches of 2 prompts x 8 completions as the
/// presets have them, PPO's settings as the reference has them, and a learning rate for a run
/// of a few dozen steps.
pub fn ppo_config(steps: usize, seed: u64) -> PpoRunConfig {
    let superhf = config(steps, seed);
    PpoRunConfig {
        preset: None,
        prompts: superhf.prompts,
        rollout: RolloutConfig {
            completions_per_prompt: 8,
            ..superhf.rollout
        },
        ppo: PpoConfig {
            learning_rate: 3e-3,
            ..PpoConfig::default()
        },
        fine_tuning: superhf.fine_tuning,
        steps,
        seed,
    }
}

/// The tiny policy, tokenizer and both reward models on one device, as a run takes them.
pub struct TinyModels {
    pub device: LabDevice,
    pub tokenizer: Tokenizer,
    pub reward: EncoderReward,
    pub heldout: EncoderReward,
}

impl TinyModels {
    pub fn new(device: LabDevice) -> Self {
        Self {
            tokenizer: tokenizer(),
            reward: reward_model(REWARD_SEED, &device.device),
            heldout: reward_model(HELDOUT_SEED, &device.device),
            device,
        }
    }

    /// A fresh policy and the reward models, with and without the held-out one.
    pub fn models(&self, with_heldout: bool) -> RunModels<'_> {
        let identity = |id: &str| ModelIdentity {
            id: id.into(),
            files: Vec::new(),
        };
        let scorer = |model| RewardScorer::new(model, &self.tokenizer, &self.device.device);
        RunModels {
            policy: policy(&self.device.device),
            tokenizer: &self.tokenizer,
            reward: scorer(&self.reward),
            heldout: with_heldout.then(|| scorer(&self.heldout)),
            used: ModelsUsed {
                policy: identity("tiny-llama"),
                reward: identity("tiny-bert-train"),
                heldout_reward: with_heldout.then(|| identity("tiny-bert-heldout")),
            },
        }
    }
}

/// Writes `config.json`, `tokenizer.json` and `model.safetensors` into `folder`.
fn write_folder(folder: &Path, config: &serde_json::Value, seed: u64, spec: &[WeightSpec]) {
    std::fs::create_dir_all(folder).unwrap();
    std::fs::write(folder.join("config.json"), config.to_string()).unwrap();
    std::fs::write(folder.join("tokenizer.json"), tokenizer_json()).unwrap();
    std::fs::write(
        folder.join("model.safetensors"),
        safetensors_from_spec(seed, spec),
    )
    .unwrap();
}

pub fn write_policy_folder(folder: &Path) {
    write_folder(folder, &policy_config(), POLICY_SEED, &policy_spec());
}

pub fn write_reward_folder(folder: &Path, seed: u64) {
    write_folder(folder, &reward_config(), seed, &reward_spec());
}
