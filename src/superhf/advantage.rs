//! PPO's per-token rewards, generalised advantage estimates and whitening, on the CPU: a batch
//! of completions is a few thousand numbers, read back once per batch.
//!
//! Sequences are rows of `positions` values; a row's completion covers its first `length`
//! positions and the rest is padding that every function here leaves at zero.

/// Per-token rewards of one completion: `-kl_coefficient * (logp_policy - logp_reference)` at
/// every token (the KL penalty, in PPO-RLHF's direction), plus the reward model's `score` at
/// the last token.
pub fn token_rewards(
    score: f32,
    logp_policy: &[f32],
    logp_reference: &[f32],
    kl_coefficient: f32,
) -> Vec<f32> {
    let mut rewards: Vec<f32> = (logp_policy.iter().zip(logp_reference))
        .map(|(policy, reference)| -kl_coefficient * (policy - reference))
        .collect();
    if let Some(last) = rewards.last_mut() {
        *last += score;
    }
    rewards
}

/// Generalised advantage estimates and returns of one completion, from its per-token rewards
/// and value estimates: `delta_t = r_t + gamma V_{t+1} - V_t` with `V` zero after the last
/// token, `A_t = delta_t + gamma lambda A_{t+1}`, and returns `A_t + V_t`.
pub fn generalised_advantages(
    rewards: &[f32],
    values: &[f32],
    gamma: f32,
    lambda: f32,
) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(rewards.len(), values.len(), "one value per reward");
    let mut advantages = vec![0.0; rewards.len()];
    let mut next_advantage = 0.0;
    let mut next_value = 0.0;
    for t in (0..rewards.len()).rev() {
        let delta = rewards[t] + gamma * next_value - values[t];
        next_advantage = delta + gamma * lambda * next_advantage;
        advantages[t] = next_advantage;
        next_value = values[t];
    }
    let returns = advantages.iter().zip(values).map(|(a, v)| a + v).collect();
    (advantages, returns)
}

/// Shifts and scales the values of all sequences together to mean 0 and deviation 1 (the
/// unbiased variance, plus 1e-8 so that constant values stay finite); with `keep_mean` the
/// mean is added back, scaling only.
pub fn whiten(sequences: &mut [Vec<f32>], keep_mean: bool) {
    let count = sequences.iter().map(Vec::len).sum::<usize>();
    if count < 2 {
        return;
    }
    let all = || sequences.iter().flatten().map(|&v| f64::from(v));
    let mean = all().sum::<f64>() / count as f64;
    let variance = all().map(|v| (v - mean).powi(2)).sum::<f64>() / (count - 1) as f64;
    let scale = 1.0 / (variance + 1e-8).sqrt();
    let shift = if keep_mean { mean } else { 0.0 };
    for value in sequences.iter_mut().flatten() {
        *value = ((f64::from(*value) - mean) * scale + shift) as f32;
    }
}

/// Rows of different lengths as one `[rows, positions]` array padded with zeros, and the mask
/// that marks the real values.
pub fn pad_rows(rows: &[Vec<f32>], positions: usize) -> (Vec<f32>, Vec<f32>) {
    let mut values = vec![0.0; rows.len() * positions];
    let mut mask = vec![0.0; rows.len() * positions];
    for (i, row) in rows.iter().enumerate() {
        let length = row.len().min(positions);
        values[i * positions..i * positions + length].copy_from_slice(&row[..length]);
        mask[i * positions..i * positions + length].fill(1.0);
    }
    (values, mask)
}
