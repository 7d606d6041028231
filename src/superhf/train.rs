//! The SuperHF loop (METHODS.md): each step takes a few prompts, samples many completions of
//! each from the current policy, scores them with the training reward model, keeps the best
//! per prompt, and fine-tunes the policy on those with cross-entropy plus a KL prior towards
//! the initial policy. The policy accumulates across steps; it is never reset.
//!
//! Every step reports its metrics through `Progress` and can be stopped there; a loss that is
//! not finite ends the run as diverged. Either way the report keeps every finished step, and
//! the outcome keeps the policy as the last finished step left it.

use super::config::{FineTuning, SuperHfConfig};
use super::filter::top_k_per_prompt;
use super::finetune::{Example, FineTuner, StepLoss};
use super::meteor::WordNet;
use super::metrics::{mean, meteor_across_prompts};
use super::models::RunModels;
use super::prompts::PromptOrder;
use super::report::{SuperHfReport, SuperHfResult, SuperHfSeries, sample_records};
use super::rollout::{self, PromptTurn, RewardScorer, Rewards, Sample};
use super::schedule::CosineWithWarmup;
use crate::LabError;
use crate::device::LabDevice;
use crate::models::CausalLm;
use crate::models::language_model::LanguageModel;
use crate::models::tokenizer::Tokenizer;
use crate::progress::{Control, Progress, StepEvent};
use crate::report::RunStatus;
use crate::rng::SplitMix64;
use burn::module::Module;
use burn::tensor::Device;
use std::collections::BTreeMap;

/// A finished (or stopped, or failed) run: its report, the policy it trained, and what ended
/// it early when something did (the report's status says the same in words).
pub struct SuperHfOutcome {
    pub report: SuperHfReport,
    pub policy: LanguageModel,
    pub error: Option<LabError>,
}

/// Runs SuperHF. An invalid configuration or models that do not fit it are an error; a run
/// that fails on the way (diverges, loses its device) returns its report with the status
/// `failed`, the finished steps and the policy as they left it.
pub async fn run(
    device: &LabDevice,
    config: SuperHfConfig,
    models: RunModels<'_>,
    progress: &mut impl Progress,
) -> Result<SuperHfOutcome, LabError> {
    config.validate()?;
    let mut report = SuperHfReport::new("superhf", config.clone(), device.report.clone());
    let started = web_time::Instant::now();
    let mut superhf = SuperHf::prepare(&device.device, &config, models)?;
    let outcome = superhf.steps(progress, &mut report).await;
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    let error = outcome.err();
    if let Some(error) = &error {
        report.status = RunStatus::Failed(error.to_string());
    }
    report.result = Some(superhf.result);
    Ok(SuperHfOutcome {
        report,
        policy: superhf.policy,
        error,
    })
}

/// A run in progress.
struct SuperHf<'a> {
    config: &'a SuperHfConfig,
    /// Where sampling and scoring run; the policy trains on its autodiff twin.
    device: Device,
    policy: LanguageModel,
    /// The frozen initial policy the KL prior pulls towards.
    reference: LanguageModel,
    tokenizer: &'a Tokenizer,
    reward: RewardScorer<'a>,
    heldout: Option<RewardScorer<'a>>,
    prompts: PromptOrder,
    tuner: FineTuner,
    wordnet: WordNet,
    result: SuperHfResult,
}

/// What one step produced.
struct StepOutcome {
    prompts: Vec<PromptTurn>,
    samples: Vec<Sample>,
    dropped_empty: usize,
    rewards: Rewards,
    kept: Vec<usize>,
    losses: Vec<StepLoss>,
}

impl<'a> SuperHf<'a> {
    fn prepare(
        device: &Device,
        config: &'a SuperHfConfig,
        models: RunModels<'a>,
    ) -> Result<Self, LabError> {
        models.tokenizer.check_fits(models.policy.vocab_size())?;
        let policy = trainable_policy(models.policy, &config.fine_tuning, config.seed)?;
        let reference = match &config.fine_tuning {
            FineTuning::Lora(_) => policy.without_adapters(),
            FineTuning::Full => policy.clone().no_grad(),
        };
        let schedule = CosineWithWarmup {
            peak: config.learning_rate,
            warmup_steps: config.warmup_steps,
            total_steps: config.steps * config.optimizer_steps_per_step(),
        };
        let tuner = FineTuner::new(
            schedule,
            config.weight_decay,
            config.kl_coefficient,
            config.minibatch_size,
        );
        let result = SuperHfResult {
            seed: config.seed,
            models: models.used,
            lora: policy.has_adapters(),
            series: SuperHfSeries::default(),
            samples: Vec::new(),
        };
        Ok(Self {
            config,
            device: device.clone(),
            policy,
            reference,
            tokenizer: models.tokenizer,
            reward: models.reward,
            heldout: models.heldout,
            prompts: PromptOrder::new(config.prompts.prompts(), config.seed),
            tuner,
            wordnet: WordNet::bundled()?,
            result,
        })
    }

    async fn steps(
        &mut self,
        progress: &mut impl Progress,
        report: &mut SuperHfReport,
    ) -> Result<(), LabError> {
        for step in 1..=self.config.steps {
            let outcome = self.step(step).await?;
            let recorded = self.result.samples.len();
            let event = self.record(step, outcome);
            progress.detail(&self.result.samples[recorded..]);
            report.steps.push(event.clone());
            if progress.step(&event).await == Control::Stop {
                report.status = RunStatus::Stopped;
                break;
            }
        }
        Ok(())
    }

    /// One SuperHF iteration.
    async fn step(&mut self, step: usize) -> Result<StepOutcome, LabError> {
        let prompts = self.next_prompts()?;
        let (samples, dropped_empty) = self.sample(&prompts, step).await?;
        let rewards = self.score(&prompts, &samples).await?;
        let kept = self.filter(&samples, &rewards);
        let losses = self.fine_tune(&prompts, &samples, &kept, step).await?;
        Ok(StepOutcome {
            prompts,
            samples,
            dropped_empty,
            rewards,
            kept,
            losses,
        })
    }

    /// 1. The next prompts of the shuffled list, framed and tokenised.
    fn next_prompts(&mut self) -> Result<Vec<PromptTurn>, LabError> {
        let chat = self.config.rollout.chat_frame;
        (self
            .prompts
            .take(self.config.rollout.prompts_per_step)
            .iter())
        .map(|text| PromptTurn::new(text, chat, self.tokenizer))
        .collect()
    }

    /// 2-3. Completions from the current policy, cut at the next turn; empty ones dropped.
    async fn sample(
        &self,
        prompts: &[PromptTurn],
        step: usize,
    ) -> Result<(Vec<Sample>, usize), LabError> {
        let (config, tokenizer) = (&self.config, self.tokenizer);
        let policy = self.policy.valid();
        rollout::sample_step(
            &policy,
            tokenizer,
            prompts,
            &config.rollout,
            config.seed,
            step,
            &self.device,
        )
        .await
    }

    /// 4. Training and held-out rewards of `prompt + " " + completion`.
    async fn score(&self, prompts: &[PromptTurn], samples: &[Sample]) -> Result<Rewards, LabError> {
        let heldout = self.heldout.as_ref();
        rollout::score(
            prompts,
            samples,
            &self.reward,
            heldout,
            &self.config.rollout,
        )
        .await
    }

    /// 5. The top K completions of each prompt by penalised training reward.
    fn filter(&self, samples: &[Sample], rewards: &Rewards) -> Vec<usize> {
        let prompts: Vec<usize> = samples.iter().map(|sample| sample.prompt).collect();
        top_k_per_prompt(&prompts, &rewards.score, self.config.keep_top)
    }

    /// 6. AdamW steps on the kept completions.
    async fn fine_tune(
        &mut self,
        prompts: &[PromptTurn],
        samples: &[Sample],
        kept: &[usize],
        step: usize,
    ) -> Result<Vec<StepLoss>, LabError> {
        let max_positions = self.policy.max_positions();
        let examples = (kept.iter())
            .map(|&i| {
                let sample = &samples[i];
                Example::new(
                    &prompts[sample.prompt],
                    &sample.text,
                    self.tokenizer,
                    max_positions,
                )
            })
            .collect::<Result<Vec<_>, LabError>>()?;
        let seeds = (step, step_seed(self.config.seed, "dropout", step));
        let training = self.device.clone().autodiff();
        (self.tuner)
            .train(
                &mut self.policy,
                &self.reference,
                &examples,
                seeds,
                &training,
            )
            .await
    }

    /// Adds the step to the series and the sample table; returns its progress event.
    fn record(&mut self, step: usize, outcome: StepOutcome) -> StepEvent {
        let StepOutcome {
            prompts,
            samples,
            dropped_empty,
            rewards,
            kept,
            losses,
        } = outcome;
        let kept_texts: Vec<(usize, &str)> = (kept.iter())
            .map(|&i| (samples[i].prompt, samples[i].text.as_str()))
            .collect();
        let loss_mean = |term: fn(&StepLoss) -> f64| mean(losses.iter().map(term));
        let series = &mut self.result.series;
        series
            .reward_train
            .push(mean(rewards.train.iter().copied()).unwrap_or(f64::NAN));
        (series.reward_heldout).push(rewards.heldout.as_ref().and_then(|h| mean(h.clone())));
        series.kl.push(loss_mean(|loss| loss.kl));
        (series.meteor_similarity).push(meteor_across_prompts(&kept_texts, &self.wordnet));
        series.loss.push(loss_mean(|loss| loss.total));
        series
            .cross_entropy
            .push(loss_mean(|loss| loss.cross_entropy));
        let kept_rewards = kept.iter().map(|&i| rewards.train[i]);
        (series.reward_train_kept).push(mean(kept_rewards).unwrap_or(f64::NAN));
        (series.learning_rate).push(losses.last().map(|loss| loss.learning_rate));
        series.completions.push(samples.len());
        series.dropped_empty.push(dropped_empty);
        let records = sample_records(step, &prompts, &samples, &rewards, &kept);
        self.result.samples.extend(records);
        StepEvent {
            step,
            total: self.config.steps,
            metrics: step_metrics(series),
        }
    }
}

/// The policy on the autodiff device, ready to train: with new LoRA adapters (drawn from
/// `seed`) for LoRA fine-tuning unless it carries loaded ones, which keep training; whole for
/// full fine-tuning.
pub(crate) fn trainable_policy(
    policy: LanguageModel,
    fine_tuning: &FineTuning,
    seed: u64,
) -> Result<LanguageModel, LabError> {
    // `valid` leaves the autodiff device if the model was loaded there; `train` moves it onto
    // the autodiff twin of its device with each parameter's trainability as it was set.
    let policy = policy.valid().train();
    match (fine_tuning, policy.has_adapters()) {
        (FineTuning::Lora(lora), false) => policy.with_lora(lora, seed),
        (FineTuning::Lora(_), true) => Ok(policy),
        (FineTuning::Full, false) => Ok(policy),
        (FineTuning::Full, true) => Err(LabError::Config(
            "the policy carries a LoRA adapter: fine-tune it with LoRA, or load the model \
             without its adapter to fine-tune it in full"
                .into(),
        )),
    }
}

/// A seed of its own for each purpose and step, so that changing one draw changes no other.
pub(crate) fn step_seed(seed: u64, purpose: &str, step: usize) -> u64 {
    SplitMix64::for_name(seed, &format!("{purpose} {step}")).next_u64()
}

/// The last entry of every series, under the report's names; missing values are left out.
fn step_metrics(series: &SuperHfSeries) -> BTreeMap<String, f64> {
    let last = |values: &[Option<f64>]| values.last().copied().flatten();
    let count = |values: &[usize]| values.last().map(|&n| n as f64);
    let entries = [
        ("reward_train", series.reward_train.last().copied()),
        ("reward_heldout", last(&series.reward_heldout)),
        ("kl", last(&series.kl)),
        ("meteor_similarity", last(&series.meteor_similarity)),
        ("loss", last(&series.loss)),
        ("cross_entropy", last(&series.cross_entropy)),
        (
            "reward_train_kept",
            series.reward_train_kept.last().copied(),
        ),
        ("learning_rate", last(&series.learning_rate)),
        ("completions", count(&series.completions)),
        ("dropped_empty", count(&series.dropped_empty)),
    ];
    (entries.into_iter())
        .filter_map(|(name, value)| Some((name.to_string(), value?)))
        .collect()
}
