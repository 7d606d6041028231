//! Bilinear resizing with half-pixel centres, as PyTorch's `interpolate(mode="bilinear",
//! align_corners=False)` and OpenCV's `resize(..., INTER_LINEAR)` compute it when enlarging.

/// For each output position along one axis: the two source positions and the weight of the
/// second. Output `o` samples the source at `(o + 1/2) · in / out - 1/2`, clamped to the first
/// and last sample.
fn taps(inputs: usize, outputs: usize) -> Vec<(usize, usize, f64)> {
    let scale = inputs as f64 / outputs as f64;
    (0..outputs)
        .map(|o| {
            let source = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
            let first = (source.floor() as usize).min(inputs - 1);
            let second = (first + 1).min(inputs - 1);
            (first, second, source - first as f64)
        })
        .collect()
}

/// Resizes a row-major `[rows, cols]` map to `[out_rows, out_cols]`.
pub(crate) fn resize(
    values: &[f64],
    [rows, cols]: [usize; 2],
    [out_rows, out_cols]: [usize; 2],
) -> Vec<f64> {
    assert_eq!(values.len(), rows * cols, "a [{rows}, {cols}] map");
    let row_taps = taps(rows, out_rows);
    let col_taps = taps(cols, out_cols);
    let mut out = Vec::with_capacity(out_rows * out_cols);
    for &(r0, r1, wr) in &row_taps {
        for &(c0, c1, wc) in &col_taps {
            let at = |r: usize, c: usize| values[r * cols + c];
            let top = at(r0, c0) * (1.0 - wc) + at(r0, c1) * wc;
            let bottom = at(r1, c0) * (1.0 - wc) + at(r1, c1) * wc;
            out.push(top * (1.0 - wr) + bottom * wr);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enlarging `[0, 1]` fourfold: the outer quarter pixels clamp to the end values, the
    /// inner ones interpolate at 1/8, 3/8, 5/8, 7/8 of the way.
    #[test]
    fn enlarging_interpolates_between_pixel_centres() {
        let out = resize(&[0.0, 1.0], [1, 2], [1, 8]);
        let want = [0.0, 0.0, 0.125, 0.375, 0.625, 0.875, 1.0, 1.0];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-15, "{out:?}");
        }
    }

    #[test]
    fn the_same_size_is_the_identity() {
        let values: Vec<f64> = (0..12).map(f64::from).collect();
        assert_eq!(resize(&values, [3, 4], [3, 4]), values);
    }
}
