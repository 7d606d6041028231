//! Which image sizes a shearlet system supports, with messages that say what would work.
//!
//! The filters are built in pixel space and must fit the image without wrapping around:
//! the scale cascade must fit (ShearLab checks one level beyond the coarsest,
//! `L_{J+1} = 2^(J+4) - 7` taps: 249 for 4 scales), and so must the wedge of the highest shear
//! level `l` (`16 * 2^(l+1) + 1` rows of upsampled fan filter widened by `h_{l+1}`: 185 for
//! level 2). ShearLab then silently swaps in smaller filters, which change every band; here
//! the size is refused instead.
//!
//! Odd sizes are refused too: there ShearLab places its 1-D scale filters one row below the
//! centre (row `(n + 1) / 2`), which shifts every directional band by one pixel and makes its
//! spectrum complex. Non-square sizes make ShearLab's padding fail.

use super::taps;
use crate::LabError;

/// The directional filter is 17x17.
const DIRECTIONAL_SIDE: usize = 17;
/// Filter lengths double with every scale and shear level; these limits already need images
/// of thousands of pixels.
const MAX_SCALES: usize = 8;
const MAX_SHEAR_LEVEL: u32 = 6;

/// The smallest side length the filters of these scales and shear levels fit in.
fn fitting_side(scales: usize, shear_levels: &[u32]) -> usize {
    let cascade = taps::cascade_length(scales + 1);
    let highest_level = shear_levels.iter().copied().max().unwrap_or(0);
    let fan_rows = (DIRECTIONAL_SIDE - 1) * (1 << (highest_level + 1)) + 1;
    let wedge = fan_rows + taps::cascade_length(highest_level as usize + 1) - 1;
    cascade.max(wedge).max(DIRECTIONAL_SIDE)
}

/// The smallest supported side length (square images, even sides) for these scales and shear
/// levels: 250 for ShearletX's 4 scales with shear levels `[1, 1, 2, 2]`.
pub fn minimum_size(scales: usize, shear_levels: &[u32]) -> usize {
    fitting_side(scales, shear_levels).next_multiple_of(2)
}

/// Checks the configuration and the size before anything is built.
pub(crate) fn check(
    rows: usize,
    cols: usize,
    scales: usize,
    shear_levels: &[u32],
) -> Result<(), LabError> {
    check_configuration(scales, shear_levels)?;
    let smallest = minimum_size(scales, shear_levels);
    let supported = format!(
        "{scales} scales with shear levels {shear_levels:?} need a square image with an even \
         side of at least {smallest} pixels"
    );
    if rows != cols {
        return Err(LabError::Config(format!(
            "shearlet system of {rows}x{cols} pixels: {supported} (non-square sizes are not \
             supported)"
        )));
    }
    if rows % 2 == 1 {
        return Err(LabError::Config(format!(
            "shearlet system of {rows}x{cols} pixels: {supported} (at odd sizes ShearLab's \
             filters are shifted by one pixel and complex; resize or pad to {} pixels)",
            rows + 1
        )));
    }
    if rows < smallest {
        return Err(LabError::Config(format!(
            "shearlet system of {rows}x{cols} pixels: {supported}; use a larger image or fewer \
             scales"
        )));
    }
    Ok(())
}

fn check_configuration(scales: usize, shear_levels: &[u32]) -> Result<(), LabError> {
    if scales == 0 || scales > MAX_SCALES {
        return Err(LabError::Config(format!(
            "a shearlet system needs 1 to {MAX_SCALES} scales, got {scales}"
        )));
    }
    if shear_levels.len() != scales {
        return Err(LabError::Config(format!(
            "one shear level per scale is needed: {scales} scales, shear levels {shear_levels:?}"
        )));
    }
    if let Some(level) = shear_levels
        .iter()
        .find(|&&l| l == 0 || l > MAX_SHEAR_LEVEL)
    {
        return Err(LabError::Config(format!(
            "shear levels must lie in 1..={MAX_SHEAR_LEVEL}, got {level} in {shear_levels:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_scales_need_250_pixels_and_three_need_186() {
        assert_eq!(fitting_side(4, &[1, 1, 2, 2]), 249);
        assert_eq!(minimum_size(4, &[1, 1, 2, 2]), 250);
        assert_eq!(minimum_size(3, &[1, 1, 2]), 186);
    }

    #[test]
    fn sizes_are_refused_with_the_reason() {
        let levels = [1, 1, 2, 2];
        assert!(check(256, 256, 4, &levels).is_ok());
        assert!(check(250, 250, 4, &levels).is_ok());
        for (rows, cols, reason) in [
            (248, 248, "at least 250"),
            (224, 224, "fewer scales"),
            (257, 257, "odd sizes"),
            (256, 300, "non-square"),
        ] {
            let message = check(rows, cols, 4, &levels).unwrap_err().to_string();
            assert!(message.contains(reason), "{message}");
        }
        assert!(check(256, 256, 4, &[1, 1, 2]).is_err());
        assert!(check(256, 256, 4, &[0, 1, 2, 2]).is_err());
    }
}
