//! Mask explanations of an image classifier's decision: ShearletX and its baselines, and the
//! metrics that compare them.
//!
//! Every masking method optimises a mask over the coefficients of some representation of the
//! image (shearlets, wavelets, or the pixels themselves), so they share one interface: a
//! [`Representation`] turns images into a flat vector of coefficients per channel and back.

mod bilinear;
pub mod extremal;
pub mod gradcam;
mod host;
pub mod metrics;
pub mod pixel;
pub mod representation;

pub use extremal::{ExtremalConfig, ExtremalResult, extremal_perturbation};
pub use gradcam::{GradCamConfig, GradCamResult, grad_cam};
pub use metrics::ExplanationScores;
pub use pixel::PixelRepresentation;
pub use representation::Representation;
