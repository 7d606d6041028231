//! The command-line tool's commands that have grown beyond a few lines, one module each, with
//! what they share: progress logging, file output, finding a model's files on this machine and
//! the device to run on.

pub mod bench;
pub mod classify;
pub mod files;
pub mod generate;
pub mod ppo;
pub mod score;
pub mod shearletx;
pub mod superhf;
pub mod train_reward;

pub use files::model_files;
use superlab::LabError;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::models::load::{Loaded, ModelFiles, ModelKind};
use superlab::progress::{Control, Progress, StepEvent};

/// Logs each step to standard error.
pub struct LogSteps;

impl Progress for LogSteps {
    async fn step(&mut self, event: &StepEvent) -> Control {
        let metrics: Vec<String> = event
            .metrics
            .iter()
            .map(|(name, value)| format!("{name} {}", metric(*value)))
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

/// A metric to six decimals, without trailing zeros: counts read as whole numbers.
fn metric(value: f64) -> String {
    let text = format!("{value:.6}");
    let trimmed = match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.'),
        false => &text,
    };
    match trimmed {
        "-0" => "0".to_string(),
        other => other.to_string(),
    }
}

/// A count that must be at least 1, for clap.
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(count) => Ok(count),
        Err(error) => Err(error.to_string()),
    }
}

pub fn to_json(value: &impl serde::Serialize) -> Result<String, LabError> {
    serde_json::to_string_pretty(value)
        .map_err(|error| LabError::Execution(format!("cannot encode the report: {error}")))
}

/// The device the user chose, said on standard error.
pub async fn device(backend: BackendChoice) -> Result<LabDevice, LabError> {
    let device = LabDevice::acquire(backend, &Requirements::default()).await?;
    log::info!("computing on {}", device.report.description);
    if let Some(reason) = &device.report.fallback_reason {
        log::info!("on the CPU because {reason}");
    }
    Ok(device)
}

/// Loads the model `spec` names, which must be of `kind`.
pub async fn load(
    spec: &str,
    kind: ModelKind,
    backend: BackendChoice,
) -> Result<(Loaded, LabDevice), LabError> {
    let files = model_files(spec, kind)?;
    let device = device(backend).await?;
    Ok((load_files(files, kind, &device)?, device))
}

/// Loads a model of `kind` from its files onto `device`, said on standard error.
pub fn load_files(
    files: ModelFiles,
    kind: ModelKind,
    device: &LabDevice,
) -> Result<Loaded, LabError> {
    let loaded = superlab::models::load::load(files, device, Some(kind))?;
    let summary = &loaded.summary;
    log::info!(
        "{} ({}, {} parameters, {:.1} MiB as f32)",
        summary.name,
        summary.architecture,
        summary.parameters,
        summary.weights_bytes as f64 / (1 << 20) as f64
    );
    Ok(loaded)
}
