//! The SuperHF lab's exports to the worker: SuperHF, PPO and best-of-N runs on the worker's
//! language model and reward models (`models.rs`) plus a held-out reward model of their own,
//! with a progress callback after every step; the trained adapter for download, and an adapter
//! loaded back onto the language model.
//!
//! A run returns what the command-line tool writes: the report (`report.json`), the metrics
//! as CSV and the samples as JSON Lines, from the same core code.

use super::models::{self, files_from_js};
use super::{ask_to_go_on, current_device, from_js, to_js};
use crate::LabError;
use crate::models::language_model::LanguageModel;
use crate::models::load::reward::TextReward;
use crate::models::load::{self, LoadedModel, ModelKind};
use crate::models::lora::{LoraConfig, PeftAdapterConfig};
use crate::models::weights::Weights;
use crate::progress::{Control, Progress, StepEvent};
use crate::superhf::config::{BestOfNConfig, FineTuning, Preset};
use crate::superhf::models::RunModels;
use crate::superhf::overrides::with_overrides;
use crate::superhf::ppo::ValueHead;
use crate::superhf::report::{ModelsUsed, SampleRecord, metrics_csv, samples_jsonl};
use crate::superhf::rollout::RewardScorer;
use crate::superhf::{best_of_n, ppo_train, train};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// A run's trained adapter (and PPO's value head), kept for download until the next run.
struct Trained {
    policy: LanguageModel,
    lora: LoraConfig,
    base: String,
    value_head: Option<ValueHead>,
}

#[derive(Default)]
struct Lab {
    heldout: Option<Rc<TextReward>>,
    trained: Option<Trained>,
}

thread_local! {
    static LAB: RefCell<Lab> = RefCell::new(Lab::default());
}

/// What the page asks for: the method, the preset and the settings it changes (in the shape
/// of the method's configuration), and the models' identities for the report.
#[derive(Deserialize)]
struct RunRequest {
    method: Method,
    preset: Preset,
    #[serde(default)]
    overrides: serde_json::Value,
    models: ModelsUsed,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum Method {
    Superhf,
    Ppo,
    BestOfN,
}

/// What a run gives back: the report and the files the tool writes beside it.
#[derive(Serialize)]
struct RunFiles<'a, R: Serialize> {
    report: &'a R,
    metrics_csv: String,
    samples_jsonl: String,
    /// Whether an adapter was trained, for download.
    adapter: bool,
}

/// Each preset's settings for each method, `{paper: {superhf, ppo, "best-of-n"}, ...}`: what
/// a run starts from before its overrides.
#[wasm_bindgen(js_name = alignmentPresets)]
pub fn alignment_presets() -> Result<JsValue, JsValue> {
    let presets: serde_json::Map<String, serde_json::Value> = (Preset::ALL.iter())
        .map(|preset| {
            let methods = serde_json::json!({
                "superhf": preset.config(),
                "ppo": preset.ppo_config(),
                "best-of-n": BestOfNConfig::from(preset.config()),
            });
            (preset.name().to_string(), methods)
        })
        .collect();
    Ok(as_json(&presets)?)
}

/// `value` as JSON text parsed by JavaScript: floats read as the tool writes them (an f32
/// setting of 0.95 stays 0.95 rather than its double 0.949999988...), so that the page's
/// report equals the tool's `report.json`.
fn as_json(value: &impl Serialize) -> Result<JsValue, LabError> {
    let text = serde_json::to_string(value).map_err(|error| {
        LabError::Execution(format!("cannot pass a result to the page: {error}"))
    })?;
    js_sys::JSON::parse(&text)
        .map_err(|_| LabError::Execution("the page cannot read the result".into()))
}

/// Builds the reward model that `files` make as the held-out one, which only measures.
#[wasm_bindgen(js_name = buildHeldoutReward)]
pub fn build_heldout_reward(files: js_sys::Map) -> Result<JsValue, JsValue> {
    let files = files_from_js(&files)?;
    LAB.with_borrow_mut(|lab| lab.heldout = None);
    let loaded = load::load(files, &current_device()?, Some(ModelKind::RewardModel))?;
    let summary = to_js(&loaded.summary)?;
    if let LoadedModel::Reward(reward) = loaded.model {
        LAB.with_borrow_mut(|lab| lab.heldout = Some(Rc::from(reward)));
    }
    Ok(summary)
}

/// Releases the held-out reward model.
#[wasm_bindgen(js_name = releaseHeldoutReward)]
pub fn release_heldout_reward() {
    LAB.with_borrow_mut(|lab| lab.heldout = None);
}

/// Runs SuperHF, PPO or best-of-N (`request`: `method` `superhf`, `ppo` or `best-of-n`,
/// `preset` `paper` or `sentiment`, `overrides` in the configuration's shape, `models` the
/// identities of the policy and reward models) on the worker's language model against its
/// reward model, measured also by the held-out one when it is built and named in `models`.
/// `progress(step)` is called after every step with its metrics and its samples, and returns
/// a promise of whether to go on. Returns `{report, metrics_csv, samples_jsonl, adapter}`; a run
/// that fails on the way returns its finished steps, with the status `failed` saying why.
#[wasm_bindgen(js_name = runAlignment)]
pub async fn run_alignment(
    request: JsValue,
    progress: js_sys::Function,
) -> Result<JsValue, JsValue> {
    let request: RunRequest = from_js(request)?;
    let device = current_device()?;
    let policy = models::policy()?;
    let reward = models::reward()?;
    let heldout = match request.models.heldout_reward.is_some() {
        true => Some(LAB.with_borrow(|lab| lab.heldout.clone()).ok_or_else(|| {
            LabError::Config("no held-out reward model is built: build one first".into())
        })?),
        false => None,
    };
    LAB.with_borrow_mut(|lab| lab.trained = None);
    let run_models = RunModels {
        policy: policy.model.clone(),
        tokenizer: &policy.tokenizer,
        reward: scorer(&reward, &device.device),
        heldout: (heldout.as_deref()).map(|heldout| scorer(heldout, &device.device)),
        used: request.models.clone(),
    };
    let base = request.models.policy.id.clone();
    let mut progress = StepProgress {
        callback: progress,
        samples: Vec::new(),
    };
    let overrides = &request.overrides;
    let files = match request.method {
        Method::Superhf => {
            let config = with_overrides(&request.preset.config(), overrides)?;
            let outcome = train::run(&device, config.clone(), run_models, &mut progress).await?;
            let trained = keep(outcome.policy, &config.fine_tuning, base, None);
            files(
                &outcome.report,
                &outcome.report.steps,
                samples_of(&outcome.report.result),
                trained,
            )
        }
        Method::Ppo => {
            let config = with_overrides(&request.preset.ppo_config(), overrides)?;
            let outcome =
                ppo_train::run(&device, config.clone(), run_models, &mut progress).await?;
            let (policy, value_head) = (outcome.model.policy, outcome.model.value_head);
            let trained = keep(policy, &config.fine_tuning, base, Some(value_head));
            files(
                &outcome.report,
                &outcome.report.steps,
                samples_of(&outcome.report.result),
                trained,
            )
        }
        Method::BestOfN => {
            let superhf = with_overrides(&request.preset.config(), overrides)?;
            let config = BestOfNConfig::from(superhf);
            let outcome = best_of_n::run(&device, config, run_models, &mut progress).await?;
            files(
                &outcome.report,
                &outcome.report.steps,
                samples_of(&outcome.report.result),
                false,
            )
        }
    };
    Ok(files?)
}

fn scorer<'a>(reward: &'a TextReward, device: &burn::tensor::Device) -> RewardScorer<'a> {
    RewardScorer::new(&reward.model, reward.tokenizer(), device)
}

/// The samples of a result that has them.
fn samples_of<R: HasSamples>(result: &Option<R>) -> &[SampleRecord] {
    result.as_ref().map_or(&[][..], HasSamples::samples)
}

trait HasSamples {
    fn samples(&self) -> &[SampleRecord];
}

macro_rules! has_samples {
    ($($result:ty),*) => {
        $(impl HasSamples for $result {
            fn samples(&self) -> &[SampleRecord] {
                &self.samples
            }
        })*
    };
}

has_samples!(
    crate::superhf::report::SuperHfResult,
    crate::superhf::report::PpoResult,
    crate::superhf::report::BestOfNResult
);

fn files<R: Serialize>(
    report: &R,
    steps: &[StepEvent],
    samples: &[SampleRecord],
    adapter: bool,
) -> Result<JsValue, LabError> {
    as_json(&RunFiles {
        report,
        metrics_csv: metrics_csv(steps),
        samples_jsonl: samples_jsonl(samples),
        adapter,
    })
}

/// Keeps a LoRA-trained policy for download; returns whether it did.
// TODO: offer a fully fine-tuned policy's weights too (the presets fine-tune with LoRA).
fn keep(
    policy: LanguageModel,
    fine_tuning: &FineTuning,
    base: String,
    value_head: Option<ValueHead>,
) -> bool {
    let FineTuning::Lora(lora) = fine_tuning else {
        return false;
    };
    let trained = Trained {
        policy,
        lora: lora.clone(),
        base,
        value_head,
    };
    LAB.with_borrow_mut(|lab| lab.trained = Some(trained));
    true
}

/// The last run's adapter in peft's layout: `{adapter_model, adapter_config, value_head}`
/// (the bytes of `adapter_model.safetensors`, the text of `adapter_config.json`, and for PPO
/// the bytes of `value_head.safetensors` under trl's names, else `null`).
#[wasm_bindgen(js_name = trainedAdapter)]
pub async fn trained_adapter() -> Result<JsValue, JsValue> {
    let trained = LAB.with_borrow(|lab| {
        (lab.trained.as_ref()).map(|t| {
            (
                t.policy.clone(),
                t.lora.clone(),
                t.base.clone(),
                t.value_head.clone(),
            )
        })
    });
    let (policy, lora, base, value_head) =
        trained.ok_or_else(|| LabError::Config("no run has trained an adapter yet".into()))?;
    let adapter_model = policy.adapter_safetensors().await?;
    let config = PeftAdapterConfig::new(&lora, policy.model_type(), &base);
    let adapter_config = serde_json::to_string_pretty(&config).map_err(|error| {
        LabError::Execution(format!("cannot write the adapter's settings: {error}"))
    })?;
    let value_head = match value_head {
        Some(head) => JsValue::from(js_sys::Uint8Array::from(&head.safetensors().await?[..])),
        None => JsValue::NULL,
    };
    let answer = js_sys::Object::new();
    let set = |name: &str, value: &JsValue| js_sys::Reflect::set(&answer, &name.into(), value);
    set(
        "adapter_model",
        &js_sys::Uint8Array::from(&adapter_model[..]).into(),
    )?;
    set("adapter_config", &adapter_config.into())?;
    set("value_head", &value_head)?;
    Ok(answer.into())
}

/// Loads a peft adapter (`adapter_config.json`'s text and `adapter_model.safetensors`' bytes)
/// onto the worker's language model, in place of any it carries; the next run trains it on.
#[wasm_bindgen(js_name = loadAdapter)]
pub fn load_adapter(config_json: &str, weights: Vec<u8>) -> Result<(), JsValue> {
    let policy = models::policy()?;
    let weights = Weights::from_safetensors("adapter_model.safetensors", weights)?;
    let model = policy
        .model
        .without_adapters()
        .load_adapter(config_json, &weights)?;
    models::replace_policy(crate::models::load::policy::Policy {
        model,
        ..(*policy).clone()
    });
    Ok(())
}

/// Reports each step with its samples to the page and asks whether to go on.
struct StepProgress {
    callback: js_sys::Function,
    samples: Vec<serde_json::Value>,
}

#[derive(Serialize)]
struct StepWithSamples<'a> {
    #[serde(flatten)]
    event: &'a StepEvent,
    samples: &'a [serde_json::Value],
}

impl Progress for StepProgress {
    async fn step(&mut self, event: &StepEvent) -> Control {
        let samples = std::mem::take(&mut self.samples);
        let step = StepWithSamples {
            event,
            samples: &samples,
        };
        ask_to_go_on(&self.callback, &step).await
    }

    fn detail(&mut self, detail: &(impl Serialize + ?Sized)) {
        self.samples = match serde_json::to_value(detail) {
            Ok(serde_json::Value::Array(samples)) => samples,
            _ => Vec::new(),
        };
    }
}
