//! From an encoded photograph to a classifier's input: decoding, resizing and centre cropping
//! as the models' own evaluation transforms do.
//!
//! torchvision's ImageNet models were evaluated on the shorter side resized to 256 and the
//! centre 224x224 cropped (`Resize(256)`, `CenterCrop(224)`), timm's `tf_efficientnet_lite0` on
//! the same with bicubic instead of bilinear resampling (224 / crop fraction 0.875 = 256).
//!
//! Resampling is the antialiased kind of PIL and of torchvision's `resize(antialias=True)`:
//! each output pixel is a normalised, filter-weighted sum over the input pixels its footprint
//! covers, the filter stretched by the reduction factor when shrinking. It runs on floating
//! point values in [0, 1] (the `image` crate's `resize` of an `Rgb32FImage`, with its triangle
//! filter for bilinear and its Catmull-Rom filter, the cubic convolution with `a = -0.5`, for
//! bicubic), as torchvision does on float tensors; bicubic overshoot is clamped to [0, 1], as
//! it is on 8-bit images.

use crate::LabError;
use burn::tensor::{Device, Tensor, TensorData};
use image::imageops::FilterType;
use image::{ImageBuffer, Rgb, Rgb32FImage};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resampling {
    Bilinear,
    Bicubic,
}

impl Resampling {
    fn filter(self) -> FilterType {
        match self {
            Resampling::Bilinear => FilterType::Triangle,
            Resampling::Bicubic => FilterType::CatmullRom,
        }
    }
}

/// Resize so that the shorter side is `shorter_side` (the longer one in proportion, rounded
/// down), then crop the centre `crop` x `crop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preparation {
    pub shorter_side: usize,
    pub crop: usize,
    pub resampling: Resampling,
}

impl Preparation {
    /// The usual ImageNet evaluation transform for inputs of side `input`: the shorter side to
    /// `input / 0.875` (256 for 224), rounded down, then the centre square.
    pub fn centre_crop(input: usize, resampling: Resampling) -> Self {
        Self {
            shorter_side: input * 8 / 7,
            crop: input,
            resampling,
        }
    }

    /// The prepared image: `[3, crop, crop]` values in [0, 1].
    pub fn apply(&self, image: &Rgb32FImage) -> Result<Rgb32FImage, LabError> {
        if self.crop == 0 || self.crop > self.shorter_side {
            return Err(LabError::Config(format!(
                "cannot crop {0}x{0} out of an image whose shorter side is {1}",
                self.crop, self.shorter_side
            )));
        }
        let (width, height) = (image.width() as usize, image.height() as usize);
        if width == 0 || height == 0 {
            return Err(LabError::Config("the image is empty".into()));
        }
        let (short, long) = (width.min(height), width.max(height));
        let scaled_long = self.shorter_side * long / short;
        let (new_width, new_height) = match width <= height {
            true => (self.shorter_side, scaled_long),
            false => (scaled_long, self.shorter_side),
        };
        let resized = resize(image, new_width, new_height, self.resampling);
        Ok(centre_crop(&resized, self.crop, self.crop))
    }
}

/// Decodes a PNG, JPEG, GIF, WebP, BMP or TIFF file into RGB values in [0, 1] (grey images
/// repeated over the three channels, alpha dropped).
pub fn decode(bytes: &[u8]) -> Result<Rgb32FImage, LabError> {
    let image = image::load_from_memory(bytes).map_err(|error| {
        LabError::Input(format!(
            "cannot read the image ({error}); use a PNG, JPEG, GIF, WebP, BMP or TIFF file"
        ))
    })?;
    Ok(image.to_rgb32f())
}

/// An RGB image from 8-bit interleaved pixels, row by row.
pub fn from_rgb8(width: usize, height: usize, pixels: &[u8]) -> Result<Rgb32FImage, LabError> {
    if pixels.len() != width * height * 3 {
        return Err(LabError::Config(format!(
            "{} bytes cannot be a {width}x{height} RGB image, which needs {}",
            pixels.len(),
            width * height * 3
        )));
    }
    let values = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    ImageBuffer::from_raw(width as u32, height as u32, values)
        .ok_or_else(|| LabError::Config("the image is too large".into()))
}

/// Antialiased resampling to `width` x `height` (see the module documentation).
pub fn resize(
    image: &Rgb32FImage,
    width: usize,
    height: usize,
    resampling: Resampling,
) -> Rgb32FImage {
    image::imageops::resize(image, width as u32, height as u32, resampling.filter())
}

/// The centre `width` x `height` of `image`, placed as torchvision's `CenterCrop` places it
/// (offsets `round((size - crop) / 2)`, halves to even as Python rounds). The crop must fit.
pub fn centre_crop(image: &Rgb32FImage, width: usize, height: usize) -> Rgb32FImage {
    let left = centre_offset(image.width() as usize, width) as u32;
    let top = centre_offset(image.height() as usize, height) as u32;
    image::imageops::crop_imm(image, left, top, width as u32, height as u32).to_image()
}

/// Where [`centre_crop`] starts a crop of `crop` pixels along a side of `size` pixels:
/// `round((size - crop) / 2)`, halves to even as Python rounds. The crop must fit.
pub fn centre_offset(size: usize, crop: usize) -> usize {
    let excess = size - crop;
    let half = excess / 2;
    half + usize::from(excess % 2 == 1 && half % 2 == 1)
}

/// A batch of equally sized images as one tensor.
///
/// Shapes: the result is `[images, 3, height, width]`.
pub fn to_tensor(images: &[Rgb32FImage], device: &Device) -> Result<Tensor<4>, LabError> {
    let Some(first) = images.first() else {
        return Err(LabError::Config("no images to classify".into()));
    };
    let (width, height) = (first.width() as usize, first.height() as usize);
    if images
        .iter()
        .any(|image| image.dimensions() != first.dimensions())
    {
        return Err(LabError::Config(
            "the images of one batch must all have the same size; prepare them first".into(),
        ));
    }
    let plane = width * height;
    let mut values = vec![0.0f32; images.len() * 3 * plane];
    for (index, image) in images.iter().enumerate() {
        let planes = &mut values[index * 3 * plane..(index + 1) * 3 * plane];
        for (pixel, Rgb(rgb)) in image.pixels().enumerate() {
            for (channel, &value) in rgb.iter().enumerate() {
                planes[channel * plane + pixel] = value;
            }
        }
    }
    let shape = [images.len(), 3, height, width];
    Ok(Tensor::from_data(TensorData::new(values, shape), device))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank(width: u32, height: u32) -> Rgb32FImage {
        ImageBuffer::from_fn(width, height, |x, y| Rgb([x as f32, y as f32, 0.0]))
    }

    /// torchvision: `int(256 * long / short)` for the longer side, `int(round((n - 224) / 2))`
    /// for the crop offsets.
    #[test]
    fn sizes_and_offsets_follow_torchvision() {
        let preparation = Preparation::centre_crop(224, Resampling::Bilinear);
        assert_eq!(preparation.shorter_side, 256);
        let prepared = preparation.apply(&blank(451, 300)).unwrap();
        assert_eq!(prepared.dimensions(), (224, 224));
        // 451 x 300 becomes 384 x 256: offsets round(160 / 2) = 80 and round(32 / 2) = 16.
        let cropped = centre_crop(&blank(384, 256), 224, 224);
        assert_eq!(cropped.get_pixel(0, 0).0[..2], [80.0, 16.0]);
        // Odd excesses: round(0.5) = 0, round(1.5) = 2, round(2.5) = 2.
        for (size, left) in [(225, 0), (227, 2), (229, 2)] {
            assert_eq!(
                centre_crop(&blank(size, 224), 224, 224).get_pixel(0, 0).0[0],
                left as f32
            );
        }
    }

    #[test]
    fn tensors_are_planar() {
        let image = blank(3, 2);
        let tensor = to_tensor(&[image.clone(), image], &Device::flex()).unwrap();
        assert_eq!(tensor.dims(), [2, 3, 2, 3]);
        let values = tensor.into_data().try_into_vec::<f32>().unwrap();
        // Channel 0 holds x, channel 1 holds y.
        assert_eq!(&values[..6], &[0.0, 1.0, 2.0, 0.0, 1.0, 2.0]);
        assert_eq!(&values[6..12], &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(decode(b"not an image").is_err());
        assert!(from_rgb8(2, 2, &[0; 11]).is_err());
        assert!(to_tensor(&[blank(2, 2), blank(3, 2)], &Device::flex()).is_err());
        let too_big = Preparation {
            shorter_side: 10,
            crop: 11,
            resampling: Resampling::Bicubic,
        };
        assert!(too_big.apply(&blank(20, 20)).is_err());
    }
}
