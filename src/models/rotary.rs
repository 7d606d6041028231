//! Rotary position embeddings in Hugging Face's rotate-half layout (Llama, GPT-NeoX): the first
//! `rotary_dims` features of each head are split into two halves `x1`, `x2`, and feature `i` of
//! a position `p` becomes `x[i] * cos(p * f[i]) + rotate_half(x)[i] * sin(p * f[i])`, with
//! `rotate_half(x) = [-x2, x1]` and the frequencies repeated over both halves. Features past
//! `rotary_dims` (GPT-NeoX's partial rotary) pass unchanged.

use burn::tensor::{Device, Tensor, TensorData};

#[derive(Debug, Clone, PartialEq)]
pub struct Rotary {
    /// `f[i] = 1 / theta^(2i / rotary_dims)`, rounded to f32 as transformers computes them, so
    /// that the angles agree with it at every position, not only near the start.
    inverse_frequencies: Vec<f32>,
}

impl Rotary {
    /// An odd `rotary_dims` rotates one feature more, as transformers does (it takes one
    /// frequency for every even index below `rotary_dims`).
    pub fn new(rotary_dims: usize, theta: f64) -> Self {
        let theta = theta as f32;
        let inverse_frequencies = (0..rotary_dims.div_ceil(2))
            .map(|i| {
                let exponent = (2 * i) as f32 / rotary_dims as f32;
                let power = f64::from(theta).powf(f64::from(exponent)) as f32;
                1.0 / power
            })
            .collect();
        Self {
            inverse_frequencies,
        }
    }

    pub fn rotary_dims(&self) -> usize {
        2 * self.inverse_frequencies.len()
    }

    /// The cosines and sines of positions `start..start + count`.
    pub fn table(&self, start: usize, count: usize, device: &Device) -> RotaryTable {
        let dims = self.rotary_dims();
        let mut cos = Vec::with_capacity(count * dims);
        let mut sin = Vec::with_capacity(count * dims);
        for position in start..start + count {
            // The angle is the f32 product, as in transformers; its cosine is then exact.
            let angles = (self.inverse_frequencies.iter())
                .map(|&frequency| f64::from(position as f32 * frequency));
            let angles: Vec<f64> = angles.collect();
            for _half in 0..2 {
                cos.extend(angles.iter().map(|angle| angle.cos() as f32));
                sin.extend(angles.iter().map(|angle| angle.sin() as f32));
            }
        }
        let shape = [1, 1, count, dims];
        RotaryTable {
            cos: Tensor::from_data(TensorData::new(cos, shape), device),
            sin: Tensor::from_data(TensorData::new(sin, shape), device),
        }
    }
}

/// Shapes: `cos` and `sin` are `[1, 1, positions, rotary_dims]`.
#[derive(Debug, Clone)]
pub struct RotaryTable {
    cos: Tensor<4>,
    sin: Tensor<4>,
}

impl RotaryTable {
    /// Rotates the first `rotary_dims` features of each head.
    ///
    /// Shapes: `x` is `[batch, heads, positions, head_dim]`, and so is the result.
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, _, head_dim] = x.dims();
        let [_, _, _, dims] = self.cos.dims();
        if dims == 0 {
            return x;
        }
        let half = dims / 2;
        let rotated = match dims == head_dim {
            true => x.clone(),
            false => x.clone().narrow(3, 0, dims),
        };
        let first = rotated.clone().narrow(3, 0, half);
        let second = rotated.clone().narrow(3, half, half);
        let rotated_half = Tensor::cat(vec![second.neg(), first], 3);
        let rotated = rotated * self.cos.clone() + rotated_half * self.sin.clone();
        match dims == head_dim {
            true => rotated,
            false => Tensor::cat(vec![rotated, x.narrow(3, dims, head_dim - dims)], 3),
        }
    }
}
