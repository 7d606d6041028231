//! `superlab shearletx`: explains a classifier's decision on a photograph with ShearletX or
//! one of its baselines, and writes the report and images into a folder.
//!
//! `DIR/report.json` holds the run's report (`config`, `class_index`, `class_probability`,
//! `retained_probability`, `cp_l1`, `cp_l1_pixel`, `cp_entropy`, `hallucination_score`,
//! `scores` for every mask, `timings`, the per-step `history`, `status`, `device`), and
//! beside it `class_name`, the `image` (its file, what it held and the crop taken), the
//! `model` and the `files` written; see `output` for the images.

mod model;
mod output;

use std::path::{Path, PathBuf};

use super::files;
use super::to_json;
use superlab::LabError;
use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::explain::methods::{
    self, ExplanationReport, ImageRecord, MethodOverrides, ModelRecord, RunRecord, ScoreConfig,
};
use superlab::explain::photo;
use superlab::explain::{Method, Variant, shearletx};
use superlab::models::load::defaults::IMAGENET_NAMES;
use superlab::models::vision::ClassNames;
use superlab::progress::{Control, Progress, StepEvent};
use superlab::report::RunStatus;
use web_time::Instant;

/// How often, at most, the steps are logged over a run.
const LOG_LINES: usize = 30;

#[derive(clap::Args, Debug)]
pub struct ShearletXArgs {
    /// The photograph: PNG, JPEG, GIF, WebP, BMP or TIFF. Its shorter side is resized to 256
    /// pixels and the centre 256x256 taken.
    #[arg(long)]
    image: PathBuf,
    /// `default` (EfficientNet-Lite0 from the asset cache), an architecture (resnet18, vgg19,
    /// mobilenet_v3_small, efficientnet_lite0) with weights given as NAME:PATH (the asset
    /// cache holds EfficientNet-Lite0's only), or a weights file or folder (the architecture
    /// recognised from it).
    #[arg(long, default_value = "default")]
    model: String,
    /// shearletx, waveletx, cartoonx, pixel, smooth-pixel or gradcam.
    #[arg(long, default_value = "shearletx")]
    method: Method,
    /// The class to explain; the classifier's top class when left out.
    #[arg(long)]
    class: Option<usize>,
    /// Optimisation steps (the method's default when left out: 300, 800 for smooth-pixel).
    #[arg(long)]
    steps: Option<usize>,
    /// Seeds the noise of the masking methods.
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
    /// reference (mixed coefficients clamped to [0, 1] before synthesis, as the reference code
    /// runs it) or paper (no clamp).
    #[arg(long, value_parser = parse_variant)]
    variant: Option<Variant>,
    /// Noise samples per step (default 16).
    #[arg(long)]
    noise_samples: Option<usize>,
    /// Weight of the mask's sparsity (default: the method's).
    #[arg(long)]
    lambda1: Option<f64>,
    /// Weight of the spatial term (shearletx and waveletx).
    #[arg(long)]
    lambda2: Option<f64>,
    #[arg(long)]
    learning_rate: Option<f64>,
    /// The smooth pixel mask's areas, comma-separated; the first is the headline (default
    /// 0.05,0.1,0.2).
    #[arg(long, value_delimiter = ',')]
    areas: Option<Vec<f64>>,
    /// The folder for report.json and the images; created when missing.
    #[arg(long)]
    out: PathBuf,
}

fn parse_variant(text: &str) -> Result<Variant, String> {
    match text {
        "reference" => Ok(Variant::Reference),
        "paper" => Ok(Variant::Paper),
        other => Err(format!(
            "unknown variant '{other}': expected reference or paper"
        )),
    }
}

pub async fn run(args: ShearletXArgs) -> Result<(), LabError> {
    let overrides = MethodOverrides {
        target_class: args.class,
        steps: args.steps,
        learning_rate: args.learning_rate,
        seed: args.seed,
        variant: args.variant,
        noise_samples: args.noise_samples,
        lambda1: args.lambda1,
        lambda2: args.lambda2,
        areas: args.areas.clone(),
    };
    let config = args.method.default_config().with_overrides(&overrides)?;
    let source = model::resolve(&args.model)?;
    let bytes = files::read(&args.image)?;
    let prepared = photo::prepare_photo(&bytes, &shearletx::preparation())
        .map_err(|error| files::in_file(&args.image, error))?;
    files::create_folder(&args.out)?;

    let device = LabDevice::acquire(args.backend, &Requirements::default()).await?;
    log::info!("running on {}", device.report.description);
    let (architecture, classifier) = model::load(&source, &device.device)?;
    let image = prepared.tensor(&device.device)?;
    log::info!(
        "{} on {} ({}x{}, cropped to {}) with {}",
        args.method,
        args.image.display(),
        prepared.info.width,
        prepared.info.height,
        prepared.crop.size,
        architecture.name()
    );
    let report = methods::run(
        &device,
        classifier.as_ref(),
        image,
        config,
        ScoreConfig::default(),
        &mut LogSteps::new(),
    )
    .await?;

    let files = match &report.explanation {
        Some(explanation) => output::write_images(&args.out, explanation)?,
        None => Vec::new(),
    };
    let class_name = report.class_index.and_then(class_name);
    let command_report = RunRecord {
        run: &report,
        class_name,
        image: ImageRecord {
            path: args.image.display().to_string(),
            info: prepared.info,
            crop: prepared.crop,
        },
        model: ModelRecord {
            architecture: architecture.name(),
            weights: source.weights.display().to_string(),
        },
        files,
    };
    files::write(&args.out.join("report.json"), to_json(&command_report)?)?;
    summarise(&report, &args.out);
    match report.status {
        RunStatus::Failed(message) => Err(LabError::Execution(message)),
        _ => Ok(()),
    }
}

/// The ImageNet name of `class`, when the asset cache has the names.
fn class_name(class: usize) -> Option<String> {
    let bytes = files::read_asset(&IMAGENET_NAMES).ok()?;
    let names = ClassNames::from_json(std::str::from_utf8(&bytes).ok()?).ok()?;
    (class < names.len()).then(|| names.name(class).to_string())
}

fn summarise(report: &ExplanationReport, out: &Path) {
    let show = |value: Option<f64>| value.map_or("-".to_string(), |v| format!("{v:.4}"));
    log::info!(
        "class {}: retained probability {}, CP-L1 {}, CP-L1-pixel {}, CP-Entropy {}, \
         hallucination {}; {} steps in {:.1} s; written to {}",
        report
            .class_index
            .map_or("-".to_string(), |c| c.to_string()),
        show(report.retained_probability),
        show(report.cp_l1),
        show(report.cp_l1_pixel),
        show(report.cp_entropy),
        show(report.hallucination_score),
        report.timings.steps,
        report.timings.total_ms / 1e3,
        out.display()
    );
}

/// Logs about [`LOG_LINES`] steps of a run to standard error, with the time per step.
struct LogSteps {
    last: Instant,
    since_last: usize,
}

impl LogSteps {
    fn new() -> Self {
        Self {
            last: Instant::now(),
            since_last: 0,
        }
    }
}

impl Progress for LogSteps {
    async fn step(&mut self, event: &StepEvent) -> Control {
        self.since_last += 1;
        let every = event.total.div_ceil(LOG_LINES).max(1);
        if event.step == 1 || event.step.is_multiple_of(every) || event.step == event.total {
            let metrics: Vec<String> = (event.metrics.iter())
                .map(|(name, value)| format!("{name} {value:.5}"))
                .collect();
            let seconds = self.last.elapsed().as_secs_f64() / self.since_last as f64;
            log::info!(
                "step {}/{}: {} ({seconds:.2} s/step)",
                event.step,
                event.total,
                metrics.join(", ")
            );
            self.last = Instant::now();
            self.since_last = 0;
        }
        Control::Continue
    }
}
