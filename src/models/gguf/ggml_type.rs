//! ggml's tensor types: how many values one block holds and how many bytes it takes (for every
//! type a GGUF file may name, so that any file's layout can be checked), and dequantisation to
//! f32 for the types the lab reads.
//!
//! Quantised types store blocks of 32 values along a row: a half-precision scale `d` (and for
//! Q4_1 an offset `m`) followed by small integers `q`. The value is `d * q` (Q8_0), `d * (q - 8)`
//! (Q4_0) or `d * q + m` (Q4_1), each product and sum rounded once in f32, which is how
//! llama.cpp's reference dequantises, so the results are exact and need no tolerance.

use half::{bf16, f16};

/// A ggml tensor type, by its number in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgmlType(u32);

/// (number, name, values per block, bytes per block), as ggml defines them.
const LAYOUTS: [(u32, &str, usize, usize); 34] = [
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 40),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
];

/// Values per block of the quantised types the lab reads.
const QUANT_BLOCK: usize = 32;

impl GgmlType {
    pub const F32: Self = Self(0);
    pub const F16: Self = Self(1);
    pub const Q4_0: Self = Self(2);
    pub const Q4_1: Self = Self(3);
    pub const Q8_0: Self = Self(8);
    pub const BF16: Self = Self(30);

    /// The types that `dequantize` reads.
    pub const READABLE: [Self; 6] = [
        Self::F32,
        Self::F16,
        Self::BF16,
        Self::Q4_0,
        Self::Q4_1,
        Self::Q8_0,
    ];

    /// The type numbered `id`, if ggml defines it.
    pub fn from_id(id: u32) -> Option<Self> {
        LAYOUTS
            .iter()
            .any(|layout| layout.0 == id)
            .then_some(Self(id))
    }

    pub fn id(self) -> u32 {
        self.0
    }

    fn layout(self) -> (u32, &'static str, usize, usize) {
        *LAYOUTS
            .iter()
            .find(|layout| layout.0 == self.0)
            .expect("constructed from the table")
    }

    pub fn name(self) -> &'static str {
        self.layout().1
    }

    /// How many values one block holds; a row's length must be a multiple of it.
    pub fn block_len(self) -> usize {
        self.layout().2
    }

    pub fn block_bytes(self) -> usize {
        self.layout().3
    }

    /// The bytes of a row of `values` values, which must be whole blocks (and fit in memory).
    pub fn row_bytes(self, values: usize) -> Option<usize> {
        let blocks = values
            .is_multiple_of(self.block_len())
            .then(|| values / self.block_len())?;
        blocks.checked_mul(self.block_bytes())
    }

    pub fn is_readable(self) -> bool {
        Self::READABLE.contains(&self)
    }

    /// The values of `raw` (whole blocks of this type) as f32, in storage order; `None` for a
    /// type the lab does not read.
    pub fn dequantize(self, raw: &[u8]) -> Option<Vec<f32>> {
        debug_assert!(raw.len().is_multiple_of(self.block_bytes()));
        let values = match self {
            Self::F32 => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Self::F16 => raw
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Self::BF16 => raw
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Self::Q4_0 => blocks(raw, self, |block, out| {
                let d = half_at(block, 0);
                for (j, &byte) in block[2..].iter().enumerate() {
                    out[j] = d * f32::from(i16::from(byte & 0x0F) - 8);
                    out[j + QUANT_BLOCK / 2] = d * f32::from(i16::from(byte >> 4) - 8);
                }
            }),
            Self::Q4_1 => blocks(raw, self, |block, out| {
                let (d, m) = (half_at(block, 0), half_at(block, 2));
                for (j, &byte) in block[4..].iter().enumerate() {
                    out[j] = d * f32::from(byte & 0x0F) + m;
                    out[j + QUANT_BLOCK / 2] = d * f32::from(byte >> 4) + m;
                }
            }),
            Self::Q8_0 => blocks(raw, self, |block, out| {
                let d = half_at(block, 0);
                for (value, &q) in out.iter_mut().zip(&block[2..]) {
                    *value = d * f32::from(q as i8);
                }
            }),
            _ => return None,
        };
        Some(values)
    }
}

/// The f16 at `offset`, widened.
fn half_at(block: &[u8], offset: usize) -> f32 {
    f16::from_le_bytes([block[offset], block[offset + 1]]).to_f32()
}

/// Dequantises block by block: `fill` writes the 32 values of one block.
fn blocks(raw: &[u8], kind: GgmlType, fill: impl Fn(&[u8], &mut [f32])) -> Vec<f32> {
    let mut values = vec![0.0; raw.len() / kind.block_bytes() * QUANT_BLOCK];
    for (block, out) in raw
        .chunks_exact(kind.block_bytes())
        .zip(values.chunks_exact_mut(QUANT_BLOCK))
    {
        fill(block, out);
    }
    values
}
