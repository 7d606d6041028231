"""Reference rewards of reward models on tiny random causal language models: transformers'
`GPT2ForSequenceClassification`, `GPTNeoXForSequenceClassification` and
`LlamaForSequenceClassification` with one label (a `score` head without bias on the final
hidden state of each sequence's last token that is not padding), eager attention, on a
right-padded batch with its attention mask.

Every weight is drawn with `named_uniform` under the checkpoint's own name
(`transformer.h.0...`, `gpt_neox.layers.0...`, `model.layers.0...`, `score.weight`), so the lab
rebuilds the checkpoint from the fixture's list of names, shapes and scales. The fixture also
keeps the final hidden states, and the positions transformers read the rewards from.
"""

import json
import sys

import numpy as np
import torch
import transformers
from transformers import (
    GPT2Config,
    GPT2ForSequenceClassification,
    GPTNeoXConfig,
    GPTNeoXForSequenceClassification,
    LlamaConfig,
    LlamaForSequenceClassification,
)

from _common import named_uniform, splitmix_u64

SEED = 2027
PAD_ID = 0
LENGTHS = [7, 12, 4]

CASES = {
    "gpt2": (
        GPT2ForSequenceClassification,
        GPT2Config(
            vocab_size=67, n_positions=32, n_embd=32, n_layer=2, n_head=4,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        ),
    ),
    "gpt_neox": (
        GPTNeoXForSequenceClassification,
        GPTNeoXConfig(
            vocab_size=67, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=48, max_position_embeddings=32, rotary_pct=0.5,
        ),
    ),
    "llama": (
        LlamaForSequenceClassification,
        LlamaConfig(
            vocab_size=67, hidden_size=48, intermediate_size=40, num_hidden_layers=2,
            num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=32,
            rms_norm_eps=1e-5, rope_theta=10000.0,
        ),
    ),
}


def scale_and_offset(name, shape):
    """Norms near 1, small biases, embeddings of scale 0.5 and projections that keep the hidden
    states of order one (fan-in is the second size of `nn.Linear` weights and the first of
    GPT-2's `Conv1D`)."""
    if name.split(".")[-2] in ("ln_1", "ln_2", "ln_f") or "norm" in name:
        return (0.1, 1.0) if name.endswith("weight") else (0.1, 0.0)
    if name.endswith("bias"):
        return 0.05, 0.0
    if "wte" in name or "wpe" in name or "embed" in name:
        return 0.5, 0.0
    fan_in = shape[0] if name.startswith("transformer.h.") else shape[1]
    return float(np.sqrt(3.0 / fan_in)), 0.0


def reward_case(index, model_class, config):
    config.num_labels = 1
    config.pad_token_id = PAD_ID
    config.architectures = [model_class.__name__]
    config._attn_implementation = "eager"
    model = model_class(config).eval()
    spec = []
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            shape = list(parameter.shape)
            scale, offset = scale_and_offset(name, shape)
            parameter.copy_(torch.from_numpy(named_uniform(SEED, name, shape, scale, offset)))
            spec.append({"name": name, "shape": shape, "scale": scale, "offset": offset})

    longest = max(LENGTHS)
    draws = splitmix_u64(SEED ^ index, len(LENGTHS) * longest)
    ids = (draws % np.uint64(config.vocab_size - 1) + np.uint64(1)).astype(np.int64)
    mask = (np.arange(longest)[None, :] < np.array(LENGTHS)[:, None]).astype(np.int64)
    ids = np.where(mask == 1, ids.reshape(len(LENGTHS), longest), PAD_ID)
    ids, mask = torch.from_numpy(ids), torch.from_numpy(mask)
    with torch.no_grad():
        output = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    # The position transformers reads: the right-most token that is not the padding id.
    positions = torch.arange(longest)
    last = (positions * (ids != PAD_ID)).argmax(-1)
    return {
        "config": config.to_diff_dict(),
        "weights": spec,
        "tokens": ids.tolist(),
        "mask": mask.tolist(),
        "last_positions": last.tolist(),
        "hidden": output.hidden_states[-1].flatten().tolist(),
        "rewards": output.logits[:, 0].tolist(),
    }


def main():
    torch.set_num_threads(1)
    fixture = {
        "produced_by": f"tests/oracle/causal_reward.py with transformers {transformers.__version__}",
        "seed": SEED,
        "cases": {
            name: reward_case(i, model_class, config)
            for i, (name, (model_class, config)) in enumerate(CASES.items())
        },
    }
    json.dump(fixture, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
