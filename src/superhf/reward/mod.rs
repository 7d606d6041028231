//! Reward models for SuperHF: training them on labelled texts or preference pairs, reward
//! models on causal language models, and the lab's two default reward models.

pub mod causal_lm;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod defaults;
pub mod hub;
pub mod metrics;
pub mod overlay;
pub mod problem;
pub mod text;
pub mod train;

pub use config::{OptimizerKind, RewardLoss, RewardTrainingConfig};
pub use data::RewardData;
pub use problem::{Evaluation, TokenisedData, TokenisedItems, regression_loss};
pub use train::{TrainingRun, train_encoder_reward, train_reward_model};
