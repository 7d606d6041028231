//! The browser side: `tests/browser/bench.mjs` run by Node, which times the browser tests' tiny
//! configurations in the page in headless Chromium (WebGPU on SwiftShader where there is no GPU,
//! and the wasm CPU backend) and the same runs through this tool natively on the CPU backend.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use superlab::LabError;

use super::paths;
use super::plan::{Plan, Scale};
use super::timing::Timings;

/// What the script reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrowserRun {
    pub scale: String,
    /// Chromium's `--version`.
    #[serde(default)]
    pub chromium: Option<String>,
    /// Each workload's id and what it runs, in the script's order of ids.
    pub workloads: BTreeMap<String, String>,
    /// The page's backend (`webgpu`, `cpu`), then the workload.
    pub page: BTreeMap<String, BTreeMap<String, Timings>>,
    /// The same runs through the native tool on the CPU backend, one thread.
    pub native_cpu: BTreeMap<String, Timings>,
}

/// Runs the script at the plan's scale; its progress goes to standard error.
pub fn run(plan: &Plan) -> Result<BrowserRun, LabError> {
    let script = paths::browser_script()?;
    let out = plan.work_dir.join("browser.json");
    let scale = match plan.scale {
        Scale::Smoke => "smoke",
        Scale::Quick => "quick",
        Scale::Standard => "standard",
    };
    let tool = std::env::current_exe()
        .map_err(|error| LabError::Execution(format!("cannot find this tool: {error}")))?;
    let status = Command::new("node")
        .arg(&script)
        .args(["--scale", scale, "--out"])
        .arg(&out)
        .env("SUPERLAB_BIN", tool)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|error| {
            LabError::Input(format!(
                "cannot start node ({error}): the page is timed in headless Chromium through \
                 Node; scripts/bench installs both"
            ))
        })?;
    if !status.success() {
        return Err(LabError::Execution(format!(
            "the browser side ({}) failed with {status}; its messages are above (it needs the \
             core built into www/pkg, tests/browser's packages and Chromium, as scripts/bench \
             sets up)",
            script.display()
        )));
    }
    let text = paths::read(&out)?;
    serde_json::from_slice(&text).map_err(|error| {
        LabError::Execution(format!(
            "the browser side wrote no report the lab can read ({error})"
        ))
    })
}
