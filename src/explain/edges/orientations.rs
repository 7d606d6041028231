//! How CoShREM numbers the orientations of its shearlets, and how it turns an interpolated
//! orientation index into an angle.
//!
//! At shear level `L` the system has `n = 2^L + 2` orientations per scale, with shears
//! `k = -q..=q` in steps of one where `q = 2^(L-2)`: slope `k / q` against the cone's axis.
//! They are numbered as the half circle is walked: the vertical cone's shears `0..=q`, then
//! the horizontal cone's `q..=-q`, then the vertical cone's `-q..=-1`. The two diagonals
//! belong to both cones and appear twice.
//!
//! Each shearlet is odd-symmetric in its imaginary part, so its negation responds to the
//! opposite direction: the detector works on a full circle of `2n` orientations, the second
//! half being the negated first. The filters are sampled half a pixel off their centre, so a
//! negated filter is centred half a pixel on the other side; the detector moves one of the
//! two by a whole pixel so that both sit on the same side. Which one moves, and where, is
//! decided per group of orientations, as in the reference.

use std::f64::consts::{FRAC_PI_2, PI};

/// The three runs of orientations, in the order they are numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// The vertical cone's shears `0..=q`.
    VerticalFirst,
    /// The horizontal cone's shears `q..=-q`.
    Horizontal,
    /// The vertical cone's shears `-q..=-1`.
    VerticalLast,
}

/// Where a full-circle orientation's coefficient comes from: `sign * c[orientation]` at the
/// pixel `(row + row_step, col + col_step)`, wrapping around the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source {
    pub orientation: usize,
    pub negated: bool,
    pub row_step: isize,
    pub col_step: isize,
}

#[derive(Clone, Debug)]
pub struct Orientations {
    /// `q = 2^(L-2)`: the number of shear steps from a cone's axis to its diagonal.
    steps: usize,
    /// The shear `k` of each orientation, `n` values.
    shears: Vec<i64>,
    groups: Vec<Group>,
    /// Per full-circle orientation: the neighbours on either side used to interpolate the
    /// orientation, and whether the orientation sits at one of the four cone borders (where
    /// the duplicated diagonal lies next to it).
    left: Vec<usize>,
    right: Vec<usize>,
    border_on_right: Vec<bool>,
    border_on_left: Vec<bool>,
}

impl Orientations {
    /// The layout for shear level `level >= 2`.
    pub fn new(level: u32) -> Self {
        let steps = 1usize << (level - 2);
        let half_cone = 2 * steps;
        let count = 4 * steps + 2;
        let mut shears = Vec::with_capacity(count);
        let mut groups = Vec::with_capacity(count);
        for k in 0..=steps as i64 {
            shears.push(k);
            groups.push(Group::VerticalFirst);
        }
        for i in 0..=half_cone as i64 {
            shears.push(steps as i64 - i);
            groups.push(Group::Horizontal);
        }
        for k in -(steps as i64)..0 {
            shears.push(k);
            groups.push(Group::VerticalLast);
        }
        debug_assert_eq!(shears.len(), count);
        let (left, right, border_on_left, border_on_right) = neighbours(level, count, steps);
        Self {
            steps,
            shears,
            groups,
            left,
            right,
            border_on_right,
            border_on_left,
        }
    }

    /// `n`, the orientations per scale.
    pub fn count(&self) -> usize {
        self.shears.len()
    }

    pub fn shear(&self, orientation: usize) -> i64 {
        self.shears[orientation]
    }

    pub fn group(&self, orientation: usize) -> Group {
        self.groups[orientation]
    }

    /// `2^(L-2)`.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Where full-circle orientation `full` (`0..2n`) reads its coefficient.
    pub fn source(&self, full: usize) -> Source {
        let n = self.count();
        let orientation = full % n;
        let negated = full >= n;
        let (row_step, col_step) = match (self.groups[orientation], negated) {
            (Group::Horizontal, false) => (-1, 0),
            (Group::VerticalLast, false) => (0, 1),
            (Group::VerticalFirst, true) => (0, 1),
            _ => (0, 0),
        };
        Source {
            orientation,
            negated,
            row_step,
            col_step,
        }
    }

    pub fn left(&self, full: usize) -> usize {
        self.left[full]
    }

    pub fn right(&self, full: usize) -> usize {
        self.right[full]
    }

    pub fn border_on_left(&self, full: usize) -> bool {
        self.border_on_left[full]
    }

    pub fn border_on_right(&self, full: usize) -> bool {
        self.border_on_right[full]
    }

    /// The angle in degrees, in `[0, 180]`, of an interpolated orientation index in `[0, n)`;
    /// -1 for a negative or undefined index.
    ///
    /// The shear is interpolated linearly between neighbouring orientations and its slope
    /// turned into an angle by the formula of a cone: `90 + atan(slope)` degrees for the
    /// horizontal cone, `180 - atan(slope)` before it and `-atan(slope)` after it. The
    /// reference picks the formula by comparing the 0-based index with the horizontal cone's
    /// 1-based numbers `q+2..=3q+2`, so the unit interval after the first horizontal
    /// orientation takes the vertical formula and the one after the last takes the
    /// horizontal formula. Both formulas agree at whole indices there (on the diagonals);
    /// in between this is kept as the reference returns it.
    pub fn degrees(&self, index: f64) -> f64 {
        // NaN and negative indices both mean "no orientation".
        if index.is_nan() || index < 0.0 {
            return -1.0;
        }
        let n = self.count();
        let whole = index.floor();
        let delta = index - whole;
        let whole = whole as usize;
        if whole >= n {
            return -1.0;
        }
        let here = self.shears[whole] as f64;
        let shear = if whole == n - 1 {
            (1.0 - delta) * here
        } else {
            (1.0 - delta) * here + delta * self.shears[whole + 1] as f64
        };
        let slope = shear / self.steps as f64;
        let first_horizontal = (self.steps + 2) as f64;
        let last_horizontal = (3 * self.steps + 2) as f64;
        let radians = if first_horizontal <= index && index <= last_horizontal {
            FRAC_PI_2 + slope.atan()
        } else if index < first_horizontal {
            PI - slope.atan()
        } else {
            -slope.atan()
        };
        180.0 * radians / PI
    }
}

/// The neighbour steps on the full circle of `2 * count` orientations. Next to a cone border
/// the diagonal appears twice, so the step skips its duplicate; the orientations at a border
/// also look at the duplicate itself as a candidate peak.
fn neighbours(
    level: u32,
    count: usize,
    steps: usize,
) -> (Vec<usize>, Vec<usize>, Vec<bool>, Vec<bool>) {
    let full = 2 * count;
    let border_a = steps + 1;
    let border_b = count - steps;
    let mut left_step = vec![-1isize; full];
    let mut right_step = vec![1isize; full];
    left_step[0] = full as isize - 1;
    for border in [border_a, border_b, border_a + count, border_b + count] {
        left_step[border] = -2;
    }
    right_step[full - 1] = 1 - full as isize;
    for border in [border_a, border_b, border_a + count] {
        right_step[border - 1] = 2;
    }
    // At level 2 the reference jumps from the last border straight to a fixed orientation.
    right_step[border_b + count - 1] = if level == 2 { -10 } else { 2 };
    let left = (0..full)
        .map(|o| (o as isize + left_step[o]).rem_euclid(full as isize) as usize)
        .collect();
    let right = (0..full)
        .map(|o| (o as isize + right_step[o]).rem_euclid(full as isize) as usize)
        .collect();
    let borders = [border_a, border_b, border_a + count, border_b + count];
    let border_on_right = (0..full).map(|o| borders.contains(&(o + 1))).collect();
    let border_on_left = (0..full).map(|o| borders.contains(&o)).collect();
    (left, right, border_on_left, border_on_right)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_three_numbers_ten_orientations_as_the_reference_does() {
        let layout = Orientations::new(3);
        let shears: Vec<i64> = (0..10).map(|o| layout.shear(o)).collect();
        assert_eq!(shears, [0, 1, 2, 2, 1, 0, -1, -2, -2, -1]);
        assert_eq!(layout.group(2), Group::VerticalFirst);
        assert_eq!(layout.group(3), Group::Horizontal);
        assert_eq!(layout.group(7), Group::Horizontal);
        assert_eq!(layout.group(8), Group::VerticalLast);
        assert_eq!(layout.left(0), 19);
        assert_eq!(layout.right(19), 0);
        assert_eq!(layout.right(2), 4);
        assert_eq!(layout.left(3), 1);
        assert!(layout.border_on_right(7) && layout.border_on_left(8));
        assert!(!layout.border_on_right(3) && !layout.border_on_left(2));
    }

    #[test]
    fn whole_indices_give_the_angles_of_their_shears() {
        let layout = Orientations::new(3);
        // Vertical cone, shear 0: 180 (the same line as 0 degrees).
        assert!((layout.degrees(0.0) - 180.0).abs() < 1e-12);
        // Horizontal cone, shear 0: 90 degrees.
        assert!((layout.degrees(5.0) - 90.0).abs() < 1e-12);
        // The diagonals, reached from either cone.
        assert!((layout.degrees(3.0) - 135.0).abs() < 1e-12);
        assert!((layout.degrees(8.0) - 45.0).abs() < 1e-12);
        assert_eq!(layout.degrees(f64::NAN), -1.0);
        assert_eq!(layout.degrees(-0.5), -1.0);
    }
}
