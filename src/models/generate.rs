//! Decoding from a causal language model.

use super::CausalLm;
use super::cache::KvCache;
use crate::LabError;
use burn::tensor::{Int, Tensor, TensorData};

/// The `new_tokens` most probable continuations of `prompt`, one token at a time through the
/// key-value cache.
pub async fn greedy(
    model: &impl CausalLm,
    prompt: &[u32],
    new_tokens: usize,
    device: &burn::tensor::Device,
) -> Result<Vec<u32>, LabError> {
    check_length(model, prompt.len(), new_tokens)?;
    let mut cache = KvCache::new(model.layers());
    let mut step_input = tokens_tensor(prompt, device);
    let mut generated = Vec::with_capacity(new_tokens);
    for _ in 0..new_tokens {
        let logits = model.forward(step_input, &mut cache);
        let [batch, positions, vocab] = logits.dims();
        let last = logits.narrow(1, positions - 1, 1).reshape([batch, vocab]);
        let next = read_ids(last.argmax(1)).await?[0];
        generated.push(next);
        step_input = tokens_tensor(&[next], device);
    }
    Ok(generated)
}

fn check_length(model: &impl CausalLm, prompt: usize, new_tokens: usize) -> Result<(), LabError> {
    if prompt == 0 {
        return Err(LabError::Config("the prompt has no tokens".into()));
    }
    if prompt + new_tokens > model.max_positions() {
        return Err(LabError::Config(format!(
            "{prompt} prompt tokens and {new_tokens} new ones exceed the model's {} positions",
            model.max_positions()
        )));
    }
    Ok(())
}

/// One sequence of token ids as a `[1, len]` tensor.
pub fn tokens_tensor(ids: &[u32], device: &burn::tensor::Device) -> Tensor<2, Int> {
    let ids: Vec<i32> = ids.iter().map(|&id| id as i32).collect();
    let len = ids.len();
    Tensor::from_data(TensorData::new(ids, [1, len]), device)
}

async fn read_ids<const D: usize>(tensor: Tensor<D, Int>) -> Result<Vec<u32>, LabError> {
    let data = tensor.into_data_async().await?;
    let values = data
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|error| LabError::from_failed_read(&format!("{error:?}")))?;
    Ok(values.into_iter().map(|id| id as u32).collect())
}
