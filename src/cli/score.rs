//! `superlab score`: one reward per text from a text-encoder reward model.

use super::load;
use clap::Args;
use superlab::LabError;
use superlab::device::BackendChoice;
use superlab::models::load::{LoadedModel, ModelKind};

#[derive(Args)]
pub struct ScoreArgs {
    /// A folder with a BERT or DistilBERT checkpoint: config.json, tokenizer.json and
    /// safetensors weights.
    #[arg(long)]
    reward_model: String,
    /// The text to score; repeat it to score several, one score per line.
    #[arg(long, required = true)]
    text: Vec<String>,
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
}

pub async fn run(args: ScoreArgs) -> Result<(), LabError> {
    let (loaded, device) = load(&args.reward_model, ModelKind::RewardModel, args.backend).await?;
    let LoadedModel::Reward(reward) = loaded.model else {
        unreachable!("load checks the kind");
    };
    for score in reward.score(&args.text, &device.device).await? {
        println!("{score}");
    }
    Ok(())
}
