//! Which shearlets the system holds, and in which order.

use serde::{Deserialize, Serialize};

/// The frequency cone a band lies in.
///
/// The frequency plane is split along its diagonals into a cone around the horizontal
/// frequency axis (`|w_col| >= |w_row|`) and one around the vertical axis; each cone is
/// covered by shears of one wedge, and the second cone's shearlets are the transposes of the
/// first's. ShearLab numbers them 1 and 2 (0 for the lowpass).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cone {
    /// The isotropic lowpass that covers the lowest frequencies.
    Lowpass,
    /// ShearLab's cone 1: horizontal frequencies dominate, so these shearlets are elongated
    /// vertically in the image and respond to near-vertical edges.
    Vertical,
    /// ShearLab's cone 2: the transposes, responding to near-horizontal edges.
    Horizontal,
}

impl Cone {
    /// ShearLab's number for the cone.
    pub fn shearlab_index(self) -> i64 {
        match self {
            Cone::Lowpass => 0,
            Cone::Vertical => 1,
            Cone::Horizontal => 2,
        }
    }
}

/// One band of the system: ShearLab's `[cone, scale, shear]` index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandInfo {
    pub cone: Cone,
    /// 1 (coarsest) to the number of scales; 0 for the lowpass.
    pub scale: usize,
    /// `-2^l..=2^l` for shear level `l` of the band's scale; 0 for the lowpass.
    pub shear: i64,
}

/// ShearLab's default index set (`full = 0`): for each cone, each scale from coarse to fine,
/// each shear in increasing order; then the lowpass last. Shears `+-2^l` lie on the diagonal
/// border of both cones, so only the first cone keeps them: `2 (2^(l+1) + 1) - 2` bands per
/// scale, 49 in all for shear levels `[1, 1, 2, 2]`.
pub(crate) fn band_list(shear_levels: &[u32]) -> Vec<BandInfo> {
    let mut bands = Vec::new();
    for cone in [Cone::Vertical, Cone::Horizontal] {
        for (scale_index, level) in shear_levels.iter().enumerate() {
            let extent = 1i64 << level;
            for shear in -extent..=extent {
                if cone == Cone::Vertical || shear.abs() < extent {
                    bands.push(BandInfo {
                        cone,
                        scale: scale_index + 1,
                        shear,
                    });
                }
            }
        }
    }
    bands.push(BandInfo {
        cone: Cone::Lowpass,
        scale: 0,
        shear: 0,
    });
    bands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_system_has_49_bands_with_the_lowpass_last() {
        let bands = band_list(&[1, 1, 2, 2]);
        assert_eq!(bands.len(), 49);
        assert_eq!(
            bands[0],
            BandInfo {
                cone: Cone::Vertical,
                scale: 1,
                shear: -2
            }
        );
        assert_eq!(bands[48].cone, Cone::Lowpass);
        let horizontal = bands.iter().filter(|b| b.cone == Cone::Horizontal).count();
        assert_eq!(horizontal, 3 + 3 + 7 + 7);
    }
}
