//! Choosing where tensors live: a GPU through wgpu (WebGPU in the browser; Vulkan, Metal or
//! DX12 natively) or burn's pure-Rust CPU backend, with a plain statement of why a fallback
//! happened.

mod gpu;
mod read;

use crate::LabError;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

pub use gpu::{AdapterReport, LimitsReport};
pub use read::read;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// The GPU when there is one that meets the requirements, else the CPU.
    #[default]
    Auto,
    Cpu,
    Wgpu,
}

impl std::str::FromStr for BackendChoice {
    type Err = LabError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "wgpu" | "webgpu" | "gpu" => Ok(Self::Wgpu),
            other => Err(LabError::Config(format!(
                "unknown backend '{other}': expected auto, cpu or wgpu"
            ))),
        }
    }
}

/// What a backend ended up running on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Cpu,
    Wgpu,
}

/// The GPU limits below which a lab does not start on that adapter.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Requirements {
    pub storage_binding_bytes: u64,
    pub storage_buffers_per_stage: u32,
    pub workgroup_invocations: u32,
}

impl Default for Requirements {
    /// WebGPU's own defaults: every conforming adapter offers at least these.
    fn default() -> Self {
        Self {
            storage_binding_bytes: 128 << 20,
            storage_buffers_per_stage: 8,
            workgroup_invocations: 256,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceReport {
    pub backend: BackendKind,
    pub description: String,
    pub adapter: Option<AdapterReport>,
    /// Why the lab runs on the CPU although the GPU was wanted.
    pub fallback_reason: Option<String>,
}

/// A device ready for tensors, with the report the page and run reports show.
#[derive(Clone)]
pub struct LabDevice {
    pub device: Device,
    pub report: DeviceReport,
}

impl LabDevice {
    pub fn cpu(fallback_reason: Option<String>) -> Self {
        Self {
            device: Device::flex(),
            report: DeviceReport {
                backend: BackendKind::Cpu,
                description: "burn Flex, pure-Rust CPU backend".into(),
                adapter: None,
                fallback_reason,
            },
        }
    }

    /// Acquires the device the user chose. `Auto` falls back to the CPU and says why; an
    /// explicit `Wgpu` that cannot be met is an error.
    pub async fn acquire(choice: BackendChoice, needs: &Requirements) -> Result<Self, LabError> {
        if choice == BackendChoice::Cpu {
            return Ok(Self::cpu(None));
        }
        match gpu::acquire(needs).await {
            Ok(device) => Ok(device),
            Err(error) => Self::without_gpu(choice, error),
        }
    }

    /// What a run gets when the GPU is out of reach: the CPU with the reason when the user
    /// left the choice to the lab, else the error.
    pub fn without_gpu(choice: BackendChoice, error: LabError) -> Result<Self, LabError> {
        match choice {
            BackendChoice::Wgpu => Err(error),
            BackendChoice::Cpu => Ok(Self::cpu(None)),
            BackendChoice::Auto => {
                log::warn!("falling back to the CPU: {error}");
                Ok(Self::cpu(Some(error.to_string())))
            }
        }
    }

    pub fn is_gpu(&self) -> bool {
        self.report.backend == BackendKind::Wgpu
    }

    /// Destroys the GPU device as a driver reset would, so that the handling of a lost
    /// device can be exercised. Does nothing on the CPU.
    pub fn simulate_loss(&self) {
        if self.is_gpu() {
            gpu::destroy();
        }
    }
}
