"""Reference fingerprint of ShearLab's digital 2-D shearlet system, computed by pyShearLab.

`SLgetShearletSystem2D(0, n, n, 4, [1, 1, 2, 2])` with every other argument at its default
(the 9-tap QMF lowpass, `dmaxflat4` directional filter, `full=0`: 49 bands), at 256x256 and
300x300, then `SLsheardec2D` and `SLshearrec2D` on the scikit-image camera photograph.

pyShearLab keeps its filters centred (zero frequency at index floor(n/2)) and wraps its FFTs in
fftshift/ifftshift; that is the same as plain `IFFT2(FFT2(x) * ifftshift(psi))`. The fixture
therefore records every filter and the dual-frame weights after `ifftshift`, in the natural
FFT layout the Rust side uses (zero frequency at index 0); coefficients are in pixel space
and need no shift.

What is recorded per size, all in float64:
- per band: its ShearLab index [cone, scale, shear], the sum and L2 norm of the filter, its
  largest absolute value and its largest absolute imaginary part, and its values at
  `frequency_positions`; these are drawn with a log-uniform radius so that every dyadic scale
  gets samples (uniform draws would almost never land inside the coarse bands);
- the dual-frame weights at the same positions, and their minimum;
- the analysed photograph: per band the coefficients at uniformly drawn `pixel_positions`,
  their L2 norm and largest absolute value; and the largest reconstruction error of
  synthesis after analysis, relative to the largest pixel.

The photograph is `skimage.data.camera()` (512x512, 8-bit grey). For 256x256 it is reduced by
the mean of each 2x2 block, for 300x300 the central 300x300 crop is taken; pixels are divided
by 255. Both are rounded to float32 before use, so the float32 image the Rust side analyses
holds exactly the same numbers.
"""

import contextlib
import json
import sys

import numpy as np
import pyshearlab_mind
import scipy
import skimage
from skimage import data

SCALES = 4
SHEAR_LEVELS = [1, 1, 2, 2]
SIZES = [256, 300]
POSITIONS_PER_SET = 64
# Fixed so that the fixture regenerates bit for bit; the value itself carries no meaning.
POSITION_SEED = 20240601
SIGNIFICANT_DIGITS = 12


def rounded(value):
    """Twelve significant digits keep the fixture small and lie far below every tolerance."""
    return float(f"{float(value):.{SIGNIFICANT_DIGITS}g}")


def rounded_list(values):
    return [rounded(v) for v in np.asarray(values).ravel()]


def frequency_positions(rng, size):
    """[row, col] in natural FFT layout, radius log-uniform in [1, size/2], angle uniform."""
    radius = np.exp(rng.uniform(0.0, np.log(size / 2), POSITIONS_PER_SET))
    angle = rng.uniform(0.0, 2.0 * np.pi, POSITIONS_PER_SET)
    rows = np.round(radius * np.sin(angle)).astype(int) % size
    cols = np.round(radius * np.cos(angle)).astype(int) % size
    return np.stack([rows, cols], axis=1)


def pixel_positions(rng, size):
    return rng.integers(0, size, size=(POSITIONS_PER_SET, 2))


def photo(size):
    """The camera photograph as described in the module docstring, float32-exact float64."""
    camera = data.camera().astype(np.float64)
    if size == 256:
        block_sums = camera.reshape(256, 2, 256, 2).sum(axis=(1, 3))
        image = block_sums / (4.0 * 255.0)
    else:
        start = (camera.shape[0] - size) // 2
        image = camera[start : start + size, start : start + size] / 255.0
    return image.astype(np.float32).astype(np.float64)


def build_system(size):
    # pyShearLab prints its warnings on stdout, which carries the JSON here.
    with contextlib.redirect_stdout(sys.stderr):
        return pyshearlab_mind.SLgetShearletSystem2D(
            0, size, size, SCALES, np.array(SHEAR_LEVELS)
        )


def at(array, positions):
    return array[positions[:, 0], positions[:, 1]]


def filter_fingerprint(system, positions):
    shearlets = np.fft.ifftshift(system["shearlets"], axes=(0, 1))
    bands = []
    for k in range(system["nShearlets"]):
        psi = shearlets[:, :, k]
        bands.append(
            {
                "index": [int(v) for v in system["shearletIdxs"][k]],
                "sum": rounded(psi.real.sum()),
                "l2_norm": rounded(np.linalg.norm(psi)),
                "max_abs": rounded(np.abs(psi).max()),
                "max_abs_imaginary": rounded(np.abs(psi.imag).max()),
                "values": rounded_list(at(psi.real, positions)),
            }
        )
    weights = np.fft.ifftshift(system["dualFrameWeights"])
    dual_weights = {
        "min": rounded(weights.min()),
        "max": rounded(weights.max()),
        "values": rounded_list(at(weights, positions)),
    }
    return bands, dual_weights


def coefficient_fingerprint(system, image, positions):
    with contextlib.redirect_stdout(sys.stderr):
        coeffs = pyshearlab_mind.SLsheardec2D(image, system)
        reconstruction = pyshearlab_mind.SLshearrec2D(coeffs, system)
    bands = []
    for k in range(system["nShearlets"]):
        band = coeffs[:, :, k]
        bands.append(
            {
                "l2_norm": rounded(np.linalg.norm(band)),
                "max_abs": rounded(np.abs(band).max()),
                "values": rounded_list(at(band, positions)),
            }
        )
    error = np.abs(reconstruction - image).max() / np.abs(image).max()
    return bands, rounded(error)


def case(rng, size):
    freq_positions = frequency_positions(rng, size)
    pix_positions = pixel_positions(rng, size)
    system = build_system(size)
    bands, dual_weights = filter_fingerprint(system, freq_positions)
    coefficients, reconstruction_error = coefficient_fingerprint(
        system, photo(size), pix_positions
    )
    return {
        "rows": size,
        "cols": size,
        "frequency_positions": freq_positions.tolist(),
        "pixel_positions": pix_positions.tolist(),
        "bands": bands,
        "dual_weights": dual_weights,
        "coefficients": coefficients,
        "reconstruction_error": reconstruction_error,
    }


def main():
    rng = np.random.default_rng(POSITION_SEED)
    fixture = {
        "produced_by": "tests/oracle/shearlet.py with pyShearLab-MIND 0.0.3, numpy "
        + np.__version__
        + ", scipy "
        + scipy.__version__
        + ", scikit-image "
        + skimage.__version__,
        "scales": SCALES,
        "shear_levels": SHEAR_LEVELS,
        "cases": [case(rng, size) for size in SIZES],
    }
    json.dump(fixture, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
