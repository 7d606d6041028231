//! What a run reports besides rewards: METEOR similarity across prompts (the paper's sign of
//! mode collapse) and means that skip missing values.

use super::meteor::{WordNet, similarity};

/// The mean METEOR similarity (both directions averaged) over every pair of texts answering
/// different prompts; `None` without such a pair. `texts` holds each text with its prompt.
pub fn meteor_across_prompts(texts: &[(usize, &str)], wordnet: &WordNet) -> Option<f64> {
    let mut total = 0.0;
    let mut pairs = 0;
    for (i, (prompt_a, a)) in texts.iter().enumerate() {
        for (prompt_b, b) in &texts[i + 1..] {
            if prompt_a != prompt_b {
                total += similarity(a, b, wordnet);
                pairs += 1;
            }
        }
    }
    (pairs > 0).then(|| total / pairs as f64)
}

/// The mean of `values`; `None` when there are none.
pub fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, count) = (values.into_iter()).fold((0.0, 0), |(s, n), v| (s + v, n + 1));
    (count > 0).then(|| sum / count as f64)
}
