//! A whole explanation run, method and scores, as the page and the command-line tool report
//! it.

use burn::tensor::Tensor;
use serde::Serialize;
use web_time::Instant;

use super::{Explanation, MaskScores, Method, MethodConfig, Recorder, ScoreConfig, explain, score};
use crate::LabError;
use crate::device::{DeviceReport, LabDevice};
use crate::models::classifier::ImageClassifier;
use crate::progress::{Progress, StepEvent};
use crate::report::RunStatus;

/// Where the time of a run went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RunTimings {
    /// Classifying the image and building the representation.
    pub setup_ms: f64,
    /// The optimisation up to the final mask and explanation.
    pub optimisation_ms: f64,
    pub steps: usize,
    pub ms_per_step: Option<f64>,
    /// Computing the scores, edge detection included.
    pub scoring_ms: f64,
    pub total_ms: f64,
}

/// The report of one run. The headline fields (`retained_probability` to
/// `hallucination_score`) are those of the headline mask (see [`Explanation::headline`]);
/// `scores` holds every mask's.
#[derive(Debug, Clone, Serialize)]
pub struct ExplanationReport {
    pub lab: &'static str,
    pub version: &'static str,
    pub config: MethodConfig,
    pub scoring: ScoreConfig,
    pub device: DeviceReport,
    pub status: RunStatus,
    pub method: Method,
    /// The class explained and its softmax probability for the image.
    pub class_index: Option<usize>,
    pub class_probability: Option<f64>,
    pub retained_probability: Option<f64>,
    pub cp_l1: Option<f64>,
    pub cp_l1_pixel: Option<f64>,
    pub cp_entropy: Option<f64>,
    pub hallucination_score: Option<f64>,
    pub scores: Vec<MaskScores>,
    pub timings: RunTimings,
    /// Every step's metrics, also those before a failure.
    pub history: Vec<StepEvent>,
    /// The masks and images, for display and files; not serialised.
    #[serde(skip)]
    pub explanation: Option<Explanation>,
}

/// Runs the method of `config` on `image` and scores the result. Bad settings or input are an
/// `Err`; a failure during the run (a divergence, a lost device) is a report with a failed
/// status that keeps the steps taken; a Stop from `progress` ends the optimisation after the
/// current step and scores the mask as it stands.
///
/// Shapes: `image` is `[3, height, width]`, RGB in [0, 1], on `device` (see [`explain`]).
pub async fn run<C, P>(
    device: &LabDevice,
    classifier: &C,
    image: Tensor<3>,
    config: MethodConfig,
    scoring: ScoreConfig,
    progress: &mut P,
) -> Result<ExplanationReport, LabError>
where
    C: ImageClassifier + ?Sized,
    P: Progress,
{
    let started = Instant::now();
    let mut report = ExplanationReport {
        lab: "shearletx",
        version: env!("CARGO_PKG_VERSION"),
        method: config.method(),
        config,
        scoring,
        device: device.report.clone(),
        status: RunStatus::Completed,
        class_index: None,
        class_probability: None,
        retained_probability: None,
        cp_l1: None,
        cp_l1_pixel: None,
        cp_entropy: None,
        hallucination_score: None,
        scores: Vec::new(),
        timings: RunTimings::default(),
        history: Vec::new(),
        explanation: None,
    };
    let mut recorder = Recorder::new(progress);
    let explained = explain(classifier, image.clone(), &report.config, &mut recorder).await;
    report.history = recorder.steps;
    let outcome = match explained {
        Ok(explanation) => {
            let scoring_started = Instant::now();
            let scores = score(classifier, image, &explanation, &report.scoring).await;
            let scoring_ms = scoring_started.elapsed().as_secs_f64() * 1e3;
            scores.map(|scores| (explanation, scores, scoring_ms))
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok((explanation, scores, scoring_ms)) => report.fill(explanation, scores, scoring_ms),
        Err(error @ LabError::Config(_)) => return Err(error),
        Err(error) => report.status = RunStatus::Failed(error.to_string()),
    }
    report.timings.total_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(report)
}

impl ExplanationReport {
    fn fill(&mut self, explanation: Explanation, scores: Vec<MaskScores>, scoring_ms: f64) {
        if explanation.stopped {
            self.status = RunStatus::Stopped;
        }
        self.class_index = Some(explanation.target_class);
        self.class_probability = Some(explanation.target_probability);
        if let Some(headline) = scores.first() {
            self.retained_probability = Some(headline.scores.retained_probability);
            self.cp_l1 = headline.scores.cp_l1;
            self.cp_l1_pixel = headline.scores.cp_l1_pixel;
            self.cp_entropy = headline.scores.cp_entropy;
            self.hallucination_score = headline.hallucination_score;
        }
        let timings = explanation.timings;
        self.timings = RunTimings {
            setup_ms: timings.setup_ms,
            optimisation_ms: timings.optimisation_ms,
            steps: timings.steps,
            ms_per_step: timings.ms_per_step,
            scoring_ms,
            total_ms: 0.0,
        };
        self.scores = scores;
        self.explanation = Some(explanation);
    }
}
