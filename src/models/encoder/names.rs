//! Hub tensor names as an architecture reads them: under the prefix a checkpoint's wrapper
//! adds (`bert.`, `distilbert.`), and with the layer-norm names of early BERT checkpoints.

use crate::LabError;
use crate::models::weights::WeightSource;
use burn::tensor::{Device, Tensor};

/// The tensors of `inner` whose names start with `prefix`, read without it.
pub struct Prefixed<'w, W: WeightSource> {
    inner: &'w W,
    prefix: &'w str,
}

impl<'w, W: WeightSource> Prefixed<'w, W> {
    /// The first of `prefixes` under which `probe` is found.
    pub fn find(inner: &'w W, prefixes: &[&'w str], probe: &str) -> Result<Self, LabError> {
        let prefix = inner.find_prefix(prefixes, probe)?;
        Ok(Self { inner, prefix })
    }

    /// The name in the checkpoint: early BERT checkpoints (TensorFlow conversions) call a
    /// layer norm's scale and shift `gamma` and `beta`, which transformers renames on loading.
    fn full_name(&self, name: &str) -> String {
        let full = format!("{}{name}", self.prefix);
        if self.inner.contains(&full) {
            return full;
        }
        let legacy = (full
            .strip_suffix("LayerNorm.weight")
            .map(|s| format!("{s}LayerNorm.gamma")))
        .or_else(|| {
            full.strip_suffix("LayerNorm.bias")
                .map(|s| format!("{s}LayerNorm.beta"))
        });
        match legacy {
            Some(legacy) if self.inner.contains(&legacy) => legacy,
            _ => full,
        }
    }
}

impl<W: WeightSource> WeightSource for Prefixed<'_, W> {
    fn contains(&self, name: &str) -> bool {
        self.inner.contains(&self.full_name(name))
    }

    fn read_f32(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), LabError> {
        self.inner.read_f32(&self.full_name(name))
    }

    fn tensor<const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>, LabError> {
        self.inner.tensor(&self.full_name(name), shape, device)
    }
}
