"""Shared by the oracle scripts (not an oracle itself: regenerate.py skips names starting with
an underscore).

SplitMix64 as `src/rng.rs` computes it, vectorised: the state after `i` draws is
`seed + i * GAMMA`, so NumPy computes a whole tensor's values at once and they equal, bit for
bit, what the lab draws one at a time. Tensors named in a fixture are drawn with
`named_uniform`, one generator per name, so the lab can rebuild any model's weights from the
fixture's list of names, shapes, offsets and scales instead of a weights file.
"""

import os
import pathlib

import numpy as np

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def fnv1a64(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & MASK
    return value


def splitmix_u64(seed: int, count: int, start: int = 0) -> np.ndarray:
    """Draws `start + 1` to `start + count` of the generator seeded with `seed`."""
    with np.errstate(over="ignore"):
        steps = np.arange(start + 1, start + count + 1, dtype=np.uint64)
        z = np.uint64(seed & MASK) + steps * np.uint64(GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform(seed: int, count: int, scale: float, start: int = 0) -> np.ndarray:
    """`count` float32 values uniform in [-scale, scale], computed as the lab does in f32."""
    units = (splitmix_u64(seed, count, start) >> np.uint64(40)).astype(np.float32)
    units /= np.float32(1 << 24)
    return (np.float32(2.0) * units - np.float32(1.0)) * np.float32(scale)


def named_uniform(seed: int, name: str, shape, scale: float, offset: float = 0.0) -> np.ndarray:
    """The values of tensor `name`: `offset + uniform` from the generator `seed ^ fnv(name)`."""
    count = int(np.prod(shape, dtype=np.int64))
    values = uniform(seed ^ fnv1a64(name.encode()), count, scale)
    return (values + np.float32(offset)).reshape(shape)


def cache_dir() -> pathlib.Path:
    """The lab's cache folder, by the same rule as `scripts/lib.sh` and `tests/common`."""
    if os.environ.get("SUPERLAB_CACHE"):
        return pathlib.Path(os.environ["SUPERLAB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "superlab"
