//! A lost GPU device ends a run with a clear message and keeps the finished steps. In its own
//! test binary because losing the device is for the whole process.

use superlab::device::{BackendChoice, LabDevice, Requirements};
use superlab::progress::{Control, Progress, StepEvent};
use superlab::report::RunStatus;
use superlab::selfcheck::{self, CheckConfig};

/// Destroys the device after the first step, as a driver reset in the middle of a run would.
struct LoseAfterFirstStep<'a>(&'a LabDevice);

impl Progress for LoseAfterFirstStep<'_> {
    async fn step(&mut self, event: &StepEvent) -> Control {
        if event.step == 1 {
            self.0.simulate_loss();
        }
        Control::Continue
    }
}

#[test]
fn a_lost_device_fails_the_run_with_a_message_and_keeps_finished_steps() {
    pollster::block_on(async {
        let device = LabDevice::acquire(BackendChoice::Wgpu, &Requirements::default())
            .await
            .expect("a wgpu adapter");
        let config = CheckConfig {
            steps: 5,
            ..CheckConfig::default()
        };
        let report = selfcheck::run(&device, config, &mut LoseAfterFirstStep(&device))
            .await
            .expect("a report even when the device is lost");
        let RunStatus::Failed(message) = &report.status else {
            panic!(
                "the run went on after the device was lost: {:?}",
                report.status
            );
        };
        assert!(message.contains("lost"), "{message}");
        assert_eq!(report.steps.len(), 1);
    });
}
