//! The PPO baseline as a run (METHODS.md), on the same prompts, sampling, reward models,
//! metrics and report as SuperHF, so that the two compare step for step: each step takes the
//! next prompts, samples completions of each from the current policy, cuts and scores them as
//! SuperHF does (`rollout`), and makes one PPO update on them (`ppo::update`): per-token
//! rewards with the KL penalty toward the reference, generalised advantages, and several
//! epochs of clipped minibatch steps with Adam, the value head training with the policy.
//!
//! PPO trains on the tokens the policy sampled (see [`response_tokens`]), so that its
//! probability ratios are those of what the policy did. The reference is the policy with its
//! adapters switched off (LoRA) or a frozen copy (full fine-tuning). Adapters train without
//! dropout: the ratio compares the policy with itself before the update and must start at 1.
//!
//! Every step reports its metrics through `Progress` and can be stopped there. A loss or
//! logits that are no longer numbers end the run as diverged, and the report says at which
//! step and why (PPO runs diverge far more often than SuperHF's). Either way the report keeps
//! every finished step, and the outcome keeps the policy as the last finished step left it.

use super::config::{FineTuning, PpoRunConfig};
use super::loss::kl_reference_policy;
use super::meteor::WordNet;
use super::metrics::{mean, meteor_across_prompts};
use super::models::RunModels;
use super::ppo::{self, PolicyWithValue, PpoStats, Rollouts, ValueHead, adapt_kl_coefficient};
use super::prompts::PromptOrder;
use super::report::{Divergence, PpoReport, PpoResult, PpoSeries, sample_records};
use super::rollout::{self, PromptTurn, RewardScorer, Rewards, Sample};
use super::train::trainable_policy;
use crate::LabError;
use crate::device::{LabDevice, read};
use crate::models::CausalLm;
use crate::models::language_model::LanguageModel;
use crate::models::tokenizer::Tokenizer;
use crate::progress::{Control, Progress, StepEvent};
use crate::report::RunStatus;
use crate::rng::SplitMix64;
use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::BTreeMap;

/// PyTorch's Adam epsilon: the reference's PPO trains with Adam, without weight decay.
const ADAM_EPSILON: f32 = 1e-8;

/// A finished (or stopped, or failed) run: its report, the policy and value head it trained,
/// and what ended it early when something did.
pub struct PpoOutcome {
    pub report: PpoReport,
    pub model: PolicyWithValue,
    pub error: Option<LabError>,
}

/// Runs PPO. An invalid configuration or models that do not fit it are an error; a run that
/// fails on the way (diverges, loses its device) returns its report with the status `failed`
/// (and, when it diverged, the step and reason under `divergence`), the finished steps and the
/// policy as they left it.
pub async fn run(
    device: &LabDevice,
    config: PpoRunConfig,
    models: RunModels<'_>,
    progress: &mut impl Progress,
) -> Result<PpoOutcome, LabError> {
    config.validate()?;
    let mut report = PpoReport::new("ppo", config.clone(), device.report.clone());
    let started = web_time::Instant::now();
    let mut ppo = Ppo::prepare(&device.device, &config, models)?;
    let outcome = ppo.steps(progress, &mut report).await;
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    let error = outcome.err();
    if let Some(error) = &error {
        report.status = RunStatus::Failed(error.to_string());
        if let LabError::Diverged { step, what } = error {
            ppo.result.divergence = Some(Divergence {
                step: *step,
                reason: what.clone(),
            });
        }
    }
    report.result = Some(ppo.result);
    Ok(PpoOutcome {
        report,
        model: ppo.model,
        error,
    })
}

/// A run in progress.
struct Ppo<'a> {
    config: &'a PpoRunConfig,
    /// Where sampling, scoring and the KL measurement run; the update runs on its autodiff twin.
    device: Device,
    model: PolicyWithValue,
    /// The initial policy the KL penalty pulls towards, frozen.
    reference: LanguageModel,
    optimizer: ModuleOptimizer,
    /// The penalty's coefficient for the next step (it moves only when adaptive).
    kl_coefficient: f64,
    tokenizer: &'a Tokenizer,
    reward: RewardScorer<'a>,
    heldout: Option<RewardScorer<'a>>,
    prompts: PromptOrder,
    wordnet: WordNet,
    result: PpoResult,
}

/// What one step produced.
struct StepOutcome {
    prompts: Vec<PromptTurn>,
    samples: Vec<Sample>,
    dropped_empty: usize,
    rewards: Rewards,
    /// The samples the update trained on.
    trained: Vec<usize>,
    /// SuperHF's KL on the batch, before the update.
    kl: Option<f64>,
    kl_coefficient: f64,
    /// `None` when no completion had text, so nothing was trained.
    stats: Option<PpoStats>,
}

impl<'a> Ppo<'a> {
    fn prepare(
        device: &Device,
        config: &'a PpoRunConfig,
        models: RunModels<'a>,
    ) -> Result<Self, LabError> {
        models.tokenizer.check_fits(models.policy.vocab_size())?;
        let policy = trainable_policy(models.policy, &config.fine_tuning, config.seed)?;
        let reference = match &config.fine_tuning {
            FineTuning::Lora(_) => policy.without_adapters(),
            FineTuning::Full => policy.clone().no_grad(),
        };
        let value_head = ValueHead::new(policy.width(), config.seed, &device.clone().autodiff());
        let result = PpoResult {
            seed: config.seed,
            models: models.used,
            lora: policy.has_adapters(),
            series: PpoSeries::default(),
            samples: Vec::new(),
            divergence: None,
        };
        Ok(Self {
            config,
            device: device.clone(),
            model: PolicyWithValue { policy, value_head },
            reference,
            optimizer: AdamConfig::new().with_epsilon(ADAM_EPSILON).init(),
            kl_coefficient: config.ppo.kl_coefficient,
            tokenizer: models.tokenizer,
            reward: models.reward,
            heldout: models.heldout,
            prompts: PromptOrder::new(config.prompts.prompts(), config.seed),
            wordnet: WordNet::bundled()?,
            result,
        })
    }

    async fn steps(
        &mut self,
        progress: &mut impl Progress,
        report: &mut PpoReport,
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

    /// One PPO step.
    async fn step(&mut self, step: usize) -> Result<StepOutcome, LabError> {
        let prompts = self.next_prompts()?;
        let (samples, dropped_empty) = self.sample(&prompts, step).await?;
        let rewards = self.score(&prompts, &samples).await?;
        let (rollouts, trained) = self.rollouts(&prompts, &samples, &rewards)?;
        let kl_coefficient = self.kl_coefficient;
        let (kl, stats) = match rollouts {
            None => (None, None),
            Some(rollouts) => {
                let kl = self.reference_kl(&rollouts).await?;
                let stats = self.update(&rollouts, step).await?;
                self.kl_coefficient = adapt_kl_coefficient(
                    &self.config.ppo,
                    kl_coefficient,
                    stats.kl,
                    rollouts.rows.len(),
                );
                (Some(kl), Some(stats))
            }
        };
        Ok(StepOutcome {
            prompts,
            samples,
            dropped_empty,
            rewards,
            trained,
            kl,
            kl_coefficient,
            stats,
        })
    }

    /// 1. The next prompts of the shuffled list, framed and tokenised.
    fn next_prompts(&mut self) -> Result<Vec<PromptTurn>, LabError> {
        let rollout = &self.config.rollout;
        (self.prompts.take(rollout.prompts_per_step).iter())
            .map(|text| PromptTurn::new(text, rollout.chat_frame, self.tokenizer))
            .collect()
    }

    /// 2. Completions from the current policy, cut at the next turn; empty ones dropped.
    async fn sample(
        &self,
        prompts: &[PromptTurn],
        step: usize,
    ) -> Result<(Vec<Sample>, usize), LabError> {
        let (config, tokenizer) = (&self.config, self.tokenizer);
        let policy = self.model.policy.valid();
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

    /// 3. Training and held-out rewards of `prompt + " " + completion`.
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

    /// 4. The rows PPO trains on, and the samples they come from.
    ///
    /// One row per completion: its prompt's tokens, then the sampled ones, with its score (the
    /// training reward after the length penalty); `None` when there is no completion.
    fn rollouts(
        &self,
        prompts: &[PromptTurn],
        samples: &[Sample],
        rewards: &Rewards,
    ) -> Result<(Option<Rollouts>, Vec<usize>), LabError> {
        let max_positions = self.model.policy.max_positions();
        let mut rollouts = Rollouts {
            rows: Vec::new(),
            prompt_lengths: Vec::new(),
            scores: Vec::new(),
        };
        let mut trained = Vec::new();
        for (index, sample) in samples.iter().enumerate() {
            let prompt = &prompts[sample.prompt].tokens;
            let mut row = prompt.clone();
            row.extend(response_tokens(sample, self.tokenizer)?);
            row.truncate(max_positions);
            if row.len() > prompt.len() {
                rollouts.rows.push(row);
                rollouts.prompt_lengths.push(prompt.len());
                rollouts.scores.push(rewards.score[index] as f32);
                trained.push(index);
            }
        }
        Ok(((!trained.is_empty()).then_some(rollouts), trained))
    }

    /// SuperHF's KL on the batch under the current policy, on the inference device.
    async fn reference_kl(&self, rollouts: &Rollouts) -> Result<f64, LabError> {
        let (policy, reference) = (self.model.policy.valid(), self.reference.valid());
        let rows_per_pass = self.config.ppo.minibatch_size;
        batch_kl(&policy, &reference, rollouts, rows_per_pass, &self.device).await
    }

    /// 5. One PPO update, its minibatches in an order drawn for the step.
    ///
    /// A loss that is not a number leaves the policy as the last finished step left it.
    async fn update(&mut self, rollouts: &Rollouts, step: usize) -> Result<PpoStats, LabError> {
        let mut numbers = SplitMix64::for_name(self.config.seed, &format!("minibatches {step}"));
        let order = move |count: usize| shuffled(count, &mut numbers);
        let settings = &self.config.ppo;
        // The update consumes the model it trains; the run keeps the one it started from
        // (cloning a module shares its tensors) in case the update diverges.
        let updated = ppo::update(
            self.model.clone(),
            &self.reference,
            &mut self.optimizer,
            rollouts,
            settings,
            self.kl_coefficient,
            order,
        )
        .await;
        match updated {
            Ok((model, stats)) => {
                self.model = model;
                Ok(stats)
            }
            Err(LabError::Diverged {
                step: optimizer_step,
                what,
            }) => {
                let steps = settings.epochs * rollouts.rows.len().div_ceil(settings.minibatch_size);
                Err(LabError::Diverged {
                    step,
                    what: format!(
                        "optimiser step {optimizer_step} of {steps} of the PPO update: {what}; \
                         lower the learning rate ({:e}) or raise the KL coefficient ({})",
                        settings.learning_rate, self.kl_coefficient
                    ),
                })
            }
            Err(error) => Err(error),
        }
    }

    /// Adds the step to the series and the sample table; returns its progress event.
    fn record(&mut self, step: usize, outcome: StepOutcome) -> StepEvent {
        let StepOutcome {
            prompts,
            samples,
            dropped_empty,
            rewards,
            trained,
            kl,
            kl_coefficient,
            stats,
        } = outcome;
        let series = &mut self.result.series;
        series
            .reward_train
            .push(mean(rewards.train.iter().copied()).unwrap_or(f64::NAN));
        (series.reward_heldout).push(rewards.heldout.as_ref().and_then(|h| mean(h.clone())));
        series.kl.push(kl);
        let texts: Vec<(usize, &str)> = (samples.iter())
            .map(|sample| (sample.prompt, sample.text.as_str()))
            .collect();
        (series.meteor_similarity).push(meteor_across_prompts(&texts, &self.wordnet));
        let stat = |term: fn(&PpoStats) -> f64| stats.as_ref().map(term);
        series.loss.push(stat(|s| s.loss));
        series.policy_loss.push(stat(|s| s.policy_loss));
        series.value_loss.push(stat(|s| s.value_loss));
        series.clip_fraction.push(stat(|s| s.clip_fraction));
        series.approximate_kl.push(stat(|s| s.approximate_kl));
        series.kl_coefficient.push(kl_coefficient);
        series.score_mean.push(stat(|s| s.score));
        series.kl_sampled.push(stat(|s| s.kl));
        series.reward_with_penalty.push(stat(|s| s.reward));
        let learning_rate = self.config.ppo.learning_rate;
        (series.learning_rate).push(stats.is_some().then_some(learning_rate));
        series.completions.push(samples.len());
        series.dropped_empty.push(dropped_empty);
        let records = sample_records(step, &prompts, &samples, &rewards, &trained);
        self.result.samples.extend(records);
        StepEvent {
            step,
            total: self.config.steps,
            metrics: step_metrics(series),
        }
    }
}

/// SuperHF's KL on a batch of rollouts, which a PPO run reports as `kl`: `KL(p_ref ||
/// p_policy)` over the full vocabulary at every response position, averaged over all response
/// positions of the batch. It runs `rows_per_pass` rows at a time, so that two models'
/// full-vocabulary logits of a whole batch need not be held at once.
pub async fn batch_kl(
    policy: &impl CausalLm,
    reference: &impl CausalLm,
    rollouts: &Rollouts,
    rows_per_pass: usize,
    device: &Device,
) -> Result<f64, LabError> {
    let tokens = rollouts.tokens(0, device);
    let (rows, columns) = (rollouts.rows.len(), rollouts.width() - 1);
    let (mut total, mut positions) = (0.0, 0.0);
    for start in (0..rows).step_by(rows_per_pass.max(1)) {
        let size = rows_per_pass.max(1).min(rows - start);
        let spans: Vec<_> = (start..start + size)
            .map(|row| rollouts.response_span(row))
            .collect();
        // Logits only from the first position that predicts a response token.
        let first = spans.iter().map(|span| span.start).min().unwrap_or(0);
        let mask: Vec<f32> = (spans.iter())
            .flat_map(|span| (first..columns).map(|t| f32::from(u8::from(span.contains(&t)))))
            .collect();
        let count = f64::from(mask.iter().sum::<f32>());
        let mask = Tensor::from_data(TensorData::new(mask, [size, columns - first]), device);
        let inputs = tokens.clone().narrow(0, start, size);
        let logits = |model: &dyn CausalLm| {
            let hidden = model.hidden(inputs.clone());
            model.project(hidden.narrow(1, first, columns - first))
        };
        let kl = kl_reference_policy(logits(reference), logits(policy), mask);
        total += f64::from(read(kl).await?[0]) * count;
        positions += count;
    }
    Ok(total / positions.max(1.0))
}

/// The sampled tokens PPO trains on for one completion: all of them when no turn marker cut it
/// (with the end-of-sequence token when one was sampled, so that stopping is learnt too), else
/// the shortest prefix that decodes to the completion as it was scored, which leaves out the
/// marker and whatever followed it. Should no prefix decode to it (a tokenizer whose prefixes
/// decode unlike the whole), the tokens of `" " + completion`, as SuperHF trains on.
pub fn response_tokens(sample: &Sample, tokenizer: &Tokenizer) -> Result<Vec<u32>, LabError> {
    let tokens = &sample.generated.tokens;
    if !sample.cut {
        return Ok(tokens.clone());
    }
    for end in 1..=tokens.len() {
        if tokenizer.decode(&tokens[..end], true)?.trim() == sample.text {
            return Ok(tokens[..end].to_vec());
        }
    }
    tokenizer.encode(&format!(" {}", sample.text), false)
}

/// `0..count` in an order drawn from `numbers` (Fisher-Yates).
fn shuffled(count: usize, numbers: &mut SplitMix64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    for i in (1..count).rev() {
        let j = (numbers.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// The last entry of every series, under the report's names; missing values are left out.
fn step_metrics(series: &PpoSeries) -> BTreeMap<String, f64> {
    let last = |values: &[Option<f64>]| values.last().copied().flatten();
    let count = |values: &[usize]| values.last().map(|&n| n as f64);
    let entries = [
        ("reward_train", series.reward_train.last().copied()),
        ("reward_heldout", last(&series.reward_heldout)),
        ("kl", last(&series.kl)),
        ("meteor_similarity", last(&series.meteor_similarity)),
        ("loss", last(&series.loss)),
        ("policy_loss", last(&series.policy_loss)),
        ("value_loss", last(&series.value_loss)),
        ("clip_fraction", last(&series.clip_fraction)),
        ("approximate_kl", last(&series.approximate_kl)),
        ("kl_coefficient", series.kl_coefficient.last().copied()),
        ("score_mean", last(&series.score_mean)),
        ("kl_sampled", last(&series.kl_sampled)),
        ("reward_with_penalty", last(&series.reward_with_penalty)),
        ("learning_rate", last(&series.learning_rate)),
        ("completions", count(&series.completions)),
        ("dropped_empty", count(&series.dropped_empty)),
    ];
    (entries.into_iter())
        .filter_map(|(name, value)| Some((name.to_string(), value?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minibatch_orders_are_permutations_that_repeat_with_the_seed() {
        let draw = |seed: u64| {
            let mut numbers = SplitMix64::for_name(seed, "minibatches 1");
            [shuffled(6, &mut numbers), shuffled(6, &mut numbers)]
        };
        let orders = draw(3);
        for order in &orders {
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, (0..6).collect::<Vec<_>>());
        }
        assert_ne!(orders[0], orders[1], "each epoch draws its own order");
        assert_eq!(draw(3), orders);
        assert_ne!(draw(4), orders);
        assert_eq!(shuffled(1, &mut SplitMix64::new(0)), vec![0]);
    }
}
