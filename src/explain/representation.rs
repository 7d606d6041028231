//! The interface between a masking method and the transform it masks in.

use burn::tensor::{Device, Tensor};
use std::ops::Range;

/// A linear, invertible transform of `[height, width]` images into coefficients, applied to
/// every channel alike.
///
/// Coefficients are one flat vector per channel, band after band; [`Representation::bands`]
/// says where each band lies in it, so that noise can be drawn per band and masks can be
/// reshaped for display. A mask over the representation is one vector of the same length,
/// shared by all channels.
pub trait Representation {
    /// A short name for reports: `shearlet`, `wavelet`, `pixel`.
    fn name(&self) -> &'static str;

    /// The `[height, width]` of the images it transforms.
    fn image_size(&self) -> [usize; 2];

    /// Where each band lies in a channel's coefficient vector, in order, covering it.
    fn bands(&self) -> &[Range<usize>];

    /// Coefficients per channel.
    fn coefficient_count(&self) -> usize {
        self.bands().last().map_or(0, |band| band.end)
    }

    /// Shapes: `images` is `[batch, channels, height, width]`; the result is
    /// `[batch, channels, coefficients]`.
    fn analyse(&self, images: Tensor<4>) -> Tensor<3>;

    /// The inverse of [`Representation::analyse`] (its canonical dual where the transform is
    /// redundant). Shapes: `[batch, channels, coefficients]` to
    /// `[batch, channels, height, width]`.
    fn synthesise(&self, coefficients: Tensor<3>) -> Tensor<4>;

    /// Whether [`Representation::synthesis_adjoint`] answers for tensors on `device`.
    fn has_adjoint_on(&self, _device: &Device) -> bool {
        false
    }

    /// The adjoint of [`Representation::synthesise`], computed directly rather than through
    /// autodiff: a gradient with respect to the images becomes one with respect to the
    /// coefficients. Shapes: `[batch, channels, height, width]` to `[batch, channels,
    /// coefficients]`. `None` where [`Representation::has_adjoint_on`] says no.
    fn synthesis_adjoint(&self, _images: Tensor<4>) -> Option<Tensor<3>> {
        None
    }
}
