//! How a long computation reports each step and learns whether to go on.
//!
//! Natively the command-line tool logs the step; in the browser the worker posts it to the
//! page and answers whether the user pressed Stop. Awaiting the answer also yields to the
//! browser's event loop, which is what lets a Stop message arrive between two steps.

use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;

/// What a run does after reporting a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

/// One finished optimisation step and its metrics, named as the report names them.
#[derive(Debug, Clone, Serialize)]
pub struct StepEvent {
    pub step: usize,
    pub total: usize,
    pub metrics: BTreeMap<String, f64>,
}

pub trait Progress {
    fn step(&mut self, event: &StepEvent) -> impl Future<Output = Control>;

    /// What the step about to be reported produced besides its metrics (a run's sampled
    /// completions, say), for an observer that shows it; ignored unless an observer wants it.
    fn detail(&mut self, _detail: &(impl Serialize + ?Sized)) {}
}

/// Runs to the end and reports nothing: for tests and batch runs.
pub struct Silent;

impl Progress for Silent {
    async fn step(&mut self, _event: &StepEvent) -> Control {
        Control::Continue
    }
}
