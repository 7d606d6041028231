//! Masks as images to look at: a coefficient mask has one value per band and position, far
//! too many to show, so each group of bands (a shearlet scale, a wavelet level) becomes one
//! image, the mean of the mask over the group's bands at each position. Pixel masks are
//! images already.

use serde::{Deserialize, Serialize};

use super::representation::AnyRepresentation;
use crate::explain::Representation;
use crate::shearlet::Cone;

/// One image of a mask: values in [0, 1], `[rows, cols]` row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskView {
    /// `lowpass`, `scale 1` (the coarsest) to `scale 4`; `level 1` (the finest) to
    /// `level 5` and `approximation`; `pixels`, `mask`, `heatmap`.
    pub name: String,
    pub shape: [usize; 2],
    /// Left out of serialised reports (65536 values at 256x256).
    #[serde(skip)]
    pub values: Vec<f32>,
}

/// The views of a mask over `representation`'s coefficients.
pub fn coefficient_views(representation: &AnyRepresentation, mask: &[f32]) -> Vec<MaskView> {
    match representation {
        AnyRepresentation::Shearlet(transform) => {
            let size = transform.image_size();
            // The lowpass as group 0, then each scale's directional bands.
            let group = |band: usize| {
                let info = transform.band_info()[band];
                if info.cone == Cone::Lowpass {
                    0
                } else {
                    info.scale
                }
            };
            let scales = (0..transform.band_count()).map(group).max().unwrap_or(0);
            (0..=scales)
                .map(|scale| {
                    let bands: Vec<usize> = (0..transform.band_count())
                        .filter(|&band| group(band) == scale)
                        .collect();
                    let name = match scale {
                        0 => "lowpass".to_string(),
                        _ => format!("scale {scale}"),
                    };
                    mean_view(name, representation, &bands, size, mask)
                })
                .collect()
        }
        AnyRepresentation::Wavelet(transform) => {
            let shapes = transform.band_shapes();
            let levels = transform.config().levels;
            let mut views: Vec<MaskView> = (0..levels)
                .map(|level| {
                    let bands = [3 * level, 3 * level + 1, 3 * level + 2];
                    let name = format!("level {}", level + 1);
                    mean_view(name, representation, &bands, shapes[3 * level], mask)
                })
                .collect();
            let approximation = 3 * levels;
            views.push(mean_view(
                "approximation".into(),
                representation,
                &[approximation],
                shapes[approximation],
                mask,
            ));
            views
        }
        AnyRepresentation::Pixel(pixels) => {
            vec![pixel_view("pixels", mask, pixels.image_size())]
        }
    }
}

/// A pixel mask as it is.
pub fn pixel_view(name: &str, mask: &[f32], shape: [usize; 2]) -> MaskView {
    MaskView {
        name: name.into(),
        shape,
        values: mask.to_vec(),
    }
}

/// The mean of the mask over `bands`, all of `shape`.
fn mean_view(
    name: String,
    representation: &AnyRepresentation,
    bands: &[usize],
    shape: [usize; 2],
    mask: &[f32],
) -> MaskView {
    let ranges = representation.bands();
    let mut values = vec![0.0f64; shape[0] * shape[1]];
    for &band in bands {
        let range = ranges[band].clone();
        debug_assert_eq!(range.len(), values.len());
        for (sum, &m) in values.iter_mut().zip(&mask[range]) {
            *sum += f64::from(m);
        }
    }
    let count = bands.len().max(1) as f64;
    MaskView {
        name,
        shape,
        values: values.into_iter().map(|v| (v / count) as f32).collect(),
    }
}
