//! `superlab train-reward`: trains a reward head (or a whole encoder reward model) on
//! labelled texts or preference pairs and writes it as safetensors.

use super::files::{checkpoint, encoder_dir, file_name, read_text, write};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use superlab::LabError;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::models::encoder::reward::{EncoderReward, Scorer};
use superlab::models::tokenizer::Tokenizer;
use superlab::superhf::reward::checkpoint::{head_tensors, pooled_reward_tensors, to_safetensors};
use superlab::superhf::reward::hub::max_tokens;
use superlab::superhf::reward::text::TextTokens;
use superlab::superhf::reward::{
    RewardData, RewardLoss, RewardTrainingConfig, train_encoder_reward,
};

#[derive(Clone, Copy, ValueEnum)]
pub enum LossArg {
    Regression,
    BradleyTerry,
}

fn defaults() -> RewardTrainingConfig {
    RewardTrainingConfig::default()
}

#[derive(Args)]
pub struct TrainRewardArgs {
    /// A folder with config.json, tokenizer.json and *.safetensors weights of a plain BERT or
    /// DistilBERT encoder, or `default` for the packaged all-MiniLM-L6-v2.
    #[arg(long, default_value = "default")]
    encoder: String,
    /// JSON lines of {"text": ..., "label": ...} or {"chosen": ..., "rejected": ...} (with an
    /// optional "prompt"); with --split, a JSON object holding arrays of such records.
    #[arg(long)]
    data: PathBuf,
    /// The array of the JSON object to train on, such as `train` or `heldout` of
    /// tests/fixtures/sentiment_data.json.
    #[arg(long)]
    split: Option<String>,
    /// Regression for labelled texts, bradley-terry for pairs, unless given.
    #[arg(long, value_enum)]
    loss: Option<LossArg>,
    #[arg(long, default_value_t = defaults().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = defaults().seed)]
    seed: u64,
    #[arg(long, default_value_t = defaults().learning_rate)]
    learning_rate: f64,
    #[arg(long, default_value_t = defaults().batch_size)]
    batch_size: usize,
    /// AdamW's decoupled weight decay.
    #[arg(long, default_value_t = defaults().weight_decay)]
    weight_decay: f64,
    /// The share of the items held out to report loss and accuracy or correlation per epoch.
    #[arg(long, default_value_t = defaults().validation_fraction)]
    validation_fraction: f64,
    /// Train the encoder too (slow); the file then holds the whole model.
    #[arg(long)]
    train_encoder: bool,
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
    /// The safetensors file to write: `reward_head.weight` [1, width] and `reward_head.bias`
    /// [1], and with --train-encoder the encoder's tensors too.
    #[arg(long)]
    out: PathBuf,
}

pub async fn run(args: TrainRewardArgs) -> Result<(), LabError> {
    let device = LabDevice::acquire(args.backend, &Requirements::default()).await?;
    let files = checkpoint(&encoder_dir(&args.encoder)?)?;
    let text = read_text(&args.data)?;
    let source = file_name(&args.data);
    let data = match &args.split {
        Some(split) => RewardData::from_json_split(&source, &text, split)?,
        None => RewardData::from_jsonl(&source, &text)?,
    };
    let tokenizer = Tokenizer::from_json_bytes(&files.tokenizer_json)?;
    let tokens = TextTokens::new(&tokenizer, max_tokens(&files.config_json, &tokenizer)?)?;
    let model = EncoderReward::from_hub(&files.config_json, &files.weights, &device.device)?;
    if !matches!(model.scorer, Scorer::Pooled(_)) {
        return Err(LabError::Config(
            "train-reward trains a linear head on a plain encoder (BertModel, DistilBertModel), \
             but this checkpoint is a sequence classifier"
                .into(),
        ));
    }
    let loss = match (args.loss, &data) {
        (Some(LossArg::Regression), _) => RewardLoss::Regression,
        (Some(LossArg::BradleyTerry), _) | (None, RewardData::Pairs(_)) => RewardLoss::BradleyTerry,
        (None, RewardData::Labelled(_)) => RewardLoss::Regression,
    };
    let config = RewardTrainingConfig {
        loss,
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        weight_decay: args.weight_decay,
        train_encoder: args.train_encoder,
        validation_fraction: args.validation_fraction,
        seed: args.seed,
        ..defaults()
    };
    log::info!(
        "training on {} {} from {} on {}",
        data.len(),
        match data {
            RewardData::Labelled(_) => "labelled texts",
            RewardData::Pairs(_) => "preference pairs",
        },
        args.data.display(),
        device.report.description
    );
    let tokenised = tokens.tokenise(&data)?;
    let run = train_encoder_reward(
        model,
        &tokenised,
        &config,
        &device,
        &mut crate::cli::LogSteps,
    )
    .await?
    .completed()?;
    let Scorer::Pooled(pooled) = &run.model.scorer else {
        unreachable!("the scorer was checked to be a pooled head before training")
    };
    let tensors = match args.train_encoder {
        true => pooled_reward_tensors(pooled),
        false => head_tensors(pooled),
    };
    write(&args.out, &to_safetensors(&tensors).await?)?;
    println!("{}", crate::cli::to_json(&run.report)?);
    Ok(())
}
