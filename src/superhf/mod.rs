//! SuperHF: supervised iterative learning from human feedback, and the metrics its paper reports.

pub mod meteor;
