//! Which representation a method's mask covers, by name, and that representation built on a
//! device: what the mask optimisation masks in, and what CP-L1 and CP-Entropy measure in.

use std::ops::Range;

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::explain::{PixelRepresentation, Representation};
use crate::shearlet::ShearletTransform;
use crate::wavelet::{WaveletConfig, WaveletTransform};

/// What a method's mask covers: shearlet or wavelet coefficients, or the pixels (smooth pixel
/// masks and Grad-CAM's heatmap count as pixel masks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RepresentationKind {
    /// ShearletX's system: 4 scales, 49 bands.
    Shearlet,
    Wavelet {
        wavelet: WaveletConfig,
    },
    Pixel,
}

impl RepresentationKind {
    /// The representation for `[height, width]` images on `device`.
    pub fn build(&self, size: [usize; 2], device: &Device) -> Result<AnyRepresentation, LabError> {
        Ok(match self {
            RepresentationKind::Shearlet => {
                let [height, width] = size;
                if height != width {
                    return Err(LabError::Config(format!(
                        "the shearlet transform takes square images; this one is \
                         {height}x{width}: prepare it as ShearletX does"
                    )));
                }
                AnyRepresentation::Shearlet(Box::new(ShearletTransform::shearletx(height, device)?))
            }
            RepresentationKind::Wavelet { wavelet } => {
                AnyRepresentation::Wavelet(WaveletTransform::new(wavelet, size, device)?)
            }
            RepresentationKind::Pixel => AnyRepresentation::Pixel(PixelRepresentation::new(size)),
        })
    }
}

/// One of the representations, chosen at run time.
#[derive(Debug, Clone)]
pub enum AnyRepresentation {
    Shearlet(Box<ShearletTransform>),
    Wavelet(WaveletTransform),
    Pixel(PixelRepresentation),
}

impl AnyRepresentation {
    fn inner(&self) -> &dyn Representation {
        match self {
            AnyRepresentation::Shearlet(transform) => transform.as_ref(),
            AnyRepresentation::Wavelet(transform) => transform,
            AnyRepresentation::Pixel(pixels) => pixels,
        }
    }
}

impl Representation for AnyRepresentation {
    fn name(&self) -> &'static str {
        self.inner().name()
    }

    fn image_size(&self) -> [usize; 2] {
        self.inner().image_size()
    }

    fn bands(&self) -> &[Range<usize>] {
        self.inner().bands()
    }

    fn analyse(&self, images: Tensor<4>) -> Tensor<3> {
        self.inner().analyse(images)
    }

    fn synthesise(&self, coefficients: Tensor<3>) -> Tensor<4> {
        self.inner().synthesise(coefficients)
    }

    fn has_adjoint_on(&self, device: &Device) -> bool {
        self.inner().has_adjoint_on(device)
    }

    fn synthesis_adjoint(&self, images: Tensor<4>) -> Option<Tensor<3>> {
        self.inner().synthesis_adjoint(images)
    }
}
