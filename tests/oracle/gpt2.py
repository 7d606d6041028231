"""Reference logits, loss gradients and greedy continuations of tiny GPT-2 models, computed by
Hugging Face transformers' GPT2LMHeadModel.

Every weight is drawn with `named_uniform` under its hub name (as the hub's `gpt2` checkpoint
names them, without the `transformer.` prefix), so the lab rebuilds the same checkpoint from the
fixture's list of names, shapes, scales and offsets and loads it through its own safetensors
reader. The forward pass, the loss and autograd are transformers' and PyTorch's own.
"""

import json
import sys

import numpy as np
import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

from _common import named_uniform, splitmix_u64

SEED = 2024
BATCH, LENGTH = 2, 12
PROMPT, NEW_TOKENS = 5, 20
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


def build(settings):
    config = GPT2Config(**settings, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    config._attn_implementation = "eager"
    model = GPT2LMHeadModel(config).eval()
    spec = []
    with torch.no_grad():
        for name, parameter in model.transformer.named_parameters():
            shape = list(parameter.shape)
            scale, offset = scale_and_offset(name, shape)
            parameter.copy_(torch.from_numpy(named_uniform(SEED, name, shape, scale, offset)))
            spec.append({"name": name, "shape": shape, "scale": scale, "offset": offset})
    return config, model, spec


def greedy(model, prompt):
    """Token by token with a full forward pass each time: no cache, no generation utilities."""
    ids, margins = list(prompt), []
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            logits = model(torch.tensor([ids])).logits[0, -1]
            top = torch.topk(logits, 2).values
            margins.append(float(top[0] - top[1]))
            ids.append(int(logits.argmax()))
    return ids[len(prompt) :], min(margins)


def case(settings):
    config, model, spec = build(settings)
    tokens = (splitmix_u64(SEED, BATCH * LENGTH) % np.uint64(config.vocab_size)).astype(np.int64)
    tokens = torch.from_numpy(tokens.reshape(BATCH, LENGTH))
    logits = model(tokens).logits
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, config.vocab_size), tokens[:, 1:].reshape(-1)
    )
    loss.backward()
    parameters = dict(model.transformer.named_parameters())
    continuation, margin = greedy(model, tokens[0, :PROMPT].tolist())
    return {
        "config": config.to_diff_dict(),
        "weights": spec,
        "tokens": tokens.tolist(),
        "logits": logits.detach().flatten().tolist(),
        "loss": loss.item(),
        "gradients": {name: parameters[name].grad.flatten().tolist() for name in GRADIENTS},
        "greedy": {
            "prompt": tokens[0, :PROMPT].tolist(),
            "continuation": continuation,
            "smallest_top2_margin": margin,
        },
    }


def main():
    torch.set_num_threads(1)
    fixture = {
        "produced_by": f"tests/oracle/gpt2.py with transformers {transformers.__version__}",
        "seed": SEED,
        "cases": {name: case(settings) for name, settings in CASES.items()},
    }
    json.dump(fixture, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
