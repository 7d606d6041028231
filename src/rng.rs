//! SplitMix64: a tiny integer generator that yields the same numbers on every target and in
//! NumPy (`tests/oracle/_common.py`), so that weights and data drawn from it are identical in
//! the lab and in a reference implementation, whatever the backend.
//!
//! Its state after `i` draws is `seed + i * GAMMA`, so a reference can compute any stretch of
//! the sequence at once.

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator of its own for each named tensor, so that drawing one tensor does not
    /// depend on which were drawn before it.
    pub fn for_name(seed: u64, name: &str) -> Self {
        Self::new(seed ^ fnv1a64(name.as_bytes()))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in [0, 1) with 24 random bits, exact in f32.
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// `count` values uniform in [-scale, scale], computed as `(2u - 1) * scale` in f32.
    pub fn uniform(&mut self, count: usize, scale: f32) -> Vec<f32> {
        (0..count)
            .map(|_| (2.0 * self.unit_f32() - 1.0) * scale)
            .collect()
    }
}

/// The values of the tensor `name`, as `tests/oracle/_common.py`'s `named_uniform` draws them:
/// `offset + uniform(count, scale)` from the generator of that name.
pub fn named_uniform(seed: u64, name: &str, count: usize, scale: f32, offset: f32) -> Vec<f32> {
    let mut numbers = SplitMix64::for_name(seed, name);
    (0..count)
        .map(|_| (2.0 * numbers.unit_f32() - 1.0) * scale + offset)
        .collect()
}

/// 64-bit FNV-1a, to turn a tensor's name into a seed.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first outputs for seed 0 as published with the generator (Steele, Lea and Flood,
    /// "Fast splittable pseudorandom number generators", 2014; also Vigna's reference C code).
    #[test]
    fn matches_the_published_sequence() {
        let mut numbers = SplitMix64::new(0);
        assert_eq!(numbers.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(numbers.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    /// FNV-1a's published test vectors.
    #[test]
    fn fnv_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xCBF2_9CE4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xAF63_DC4C_8601_EC8C);
    }
}
