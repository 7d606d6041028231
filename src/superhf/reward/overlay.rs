//! Two weight sources read as one: a small file of trained tensors (a reward head) over the
//! checkpoint it was trained on, so a head is shipped without a copy of its encoder.

use crate::LabError;
use crate::models::weights::WeightSource;
use burn::tensor::{Device, Tensor};

/// Reads a tensor from `top` when it has one of that name, else from `base`.
pub struct Overlay<'w, T: WeightSource, B: WeightSource> {
    pub top: &'w T,
    pub base: &'w B,
}

impl<T: WeightSource, B: WeightSource> WeightSource for Overlay<'_, T, B> {
    fn contains(&self, name: &str) -> bool {
        self.top.contains(name) || self.base.contains(name)
    }

    fn read_f32(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), LabError> {
        match self.top.contains(name) {
            true => self.top.read_f32(name),
            false => self.base.read_f32(name),
        }
    }

    fn tensor<const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>, LabError> {
        match self.top.contains(name) {
            true => self.top.tensor(name, shape, device),
            false => self.base.tensor(name, shape, device),
        }
    }
}
