"""Reference values for the packaged EfficientNet-Lite0 checkpoint and the packaged photos.

1. The checkpoint as `torch.load` reads it: every tensor's name (in order), dtype and shape,
   its values at up to TENSOR_SAMPLES flat positions spread evenly over it (first and last
   included, in the tensor's logical row-major order, whatever its strides), and its sum.
2. The photos (`photos/*` in the asset cache, sorted by name), decoded by Pillow and converted
   to RGB: size, the sum of all 8-bit values and PIXEL_SAMPLES of them (flat index over
   rows x columns x channels).
3. Their preparation, as torchvision computes it on float tensors: 8-bit values / 255,
   `resize(image, 256, antialias=True)` (shorter side to 256) bilinear and bicubic,
   `center_crop(224)`, clamped to [0, 1] (bicubic overshoots; Pillow clamps 8-bit results the
   same way): the sum and PREPARED_SAMPLES values (flat index over channels x rows x columns).
4. timm's `tf_efficientnet_lite0` with the checkpoint's tensors assigned in order (the two
   lists of names differ, their order and shapes agree one to one, checked here), in float64,
   on the bicubic preparation scaled as `(255 x - 127.5) / 127.5`: all 1000 logits of each
   photo, its top 5 classes, and the gap between the 5th and 6th logits (how safely the top 5
   is determined). The fixture keeps timm's names in that order too.
5. JPEG decoders may differ by a few levels (the standard leaves the inverse DCT's and the
   chroma upsampling's rounding open; Pillow's libjpeg-turbo and the lab's decoder do differ),
   so for the JPEG photos the fixture also carries the exact input: the bicubic preparation of
   Pillow's decoding rounded to 8 bits, as a PNG in base64 (lossless, so both sides read the
   same values), with timm's logits and top 5 on it.
"""

import base64
import io
import json
import pathlib
import sys

import numpy as np
import PIL
import timm
import torch
import torchvision
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

ASSETS = pathlib.Path.home() / ".cache" / "superlab" / "assets"
CHECKPOINT = ASSETS / "models" / "efficientnet-lite0" / "efficientnet-lite0-57934424.pth"
TENSOR_SAMPLES = 6
PIXEL_SAMPLES = 64
PREPARED_SAMPLES = 400
SHORTER_SIDE, CROP = 256, 224


def spread(count, total):
    return [int(p) for p in np.linspace(0, total - 1, min(count, total)).round()]


def checkpoint_print(state):
    tensors = []
    for name, tensor in state.items():
        flat = tensor.reshape(-1)
        tensors.append(
            {
                "name": name,
                "dtype": str(tensor.dtype).removeprefix("torch."),
                "shape": list(tensor.shape),
                "sum": float(flat.double().sum()),
                "positions": spread(TENSOR_SAMPLES, flat.numel()),
                "values": [float(flat[p]) for p in spread(TENSOR_SAMPLES, flat.numel())],
            }
        )
    return tensors


def lite0(state):
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    target = model.state_dict()
    assert len(target) == len(state)
    renamed = {}
    for (ours, tensor), (theirs, slot) in zip(state.items(), target.items()):
        assert tensor.shape == slot.shape, (ours, theirs)
        renamed[theirs] = tensor
    model.load_state_dict(renamed)
    return model.double().eval()


def prepared(photo, interpolation):
    image = F.resize(photo, SHORTER_SIDE, interpolation=interpolation, antialias=True)
    return F.center_crop(image, CROP).clamp(0, 1)


def summary(tensor, count):
    flat = tensor.reshape(-1)
    positions = spread(count, flat.numel())
    return {
        "shape": list(tensor.shape),
        "sum": float(flat.double().sum()),
        "positions": positions,
        "values": [float(flat[p]) for p in positions],
    }


def predictions(model, image):
    """Logits of one `[3, rows, cols]` image in [0, 1], scaled as TensorFlow Lite's inputs."""
    with torch.no_grad():
        logits = model((image[None].double() * 255 - 127.5) / 127.5)[0]
    ranked = torch.sort(logits, descending=True)
    return logits, ranked


def exact_input(bicubic, model):
    pixels = (bicubic * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    encoded = io.BytesIO()
    Image.fromarray(pixels).save(encoded, format="PNG")
    logits, ranked = predictions(model, torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)
    return {
        "png_base64": base64.b64encode(encoded.getvalue()).decode(),
        "logits": logits.tolist(),
        "top5": ranked.indices[:5].tolist(),
        "gap_after_top5": float(ranked.values[4] - ranked.values[5]),
    }


def photo_case(path, model):
    rgb = np.asarray(Image.open(path).convert("RGB"))
    photo = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255
    bicubic = prepared(photo, InterpolationMode.BICUBIC)
    logits, ranked = predictions(model, bicubic)
    case = {
        "file": path.name,
        "width": rgb.shape[1],
        "height": rgb.shape[0],
        "pixel_sum": int(rgb.astype(np.int64).sum()),
        "pixels": summary(torch.from_numpy(rgb.astype(np.int64)), PIXEL_SAMPLES),
        "bilinear": summary(prepared(photo, InterpolationMode.BILINEAR), PREPARED_SAMPLES),
        "bicubic": summary(bicubic, PREPARED_SAMPLES),
        "logits": logits.tolist(),
        "top5": ranked.indices[:5].tolist(),
        "top5_logits": ranked.values[:5].tolist(),
        "gap_after_top5": float(ranked.values[4] - ranked.values[5]),
    }
    if path.suffix == ".jpg":
        case["exact_input"] = exact_input(bicubic, model)
    return case


def main():
    torch.set_num_threads(1)
    state = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    model = lite0(state)
    photos = sorted(p for p in (ASSETS / "photos").iterdir() if p.suffix in (".png", ".jpg"))
    fixture = {
        "produced_by": (
            f"tests/oracle/efficientnet_lite0.py with timm {timm.__version__}, torchvision "
            f"{torchvision.__version__}, torch {torch.__version__}, Pillow {PIL.__version__}"
        ),
        "checkpoint": checkpoint_print(state),
        "timm_names": list(model.state_dict().keys()),
        "shorter_side": SHORTER_SIDE,
        "crop": CROP,
        "photos": [photo_case(path, model) for path in photos],
    }
    json.dump(fixture, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
