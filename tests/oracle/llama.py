"""Reference logits, final hidden states, loss gradients and greedy continuations of tiny Llama
models, computed by Hugging Face transformers' LlamaForCausalLM (eager attention).

Weights are named as `LlamaForCausalLM` checkpoints (SmolLM2, TinyLlama) name them:
`model.layers.N.self_attn.q_proj.weight`, ..., and `lm_head.weight` unless the output projection
is tied to the embedding (see `_causal_lm.py` for how they are drawn and what each case holds).
"""

import json
import sys

import numpy as np
import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

from _causal_lm import case, draw_weights

SEED = 2025

CASES = {
    # SmolLM2's shape in small: grouped-query attention (3 query heads per key-value head) and
    # the output projection tied to the embedding.
    "gqa_tied": dict(
        vocab_size=89,
        hidden_size=48,
        intermediate_size=40,
        num_hidden_layers=2,
        num_attention_heads=6,
        num_key_value_heads=2,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        rope_theta=100000.0,
        tie_word_embeddings=True,
    ),
    # An lm_head of its own, biases in attention and MLP, and heads wider than
    # hidden_size / num_attention_heads.
    "untied_bias_head_dim": dict(
        vocab_size=71,
        hidden_size=40,
        intermediate_size=56,
        num_hidden_layers=2,
        num_attention_heads=4,
        head_dim=12,
        max_position_embeddings=48,
        rope_theta=500.0,
        tie_word_embeddings=False,
        attention_bias=True,
        mlp_bias=True,
    ),
}

GRADIENTS = [
    "model.embed_tokens.weight",
    "model.layers.0.self_attn.q_proj.weight",
    "model.layers.0.self_attn.k_proj.weight",
    "model.layers.0.input_layernorm.weight",
    "model.layers.1.mlp.gate_proj.weight",
    "model.norm.weight",
]
# Only in the case whose configuration has them.
GRADIENTS_UNTIED_BIAS = [
    "lm_head.weight",
    "model.layers.0.self_attn.v_proj.bias",
    "model.layers.1.mlp.down_proj.bias",
]


def scale_and_offset(name, shape):
    """RMS norms near 1, small biases, and matrices large enough that greedy decoding moves
    between tokens with clear margins rather than repeating one (nn.Linear stores
    `[out, in]`, so the fan-in is the second size)."""
    if name.endswith("norm.weight"):
        return 0.1, 1.0
    if name.endswith("bias"):
        return 0.05, 0.0
    if name in ("model.embed_tokens.weight", "lm_head.weight"):
        return 0.5, 0.0
    return float(3.0 / np.sqrt(shape[1])), 0.0


def llama_case(settings):
    config = LlamaConfig(**settings)
    config._attn_implementation = "eager"
    model = LlamaForCausalLM(config).eval()
    # Tied parameters appear once, under the embedding's name, as in the hub's checkpoints.
    parameters = dict(model.named_parameters())
    spec = draw_weights(parameters.items(), SEED, scale_and_offset)
    gradients = GRADIENTS + [name for name in GRADIENTS_UNTIED_BIAS if name in parameters]
    return case(model, config, parameters, spec, gradients, SEED)


def main():
    torch.set_num_threads(1)
    fixture = {
        "produced_by": f"tests/oracle/llama.py with transformers {transformers.__version__}",
        "seed": SEED,
        "cases": {name: llama_case(settings) for name, settings in CASES.items()},
    }
    json.dump(fixture, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
