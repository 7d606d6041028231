//! How well rewards agree with their labels: correlations for labelled texts, accuracy for
//! preference pairs. Computed on the host from rewards read back once per evaluation.

/// Pearson's correlation of two equally long sequences; 0 when either is constant.
pub fn pearson(x: &[f32], y: &[f32]) -> f64 {
    assert_eq!(
        x.len(),
        y.len(),
        "correlated sequences must be equally long"
    );
    let n = x.len() as f64;
    if x.is_empty() {
        return 0.0;
    }
    let mean = |v: &[f32]| v.iter().map(|&a| f64::from(a)).sum::<f64>() / n;
    let (mean_x, mean_y) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (dx, dy) = (f64::from(a) - mean_x, f64::from(b) - mean_y);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return 0.0;
    }
    sxy / (sxx * syy).sqrt()
}

/// Spearman's rank correlation: Pearson's correlation of the ranks, tied values sharing the
/// mean of their ranks (as SciPy's `spearmanr` computes it).
pub fn spearman(x: &[f32], y: &[f32]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// Ranks from 1, ties averaged.
pub fn ranks(values: &[f32]) -> Vec<f32> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end hold equal values: each gets the mean of ranks start+1..=end.
        let rank = (start + 1 + end) as f32 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// The fraction of pairs whose chosen text gets the strictly higher reward.
pub fn pair_accuracy(chosen: &[f32], rejected: &[f32]) -> f64 {
    assert_eq!(
        chosen.len(),
        rejected.len(),
        "one reward per side of each pair"
    );
    if chosen.is_empty() {
        return 0.0;
    }
    let right = chosen.iter().zip(rejected).filter(|(c, r)| c > r).count();
    right as f64 / chosen.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_their_mean_rank() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    /// Values worked by hand: y rises with x except for one swap.
    #[test]
    fn correlations_of_small_sequences() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((pearson(&x, &x) - 1.0).abs() < 1e-12);
        assert!((pearson(&x, &[5.0, 4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // Ranks differ by one swap: rho = 1 - 6 * 2 / (5 * 24) = 0.9.
        assert!((spearman(&x, &[1.0, 3.0, 2.0, 40.0, 50.0]) - 0.9).abs() < 1e-9);
        assert_eq!(pearson(&x, &[2.0; 5]), 0.0);
        assert_eq!(pair_accuracy(&[1.0, 0.0, 2.0], &[0.0, 1.0, 2.0]), 1.0 / 3.0);
    }
}
