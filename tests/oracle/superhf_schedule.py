"""Reference learning rates of SuperHF's schedule, from transformers'
`get_cosine_schedule_with_warmup` (linear warm-up, then half a cosine to 0), the schedule the
reference code trains with: the rate optimiser step k (from 0) runs at, for a few warm-up and
run lengths, read from the scheduler after k of its steps.
"""

import json
import sys

import torch
import transformers
from transformers import get_cosine_schedule_with_warmup

PEAK = 2e-4
# (warm-up steps, total optimiser steps); the rates run two steps past the end.
CASES = [(4, 32), (32, 100), (0, 10), (5, 5), (3, 1)]


def rates(warmup, total):
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=PEAK)
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, total)
    found = []
    for _ in range(total + 2):
        found.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return found


def main():
    torch.set_num_threads(1)
    fixture = {
        "produced_by": f"tests/oracle/superhf_schedule.py with transformers "
        f"{transformers.__version__}",
        "peak": PEAK,
        "cases": [
            {"warmup_steps": w, "total_steps": t, "learning_rates": rates(w, t)} for w, t in CASES
        ],
    }
    json.dump(fixture, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
