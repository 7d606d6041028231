//! The key-value cache of a causal language model: each layer's keys and values of the tokens
//! seen so far, so that generating one more token costs one position, not the whole sequence.

use burn::tensor::Tensor;

/// Shapes: keys and values are `[batch, kv_heads, positions, head_dim]`.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
}

impl KvCache {
    pub fn new(layers: usize) -> Self {
        Self {
            layers: vec![None; layers],
        }
    }

    /// How many positions the cache holds.
    pub fn len(&self) -> usize {
        match self.layers.first() {
            Some(Some((keys, _))) => keys.dims()[2],
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends this step's keys and values to layer `layer` and returns all of them.
    pub fn extend(
        &mut self,
        layer: usize,
        keys: Tensor<4>,
        values: Tensor<4>,
    ) -> (Tensor<4>, Tensor<4>) {
        let all = match self.layers[layer].take() {
            Some((past_keys, past_values)) => (
                Tensor::cat(vec![past_keys, keys], 2),
                Tensor::cat(vec![past_values, values], 2),
            ),
            None => (keys, values),
        };
        self.layers[layer] = Some(all.clone());
        all
    }

    /// Repeats every sequence `times` times along the batch: a prompt shared by a whole batch
    /// is run once and its keys and values copied for each sequence.
    pub fn repeat_batch(&mut self, times: usize) {
        for layer in self.layers.iter_mut().flatten() {
            *layer = (
                layer.0.clone().repeat_dim(0, times),
                layer.1.clone().repeat_dim(0, times),
            );
        }
    }
}
