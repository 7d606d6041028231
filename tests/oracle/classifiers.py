"""Reference logits, loss gradients with respect to the input image, and last-block features of
torchvision's ResNet-18, VGG-19 and MobileNetV3-small with random weights, at 64x64, batch 2.

Every parameter and batch-norm buffer is drawn with `named_uniform` under its torchvision
state-dict name (the fixture lists names, shapes, scales and offsets, so the lab rebuilds the
checkpoint), and the models run in float64 in evaluation mode, so the reference carries no
rounding worth speaking of. VGG-19's three fully connected layers are narrowed from 4096 to
HIDDEN units (torchvision's `features`, pooling and layer order unchanged) to keep the
checkpoint small; the convolutional part is full size.

The images are `named_uniform(SEED, "images", [2, 3, 64, 64], 0.5, 0.5)`, in [0, 1], and the
models see them normalised with ImageNet's mean and deviation, as the lab's classifiers do
inside. The loss is the mean cross-entropy against TARGETS; its gradient with respect to the
unnormalised images is sampled at the fixture's `positions` (flat indices), with its sum and
norm. Features are the output of the layer pytorch-grad-cam documents for each model
(`layer4`, `features`, `features`), sampled the same way, and so is the loss gradient with
respect to them (what Grad-CAM weighs).

The fixture also keeps timm's own tensor names and shapes for its `resnet18` and `vgg19`
(built on the meta device, no weights), which the lab's loaders accept.
"""

import json
import sys

import numpy as np
import timm
import torch
import torchvision

from _common import named_uniform

SEED = 2031
BATCH, SIDE = 2, 64
TARGETS = [3, 917]
HIDDEN = 64
SAMPLES = 500
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def build_vgg19():
    model = torchvision.models.vgg19()
    model.classifier[0] = torch.nn.Linear(512 * 7 * 7, HIDDEN)
    model.classifier[3] = torch.nn.Linear(HIDDEN, HIDDEN)
    model.classifier[6] = torch.nn.Linear(HIDDEN, 1000)
    return model


# (constructor, Grad-CAM layer, lab configuration, convolution gain). The gain sets the
# convolutions' uniform bound sqrt(3 gain / fan_in): He's 2 keeps activations at their scale
# through a plain stack of ReLU layers; ResNet's residual sums grow instead, so it gets 1.
CASES = {
    "resnet18": (torchvision.models.resnet18, "layer4", {"classes": 1000}, 1.0),
    "vgg19": (build_vgg19, "features", {"classes": 1000, "hidden": HIDDEN}, 2.0),
    "mobilenet_v3_small": (
        torchvision.models.mobilenet_v3_small,
        "features",
        {"classes": 1000},
        2.0,
    ),
}


def scale_and_offset(name, shape, conv_gain):
    """Batch norms near the identity with variances near 1; convolutions as the case's gain
    says; fully connected layers with sqrt(3 / fan_in), unit-variance outputs; small biases.
    The logits come out with a spread of a few units, so the loss is far from saturated."""
    if "running_var" in name:
        return 0.5, 1.0
    if "running_mean" in name:
        return 0.2, 0.0
    if len(shape) == 1:
        is_norm_weight = name.endswith("weight")
        return (0.25, 1.0) if is_norm_weight else (0.1, 0.0)
    fan_in = int(np.prod(shape[1:]))
    gain = conv_gain if len(shape) == 4 else 1.0
    return float(np.sqrt(3.0 * gain / fan_in)), 0.0


def assign_weights(model, conv_gain):
    spec = []
    with torch.no_grad():
        tensors = dict(model.named_parameters())
        tensors.update(model.named_buffers())
        for name, tensor in tensors.items():
            if name.endswith("num_batches_tracked"):
                continue
            shape = list(tensor.shape)
            scale, offset = scale_and_offset(name, shape, conv_gain)
            values = named_uniform(SEED, name, shape, scale, offset)
            tensor.copy_(torch.from_numpy(values.astype(np.float64)))
            spec.append({"name": name, "shape": shape, "scale": scale, "offset": offset})
    return spec


def sample(tensor, positions):
    flat = tensor.detach().flatten()
    return {
        "shape": list(tensor.shape),
        "sum": float(flat.sum()),
        "l2_norm": float(flat.norm()),
        "max_abs": float(flat.abs().max()),
        "values": [float(flat[p]) for p in positions],
    }


def positions(count, total):
    """SAMPLES flat indices spread evenly over the tensor, first and last included."""
    return [int(p) for p in np.linspace(0, total - 1, min(count, total)).round()]


def case(build, feature_layer, config, conv_gain):
    model = build().double().eval()
    spec = assign_weights(model, conv_gain)
    captured = {}
    layer = dict(model.named_modules())[feature_layer]
    def keep(_module, _inputs, output):
        output.retain_grad()
        captured.update(features=output)

    layer.register_forward_hook(keep)
    shape = [BATCH, 3, SIDE, SIDE]
    images = torch.from_numpy(named_uniform(SEED, "images", shape, 0.5, 0.5).astype(np.float64))
    images.requires_grad_(True)
    mean = torch.tensor(MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(1, 3, 1, 1)
    logits = model((images - mean) / std)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(TARGETS))
    loss.backward()
    features = captured["features"]
    image_positions = positions(SAMPLES, images.numel())
    feature_positions = positions(SAMPLES, features.numel())
    return {
        "config": config,
        "weights": spec,
        "logits": logits.detach().flatten().tolist(),
        "loss": loss.item(),
        "gradient_positions": image_positions,
        "gradient": sample(images.grad, image_positions),
        "feature_positions": feature_positions,
        "features": sample(features, feature_positions),
        "feature_gradient": sample(features.grad, feature_positions),
    }


def timm_names(architecture):
    with torch.device("meta"):
        model = timm.create_model(architecture)
    return [[name, list(t.shape)] for name, t in model.state_dict().items()]


def main():
    torch.set_num_threads(1)
    fixture = {
        "produced_by": (
            f"tests/oracle/classifiers.py with torchvision {torchvision.__version__}, "
            f"timm {timm.__version__}, torch {torch.__version__}"
        ),
        "seed": SEED,
        "batch": BATCH,
        "side": SIDE,
        "targets": TARGETS,
        "cases": {name: case(*settings) for name, settings in CASES.items()},
        "timm_names": {name: timm_names(name) for name in ["resnet18", "vgg19"]},
    }
    json.dump(fixture, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
