//! The pixels themselves as a representation: what the pixel mask masks.

use std::ops::Range;

use burn::tensor::Tensor;

use super::Representation;

/// The identity transform: one band holding every pixel of a channel, row-major.
#[derive(Debug, Clone)]
pub struct PixelRepresentation {
    image_size: [usize; 2],
    band: Range<usize>,
}

impl PixelRepresentation {
    pub fn new(image_size: [usize; 2]) -> Self {
        Self {
            image_size,
            band: 0..image_size[0] * image_size[1],
        }
    }
}

impl Representation for PixelRepresentation {
    fn name(&self) -> &'static str {
        "pixel"
    }

    fn image_size(&self) -> [usize; 2] {
        self.image_size
    }

    fn bands(&self) -> &[Range<usize>] {
        std::slice::from_ref(&self.band)
    }

    /// Shapes: `[batch, channels, height, width]` to `[batch, channels, height * width]`.
    fn analyse(&self, images: Tensor<4>) -> Tensor<3> {
        let [batch, channels, height, width] = images.dims();
        assert_eq!(
            [height, width],
            self.image_size,
            "the pixel representation was built for {:?} images",
            self.image_size
        );
        images.reshape([batch, channels, height * width])
    }

    /// Shapes: `[batch, channels, height * width]` to `[batch, channels, height, width]`.
    fn synthesise(&self, coefficients: Tensor<3>) -> Tensor<4> {
        let [batch, channels, _] = coefficients.dims();
        let [height, width] = self.image_size;
        coefficients.reshape([batch, channels, height, width])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn pixels_are_their_own_coefficients() {
        let pixels = PixelRepresentation::new([3, 5]);
        assert_eq!(pixels.bands(), std::slice::from_ref(&(0..15)));
        let values: Vec<f32> = (0..2 * 3 * 15).map(|v| v as f32).collect();
        let images = Tensor::<4>::from_data(
            TensorData::new(values.clone(), [2, 3, 3, 5]),
            &Device::flex(),
        );
        let coefficients = pixels.analyse(images);
        assert_eq!(coefficients.dims(), [2, 3, 15]);
        let flat = coefficients
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(flat, values);
        let back = pixels
            .synthesise(coefficients)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(back, values);
    }
}
