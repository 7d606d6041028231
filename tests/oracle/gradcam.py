"""Reference Grad-CAM heatmaps of a small random torchvision-style network, computed by the
`grad-cam` package (pytorch-grad-cam).

The network is a miniature VGG: `features` (3x3 convolutions with stride 2 and padding 1,
3 -> 8 -> 16 channels, each followed by ReLU), a 2x2 average pool, and a classifier
(flatten, linear 480 -> 32, ReLU, linear 32 -> 10). Every weight is drawn with
`named_uniform` under its PyTorch name, so the lab rebuilds the same network from the
fixture's list. The image is `[1, 3, 48, 40]`, uniform in [0, 1] (`named_uniform("image")`),
so the feature maps are 12x10 and the heatmap is enlarged to a non-square image.

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
from torch import nn

from _common import named_uniform

SEED = 53
IMAGE = [1, 3, 48, 40]
CLASSES = 10
FIXED_CLASS = 3
SIGNIFICANT_DIGITS = 9


class TinyVgg(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.avgpool = nn.AvgPool2d(2)
        self.classifier = nn.Sequential(nn.Linear(16 * 6 * 5, 32), nn.ReLU(), nn.Linear(32, CLASSES))

    def head(self, features):
        return self.classifier(torch.flatten(self.avgpool(features), 1))

    def forward(self, x):
        return self.head(self.features(x))


def build():
    model = TinyVgg().eval()
    spec = []
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            shape = list(parameter.shape)
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            scale = 0.1 if name.endswith("bias") else float(2.0 / np.sqrt(fan_in))
            parameter.copy_(torch.from_numpy(named_uniform(SEED, name, shape, scale)))
            spec.append({"name": name, "shape": shape, "scale": scale, "offset": 0.0})
    return model, spec


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
    model, spec = build()
    image = torch.from_numpy(named_uniform(SEED, "image", IMAGE, 0.5, 0.5))
    with torch.no_grad():
        logits = model(image)[0]
    fixture = {
        "produced_by": "tests/oracle/gradcam.py with grad-cam "
        + version("grad-cam")
        + ", torch "
        + torch.__version__,
        "seed": SEED,
        "image": IMAGE,
        "weights": spec,
        "logits": rounded_list(logits),
        "cases": [case(model, image, None), case(model, image, FIXED_CLASS)],
    }
    json.dump(fixture, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
