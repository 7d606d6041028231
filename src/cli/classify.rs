//! `superlab classify`: the most probable classes of a photograph, as JSON.

use super::{load, to_json};
use clap::Args;
use std::path::PathBuf;
use superlab::LabError;
use superlab::device::BackendChoice;
use superlab::models::load::{LoadedModel, ModelKind};

/// How many classes a classification lists unless told otherwise.
const TOP: usize = 5;

#[derive(Args)]
pub struct ClassifyArgs {
    /// `default` (EfficientNet-Lite0), a default's name, a folder with a classifier's
    /// safetensors (and timm's config.json), or a legacy .pth checkpoint.
    #[arg(long, default_value = "default")]
    model: String,
    /// A PNG, JPEG, GIF, WebP, BMP or TIFF file.
    #[arg(long)]
    image: PathBuf,
    #[arg(long, default_value_t = TOP)]
    top: usize,
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
}

pub async fn run(args: ClassifyArgs) -> Result<(), LabError> {
    let image = super::files::read(&args.image)?;
    let (loaded, device) = load(&args.model, ModelKind::ImageClassifier, args.backend).await?;
    let LoadedModel::Classifier(classifier) = loaded.model else {
        unreachable!("load checks the kind");
    };
    let ranked = classifier
        .classify(&image, args.top, &device.device)
        .await?;
    println!("{}", to_json(&ranked)?);
    Ok(())
}
