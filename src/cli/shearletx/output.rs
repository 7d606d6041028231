//! The images a run leaves in `--out`:
//!
//! - `explanation.png`: the headline explanation image, 8-bit RGB;
//! - `mask.png`: the headline mask's views side by side, each scaled (nearest neighbour) to
//!   the image's height, 4 grey pixels apart; white keeps, black removes;
//! - `mask_NAME.png`: each view at its own size (`mask_lowpass.png`, `mask_scale_1.png`, ...;
//!   `mask_level_1.png`, ..., `mask_approximation.png`; `mask_pixels.png`, `mask_mask.png`,
//!   `mask_heatmap.png`);
//! - for the smooth pixel mask, `explanation_area_A.png` and `mask_area_A.png` for every
//!   area `A`.

use std::path::Path;

use image::{GrayImage, ImageBuffer, RgbImage};
use superlab::LabError;
use superlab::explain::Explanation;
use superlab::explain::methods::{ExplainedMask, MaskView};

/// The grey level between views in `mask.png`.
const GAP_LEVEL: u8 = 128;
const GAP_PIXELS: usize = 4;

/// Writes the images of `explanation` into `out`; returns the file names written.
pub fn write_images(out: &Path, explanation: &Explanation) -> Result<Vec<String>, LabError> {
    let [height, width] = explanation.image_size;
    let mut files = Vec::new();
    let mut write = |name: String, save: &dyn Fn(&Path) -> Result<(), LabError>| {
        save(&out.join(&name))?;
        files.push(name);
        Ok::<(), LabError>(())
    };
    let headline = explanation.headline();
    write("explanation.png".into(), &|path| {
        rgb_png(path, &headline.explanation, [height, width])
    })?;
    write("mask.png".into(), &|path| {
        let (values, shape) = overview(&headline.views, height);
        grey_png(path, &values, shape)
    })?;
    for view in &headline.views {
        write(
            format!("mask_{}.png", view.name.replace(' ', "_")),
            &|path| grey_png(path, &view.values, view.shape),
        )?;
    }
    for mask in explanation.masks.iter().filter(|mask| mask.area.is_some()) {
        let area = mask.area.unwrap_or_default();
        write(format!("explanation_area_{area}.png"), &|path| {
            rgb_png(path, &mask.explanation, [height, width])
        })?;
        write(format!("mask_area_{area}.png"), &|path| {
            first_view(path, mask)
        })?;
    }
    Ok(files)
}

fn first_view(path: &Path, mask: &ExplainedMask) -> Result<(), LabError> {
    let view = &mask.views[0];
    grey_png(path, &view.values, view.shape)
}

/// Planar `[3, height, width]` values in [0, 1] as an 8-bit RGB PNG.
fn rgb_png(path: &Path, values: &[f32], [height, width]: [usize; 2]) -> Result<(), LabError> {
    let plane = height * width;
    let bytes: Vec<u8> = (0..plane)
        .flat_map(|pixel| (0..3).map(move |channel| level(values[channel * plane + pixel])))
        .collect();
    let image: RgbImage = ImageBuffer::from_raw(width as u32, height as u32, bytes)
        .ok_or_else(|| LabError::Execution("the explanation has the wrong size".into()))?;
    image.save(path).map_err(|error| cannot_write(path, error))
}

/// Row-major `[rows, cols]` values in [0, 1] as an 8-bit grey PNG.
fn grey_png(path: &Path, values: &[f32], [rows, cols]: [usize; 2]) -> Result<(), LabError> {
    let bytes = values.iter().map(|&v| level(v)).collect();
    let image: GrayImage = ImageBuffer::from_raw(cols as u32, rows as u32, bytes)
        .ok_or_else(|| LabError::Execution("a mask view has the wrong size".into()))?;
    image.save(path).map_err(|error| cannot_write(path, error))
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

fn cannot_write(path: &Path, error: image::ImageError) -> LabError {
    LabError::Config(format!("cannot write {}: {error}", path.display()))
}
