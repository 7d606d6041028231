//! The report of a run on a photograph, as `report.json` holds it and the page exports it: the
//! run's report with the class's name, the photograph and the crop taken, the classifier and
//! the image files that go with it.

use serde::Serialize;

use super::ExplanationReport;
use crate::explain::photo::{CropReport, PhotoInfo};

#[derive(Debug, Serialize)]
pub struct RunRecord<'a> {
    #[serde(flatten)]
    pub run: &'a ExplanationReport,
    pub class_name: Option<String>,
    pub image: ImageRecord,
    pub model: ModelRecord,
    /// The names of the images (see `images`).
    pub files: Vec<String>,
}

/// The photograph a run explained.
#[derive(Debug, Clone, Serialize)]
pub struct ImageRecord {
    /// Its file's path, or its name in the page.
    pub path: String,
    #[serde(flatten)]
    pub info: PhotoInfo,
    pub crop: CropReport,
}

/// The classifier a run explained.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRecord {
    pub architecture: &'static str,
    /// The weights' path, or in the page what they were built from.
    pub weights: String,
}
