//! SuperHF's filter: of each prompt's completions, keep the K the training reward model scores
//! highest.

/// The indices of the `k` highest `scores` among the samples of each prompt (`prompts[i]` is
/// sample `i`'s prompt), prompts in order of first appearance, best first within a prompt;
/// ties keep the earlier sample, and a NaN score ranks last.
pub fn top_k_per_prompt(prompts: &[usize], scores: &[f64], k: usize) -> Vec<usize> {
    let mut seen = Vec::new();
    for &prompt in prompts {
        if !seen.contains(&prompt) {
            seen.push(prompt);
        }
    }
    let rank = |i: usize| match scores[i].is_nan() {
        true => f64::NEG_INFINITY,
        false => scores[i],
    };
    let mut kept = Vec::new();
    for prompt in seen {
        let mut own: Vec<usize> = (0..prompts.len())
            .filter(|&i| prompts[i] == prompt)
            .collect();
        // A stable sort, so equal scores keep their order.
        own.sort_by(|&a, &b| rank(b).total_cmp(&rank(a)));
        kept.extend(own.into_iter().take(k));
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_best_of_each_prompt() {
        let prompts = [0, 0, 0, 1, 1, 1];
        let scores = [0.1, 0.9, 0.5, f64::NAN, -1.0, -2.0];
        assert_eq!(top_k_per_prompt(&prompts, &scores, 1), vec![1, 4]);
        assert_eq!(top_k_per_prompt(&prompts, &scores, 2), vec![1, 2, 4, 5]);
        assert_eq!(top_k_per_prompt(&prompts, &[1.0; 6], 1), vec![0, 3]);
    }
}
