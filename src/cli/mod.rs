//! The command-line tool's commands that need more than a few lines, one module each.

pub mod files;
pub mod score;
pub mod train_reward;
