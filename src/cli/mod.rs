//! The command-line tool's commands that have grown beyond a few lines, one module each, with
//! what they share: progress logging and file output.

pub mod files;
pub mod model_files;
pub mod ppo;
pub mod score;
pub mod superhf;
pub mod train_reward;

use std::path::Path;
use superlab::LabError;
use superlab::progress::{Control, Progress, StepEvent};

/// Logs each step to standard error.
pub struct LogSteps;

impl Progress for LogSteps {
    async fn step(&mut self, event: &StepEvent) -> Control {
        let metrics: Vec<String> = event
            .metrics
            .iter()
            .map(|(name, value)| format!("{name} {value:.6}"))
            .collect();
        log::info!(
            "step {}/{}: {}",
            event.step,
            event.total,
            metrics.join(", ")
        );
        Control::Continue
    }
}

pub fn to_json(value: &impl serde::Serialize) -> Result<String, LabError> {
    serde_json::to_string_pretty(value)
        .map_err(|error| LabError::Execution(format!("cannot encode the report: {error}")))
}

pub fn write_file(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), LabError> {
    std::fs::write(path, contents)
        .map_err(|error| LabError::Config(format!("cannot write {}: {error}", path.display())))
}

pub fn read_file(path: &Path) -> Result<Vec<u8>, LabError> {
    std::fs::read(path)
        .map_err(|error| LabError::Config(format!("cannot read {}: {error}", path.display())))
}
