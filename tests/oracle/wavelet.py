"""Reference 2-D discrete wavelet transform (db3, 5 levels, zero padding) of real photographs,
computed by PyWavelets in float64, with ptwt and pytorch_wavelets checked against it.

`pywt.wavedec2(channel, "db3", mode="zero", level=5)` on each colour channel of two photographs
from the lab's asset cache (scikit-image's): `astronaut.png` reduced to 256x256 by the mean of
each 2x2 block (bands 130, 67, 36, 20, 12), and an odd-sized crop of `chelsea.png`
(123x237 pixels, rows 50.. and columns 100..). Pixels are divided by 255 and rounded to float32,
so the float32 image the lab analyses holds exactly these numbers.

The coefficient vector is laid out as the lab lays it out: level 1 (finest) horizontal,
vertical, diagonal (PyWavelets' cH, cV, cD), then level 2, ..., then the last approximation;
each band row-major. Recorded per case, all float64:
- per band: its shape, and per channel its L2 norm, largest absolute value and the values at
  fixed positions;
- the largest reconstruction error of `waverec2` after `wavedec2` (rounding only);
- synthesis of masked coefficients: `waverec2(mask * coefficients)` with a mask drawn by
  `named_uniform(SEED, "mask", ...)` in [0, 1] (one vector per channel), its norm and values
  at fixed pixels;
- gradients by central finite differences, at fixed positions, of
  `L_a(x) = sum(w * wavedec2(x)^2)` with respect to pixels and of
  `L_s(c) = sum(v * waverec2(c)^2)` with respect to coefficients (at the photo's
  coefficients), `w` and `v` drawn by `named_uniform` ("analysis_weights",
  "synthesis_weights") in [-1, 1]. Both losses are quadratic, so central differences are
  exact but for rounding (about 1e-13 relative with the step used);
- the largest differences of `ptwt.wavedec2` (float64) and of pytorch_wavelets' `DWTForward`
  (float32 taps, float64 data) from PyWavelets, relative to each band's largest value: they
  show the three libraries compute the same transform.
"""

import json
import sys
from importlib.metadata import version

import numpy as np
import ptwt
import pywt
import skimage.io
import torch
from pytorch_wavelets import DWTForward

from _common import cache_dir, named_uniform

WAVELET, LEVELS, MODE = "db3", 5, "zero"
SEED = 31
POSITIONS_PER_BAND = 8
GRADIENT_POSITIONS = 24
# Fixed so that the fixture regenerates bit for bit; the value itself carries no meaning.
POSITION_SEED = 20240917
FINITE_DIFFERENCE_STEP = 1e-2
SIGNIFICANT_DIGITS = 13


def rounded(value):
    return float(f"{float(value):.{SIGNIFICANT_DIGITS}g}")


def rounded_list(values):
    return [rounded(v) for v in np.asarray(values).ravel()]


def photo(name):
    """`[channels, height, width]`, float32-exact float64, as the module docstring says."""
    pixels = skimage.io.imread(cache_dir() / "assets" / "photos" / name).astype(np.float64)
    if name == "astronaut.png":
        image = pixels.reshape(256, 2, 256, 2, 3).sum(axis=(1, 3)) / (4.0 * 255.0)
    else:
        image = pixels[50:173, 100:337] / 255.0
    return image.transpose(2, 0, 1).astype(np.float32).astype(np.float64)


def bands_of(coefficients):
    """PyWavelets' [cA_J, (cH_J, cV_J, cD_J), ..., (cH_1, cV_1, cD_1)] in the lab's order."""
    details = [band for level in reversed(coefficients[1:]) for band in level]
    return details + [coefficients[0]]


def from_bands(bands):
    details = bands[:-1]
    levels = [tuple(details[3 * j : 3 * j + 3]) for j in range(len(details) // 3)]
    return [bands[-1]] + list(reversed(levels))


def analyse(image):
    """`[channels, coefficients]` flat, and the band shapes."""
    per_channel = [bands_of(pywt.wavedec2(c, WAVELET, mode=MODE, level=LEVELS)) for c in image]
    shapes = [band.shape for band in per_channel[0]]
    flat = np.stack([np.concatenate([band.ravel() for band in bands]) for bands in per_channel])
    return flat, shapes


def synthesise(flat, shapes, image_shape):
    channels = []
    for row in flat:
        bands, start = [], 0
        for shape in shapes:
            size = shape[0] * shape[1]
            bands.append(row[start : start + size].reshape(shape))
            start += size
        channels.append(pywt.waverec2(from_bands(bands), WAVELET, mode=MODE))
    # waverec2 returns one extra row or column where a side is odd at the first level.
    return np.stack(channels)[:, : image_shape[0], : image_shape[1]]


def band_prints(flat, shapes, rng):
    prints, start = [], 0
    for shape in shapes:
        size = shape[0] * shape[1]
        band = flat[:, start : start + size]
        positions = rng.integers(0, size, size=POSITIONS_PER_BAND)
        prints.append(
            {
                "shape": list(shape),
                "l2_norms": rounded_list(np.linalg.norm(band, axis=1)),
                "max_abs": rounded_list(np.abs(band).max(axis=1)),
                "positions": positions.tolist(),
                "values": [rounded_list(band[c, positions]) for c in range(band.shape[0])],
            }
        )
        start += size
    return prints


def central_difference(loss, point, index):
    step = np.zeros_like(point)
    step[index] = FINITE_DIFFERENCE_STEP
    return (loss(point + step) - loss(point - step)) / (2.0 * FINITE_DIFFERENCE_STEP)


def gradients(image, flat, shapes, rng):
    channels, height, width = image.shape
    count = flat.shape[1]
    w = named_uniform(SEED, "analysis_weights", [channels, count], 1.0).astype(np.float64)
    v = named_uniform(SEED, "synthesis_weights", [channels, height, width], 1.0).astype(np.float64)

    def analysis_loss(x):
        return float((w * analyse(x)[0] ** 2).sum())

    def synthesis_loss(c):
        return float((v * synthesise(c, shapes, (height, width)) ** 2).sum())

    pixels = [
        (int(c), int(r), int(q))
        for c, r, q in zip(
            rng.integers(0, channels, GRADIENT_POSITIONS),
            rng.integers(0, height, GRADIENT_POSITIONS),
            rng.integers(0, width, GRADIENT_POSITIONS),
        )
    ]
    coefficients = [
        (int(c), int(k))
        for c, k in zip(
            rng.integers(0, channels, GRADIENT_POSITIONS), rng.integers(0, count, GRADIENT_POSITIONS)
        )
    ]
    return {
        "analysis_loss": rounded(analysis_loss(image)),
        "analysis_positions": [list(p) for p in pixels],
        "analysis_gradient": [rounded(central_difference(analysis_loss, image, p)) for p in pixels],
        "synthesis_loss": rounded(synthesis_loss(flat)),
        "synthesis_positions": [list(p) for p in coefficients],
        "synthesis_gradient": [
            rounded(central_difference(synthesis_loss, flat, p)) for p in coefficients
        ],
    }


def agreement(image, flat, shapes):
    """Largest difference of ptwt and pytorch_wavelets from PyWavelets, relative per band."""
    x = torch.from_numpy(image)[:, None]
    ours = bands_of(ptwt.wavedec2(x, WAVELET, mode=MODE, level=LEVELS))
    yl, yh = DWTForward(J=LEVELS, wave=WAVELET, mode=MODE).double()(x)
    theirs = [yh[j][:, 0, b] for j in range(LEVELS) for b in range(3)] + [yl[:, 0]]
    ptwt_error = dwt_error = 0.0
    start = 0
    for k, shape in enumerate(shapes):
        size = shape[0] * shape[1]
        reference = flat[:, start : start + size].reshape(-1, *shape)
        scale = np.abs(reference).max()
        ptwt_error = max(ptwt_error, np.abs(ours[k].reshape(reference.shape).numpy() - reference).max() / scale)
        dwt_error = max(dwt_error, np.abs(theirs[k].numpy() - reference).max() / scale)
        start += size
    return rounded(ptwt_error), rounded(dwt_error)


def case(name, rng):
    image = photo(name)
    channels, height, width = image.shape
    flat, shapes = analyse(image)
    reconstruction = synthesise(flat, shapes, (height, width))
    mask = named_uniform(SEED, f"mask.{name}", list(flat.shape), 0.5, 0.5).astype(np.float64)
    masked = synthesise(mask * flat, shapes, (height, width))
    pixels = rng.integers(0, height * width, size=64)
    ptwt_error, dwt_error = agreement(image, flat, shapes)
    return {
        "photo": name,
        "size": [height, width],
        "channels": channels,
        "coefficient_count": int(flat.shape[1]),
        "bands": band_prints(flat, shapes, rng),
        "reconstruction_error": rounded(np.abs(reconstruction - image).max()),
        "masked_synthesis": {
            "mask_name": f"mask.{name}",
            "l2_norms": rounded_list(np.linalg.norm(masked.reshape(channels, -1), axis=1)),
            "positions": pixels.tolist(),
            "values": [rounded_list(masked[c].ravel()[pixels]) for c in range(channels)],
        },
        "gradients": gradients(image, flat, shapes, rng),
        "ptwt_relative_difference": ptwt_error,
        "pytorch_wavelets_relative_difference": dwt_error,
    }


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(POSITION_SEED)
    fixture = {
        "produced_by": "tests/oracle/wavelet.py with "
        + ", ".join(f"{p} {version(p)}" for p in ["PyWavelets", "ptwt", "pytorch-wavelets", "numpy"]),
        "wavelet": WAVELET,
        "levels": LEVELS,
        "seed": SEED,
        "cases": [case(name, rng) for name in ["astronaut.png", "chelsea.png"]],
    }
    json.dump(fixture, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
