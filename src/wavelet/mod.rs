//! The 2-D discrete wavelet transform that WaveletX and CartoonX mask in: Daubechies' db3 on 5
//! levels with zero padding, on burn tensors (two matrix products per level, so it runs and
//! differentiates on every backend).

mod daubechies;
mod operator;
mod transform;

pub use daubechies::Wavelet;
pub use transform::{WaveletConfig, WaveletTransform};
