//! SuperHF iterations as `superlab superhf --preset paper` runs them (sample, score, keep the
//! best, fine-tune the LoRA adapter), timed from one finished iteration to the next.

use std::time::Instant;

use burn::tensor::Device;
use serde_json::json;
use superlab::LabError;
use superlab::device::LabDevice;
use superlab::models::tokenizer::Tokenizer;
use superlab::progress::{Control, Progress, StepEvent};
use superlab::superhf::models::RunModels;
use superlab::superhf::report::{ModelIdentity, ModelsUsed};
use superlab::superhf::reward::defaults::{DefaultReward, default_reward_model};
use superlab::superhf::rollout::RewardScorer;
use superlab::superhf::train;

use crate::cli::bench::plan::SuperHfPlan;
use crate::cli::bench::report::Measured;
use crate::cli::bench::timing::{Timings, seconds_since};
use crate::cli::files::checkpoint;
use crate::cli::files::model_files;
use crate::cli::load_files;
use superlab::models::load::policy::Policy;
use superlab::models::load::{LoadedModel, ModelKind};

pub async fn measure(device: &LabDevice, workload: &SuperHfPlan) -> Result<Measured, LabError> {
    let start = Instant::now();
    let encoder = checkpoint(&workload.reward_encoder)?;
    let reward = default_reward_model(DefaultReward::Train, &encoder, &device.device)?;
    let reward_tokenizer = Tokenizer::from_json_bytes(&encoder.tokenizer_json)?;
    let policy_files = model_files(
        &workload.gguf_path.display().to_string(),
        ModelKind::LanguageModel,
    )?;
    let LoadedModel::Language(policy) =
        load_files(policy_files, ModelKind::LanguageModel, device)?.model
    else {
        unreachable!("load checks the kind");
    };
    let Policy {
        model, tokenizer, ..
    } = *policy;
    let setup = seconds_since(start, &device.device)?;
    let identity = |id: &str| ModelIdentity {
        id: id.into(),
        files: Vec::new(),
    };
    let models = RunModels {
        policy: model,
        tokenizer: &tokenizer,
        reward: RewardScorer::new(&reward.model, &reward_tokenizer, &device.device),
        heldout: None,
        used: ModelsUsed {
            policy: identity("SmolLM2-135M-Instruct"),
            reward: identity("default"),
            heldout_reward: None,
        },
    };
    let mut clock = IterationClock::new(&device.device);
    let outcome = train::run(device, workload.config.clone(), models, &mut clock).await?;
    if let Some(error) = outcome.error {
        return Err(error);
    }
    let series = outcome.report.result.map(|result| result.series);
    let (warmup, timed) = clock
        .seconds
        .split_at(workload.warmup_iterations.min(clock.seconds.len()));
    let mut measured = Measured::new(Timings {
        setup_seconds: Some(setup),
        warmup_seconds: warmup.to_vec(),
        seconds: timed.to_vec(),
    });
    if let Some(series) = series {
        measured
            .extra
            .insert("completions".into(), json!(series.completions));
        measured.extra.insert("loss".into(), json!(series.loss));
        measured
            .extra
            .insert("reward_train".into(), json!(series.reward_train));
    }
    Ok(measured)
}

/// Seconds from the start of the run to the end of the first iteration (its set-up: adapters,
/// the reference policy, WordNet), then from each iteration's end to the next one's.
struct IterationClock {
    device: Device,
    last: Instant,
    seconds: Vec<f64>,
}

impl IterationClock {
    fn new(device: &Device) -> Self {
        Self {
            device: device.clone(),
            last: Instant::now(),
            seconds: Vec::new(),
        }
    }
}

impl Progress for IterationClock {
    async fn step(&mut self, event: &StepEvent) -> Control {
        // The iteration has read its losses back; a failed sync only makes the reading early.
        let _ = self.device.sync();
        let now = Instant::now();
        self.seconds
            .push(now.duration_since(self.last).as_secs_f64());
        self.last = now;
        log::info!("SuperHF iteration {}/{} done", event.step, event.total);
        Control::Continue
    }
}
