//! The PyTorch side: `scripts/bench_reference.py` run by the reference environment's Python
//! on the same plan, its timings read from its standard output.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use superlab::LabError;

use super::paths;
use super::plan::Plan;
use super::report::Measured;

/// What the script reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReferenceRun {
    pub produced_by: String,
    pub versions: BTreeMap<String, String>,
    pub threads: usize,
    /// The vector instructions PyTorch's kernels use here (`AVX2`, `AVX512`).
    pub cpu_capability: String,
    /// `torch.__config__.parallel_info()`: the thread pools and the libraries behind them.
    pub parallel_info: String,
    pub workloads: BTreeMap<String, Measured>,
}

/// Runs the script on `plan` (written next to the inputs), passing its progress through.
pub fn run(python: &Path, plan: &Plan) -> Result<ReferenceRun, LabError> {
    let script = paths::reference_script()?;
    let plan_path = plan.work_dir.join("plan.json");
    let plan_json = serde_json::to_vec_pretty(plan)
        .map_err(|error| LabError::Execution(format!("cannot write the plan: {error}")))?;
    paths::write(&plan_path, &plan_json)?;
    let output = Command::new(python)
        .arg(&script)
        .arg(&plan_path)
        // The model is read from the cache; the hub is never asked.
        .env("HF_HUB_OFFLINE", "1")
        // transformers' GGUF conversion draws progress bars on standard error.
        .env("TQDM_DISABLE", "1")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| LabError::Input(format!("cannot start {}: {error}", python.display())))?;
    if !output.status.success() {
        return Err(LabError::Execution(format!(
            "the PyTorch reference ({}) failed with {}; its messages are above",
            script.display(),
            output.status
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let last = text.lines().rev().find(|line| !line.trim().is_empty());
    serde_json::from_str(last.unwrap_or_default()).map_err(|error| {
        LabError::Execution(format!(
            "the PyTorch reference printed no report the lab can read ({error})"
        ))
    })
}
