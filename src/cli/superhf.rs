//! `superlab superhf` and `superlab best-of-n` (and, in `ppo.rs`, `superlab ppo`): a run from a
//! preset, on models named by path, written to a folder:
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

use super::model_files::{self, LoadedReward, Role};
use super::{LogSteps, to_json, write_file};
use burn::tensor::Device;
use std::path::{Path, PathBuf};
use superlab::LabError;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::models::language_model::LanguageModel;
use superlab::models::lora::{LoraConfig, PeftAdapterConfig};
use superlab::models::tokenizer::Tokenizer;
use superlab::superhf::config::{BestOfNConfig, FineTuning, PpoRunConfig, Preset, SuperHfConfig};
use superlab::superhf::models::RunModels;
use superlab::superhf::report::{ModelsUsed, SampleRecord, metrics_csv, samples_jsonl};
use superlab::superhf::rollout::RewardScorer;
use superlab::superhf::{best_of_n, train};

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
    /// The policy: a folder with config.json, tokenizer.json and *.safetensors, a .gguf file,
    /// or `default`.
    #[arg(long, default_value = "default")]
    pub policy: String,
    /// The training reward model: a folder with config.json, tokenizer.json and
    /// *.safetensors (a BERT or DistilBERT classifier, or an encoder with a `reward_head`),
    /// or `default`.
    #[arg(long, default_value = "default")]
    pub reward_model: String,
    /// A second reward model that only measures (the paper's held-out reward); none when
    /// absent.
    #[arg(long)]
    pub heldout_reward_model: Option<String>,
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
    reward: LoadedReward,
    heldout: Option<LoadedReward>,
    used: ModelsUsed,
}

impl Loaded {
    /// Loads the models `args` name: the policy, which moves into the run, and the rest.
    pub(super) fn new(args: &RunArgs, device: &Device) -> Result<(LanguageModel, Self), LabError> {
        let heldout = (args.heldout_reward_model.as_deref())
            .map(|spec| model_files::load_reward(spec, Role::HeldoutReward, device))
            .transpose()?;
        let policy = model_files::load_policy(&args.policy, device)?;
        let reward = model_files::load_reward(&args.reward_model, Role::Reward, device)?;
        let used = ModelsUsed {
            policy: policy.identity,
            reward: reward.identity.clone(),
            heldout_reward: heldout.as_ref().map(|h| h.identity.clone()),
        };
        let loaded = Self {
            tokenizer: policy.tokenizer,
            reward,
            heldout,
            used,
        };
        Ok((policy.model, loaded))
    }

    /// The run's view of the models: `policy` moves into the run, the rest is borrowed.
    pub(super) fn models<'a>(&'a self, policy: LanguageModel, device: &Device) -> RunModels<'a> {
        let scorer =
            |loaded: &'a LoadedReward| RewardScorer::new(&loaded.model, &loaded.tokenizer, device);
        RunModels {
            policy,
            tokenizer: &self.tokenizer,
            reward: scorer(&self.reward),
            heldout: self.heldout.as_ref().map(scorer),
            used: self.used.clone(),
        }
    }
}

/// `superlab superhf`.
pub async fn superhf(args: RunArgs) -> Result<(), LabError> {
    let config = args.superhf_config();
    config.validate()?;
    let device = LabDevice::acquire(args.backend, &Requirements::default()).await?;
    let (policy, loaded) = Loaded::new(&args, &device.device)?;
    let models = loaded.models(policy, &device.device);
    let outcome = train::run(&device, config.clone(), models, &mut LogSteps).await?;
    let result = outcome.report.result.as_ref();
    let samples = result.map_or(&[][..], |result| &result.samples[..]);
    write_run(
        &args.out,
        &to_json(&outcome.report)?,
        samples,
        &outcome.report.steps,
    )?;
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
    let device = LabDevice::acquire(args.backend, &Requirements::default()).await?;
    let (policy, loaded) = Loaded::new(&args, &device.device)?;
    let models = loaded.models(policy, &device.device);
    let outcome = best_of_n::run(&device, config, models, &mut LogSteps).await?;
    let result = outcome.report.result.as_ref();
    let samples = result.map_or(&[][..], |result| &result.samples[..]);
    write_run(
        &args.out,
        &to_json(&outcome.report)?,
        samples,
        &outcome.report.steps,
    )?;
    log::info!("wrote the run to {}", args.out.display());
    outcome.error.map_or(Ok(()), Err)
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
    write_file(&folder.join("adapter_model.safetensors"), bytes)?;
    let peft = PeftAdapterConfig::new(lora, policy.model_type(), base);
    write_file(&folder.join("adapter_config.json"), to_json(&peft)?)?;
    Ok(folder)
}

fn create_folder(folder: &Path) -> Result<(), LabError> {
    std::fs::create_dir_all(folder)
        .map_err(|error| LabError::Config(format!("cannot create {}: {error}", folder.display())))
}

pub(super) fn write_run(
    out: &Path,
    report_json: &str,
    samples: &[SampleRecord],
    steps: &[superlab::progress::StepEvent],
) -> Result<(), LabError> {
    create_folder(out)?;
    write_file(&out.join("report.json"), report_json)?;
    write_file(&out.join("samples.jsonl"), samples_jsonl(samples))?;
    write_file(&out.join("metrics.csv"), metrics_csv(steps))
}
