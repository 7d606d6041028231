//! The shearlet transform on tensors (any device, differentiable), as a [`Representation`].
//!
//! Analysis is `c_k = IFFT2(FFT2(x) psi_k)` and synthesis `x = IFFT2(sum_k FFT2(c_k) psi_k / W)`,
//! the same as the CPU reference in `cpu`, computed in f32 on half spectra (see `spectrum`):
//! the filters are real and even, so the coefficients are real and every transform can be a
//! real FFT along the columns and a complex one along the rows.
//!
//! On burn's CPU backend without autodiff, both run on the host instead (see `host`), with
//! faster FFTs than burn's; under autodiff and on wgpu they run as burn's tensor operations.
//!
//! burn's FFTs take power-of-two lengths only, so this transform serves 256x256 and 512x512
//! images (ShearLab's system needs at least 250 pixels); ShearletX resizes images to 256x256.
//! Other sizes are refused rather than padded, which would change the system.

use std::ops::Range;
use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};

use super::host::HostTransform;
use super::spectrum::{FoldedRows, HalfSpectrum};
use super::{BandInfo, ShearletSystem};
use crate::LabError;
use crate::explain::Representation;

/// Half spectra larger than this are split into groups of images, so that no intermediate
/// tensor of a transform comes near WebGPU's default limit of 128 MiB per binding.
const GROUP_BYTES: usize = 64 << 20;

/// ShearLab's shearlet system on a device: filters and dual-frame weights as f32 tensors.
#[derive(Clone, Debug)]
pub struct ShearletTransform {
    size: usize,
    bands: Vec<Range<usize>>,
    /// What each band is, in the order of `bands`.
    band_info: Vec<BandInfo>,
    /// `psi_k` over the half spectrum, `[1, bands, size, size / 2 + 1]`.
    filters: Tensor<4>,
    /// `psi_k / W`, the canonical dual frame, at rows `0..=size/2` and at rows `size - u` for
    /// `u` in `0..=size/2` (see `FoldedRows`): `[1, bands, size / 2 + 1, size / 2 + 1]` each.
    dual_low: Tensor<4>,
    dual_mirror: Tensor<4>,
    /// The same transform on the host, when `device` is burn's CPU backend.
    host: Option<Arc<HostTransform>>,
}

impl ShearletTransform {
    /// ShearletX's system (4 scales, 49 bands) for `size x size` images, on `device`.
    pub fn shearletx(size: usize, device: &Device) -> Result<Self, LabError> {
        check_size(size, size)?;
        Self::new(&ShearletSystem::shearletx(size)?, device)
    }

    /// Moves `system` onto `device`. Its side must be a power of two.
    pub fn new(system: &ShearletSystem, device: &Device) -> Result<Self, LabError> {
        check_size(system.rows, system.cols)?;
        let size = system.rows;
        let half = size / 2 + 1;
        let band_count = system.band_count();
        let plane = size * size;
        let dual = |band: usize, u: usize, v: usize| {
            let at = u * size + v;
            (system.filter(band)[at] / system.dual_weights[at]) as f32
        };
        let mut filters = Vec::with_capacity(band_count * size * half);
        let mut dual_low = Vec::with_capacity(band_count * half * half);
        let mut dual_mirror = Vec::with_capacity(band_count * half * half);
        for band in 0..band_count {
            for u in 0..size {
                filters.extend((0..half).map(|v| system.filter(band)[u * size + v] as f32));
            }
            for u in 0..half {
                dual_low.extend((0..half).map(|v| dual(band, u, v)));
                dual_mirror.extend((0..half).map(|v| dual(band, (size - u) % size, v)));
            }
        }
        let tensor = |values, rows| {
            Tensor::from_data(TensorData::new(values, [1, band_count, rows, half]), device)
        };
        Ok(Self {
            size,
            bands: (0..band_count)
                .map(|k| k * plane..(k + 1) * plane)
                .collect(),
            band_info: system.bands.clone(),
            filters: tensor(filters, size),
            dual_low: tensor(dual_low, half),
            dual_mirror: tensor(dual_mirror, half),
            host: (*device == Device::flex()).then(|| Arc::new(HostTransform::new(system))),
        })
    }

    pub fn band_count(&self) -> usize {
        self.bands.len()
    }

    /// The cone, scale and shear of each band, in the order of [`Representation::bands`].
    pub fn band_info(&self) -> &[BandInfo] {
        &self.band_info
    }

    /// The host transform, when `tensor` lives on burn's CPU backend and cannot need a
    /// gradient (autodiff devices take the tensor operations).
    fn host_for<const D: usize>(&self, tensor: &Tensor<D>) -> Option<&HostTransform> {
        let device = tensor.device();
        let on_cpu = device == Device::flex() && !device.is_autodiff();
        self.host.as_deref().filter(|_| on_cpu)
    }

    /// How many images one pass of a transform may take: its half spectra over all bands stay
    /// under `GROUP_BYTES` (real and imaginary parts, f32).
    fn images_per_group(&self) -> usize {
        let per_image = self.band_count() * self.size * (self.size / 2 + 1) * 2 * 4;
        (GROUP_BYTES / per_image).max(1)
    }

    /// Shapes: `images` is `[count, 1, size, size]`; the result `[count, bands, size, size]`.
    fn analyse_group(&self, images: Tensor<4>) -> Tensor<4> {
        HalfSpectrum::of(images)
            .times(self.filters.clone())
            .into_images(self.size)
    }

    /// Shapes: `coefficients` is `[count, bands, size, size]`; the result `[count, 1, size,
    /// size]`.
    fn synthesise_group(&self, coefficients: Tensor<4>) -> Tensor<4> {
        FoldedRows::of_images(coefficients)
            .filtered_sum(&self.dual_low, &self.dual_mirror)
            .unfold()
            .into_images(self.size)
    }

    /// `transform` applied to groups of `per_group` along the first dimension, concatenated.
    fn in_groups(&self, input: Tensor<4>, transform: impl Fn(Tensor<4>) -> Tensor<4>) -> Tensor<4> {
        let count = input.dims()[0];
        let per_group = self.images_per_group();
        if count <= per_group {
            return transform(input);
        }
        let groups = (0..count)
            .step_by(per_group)
            .map(|start| transform(input.clone().narrow(0, start, per_group.min(count - start))))
            .collect();
        Tensor::cat(groups, 0)
    }
}

impl Representation for ShearletTransform {
    fn name(&self) -> &'static str {
        "shearlet"
    }

    fn image_size(&self) -> [usize; 2] {
        [self.size, self.size]
    }

    fn bands(&self) -> &[Range<usize>] {
        &self.bands
    }

    /// Shapes: `images` is `[batch, channels, size, size]`; the result is `[batch, channels,
    /// bands * size * size]`, band-major within each channel.
    fn analyse(&self, images: Tensor<4>) -> Tensor<3> {
        let [batch, channels, rows, cols] = images.dims();
        assert_eq!([rows, cols], self.image_size(), "images of the wrong size");
        if let Some(host) = self.host_for(&images) {
            let device = images.device();
            let coefficients = host.analyse(&to_host(images));
            let shape = [batch, channels, self.coefficient_count()];
            return Tensor::from_data(TensorData::new(coefficients, shape), &device);
        }
        let planes = images.reshape([batch * channels, 1, rows, cols]);
        let coefficients = self.in_groups(planes, |group| self.analyse_group(group));
        coefficients.reshape([batch, channels, self.coefficient_count()])
    }

    /// Shapes: `coefficients` is `[batch, channels, bands * size * size]`; the result is
    /// `[batch, channels, size, size]`.
    fn synthesise(&self, coefficients: Tensor<3>) -> Tensor<4> {
        let [batch, channels, count] = coefficients.dims();
        assert_eq!(
            count,
            self.coefficient_count(),
            "coefficients of the wrong size"
        );
        let (size, bands) = (self.size, self.band_count());
        if let Some(host) = self.host_for(&coefficients) {
            let device = coefficients.device();
            let images = host.synthesise(&to_host(coefficients));
            return Tensor::from_data(
                TensorData::new(images, [batch, channels, size, size]),
                &device,
            );
        }
        let planes = coefficients.reshape([batch * channels, bands, size, size]);
        let images = self.in_groups(planes, |group| self.synthesise_group(group));
        images.reshape([batch, channels, size, size])
    }

    /// On the CPU backend without autodiff, through the host transform.
    fn has_adjoint_on(&self, device: &Device) -> bool {
        self.host.is_some() && *device == Device::flex() && !device.is_autodiff()
    }

    fn synthesis_adjoint(&self, images: Tensor<4>) -> Option<Tensor<3>> {
        let [batch, channels, rows, cols] = images.dims();
        assert_eq!([rows, cols], self.image_size(), "images of the wrong size");
        let host = self.host_for(&images)?;
        let device = images.device();
        let coefficients = host.synthesis_adjoint(&to_host(images));
        let shape = [batch, channels, self.coefficient_count()];
        Some(Tensor::from_data(
            TensorData::new(coefficients, shape),
            &device,
        ))
    }
}

/// The values of a CPU tensor, as f32.
fn to_host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .expect("f32 values after conversion")
}

/// burn's FFTs need power-of-two sides; say so, and what to do, for any other size.
fn check_size(rows: usize, cols: usize) -> Result<(), LabError> {
    if rows == cols && rows.is_power_of_two() {
        return Ok(());
    }
    Err(LabError::Config(format!(
        "the shearlet transform on tensors needs square images with a power-of-two side \
         (256x256 or 512x512), because its FFTs do; got {rows}x{cols}. Resize the image to \
         256x256 first, as ShearletX does."
    )))
}
