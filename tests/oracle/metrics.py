"""Reference values of the ShearletX paper's scores, computed directly from their definitions
with NumPy in float64.

For fixed logits, masks, coefficients and images drawn with `named_uniform` (float32, the
numbers the lab reads), each case records the top classes and probabilities (softmax), the
retained probability `r = p_top(explanation) / p_top(image)`, CP-L1 `= r / (sum|m c| /
sum|c|)`, CP-L1-pixel `= r / (|explanation|_1 / |image|_1)` and CP-Entropy
`= r / exp(H(m c) - H(c))` with `H(v) = -sum q log q`, `q = v^2 / sum v^2` (0 log 0 = 0). The
mask is shared by the channels (one value per coefficient of a channel) unless the case says
`per_channel_mask`. In the `sparse` case the mask is `clip(2u - 0.5, 0, 1)` in float32, so a
quarter of it is exactly 0 and a quarter exactly 1.

The `pipeline` case scores a whole explanation as the lab computes it end to end: a linear
classifier `logits = W x + b` on 16x16 RGB images, the db3 wavelet transform (PyWavelets,
5 levels, zero padding), a mask over its coefficients, and the explanation `waverec2(m c)`.
"""

import json
import sys
from importlib.metadata import version

import numpy as np
import pywt

from _common import named_uniform

SEED = 47
CLASSES = 10
CHANNELS = 3
COEFFICIENTS = 600
IMAGE = [CHANNELS, 8, 12]
PIPELINE_SIDE = 16
SIGNIFICANT_DIGITS = 15


def rounded(value):
    return float(f"{float(value):.{SIGNIFICANT_DIGITS}g}")


def draw(name, shape, scale=1.0, offset=0.0):
    return named_uniform(SEED, name, shape, scale, offset)


def top(logits):
    logits = logits.astype(np.float64)
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    return int(np.argmax(probabilities)), float(probabilities.max())


def entropy(values):
    energy = values**2
    q = energy / energy.sum()
    q = q[q > 0]
    return float(-(q * np.log(q)).sum())


def scores(logits_explanation, logits_image, mask, coefficients, explanation, image):
    """`coefficients` is `[channels, count]`; `mask` `[count]` or `[channels, count]`."""
    coefficients = coefficients.astype(np.float64)
    masked = mask.astype(np.float64) * coefficients
    image_class, image_probability = top(logits_image)
    explanation_class, explanation_probability = top(logits_explanation)
    r = explanation_probability / image_probability
    l1_fraction = np.abs(masked).sum() / np.abs(coefficients).sum()
    pixel_fraction = np.abs(explanation.astype(np.float64)).sum() / np.abs(image.astype(np.float64)).sum()
    kept, everything = entropy(masked), entropy(coefficients)
    return {
        "image_class": image_class,
        "image_probability": rounded(image_probability),
        "explanation_class": explanation_class,
        "explanation_probability": rounded(explanation_probability),
        "retained_probability": rounded(r),
        "masked_l1_fraction": rounded(l1_fraction),
        "entropy_masked": rounded(kept),
        "entropy_coefficients": rounded(everything),
        "cp_l1": rounded(r / l1_fraction),
        "cp_l1_pixel": rounded(r / pixel_fraction),
        "cp_entropy": rounded(r / np.exp(kept - everything)),
    }


def fixed_case(name, per_channel_mask=False, sparse=False):
    mask_shape = [CHANNELS, COEFFICIENTS] if per_channel_mask else [COEFFICIENTS]
    mask = draw(f"{name}.mask", mask_shape, 0.5, 0.5)
    if sparse:
        mask = np.clip(np.float32(2.0) * mask - np.float32(0.5), np.float32(0), np.float32(1))
    image = draw(f"{name}.image", IMAGE, 0.5, 0.5)
    explanation = image * draw(f"{name}.pixel_mask", IMAGE, 0.5, 0.5)
    return {
        "name": name,
        "per_channel_mask": per_channel_mask,
        "sparse": sparse,
        "scores": scores(
            draw(f"{name}.logits_explanation", [CLASSES], 3.0),
            draw(f"{name}.logits_image", [CLASSES], 3.0),
            mask,
            draw(f"{name}.coefficients", [CHANNELS, COEFFICIENTS]),
            explanation,
            image,
        ),
    }


def wavelet(image):
    rows = []
    for channel in image:
        levels = pywt.wavedec2(channel.astype(np.float64), "db3", mode="zero", level=5)
        bands = [band for level in reversed(levels[1:]) for band in level] + [levels[0]]
        rows.append(np.concatenate([band.ravel() for band in bands]))
    shapes = [band.shape for band in bands]
    return np.stack(rows), shapes


def inverse_wavelet(flat, shapes, side):
    channels = []
    for row in flat:
        bands, start = [], 0
        for shape in shapes:
            bands.append(row[start : start + shape[0] * shape[1]].reshape(shape))
            start += shape[0] * shape[1]
        details = bands[:-1]
        levels = [tuple(details[3 * j : 3 * j + 3]) for j in range(len(details) // 3)]
        coefficients = [bands[-1]] + list(reversed(levels))
        channels.append(pywt.waverec2(coefficients, "db3", mode="zero")[:side, :side])
    return np.stack(channels)


def pipeline_case():
    side = PIPELINE_SIDE
    inputs = CHANNELS * side * side
    weight = draw("pipeline.weight", [CLASSES, inputs], 0.05).astype(np.float64)
    bias = draw("pipeline.bias", [CLASSES], 0.1).astype(np.float64)
    image = draw("pipeline.image", [CHANNELS, side, side], 0.5, 0.5).astype(np.float64)
    coefficients, shapes = wavelet(image)
    mask = draw("pipeline.mask", [coefficients.shape[1]], 0.5, 0.5).astype(np.float64)
    explanation = inverse_wavelet(mask * coefficients, shapes, side)
    logits = lambda x: weight @ x.ravel() + bias
    return {
        "name": "pipeline",
        "side": side,
        "coefficient_count": int(coefficients.shape[1]),
        "scores": scores(logits(explanation), logits(image), mask, coefficients, explanation, image),
    }


def main():
    fixture = {
        "produced_by": "tests/oracle/metrics.py with numpy "
        + np.__version__
        + ", PyWavelets "
        + version("PyWavelets"),
        "seed": SEED,
        "classes": CLASSES,
        "channels": CHANNELS,
        "coefficients": COEFFICIENTS,
        "image": IMAGE,
        "cases": [
            fixed_case("dense"),
            fixed_case("sparse", sparse=True),
            fixed_case("per_channel", per_channel_mask=True),
        ],
        "pipeline": pipeline_case(),
    }
    json.dump(fixture, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
