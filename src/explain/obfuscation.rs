//! Obfuscated images: each channel's coefficients kept where the mask is high and replaced by
//! noise where it is low, `SH^-1(m * c_j + (1 - m) * p_s)` for channel `j` and sample `s`.
//!
//! Every function takes one coefficient vector per channel rather than all channels in one
//! tensor, so that no tensor holds more than one channel's coefficients per sample (a 49-band
//! shearlet set of a 512x512 image is 51 MB alone).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::Representation;

/// How masked coefficients and noise are combined before synthesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The mixed coefficients are clamped to [0, 1] before synthesis, as ShearletX's
    /// reference code runs it (the published results come from it).
    #[default]
    Reference,
    /// No clamp, as the paper writes it. Synthesis is then linear, so the obfuscation of
    /// channel `j` by sample `s` is `SH^-1(m * c_j) + SH^-1((1 - m) * p_s)`: one synthesis per
    /// channel and one per sample instead of one per channel and sample.
    Paper,
}

/// `SH^-1(m * c_j)` for every channel.
///
/// Shapes: `mask` is `[1, coefficients]`, each of `coefficients` `[1, coefficients]`; the
/// result is `[1, channels, height, width]`.
pub fn synthesise_masked<R: Representation>(
    representation: &R,
    mask: Tensor<2>,
    coefficients: &[Tensor<2>],
) -> Tensor<4> {
    let channels = coefficients
        .iter()
        .map(|channel| representation.synthesise((mask.clone() * channel.clone()).unsqueeze()))
        .collect();
    Tensor::cat(channels, 1)
}

/// `SH^-1((1 - m) * p_s)` for every sample.
///
/// Shapes: `mask` is `[1, coefficients]`, `noise` `[samples, coefficients]`; the result is
/// `[samples, 1, height, width]`.
pub fn synthesise_noise<R: Representation>(
    representation: &R,
    mask: Tensor<2>,
    noise: Tensor<2>,
) -> Tensor<4> {
    let kept_noise = mask.neg().add_scalar(1.0) * noise;
    representation.synthesise(kept_noise.unsqueeze_dim(1))
}

/// `SH^-1(m * c_j + (1 - m) * p_s)` for every sample and channel, each mixture synthesised on
/// its own, the mixed coefficients clamped to [0, 1] first when `clamp` is set.
///
/// Shapes: as [`synthesise_masked`] and [`synthesise_noise`]; the result is
/// `[samples, channels, height, width]`.
pub fn synthesise_mixed<R: Representation>(
    representation: &R,
    mask: Tensor<2>,
    coefficients: &[Tensor<2>],
    noise: Tensor<2>,
    clamp: bool,
) -> Tensor<4> {
    let kept_noise = mask.clone().neg().add_scalar(1.0) * noise;
    let channels = coefficients
        .iter()
        .map(|channel| {
            let mixed = mask.clone() * channel.clone() + kept_noise.clone();
            let mixed = if clamp { mixed.clamp(0.0, 1.0) } else { mixed };
            representation.synthesise(mixed.unsqueeze_dim(1))
        })
        .collect();
    Tensor::cat(channels, 1)
}

/// The obfuscated images of `variant`: `[samples, channels, height, width]`, shapes otherwise
/// as [`synthesise_mixed`].
pub fn obfuscate<R: Representation>(
    representation: &R,
    mask: Tensor<2>,
    coefficients: &[Tensor<2>],
    noise: Tensor<2>,
    variant: Variant,
) -> Tensor<4> {
    match variant {
        Variant::Reference => synthesise_mixed(representation, mask, coefficients, noise, true),
        Variant::Paper => {
            let masked = synthesise_masked(representation, mask.clone(), coefficients);
            masked + synthesise_noise(representation, mask, noise)
        }
    }
}
