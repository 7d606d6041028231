//! `superlab superhf` and `superlab best-of-n` (and, in `ppo.rs`, `superlab ppo`): a run from a
//! preset, on the default models or models named by path, written to a folder:
//!
//! - `report.json`: the run report (configuration, seed, models with the SHA-256 of each file,
//!   device and backend, status, per-step metrics, the per-step series and the samples);
//! - `samples.jsonl`: one sampled completion per line with its rewards;
//! - `metrics.csv`: one line per step;
//! - `adapter/` (SuperHF with LoRA): `adapter_model.safetensors` and `adapter_config.json` in
//!   peft's layout, which `PeftModel.from_pretrained` loads.
//!
//! The files are written also when the run stops early or fails; a failed run then exits with
//! its error.

use super::files::{self, create_folder, write};
use super::{LogSteps, to_json};
use burn::tensor::Device;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use superlab::LabError;
use superlab::device::{BackendChoice, LabDevice};
use superlab::models::language_model::LanguageModel;
use superlab::models::load::defaults::{DEFAULT, DEFAULT_HELDOUT};
use superlab::models::load::policy::Policy;
use superlab::models::load::reward::TextReward;
use superlab::models::load::{LoadedModel, ModelKind};
use superlab::models::lora::{LoraConfig, PeftAdapterConfig};
use superlab::models::tokenizer::Tokenizer;
use superlab::report::RunReport;
use superlab::superhf::config::{BestOfNConfig, FineTuning, PpoRunConfig, Preset, SuperHfConfig};
use superlab::superhf::models::RunModels;
use superlab::superhf::report::{
    FileDigest, ModelIdentity, ModelsUsed, SampleRecord, metrics_csv, samples_jsonl,
};
use superlab::superhf::rollout::RewardScorer;
use superlab::superhf::{best_of_n, train};

/// What --heldout-reward-model takes for a run without a held-out reward.
const NO_MODEL: &str = "none";

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The settings to start from: `paper` (chat prompts, the reference's method) or
    /// `sentiment` (story openings continued as plain text); PPO takes its own settings on the
    /// same prompts and sampling.
    #[arg(long)]
    pub preset: Preset,
    /// Overrides the preset's number of steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Overrides the preset's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, default_value = "auto")]
    pub backend: BackendChoice,
    /// The policy: `default` (SmolLM2-135M-Instruct from the asset cache), a folder with
    /// config.json, tokenizer.json and *.safetensors, or a .gguf file.
    #[arg(long, default_value = DEFAULT)]
    pub policy: String,
    /// The training reward model: `default` (the lab's sentiment reward on all-MiniLM-L6-v2)
    /// or a folder with config.json, tokenizer.json and *.safetensors (a BERT or DistilBERT
    /// classifier, or an encoder with a `reward_head`).
    #[arg(long, default_value = DEFAULT)]
    pub reward_model: String,
    /// A second reward model that only measures (the paper's held-out reward), given as
    /// --reward-model is; `default-heldout` is the sentiment reward trained on the other half
    /// of the data, and `none` runs without one.
    #[arg(long, default_value = DEFAULT_HELDOUT)]
    pub heldout_reward_model: String,
    /// The folder to write the report, samples, metrics and adapter into.
    #[arg(long)]
    pub out: PathBuf,
}

impl RunArgs {
    fn superhf_config(&self) -> SuperHfConfig {
        let mut config = self.preset.config();
        config.steps = self.steps.unwrap_or(config.steps);
        config.seed = self.seed.unwrap_or(config.seed);
        config
    }

    /// The held-out reward model's spec, unless the run has none.
    fn heldout_reward_model(&self) -> Option<&str> {
        Some(self.heldout_reward_model.as_str()).filter(|spec| *spec != NO_MODEL)
    }

    /// The preset's PPO settings with the same overrides.
    pub(super) fn ppo_config(&self) -> PpoRunConfig {
        let mut config = self.preset.ppo_config();
        config.steps = self.steps.unwrap_or(config.steps);
        config.seed = self.seed.unwrap_or(config.seed);
        config
    }
}

/// The models a run reads besides the policy, loaded from the arguments, with the policy's
/// tokenizer and every model's identity.
pub(super) struct Loaded {
    tokenizer: Tokenizer,
    reward: Box<TextReward>,
    heldout: Option<Box<TextReward>>,
    used: ModelsUsed,
}

impl Loaded {
    /// Loads the models `args` name: the policy, which moves into the run, and the rest.
    pub(super) fn new(
        args: &RunArgs,
        device: &LabDevice,
    ) -> Result<(LanguageModel, Self), LabError> {
        let heldout = (args.heldout_reward_model())
            .map(|spec| load_reward(spec, device))
            .transpose()?;
        let (policy, policy_identity) = load_model(&args.policy, ModelKind::LanguageModel, device)?;
        let LoadedModel::Language(policy) = policy else {
            unreachable!("load checks the kind");
        };
        let (reward, reward_identity) = load_reward(&args.reward_model, device)?;
        let (heldout, heldout_identity) = heldout.unzip();
        let used = ModelsUsed {
            policy: policy_identity,
            reward: reward_identity,
            heldout_reward: heldout_identity,
        };
        let Policy {
            model, tokenizer, ..
        } = *policy;
        let loaded = Self {
            tokenizer,
            reward,
            heldout,
            used,
        };
        Ok((model, loaded))
    }

    /// The run's view of the models: `policy` moves into the run, the rest is borrowed.
    pub(super) fn models<'a>(&'a self, policy: LanguageModel, device: &Device) -> RunModels<'a> {
        let scorer =
            |reward: &'a TextReward| RewardScorer::new(&reward.model, reward.tokenizer(), device);
        RunModels {
            policy,
            tokenizer: &self.tokenizer,
            reward: scorer(&self.reward),
            heldout: self.heldout.as_deref().map(scorer),
            used: self.used.clone(),
        }
    }
}

/// The model `spec` names, through the loader the other commands share, with the name and
/// SHA-256 of every file it was made of, so that the report names exactly the weights a run
/// used.
fn load_model(
    spec: &str,
    kind: ModelKind,
    device: &LabDevice,
) -> Result<(LoadedModel, ModelIdentity), LabError> {
    let files = files::model_files(spec, kind)?;
    let identity = ModelIdentity {
        id: spec.to_string(),
        files: (files.names())
            .map(|name| digest(name, files.bytes(name).unwrap_or_default()))
            .collect(),
    };
    let loaded = super::load_files(files, kind, device)?;
    Ok((loaded.model, identity))
}

fn load_reward(
    spec: &str,
    device: &LabDevice,
) -> Result<(Box<TextReward>, ModelIdentity), LabError> {
    let (reward, identity) = load_model(spec, ModelKind::RewardModel, device)?;
    let LoadedModel::Reward(reward) = reward else {
        unreachable!("load checks the kind");
    };
    Ok((reward, identity))
}

fn digest(name: &str, bytes: &[u8]) -> FileDigest {
    FileDigest {
        name: name.to_string(),
        bytes: bytes.len() as u64,
        sha256: (Sha256::digest(bytes).iter())
            .map(|byte| format!("{byte:02x}"))
            .collect(),
    }
}

/// `superlab superhf`.
pub async fn superhf(args: RunArgs) -> Result<(), LabError> {
    let config = args.superhf_config();
    config.validate()?;
    let (device, policy, loaded) = start(&args).await?;
    let models = loaded.models(policy, &device.device);
    let outcome = train::run(&device, config.clone(), models, &mut LogSteps).await?;
    write_run(&args.out, &outcome.report, |result| &result.samples)?;
    // TODO: save the weights of a fully fine-tuned policy (the presets fine-tune with LoRA).
    if let FineTuning::Lora(lora) = &config.fine_tuning {
        write_adapter(&args.out, &outcome.policy, lora, &args.policy).await?;
    }
    log::info!("wrote the run to {}", args.out.display());
    outcome.error.map_or(Ok(()), Err)
}

/// `superlab best-of-n`: the same preset's prompts and sampling, N its completions per prompt.
pub async fn best_of_n(args: RunArgs) -> Result<(), LabError> {
    let config = BestOfNConfig::from(args.superhf_config());
    config.validate()?;
    let (device, policy, loaded) = start(&args).await?;
    let models = loaded.models(policy, &device.device);
    let outcome = best_of_n::run(&device, config, models, &mut LogSteps).await?;
    write_run(&args.out, &outcome.report, |result| &result.samples)?;
    log::info!("wrote the run to {}", args.out.display());
    outcome.error.map_or(Ok(()), Err)
}

/// The device `args` chooses and the models they name on it: the policy, which moves into the
/// run, and the rest.
pub(super) async fn start(args: &RunArgs) -> Result<(LabDevice, LanguageModel, Loaded), LabError> {
    let device = super::device(args.backend).await?;
    let (policy, loaded) = Loaded::new(args, &device)?;
    Ok((device, policy, loaded))
}

/// `adapter/` in `out`: the policy's LoRA adapter in peft's layout, its base named `base`.
pub(super) async fn write_adapter(
    out: &Path,
    policy: &LanguageModel,
    lora: &LoraConfig,
    base: &str,
) -> Result<PathBuf, LabError> {
    let folder = out.join("adapter");
    create_folder(&folder)?;
    let bytes = policy.adapter_safetensors().await?;
    write(&folder.join("adapter_model.safetensors"), bytes)?;
    let peft = PeftAdapterConfig::new(lora, policy.model_type(), base);
    write(&folder.join("adapter_config.json"), to_json(&peft)?)?;
    Ok(folder)
}

/// `report.json`, `samples.jsonl` (the samples `samples` finds in the result) and
/// `metrics.csv` in `out`.
pub(super) fn write_run<C: Serialize, R: Serialize>(
    out: &Path,
    report: &RunReport<C, R>,
    samples: impl Fn(&R) -> &Vec<SampleRecord>,
) -> Result<(), LabError> {
    let samples = report
        .result
        .as_ref()
        .map_or(&[][..], |result| samples(result));
    create_folder(out)?;
    write(&out.join("report.json"), to_json(report)?)?;
    write(&out.join("samples.jsonl"), samples_jsonl(samples))?;
    write(&out.join("metrics.csv"), metrics_csv(&report.steps))
}
