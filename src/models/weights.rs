//! Weights read from safetensors files (one file or the shards of one checkpoint), converted to
//! f32 tensors on request, with messages that name the file and the tensor when something does
//! not fit.

use crate::LabError;
use burn::tensor::{Device, Tensor, TensorData};
use half::{bf16, f16};
use safetensors::tensor::Metadata;
use safetensors::{Dtype, SafeTensors};

/// Where an architecture reads its tensors from, by their checkpoint names.
pub trait WeightSource {
    /// Whether a tensor of that name is present.
    fn contains(&self, name: &str) -> bool;

    /// The tensor's values as f32, row-major, with its shape.
    fn read_f32(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), LabError>;

    /// The tensor `name`, which must have exactly `shape`.
    fn tensor<const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>, LabError> {
        let (values, found) = self.read_f32(name)?;
        if found != shape {
            return Err(LabError::Weights(format!(
                "the tensor {name} has shape {found:?}, but the model's configuration needs \
                 {shape:?}: the weights do not belong to this configuration"
            )));
        }
        Ok(Tensor::from_data(TensorData::new(values, shape), device))
    }

    /// The first of `prefixes` under which `probe` is found: checkpoints of one architecture
    /// name their tensors with or without the wrapper's prefix (`transformer.h.0...` or
    /// `h.0...`).
    fn find_prefix<'p>(&self, prefixes: &[&'p str], probe: &str) -> Result<&'p str, LabError> {
        prefixes
            .iter()
            .find(|prefix| self.contains(&format!("{prefix}{probe}")))
            .copied()
            .ok_or_else(|| {
                LabError::Weights(format!(
                    "no tensor named {probe} (with any of the prefixes {prefixes:?}): the weights \
                     are not of this architecture"
                ))
            })
    }
}

/// One safetensors file, validated on opening.
struct Shard {
    file_name: String,
    bytes: Vec<u8>,
    /// Where the tensor data starts: after the 8-byte length and the JSON header.
    data_start: usize,
    metadata: Metadata,
}

impl Shard {
    fn open(file_name: &str, bytes: Vec<u8>) -> Result<Self, LabError> {
        // Validates the header against the buffer: every tensor inside it, none overlapping,
        // nothing missing at the end.
        let (header_len, metadata) = SafeTensors::read_metadata(&bytes).map_err(|error| {
            LabError::Weights(format!(
                "{file_name} is not a readable safetensors file ({error}); it may be truncated \
                 or of another format"
            ))
        })?;
        Ok(Self {
            file_name: file_name.to_string(),
            bytes,
            data_start: 8 + header_len,
            metadata,
        })
    }
}

/// The tensors of one checkpoint, possibly sharded over several safetensors files.
pub struct Weights {
    shards: Vec<Shard>,
}

impl Weights {
    pub fn from_safetensors(file_name: &str, bytes: Vec<u8>) -> Result<Self, LabError> {
        Self::from_shards(vec![(file_name.to_string(), bytes)])
    }

    /// The shards of a checkpoint that the hub splits as `model-0000k-of-0000n.safetensors`.
    pub fn from_shards(files: Vec<(String, Vec<u8>)>) -> Result<Self, LabError> {
        let shards = files
            .into_iter()
            .map(|(name, bytes)| Shard::open(&name, bytes))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { shards })
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = (self.shards.iter())
            .flat_map(|shard| shard.metadata.tensors().into_keys())
            .collect();
        names.sort();
        names
    }

    /// Every tensor's name and shape, sorted by name, read from the headers alone.
    pub fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut shapes: Vec<(String, Vec<usize>)> = (self.shards.iter())
            .flat_map(|shard| shard.metadata.tensors())
            .map(|(name, info)| (name, info.shape.clone()))
            .collect();
        shapes.sort();
        shapes
    }

    /// How many values the checkpoint holds in all.
    pub fn parameter_count(&self) -> usize {
        let tensors = self
            .shards
            .iter()
            .flat_map(|s| s.metadata.tensors().into_values());
        tensors
            .map(|info| info.shape.iter().product::<usize>())
            .sum()
    }
}

impl WeightSource for Weights {
    fn contains(&self, name: &str) -> bool {
        self.shards.iter().any(|s| s.metadata.info(name).is_some())
    }

    fn read_f32(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), LabError> {
        let (shard, info) = (self.shards.iter())
            .find_map(|shard| shard.metadata.info(name).map(|info| (shard, info)))
            .ok_or_else(|| LabError::Weights(format!("the weights have no tensor named {name}")))?;
        let (start, end) = info.data_offsets;
        let raw = &shard.bytes[shard.data_start + start..shard.data_start + end];
        let values = to_f32(raw, info.dtype).ok_or_else(|| {
            LabError::Weights(format!(
                "{}: the tensor {name} is stored as {:?}; the lab reads f32, f16 and bf16 weights",
                shard.file_name, info.dtype
            ))
        })?;
        Ok((values, info.shape.clone()))
    }
}

/// Little-endian values of a floating-point dtype, widened to f32; `None` for other dtypes.
fn to_f32(raw: &[u8], dtype: Dtype) -> Option<Vec<f32>> {
    let values = match dtype {
        Dtype::F32 => (raw.chunks_exact(4))
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => (raw.chunks_exact(2))
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => (raw.chunks_exact(2))
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => return None,
    };
    Some(values)
}
