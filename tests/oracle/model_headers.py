"""Tensor tables of two cached default models, read by the reference readers.

The gguf library's GGUFReader reads SmolLM2-135M-Instruct's GGUF file and the safetensors
library reads all-MiniLM-L6-v2's weights; the page's model store reads the same headers with
its own parser (www/model-formats.js), and the browser test compares parameter counts, tensor
counts, per-dtype counts and the largest tensor. Shapes are listed slowest dimension first, as
PyTorch shows them (GGUF stores the fastest first).
"""

import json
import os
import pathlib
from importlib.metadata import version

import gguf
import numpy as np
from safetensors import safe_open

GGUF_FILE = "models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
SAFETENSORS_FILE = "models/all-MiniLM-L6-v2/model.safetensors"


def assets():
    """The cache folder by the same rule as scripts/lib.sh."""
    if os.environ.get("SUPERLAB_CACHE"):
        base = pathlib.Path(os.environ["SUPERLAB_CACHE"])
    else:
        home = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
        base = pathlib.Path(home) / "superlab"
    return base / "assets"


def table(tensors):
    """tensors: (name, dtype name, shape) in file order."""
    counts = [int(np.prod(shape, dtype=np.int64)) for _, _, shape in tensors]
    dtypes = {}
    for (_, dtype, _), count in zip(tensors, counts):
        dtypes[dtype] = dtypes.get(dtype, 0) + count
    largest = max(counts)
    return {
        "parameters": sum(counts),
        "tensors": len(tensors),
        "dtypes": dict(sorted(dtypes.items())),
        "largest_elements": largest,
        "largest_names": sorted(n for (n, _, _), c in zip(tensors, counts) if c == largest),
    }


def gguf_table(path):
    reader = gguf.GGUFReader(path)
    tensors = [
        (t.name, t.tensor_type.name, [int(d) for d in reversed(t.shape.tolist())])
        for t in reader.tensors
    ]
    field = reader.fields["general.architecture"]
    architecture = bytes(field.parts[field.data[0]]).decode()
    return {**table(tensors), "architecture": architecture}


def safetensors_table(path):
    with safe_open(path, framework="numpy") as f:
        slices = [(name, f.get_slice(name)) for name in f.keys()]
    return table([(name, str(s.get_dtype()), s.get_shape()) for name, s in slices])


def main():
    root = assets()
    output = {
        "produced_by": f"tests/oracle/model_headers.py with gguf {version('gguf')} and "
        f"safetensors {version('safetensors')}",
        "models": {
            GGUF_FILE: gguf_table(root / GGUF_FILE),
            SAFETENSORS_FILE: safetensors_table(root / SAFETENSORS_FILE),
        },
    }
    print(json.dumps(output, indent=1))


if __name__ == "__main__":
    main()
