//! `superlab classify`: the most probable classes of a photograph, as JSON.

use super::{files, load, to_json};
use clap::Args;
use std::path::PathBuf;
use superlab::LabError;
use superlab::device::BackendChoice;
use superlab::explain::photo;
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
    #[arg(long, default_value_t = TOP, value_parser = super::at_least_one)]
    top: usize,
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
}

pub async fn run(args: ClassifyArgs) -> Result<(), LabError> {
    let bytes = files::read(&args.image)?;
    let photo = photo::decode_photo(&bytes).map_err(|error| files::in_file(&args.image, error))?;
    let (loaded, device) = load(&args.model, ModelKind::ImageClassifier, args.backend).await?;
    let LoadedModel::Classifier(classifier) = loaded.model else {
        unreachable!("load checks the kind");
    };
    let ranked = classifier
        .classify(&photo.image, args.top, &device.device)
        .await?;
    println!("{}", to_json(&ranked)?);
    Ok(())
}
