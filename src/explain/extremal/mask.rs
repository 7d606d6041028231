//! The smooth mask of extremal perturbations: a coarse grid of parameters, each spreading a
//! smooth bump over the image, pooled by a soft maximum (Fong, Patrick and Vedaldi,
//! "Understanding deep networks via extremal perturbations and smooth masks", ICCV 2019,
//! section 3.2), laid out on the pixel grid as torchray's `MaskGenerator` lays it out.
//!
//! Parameters sit every `step` pixels; output pixel `u` (per axis) belongs to grid cell
//! `a = u / step` and looks at the `(2R + 1)^2` parameters `i = a + k - p`, `k = 0..2R`, with
//! `R = 1 + ceil(sigma / step)` and `p = 1 + ceil(2 sigma / step)` (parameters outside the grid
//! count as 0). Parameter `i` lies at pixel `sigma + step i`, and its bump at distance `d` is
//! `exp(-2 max(d / sigma - 1/2, 0)^2)`: flat within `sigma / 2`, then Gaussian. The pooled
//! value is `sum_k v_k softmax(20 v)_k` over the bumps `v_k`, clamped to [0, 1]. The full mask
//! carries a margin of `sigma` pixels on each side beyond the image, which the area
//! constraint also counts; the image's mask is the crop at `round(sigma)` (ties to even, as
//! Python rounds).
//!
//! On tensors, gathering the neighbours is a product with 0/1 selection matrices per axis,
//! so that generation runs and differentiates on every backend.

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};

use crate::LabError;

/// The soft maximum's inverse temperature, as torchray sets it.
const COLDNESS: f32 = 20.0;

/// The sizes along one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AxisLayout {
    /// Parameters.
    parameters: usize,
    /// Pixels of the full mask, margins included.
    full: usize,
}

impl AxisLayout {
    fn new(pixels: usize, step: usize, padding: usize, radius: usize) -> Self {
        let parameters = pixels.div_ceil(step);
        let cells = parameters + 2 * padding - 2 * radius;
        Self {
            parameters,
            full: step * cells - step + 1,
        }
    }

    /// The parameter that neighbour `k` of output pixel `u` reads, which may lie outside.
    fn parameter(u: usize, k: usize, step: usize, padding: usize) -> isize {
        (u / step + k) as isize - padding as isize
    }
}

/// A smooth mask generator for `[height, width]` images.
#[derive(Debug, Clone)]
pub struct SmoothMask {
    image_size: [usize; 2],
    axes: [AxisLayout; 2],
    /// `2R + 1`.
    neighbours: usize,
    /// Where the image starts in the full mask, along both axes.
    margin: usize,
    /// `[neighbours * full_rows, parameter_rows]`: row `k * full_rows + u` selects the
    /// parameter that neighbour `k` of output row `u` reads.
    rows: Tensor<2>,
    /// `[parameter_cols, neighbours * full_cols]`, likewise for columns, transposed.
    cols_transposed: Tensor<2>,
    /// `[neighbours^2, full_rows, full_cols]`: the bump of neighbour `(ky, kx)` at each output
    /// pixel, at index `ky * neighbours + kx`.
    bumps: Tensor<3>,
}

impl SmoothMask {
    /// `step` is the parameter spacing in pixels and `sigma` the bumps' size (torchray's
    /// defaults are 7 and 21).
    pub fn new(
        image_size: [usize; 2],
        step: usize,
        sigma: f64,
        device: &Device,
    ) -> Result<Self, LabError> {
        if step == 0 || !(sigma.is_finite() && sigma > 0.0) || image_size.contains(&0) {
            return Err(LabError::Config(format!(
                "a smooth mask needs a positive step and sigma and a non-empty image, not step \
                 {step}, sigma {sigma}, image {image_size:?}"
            )));
        }
        let radius = 1 + (sigma / step as f64).ceil() as usize;
        let padding = 1 + (2.0 * sigma / step as f64).ceil() as usize;
        let neighbours = 2 * radius + 1;
        let axes = image_size.map(|pixels| AxisLayout::new(pixels, step, padding, radius));
        let margin = sigma.round_ties_even() as usize;
        for (axis, pixels) in axes.iter().zip(image_size) {
            if axis.full < margin + pixels {
                return Err(LabError::Config(format!(
                    "a mask step of {step} with sigma {sigma} does not cover {pixels} pixels"
                )));
            }
        }
        let selection = |axis: AxisLayout| {
            let mut matrix = vec![0.0f32; neighbours * axis.full * axis.parameters];
            for k in 0..neighbours {
                for u in 0..axis.full {
                    let i = AxisLayout::parameter(u, k, step, padding);
                    if (0..axis.parameters as isize).contains(&i) {
                        matrix[(k * axis.full + u) * axis.parameters + i as usize] = 1.0;
                    }
                }
            }
            matrix
        };
        let [row_axis, col_axis] = axes;
        let rows = TensorData::new(
            selection(row_axis),
            [neighbours * row_axis.full, row_axis.parameters],
        );
        let cols = Tensor::<2>::from_data(
            TensorData::new(
                selection(col_axis),
                [neighbours * col_axis.full, col_axis.parameters],
            ),
            device,
        );
        let bumps = bumps(axes, neighbours, step, padding, sigma);
        Ok(Self {
            image_size,
            axes,
            neighbours,
            margin,
            rows: Tensor::from_data(rows, device),
            cols_transposed: cols.transpose(),
            bumps: Tensor::from_data(
                TensorData::new(
                    bumps,
                    [neighbours * neighbours, row_axis.full, col_axis.full],
                ),
                device,
            ),
        })
    }

    /// `[rows, cols]` of the parameter grid.
    pub fn parameter_size(&self) -> [usize; 2] {
        self.axes.map(|axis| axis.parameters)
    }

    /// `[rows, cols]` of the full mask, margins included.
    pub fn full_size(&self) -> [usize; 2] {
        self.axes.map(|axis| axis.full)
    }

    /// The image's mask and the full mask.
    ///
    /// Shapes: `parameters` is `[masks, 1, parameter_rows, parameter_cols]`; the results are
    /// `[masks, 1, height, width]` and `[masks, 1, full_rows, full_cols]`.
    pub fn generate(&self, parameters: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let [masks, ..] = parameters.dims();
        let [rows, cols] = self.full_size();
        let [height, width] = self.image_size;
        let k = self.neighbours;
        let gathered = self
            .rows
            .clone()
            .unsqueeze::<4>()
            .matmul(parameters)
            .matmul(self.cols_transposed.clone().unsqueeze());
        // [masks, 1, k rows, k cols] -> [masks, ky, kx, rows, cols].
        let neighbours = gathered
            .reshape([masks, k, rows, k, cols])
            .permute([0, 1, 3, 2, 4])
            .reshape([masks, k * k, rows, cols]);
        let values = neighbours * self.bumps.clone().unsqueeze::<4>();
        let weights = softmax(values.clone() * COLDNESS, 1);
        let full = (values * weights).sum_dim(1).clamp(0.0, 1.0);
        let (top, left) = (self.margin, self.margin);
        let cropped = full
            .clone()
            .slice([0..masks, 0..1, top..top + height, left..left + width]);
        (cropped, full)
    }
}

/// The bump of every neighbour at every output pixel, `[ky, kx, row, col]` row-major.
fn bumps(
    [row_axis, col_axis]: [AxisLayout; 2],
    neighbours: usize,
    step: usize,
    padding: usize,
    sigma: f64,
) -> Vec<f32> {
    // A parameter's centre lies `sigma` pixels in from its grid position.
    let offset = |u: usize, k: usize| {
        let i = AxisLayout::parameter(u, k, step, padding);
        u as f64 - (sigma + (step as isize * i) as f64)
    };
    let mut out = Vec::with_capacity(neighbours * neighbours * row_axis.full * col_axis.full);
    for ky in 0..neighbours {
        for kx in 0..neighbours {
            for uy in 0..row_axis.full {
                let dy = offset(uy, ky);
                for ux in 0..col_axis.full {
                    let dx = offset(ux, kx);
                    let beyond = ((dy * dy + dx * dx).sqrt() / sigma - 0.5).max(0.0);
                    out.push((-2.0 * beyond * beyond).exp() as f32);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// torchray's sizes for a 224x224 image with its defaults: a 32x32 grid, 81 neighbours,
    /// a 260x260 full mask.
    #[test]
    fn the_layout_of_a_224_pixel_image_is_torchrays() {
        let mask = SmoothMask::new([224, 224], 7, 21.0, &Device::flex()).unwrap();
        assert_eq!(mask.parameter_size(), [32, 32]);
        assert_eq!(mask.neighbours, 9);
        assert_eq!(mask.full_size(), [260, 260]);
        assert_eq!(mask.margin, 21);
    }
}
