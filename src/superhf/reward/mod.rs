//! Reward models for SuperHF: training them on labelled texts or preference pairs
//! ([`train`]), reward models on causal language models ([`causal_lm`]), any hub reward
//! checkpoint with its tokenizer ([`hub`], [`text`]), and the lab's two default reward models
//! ([`defaults`]).

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
pub use defaults::{DefaultReward, EncoderFiles, default_reward_model};
pub use problem::{Evaluation, TokenisedData, TokenisedItems, regression_loss};
pub use text::{TextReward, TextTokens};
pub use train::{TrainingRun, train_encoder_reward, train_reward_model};
