"""Reference edges of CoShREM's complex-shearlet edge detector, computed by PyCoShREM, and
ShearletX's hallucination score computed on them.

Systems: `EdgeSystem(rows, cols, shear_level=L)` with every other argument at its default
(2 scales per octave, 3.5 octaves, alpha 0.8, supports min(rows, cols)/7 and /20): 256x256 at
level 3 (ShearletX's, 70 shearlets), 64x96 at level 4 and 96x64 at level 2 (to cover
non-square sizes and the other orientation layouts). Per shearlet, in the natural FFT layout
(PyCoShREM stores filters fftshifted; this script ifftshifts them): the sum of the real and
imaginary parts, the L2 norm, the largest magnitude, and the values at 8 positions: where the
magnitude peaks, 5 drawn among the frequencies where it exceeds 1% of its peak, 2 drawn
anywhere.

Detection: `detect(grey, min_contrast=3)` on grey levels made as the lab makes them
(`src/explain/hallucination.rs`): images are `[channels, rows, cols]` in [0, 1];
`grey = floor(255 * ((x_0 + x_1 + x_2) / 3))` in float64, in that order (one channel: the
channel itself), optionally wrapped to a signed byte as the ShearletX reference code does.
Edge pixels are those with measure > 0.1. Recorded per detected image: the edge map as bits
(numpy's packbits of the row-major map, first pixel in the top bit, base64), the number of
edge pixels and of pixels with a positive measure, the sum of the measure, and the measure
at 32 positions (24 drawn where it is positive, 8 anywhere). For the photos and synthetic
images also the orientation at every edge pixel, in the edge map's order, as little-endian
float32 (base64).

Orientations: PyCoShREM maps orientation indices to degrees through `np.vectorize`, which
takes its output type from the first pixel: when the top-left pixel has no edge (-1, an
integer) every angle comes back truncated to whole degrees. This script wraps that mapping
to return the same angles unrounded, and asserts that PyCoShREM's own output is exactly
their truncation (`whole_degrees` records which images it truncated).

Photos: scikit-image's `astronaut.png` and `camera.png` (512x512) reduced by summing each
2x2 block (x = block sum / 1020), `coffee.png` (400x600) and `chelsea.png` (300x451) cropped
to their central 256x256 (x = pixel / 255, crop from row (h - 256) // 2 and column
(w - 256) // 2). Files are read from the installed scikit-image; their SHA-256 is recorded,
equal to the digests `scripts/assets.py` checks, so the lab's test reads the same bytes from
its asset cache. Every value is exact in float64 on both sides (integer sums, one division),
and `grey_sum` records the sum of the grey levels so the test can confirm its input.

Explanations of each photo, in [0, 1], each scored against the photo:
- `photo`: the photo itself (score 0);
- `blurred`: every channel's 5x5 box mean, indices clamped at the borders (integer sums
  divided by 25 times the photo's divisor);
- `square`: the photo with rows 40..88, columns 168..216 set to 1 in every channel;
- `masked`: the photo times `max(0, 1 - ((r - 128)^2 + (c - 128)^2) / 6400)`, divided by its
  largest value, as ShearletX's reference scales mask explanations.
The hallucination score is (explanation edge pixels outside the image's edge map dilated by
a 3x3 square, `scipy.ndimage.binary_dilation` with zeros outside) / (image edge pixels).
For astronaut and coffee, `masked` is also scored with the signed-byte grey levels.

Synthetic images for the small systems are formulas of integers (see `synthetic`).
"""

import base64
import hashlib
import json
import pathlib
import sys

import numpy as np
import PIL
import scipy
import skimage
from coshrem.shearletsystem import EdgeSystem
from PIL import Image
from scipy import ndimage

# Fixed so that the fixture regenerates bit for bit; the value itself carries no meaning.
SEED = 20240602
MIN_CONTRAST = 3
THRESHOLD = 0.1
SIGNIFICANT_DIGITS = 15
SYSTEMS = [(256, 256, 3), (64, 96, 4), (96, 64, 2)]
PHOTOS = [
    ("astronaut.png", "blocks"),
    ("camera.png", "blocks"),
    ("coffee.png", "crop"),
    ("chelsea.png", "crop"),
]
WRAPPED = ["astronaut.png", "coffee.png"]
SQUARE = (slice(40, 88), slice(168, 216))
MASK_RADIUS_SQUARED = 6400.0
SIZE = 256


def rounded(value):
    return float(f"{float(value):.{SIGNIFICANT_DIGITS}g}")


def rounded_list(values):
    return [rounded(v) for v in np.asarray(values).ravel()]


def bits(mask):
    return base64.b64encode(np.packbits(mask.ravel()).tobytes()).decode()


def floats32(values):
    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode()


ROUNDING_MAPPING = EdgeSystem._orientations_to_angles
TRUNCATED = []


def unrounded_angles(self, orientations):
    """PyCoShREM's per-pixel mapping with a float output; see the module docstring."""
    mapping = np.vectorize(self._ShearletSystem__single_ori_to_angle, otypes=[np.float64])
    angles = mapping(orientations)
    original = ROUNDING_MAPPING(self, orientations)
    assert np.array_equal(original, angles.astype(original.dtype))
    TRUNCATED.append(bool(np.issubdtype(original.dtype, np.integer)))
    return angles


EdgeSystem._orientations_to_angles = unrounded_angles


def filter_case(rng, rows, cols, level):
    system = EdgeSystem(rows, cols, shear_level=level)
    filters = np.fft.ifftshift(system.shearlets, axes=(0, 1))
    bands = []
    for k in range(system.n_shearlets):
        psi = filters[:, :, k]
        magnitude = np.abs(psi)
        peak = np.unravel_index(np.argmax(magnitude), psi.shape)
        significant = np.argwhere(magnitude > 0.01 * magnitude.max())
        chosen = significant[rng.choice(len(significant), 5, replace=False)]
        anywhere = np.stack([rng.integers(0, rows, 2), rng.integers(0, cols, 2)], axis=1)
        positions = np.concatenate([[peak], chosen, anywhere])
        values = psi[positions[:, 0], positions[:, 1]]
        bands.append(
            {
                "sum_re": rounded(psi.real.sum()),
                "sum_im": rounded(psi.imag.sum()),
                "l2_norm": rounded(np.linalg.norm(psi)),
                "max_abs": rounded(magnitude.max()),
                "positions": positions.tolist(),
                "re": rounded_list(values.real),
                "im": rounded_list(values.imag),
            }
        )
    return {
        "rows": rows,
        "cols": cols,
        "shear_level": level,
        "shearlets": int(system.n_shearlets),
        "bands": bands,
    }


def grey_levels(image, wrapped=False):
    """`image` is [channels, rows, cols]; the lab's summation order, then the optional cast."""
    total = image[0].copy()
    for channel in image[1:]:
        total = total + channel
    grey = np.floor(255.0 * (total / float(len(image))))
    if wrapped:
        grey = np.where(grey > 127.0, grey - 256.0, grey)
    return grey


def detection(system, rng, grey, with_orientation):
    strength, orientation = system.detect(grey, min_contrast=MIN_CONTRAST)
    whole_degrees = TRUNCATED.pop()
    # A flat neighbourhood gives 0/0 in PyCoShREM; no test image has one.
    assert not np.isnan(strength).any()
    edges = strength > THRESHOLD
    positive = np.argwhere(strength > 0)
    rows, cols = grey.shape
    positions = np.concatenate(
        [
            positive[rng.choice(len(positive), 24, replace=False)],
            np.stack([rng.integers(0, rows, 8), rng.integers(0, cols, 8)], axis=1),
        ]
    )
    record = {
        "edges": bits(edges),
        "edge_count": int(edges.sum()),
        "positive_count": int((strength > 0).sum()),
        "strength_sum": rounded(strength.sum()),
        "positions": positions.tolist(),
        "strength": rounded_list(strength[positions[:, 0], positions[:, 1]]),
    }
    if with_orientation:
        record["orientation"] = floats32(orientation[edges])
        record["orientation_undefined"] = int((orientation[edges] < 0).sum())
        record["whole_degrees"] = whole_degrees
    return record, edges


def photo(name, preparation):
    path = pathlib.Path(skimage.data.__file__).parent / name
    data = path.read_bytes()
    pixels = np.asarray(Image.open(path)).astype(np.int64)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    pixels = pixels.transpose(2, 0, 1)
    channels, height, width = pixels.shape
    if preparation == "blocks":
        counts = pixels.reshape(channels, SIZE, 2, SIZE, 2).sum(axis=(2, 4))
        divisor = 1020
    else:
        top, left = (height - SIZE) // 2, (width - SIZE) // 2
        counts = pixels[:, top : top + SIZE, left : left + SIZE]
        divisor = 255
    return hashlib.sha256(data).hexdigest(), counts, divisor


def explanations(counts, divisor):
    image = counts / float(divisor)
    index = np.clip(np.arange(SIZE)[:, None] + np.arange(-2, 3)[None, :], 0, SIZE - 1)
    window_rows = counts[:, index, :].sum(axis=2)
    window = window_rows[:, :, index].sum(axis=3)
    blurred = window / float(25 * divisor)
    square = image.copy()
    square[:, SQUARE[0], SQUARE[1]] = 1.0
    r = np.arange(SIZE, dtype=np.float64)[:, None]
    c = np.arange(SIZE, dtype=np.float64)[None, :]
    weight = np.maximum(0.0, 1.0 - ((r - 128.0) ** 2 + (c - 128.0) ** 2) / MASK_RADIUS_SQUARED)
    masked = image * weight
    masked = masked / masked.max()
    return [("photo", image), ("blurred", blurred), ("square", square), ("masked", masked)]


def hallucination(image_edges, explanation_edges):
    near = ndimage.binary_dilation(image_edges, structure=np.ones((3, 3), bool), border_value=0)
    invented = int((explanation_edges & ~near).sum())
    return {
        "invented": invented,
        "image_edges": int(image_edges.sum()),
        "explanation_edges": int(explanation_edges.sum()),
        "score": invented / int(image_edges.sum()),
    }


def photo_case(system, rng, name, preparation):
    digest, counts, divisor = photo(name, preparation)
    grey = grey_levels(counts / float(divisor))
    reference, image_edges = detection(system, rng, grey, with_orientation=True)
    scored = []
    for label, explanation in explanations(counts, divisor):
        record, edges = detection(system, rng, grey_levels(explanation), with_orientation=False)
        counts_record = hallucination(image_edges, edges)
        scored.append({"name": label, "grey": "floor", **record, **counts_record})
    if name in WRAPPED:
        wrapped_grey = grey_levels(counts / float(divisor), wrapped=True)
        _, wrapped_edges = detection(system, rng, wrapped_grey, with_orientation=False)
        masked = explanations(counts, divisor)[-1][1]
        record, edges = detection(system, rng, grey_levels(masked, True), with_orientation=False)
        counts_record = hallucination(wrapped_edges, edges)
        scored.append({"name": "masked", "grey": "reference_int8", **record, **counts_record})
    return {
        "name": name,
        "sha256": digest,
        "preparation": preparation,
        "divisor": divisor,
        "grey_sum": rounded(grey.sum()),
        **reference,
        "explanations": scored,
    }


def synthetic(rows, cols):
    """Integer grey levels: a bright disc, a mid-grey bar and a faint periodic texture."""
    r = np.arange(rows)[:, None]
    c = np.arange(cols)[None, :]
    disc = (r - rows // 3) ** 2 + (c - cols // 2) ** 2 < (rows // 4) ** 2
    bar = (r >= rows // 2) & (r < rows - 8) & (c >= 8) & (c < cols // 3)
    return (40 + 160 * disc + 70 * bar + (r + 2 * c) % 17).astype(np.float64)


def synthetic_case(rng, rows, cols, level):
    system = EdgeSystem(rows, cols, shear_level=level)
    grey = synthetic(rows, cols)
    record, _ = detection(system, rng, grey, with_orientation=True)
    return {
        "rows": rows,
        "cols": cols,
        "shear_level": level,
        "grey_sum": rounded(grey.sum()),
        **record,
    }


def main():
    rng = np.random.default_rng(SEED)
    filters = [filter_case(rng, *case) for case in SYSTEMS]
    synthetic_cases = [synthetic_case(rng, *case) for case in SYSTEMS[1:]]
    system = EdgeSystem(SIZE, SIZE)
    photos = [photo_case(system, rng, name, preparation) for name, preparation in PHOTOS]
    fixture = {
        "produced_by": "tests/oracle/coshrem_edges.py with PyCoShREM 0.0.2, numpy "
        + np.__version__
        + ", scipy "
        + scipy.__version__
        + ", Pillow "
        + PIL.__version__
        + ", scikit-image "
        + skimage.__version__,
        "min_contrast": MIN_CONTRAST,
        "threshold": THRESHOLD,
        "filters": filters,
        "synthetic": synthetic_cases,
        "photos": photos,
    }
    json.dump(fixture, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
