//! Mask explanations of an image classifier's decision: ShearletX and its baselines, and the
//! metrics that compare them.
//!
//! Every masking method optimises a mask over the coefficients of some representation of the
//! image (shearlets, wavelets, or the pixels themselves), so they share one interface: a
//! [`Representation`] turns images into a flat vector of coefficients per channel and back,
//! and [`mask_optimiser`] optimises a mask over any of them with each method's settings.

pub mod mask_optimiser;
pub mod noise;
pub mod obfuscation;
pub mod representation;
pub mod shearletx;

pub use mask_optimiser::{LossTerms, MaskOutcome, MaskSettings, optimise_mask};
pub use noise::NoiseDistribution;
pub use obfuscation::Variant;
pub use representation::Representation;
