//! Mask explanations of an image classifier's decision: ShearletX and its baselines, and the
//! metrics that compare them.
//!
//! Every masking method optimises a mask over the coefficients of some representation of the
//! image (shearlets, wavelets, or the pixels themselves), so they share one interface: a
//! [`Representation`] turns images into a flat vector of coefficients per channel and back,
//! and [`mask_optimiser`] optimises a mask over any of them with each method's settings.
//!
//! The hallucination score ([`hallucination`]) compares the edges of an explanation with
//! those of the image, found by CoShREM's complex-shearlet edge detector ([`edges`]).
//!
//! [`methods`] runs any method by name and scores its result; [`photo`] turns image files
//! into the methods' input.

mod bilinear;
pub mod edges;
pub mod extremal;
pub mod gradcam;
pub mod hallucination;
pub mod mask_optimiser;
pub mod methods;
pub mod metrics;
pub mod noise;
pub mod obfuscation;
pub mod photo;
pub mod pixel;
pub mod representation;
pub mod shearletx;

pub use edges::{EdgeConfig, EdgeMap, EdgeSystem};
pub use extremal::{ExtremalConfig, ExtremalResult, extremal_perturbation};
pub use gradcam::{GradCamConfig, GradCamResult, grad_cam};
pub use hallucination::{GreyLevels, Hallucination, HallucinationConfig, ImageEdges};
pub use mask_optimiser::{LossTerms, MaskOutcome, MaskSettings, optimise_mask};
pub use methods::{Explanation, ExplanationReport, Method, MethodConfig, explain};
pub use metrics::ExplanationScores;
pub use noise::NoiseDistribution;
pub use obfuscation::Variant;
pub use pixel::PixelRepresentation;
pub use representation::Representation;
