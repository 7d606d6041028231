"""Reference outputs of the real SmolLM2-135M-Instruct (the packaged Q4_1 GGUF file), as
Hugging Face transformers' LlamaForCausalLM computes them after loading the file with
`from_pretrained(folder, gguf_file=...)`, dequantised to float32 (eager attention).

For a chat-framed prompt (token ids from the tokenizer transformers builds from the file): per
position the log-sum-exp of the logits, the ten largest logits with their ids, and the logits
at 64 vocabulary entries drawn by SplitMix64; the final hidden states at the last position;
the mean next-token cross-entropy and summaries of its gradients for a few parameters (the
whole final norm, 64 drawn values, the largest magnitude and the norm); and 20 greedy tokens,
each by a full forward pass, with the smallest gap between the two largest logits along the way.
"""

import json
import sys

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

from _common import cache_dir, splitmix_u64

FOLDER = cache_dir() / "assets" / "models" / "SmolLM2-135M-Instruct"
FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
SEED = 2028
SAMPLED_LOGITS = 64
SAMPLED_GRADIENTS = 64
TOP = 10
NEW_TOKENS = 20
GRADIENTS = [
    "model.norm.weight",
    "model.embed_tokens.weight",
    "model.layers.0.self_attn.q_proj.weight",
    "model.layers.29.mlp.down_proj.weight",
]


def drawn(seed, count, size):
    return (splitmix_u64(seed, count) % np.uint64(size)).astype(np.int64)


def gradient_summary(name, gradient):
    flat = gradient.detach().flatten()
    at = drawn(SEED ^ len(name), SAMPLED_GRADIENTS, flat.numel())
    summary = {
        "at": at.tolist(),
        "values": flat[torch.from_numpy(at)].tolist(),
        "largest": float(flat.abs().max()),
        "norm": float(flat.double().norm()),
    }
    if flat.numel() <= 1024:
        summary["all"] = flat.tolist()
    return summary


def greedy(model, prompt):
    ids, margins = list(prompt), []
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            logits = model(torch.tensor([ids])).logits[0, -1]
            top = torch.topk(logits, 2).values
            margins.append(float(top[0] - top[1]))
            ids.append(int(logits.argmax()))
    return ids[len(prompt) :], min(margins)


def main():
    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(FOLDER, gguf_file=FILE_NAME)
    model = AutoModelForCausalLM.from_pretrained(
        FOLDER, gguf_file=FILE_NAME, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    tokens = tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    vocab = model.config.vocab_size
    output = model(torch.tensor([tokens]), output_hidden_states=True)
    logits = output.logits[0]
    at = drawn(SEED, SAMPLED_LOGITS, vocab)
    top = torch.topk(logits, TOP, dim=-1)
    loss = torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(tokens[1:]))
    loss.backward()
    parameters = dict(model.named_parameters())
    continuation, margin = greedy(model, tokens)
    fixture = {
        "produced_by": f"tests/oracle/smollm2.py with transformers {transformers.__version__}",
        "file": f"models/SmolLM2-135M-Instruct/{FILE_NAME}",
        "prompt": PROMPT,
        "tokens": tokens,
        "logits": {
            "log_sum_exp": torch.logsumexp(logits, dim=-1).tolist(),
            "top_ids": top.indices.tolist(),
            "top_values": top.values.tolist(),
            "at": at.tolist(),
            "values": logits[:, torch.from_numpy(at)].tolist(),
        },
        "last_hidden": output.hidden_states[-1][0, -1].tolist(),
        "loss": loss.item(),
        "gradients": {name: gradient_summary(name, parameters[name].grad) for name in GRADIENTS},
        "greedy": {
            "continuation": continuation,
            "text": tokenizer.decode(continuation),
            "smallest_top2_margin": margin,
        },
    }
    json.dump(fixture, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
