//! The lab's side of the benchmark: every planned workload on one backend.

mod classifiers;
mod generation;
mod shearlet;
mod shearletx;
mod superhf;

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use superlab::LabError;
use superlab::device::{DeviceReport, LabDevice};
use superlab::models::classifier::ImageClassifier;
use superlab::models::torch_legacy::TorchCheckpoint;
use superlab::models::vision::Architecture;
use superlab::models::weights::Weights;
use superlab::shearlet::ShearletTransform;

use super::inputs::Inputs;
use super::paths;
use super::plan::{Plan, Scale};
use super::report::Measured;
use super::timing::seconds_since;

/// What one backend measured; a workload that failed keeps its message instead.
#[derive(Debug, Clone, Serialize)]
pub struct BackendRun {
    pub device: DeviceReport,
    /// What a reader must know to read the figures (a software adapter, for one).
    pub note: Option<String>,
    pub workloads: BTreeMap<String, Measured>,
    pub failures: BTreeMap<String, String>,
    /// Workloads left out on this backend, with the reason.
    pub skipped: BTreeMap<String, String>,
}

const GENERATION: &str = "generation_smollm2";
const SUPERHF: &str = "superhf_iteration";

/// On a software adapter a ShearletX step, or sampling a batch of SmolLM2 (over six minutes for
/// 2 x 256 tokens on lavapipe), takes minutes, which no quick run can afford.
const QUICK_SOFTWARE_SKIP: &str = "skipped at the quick scale on a software adapter (minutes per \
                                   ShearletX step or sampled batch); run without --quick to \
                                   measure it";

impl BackendRun {
    fn new(device: &LabDevice) -> Self {
        Self {
            device: device.report.clone(),
            note: software_adapter_note(device),
            workloads: BTreeMap::new(),
            failures: BTreeMap::new(),
            skipped: BTreeMap::new(),
        }
    }

    /// Whether `id` is left out here: the slowest workloads on a software adapter at the
    /// quick scale. Records why.
    fn skips_at(&mut self, scale: Scale, id: &str) -> bool {
        let skip = scale == Scale::Quick && self.note.is_some();
        if skip {
            log::warn!("{id}: {QUICK_SOFTWARE_SKIP}");
            self.skipped.insert(id.into(), QUICK_SOFTWARE_SKIP.into());
        }
        skip
    }

    fn record(&mut self, id: String, outcome: Result<Measured, LabError>) {
        match outcome {
            Ok(measured) => {
                if let Some(median) = measured.timings.median() {
                    log::info!("{id}: median {median:.3} s");
                }
                self.workloads.insert(id, measured);
            }
            Err(error) => {
                log::error!("{id} failed: {error}");
                self.failures.insert(id, error.to_string());
            }
        }
    }
}

/// Runs every workload of `plan` on `device`.
pub async fn run(device: &LabDevice, plan: &Plan, inputs: &Inputs) -> BackendRun {
    let mut run = BackendRun::new(device);
    if let Some(note) = &run.note {
        log::warn!("{note}");
    }
    let size = (plan.shearlet.as_ref().map(|s| s.size)).or(plan.shearletx.as_ref().map(|s| s.size));
    let transform = match size.map(|size| build_transform(size, device)) {
        Some(Err(error)) => {
            run.record("shearlet_system".into(), Err(error));
            None
        }
        Some(Ok(built)) => Some(built),
        None => None,
    };
    if let (Some(workload), Some((transform, setup))) = (&plan.shearlet, &transform) {
        log::info!("lab ({}): shearlet analysis and synthesis", backend(device));
        let outcome = shearlet::measure(device, workload, plan.warmup, transform, inputs).await;
        let outcome = outcome.map(|mut measured| {
            measured.timings.setup_seconds = Some(*setup);
            measured
        });
        run.record("shearlet_transform".into(), outcome);
    }
    if let (Some(workload), Some((transform, _))) = (&plan.shearletx, &transform) {
        for &architecture in &workload.classifiers {
            let id = format!("shearletx_{}", architecture.name());
            if run.skips_at(plan.scale, &id) {
                continue;
            }
            log::info!(
                "lab ({}): ShearletX with {}",
                backend(device),
                architecture.name()
            );
            let outcome = async {
                let classifier = load_classifier(architecture, plan, &device.device)?;
                shearletx::measure(device, workload, transform, &classifier, inputs).await
            };
            run.record(id, outcome.await);
        }
    }
    if let Some(workload) = &plan.classifiers {
        for &architecture in &workload.architectures {
            log::info!(
                "lab ({}): {} forward and backward",
                backend(device),
                architecture.name()
            );
            let outcome = classifiers::measure(device, workload, plan, architecture, inputs).await;
            run.record(format!("classifier_{}", architecture.name()), outcome);
        }
    }
    let generation = plan.generation.as_ref().zip(inputs.gguf.as_ref());
    if let Some((workload, gguf)) = generation.filter(|_| !run.skips_at(plan.scale, GENERATION)) {
        log::info!("lab ({}): SmolLM2-135M sampling", backend(device));
        let outcome = generation::measure(device, workload, plan.warmup, gguf).await;
        run.record(GENERATION.into(), outcome);
    }
    if let Some(workload) = (plan.superhf.as_ref()).filter(|_| !run.skips_at(plan.scale, SUPERHF)) {
        log::info!("lab ({}): SuperHF iterations", backend(device));
        run.record(SUPERHF.into(), superhf::measure(device, workload).await);
    }
    run
}

/// ShearletX's transform on `device`, and how long building it took.
fn build_transform(size: usize, device: &LabDevice) -> Result<(ShearletTransform, f64), LabError> {
    let start = Instant::now();
    let transform = ShearletTransform::shearletx(size, &device.device)?;
    Ok((transform, seconds_since(start, &device.device)?))
}

fn backend(device: &LabDevice) -> &'static str {
    match device.is_gpu() {
        true => "wgpu",
        false => "cpu",
    }
}

/// A software adapter runs the GPU kernels on the CPU: its figures say nothing about a GPU.
fn software_adapter_note(device: &LabDevice) -> Option<String> {
    let adapter = device.report.adapter.as_ref()?;
    let software = adapter.is_fallback_adapter || adapter.name.contains("llvmpipe");
    software.then(|| {
        format!(
            "the wgpu adapter is {} ({}), a software renderer that runs the GPU kernels on \
             this CPU with its own threads: slow, and no measure of a GPU",
            adapter.name, adapter.driver
        )
    })
}

/// The classifier `architecture` on `device`: the packaged EfficientNet-Lite0 checkpoint, or
/// the random weights the PyTorch side wrote into the work folder.
fn load_classifier(
    architecture: Architecture,
    plan: &Plan,
    device: &burn::tensor::Device,
) -> Result<Box<dyn ImageClassifier>, LabError> {
    if architecture == Architecture::EfficientnetLite0 {
        let path = &plan.efficientnet_lite0_checkpoint;
        let checkpoint =
            TorchCheckpoint::from_bytes(&path.display().to_string(), paths::read(path)?)?;
        return architecture.load(&checkpoint, device);
    }
    let path = plan
        .work_dir
        .join(format!("{}.safetensors", architecture.name()));
    let weights = Weights::from_safetensors(&path.display().to_string(), paths::read(&path)?)?;
    architecture.load(&weights, device)
}
