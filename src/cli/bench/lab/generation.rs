//! Sampling a batch of continuations of one prompt from SmolLM2-135M-Instruct, through the
//! lab's key-value cache, exactly `new_tokens` each (no stop tokens).

use std::time::Instant;

use serde_json::json;
use superlab::LabError;
use superlab::device::LabDevice;
use superlab::models::generate::{SamplingConfig, generate};
use superlab::models::gguf::LlamaGguf;
use superlab::models::language_model::LanguageModel;

use crate::cli::bench::plan::GenerationPlan;
use crate::cli::bench::report::Measured;
use crate::cli::bench::timing::{repeat, seconds_since};

pub async fn measure(
    device: &LabDevice,
    workload: &GenerationPlan,
    warmup: usize,
    gguf: &LlamaGguf,
) -> Result<Measured, LabError> {
    let config_json = serde_json::to_string(gguf.config())
        .map_err(|error| LabError::ModelConfig(format!("cannot write its config: {error}")))?;
    let start = Instant::now();
    let model = LanguageModel::from_hub(&config_json, gguf, &device.device)?;
    let setup = seconds_since(start, &device.device)?;
    let prompts = vec![workload.prompt_tokens.clone(); workload.sequences];
    let sampling = SamplingConfig {
        max_new_tokens: workload.new_tokens,
        temperature: workload.temperature,
        top_k: 0,
        top_p: workload.top_p,
        stop_tokens: Vec::new(),
        seed: workload.seed,
    };
    let mut timings = repeat(&device.device, warmup, workload.repetitions, async || {
        let completions = generate(&model, &prompts, &sampling, &device.device).await?;
        match completions
            .iter()
            .all(|c| c.tokens.len() == workload.new_tokens)
        {
            true => Ok(()),
            false => Err(LabError::Execution("a sequence ended early".into())),
        }
    })
    .await?;
    timings.setup_seconds = Some(setup);
    let mut measured = Measured::new(timings);
    let tokens = workload.sequences * workload.new_tokens;
    measured.extra.insert("tokens".into(), json!(tokens));
    Ok(measured)
}
