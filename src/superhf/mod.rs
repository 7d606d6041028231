//! SuperHF: supervised iterative learning from human feedback, and the metrics its paper reports.

pub mod advantage;
pub mod loss;
pub mod meteor;
pub mod ppo;
pub mod reward;
