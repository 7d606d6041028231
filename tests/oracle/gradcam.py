"""Reference Grad-CAM heatmaps of a small random torchvision-style network, computed by the
`grad-cam` package (pytorch-grad-cam).

The network is `_tiny_vgg.TinyVgg`, a miniature VGG with random weights drawn by
`named_uniform`, and the image `[1, 3, 48, 40]` uniform in [0, 1], so the 12x10 feature maps
are enlarged to a non-square image.

`GradCAM(model, target_layers=[model.features])` is called for the top class (`targets=None`)
and for a fixed class (`ClassifierOutputTarget`); the fixture keeps each whole heatmap
(float32, 48x40), the class, and the feature-map weights (spatial means of the class score's
gradient), the latter computed with plain autograd on the same network.
"""

import json
import sys
from importlib.metadata import version

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

import _tiny_vgg

SEED = 53
FIXED_CLASS = 3
SIGNIFICANT_DIGITS = 9


def rounded_list(values):
    return [float(f"{float(v):.{SIGNIFICANT_DIGITS}g}") for v in np.asarray(values).ravel()]


def channel_weights(model, image, target):
    features = model.features(image).detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model.head(features)[0, target], features)
    return gradient.mean(dim=(2, 3))[0]


def case(model, image, target):
    targets = None if target is None else [ClassifierOutputTarget(target)]
    with GradCAM(model=model, target_layers=[model.features]) as cam:
        heatmap = cam(input_tensor=image, targets=targets)[0]
    with torch.no_grad():
        logits = model(image)[0]
    explained = int(logits.argmax()) if target is None else target
    return {
        "requested_class": target,
        "class": explained,
        "heatmap": rounded_list(heatmap),
        "channel_weights": rounded_list(channel_weights(model, image, explained).detach()),
    }


def main():
    torch.set_num_threads(1)
    model, spec = _tiny_vgg.build(SEED)
    image = _tiny_vgg.image(SEED)
    with torch.no_grad():
        logits = model(image)[0]
    fixture = {
        "produced_by": "tests/oracle/gradcam.py with grad-cam "
        + version("grad-cam")
        + ", torch "
        + torch.__version__,
        "seed": SEED,
        "image": _tiny_vgg.IMAGE,
        "weights": spec,
        "logits": rounded_list(logits),
        "cases": [case(model, image, None), case(model, image, FIXED_CLASS)],
    }
    json.dump(fixture, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
