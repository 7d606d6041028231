//! The browser boundary: the only module that speaks JavaScript. The worker calls these
//! functions; everything else in the crate is target-independent. The model layer's exports
//! are in [`models`].

mod explain;
mod models;
mod superhf;

use crate::LabError;
use crate::device::{BackendChoice, LabDevice, Requirements};
use crate::progress::{Control, Progress, StepEvent};
use crate::selfcheck::{self, CheckConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

thread_local! {
    static DEVICE: RefCell<Option<LabDevice>> = const { RefCell::new(None) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

impl From<LabError> for JsValue {
    fn from(error: LabError) -> Self {
        JsError::new(&error.to_string()).into()
    }
}

#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        LAST_PANIC.set(Some(info.to_string()));
        console_error_panic_hook::hook(info);
    }));
    // Shader compilation errors reach the console only through `log`.
    let _ = console_log::init_with_level(log::Level::Info);
}

/// The message of the panic that ended this module, if one did. A panic traps the
/// WebAssembly instance, and JavaScript sees only "unreachable"; this says what happened.
#[wasm_bindgen(js_name = lastPanic)]
pub fn last_panic() -> Option<String> {
    LAST_PANIC.with_borrow(Clone::clone)
}

/// Acquires the device for this worker and returns its report. `adapterInfo` is what
/// `GPUAdapter.info` says (vendor, architecture), which wgpu does not pass on in browsers;
/// `null` when the browser offers no adapter, with `noAdapterReason` saying why.
#[wasm_bindgen(js_name = initDevice)]
pub async fn init_device(
    backend: String,
    adapter_info: JsValue,
    no_adapter_reason: String,
) -> Result<JsValue, JsValue> {
    let choice: BackendChoice = backend.parse()?;
    let mut device = if adapter_info.is_null() && choice != BackendChoice::Cpu {
        LabDevice::without_gpu(choice, LabError::NoAdapter(no_adapter_reason))?
    } else {
        LabDevice::acquire(choice, &Requirements::default()).await?
    };
    if let Some(adapter) = device.report.adapter.as_mut() {
        let info: BrowserAdapterInfo = from_js(adapter_info).unwrap_or_default();
        adapter.vendor = info.vendor;
        adapter.architecture = info.architecture;
        if !info.description.is_empty() {
            adapter.name = info.description;
        }
        adapter.is_fallback_adapter |= info.is_fallback_adapter;
    }
    let report = to_js(&device.report)?;
    DEVICE.set(Some(device));
    Ok(report)
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct BrowserAdapterInfo {
    vendor: String,
    architecture: String,
    description: String,
    is_fallback_adapter: bool,
}

/// Runs the device check. `progress(step)` is called after every step and returns a promise
/// of whether to go on.
#[wasm_bindgen(js_name = runCheck)]
pub async fn run_check(config: JsValue, progress: js_sys::Function) -> Result<JsValue, JsValue> {
    let config: CheckConfig = if config.is_undefined() || config.is_null() {
        CheckConfig::default()
    } else {
        from_js(config)?
    };
    let device = current_device()?;
    let report = selfcheck::run(&device, config, &mut JsProgress(progress)).await?;
    Ok(to_js(&report)?)
}

/// Destroys the GPU device, as a driver reset or a lost GPU would.
#[wasm_bindgen(js_name = simulateDeviceLoss)]
pub fn simulate_device_loss() {
    DEVICE.with_borrow(|device| device.iter().for_each(LabDevice::simulate_loss));
}

fn current_device() -> Result<LabDevice, LabError> {
    DEVICE
        .with_borrow(Clone::clone)
        .ok_or_else(|| LabError::Config("no device yet: initialise one first".into()))
}

struct JsProgress(js_sys::Function);

impl Progress for JsProgress {
    async fn step(&mut self, event: &StepEvent) -> Control {
        ask_to_go_on(&self.0, event).await
    }
}

/// Calls the page's progress callback with `event` and awaits its answer: whether to go on.
async fn ask_to_go_on(callback: &js_sys::Function, event: &impl Serialize) -> Control {
    let Ok(event) = to_js(event) else {
        return Control::Continue;
    };
    let answer = match callback.call1(&JsValue::NULL, &event) {
        Ok(answer) if answer.has_type::<js_sys::Promise>() => {
            JsFuture::from(js_sys::Promise::from(answer))
                .await
                .unwrap_or(JsValue::TRUE)
        }
        Ok(answer) => answer,
        Err(_) => JsValue::FALSE,
    };
    if answer.is_falsy() {
        Control::Stop
    } else {
        Control::Continue
    }
}

fn to_js(value: &impl Serialize) -> Result<JsValue, LabError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|error| LabError::Execution(format!("cannot pass a result to the page: {error}")))
}

fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, LabError> {
    serde_wasm_bindgen::from_value(value)
        .map_err(|error| LabError::Config(format!("unreadable settings: {error}")))
}
