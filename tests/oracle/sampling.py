"""Reference token filters for sampling: which tokens Hugging Face transformers' temperature,
top-k and top-p logits warpers (in that order, as `generate` applies them) keep, and the
probabilities of the kept tokens after renormalising.

The logits are drawn with `named_uniform` under the name `logits`, so the lab draws the same
ones; rows have 500 entries, which the lab's two-level draw pads to 23 blocks of 23.
"""

import json
import sys

import numpy as np
import torch
import transformers
from transformers.generation.logits_process import (
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from _common import named_uniform

SEED = 2027
ROWS, VOCAB = 6, 500
# Wide enough that top-p keeps a few dozen tokens rather than most of them.
LOGIT_SCALE = 6.0

# temperature, top_k (0: off), top_p (1: off)
SETTINGS = [
    (1.0, 0, 0.95),
    (0.7, 50, 1.0),
    (1.3, 20, 0.8),
    (1.0, 1, 1.0),
    (0.5, 0, 0.5),
    (2.0, 300, 0.99),
]


def filtered(logits, temperature, top_k, top_p):
    scores = TemperatureLogitsWarper(temperature)(None, logits.clone())
    if top_k > 0:
        scores = TopKLogitsWarper(top_k)(None, scores)
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p)(None, scores)
    probs = torch.softmax(scores, dim=-1)
    rows = []
    for row_scores, row_probs in zip(scores, probs):
        kept = torch.nonzero(torch.isfinite(row_scores)).flatten()
        rows.append({"kept": kept.tolist(), "probs": row_probs[kept].tolist()})
    return rows


def main():
    torch.set_num_threads(1)
    logits = torch.from_numpy(named_uniform(SEED, "logits", [ROWS, VOCAB], LOGIT_SCALE))
    fixture = {
        "produced_by": f"tests/oracle/sampling.py with transformers {transformers.__version__}",
        "seed": SEED,
        "rows": ROWS,
        "vocab": VOCAB,
        "logit_scale": LOGIT_SCALE,
        "cases": [
            {
                "temperature": temperature,
                "top_k": top_k,
                "top_p": top_p,
                "rows": filtered(logits, temperature, top_k, top_p),
            }
            for temperature, top_k, top_p in SETTINGS
        ],
    }
    json.dump(fixture, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
