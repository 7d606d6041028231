//! The separable 2-D transform on burn tensors, as a [`Representation`].

use std::ops::Range;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::Wavelet;
use super::operator::{analysis_matrix, half_length, transpose};
use crate::LabError;
use crate::explain::Representation;

/// More levels than this leave nothing but boundary coefficients at any image size a
/// classifier takes (a level never shrinks a side below the filter length).
const MAX_LEVELS: usize = 12;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WaveletConfig {
    pub wavelet: Wavelet,
    /// Decomposition levels (`J`).
    pub levels: usize,
}

impl Default for WaveletConfig {
    /// WaveletX's choice: db3 on 5 levels. Padding is always zero padding.
    fn default() -> Self {
        Self {
            wavelet: Wavelet::Db3,
            levels: 5,
        }
    }
}

/// One level of the transform: the 1-D analysis matrices along the image's height and
/// width, in both orientations that the products need.
#[derive(Debug, Clone)]
struct Level {
    /// The side lengths this level analyses.
    input: [usize; 2],
    /// The side lengths of each of its four blocks.
    output: [usize; 2],
    /// `[2 m_rows, n_rows]`, applied from the left.
    rows: Tensor<2>,
    /// Its transpose, `[n_rows, 2 m_rows]`.
    rows_transposed: Tensor<2>,
    /// `[2 m_cols, n_cols]`, applied transposed from the right.
    cols: Tensor<2>,
    /// `[n_cols, 2 m_cols]`.
    cols_transposed: Tensor<2>,
}

/// The 2-D discrete wavelet transform with zero padding, as PyWavelets'
/// `wavedec2(x, wavelet, mode="zero", level=J)`, `ptwt.wavedec2(..., mode="zero")` and
/// pytorch_wavelets' `DWTForward(J, wave, mode="zero")` compute it.
///
/// Each level splits the current approximation into four blocks by filtering along the
/// height, then along the width: the approximation (lowpass both ways) and three detail
/// bands, named as PyWavelets names them: horizontal (highpass along the height), vertical
/// (highpass along the width) and diagonal. The coefficient vector holds level 1 (the finest)
/// horizontal, vertical, diagonal, then level 2, and so on, and the last approximation at the
/// end; each band row-major. At 256x256 with db3 the bands are 130, 67, 36, 20 and 12 wide.
///
/// The transform is an isometry onto its range (`A^T A = I`) and its synthesis is the
/// transpose, so that `synthesise(analyse(x)) = x` and masked coefficients reconstruct as
/// PyWavelets' `waverec2` does.
#[derive(Debug, Clone)]
pub struct WaveletTransform {
    config: WaveletConfig,
    image_size: [usize; 2],
    levels: Vec<Level>,
    bands: Vec<Range<usize>>,
}

impl WaveletTransform {
    /// Builds the transform for `[height, width]` images on `device`.
    pub fn new(
        config: &WaveletConfig,
        image_size: [usize; 2],
        device: &Device,
    ) -> Result<Self, LabError> {
        if config.levels == 0 || config.levels > MAX_LEVELS {
            return Err(LabError::Config(format!(
                "the wavelet transform takes 1 to {MAX_LEVELS} levels, not {}",
                config.levels
            )));
        }
        if image_size.contains(&0) {
            return Err(LabError::Config(format!(
                "an image of {image_size:?} pixels has nothing to transform"
            )));
        }
        let filters = config.wavelet.analysis_filters();
        let taps = filters[0].len();
        let matrix = |values: Vec<f64>, shape: [usize; 2]| {
            let values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
            Tensor::from_data(TensorData::new(values, shape), device)
        };
        let mut levels = Vec::with_capacity(config.levels);
        let mut input = image_size;
        for _ in 0..config.levels {
            let output = input.map(|n| half_length(n, taps));
            let [rows, cols] = [0, 1].map(|axis| analysis_matrix(&filters, input[axis]));
            let row_shape = [2 * output[0], input[0]];
            let col_shape = [2 * output[1], input[1]];
            levels.push(Level {
                input,
                output,
                rows_transposed: matrix(transpose(&rows, row_shape), [input[0], 2 * output[0]]),
                rows: matrix(rows, row_shape),
                cols_transposed: matrix(transpose(&cols, col_shape), [input[1], 2 * output[1]]),
                cols: matrix(cols, col_shape),
            });
            input = output;
        }
        let bands = band_ranges(&levels);
        Ok(Self {
            config: config.clone(),
            image_size,
            levels,
            bands,
        })
    }

    pub fn config(&self) -> &WaveletConfig {
        &self.config
    }

    /// The `[rows, cols]` of each band, in the order of [`Representation::bands`].
    pub fn band_shapes(&self) -> Vec<[usize; 2]> {
        let details = self.levels.iter().flat_map(|level| [level.output; 3]);
        let lowpass = self.levels.last().map(|level| level.output);
        details.chain(lowpass).collect()
    }

    fn check_images(&self, [height, width]: [usize; 2]) {
        assert_eq!(
            [height, width],
            self.image_size,
            "the wavelet transform was built for {:?} images",
            self.image_size
        );
    }
}

/// Three detail bands per level, finest first, then the last approximation.
fn band_ranges(levels: &[Level]) -> Vec<Range<usize>> {
    let sizes = levels
        .iter()
        .flat_map(|level| [level.output[0] * level.output[1]; 3])
        .chain(levels.last().map(|level| level.output[0] * level.output[1]));
    let mut start = 0;
    sizes
        .map(|size| {
            start += size;
            start - size..start
        })
        .collect()
}

/// Where each detail block sits in a level's `[2 m_rows, 2 m_cols]` block matrix, as
/// (row block, column block): horizontal, vertical, diagonal.
const DETAIL_BLOCKS: [[usize; 2]; 3] = [[1, 0], [0, 1], [1, 1]];

impl Representation for WaveletTransform {
    fn name(&self) -> &'static str {
        "wavelet"
    }

    fn image_size(&self) -> [usize; 2] {
        self.image_size
    }

    fn bands(&self) -> &[Range<usize>] {
        &self.bands
    }

    /// Shapes: `images` is `[batch, channels, height, width]`; per level the block matrix
    /// `rows · approximation · cols^T` is `[batch, channels, 2 m_rows, 2 m_cols]`.
    fn analyse(&self, images: Tensor<4>) -> Tensor<3> {
        let [batch, channels, height, width] = images.dims();
        self.check_images([height, width]);
        let mut bands = Vec::with_capacity(self.bands.len());
        let mut approximation = images;
        for level in &self.levels {
            let [rows, cols] = level.output;
            let blocks = level
                .rows
                .clone()
                .unsqueeze::<4>()
                .matmul(approximation)
                .matmul(level.cols_transposed.clone().unsqueeze());
            let block = |[r, c]: [usize; 2]| {
                blocks.clone().slice([
                    0..batch,
                    0..channels,
                    r * rows..(r + 1) * rows,
                    c * cols..(c + 1) * cols,
                ])
            };
            for position in DETAIL_BLOCKS {
                bands.push(block(position).reshape([batch, channels, rows * cols]));
            }
            approximation = block([0, 0]);
        }
        let [rows, cols] = self.levels.last().expect("at least one level").output;
        bands.push(approximation.reshape([batch, channels, rows * cols]));
        Tensor::cat(bands, 2)
    }

    /// Shapes: `coefficients` is `[batch, channels, coefficients]`; the result
    /// `[batch, channels, height, width]`.
    fn synthesise(&self, coefficients: Tensor<3>) -> Tensor<4> {
        let [batch, channels, count] = coefficients.dims();
        assert_eq!(
            count,
            self.coefficient_count(),
            "the wavelet transform has {} coefficients per channel",
            self.coefficient_count()
        );
        let band = |index: usize, [rows, cols]: [usize; 2]| {
            coefficients
                .clone()
                .slice([0..batch, 0..channels, self.bands[index].clone()])
                .reshape([batch, channels, rows, cols])
        };
        let lowpass = self.bands.len() - 1;
        let mut approximation = band(lowpass, self.levels.last().expect("a level").output);
        for (index, level) in self.levels.iter().enumerate().rev() {
            let [horizontal, vertical, diagonal] =
                [0, 1, 2].map(|detail| band(3 * index + detail, level.output));
            let top = Tensor::cat(vec![approximation, vertical], 3);
            let bottom = Tensor::cat(vec![horizontal, diagonal], 3);
            approximation = level
                .rows_transposed
                .clone()
                .unsqueeze::<4>()
                .matmul(Tensor::cat(vec![top, bottom], 2))
                .matmul(level.cols.clone().unsqueeze());
            debug_assert_eq!(approximation.dims()[2..], level.input);
        }
        approximation
    }
}
