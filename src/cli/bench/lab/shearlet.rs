//! Shearlet analysis and synthesis of one RGB image, back to the image.

use burn::tensor::{Tensor, TensorData};
use superlab::LabError;
use superlab::device::LabDevice;
use superlab::explain::Representation;
use superlab::shearlet::ShearletTransform;

use crate::cli::bench::inputs::Inputs;
use crate::cli::bench::plan::ShearletPlan;
use crate::cli::bench::report::Measured;
use crate::cli::bench::timing::repeat;

pub async fn measure(
    device: &LabDevice,
    workload: &ShearletPlan,
    warmup: usize,
    transform: &ShearletTransform,
    inputs: &Inputs,
) -> Result<Measured, LabError> {
    let (size, channels) = (workload.size, workload.channels);
    let data = TensorData::new(inputs.photo.clone(), [1, channels, size, size]);
    let image = Tensor::<4>::from_data(data, &device.device);
    let timings = repeat(&device.device, warmup, workload.repetitions, async || {
        let coefficients = transform.analyse(image.clone());
        let _restored = transform.synthesise(coefficients);
        Ok(())
    })
    .await?;
    Ok(Measured::new(timings))
}
