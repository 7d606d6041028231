//! An explanation's images as PNG files, named as the command-line tool writes them into its
//! folder and as the page offers them for download:
//!
//! - `explanation.png`: the headline explanation image, 8-bit RGB;
//! - `mask.png`: the headline mask's views side by side, each scaled (nearest neighbour) to
//!   the image's height, 4 grey pixels apart; white keeps, black removes;
//! - `mask_NAME.png`: each view at its own size (`mask_lowpass.png`, `mask_scale_1.png`, ...;
//!   `mask_level_1.png`, ..., `mask_approximation.png`; `mask_pixels.png`, `mask_mask.png`,
//!   `mask_heatmap.png`);
//! - for the smooth pixel mask, `explanation_area_A.png` and `mask_area_A.png` for every
//!   area `A`.

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};

use super::{ExplainedMask, Explanation, MaskView};
use crate::LabError;

/// The grey level between views in `mask.png`.
const GAP_LEVEL: u8 = 128;
const GAP_PIXELS: usize = 4;

/// One image of an explanation: its file name and its PNG bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedImage {
    pub name: String,
    pub png: Vec<u8>,
}

/// The images of `explanation`, in the order listed in the module documentation.
pub fn explanation_images(explanation: &Explanation) -> Result<Vec<NamedImage>, LabError> {
    let size = explanation.image_size;
    let headline = explanation.headline();
    let (overview_values, overview_shape) = overview(&headline.views, size[0]);
    let mut images = vec![
        named("explanation.png", rgb_png(&headline.explanation, size)?),
        named("mask.png", grey_png(&overview_values, overview_shape)?),
    ];
    for view in &headline.views {
        let name = format!("mask_{}.png", view.name.replace(' ', "_"));
        images.push(named(&name, grey_png(&view.values, view.shape)?));
    }
    for mask in explanation.masks.iter() {
        let Some(area) = mask.area else { continue };
        let explanation_name = format!("explanation_area_{area}.png");
        images.push(named(&explanation_name, rgb_png(&mask.explanation, size)?));
        images.push(named(&format!("mask_area_{area}.png"), first_view(mask)?));
    }
    Ok(images)
}

/// Planar `[3, height, width]` values in [0, 1] as an 8-bit RGB PNG.
pub fn rgb_png(values: &[f32], [height, width]: [usize; 2]) -> Result<Vec<u8>, LabError> {
    let plane = height * width;
    if values.len() != 3 * plane {
        return Err(LabError::Execution(
            "an explanation image has the wrong size".into(),
        ));
    }
    let bytes: Vec<u8> = (0..plane)
        .flat_map(|pixel| (0..3).map(move |channel| level(values[channel * plane + pixel])))
        .collect();
    encode(&bytes, [height, width], ExtendedColorType::Rgb8)
}

/// Row-major `[rows, cols]` values in [0, 1] as an 8-bit grey PNG.
pub fn grey_png(values: &[f32], [rows, cols]: [usize; 2]) -> Result<Vec<u8>, LabError> {
    if values.len() != rows * cols {
        return Err(LabError::Execution("a mask view has the wrong size".into()));
    }
    let bytes: Vec<u8> = values.iter().map(|&v| level(v)).collect();
    encode(&bytes, [rows, cols], ExtendedColorType::L8)
}

fn named(name: &str, png: Vec<u8>) -> NamedImage {
    NamedImage {
        name: name.into(),
        png,
    }
}

fn first_view(mask: &ExplainedMask) -> Result<Vec<u8>, LabError> {
    let view = &mask.views[0];
    grey_png(&view.values, view.shape)
}

fn encode(
    bytes: &[u8],
    [rows, cols]: [usize; 2],
    colour: ExtendedColorType,
) -> Result<Vec<u8>, LabError> {
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(bytes, cols as u32, rows as u32, colour)
        .map_err(|error| LabError::Execution(format!("cannot encode a PNG image: {error}")))?;
    Ok(png)
}

/// The views side by side at `height` rows, as values in [0, 1], and their `[rows, cols]`.
fn overview(views: &[MaskView], height: usize) -> (Vec<f32>, [usize; 2]) {
    let gap = f32::from(GAP_LEVEL) / 255.0;
    let widths: Vec<usize> = views
        .iter()
        .map(|view| (view.shape[1] * height).div_ceil(view.shape[0].max(1)))
        .collect();
    let total = widths.iter().sum::<usize>() + GAP_PIXELS * views.len().saturating_sub(1);
    let mut values = vec![gap; height * total];
    let mut left = 0;
    for (view, &width) in views.iter().zip(&widths) {
        let [rows, cols] = view.shape;
        for r in 0..height {
            let source_row = r * rows / height;
            for c in 0..width {
                let source_col = (c * cols / width).min(cols - 1);
                values[r * total + left + c] = view.values[source_row * cols + source_col];
            }
        }
        left += width + GAP_PIXELS;
    }
    (values, [height, total])
}

fn level(value: f32) -> u8 {
    (value.clamp(0.0, 1.0) * 255.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pngs_decode_to_the_levels_given() {
        let values = [0.0, 0.5, 1.0, 0.25, 0.75, 0.0];
        let png = grey_png(&values, [2, 3]).unwrap();
        let decoded = image::load_from_memory(&png).unwrap().into_luma8();
        assert_eq!(decoded.dimensions(), (3, 2));
        assert_eq!(decoded.into_raw(), [0, 128, 255, 64, 191, 0]);
        // Red, then green, then blue planes of a 1x2 image.
        let rgb = rgb_png(&[1.0, 0.0, 0.0, 1.0, 0.0, 0.0], [1, 2]).unwrap();
        let decoded = image::load_from_memory(&rgb).unwrap().into_rgb8();
        assert_eq!(decoded.into_raw(), [255, 0, 0, 0, 255, 0]);
        assert!(grey_png(&values, [2, 2]).is_err());
    }
}
