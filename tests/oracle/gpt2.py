"""Reference logits, final hidden states, loss gradients and greedy continuations of tiny GPT-2
models, computed by Hugging Face transformers' GPT2LMHeadModel.

Weights are named as the hub's `gpt2` checkpoint names them, without the `transformer.` prefix
(see `_causal_lm.py` for how they are drawn and what each case holds).
"""

import json
import sys

import numpy as np
import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

from _causal_lm import case, draw_weights

SEED = 2024
# The parameters whose loss gradients the fixture keeps (all would make it needlessly large).
GRADIENTS = ["wte.weight", "wpe.weight", "h.0.attn.c_attn.weight", "h.1.mlp.c_fc.bias", "ln_f.weight"]

CASES = {
    "gelu_new": dict(vocab_size=97, n_positions=32, n_embd=32, n_layer=2, n_head=4),
    "gelu_inner_scaled": dict(
        vocab_size=61,
        n_positions=32,
        n_embd=24,
        n_layer=2,
        n_head=3,
        n_inner=40,
        activation_function="gelu",
        scale_attn_by_inverse_layer_idx=True,
        layer_norm_epsilon=1e-6,
    ),
}


def scale_and_offset(name, shape):
    """Layer norms near 1, small biases, and matrices large enough that greedy decoding moves
    between tokens with clear margins rather than repeating one."""
    if ".ln_" in name or name.startswith("ln_"):
        return (0.1, 1.0) if name.endswith("weight") else (0.1, 0.0)
    if name.endswith("bias"):
        return 0.05, 0.0
    if name in ("wte.weight", "wpe.weight"):
        return 0.5, 0.0
    return float(3.0 / np.sqrt(shape[0])), 0.0


def gpt2_case(settings):
    config = GPT2Config(**settings, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    config._attn_implementation = "eager"
    model = GPT2LMHeadModel(config).eval()
    parameters = dict(model.transformer.named_parameters())
    spec = draw_weights(parameters.items(), SEED, scale_and_offset)
    return case(model, config, parameters, spec, GRADIENTS, SEED)


def main():
    torch.set_num_threads(1)
    fixture = {
        "produced_by": f"tests/oracle/gpt2.py with transformers {transformers.__version__}",
        "seed": SEED,
        "cases": {name: gpt2_case(settings) for name, settings in CASES.items()},
    }
    json.dump(fixture, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
