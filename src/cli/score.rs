//! `superlab score`: the reward a reward model gives each text.

use super::files::{checkpoint, encoder_dir, file_name, read};
use clap::Args;
use std::path::Path;
use superlab::LabError;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::models::load::{LoadedModel, ModelKind, load};
use superlab::models::weights::Weights;
use superlab::superhf::reward::defaults::{DefaultReward, default_reward_model};
use superlab::superhf::reward::hub::text_reward_from_hub;
use superlab::superhf::reward::overlay::Overlay;

#[derive(Args)]
pub struct ScoreArgs {
    /// `default` or `default-heldout` (the lab's sentiment rewards on all-MiniLM-L6-v2), a
    /// checkpoint folder (config.json, tokenizer.json, *.safetensors) of a BERT or DistilBERT
    /// reward model or of a causal language model with a score head, or a safetensors file
    /// written by train-reward, read over the weights of --encoder.
    #[arg(long, default_value = "default")]
    reward_model: String,
    /// The encoder a head file was trained on: a folder, or `default` for all-MiniLM-L6-v2.
    #[arg(long, default_value = "default")]
    encoder: String,
    /// A text to score; repeat for several. Each score is printed on a line of its own.
    #[arg(long, required = true)]
    text: Vec<String>,
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
}

pub async fn run(args: ScoreArgs) -> Result<(), LabError> {
    let lab_device = LabDevice::acquire(args.backend, &Requirements::default()).await?;
    let device = &lab_device.device;
    let scores = match DefaultReward::from_name(&args.reward_model) {
        Some(which) => {
            let encoder = checkpoint(&encoder_dir(&args.encoder)?)?;
            let model = default_reward_model(which, &encoder, device)?;
            model.score(&args.text, device).await?
        }
        None if !args.reward_model.ends_with(".safetensors") => {
            let files = super::model_files(&args.reward_model, ModelKind::RewardModel)?;
            let loaded = load(files, &lab_device, Some(ModelKind::RewardModel))?;
            let LoadedModel::Reward(reward) = loaded.model else {
                unreachable!("load checks the kind");
            };
            reward.score(&args.text, device).await?
        }
        None => {
            let path = Path::new(&args.reward_model);
            let trained = Weights::from_safetensors(&file_name(path), read(path)?)?;
            let encoder = checkpoint(&encoder_dir(&args.encoder)?)?;
            let weights = Overlay {
                top: &trained,
                base: &encoder.weights,
            };
            let model = text_reward_from_hub(
                &encoder.config_json,
                &encoder.tokenizer_json,
                &weights,
                device,
            )?;
            model.score(&args.text, device).await?
        }
    };
    for score in scores {
        println!("{score}");
    }
    Ok(())
}
