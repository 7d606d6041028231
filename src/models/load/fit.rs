//! Whether a model's weights fit on the device, judged from the checkpoint's headers before any
//! weight is uploaded: every tensor is held as f32 in a buffer of its own, which the adapter
//! must be able to bind, and all of them together must fit in the memory the backend has where
//! that is known.
//!
//! WebGPU and wgpu report per-buffer limits but not how much memory a GPU has, so on a GPU only
//! the per-tensor limit is checked. The CPU backend in the browser keeps every tensor in the
//! 4 GiB of 32-bit WebAssembly memory; natively it has the machine's memory, which is not
//! checked.

use crate::LabError;
use crate::device::{BackendKind, DeviceReport};
use serde::Serialize;

/// Every weight is widened to f32 on loading.
pub const BYTES_PER_WEIGHT: u64 = 4;
/// The memory of a 32-bit WebAssembly instance.
pub const WASM_MEMORY_BYTES: u64 = 4 << 30;

/// One tensor as the model holds it on the device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Footprint {
    pub name: String,
    pub shape: Vec<usize>,
    /// The largest buffer it takes: its size as f32, or the size of its largest block where
    /// the model splits it into several buffers.
    pub buffer_bytes: u64,
}

impl Footprint {
    /// A tensor held whole.
    pub fn whole(name: &str, shape: &[usize]) -> Self {
        let elements: usize = shape.iter().product();
        Self {
            name: name.to_string(),
            shape: shape.to_vec(),
            buffer_bytes: elements as u64 * BYTES_PER_WEIGHT,
        }
    }

    /// A tensor held in blocks of at most `block_bytes`.
    pub fn in_blocks(name: &str, shape: &[usize], block_bytes: u64) -> Self {
        let whole = Self::whole(name, shape);
        Self {
            buffer_bytes: whole.buffer_bytes.min(block_bytes),
            ..whole
        }
    }

    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn bytes(&self) -> u64 {
        self.elements() as u64 * BYTES_PER_WEIGHT
    }
}

/// A limit and what imposes it, in words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limit {
    pub bytes: u64,
    pub holder: String,
}

/// What the device can hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeviceCapacity {
    /// The largest buffer one tensor may take.
    pub per_tensor: Option<Limit>,
    /// All the weights together.
    pub total: Option<Limit>,
    /// What the user can do instead, for the message.
    pub advice: String,
}

impl DeviceCapacity {
    /// No limit checked: the native CPU backend.
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// The limits of the device a report describes.
    pub fn of(report: &DeviceReport) -> Self {
        match (&report.backend, &report.adapter) {
            (BackendKind::Wgpu, Some(adapter)) => {
                let limits = &adapter.limits;
                let bytes = (limits.max_storage_buffer_binding_size).min(limits.max_buffer_size);
                Self {
                    per_tensor: Some(Limit {
                        bytes,
                        holder: format!("the GPU ({}) binds per buffer", adapter.name),
                    }),
                    total: None,
                    advice: "choose the CPU backend, or a smaller model".into(),
                }
            }
            _ if cfg!(target_arch = "wasm32") => Self::webassembly(),
            _ => Self::unlimited(),
        }
    }

    /// The CPU backend in the browser.
    pub fn webassembly() -> Self {
        let holder = "the CPU backend's WebAssembly memory holds".to_string();
        Self {
            per_tensor: Some(Limit {
                bytes: WASM_MEMORY_BYTES,
                holder: holder.clone(),
            }),
            total: Some(Limit {
                bytes: WASM_MEMORY_BYTES,
                holder,
            }),
            advice: "choose a smaller model".into(),
        }
    }

    /// Fails with a message naming what does not fit.
    pub fn check(&self, tensors: &[Footprint]) -> Result<(), LabError> {
        if let (Some(limit), Some(largest)) = (
            &self.per_tensor,
            tensors.iter().max_by_key(|tensor| tensor.buffer_bytes),
        ) && largest.buffer_bytes > limit.bytes
        {
            return Err(LabError::Weights(format!(
                "the model does not fit on this device: the tensor {} {:?} takes {} as f32, more \
                 than the {} {}; {}",
                largest.name,
                largest.shape,
                format_bytes(largest.buffer_bytes),
                format_bytes(limit.bytes),
                limit.holder,
                self.advice
            )));
        }
        let total: u64 = tensors.iter().map(Footprint::bytes).sum();
        if let Some(limit) = &self.total
            && total > limit.bytes
        {
            return Err(LabError::Weights(format!(
                "the model does not fit on this device: its weights take {} as f32, more than \
                 the {} {}; {}",
                format_bytes(total),
                format_bytes(limit.bytes),
                limit.holder,
                self.advice
            )));
        }
        Ok(())
    }
}

/// Bytes in binary units, as the page writes them.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_tensor_that_does_not_fit() {
        let capacity = DeviceCapacity {
            per_tensor: Some(Limit {
                bytes: 1 << 20,
                holder: "the test GPU binds per buffer".into(),
            }),
            total: Some(Limit {
                bytes: 3 << 20,
                holder: "the test memory holds".into(),
            }),
            advice: "choose the CPU backend, or a smaller model".into(),
        };
        let small = Footprint::whole("small", &[256, 256]);
        let large = Footprint::whole("large", &[1024, 512]);
        assert!(capacity.check(std::slice::from_ref(&small)).is_ok());
        let error = capacity
            .check(&[small.clone(), large])
            .unwrap_err()
            .to_string();
        assert!(error.contains("large [1024, 512] takes 2.0 MiB"), "{error}");
        assert!(error.contains("CPU backend"), "{error}");
        let blocked = Footprint::in_blocks("blocked", &[1024, 512], 1 << 20);
        assert!(capacity.check(std::slice::from_ref(&blocked)).is_ok());
        let error = capacity.check(&[blocked.clone(), blocked]).unwrap_err();
        assert!(
            error.to_string().contains("weights take 4.0 MiB"),
            "{error}"
        );
    }

    #[test]
    fn sizes_read_as_the_page_writes_them() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(128 << 20), "128.0 MiB");
        assert_eq!(format_bytes(WASM_MEMORY_BYTES), "4.0 GiB");
    }
}
