//! The edge measure and the edge orientation, pixel by pixel.
//!
//! With `c_{o,j}` the complex coefficient of orientation `o` (on the full circle, see
//! `orientations`) and scale `j`, and `J = scales - s` pairs of scales an octave (`s`
//! scales) apart, the odd responses are `odd_{o,j} = Im c_{o,j+s}` and the even ones
//! `even_{o,j} = |Re c_{o,j}|`. The pivot `(o*, j*)` is where the odd response is largest;
//! then
//!
//! `edge = max(0, sum_j (min(odd_{o*,j}, odd_{o*,j*}) - even_{o*,j} - min_contrast))
//!         / (J odd_{o*,j*})`
//!
//! which is near 1 where a step edge of the pivot's direction dominates at every scale, and
//! 0 where lines (even responses) or weak contrast dominate. Where it is positive, the
//! orientation index is refined by a parabola through the pivot and its two neighbouring
//! orientations at the pivot's scale, and turned into degrees.
//!
//! The arithmetic follows the reference operation by operation (the order of the sums, the
//! tie-breaking of the pivot, divisions by zero giving infinities or NaN), so that the two
//! agree to rounding. One deliberate difference: where every odd response is zero (a flat
//! image, say) the reference's measure is 0/0, NaN; here it is 0.

use rustfft::num_complex::Complex64;

use super::EdgeSystem;
use crate::LabError;
use crate::shearlet::fft2::Fft2;

/// The edge measure of an image.
#[derive(Clone, Debug)]
pub struct EdgeMap {
    pub rows: usize,
    pub cols: usize,
    /// In `[0, 1]`, `[rows, cols]` row-major.
    pub strength: Vec<f64>,
    /// The edge's direction in degrees in `[0, 180]` where `strength > 0`, else -1 (also
    /// where the interpolation is undefined). `[rows, cols]` row-major. Never rounded:
    /// PyCoShREM returns whole degrees (truncated) whenever its top-left pixel has no edge, a
    /// side effect of how it maps indices to angles, and these are the unrounded values.
    pub orientation: Vec<f64>,
}

impl EdgeMap {
    /// The edge pixels: strength strictly above `threshold` (ShearletX uses 0.1).
    pub fn edges(&self, threshold: f64) -> Vec<bool> {
        self.strength.iter().map(|&s| s > threshold).collect()
    }
}

/// The responses the measure needs, one plane per first-circle orientation and scale pair:
/// `odd[(o * pairs + j) * pixels + p] = Im c_{o, j + s}(p)` and `even` likewise with
/// `Re c_{o, j}(p)`.
struct Responses {
    odd: Vec<f64>,
    even: Vec<f64>,
}

impl EdgeSystem {
    /// The edge measure of a grey image (`[rows, cols]` row-major). `min_contrast` is in the
    /// image's own units: ShearletX uses 3 on a 0..255 scale.
    pub fn detect(&self, image: &[f64], min_contrast: f64) -> Result<EdgeMap, LabError> {
        let (rows, cols) = (self.rows(), self.cols());
        if image.len() != rows * cols {
            return Err(LabError::Config(format!(
                "the edge detector was built for {rows}x{cols} images and got {} pixels; \
                 build one for this size",
                image.len()
            )));
        }
        if image.iter().any(|v| !v.is_finite()) {
            return Err(LabError::Config(
                "the image given to the edge detector has infinite or NaN pixels".into(),
            ));
        }
        if !(min_contrast.is_finite() && min_contrast >= 0.0) {
            return Err(LabError::Config(format!(
                "the edge detector's minimum contrast must be zero or positive, not \
                 {min_contrast}"
            )));
        }
        let responses = self.responses(image);
        let mut strength = vec![0.0; rows * cols];
        let mut orientation = vec![-1.0; rows * cols];
        let mut pixel = PixelWork::new(self);
        for r in 0..rows {
            for c in 0..cols {
                pixel.gather(self, &responses, r, c);
                let p = r * cols + c;
                let (edge, pivot) = pixel.edge(min_contrast);
                strength[p] = edge;
                if edge > 0.0 {
                    orientation[p] = self.layout.degrees(pixel.orientation_index(self, pivot));
                }
            }
        }
        Ok(EdgeMap {
            rows,
            cols,
            strength,
            orientation,
        })
    }

    /// `c_k = conj(IFFT2(FFT2(x) conj(psi_k)))`, the reference's correlation, kept where the
    /// measure reads it.
    fn responses(&self, image: &[f64]) -> Responses {
        let (rows, cols) = (self.rows(), self.cols());
        let plane = rows * cols;
        let orientations = self.orientation_count();
        let offset = self.config.scales_per_octave as usize;
        let pairs = self.scales - offset;
        let fft = Fft2::new(rows, cols);
        let mut spectrum: Vec<Complex64> = image.iter().map(|&v| Complex64::new(v, 0.0)).collect();
        fft.forward(&mut spectrum);
        let mut odd = vec![0.0; orientations * pairs * plane];
        let mut even = vec![0.0; orientations * pairs * plane];
        for scale in 0..self.scales {
            for o in 0..orientations {
                let filter = self.filter(scale * orientations + o);
                let mut band: Vec<Complex64> = spectrum
                    .iter()
                    .zip(&filter)
                    .map(|(x, psi)| x * psi.conj())
                    .collect();
                fft.inverse(&mut band);
                if scale >= offset {
                    let start = (o * pairs + scale - offset) * plane;
                    for (out, value) in odd[start..start + plane].iter_mut().zip(&band) {
                        *out = -value.im;
                    }
                }
                if scale < pairs {
                    let start = (o * pairs + scale) * plane;
                    for (out, value) in even[start..start + plane].iter_mut().zip(&band) {
                        *out = value.re;
                    }
                }
            }
        }
        Responses { odd, even }
    }
}

/// One pixel's responses on the full circle: `[2n orientations, pairs]`.
struct PixelWork {
    pairs: usize,
    odd: Vec<f64>,
    even: Vec<f64>,
}

/// Python's `max(x, 0)`: `x` unless zero is greater (so NaN and -0 stay).
fn at_least_zero(x: f64) -> f64 {
    if 0.0 > x { 0.0 } else { x }
}

/// Python's `min(a, b)`: `a` unless `b` is smaller.
fn smaller(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

impl PixelWork {
    fn new(system: &EdgeSystem) -> Self {
        let pairs = system.scales - system.config.scales_per_octave as usize;
        let full = 2 * system.orientation_count();
        Self {
            pairs,
            odd: vec![0.0; full * pairs],
            even: vec![0.0; full * pairs],
        }
    }

    fn gather(&mut self, system: &EdgeSystem, responses: &Responses, r: usize, c: usize) {
        let (rows, cols) = (system.rows() as isize, system.cols() as isize);
        let plane = (rows * cols) as usize;
        let pairs = self.pairs;
        for full in 0..2 * system.orientation_count() {
            let source = system.layout.source(full);
            let rr = (r as isize + source.row_step).rem_euclid(rows);
            let cc = (c as isize + source.col_step).rem_euclid(cols);
            let p = (rr * cols + cc) as usize;
            for j in 0..pairs {
                let at = (source.orientation * pairs + j) * plane + p;
                let odd = responses.odd[at];
                self.odd[full * pairs + j] = if source.negated { -odd } else { odd };
                self.even[full * pairs + j] = responses.even[at].abs();
            }
        }
    }

    fn odd(&self, full: usize, j: usize) -> f64 {
        self.odd[full * self.pairs + j]
    }

    /// The edge measure and the pivot `(orientation, scale pair)`.
    fn edge(&self, min_contrast: f64) -> (f64, (usize, usize)) {
        let full = self.odd.len() / self.pairs;
        // The first largest in scale-major order, as NumPy's argmax over the reference's
        // Fortran-ordered reshape finds it.
        let mut pivot = (0, 0);
        for j in 0..self.pairs {
            for o in 0..full {
                if self.odd(o, j) > self.odd(pivot.0, pivot.1) {
                    pivot = (o, j);
                }
            }
        }
        let peak = self.odd(pivot.0, pivot.1);
        let mut sum = 0.0;
        for j in 0..self.pairs {
            sum = sum + smaller(self.odd(pivot.0, j), peak)
                - self.even[pivot.0 * self.pairs + j]
                - min_contrast;
        }
        let kept = if sum > 0.0 { sum } else { 0.0 };
        let edge = kept / (self.pairs as f64 * peak);
        (if edge.is_nan() { 0.0 } else { edge }, pivot)
    }

    /// The orientation index in `[0, n)` (or NaN), refined between the pivot and its
    /// neighbours by a parabola at the pivot's scale.
    fn orientation_index(&self, system: &EdgeSystem, (po, ps): (usize, usize)) -> f64 {
        let layout = &system.layout;
        let n = layout.count() as f64;
        let mut peak = self.odd(po, ps);
        let (mut left_peak, mut right_peak) = (peak, peak);
        let mut left = at_least_zero(self.odd(layout.left(po), ps));
        let mut right = at_least_zero(self.odd(layout.right(po), ps));
        let mut angle = po as f64;
        let (mut left_angle, mut right_angle) = (angle, angle);
        // At a cone border the duplicated diagonal next door may be the better peak.
        if layout.border_on_right(po) {
            right_peak = at_least_zero(self.odd(po + 1, ps));
            right = smaller(right, right_peak);
            right_angle = angle + 1.0;
        }
        if layout.border_on_left(po) {
            left_peak = at_least_zero(self.odd(po - 1, ps));
            left = smaller(left, left_peak);
            left_angle = angle - 1.0;
        }
        if right / right_peak > left / left_peak {
            left = right_peak * left / left_peak;
            angle = right_angle;
            peak = right_peak;
        } else {
            right = left_peak * right / right_peak;
            angle = left_angle;
            peak = left_peak;
        }
        let mut index = angle + (right - left) / (4.0 * peak - 2.0 * (right + left));
        if index < 0.0 {
            index += 2.0 * n;
        }
        if index >= 2.0 * n {
            index -= 2.0 * n;
        }
        if index >= n {
            index -= n;
        }
        index
    }
}
