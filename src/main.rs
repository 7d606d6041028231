//! The native command-line tool: the same core as the page, on the CPU or through wgpu.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use superlab::LabError;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::progress::{Control, Progress, StepEvent};
use superlab::report::RunStatus;
use superlab::selfcheck::{self, CheckConfig};

#[derive(Parser)]
#[command(name = "superlab", version, about = "SuperHF and ShearletX, natively")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the device a run would use.
    Devices {
        #[arg(long, default_value = "auto")]
        backend: BackendChoice,
    },
    /// Train a small MLP for a few Adam steps and print the report as JSON: the numbers must
    /// agree across backends and with the page.
    Check {
        #[arg(long, default_value = "auto")]
        backend: BackendChoice,
        #[arg(long, default_value_t = CheckConfig::default().steps)]
        steps: usize,
        #[arg(long, default_value_t = CheckConfig::default().seed)]
        seed: u64,
        /// Write the report here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Logs each step to standard error.
struct LogSteps;

impl Progress for LogSteps {
    async fn step(&mut self, event: &StepEvent) -> Control {
        let metrics: Vec<String> =
            event.metrics.iter().map(|(name, value)| format!("{name} {value:.6}")).collect();
        log::info!("step {}/{}: {}", event.step, event.total, metrics.join(", "));
        Control::Continue
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match pollster::block_on(run(Cli::parse().command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), LabError> {
    match command {
        Command::Devices { backend } => {
            let device = LabDevice::acquire(backend, &Requirements::default()).await?;
            println!("{}", to_json(&device.report)?);
        }
        Command::Check { backend, steps, seed, out } => {
            let device = LabDevice::acquire(backend, &Requirements::default()).await?;
            let config = CheckConfig { steps, seed, ..CheckConfig::default() };
            let report = selfcheck::run(&device, config, &mut LogSteps).await?;
            write_output(out, &to_json(&report)?)?;
            if let RunStatus::Failed(message) = report.status {
                return Err(LabError::Execution(message));
            }
        }
    }
    Ok(())
}

fn to_json(value: &impl serde::Serialize) -> Result<String, LabError> {
    serde_json::to_string_pretty(value)
        .map_err(|error| LabError::Execution(format!("cannot encode the report: {error}")))
}

fn write_output(out: Option<PathBuf>, text: &str) -> Result<(), LabError> {
    match out {
        None => println!("{text}"),
        Some(path) => std::fs::write(&path, text).map_err(|error| {
            LabError::Config(format!("cannot write {}: {error}", path.display()))
        })?,
    }
    Ok(())
}
