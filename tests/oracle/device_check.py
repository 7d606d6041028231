"""Reference numbers for the device check, computed by PyTorch.

The same MLP, data and Adam settings as src/selfcheck.rs, built independently in torch:
the SplitMix64 generator gives both the same weights and inputs, and everything else (matmul,
tanh, mean-squared error, autograd, torch.optim.Adam) is PyTorch's own.
"""

import json
import sys

import numpy as np
import torch

MASK = (1 << 64) - 1
CONFIG = {"samples": 32, "inputs": 8, "hidden": 16, "steps": 10, "learning_rate": 1e-2, "seed": 7}
ADAM_EPSILON = 1e-8


class SplitMix:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self, count, scale):
        """`count` float32 values uniform in [-scale, scale]; exact 24-bit units."""
        units = np.array([self.next() >> 40 for _ in range(count)], dtype=np.float32)
        units /= np.float32(1 << 24)
        return (np.float32(2.0) * units - np.float32(1.0)) * np.float32(scale)


def matrix(numbers, rows, cols):
    scale = np.float32(1.0) / np.sqrt(np.float32(rows))
    return torch.tensor(numbers.uniform(rows * cols, scale).reshape(rows, cols), requires_grad=True)


def vector(numbers, length):
    return torch.tensor(numbers.uniform(length, np.float32(0.1)), requires_grad=True)


def main():
    torch.set_num_threads(1)
    numbers = SplitMix(CONFIG["seed"])
    inputs, hidden = CONFIG["inputs"], CONFIG["hidden"]
    params = {
        "hidden_weight": matrix(numbers, inputs, hidden),
        "hidden_bias": vector(numbers, hidden),
        "output_weight": matrix(numbers, hidden, 1),
        "output_bias": vector(numbers, 1),
    }
    x = numbers.uniform(CONFIG["samples"] * inputs, np.float32(1.0)).reshape(-1, inputs)
    weights = np.array([i % 3 for i in range(inputs)], dtype=np.float64)
    y = np.sin(x.astype(np.float64) @ weights).astype(np.float32).reshape(-1, 1)
    x, y = torch.tensor(x), torch.tensor(y)

    optimizer = torch.optim.Adam(params.values(), lr=CONFIG["learning_rate"], eps=ADAM_EPSILON)
    losses, first_gradients = [], {}
    for step in range(CONFIG["steps"]):
        optimizer.zero_grad()
        h = torch.tanh(x @ params["hidden_weight"] + params["hidden_bias"])
        prediction = h @ params["output_weight"] + params["output_bias"]
        loss = ((prediction - y) ** 2).mean()
        loss.backward()
        if step == 0:
            first_gradients = {k: p.grad.flatten().tolist() for k, p in params.items()}
        losses.append(loss.item())
        optimizer.step()

    final = {k: p.detach().flatten().tolist() for k, p in params.items()}
    fixture = {
        "produced_by": "tests/oracle/device_check.py with torch " + torch.__version__,
        "config": CONFIG,
        "result": {"losses": losses, "first_gradients": first_gradients, "final_parameters": final},
    }
    json.dump(fixture, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
