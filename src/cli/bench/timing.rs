//! Wall-clock timing of repeated work on a device, waiting for the device before each reading
//! so that queued GPU work is counted where it was asked for.

use std::time::Instant;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use superlab::LabError;

/// Every timed call of one workload, in seconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    /// One-off preparation (building filters, loading a model, a first analysis), when the
    /// workload has any.
    #[serde(default)]
    pub setup_seconds: Option<f64>,
    /// Untimed in the summary: the first calls, which compile kernels and allocate.
    #[serde(default)]
    pub warmup_seconds: Vec<f64>,
    pub seconds: Vec<f64>,
}

impl Timings {
    pub fn median(&self) -> Option<f64> {
        median(&self.seconds)
    }
}

pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
    }
}

/// Seconds since `start`, after the device has finished what was queued.
pub fn seconds_since(start: Instant, device: &Device) -> Result<f64, LabError> {
    device.sync()?;
    Ok(start.elapsed().as_secs_f64())
}

/// Runs `work` `warmup` times and then `repetitions` times, timing each call.
pub async fn repeat(
    device: &Device,
    warmup: usize,
    repetitions: usize,
    mut work: impl AsyncFnMut() -> Result<(), LabError>,
) -> Result<Timings, LabError> {
    let mut timings = Timings::default();
    for index in 0..warmup + repetitions {
        let start = Instant::now();
        work().await?;
        let seconds = seconds_since(start, device)?;
        match index < warmup {
            true => timings.warmup_seconds.push(seconds),
            false => timings.seconds.push(seconds),
        }
    }
    Ok(timings)
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
