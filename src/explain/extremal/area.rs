//! The area constraint of extremal perturbations: the mask, sorted, should look like a step
//! from 0 to 1 that keeps the requested fraction of the pixels (Fong et al. 2019,
//! section 3.1).
//!
//! For a full mask of `N` values and area `a`, the reference holds `floor(N (1 - a))` zeros then
//! ones, and the loss is the mean squared difference between the sorted mask and the reference.
//! Sorting on the host and pairing each value with the reference at its sorted position gives
//! the same value and gradient (`2 (m - r) / N`) without a sort on the device, which WebGPU
//! lacks. Equal values are ordered by position.

use burn::tensor::{Tensor, TensorData};

use crate::LabError;
use crate::device::read;

/// The area losses, one per mask.
///
/// Shapes: `masks` is `[masks, 1, rows, cols]` (the full masks, margins included); `areas` has
/// one fraction per mask; the result is `[masks]`.
pub async fn area_loss(masks: Tensor<4>, areas: &[f64]) -> Result<Tensor<1>, LabError> {
    let [count, _, rows, cols] = masks.dims();
    if areas.len() != count {
        return Err(LabError::Config(format!(
            "{} areas for {count} masks",
            areas.len()
        )));
    }
    let size = rows * cols;
    let values = read(masks.clone().detach()).await?;
    let references: Vec<f32> = values
        .chunks(size)
        .zip(areas)
        .flat_map(|(mask, &area)| reference_by_position(mask, area))
        .collect();
    let references =
        Tensor::<2>::from_data(TensorData::new(references, [count, size]), &masks.device());
    let difference = masks.reshape([count, size]) - references;
    Ok(difference.powi_scalar(2).mean_dim(1).reshape([count]))
}

/// The reference value that each mask value meets once the mask is sorted.
fn reference_by_position(mask: &[f32], area: f64) -> Vec<f32> {
    let zeros = reference_zeros(mask.len(), area);
    let mut order: Vec<usize> = (0..mask.len()).collect();
    order.sort_by(|&a, &b| mask[a].total_cmp(&mask[b]).then(a.cmp(&b)));
    let mut reference = vec![0.0; mask.len()];
    for &position in &order[zeros..] {
        reference[position] = 1.0;
    }
    reference
}

/// `floor(N (1 - a))`, computed in f64 as torchray computes it.
pub(crate) fn reference_zeros(size: usize, area: f64) -> usize {
    ((size as f64 * (1.0 - area)) as usize).min(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_values_meet_the_ones() {
        let mask = [0.9, 0.1, 0.5, 0.7, 0.2];
        assert_eq!(reference_by_position(&mask, 0.4), [1.0, 0.0, 0.0, 1.0, 0.0]);
        assert_eq!(reference_by_position(&mask, 0.0), [0.0; 5]);
        assert_eq!(reference_by_position(&mask, 1.0), [1.0; 5]);
    }
}
