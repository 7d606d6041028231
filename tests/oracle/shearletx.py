"""Reference for the first ShearletX steps: the loss terms, the first gradient and the mask
after two Adam steps, computed in float64 with PyTorch on pyShearLab's shearlet system.

The method as `shared/METHODS.md` states it (and ShearletX's public code runs it): a mask of
ones over the 49 x 256 x 256 shearlet coefficients shared by the three channels; per step
`NOISE_SAMPLES` perturbations, each band uniform on [mu_k - sigma_k, mu_k + sigma_k] with the
mean and sample standard deviation of that band of the grey image (the channel mean); the
obfuscated channel `j` of sample `s` is `SH^-1(clamp01(m c_j + (1 - m) p_s))` in the
`reference` variant and `SH^-1(m c_j + (1 - m) p_s)` in the `paper` variant; the loss is
`mean_s (1 - softmax(f(x_s))_c)^2 + lambda1 mean|m| + lambda2 mean|clamp01(SH^-1(m c_grey))|`
for the classifier's top class `c`; `torch.optim.Adam` (lr 0.1, its default epsilon 1e-8)
then the mask is clamped to [0, 1].

The shearlet transform here is PyTorch's FFT with pyShearLab's filters (ifftshifted to the
natural FFT layout): `c_k = IFFT2(FFT2(x) psi_k)`, `x = IFFT2(sum_k FFT2(c_k) psi_k / W)`.

Shared with the Rust side by construction, not by files:
- the image: scikit-image's astronaut photograph (512x512 RGB), each 2x2 block averaged, over
  255, mapped to [0.05, 0.95] by `0.05 + 0.9 v`, rounded to float32. The astronaut has
  saturated pixels; at 0 or 1 exactly, the spatial term's clamp would let rounding decide
  whether a pixel passes gradient, and float32 and float64 decide differently;
- the classifier: the tiny network of `tests/shearletx.rs` (8x8 convolution stride 8, 3 to 6
  channels, ReLU, 4x4 convolution stride 4, 6 to 8 channels, ReLU, global mean, linear 8 to
  10 as `x @ W + b`), every tensor drawn with `named_uniform(2023, name, shape,
  1 / sqrt(fan_in))`;
- the noise: SplitMix64 seeded with `NOISE_SEED`, one draw per coefficient, sample after
  sample, band after band, coefficients row-major; `mean + sigma * (2u - 1)` in float32 with
  `u` the draw's top 24 bits over 2^24, as `src/explain/noise.rs` computes it.

Recorded per variant: the loss terms of both steps, the first gradient at fixed positions with
its largest magnitude and norm, and the mean and norm of the mask after both steps.
"""

import contextlib
import json
import sys

import numpy as np
import pyshearlab_mind
import skimage
import torch
from skimage import data

from _common import named_uniform, splitmix_u64

SIZE = 256
SCALES = 4
SHEAR_LEVELS = [1, 1, 2, 2]
CLASSES = 10
WEIGHT_SEED = 2023
NOISE_SEED = 3
NOISE_SAMPLES = 2
STEPS = 2
LEARNING_RATE = 0.1
LAMBDA1 = 1.0
LAMBDA2 = 2.0
# Keeps pixels off 0 and 1 (see the module docstring).
INSET = 0.05
POSITIONS = 256
# Fixed so that the fixture regenerates bit for bit; the value itself carries no meaning.
POSITION_SEED = 20240602
SIGNIFICANT_DIGITS = 12


def rounded(value):
    return float(f"{float(value):.{SIGNIFICANT_DIGITS}g}")


def photo():
    """[3, 256, 256] float64 holding float32 values."""
    image = data.astronaut().astype(np.float64)
    blocks = image.reshape(SIZE, 2, SIZE, 2, 3).sum(axis=(1, 3)) / (4.0 * 255.0)
    blocks = INSET + (1.0 - 2.0 * INSET) * blocks
    return blocks.astype(np.float32).astype(np.float64).transpose(2, 0, 1)


class Shearlets:
    def __init__(self):
        with contextlib.redirect_stdout(sys.stderr):
            system = pyshearlab_mind.SLgetShearletSystem2D(
                0, SIZE, SIZE, SCALES, np.array(SHEAR_LEVELS)
            )
        psi = np.fft.ifftshift(system["shearlets"], axes=(0, 1)).real.transpose(2, 0, 1)
        self.filters = torch.from_numpy(np.ascontiguousarray(psi))
        self.weights = torch.from_numpy(np.fft.ifftshift(system["dualFrameWeights"]).real)
        self.bands = psi.shape[0]

    def analyse(self, images):
        """[..., H, W] to [..., K, H, W]."""
        spectrum = torch.fft.fft2(images).unsqueeze(-3)
        return torch.fft.ifft2(spectrum * self.filters).real

    def synthesise(self, coefficients):
        """[..., K, H, W] to [..., H, W]."""
        spectrum = (torch.fft.fft2(coefficients) * self.filters).sum(dim=-3)
        return torch.fft.ifft2(spectrum / self.weights).real


def weight(name, shape, fan_in):
    scale = np.float32(1.0) / np.sqrt(np.float32(fan_in))
    return torch.from_numpy(named_uniform(WEIGHT_SEED, name, shape, scale).astype(np.float64))


class TinyNet:
    def __init__(self):
        self.conv1 = (weight("conv1.weight", (6, 3, 8, 8), 192), weight("conv1.bias", (6,), 192))
        self.conv2 = (weight("conv2.weight", (8, 6, 4, 4), 96), weight("conv2.bias", (8,), 96))
        self.linear = (weight("linear.weight", (8, CLASSES), 8), weight("linear.bias", (CLASSES,), 8))

    def logits(self, images):
        hidden = torch.relu(torch.nn.functional.conv2d(images, *self.conv1, stride=8))
        features = torch.relu(torch.nn.functional.conv2d(hidden, *self.conv2, stride=4))
        pooled = features.mean(dim=(2, 3))
        return pooled @ self.linear[0] + self.linear[1]


class Noise:
    """Uniform perturbations drawn as the lab draws them."""

    def __init__(self, grey_coefficients):
        bands = grey_coefficients.reshape(grey_coefficients.shape[0], -1).numpy()
        self.means = bands.mean(axis=1).astype(np.float32)
        self.deviations = bands.std(axis=1, ddof=1).astype(np.float32)
        self.drawn = 0

    def draw(self, samples):
        bands, plane = self.means.shape[0], SIZE * SIZE
        count = samples * bands * plane
        units = (splitmix_u64(NOISE_SEED, count, self.drawn) >> np.uint64(40)).astype(np.float32)
        units /= np.float32(1 << 24)
        self.drawn += count
        units = units.reshape(samples, bands, plane)
        values = self.means[None, :, None] + self.deviations[None, :, None] * (
            np.float32(2.0) * units - np.float32(1.0)
        )
        return torch.from_numpy(values.astype(np.float64).reshape(samples, bands, SIZE, SIZE))


def run(variant, shearlets, net, image, positions):
    coefficients = shearlets.analyse(image)  # [3, K, H, W]
    grey = shearlets.analyse(image.sum(dim=0) / 3.0)  # [K, H, W]
    noise = Noise(grey)
    probabilities = torch.softmax(net.logits(image.unsqueeze(0)), dim=-1)[0]
    target = int(torch.argmax(probabilities))

    mask = torch.ones(coefficients.shape[1:], dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.Adam([mask], lr=LEARNING_RATE)
    steps, first_gradient = [], None
    for _ in range(STEPS):
        perturbations = noise.draw(NOISE_SAMPLES)  # [S, K, H, W]
        mixed = mask * coefficients.unsqueeze(1) + (1 - mask) * perturbations.unsqueeze(0)
        if variant == "reference":
            mixed = mixed.clamp(0, 1)
        images = shearlets.synthesise(mixed).transpose(0, 1)  # [S, 3, H, W]
        target_probabilities = torch.softmax(net.logits(images), dim=-1)[:, target]
        distortion = ((1 - target_probabilities) ** 2).mean()
        mask_l1 = mask.abs().mean()
        spatial = shearlets.synthesise(mask * grey).clamp(0, 1).abs().mean()
        loss = distortion + LAMBDA1 * mask_l1 + LAMBDA2 * spatial
        optimiser.zero_grad()
        loss.backward()
        steps.append(
            {
                "loss": rounded(loss),
                "distortion": rounded(distortion),
                "mask_l1": rounded(mask_l1),
                "spatial": rounded(spatial),
                "probability": rounded(target_probabilities.mean()),
            }
        )
        if first_gradient is None:
            flat = mask.grad.reshape(-1)
            first_gradient = {
                "values": [rounded(v) for v in flat[positions]],
                "max_abs": rounded(flat.abs().max()),
                "l2_norm": rounded(flat.norm()),
            }
        optimiser.step()
        with torch.no_grad():
            mask.clamp_(0, 1)
    return {
        "variant": variant,
        "target_class": target,
        "original_probability": rounded(probabilities[target]),
        "steps": steps,
        "first_gradient": first_gradient,
        "final_mask": {"mean": rounded(mask.mean()), "l2_norm": rounded(mask.norm())},
    }


def main():
    torch.set_num_threads(1)
    shearlets = Shearlets()
    net = TinyNet()
    image = torch.from_numpy(photo())
    count = shearlets.bands * SIZE * SIZE
    positions = np.random.default_rng(POSITION_SEED).integers(0, count, POSITIONS)
    fixture = {
        "produced_by": "tests/oracle/shearletx.py with torch "
        + torch.__version__
        + ", pyShearLab-MIND 0.0.3, numpy "
        + np.__version__
        + ", scikit-image "
        + skimage.__version__,
        "size": SIZE,
        "noise_seed": NOISE_SEED,
        "noise_samples": NOISE_SAMPLES,
        "learning_rate": LEARNING_RATE,
        "lambda1": LAMBDA1,
        "lambda2": LAMBDA2,
        "positions": positions.tolist(),
        "runs": [
            run(variant, shearlets, net, image, torch.from_numpy(positions))
            for variant in ("reference", "paper")
        ],
    }
    json.dump(fixture, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
