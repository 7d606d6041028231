//! The wgpu device, acquired once per process (per worker in the browser) and then shared:
//! burn registers its runtime globally and cannot register the same adapter twice.

use super::{BackendKind, DeviceReport, LabDevice, Requirements};
use crate::LabError;
use burn::tensor::Device;
use burn::tensor::wgpu::{WgpuSetup, wgpu};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct AdapterReport {
    pub name: String,
    pub vendor: String,
    pub architecture: String,
    pub device_type: String,
    pub api: String,
    pub driver: String,
    pub is_fallback_adapter: bool,
    pub limits: LimitsReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct LimitsReport {
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_workgroups_per_dimension: u32,
}

impl AdapterReport {
    fn new(setup: &WgpuSetup) -> Self {
        let info = setup.adapter.get_info();
        let limits = setup.device.limits();
        Self {
            name: info.name.clone(),
            vendor: match info.vendor {
                0 => String::new(),
                id => format!("{id:#06x}"),
            },
            architecture: String::new(),
            device_type: format!("{:?}", info.device_type),
            api: format!("{:?}", info.backend),
            driver: [info.driver, info.driver_info]
                .into_iter()
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            is_fallback_adapter: info.device_type == wgpu::DeviceType::Cpu,
            limits: LimitsReport {
                max_buffer_size: limits.max_buffer_size,
                max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
                max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
                max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
                max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
                max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            },
        }
    }

    /// The first limit that falls short of what the lab needs, in words.
    fn shortfall(&self, needs: &Requirements) -> Option<String> {
        let limits = &self.limits;
        if limits.max_storage_buffer_binding_size < needs.storage_binding_bytes {
            return Some(format!(
                "storage buffers of at most {} MiB, {} MiB needed",
                limits.max_storage_buffer_binding_size >> 20,
                needs.storage_binding_bytes >> 20
            ));
        }
        if limits.max_storage_buffers_per_shader_stage < needs.storage_buffers_per_stage {
            return Some(format!(
                "{} storage buffers per shader stage, {} needed",
                limits.max_storage_buffers_per_shader_stage, needs.storage_buffers_per_stage
            ));
        }
        if limits.max_compute_invocations_per_workgroup < needs.workgroup_invocations {
            return Some(format!(
                "{} invocations per workgroup, {} needed",
                limits.max_compute_invocations_per_workgroup, needs.workgroup_invocations
            ));
        }
        None
    }
}

#[derive(Clone)]
struct Gpu {
    device: Device,
    setup: WgpuSetup,
}

pub(super) async fn acquire(needs: &Requirements) -> Result<LabDevice, LabError> {
    let gpu = shared().await?;
    let adapter = AdapterReport::new(&gpu.setup);
    if let Some(shortfall) = adapter.shortfall(needs) {
        return Err(LabError::AdapterTooSmall(format!(
            "{}: {shortfall}",
            adapter.name
        )));
    }
    Ok(LabDevice {
        device: gpu.device,
        report: DeviceReport {
            backend: BackendKind::Wgpu,
            description: adapter.name.clone(),
            adapter: Some(adapter),
            fallback_reason: None,
        },
    })
}

pub(super) fn destroy() {
    if let Some(gpu) = cached() {
        gpu.setup.device.destroy();
        // wgpu reports the loss on its next maintenance pass; poll now so the runtime knows
        // before the next command, as it would after a real loss. Browsers report it from
        // their event loop, and the poll does nothing there.
        let _ = gpu.setup.device.poll(wgpu::PollType::Poll);
    }
}

fn describe(error: impl std::fmt::Display) -> LabError {
    LabError::NoAdapter(error.to_string())
}

#[cfg(not(target_arch = "wasm32"))]
mod cache {
    use super::*;
    use std::sync::OnceLock;

    static GPU: OnceLock<Result<Gpu, String>> = OnceLock::new();

    pub(super) async fn shared() -> Result<Gpu, LabError> {
        GPU.get_or_init(|| {
            Device::wgpu_options()
                .init_with_setup()
                .map(|(device, setup)| Gpu { device, setup })
                .map_err(|error| error.to_string())
        })
        .clone()
        .map_err(describe)
    }

    pub(super) fn cached() -> Option<Gpu> {
        GPU.get().and_then(|gpu| gpu.clone().ok())
    }
}

#[cfg(target_arch = "wasm32")]
mod cache {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        static GPU: RefCell<Option<Result<Gpu, String>>> = const { RefCell::new(None) };
    }

    pub(super) async fn shared() -> Result<Gpu, LabError> {
        if let Some(gpu) = GPU.with_borrow(Clone::clone) {
            return gpu.map_err(describe);
        }
        let gpu = Device::wgpu_options()
            .init_with_setup_async()
            .await
            .map(|(device, setup)| Gpu { device, setup })
            .map_err(|error| error.to_string());
        GPU.set(Some(gpu.clone()));
        gpu.map_err(describe)
    }

    pub(super) fn cached() -> Option<Gpu> {
        GPU.with_borrow(|gpu| gpu.clone().and_then(Result::ok))
    }
}

use cache::{cached, shared};
