"""A small random torchvision-style classifier shared by the explanation oracles (not an oracle
itself: regenerate.py skips names starting with an underscore).

A miniature VGG: `features` (3x3 convolutions with stride 2 and padding 1, 3 -> 8 -> 16
channels, each followed by ReLU) is its last convolutional block; then a 2x2 average pool and
a classifier (flatten, linear 480 -> 32, ReLU, linear 32 -> 10). Inputs are 48x40, so the
feature maps are 12x10. Every weight is drawn with `named_uniform` under its PyTorch name, so
the lab rebuilds the same network from the fixture's list (`tests/tiny_vgg/mod.rs`).
"""

import numpy as np
import torch
from torch import nn

from _common import named_uniform

IMAGE = [1, 3, 48, 40]
CLASSES = 10


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


def build(seed):
    """A fresh network (callers that turn off gradients, as torchray does, need their own) and
    the list of its weights for the fixture."""
    model = TinyVgg().eval()
    spec = []
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            shape = list(parameter.shape)
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            scale = 0.1 if name.endswith("bias") else float(2.0 / np.sqrt(fan_in))
            parameter.copy_(torch.from_numpy(named_uniform(seed, name, shape, scale)))
            spec.append({"name": name, "shape": shape, "scale": scale, "offset": 0.0})
    return model, spec


def image(seed):
    """`[1, 3, 48, 40]`, uniform in [0, 1]."""
    return torch.from_numpy(named_uniform(seed, "image", IMAGE, 0.5, 0.5))
