"""Shared by the causal language model oracles (gpt2.py, llama.py, neox.py); not an oracle
itself.

Each case draws every weight of a transformers model with `named_uniform` under its checkpoint
name, so the lab rebuilds the same checkpoint from the fixture's list of names, shapes, scales
and offsets and loads it through its own safetensors reader. The forward pass, the loss and
autograd are transformers' and PyTorch's own.
"""

import numpy as np
import torch

from _common import named_uniform, splitmix_u64

BATCH, LENGTH = 2, 12
PROMPT, NEW_TOKENS = 5, 20


def draw_weights(named_parameters, seed, scale_and_offset):
    """Overwrites each parameter with its named draw and returns the fixture's description."""
    spec = []
    with torch.no_grad():
        for name, parameter in named_parameters:
            shape = list(parameter.shape)
            scale, offset = scale_and_offset(name, shape)
            parameter.copy_(torch.from_numpy(named_uniform(seed, name, shape, scale, offset)))
            spec.append({"name": name, "shape": shape, "scale": scale, "offset": offset})
    return spec


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


def case(model, config, parameters, spec, gradients, seed):
    """Logits, final hidden states, the next-token loss and its gradients for the parameters
    named in `gradients` (names as in `parameters`), and a greedy continuation."""
    tokens = (splitmix_u64(seed, BATCH * LENGTH) % np.uint64(config.vocab_size)).astype(np.int64)
    tokens = torch.from_numpy(tokens.reshape(BATCH, LENGTH))
    output = model(tokens, output_hidden_states=True)
    logits = output.logits
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, config.vocab_size), tokens[:, 1:].reshape(-1)
    )
    loss.backward()
    continuation, margin = greedy(model, tokens[0, :PROMPT].tolist())
    return {
        "config": config.to_diff_dict(),
        "weights": spec,
        "tokens": tokens.tolist(),
        "logits": logits.detach().flatten().tolist(),
        "hidden": output.hidden_states[-1].detach().flatten().tolist(),
        "loss": loss.item(),
        "gradients": {name: parameters[name].grad.flatten().tolist() for name in gradients},
        "greedy": {
            "prompt": tokens[0, :PROMPT].tolist(),
            "continuation": continuation,
            "smallest_top2_margin": margin,
        },
    }
