//! How a reward model is trained: the loss, the optimiser and the schedule of epochs.

use crate::LabError;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer};
use serde::{Deserialize, Serialize};

/// What the rewards are fitted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RewardLoss {
    /// The mean squared error between each text's reward and its label.
    Regression,
    /// `-log sigmoid(r_chosen - r_rejected)`, averaged over pairs: the paper's reward-model
    /// loss. Labelled texts are paired first (see [`super::data::pairs_from_labels`]).
    BradleyTerry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam with the weight decay added to the gradient (an L2 penalty), as PyTorch's `Adam`.
    Adam,
    /// Adam with decoupled weight decay, as PyTorch's `AdamW`.
    AdamW,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RewardTrainingConfig {
    pub loss: RewardLoss,
    pub epochs: usize,
    /// Items (texts, or pairs) per optimiser step.
    pub batch_size: usize,
    pub learning_rate: f64,
    pub optimizer: OptimizerKind,
    pub weight_decay: f64,
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
    /// Train the encoder too. When false the encoder is frozen: each text is embedded once and
    /// only the linear head is trained, which takes seconds rather than hours.
    pub train_encoder: bool,
    /// The share of the items set aside (after a shuffle by `seed`) to report held-out loss
    /// and accuracy or correlation after every epoch; 0 trains on everything.
    pub validation_fraction: f64,
    /// Seeds the shuffles (the validation split, pairing labelled texts, each epoch's order),
    /// so a run repeats exactly on one backend.
    pub seed: u64,
    /// Texts per forward pass when embedding or evaluating (not a training hyperparameter).
    pub eval_batch_size: usize,
}

/// The seed of the lab's default reward heads; any fixed value would do.
pub const DEFAULT_SEED: u64 = 17;

impl Default for RewardTrainingConfig {
    fn default() -> Self {
        Self {
            loss: RewardLoss::Regression,
            epochs: 100,
            batch_size: 32,
            learning_rate: 1e-3,
            optimizer: OptimizerKind::AdamW,
            weight_decay: 1e-2,
            beta_1: 0.9,
            beta_2: 0.999,
            // PyTorch's default, so that a run can be checked against it step by step.
            epsilon: 1e-8,
            train_encoder: false,
            validation_fraction: 0.1,
            seed: DEFAULT_SEED,
            eval_batch_size: 64,
        }
    }
}

impl RewardTrainingConfig {
    pub fn validate(&self) -> Result<(), LabError> {
        let fail = |message: &str| Err(LabError::Config(message.into()));
        if self.epochs == 0 || self.epochs > 100_000 {
            return fail("epochs must be between 1 and 100000");
        }
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return fail("the batch sizes must be positive");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return fail("the learning rate must be a positive number");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return fail("the weight decay must be zero or positive");
        }
        let beta = |b: f64| (0.0..1.0).contains(&b);
        if !(beta(self.beta_1) && beta(self.beta_2)) {
            return fail("Adam's betas must lie in [0, 1)");
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return fail("Adam's epsilon must be positive");
        }
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return fail("the validation fraction must lie in [0, 1)");
        }
        Ok(())
    }

    pub(super) fn optimizer(&self) -> ModuleOptimizer {
        let (beta_1, beta_2, epsilon) = (self.beta_1 as f32, self.beta_2 as f32, self.epsilon);
        match self.optimizer {
            OptimizerKind::Adam => {
                let decay = (self.weight_decay > 0.0)
                    .then(|| WeightDecayConfig::new(self.weight_decay as f32));
                AdamConfig::new()
                    .with_beta_1(beta_1)
                    .with_beta_2(beta_2)
                    .with_epsilon(epsilon as f32)
                    .with_weight_decay(decay)
                    .init()
            }
            OptimizerKind::AdamW => AdamWConfig::new()
                .with_beta_1(beta_1)
                .with_beta_2(beta_2)
                .with_epsilon(epsilon as f32)
                .with_weight_decay(self.weight_decay as f32)
                .init(),
        }
    }
}
