"""Reference readings of GGUF files by llama.cpp's own Python reader (`gguf`) and by
transformers' GGUF loader.

Two files:

- the packaged SmolLM2-135M-Instruct (Q4_1, with Q8_0 embeddings and F32 norms): its layout
  (header, where the metadata, tensor descriptions and data start), its metadata, every
  tensor's description and dequantised values as `gguf.quants.dequantize` computes them; then
  the Hugging Face configuration and state dict that `transformers` builds from it
  (`from_pretrained(folder, gguf_file=...)`, which also undoes llama.cpp's reordering of the
  query and key rows);
- a small file written here with `gguf.GGUFWriter`: metadata of every value type, a custom
  alignment, and tensors of the types F32, F16, BF16, Q4_0, Q4_1 and Q8_0 quantised by
  `gguf.quants.quantize` from values drawn with `named_uniform`. The file itself goes into the
  fixture (as hex, a few kilobytes) with the reader's metadata and dequantised values.

Values are summarised so the fixture stays small: for each tensor a checksum of all its values
(`checksum` below, which the lab computes the same way, so every value is compared exactly),
sums, and values at positions drawn by SplitMix64.
"""

import json
import os
import pathlib
import sys
import tempfile
from importlib.metadata import version as package_version

import gguf
import numpy as np
import torch
import transformers
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V
from transformers import AutoConfig, AutoModelForCausalLM

from _common import cache_dir, fnv1a64, named_uniform, splitmix_u64

SEED = 4021
SAMPLES = 8
FOLDER = cache_dir() / "assets" / "models" / "SmolLM2-135M-Instruct"
FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Arrays longer than this are summarised by their length and a hash of their elements.
LONGEST_LISTED_ARRAY = 16
# The Hugging Face configuration values a GGUF file determines.
CONFIG_KEYS = [
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "max_position_embeddings",
    "rope_theta",
    "rms_norm_eps",
    "hidden_act",
    "tie_word_embeddings",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "model_type",
]


def checksum(values: np.ndarray) -> str:
    """The sum over i of `bits(values[i]) * (i + 1)` modulo 2**64, as 16 hex digits: equal
    only when every value is bit for bit equal, in the same place."""
    bits = np.ascontiguousarray(values, dtype=np.float32).reshape(-1).view(np.uint32)
    weights = np.arange(1, bits.size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return f"{int(np.sum(bits.astype(np.uint64) * weights, dtype=np.uint64)):016x}"


def summary(name: str, values: np.ndarray) -> dict:
    flat = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    positions = (splitmix_u64(SEED ^ fnv1a64(name.encode()), SAMPLES) % np.uint64(flat.size)).astype(np.int64)
    wide = flat.astype(np.float64)
    return {
        "checksum": checksum(flat),
        "sum": float(wide.sum()),
        "sum_abs": float(np.abs(wide).sum()),
        "sum_squares": float((wide * wide).sum()),
        "positions": positions.tolist(),
        "values": [float(v) for v in flat[positions]],
    }


def element_bytes(value, element_type) -> bytes:
    """The canonical bytes of one array element for `array_hash`."""
    if element_type == V.STRING:
        return value.encode() + b"\0"
    if element_type in (V.FLOAT32, V.FLOAT64):
        return np.float64(value).tobytes()
    if element_type == V.BOOL:
        return bytes([int(bool(value))])
    return int(value).to_bytes(8, "little", signed=True)


def array_hash(values, element_type) -> str:
    return f"{fnv1a64(b''.join(element_bytes(v, element_type) for v in values)):016x}"


def field_value(field):
    """A metadata value as JSON: scalars and strings as they are, short arrays listed, long
    arrays as their length and hash."""
    main = field.types[0]
    if main != V.ARRAY:
        value = field.contents()
        return float(value) if main in (V.FLOAT32, V.FLOAT64) else value
    element_type = field.types[-1]
    values = field.contents()
    if element_type in (V.FLOAT32, V.FLOAT64):
        values = [float(v) for v in values]
    if len(values) <= LONGEST_LISTED_ARRAY:
        return {"elements": values}
    return {"length": len(values), "hash": array_hash(values, element_type)}


def read_with_gguf(path, *, dequantised_in_full=False):
    reader = gguf.GGUFReader(path)
    metadata = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        metadata[key] = {"types": [V(t).name for t in field.types], "value": field_value(field)}
    tensors = []
    for tensor in reader.tensors:
        values = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        entry = {
            "name": tensor.name,
            "type": tensor.tensor_type.name,
            "dims": [int(d) for d in tensor.shape],
            "data_offset": int(tensor.data_offset),
            "summary": summary(tensor.name, values),
        }
        if dequantised_in_full:
            entry["values"] = [float(v) for v in values.reshape(-1)]
        tensors.append(entry)
    header = {key: int(reader.fields[key].contents()) for key in ("GGUF.version", "GGUF.tensor_count", "GGUF.kv_count")}
    keys = [field for key, field in reader.fields.items() if not key.startswith("GGUF.")]
    layout = {
        "file_length": os.path.getsize(path),
        "metadata_start": int(keys[0].offset),
        "tensor_infos_start": int(reader.tensors[0].field.offset),
        "data_start": int(reader.data_offset),
        "alignment": int(reader.alignment),
    }
    return {"header": header, "layout": layout, "metadata": metadata, "tensors": tensors}


def transformers_reading():
    config = AutoConfig.from_pretrained(FOLDER, gguf_file=FILE_NAME)
    model = AutoModelForCausalLM.from_pretrained(FOLDER, gguf_file=FILE_NAME, dtype=torch.float32)
    state = model.state_dict()
    if config.tie_word_embeddings:
        assert state["lm_head.weight"].data_ptr() == state["model.embed_tokens.weight"].data_ptr()
        del state["lm_head.weight"]
    tensors = [
        {"name": name, "shape": list(tensor.shape), "summary": summary(name, tensor.numpy())}
        for name, tensor in sorted(state.items())
    ]
    return {"config": {key: getattr(config, key) for key in CONFIG_KEYS}, "tensors": tensors}


SYNTHETIC_TENSORS = [
    # name, type, shape in PyTorch's order (the last dimension is a row), scale
    ("values.f32", Q.F32, [3, 40], 2.0),
    ("values.f16", Q.F16, [2, 3, 16], 1.5),
    ("values.bf16", Q.BF16, [5, 24], 3.0),
    ("values.q4_0", Q.Q4_0, [4, 64], 1.0),
    ("values.q4_1", Q.Q4_1, [3, 96], 0.5),
    ("values.q8_0", Q.Q8_0, [96], 4.0),
]


def write_synthetic(path):
    writer = gguf.GGUFWriter(path, arch="synthetic")
    writer.add_custom_alignment(64)
    writer.add_uint8("test.u8", 250)
    writer.add_int8("test.i8", -100)
    writer.add_uint16("test.u16", 65000)
    writer.add_int16("test.i16", -32000)
    writer.add_uint32("test.u32", 4_000_000_000)
    writer.add_int32("test.i32", -2_000_000_000)
    writer.add_uint64("test.u64", 18_000_000_000_000_000_000)
    writer.add_int64("test.i64", -9_000_000_000_000_000_000)
    writer.add_float32("test.f32", 0.1)
    writer.add_float64("test.f64", -2.718281828459045)
    writer.add_bool("test.bool", True)
    writer.add_string("test.string", "grüße, 世界 🦀\nline two")
    # (add_string skips an empty string; add_key_value writes it. The writer refuses empty arrays.)
    writer.add_key_value("test.empty", "", V.STRING)
    writer.add_key_value("test.array.u8", [0, 7, 255], V.ARRAY, sub_type=V.UINT8)
    writer.add_key_value("test.array.i16", [-3, 0, 3000], V.ARRAY, sub_type=V.INT16)
    writer.add_key_value("test.array.i64", [-(2**62), 5], V.ARRAY, sub_type=V.INT64)
    writer.add_key_value("test.array.f64", [0.5, -1e-300], V.ARRAY, sub_type=V.FLOAT64)
    writer.add_array("test.array.i32", list(range(-20, 20)))
    writer.add_array("test.array.f32", [1.5, -0.25, 3.0e38])
    writer.add_array("test.array.bool", [True, False, True])
    writer.add_array("test.array.string", ["alpha", "", "γ δ"])
    for name, qtype, shape, scale in SYNTHETIC_TENSORS:
        values = named_uniform(SEED, name, shape, scale)
        writer.add_tensor(name, gguf.quants.quantize(values, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def synthetic():
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "synthetic.gguf"
        write_synthetic(path)
        reading = read_with_gguf(path, dequantised_in_full=True)
        reading["file_hex"] = path.read_bytes().hex()
    return reading


def main():
    torch.set_num_threads(1)
    fixture = {
        "produced_by": (
            f"tests/oracle/gguf_reader.py with gguf {package_version('gguf')} and transformers "
            f"{transformers.__version__}"
        ),
        "seed": SEED,
        "smollm2": {
            "file": FILE_NAME,
            "gguf": read_with_gguf(FOLDER / FILE_NAME),
            "transformers": transformers_reading(),
        },
        "synthetic": synthetic(),
    }
    json.dump(fixture, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
