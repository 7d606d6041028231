//! `superlab ppo`: the PPO baseline from a preset, on the same models, prompts and sampling as
//! `superlab superhf`, written to a folder with the same files (see `superhf.rs`):
//! `report.json` (the same series names, PPO's own besides, and where and why a run
//! diverged), `samples.jsonl`, `metrics.csv`, and with LoRA `adapter/`, which holds the value
//! head too: `value_head.safetensors`, under the names of trl's
//! `AutoModelForCausalLMWithValueHead` (`v_head.summary.weight` `[1, width]`,
//! `v_head.summary.bias` `[1]`).
//!
//! The files are written also when the run stops early or fails; a failed run then exits with
//! its error.

use super::LogSteps;
use super::files::write;
use super::superhf::{RunArgs, start, write_adapter, write_run};
use superlab::LabError;
use superlab::superhf::config::FineTuning;
use superlab::superhf::ppo_train;

/// `superlab ppo`.
pub async fn run(args: RunArgs) -> Result<(), LabError> {
    let config = args.ppo_config();
    config.validate()?;
    let (device, policy, loaded) = start(&args).await?;
    let models = loaded.models(policy, &device.device);
    let outcome = ppo_train::run(&device, config.clone(), models, &mut LogSteps).await?;
    write_run(&args.out, &outcome.report, |result| &result.samples)?;
    // TODO: save the weights of a fully fine-tuned policy (the presets fine-tune with LoRA).
    if let FineTuning::Lora(lora) = &config.fine_tuning {
        let policy = &outcome.model.policy;
        let folder = write_adapter(&args.out, policy, lora, &args.policy).await?;
        let value_head = outcome.model.value_head.safetensors().await?;
        write(&folder.join("value_head.safetensors"), value_head)?;
    }
    log::info!("wrote the run to {}", args.out.display());
    outcome.error.map_or(Ok(()), Err)
}
