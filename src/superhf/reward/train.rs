//! The training loop of reward models: epochs of shuffled minibatches, one Adam or AdamW step
//! each, a held-out evaluation and a progress event after every epoch.
//!
//! Two ways in. [`train_encoder_reward`] with a frozen encoder embeds every text once (the mean
//! of its hidden states over real tokens) and trains the linear head on those vectors, which
//! is fast enough for hundreds of epochs; with `train_encoder` it trains the whole model like
//! [`train_reward_model`], which takes any reward model that is a burn module.

use super::config::RewardTrainingConfig;
use super::data::shuffled;
use super::problem::{Evaluation, Problem, TokenisedData};
use crate::LabError;
use crate::device::{LabDevice, read};
use crate::models::encoder::batch::TokenBatch;
use crate::models::encoder::pooling::mean_over_tokens;
use crate::models::encoder::reward::{EncoderReward, RewardModel, Scorer};
use crate::progress::{Control, Progress, StepEvent};
use crate::report::{RunReport, RunStatus};
use crate::rng::SplitMix64;
use burn::module::Module;
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct RewardTrainingResult {
    pub training_items: usize,
    pub validation_items: usize,
    pub epochs_finished: usize,
    /// The mean training loss of the last finished epoch.
    pub train_loss: Option<f64>,
    /// The held-out evaluation after the last finished epoch.
    pub validation: Option<Evaluation>,
}

pub type RewardTrainingReport = RunReport<RewardTrainingConfig, RewardTrainingResult>;

/// A finished, stopped or diverged run.
pub struct TrainingRun<M> {
    /// The model after the last finished epoch, on the device without autodiff, ready to
    /// score. A diverged run keeps the epoch before the one that diverged.
    pub model: M,
    pub report: RewardTrainingReport,
    /// Why the run stopped early when its loss stopped being a number
    /// ([`LabError::Diverged`]); the report's status carries the same message.
    pub diverged: Option<LabError>,
}

impl<M> TrainingRun<M> {
    /// The run, or the divergence that ended it.
    pub fn completed(self) -> Result<Self, LabError> {
        match self.diverged {
            Some(error) => Err(error),
            None => Ok(self),
        }
    }
}

/// Trains an encoder reward model. With `config.train_encoder` false the encoder must carry a
/// pooled scalar head (a plain encoder, as `EncoderReward::from_hub` makes of one), and only
/// that head is trained.
pub async fn train_encoder_reward(
    model: EncoderReward,
    data: &TokenisedData,
    config: &RewardTrainingConfig,
    device: &LabDevice,
    progress: &mut impl Progress,
) -> Result<TrainingRun<EncoderReward>, LabError> {
    if config.train_encoder {
        return train_reward_model(model, data, config, device, progress).await;
    }
    let reading = model.reading();
    let Scorer::Pooled(mut pooled) = model.scorer else {
        return Err(LabError::Config(
            "with a frozen encoder only a pooled scalar head is trained, and this model is a \
             sequence classifier: train its encoder too, or start from a plain encoder"
                .into(),
        ));
    };
    let run = Run::start(data, config, device)?;
    let plain = device.device.clone().inner();
    pooled.encoder = pooled.encoder.valid();
    let embeddings = embed(&run.problem, &pooled.encoder, config, &plain)?;
    let embeddings_autodiff = embeddings.clone().autodiff();
    let score = |head: &Linear, _: &Problem, texts: &[usize], device: &Device| {
        let source = match device.is_autodiff() {
            true => embeddings_autodiff.clone(),
            false => embeddings.clone(),
        };
        Ok(head
            .forward(source.select(0, indices(texts, device)))
            .reshape([texts.len()]))
    };
    let trained = run.epochs(pooled.head.clone(), score, progress).await?;
    pooled.head = trained.model;
    Ok(TrainingRun {
        model: EncoderReward::new(Scorer::Pooled(pooled), reading),
        report: trained.report,
        diverged: trained.diverged,
    })
}

/// Trains every parameter of `model` that requires a gradient (a module frozen in part
/// keeps that part), whatever `config.train_encoder` says.
pub async fn train_reward_model<M: RewardModel + Module>(
    model: M,
    data: &TokenisedData,
    config: &RewardTrainingConfig,
    device: &LabDevice,
    progress: &mut impl Progress,
) -> Result<TrainingRun<M>, LabError> {
    let run = Run::start(data, config, device)?;
    let score = |model: &M, problem: &Problem, texts: &[usize], device: &Device| {
        let sequences: Vec<&[u32]> = texts.iter().map(|&t| &problem.sequences[t][..]).collect();
        model.rewards(&TokenBatch::right_padded(
            &sequences,
            problem.pad_id,
            device,
        )?)
    };
    run.epochs(model, score, progress).await
}

/// The mean-pooled final hidden states of every text, without autodiff.
///
/// Shapes: the result is `[texts, width]`.
fn embed(
    problem: &Problem,
    encoder: &crate::models::encoder::TextEncoder,
    config: &RewardTrainingConfig,
    device: &Device,
) -> Result<Tensor<2>, LabError> {
    let parts = (problem.sequences.chunks(config.eval_batch_size))
        .map(|sequences| {
            let batch = TokenBatch::right_padded(sequences, problem.pad_id, device)?;
            Ok(mean_over_tokens(encoder.forward(&batch)?, batch.mask()))
        })
        .collect::<Result<Vec<_>, LabError>>()?;
    Ok(Tensor::cat(parts, 0))
}

fn indices(texts: &[usize], device: &Device) -> Tensor<1, Int> {
    let values: Vec<i32> = texts.iter().map(|&t| t as i32).collect();
    Tensor::from_data(TensorData::new(values, [texts.len()]), device)
}

/// What every run shares: the items, split into training and validation, the shuffling
/// generator and the report.
struct Run<'a> {
    problem: Problem,
    training: Vec<usize>,
    validation: Vec<usize>,
    numbers: SplitMix64,
    config: &'a RewardTrainingConfig,
    device: &'a LabDevice,
    report: RewardTrainingReport,
}

impl<'a> Run<'a> {
    fn start(
        data: &TokenisedData,
        config: &'a RewardTrainingConfig,
        device: &'a LabDevice,
    ) -> Result<Self, LabError> {
        config.validate()?;
        let mut numbers = SplitMix64::new(config.seed);
        let problem = Problem::new(data, config.loss, &mut numbers)?;
        let order = shuffled(problem.len(), &mut numbers);
        let held_out = (config.validation_fraction * problem.len() as f64).round() as usize;
        let (validation, training) = order.split_at(held_out.min(problem.len() - 1));
        let report = RunReport::new("reward-model", config.clone(), device.report.clone());
        Ok(Self {
            training: training.to_vec(),
            validation: validation.to_vec(),
            problem,
            numbers,
            config,
            device,
            report,
        })
    }

    /// Runs the epochs on `model`, scored by `score(model, problem, texts, device)` (the
    /// rewards of the problem's texts of those indices).
    async fn epochs<M, S>(
        mut self,
        model: M,
        score: S,
        progress: &mut impl Progress,
    ) -> Result<TrainingRun<M>, LabError>
    where
        M: Module,
        S: Fn(&M, &Problem, &[usize], &Device) -> Result<Tensor<1>, LabError>,
    {
        let started = web_time::Instant::now();
        let config = self.config;
        let autodiff = self.device.device.clone().autodiff();
        let mut model = model.train();
        let mut kept = model.valid();
        let mut optimizer = config.optimizer();
        let mut result = RewardTrainingResult {
            training_items: self.training.len(),
            validation_items: self.validation.len(),
            epochs_finished: 0,
            train_loss: None,
            validation: None,
        };
        let mut diverged = None;
        for epoch in 1..=config.epochs {
            let order = shuffled(self.training.len(), &mut self.numbers);
            let mut loss_sum = Tensor::<1>::zeros([1], &autodiff);
            for chunk in order.chunks(config.batch_size) {
                let items: Vec<usize> = chunk.iter().map(|&i| self.training[i]).collect();
                let rewards = score(
                    &model,
                    &self.problem,
                    &self.problem.texts_of(&items),
                    &autodiff,
                )?;
                let loss = self.problem.loss(rewards, &items, &autodiff);
                loss_sum = loss_sum + loss.clone().detach() * items.len() as f64;
                let gradients = GradientsParams::from_grads(loss.backward(), &model);
                model = optimizer.step(config.learning_rate, model, gradients);
            }
            let train_loss = f64::from(read(loss_sum).await?[0]) / self.training.len() as f64;
            let validation = self.evaluate(&model.valid(), &score).await?;
            let bad = match &validation {
                _ if !train_loss.is_finite() => Some(("training", train_loss)),
                Some(evaluation) if !evaluation.loss.is_finite() => {
                    Some(("validation", evaluation.loss))
                }
                _ => None,
            };
            if let Some((which, value)) = bad {
                let error = LabError::Diverged {
                    step: epoch,
                    what: format!(
                        "the {which} loss of epoch {epoch} is {value}; the model keeps the \
                         parameters of the epoch before. A smaller learning rate than {:?} may \
                         help",
                        config.learning_rate
                    ),
                };
                self.report.status = RunStatus::Failed(error.to_string());
                diverged = Some(error);
                break;
            }
            kept = model.valid();
            result.epochs_finished = epoch;
            result.train_loss = Some(train_loss);
            let mut metrics = vec![("train_loss".to_string(), train_loss)];
            if let Some(evaluation) = &validation {
                metrics.extend(evaluation.metrics("validation"));
            }
            result.validation = validation;
            let event = StepEvent {
                step: epoch,
                total: config.epochs,
                metrics: metrics.into_iter().collect(),
            };
            self.report.steps.push(event.clone());
            if progress.step(&event).await == Control::Stop {
                self.report.status = RunStatus::Stopped;
                break;
            }
        }
        self.report.result = Some(result);
        self.report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(TrainingRun {
            model: kept,
            report: self.report,
            diverged,
        })
    }

    /// The held-out items' loss and metrics, scored without autodiff in batches.
    async fn evaluate<M, S>(&self, model: &M, score: &S) -> Result<Option<Evaluation>, LabError>
    where
        S: Fn(&M, &Problem, &[usize], &Device) -> Result<Tensor<1>, LabError>,
    {
        if self.validation.is_empty() {
            return Ok(None);
        }
        let plain = self.device.device.clone().inner();
        let texts = self.problem.texts_of(&self.validation);
        let mut rewards = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.config.eval_batch_size) {
            rewards.extend(read(score(model, &self.problem, chunk, &plain)?).await?);
        }
        Ok(Some(self.problem.evaluate(&rewards, &self.validation)))
    }
}
