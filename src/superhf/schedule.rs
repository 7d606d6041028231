//! The learning rate over a run: a linear warm-up from 0, then half a cosine down to 0 at the
//! last optimiser step, as transformers' `get_cosine_schedule_with_warmup` computes it (the
//! schedule the reference trains with). Like that schedule, optimiser step `k` (from 0) uses
//! the factor of `k`, so the first step of a warm-up runs at rate 0.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CosineWithWarmup {
    pub peak: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
}

impl CosineWithWarmup {
    /// The learning rate of optimiser step `step`, counted from 0. (Past `total_steps` the
    /// cosine rises again, as transformers' does; a run never goes there.)
    pub fn learning_rate(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.peak * step as f64 / self.warmup_steps.max(1) as f64;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = (step - self.warmup_steps) as f64 / decay_steps as f64;
        self.peak * (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
    }
}
