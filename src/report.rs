//! The run report: what a user exports from the page or gets from the command-line tool.
//! Both write the same structure, so a report from either can be compared with the other.

use crate::device::DeviceReport;
use crate::progress::StepEvent;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "message")]
pub enum RunStatus {
    Completed,
    Stopped,
    Failed(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport<C: Serialize, R: Serialize> {
    pub lab: &'static str,
    pub version: &'static str,
    pub config: C,
    pub device: DeviceReport,
    pub status: RunStatus,
    pub elapsed_ms: f64,
    pub steps: Vec<StepEvent>,
    pub result: Option<R>,
}

impl<C: Serialize, R: Serialize> RunReport<C, R> {
    pub fn new(lab: &'static str, config: C, device: DeviceReport) -> Self {
        Self {
            lab,
            version: env!("CARGO_PKG_VERSION"),
            config,
            device,
            status: RunStatus::Completed,
            elapsed_ms: 0.0,
            steps: Vec::new(),
            result: None,
        }
    }
}
