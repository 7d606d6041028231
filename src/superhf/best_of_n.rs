//! Best-of-N, the baseline that spends compute at answer time instead of training: sample N
//! completions of each prompt from the unchanged policy and answer with the one the training
//! reward model prefers (after the length penalty, as SuperHF's filter ranks them).

use super::config::BestOfNConfig;
use super::filter::top_k_per_prompt;
use super::meteor::WordNet;
use super::metrics::{mean, meteor_across_prompts};
use super::models::RunModels;
use super::prompts::PromptOrder;
use super::report::{BestOfNReport, BestOfNResult, BestOfNSeries, sample_records};
use super::rollout::{self, PromptTurn};
use crate::LabError;
use crate::device::LabDevice;
use crate::models::CausalLm;
use crate::progress::{Control, Progress, StepEvent};
use crate::report::RunStatus;
use burn::module::Module;
use std::collections::BTreeMap;

/// A finished (or stopped, or failed) run and what ended it early when something did.
pub struct BestOfNOutcome {
    pub report: BestOfNReport,
    pub error: Option<LabError>,
}

/// Runs best-of-N for `config.steps` batches of prompts. Errors on the way end the run with
/// the status `failed`, keeping the finished batches.
pub async fn run(
    device: &LabDevice,
    config: BestOfNConfig,
    models: RunModels<'_>,
    progress: &mut impl Progress,
) -> Result<BestOfNOutcome, LabError> {
    config.validate()?;
    models.tokenizer.check_fits(models.policy.vocab_size())?;
    let mut report = BestOfNReport::new("best-of-n", config.clone(), device.report.clone());
    let started = web_time::Instant::now();
    let mut result = BestOfNResult {
        seed: config.seed,
        models: models.used.clone(),
        series: BestOfNSeries::default(),
        samples: Vec::new(),
    };
    let outcome = batches(device, &config, &models, &mut result, &mut report, progress).await;
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    let error = outcome.err();
    if let Some(error) = &error {
        report.status = RunStatus::Failed(error.to_string());
    }
    report.result = Some(result);
    Ok(BestOfNOutcome { report, error })
}

async fn batches(
    device: &LabDevice,
    config: &BestOfNConfig,
    models: &RunModels<'_>,
    result: &mut BestOfNResult,
    report: &mut BestOfNReport,
    progress: &mut impl Progress,
) -> Result<(), LabError> {
    let policy = models.policy.valid();
    let wordnet = WordNet::bundled()?;
    let mut order = PromptOrder::new(config.prompts.prompts(), config.seed);
    let rollout_config = &config.rollout;
    for step in 1..=config.steps {
        let prompts = (order.take(rollout_config.prompts_per_step).iter())
            .map(|text| PromptTurn::new(text, rollout_config.chat_frame, models.tokenizer))
            .collect::<Result<Vec<_>, LabError>>()?;
        let (samples, dropped_empty) = rollout::sample_step(
            &policy,
            models.tokenizer,
            &prompts,
            rollout_config,
            config.seed,
            step,
            &device.device,
        )
        .await?;
        let heldout = models.heldout.as_ref();
        let rewards =
            rollout::score(&prompts, &samples, &models.reward, heldout, rollout_config).await?;
        let prompt_of: Vec<usize> = samples.iter().map(|sample| sample.prompt).collect();
        let chosen = top_k_per_prompt(&prompt_of, &rewards.score, 1);

        let series = &mut result.series;
        let of_chosen = |values: &[f64]| mean(chosen.iter().map(|&i| values[i]));
        series
            .reward_train
            .push(of_chosen(&rewards.train).unwrap_or(f64::NAN));
        (series.reward_heldout).push(rewards.heldout.as_deref().and_then(of_chosen));
        series.kl.push(best_of_n_kl(&prompt_of, prompts.len()));
        let texts: Vec<(usize, &str)> = (chosen.iter())
            .map(|&i| (samples[i].prompt, samples[i].text.as_str()))
            .collect();
        (series.meteor_similarity).push(meteor_across_prompts(&texts, &wordnet));
        (series.reward_train_all).push(mean(rewards.train.iter().copied()).unwrap_or(f64::NAN));
        series.completions.push(samples.len());
        series.dropped_empty.push(dropped_empty);
        let records = sample_records(step, &prompts, &samples, &rewards, &chosen);
        progress.detail(&records);
        result.samples.extend(records);

        let event = StepEvent {
            step,
            total: config.steps,
            metrics: step_metrics(series),
        };
        report.steps.push(event.clone());
        if progress.step(&event).await == Control::Stop {
            report.status = RunStatus::Stopped;
            break;
        }
    }
    Ok(())
}

/// `ln N - (N - 1) / N` averaged over the prompts, N each prompt's completions with text;
/// `None` when no prompt has any.
fn best_of_n_kl(prompt_of: &[usize], prompts: usize) -> Option<f64> {
    let bound = |n: usize| (n as f64).ln() - (n as f64 - 1.0) / n as f64;
    let counts = (0..prompts).map(|p| prompt_of.iter().filter(|&&q| q == p).count());
    mean(counts.filter(|&n| n > 0).map(bound))
}

fn step_metrics(series: &BestOfNSeries) -> BTreeMap<String, f64> {
    let last = |values: &[Option<f64>]| values.last().copied().flatten();
    let count = |values: &[usize]| values.last().map(|&n| n as f64);
    let entries = [
        ("reward_train", series.reward_train.last().copied()),
        ("reward_heldout", last(&series.reward_heldout)),
        ("kl", last(&series.kl)),
        ("meteor_similarity", last(&series.meteor_similarity)),
        ("reward_train_all", series.reward_train_all.last().copied()),
        ("completions", count(&series.completions)),
        ("dropped_empty", count(&series.dropped_empty)),
    ];
    (entries.into_iter())
        .filter_map(|(name, value)| Some((name.to_string(), value?)))
        .collect()
}
