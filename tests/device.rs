//! The device check against PyTorch, and the same numbers on burn's CPU backend and on wgpu
//! (natively through Vulkan; Mesa's lavapipe where there is no GPU). These tests never skip:
//! without a wgpu adapter they fail.

use superlab::device::{BackendChoice, BackendKind, LabDevice, Requirements};
use superlab::progress::Silent;
use superlab::report::RunStatus;
use superlab::selfcheck::{self, CheckConfig, CheckResult};

/// f32 rounding differs between kernels (fused or not, summation order), never by more.
const TOLERANCE: f32 = 1e-5;

fn check_on(choice: BackendChoice, config: &CheckConfig) -> CheckResult {
    pollster::block_on(async {
        let device = LabDevice::acquire(choice, &Requirements::default())
            .await
            .unwrap_or_else(|error| panic!("no {choice:?} device: {error}"));
        let report = selfcheck::run(&device, config.clone(), &mut Silent)
            .await
            .unwrap();
        assert!(
            matches!(report.status, RunStatus::Completed),
            "{:?}",
            report.status
        );
        report.result.unwrap()
    })
}

fn largest_difference(a: &CheckResult, b: &CheckResult) -> f32 {
    let mut pairs = vec![(&a.losses, &b.losses)];
    for (name, values) in &a.first_gradients {
        pairs.push((values, &b.first_gradients[name]));
    }
    for (name, values) in &a.final_parameters {
        pairs.push((values, &b.final_parameters[name]));
    }
    pairs
        .into_iter()
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

/// `tests/fixtures/device_check.json`: the same MLP, data and Adam steps computed by PyTorch in
/// float32 (`tests/oracle/device_check.py`).
#[derive(serde::Deserialize)]
struct Fixture {
    config: CheckConfig,
    result: CheckResult,
}

#[test]
fn the_cpu_backend_matches_pytorch() {
    let fixture: Fixture =
        serde_json::from_str(include_str!("fixtures/device_check.json")).expect("the fixture");
    let ours = check_on(BackendChoice::Cpu, &fixture.config);
    let difference = largest_difference(&ours, &fixture.result);
    println!("largest difference between burn's CPU backend and PyTorch: {difference:e}");
    assert!(
        difference <= TOLERANCE,
        "burn and PyTorch differ by {difference}"
    );
}

#[test]
fn cpu_and_wgpu_agree_on_forward_backward_and_adam() {
    let config = CheckConfig::default();
    let cpu = check_on(BackendChoice::Cpu, &config);
    let gpu = check_on(BackendChoice::Wgpu, &config);
    let difference = largest_difference(&cpu, &gpu);
    println!("largest difference between CPU and wgpu: {difference:e}");
    assert!(
        difference <= TOLERANCE,
        "CPU and wgpu differ by {difference}"
    );
    assert_eq!(cpu.losses.len(), config.steps);
    assert!(
        cpu.losses.last() < cpu.losses.first(),
        "Adam did not lower the loss: {:?}",
        cpu.losses
    );
}

#[test]
fn the_wgpu_device_reports_its_adapter() {
    let device = pollster::block_on(LabDevice::acquire(
        BackendChoice::Wgpu,
        &Requirements::default(),
    ))
    .expect("a wgpu adapter");
    assert_eq!(device.report.backend, BackendKind::Wgpu);
    let adapter = device.report.adapter.expect("an adapter report");
    assert!(adapter.limits.max_storage_buffer_binding_size >= 128 << 20);
    assert!(!adapter.api.is_empty());
}

#[test]
fn an_adapter_below_the_requirements_falls_back_or_fails_clearly() {
    let needs = Requirements {
        storage_buffers_per_stage: u32::MAX,
        ..Requirements::default()
    };
    let auto = pollster::block_on(LabDevice::acquire(BackendChoice::Auto, &needs)).unwrap();
    assert_eq!(auto.report.backend, BackendKind::Cpu);
    let reason = auto.report.fallback_reason.expect("a fallback reason");
    assert!(
        reason.contains("storage buffers per shader stage"),
        "{reason}"
    );

    let Err(error) = pollster::block_on(LabDevice::acquire(BackendChoice::Wgpu, &needs)) else {
        panic!("an explicit wgpu choice must not fall back");
    };
    assert!(error.to_string().contains("cannot run this lab"), "{error}");
}
