//! SuperHF: supervised iterative learning from human feedback, its best-of-N baseline, and the
//! metrics its paper reports.
//!
//! A run reads as the method does: `train` loops over sample (`rollout`), score (`rollout`),
//! filter (`filter`) and fine-tune (`finetune`, with the loss in `loss`); `best_of_n` stops
//! after the filter. PPO builds on the same rollouts (`rollout`) and its advantages
//! (`advantage`): `ppo` is its update, `ppo_train` the run.

pub mod advantage;
pub mod best_of_n;
pub mod config;
pub mod filter;
pub mod finetune;
pub mod loss;
pub mod meteor;
pub mod metrics;
pub mod models;
pub mod ppo;
pub mod ppo_train;
pub mod prompts;
pub mod report;
pub mod reward;
pub mod rollout;
pub mod schedule;
pub mod train;
