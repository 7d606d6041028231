"""Reference values for extremal perturbations (the smooth pixel mask), computed by torchray.

Building blocks at fixed inputs, each drawn with `named_uniform` (float32):
- `mask_generator`: torchray's `MaskGenerator(shape, step, sigma)` (softmax pooling, clamped)
  on parameters `clip(1.2 u - 0.1, 0, 1)` (some exactly 0 or 1), for two geometries: torchray's
  defaults (step 7, sigma 21) on 45x38 pixels, and step 3, sigma 10.5 (a margin that Python
  rounds to even) on 30x41. Recorded: the full and cropped masks' sizes, norms and values at
  fixed positions, and the whole gradient of `sum(g * full mask)` with respect to the
  parameters, `g` uniform in [-1, 1];
- `blur`: torchray's `Perturbation(image, num_levels, max_blur)` of type blur, for 8 levels and
  blur 20 on a 3x45x38 image and 4 levels and blur 5.5 on 3x20x17; per level the norm and
  values at fixed positions; then `apply(mask)` for a mask `clip(1.2 u - 0.1, 0, 1)` of two
  masks, and the gradient of `sum(g * apply(mask))` with respect to the mask, at fixed
  positions;
- `area`: the area constraint as torchray's `extremal_perturbation` states it, the mean
  squared difference between each sorted full mask and a reference of `int(N (1 - a))` zeros
  followed by ones, for areas 0.05, 0.1, 0.2 on three 40x33 masks; the losses and the gradient
  of `sum(c_a * loss_a)` (`c = 1, 2, 3`) at fixed positions.

And a short run of torchray's `extremal_perturbation` itself (preservation, blur, jitter,
areas 0.05/0.1/0.2, 12 steps, torchray's other defaults) on the miniature VGG of `_tiny_vgg`
and its 48x40 image, for its top class: the per-step rewards and area terms (`hist`) and the
final masks at fixed positions.
"""

import json
import sys
from importlib.metadata import version

import numpy as np
import torch
from torchray.attribution.extremal_perturbation import (
    BLUR_PERTURBATION,
    MaskGenerator,
    Perturbation,
    extremal_perturbation,
)

import _tiny_vgg
from _common import named_uniform

SEED = 61
AREAS = [0.05, 0.1, 0.2]
RUN_STEPS = 12
SAMPLES = 200
# Fixed so that the fixture regenerates bit for bit; the value itself carries no meaning.
POSITION_SEED = 20241003
SIGNIFICANT_DIGITS = 9


def rounded(value):
    return float(f"{float(value):.{SIGNIFICANT_DIGITS}g}")


def rounded_list(values):
    return [rounded(v) for v in np.asarray(values).ravel()]


def draw(name, shape, scale=1.0, offset=0.0):
    return torch.from_numpy(named_uniform(SEED, name, shape, scale, offset))


def with_zeros_and_ones(values):
    """`clip(1.2 u - 0.1, 0, 1)` in float32, as the lab computes it."""
    return (values * np.float32(1.2) - np.float32(0.1)).clamp(0.0, 1.0)


def sampled(rng, tensor):
    flat = tensor.detach().reshape(-1)
    positions = rng.integers(0, flat.numel(), SAMPLES)
    return {"positions": positions.tolist(), "values": rounded_list(flat[positions].numpy())}


def mask_generator_case(rng, name, shape, step, sigma, masks=2):
    generator = MaskGenerator(shape, step, sigma)
    parameters = with_zeros_and_ones(draw(f"{name}.parameters", [masks, 1, *generator.shape_in], 0.5, 0.5))
    parameters.requires_grad_(True)
    cropped, full = generator.generate(parameters)
    weights = draw(f"{name}.gradient_weights", list(full.shape))
    (gradient,) = torch.autograd.grad((weights * full).sum(), parameters)
    return {
        "name": name,
        "image_size": list(shape),
        "step": step,
        "sigma": sigma,
        "masks": masks,
        "parameter_size": list(generator.shape_in),
        "full_size": list(generator.shape_out),
        "full_norm": rounded(full.norm()),
        "cropped_norm": rounded(cropped.norm()),
        "full": sampled(rng, full),
        "cropped": sampled(rng, cropped),
        "parameter_gradient": rounded_list(gradient.numpy()),
    }


def blur_case(rng, name, shape, levels, max_blur, masks=2):
    image = draw(f"{name}.image", [1, *shape], 0.5, 0.5)
    perturbation = Perturbation(image, num_levels=levels, max_blur=max_blur, type=BLUR_PERTURBATION)
    pyramid = perturbation.pyramid
    mask = with_zeros_and_ones(draw(f"{name}.mask", [masks, 1, *shape[1:]], 0.5, 0.5))
    mask.requires_grad_(True)
    perturbed = perturbation.apply(mask)
    weights = draw(f"{name}.gradient_weights", list(perturbed.shape))
    (gradient,) = torch.autograd.grad((weights * perturbed).sum(), mask)
    return {
        "name": name,
        "shape": list(shape),
        "levels": levels,
        "max_blur": max_blur,
        "masks": masks,
        "level_norms": [rounded(pyramid[level].norm()) for level in range(levels)],
        "pyramid": sampled(rng, pyramid),
        "perturbed_norm": rounded(perturbed.norm()),
        "perturbed": sampled(rng, perturbed),
        "mask_gradient": sampled(rng, gradient),
    }


def area_losses(masks, areas):
    """Sorted mask against a step reference of `int(N (1 - a))` zeros, as torchray states it."""
    flat = masks.reshape(len(areas), -1)
    size = flat.shape[1]
    reference = torch.ones_like(flat)
    for i, area in enumerate(areas):
        reference[i, : int(size * (1 - area))] = 0
    return ((flat.sort(dim=1)[0] - reference) ** 2).mean(dim=1)


def area_case(rng):
    masks = draw("area.masks", [len(AREAS), 1, 40, 33], 0.5, 0.5).requires_grad_(True)
    losses = area_losses(masks, AREAS)
    (gradient,) = torch.autograd.grad((losses * torch.tensor([1.0, 2.0, 3.0])).sum(), masks)
    return {
        "areas": AREAS,
        "shape": list(masks.shape),
        "losses": rounded_list(losses.detach().numpy()),
        "gradient": sampled(rng, gradient),
    }


def run_case(rng):
    model, spec = _tiny_vgg.build(SEED)
    image = _tiny_vgg.image(SEED)
    with torch.no_grad():
        target = int(model(image)[0].argmax())
    masks, history = extremal_perturbation(
        model, image, target, areas=AREAS, max_iter=RUN_STEPS, perturbation=BLUR_PERTURBATION
    )
    return {
        "weights": spec,
        "image": _tiny_vgg.IMAGE,
        "class": target,
        "areas": AREAS,
        "steps": RUN_STEPS,
        # hist is [areas, (reward, regulariser), steps]; the regulariser is
        # -weight_t * area_loss_t.
        "rewards": [rounded_list(history[i, 0].numpy()) for i in range(len(AREAS))],
        "area_terms": [rounded_list(history[i, 1].numpy()) for i in range(len(AREAS))],
        "mask_norms": [rounded(masks[i].norm()) for i in range(len(AREAS))],
        "masks": sampled(rng, masks),
    }


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(POSITION_SEED)
    fixture = {
        "produced_by": "tests/oracle/extremal.py with torchray "
        + version("torchray")
        + ", torch "
        + torch.__version__,
        "seed": SEED,
        "mask_generator": [
            mask_generator_case(rng, "defaults", (45, 38), 7, 21),
            mask_generator_case(rng, "fine", (30, 41), 3, 10.5),
        ],
        "blur": [
            blur_case(rng, "strong", (3, 45, 38), 8, 20),
            blur_case(rng, "light", (3, 20, 17), 4, 5.5),
        ],
        "area": area_case(rng),
        "run": run_case(rng),
    }
    json.dump(fixture, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
