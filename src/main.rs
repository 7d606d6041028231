//! The native command-line tool: the same core as the page, on the CPU or through wgpu.

mod cli;

use clap::{Parser, Subcommand};
use cli::{LogSteps, to_json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use superlab::LabError;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::report::RunStatus;
use superlab::selfcheck::{self, CheckConfig};
use superlab::superhf::meteor::{WordNet, meteor};

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
    /// Score `{"hypothesis": ..., "reference": ...}` lines with METEOR as NLTK computes it,
    /// printing one score per line.
    Meteor {
        #[arg(long)]
        pairs: PathBuf,
    },
    /// Align a language model with SuperHF (sample, score, keep the best, fine-tune) and write
    /// report.json, samples.jsonl, metrics.csv and the LoRA adapter into --out.
    Superhf(cli::superhf::RunArgs),
    /// The best-of-N baseline: answer each prompt with the completion the reward model
    /// prefers; writes report.json, samples.jsonl and metrics.csv into --out.
    BestOfN(cli::superhf::RunArgs),
    /// The PPO baseline (RLHF with a KL penalty) on the same prompts, sampling and reward
    /// models; writes report.json, samples.jsonl, metrics.csv and the LoRA adapter with the
    /// value head into --out.
    Ppo(cli::superhf::RunArgs),
    /// Train a reward model's linear head on labelled texts or preference pairs.
    TrainReward(cli::train_reward::TrainRewardArgs),
    /// Print the reward a reward model gives each text.
    Score(cli::score::ScoreArgs),
    /// Continue a prompt with a language model (the default SmolLM2, or local files).
    Generate(cli::generate::GenerateArgs),
    /// Classify a photograph with an image classifier, printing the top classes as JSON.
    Classify(cli::classify::ClassifyArgs),
    /// Explain an image classifier's decision on a photograph with ShearletX or a baseline,
    /// writing report.json, explanation.png and the mask images into --out.
    Shearletx(cli::shearletx::ShearletXArgs),
    /// Time the lab's workloads on every backend present against PyTorch on this machine,
    /// print a table of medians and write every repetition as JSON.
    Bench(cli::bench::BenchArgs),
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
        Command::Check {
            backend,
            steps,
            seed,
            out,
        } => {
            let device = LabDevice::acquire(backend, &Requirements::default()).await?;
            let config = CheckConfig {
                steps,
                seed,
                ..CheckConfig::default()
            };
            let report = selfcheck::run(&device, config, &mut LogSteps).await?;
            write_output(out, &to_json(&report)?)?;
            if let RunStatus::Failed(message) = report.status {
                return Err(LabError::Execution(message));
            }
        }
        Command::Meteor { pairs } => score_meteor_pairs(&pairs)?,
        Command::Superhf(args) => cli::superhf::superhf(args).await?,
        Command::BestOfN(args) => cli::superhf::best_of_n(args).await?,
        Command::Ppo(args) => cli::ppo::run(args).await?,
        Command::TrainReward(args) => cli::train_reward::run(args).await?,
        Command::Score(args) => cli::score::run(args).await?,
        Command::Generate(args) => cli::generate::run(args).await?,
        Command::Classify(args) => cli::classify::run(args).await?,
        Command::Shearletx(args) => cli::shearletx::run(args).await?,
        Command::Bench(args) => cli::bench::run(args).await?,
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct MeteorPair {
    hypothesis: String,
    reference: String,
}

fn score_meteor_pairs(path: &Path) -> Result<(), LabError> {
    let text = cli::files::read_text(path)?;
    // Every line is read before any is scored, so a bad line prints nothing but its error.
    let pairs = (text.lines().enumerate())
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            serde_json::from_str::<MeteorPair>(line).map_err(|error| {
                LabError::Input(format!("{}:{}: {error}", path.display(), number + 1))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let wordnet = WordNet::bundled()?;
    for pair in pairs {
        println!("{}", meteor(&pair.hypothesis, &pair.reference, &wordnet));
    }
    Ok(())
}

fn write_output(out: Option<PathBuf>, text: &str) -> Result<(), LabError> {
    match out {
        None => println!("{text}"),
        Some(path) => cli::files::write(&path, text)?,
    }
    Ok(())
}
