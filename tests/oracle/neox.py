"""Reference logits, final hidden states, loss gradients and greedy continuations of tiny
GPT-NeoX models, computed by Hugging Face transformers' GPTNeoXForCausalLM (eager attention).

Weights are named as Pythia's checkpoints name them: `gpt_neox.layers.N.attention.
query_key_value.weight`, ..., and `embed_out.weight` (see `_causal_lm.py` for how they are drawn
and what each case holds).
"""

import json
import sys

import numpy as np
import torch
import transformers
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from _causal_lm import case, draw_weights

SEED = 12

CASES = {
    # Pythia's arrangement: parallel residual, a quarter of each head's features rotating.
    "parallel": dict(
        vocab_size=83,
        hidden_size=48,
        num_hidden_layers=3,
        num_attention_heads=3,
        intermediate_size=64,
        rotary_pct=0.25,
        max_position_embeddings=64,
    ),
    # The sequential residual, half the features rotating, another base, no attention biases.
    "sequential": dict(
        vocab_size=67,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=80,
        hidden_act="gelu_new",
        rotary_pct=0.5,
        rotary_emb_base=1000,
        max_position_embeddings=40,
        layer_norm_eps=1e-6,
        use_parallel_residual=False,
        attention_bias=False,
    ),
}

GRADIENTS = [
    "gpt_neox.embed_in.weight",
    "gpt_neox.layers.0.attention.query_key_value.weight",
    "gpt_neox.layers.1.input_layernorm.weight",
    "gpt_neox.layers.1.mlp.dense_h_to_4h.bias",
    "gpt_neox.final_layer_norm.bias",
    "embed_out.weight",
]
# Only in the case whose configuration has it.
GRADIENTS_BIAS = ["gpt_neox.layers.0.attention.query_key_value.bias"]


def scale_and_offset(name, shape):
    """Layer norms near 1, small biases, and matrices large enough that greedy decoding moves
    between tokens with clear margins rather than repeating one (nn.Linear stores
    `[out, in]`, so the fan-in is the second size)."""
    if "layernorm" in name or "layer_norm" in name:
        return (0.1, 1.0) if name.endswith("weight") else (0.1, 0.0)
    if name.endswith("bias"):
        return 0.05, 0.0
    if name in ("gpt_neox.embed_in.weight", "embed_out.weight"):
        return 0.5, 0.0
    return float(3.0 / np.sqrt(shape[1])), 0.0


def neox_case(settings):
    config = GPTNeoXConfig(**settings, hidden_dropout=0.0, attention_dropout=0.0)
    config._attn_implementation = "eager"
    model = GPTNeoXForCausalLM(config).eval()
    parameters = dict(model.named_parameters())
    spec = draw_weights(parameters.items(), SEED, scale_and_offset)
    gradients = GRADIENTS + [name for name in GRADIENTS_BIAS if name in parameters]
    return case(model, config, parameters, spec, gradients, SEED)


def main():
    torch.set_num_threads(1)
    fixture = {
        "produced_by": f"tests/oracle/neox.py with transformers {transformers.__version__}",
        "seed": SEED,
        "cases": {name: neox_case(settings) for name, settings in CASES.items()},
    }
    json.dump(fixture, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
