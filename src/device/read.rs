//! Reading results back to the host, the one way that works in the browser too.

use burn::tensor::Tensor;

use crate::LabError;

/// The tensor's values as f32, row-major, read asynchronously (a synchronous read panics on
/// WebGPU).
pub async fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, LabError> {
    let data = tensor.into_data_async().await?;
    (data.convert::<f32>().try_into_vec::<f32>())
        .map_err(|error| LabError::from_failed_read(&format!("{error:?}")))
}
