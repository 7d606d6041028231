//! LoRA adapters on tiny Llama, GPT-2 and GPT-NeoX models against transformers + peft
//! (`tests/oracle/lora.py`, fixture `tests/fixtures/lora.json`): logits with the adapter and
//! with it switched off, SuperHF's loss through the model (cross-entropy of the completion
//! tokens plus `KL(p_ref || p_policy)`, the reference being the same network without its
//! adapter) and the loss's gradients with respect to every LoRA factor, without and with
//! dropout (the oracle replaces peft's dropout with the lab's SplitMix64 masks); the layout
//! peft saves adapters in; and an adapter trained and saved here, loaded by peft itself
//! (`lora.py --logits`, run in the oracle environment) to the same logits.
//!
//! Tolerance: 1e-4, absolute, as for the models themselves (`tests/causal_lm/mod.rs`): both
//! sides compute in f32 and differ by summation order only, near 1e-6 on logits of size 1-10
//! and on gradients below 1.

mod causal_lm;
mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use causal_lm::read;
use common::{WeightSpec, assert_close, cache_dir, fixture, weights_from_spec};
use serde::Deserialize;
use superlab::models::CausalLm;
use superlab::models::generate::tokens_tensor;
use superlab::models::language_model::LanguageModel;
use superlab::models::lora::{LoraConfig, PeftAdapterConfig};
use superlab::models::weights::Weights;
use superlab::superhf::finetune::{Example, TrainingBatch, minibatch_loss};

const TOLERANCE: f64 = 1e-4;

#[derive(Deserialize)]
struct Fixture {
    seed: u64,
    rank: usize,
    alpha: f64,
    kl_coefficient: f64,
    cases: BTreeMap<String, Case>,
}

#[derive(Deserialize)]
struct Case {
    config: serde_json::Value,
    weights: Vec<WeightSpec>,
    adapter: Vec<WeightSpec>,
    tokens: Vec<Vec<u32>>,
    /// `[batch, positions - 1]`: 1 where the next token is a completion token.
    mask: Vec<Vec<f32>>,
    logits_policy: Vec<f64>,
    logits_reference: Vec<f64>,
    loss: LossTerms,
    gradients: BTreeMap<String, Vec<f64>>,
    dropout: Dropout,
    saved: Saved,
}

#[derive(Deserialize)]
struct LossTerms {
    cross_entropy: f64,
    kl: f64,
    total: f64,
}

#[derive(Deserialize)]
struct Dropout {
    seed: u64,
    p: f64,
    loss: LossTerms,
    gradients: BTreeMap<String, Vec<f64>>,
}

/// What peft's `save_pretrained` wrote.
#[derive(Deserialize)]
struct Saved {
    tensors: BTreeMap<String, Vec<usize>>,
    config: SavedConfig,
}

#[derive(Deserialize, Debug, PartialEq)]
struct SavedConfig {
    peft_type: String,
    task_type: String,
    r: usize,
    lora_alpha: f64,
    bias: String,
    fan_in_fan_out: bool,
    target_modules: Vec<String>,
}

impl Fixture {
    fn lora(&self, case: &Case, dropout: f64) -> LoraConfig {
        LoraConfig {
            rank: self.rank,
            alpha: self.alpha,
            dropout,
            target_modules: case.saved.config.target_modules.clone(),
        }
    }

    fn base(&self, case: &Case, device: &Device) -> LanguageModel {
        let weights = weights_from_spec(self.seed, &case.weights);
        LanguageModel::from_hub(&case.config.to_string(), &weights, device).expect("the base loads")
    }

    /// The base model with the oracle's adapter, loaded through peft's file layout.
    fn adapted(&self, case: &Case, dropout: f64, device: &Device) -> LanguageModel {
        let model = self.base(case, device);
        let config = PeftAdapterConfig::new(&self.lora(case, dropout), model.model_type(), "");
        let json = serde_json::to_string(&config).unwrap();
        let adapter = weights_from_spec(self.seed, &case.adapter);
        model
            .load_adapter(&json, &adapter)
            .expect("the adapter loads")
    }
}

impl Case {
    fn tokens(&self, device: &Device) -> burn::tensor::Tensor<2, burn::tensor::Int> {
        tokens_tensor(&self.tokens, device)
    }

    /// Each row as a training example: the prompt up to the first masked target, the
    /// sequence up to the last.
    fn examples(&self) -> Vec<Example> {
        (self.tokens.iter().zip(&self.mask))
            .map(|(tokens, mask)| {
                let first = mask.iter().position(|&m| m == 1.0).unwrap();
                let last = mask.iter().rposition(|&m| m == 1.0).unwrap();
                Example {
                    tokens: tokens[..last + 2].to_vec(),
                    prompt_len: first + 1,
                }
            })
            .collect()
    }
}

fn values(tensor: burn::tensor::Tensor<1>) -> f32 {
    read(tensor)[0]
}

#[test]
fn logits_with_and_without_the_adapter_match_peft() {
    let f: Fixture = fixture("lora");
    let device = Device::flex();
    for (name, case) in &f.cases {
        let model = f.adapted(case, 0.0, &device);
        let logits = model.logits(case.tokens(&device));
        assert_close(
            &format!("{name}: logits with the adapter"),
            &read(logits),
            &case.logits_policy,
            TOLERANCE,
            false,
        );
        let reference = model.without_adapters().logits(case.tokens(&device));
        assert_close(
            &format!("{name}: logits with the adapter switched off"),
            &read(reference),
            &case.logits_reference,
            TOLERANCE,
            false,
        );
        let (with, without) = (&case.logits_policy, &case.logits_reference);
        let moved = (with.iter().zip(without)).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(moved > 0.05, "{name}: the adapter must change the logits");
    }
}

/// SuperHF's loss of the fixture's sequences through the lab's training batch, and its
/// gradients with respect to the adapters; the frozen base receives none.
fn check_loss_and_gradients(f: &Fixture, name: &str, case: &Case, dropout: Option<&Dropout>) {
    let device = Device::flex().autodiff();
    let p = dropout.map_or(0.0, |d| d.p);
    let model = f.adapted(case, p, &device);
    let reference = model.without_adapters();
    let policy = model.with_adapter_dropout(dropout.map(|d| d.seed));
    let batch = TrainingBatch::new(&case.examples(), &device).unwrap();
    let loss = minibatch_loss(&policy, &reference, &batch, f.kl_coefficient);
    let (want, want_gradients) = match dropout {
        None => (&case.loss, &case.gradients),
        Some(dropout) => (&dropout.loss, &dropout.gradients),
    };
    let what = format!(
        "{name}{}",
        if dropout.is_some() {
            " with dropout"
        } else {
            ""
        }
    );
    let got = [&loss.cross_entropy, &loss.kl, &loss.total].map(|t| values(t.clone()));
    assert_close(
        &format!("{what}: cross-entropy, KL, total"),
        &got,
        &[want.cross_entropy, want.kl, want.total],
        TOLERANCE,
        false,
    );
    let gradients = loss.total.backward();
    let adapters = policy.adapter_tensors();
    assert_eq!(
        adapters.len(),
        want_gradients.len(),
        "{what}: one tensor per factor"
    );
    for tensor in &adapters {
        let gradient = tensor
            .gradient(&gradients)
            .unwrap_or_else(|| panic!("{what}: no gradient reached {}", tensor.name));
        let want = &want_gradients[&tensor.name];
        assert!(
            want.iter().any(|v| v.abs() > 1e-4),
            "{}: a real gradient",
            tensor.name
        );
        assert_close(
            &format!("{what}: gradient of {}", tensor.name),
            &read(gradient),
            want,
            TOLERANCE,
            false,
        );
    }
    for tensor in policy.checkpoint_parameters() {
        assert!(
            tensor.gradient(&gradients).is_none(),
            "{what}: the frozen base weight {} received a gradient",
            tensor.name
        );
    }
}

#[test]
fn superhf_loss_and_lora_gradients_match_peft() {
    let f: Fixture = fixture("lora");
    for (name, case) in &f.cases {
        check_loss_and_gradients(&f, name, case, None);
    }
}

#[test]
fn lora_gradients_with_dropout_match_peft_with_the_same_masks() {
    let f: Fixture = fixture("lora");
    for (name, case) in &f.cases {
        check_loss_and_gradients(&f, name, case, Some(&case.dropout));
        let moved = (case.dropout.loss.total - case.loss.total).abs();
        assert!(moved > 1e-3, "{name}: dropout must change the loss");
    }
}

/// New adapters start as peft's: `A` within `±1/sqrt(inputs)`, `B` zero, so the model's
/// logits are exactly the base's; by default they go where peft puts them.
#[test]
fn new_adapters_start_at_the_base_model() {
    let f: Fixture = fixture("lora");
    let device = Device::flex();
    for (name, case) in &f.cases {
        let base = f.base(case, &device);
        let want = read(base.logits(case.tokens(&device)));
        let adapted = f
            .base(case, &device)
            .with_lora(&LoraConfig::default(), 5)
            .unwrap();
        assert_eq!(read(adapted.logits(case.tokens(&device))), want, "{name}");
        let mut names: Vec<String> = (adapted.adapter_tensors().into_iter())
            .map(|tensor| tensor.name)
            .collect();
        names.sort();
        let saved: Vec<String> = case.saved.tensors.keys().cloned().collect();
        assert_eq!(names, saved, "{name}: the default targets are peft's");
        for tensor in adapted.adapter_tensors() {
            let values = read(tensor.values());
            let shape = tensor.shape();
            if tensor.name.contains("lora_B") {
                assert!(values.iter().all(|&v| v == 0.0), "{}", tensor.name);
            } else {
                let bound = 1.0 / (shape[1] as f32).sqrt();
                let largest = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                assert!(largest <= bound && largest > 0.8 * bound, "{}", tensor.name);
            }
        }
    }
}

#[test]
fn targets_follow_peft_matching_and_unknown_ones_are_refused() {
    let f: Fixture = fixture("lora");
    let case = &f.cases["llama"];
    let device = Device::flex();
    let config = LoraConfig {
        target_modules: vec!["o_proj".into(), "mlp.down_proj".into()],
        ..LoraConfig::default()
    };
    let adapted = f.base(case, &device).with_lora(&config, 1).unwrap();
    let names: Vec<String> = adapted
        .adapter_tensors()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(
        names.len(),
        2 * 2 * 2,
        "two projections in each of two layers, two factors"
    );
    assert!(
        names
            .iter()
            .all(|n| n.contains("o_proj") || n.contains("down_proj"))
    );

    let typo = LoraConfig {
        target_modules: vec!["q_proj".into(), "v_prj".into()],
        ..LoraConfig::default()
    };
    let error = f.base(case, &device).with_lora(&typo, 1).err().unwrap();
    println!("{error}");
    assert!(error.to_string().contains("v_prj"));
    let partial = LoraConfig {
        target_modules: vec!["proj".into()],
        ..LoraConfig::default()
    };
    assert!(
        f.base(case, &device).with_lora(&partial, 1).is_err(),
        "peft matches whole parts"
    );
}

/// The exported file has the names, shapes and configuration peft's own `save_pretrained`
/// writes, and loads back here to the same logits.
#[test]
fn exported_adapters_have_peft_layout_and_load_back() {
    let f: Fixture = fixture("lora");
    let device = Device::flex();
    for (name, case) in &f.cases {
        let model = f.adapted(case, 0.0, &device);
        let bytes = pollster::block_on(model.adapter_safetensors()).unwrap();
        let weights = Weights::from_safetensors("adapter_model.safetensors", bytes).unwrap();
        let shapes: BTreeMap<String, Vec<usize>> = (weights.names().into_iter())
            .map(|n| {
                let shape = superlab::models::weights::WeightSource::read_f32(&weights, &n)
                    .unwrap()
                    .1;
                (n, shape)
            })
            .collect();
        assert_eq!(
            shapes, case.saved.tensors,
            "{name}: tensor names and shapes"
        );
        let config = PeftAdapterConfig::new(&f.lora(case, 0.0), model.model_type(), "base");
        let json = serde_json::to_string(&config).unwrap();
        let mut written: SavedConfig = serde_json::from_str(&json).unwrap();
        written.target_modules.sort();
        assert_eq!(written, case.saved.config, "{name}: adapter_config.json");
        let reloaded = f.base(case, &device).load_adapter(&json, &weights).unwrap();
        let want = read(model.logits(case.tokens(&device)));
        assert_eq!(read(reloaded.logits(case.tokens(&device))), want, "{name}");
    }
}

fn oracle_python() -> PathBuf {
    let python = cache_dir().join("oracle-venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing; scripts/test creates the oracle environment",
        python.display()
    );
    python
}

/// An adapter trained here for a few steps, saved, and loaded by peft into transformers' model:
/// peft computes the logits this model computes.
#[test]
fn a_trained_adapter_loads_in_peft() {
    let f: Fixture = fixture("lora");
    let device = Device::flex().autodiff();
    for (name, case) in &f.cases {
        let lora = f.lora(case, 0.0);
        let mut model = f.base(case, &device).with_lora(&lora, 9).unwrap();
        let reference = model.without_adapters();
        let batch = TrainingBatch::new(&case.examples(), &device).unwrap();
        let mut optimizer = AdamConfig::new().init();
        for _ in 0..3 {
            let loss = minibatch_loss(&model, &reference, &batch, f.kl_coefficient);
            let gradients = GradientsParams::from_grads(loss.total.backward(), &model);
            model = optimizer.step(1e-2, model, gradients);
        }
        let folder = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("lora-{name}"));
        std::fs::create_dir_all(&folder).unwrap();
        let bytes = pollster::block_on(model.adapter_safetensors()).unwrap();
        std::fs::write(folder.join("adapter_model.safetensors"), bytes).unwrap();
        let config = PeftAdapterConfig::new(&lora, model.model_type(), "tiny");
        let json = serde_json::to_string_pretty(&config).unwrap();
        std::fs::write(folder.join("adapter_config.json"), json).unwrap();

        let oracle = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/lora.py");
        let output = std::process::Command::new(oracle_python())
            .arg(&oracle)
            .args(["--logits", name])
            .arg(&folder)
            .output()
            .expect("the oracle runs");
        assert!(
            output.status.success(),
            "peft could not load the adapter: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        #[derive(Deserialize)]
        struct Logits {
            logits: Vec<f64>,
        }
        let peft: Logits = serde_json::from_slice(&output.stdout).unwrap();
        let ours = read(model.valid().logits(case.tokens(&Device::flex())));
        assert_close(
            &format!("{name}: logits of the trained adapter, here and in peft"),
            &ours,
            &peft.logits,
            TOLERANCE,
            false,
        );
        let base = read(reference.logits(case.tokens(&device)));
        let moved = (base.iter().zip(&ours)).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            moved > 0.01,
            "{name}: training must move the logits ({moved})"
        );
    }
}
