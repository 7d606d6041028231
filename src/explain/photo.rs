//! Photographs as the explanation methods take them: any common image file, checked before
//! its pixels are decoded, converted to RGB in [0, 1], then resized and cropped as ShearletX
//! does (see [`super::shearletx::preparation`]: the shorter side to 256 pixels, bilinear and
//! antialiased, then the centre 256x256).
//!
//! Limits, checked on the file's header before any pixel is decoded: each side at least
//! [`MIN_SIDE`] and at most [`MAX_SIDE`] pixels, at most [`MAX_PIXELS`] pixels in all, and the
//! longer side at most [`MAX_ASPECT`] times the shorter (the centre crop of a longer strip
//! shows almost nothing of it, and resizing it would take memory for nothing).
//!
//! Conversions:
//! - 16-bit images (PNG, TIFF) keep their precision: a value `v` becomes `v / 65535`;
//! - CMYK JPEGs (4 components, stored inverted as Adobe's applications write them) become RGB
//!   by `R = (1 - C)(1 - K)`, `G = (1 - M)(1 - K)`, `B = (1 - Y)(1 - K)`, the conversion of
//!   viewers without colour management; an embedded ICC profile is not applied;
//! - grey images are repeated over the three channels; an alpha channel is dropped (the
//!   colours are used as stored, not composited on a background);
//! - an EXIF orientation is applied, so the photograph is upright as viewers show it.

use std::io::Cursor;

use burn::tensor::{Device, Tensor};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, Rgb32FImage};
use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::models::vision::prepare::{self, Preparation, Resampling};

/// The shortest side accepted, in pixels: smaller images carry too little to explain.
pub const MIN_SIDE: u32 = 32;
/// The longest side accepted, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// The most pixels accepted: 50 megapixels, 600 MB once converted to RGB floats.
pub const MAX_PIXELS: u64 = 50_000_000;
/// The largest ratio of the longer side to the shorter.
pub const MAX_ASPECT: u32 = 10;
/// What a decoder may allocate: the largest accepted image with four 16-bit channels, and
/// room to spare.
const MAX_DECODER_BYTES: u64 = 2 * MAX_PIXELS * 8;

/// What the file held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoInfo {
    /// `png`, `jpeg`, `gif`, `webp`, `bmp` or `tiff`.
    pub format: String,
    /// As stored, before any orientation is applied.
    pub width: u32,
    pub height: u32,
    /// The colour model and depth as stored: `rgb8`, `rgba16`, `l8`, `cmyk8`, ...
    pub colour: String,
    /// The EXIF orientation applied: `none`, `rotate90` (clockwise), `flip_horizontal`, ...
    pub orientation: String,
}

/// A decoded photograph, upright, RGB in [0, 1].
#[derive(Debug, Clone)]
pub struct Photo {
    pub info: PhotoInfo,
    pub image: Rgb32FImage,
}

/// Where the prepared image lies in the photograph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CropReport {
    /// `[width, height]` of the upright photograph.
    pub upright: [u32; 2],
    /// `[width, height]` once its shorter side is resized.
    pub resized: [u32; 2],
    /// `[left, top]` of the crop in the resized image.
    pub offset: [u32; 2],
    /// The side of the square crop.
    pub size: u32,
    /// The crop in the upright photograph's pixels: `[left, top, width, height]`.
    pub source_region: [f64; 4],
    pub resampling: Resampling,
}

/// A photograph prepared for a classifier and the explanation methods.
#[derive(Debug, Clone)]
pub struct PreparedPhoto {
    pub info: PhotoInfo,
    pub crop: CropReport,
    /// `size x size`, RGB in [0, 1].
    pub image: Rgb32FImage,
}

impl PreparedPhoto {
    /// Shapes: `[3, size, size]`.
    pub fn tensor(&self, device: &Device) -> Result<Tensor<3>, LabError> {
        let batch = prepare::to_tensor(std::slice::from_ref(&self.image), device)?;
        Ok(batch.squeeze_dim(0))
    }

    /// The pixels channel after channel, row-major: `[3, size, size]`.
    pub fn planar(&self) -> Vec<f32> {
        let plane = self.image.width() as usize * self.image.height() as usize;
        let mut values = vec![0.0; 3 * plane];
        for (pixel, rgb) in self.image.pixels().enumerate() {
            for (channel, &value) in rgb.0.iter().enumerate() {
                values[channel * plane + pixel] = value;
            }
        }
        values
    }
}

/// Decodes and prepares a photograph: see the module documentation.
pub fn prepare_photo(bytes: &[u8], preparation: &Preparation) -> Result<PreparedPhoto, LabError> {
    let photo = decode_photo(bytes)?;
    let (width, height) = photo.image.dimensions();
    let crop = crop_report(preparation, width, height);
    Ok(PreparedPhoto {
        info: photo.info,
        crop,
        image: preparation.apply(&photo.image)?,
    })
}

/// Decodes a photograph after checking its header against the limits.
pub fn decode_photo(bytes: &[u8]) -> Result<Photo, LabError> {
    let format = guess_format(bytes)?;
    let (width, height) = header_size(bytes)?;
    check_size(width, height)?;

    let mut reader = reader(bytes)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODER_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(damaged)?;
    let orientation = decoder.orientation().map_err(damaged)?;
    let colour = match format {
        ImageFormat::Jpeg if jpeg_components(bytes) == Some(4) => "cmyk8".to_string(),
        _ => format!("{:?}", decoder.original_color_type()).to_lowercase(),
    };
    let mut image = DynamicImage::from_decoder(decoder).map_err(damaged)?;
    image.apply_orientation(orientation);
    Ok(Photo {
        info: PhotoInfo {
            format: format!("{format:?}").to_lowercase(),
            width,
            height,
            colour,
            orientation: orientation_name(orientation).to_string(),
        },
        image: image.to_rgb32f(),
    })
}

/// Where [`Preparation::apply`] takes its crop from a `width x height` image.
pub fn crop_report(preparation: &Preparation, width: u32, height: u32) -> CropReport {
    let (width, height) = (width as usize, height as usize);
    let (short, long) = (width.min(height), width.max(height));
    let scaled_long = preparation.shorter_side * long / short;
    let resized = match width <= height {
        true => [preparation.shorter_side, scaled_long],
        false => [scaled_long, preparation.shorter_side],
    };
    let crop = preparation.crop;
    let offset = resized.map(|side| prepare::centre_offset(side, crop));
    let scale = [
        resized[0] as f64 / width as f64,
        resized[1] as f64 / height as f64,
    ];
    CropReport {
        upright: [width as u32, height as u32],
        resized: resized.map(|side| side as u32),
        offset: offset.map(|o| o as u32),
        size: crop as u32,
        source_region: [
            offset[0] as f64 / scale[0],
            offset[1] as f64 / scale[1],
            crop as f64 / scale[0],
            crop as f64 / scale[1],
        ],
        resampling: preparation.resampling,
    }
}

fn reader(bytes: &[u8]) -> Result<ImageReader<Cursor<&[u8]>>, LabError> {
    ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| LabError::Input(format!("cannot read the image: {error}")))
}

fn guess_format(bytes: &[u8]) -> Result<ImageFormat, LabError> {
    if bytes.is_empty() {
        return Err(LabError::Input("the image file is empty".into()));
    }
    reader(bytes)?.format().ok_or_else(|| {
        LabError::Input(
            "this is not an image the lab can read; use a PNG, JPEG, GIF, WebP, BMP or TIFF \
             file"
                .into(),
        )
    })
}

/// The size the header declares, read without limits so that the lab's own limits decide
/// and say so.
fn header_size(bytes: &[u8]) -> Result<(u32, u32), LabError> {
    let mut reader = reader(bytes)?;
    reader.no_limits();
    reader.into_dimensions().map_err(|error| {
        LabError::Input(format!(
            "cannot read the image's header ({error}); the file is damaged or not an image"
        ))
    })
}

fn check_size(width: u32, height: u32) -> Result<(), LabError> {
    let pixels = u64::from(width) * u64::from(height);
    let (short, long) = (width.min(height), width.max(height));
    let problem = if short < MIN_SIDE {
        format!(
            "the image is {width}x{height} pixels; the lab needs at least {MIN_SIDE} pixels on \
             each side"
        )
    } else if long > MAX_SIDE || pixels > MAX_PIXELS {
        format!(
            "the image is {width}x{height} pixels ({:.1} megapixels); the lab takes at most \
             {MAX_SIDE} pixels a side and {} megapixels: scale it down first",
            pixels as f64 / 1e6,
            MAX_PIXELS / 1_000_000
        )
    } else if long > MAX_ASPECT * short {
        format!(
            "the image is {width}x{height} pixels, one side more than {MAX_ASPECT} times the \
             other; crop it closer to a square first"
        )
    } else {
        return Ok(());
    };
    Err(LabError::Input(problem))
}

fn damaged(error: image::ImageError) -> LabError {
    match error {
        image::ImageError::Limits(limit) => LabError::Input(format!(
            "the image needs more memory to decode than the lab allows ({limit}); scale it \
             down first"
        )),
        image::ImageError::Unsupported(unsupported) => LabError::Input(format!(
            "the lab cannot decode this image ({unsupported}); convert it to an 8-bit PNG or \
             JPEG"
        )),
        other => LabError::Input(format!(
            "the image file is damaged or incomplete ({other}); check that it opens in an \
             image viewer, or save it again"
        )),
    }
}

/// The number of colour components a JPEG's frame header declares (4 for CMYK and YCCK).
fn jpeg_components(bytes: &[u8]) -> Option<u8> {
    // After the start-of-image marker, each segment is 0xFF, a marker byte and a big-endian
    // length that counts itself; a frame header holds precision, height, width, components.
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return None;
        }
        let marker = bytes[at + 1];
        if marker == 0xFF {
            at += 1;
            continue;
        }
        let is_frame = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame {
            return bytes.get(at + 9).copied();
        }
        at += 2 + usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
    }
    None
}

fn orientation_name(orientation: Orientation) -> &'static str {
    match orientation {
        Orientation::NoTransforms => "none",
        Orientation::Rotate90 => "rotate90",
        Orientation::Rotate180 => "rotate180",
        Orientation::Rotate270 => "rotate270",
        Orientation::FlipHorizontal => "flip_horizontal",
        Orientation::FlipVertical => "flip_vertical",
        Orientation::Rotate90FlipH => "rotate90_flip_horizontal",
        Orientation::Rotate270FlipH => "rotate270_flip_horizontal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// chelsea.png is 451x300: 256 / 300 of it is 384x256 (torchvision rounds the longer side
    /// down), and the crop starts at round(128 / 2) = 64.
    #[test]
    fn the_crop_report_follows_the_preparation() {
        let preparation = crate::explain::shearletx::preparation();
        let report = crop_report(&preparation, 451, 300);
        assert_eq!(report.resized, [384, 256]);
        assert_eq!(report.offset, [64, 0]);
        let [left, top, width, height] = report.source_region;
        assert!((left - 64.0 * 451.0 / 384.0).abs() < 1e-12);
        assert_eq!(top, 0.0);
        assert!((width - 256.0 * 451.0 / 384.0).abs() < 1e-12);
        assert!((height - 300.0).abs() < 1e-12);
    }

    #[test]
    fn sizes_outside_the_limits_are_refused() {
        assert!(check_size(32, 32).is_ok());
        assert!(check_size(MAX_SIDE, 3000).is_ok());
        assert!(check_size(31, 100).is_err());
        assert!(check_size(MAX_SIDE + 1, 2000).is_err());
        assert!(check_size(10_000, 10_000).is_err());
        assert!(check_size(3300, 320).is_err());
    }
}
