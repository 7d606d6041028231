"""One optimiser step of reward-model training on tiny random encoders, as PyTorch computes it:
the loss, the gradients of the head and of encoder parameters, and the parameters after the
step.

Each case is a plain encoder (transformers' `BertModel` or `DistilBertModel`, evaluation mode,
eager attention) with a linear head on the mean of its last hidden states over real tokens
(sentence-transformers' pooling formula), trained with the mean squared error on labels or the
Bradley-Terry loss `-log sigmoid(r_chosen - r_rejected)` on pairs, by `torch.optim.Adam` or
`torch.optim.AdamW` with eps 1e-8. A frozen case trains the head alone. Every weight is drawn
with `named_uniform` under its hub name (`reward_head.*` for the head), so the lab rebuilds the
checkpoint from the fixture's list of names, shapes and scales.

Adam's first step moves each parameter by `lr * g / (|g| + eps)`, about `lr * sign(g)`: rounding
in the gradient matters only where `|g|` is near eps or zero. Each case records the smallest
nonzero `|g|` of each tensor, so the test can show that none is. The head's bias is left out of
the Bradley-Terry cases: the loss depends on reward differences only, so its gradient is zero
up to rounding, and Adam would turn that rounding into a step of any sign.
"""

import json
import sys

import numpy as np
import torch
import transformers
from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel

from _common import named_uniform, splitmix_u64

SEED = 2026
PAD_ID = 0

BERT = dict(
    vocab_size=41,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=48,
    max_position_embeddings=24,
)
DISTILBERT = dict(
    vocab_size=41, max_position_embeddings=24, dim=32, n_layers=2, n_heads=4, hidden_dim=48
)

CASES = {
    "bert_regression": dict(
        model=BertModel,
        config=lambda: BertConfig(**BERT),
        lengths=[8, 3, 6, 8, 5],
        labels=[0.5, -1.0, 2.0, 0.25, -0.75],
        optimizer="adamw",
        learning_rate=1e-3,
        weight_decay=0.01,
        frozen=False,
        parameters=[
            "reward_head.weight",
            "reward_head.bias",
            "encoder.layer.0.attention.self.query.weight",
            "encoder.layer.1.output.LayerNorm.bias",
            "embeddings.word_embeddings.weight",
        ],
    ),
    "distilbert_bradley_terry": dict(
        model=DistilBertModel,
        config=lambda: DistilBertConfig(**DISTILBERT),
        # Pairs (0, 1), (2, 3), (4, 5): the first of each chosen.
        lengths=[7, 4, 9, 9, 2, 6],
        labels=None,
        optimizer="adam",
        learning_rate=1e-3,
        weight_decay=0.0,
        frozen=False,
        parameters=[
            "reward_head.weight",
            "transformer.layer.1.attention.v_lin.weight",
            "embeddings.LayerNorm.weight",
        ],
    ),
    "bert_regression_frozen": dict(
        model=BertModel,
        config=lambda: BertConfig(**BERT, hidden_act="gelu_new"),
        lengths=[4, 8, 8, 2],
        labels=[1.0, -0.5, 0.0, 0.75],
        optimizer="adamw",
        learning_rate=1e-2,
        weight_decay=0.1,
        frozen=True,
        parameters=["reward_head.weight", "reward_head.bias"],
    ),
    "distilbert_bradley_terry_frozen": dict(
        model=DistilBertModel,
        config=lambda: DistilBertConfig(**DISTILBERT, activation="relu"),
        lengths=[5, 9, 3, 7],
        labels=None,
        optimizer="adam",
        learning_rate=1e-2,
        # Adam's weight decay: an L2 term added to the gradient.
        weight_decay=0.05,
        frozen=True,
        parameters=["reward_head.weight"],
    ),
}


def scale_and_offset(name, shape):
    """Layer norms near 1, small biases, embeddings of unit scale, projections that keep
    activations of order one, and a head large enough that the encoder's gradients are too."""
    if "LayerNorm" in name or "layer_norm" in name:
        return (0.1, 1.0) if name.endswith("weight") else (0.1, 0.0)
    if name.endswith("bias"):
        return 0.05, 0.0
    if "embeddings" in name:
        return 1.0, 0.0
    return float(np.sqrt(3.0 / shape[1])), 0.0


def draw(named_parameters):
    spec = []
    with torch.no_grad():
        for name, parameter in named_parameters:
            shape = list(parameter.shape)
            scale, offset = scale_and_offset(name, shape)
            parameter.copy_(torch.from_numpy(named_uniform(SEED, name, shape, scale, offset)))
            spec.append({"name": name, "shape": shape, "scale": scale, "offset": offset})
    return spec


def batch(vocab_size, lengths, stream):
    """Token ids in 1..vocab (0 is the pad id), right-padded, with their attention mask."""
    longest = max(lengths)
    draws = splitmix_u64(SEED ^ stream, len(lengths) * longest)
    ids = (draws % np.uint64(vocab_size - 1) + np.uint64(1)).astype(np.int64)
    ids = ids.reshape(len(lengths), longest)
    mask = (np.arange(longest)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    return np.where(mask == 1, ids, PAD_ID), mask


def mean_pooled(hidden, mask):
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / torch.clamp(weights.sum(1), min=1e-9)


def smallest_magnitude(gradient):
    magnitudes = gradient.abs().flatten()
    nonzero = magnitudes[magnitudes > 0]
    return float(nonzero.min()) if len(nonzero) else 0.0


def one_step(index, case):
    config = case["config"]()
    config.architectures = [case["model"].__name__]
    config._attn_implementation = "eager"
    encoder = case["model"](config).train(False)
    head = torch.nn.Linear(encoder.config.hidden_size, 1)
    spec = draw(encoder.named_parameters())
    spec += draw((f"reward_head.{name}", p) for name, p in head.named_parameters())
    parameters = dict(encoder.named_parameters())
    parameters.update({f"reward_head.{n}": p for n, p in head.named_parameters()})
    if case["frozen"]:
        encoder.requires_grad_(False)

    ids, mask = batch(config.vocab_size, case["lengths"], index)
    ids, mask = torch.from_numpy(ids), torch.from_numpy(mask)
    hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    rewards = head(mean_pooled(hidden, mask)).squeeze(-1)
    if case["labels"] is not None:
        loss = torch.nn.functional.mse_loss(rewards, torch.tensor(case["labels"]))
    else:
        loss = -torch.nn.functional.logsigmoid(rewards[0::2] - rewards[1::2]).mean()
    loss.backward()

    trained = [p for p in parameters.values() if p.requires_grad]
    optimizer_class = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[case["optimizer"]]
    optimizer = optimizer_class(
        trained, lr=case["learning_rate"], eps=1e-8, weight_decay=case["weight_decay"]
    )
    names = case["parameters"]
    gradients = {n: parameters[n].grad.flatten().tolist() for n in names}
    smallest = {n: smallest_magnitude(parameters[n].grad) for n in names}
    optimizer.step()
    # An encoder parameter of a frozen case, to show that it did not move.
    unmoved = ["embeddings.LayerNorm.weight"] if case["frozen"] else []
    return {
        "config": config.to_diff_dict(),
        "weights": spec,
        "tokens": ids.tolist(),
        "mask": mask.tolist(),
        "labels": case["labels"],
        "optimizer": case["optimizer"],
        "learning_rate": case["learning_rate"],
        "weight_decay": case["weight_decay"],
        "frozen": case["frozen"],
        "rewards": rewards.detach().tolist(),
        "loss": loss.item(),
        "gradients": gradients,
        "smallest_gradient": smallest,
        "updated": {n: parameters[n].detach().flatten().tolist() for n in names},
        "unmoved": {n: parameters[n].detach().flatten().tolist() for n in unmoved},
    }


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    fixture = {
        "produced_by": f"tests/oracle/reward_training.py with torch {torch.__version__} and "
        f"transformers {transformers.__version__}",
        "seed": SEED,
        "cases": {name: one_step(i, case) for i, (name, case) in enumerate(CASES.items())},
    }
    json.dump(fixture, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
