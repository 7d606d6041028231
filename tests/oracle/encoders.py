"""Reference hidden states, logits, rewards and loss gradients of tiny BERT and DistilBERT
models with their sequence-classification heads, and of encoders with a linear reward head on
mean-pooled hidden states, computed by Hugging Face transformers and PyTorch.

Every weight is drawn with `named_uniform` under its hub name (`bert.encoder.layer.0...` for a
classifier, bare names for a plain encoder, `reward_head.*` for the scalar head), so the lab
rebuilds the same checkpoint from the fixture's list of names, shapes, scales and offsets and
loads it through its own safetensors reader. Batches are right-padded with the pad id 0 and an
attention mask. Forward passes, losses and autograd are transformers' and PyTorch's own; the
mean pooling is sentence-transformers' formula (sum over the mask / clamp(count, 1e-9)).
"""

import json
import sys

import numpy as np
import torch
import transformers
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    DistilBertModel,
)

from _common import named_uniform, splitmix_u64

SEED = 2025
PAD_ID = 0

BERT_SIZES = dict(
    vocab_size=53,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=48,
    max_position_embeddings=24,
)
DISTILBERT_SIZES = dict(
    vocab_size=53, max_position_embeddings=24, dim=32, n_layers=2, n_heads=4, hidden_dim=48
)

BERT_GRADIENTS = [
    "bert.embeddings.word_embeddings.weight",
    "bert.embeddings.token_type_embeddings.weight",
    "bert.encoder.layer.0.attention.self.query.weight",
    "bert.encoder.layer.1.intermediate.dense.bias",
    "bert.encoder.layer.1.output.LayerNorm.weight",
    "bert.pooler.dense.weight",
    "classifier.weight",
    "classifier.bias",
]
DISTILBERT_GRADIENTS = [
    "distilbert.embeddings.position_embeddings.weight",
    "distilbert.transformer.layer.0.attention.k_lin.weight",
    "distilbert.transformer.layer.0.sa_layer_norm.bias",
    "distilbert.transformer.layer.1.ffn.lin1.weight",
    "pre_classifier.weight",
    "classifier.weight",
]

# Each case: the model class, its configuration, the sequence lengths of the right-padded
# batch, whether BERT token types are given, and the labels of transformers' own loss (class
# indices; floats for a one-label head, whose loss is the mean squared error).
CLASSIFIERS = {
    "bert_sentiment": dict(
        model=BertForSequenceClassification,
        config=BertConfig(**BERT_SIZES, id2label={0: "NEGATIVE", 1: "POSITIVE"}),
        lengths=[9, 5, 7],
        token_types=True,
        labels=[1, 0, 1],
        gradients=BERT_GRADIENTS,
    ),
    "bert_single_label": dict(
        model=BertForSequenceClassification,
        # An epsilon large enough to change the normalised values well beyond the tolerance.
        config=BertConfig(
            **BERT_SIZES, num_labels=1, hidden_act="gelu_new", layer_norm_eps=0.1
        ),
        lengths=[4, 8, 8, 2],
        token_types=False,
        labels=[0.5, -1.0, 2.0, 0.0],
        gradients=BERT_GRADIENTS[:1] + BERT_GRADIENTS[2:],
    ),
    "distilbert_sentiment": dict(
        model=DistilBertForSequenceClassification,
        # The positive label first, unlike the hub's sentiment models, so that the reward
        # must follow id2label.
        config=DistilBertConfig(**DISTILBERT_SIZES, id2label={0: "POSITIVE", 1: "NEGATIVE"}),
        lengths=[6, 10, 3],
        token_types=False,
        labels=[0, 1, 1],
        gradients=DISTILBERT_GRADIENTS,
    ),
    "distilbert_relu": dict(
        model=DistilBertForSequenceClassification,
        config=DistilBertConfig(
            **DISTILBERT_SIZES, activation="relu", id2label={0: "neg", 1: "pos"}
        ),
        lengths=[7, 7],
        token_types=False,
        labels=[0, 1],
        gradients=DISTILBERT_GRADIENTS,
    ),
}

# Plain encoders with a linear scalar head on the mean of the hidden states over real tokens,
# trained with the Bradley-Terry loss on the pairs (0, 1), (2, 3): the first of each preferred.
POOLED = {
    "bert_pooled": dict(
        model=BertModel,
        config=BertConfig(**BERT_SIZES, hidden_act="relu"),
        lengths=[8, 3, 6, 8],
        gradients=[
            "reward_head.weight",
            "reward_head.bias",
            "embeddings.word_embeddings.weight",
            "encoder.layer.0.attention.self.value.weight",
            "encoder.layer.1.attention.output.LayerNorm.weight",
        ],
    ),
    "distilbert_pooled": dict(
        model=DistilBertModel,
        config=DistilBertConfig(**DISTILBERT_SIZES),
        lengths=[5, 9, 9, 2],
        gradients=[
            "reward_head.weight",
            "transformer.layer.1.attention.q_lin.weight",
            "embeddings.LayerNorm.weight",
        ],
    ),
}


def scale_and_offset(name, shape):
    """Layer norms near 1, small biases, embeddings of unit scale, and projections that keep
    activations of order one (uniform with the variance 1 / fan-in)."""
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


def build(model_class, config):
    config.architectures = [model_class.__name__]
    config._attn_implementation = "eager"
    model = model_class(config).train(False)
    spec = draw(model.named_parameters())
    return model, spec


def batch(config, lengths, token_types, stream):
    """Token ids in 1..vocab (0 is the pad id), right-padded, with their attention mask."""
    longest = max(lengths)
    draws = splitmix_u64(SEED ^ stream, len(lengths) * longest)
    ids = (draws % np.uint64(config.vocab_size - 1) + np.uint64(1)).astype(np.int64)
    ids = ids.reshape(len(lengths), longest)
    mask = (np.arange(longest)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    ids = np.where(mask == 1, ids, PAD_ID)
    types = None
    if token_types:
        # The second segment starts halfway through each sequence.
        halves = (np.array(lengths) // 2)[:, None]
        types = ((np.arange(longest)[None, :] >= halves) & (mask == 1)).astype(np.int64)
    return ids, mask, types


def gradients(model, names):
    parameters = dict(model.named_parameters())
    return {name: parameters[name].grad.flatten().tolist() for name in names}


def reward_from_logits(config, logits):
    """One label: its logit. Two: the logit of the label named positive minus the one named
    negative (whichever indices id2label gives them)."""
    if config.num_labels == 1:
        return logits[:, 0]
    names = {label.lower(): index for index, label in config.id2label.items()}
    positive = names.get("positive", names.get("pos"))
    negative = names.get("negative", names.get("neg"))
    return logits[:, positive] - logits[:, negative]


def classifier_case(index, case):
    config = case["config"]
    model, spec = build(case["model"], config)
    ids, mask, types = batch(config, case["lengths"], case["token_types"], index)
    inputs = dict(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
    if types is not None:
        inputs["token_type_ids"] = torch.from_numpy(types)
    labels = torch.tensor(case["labels"])
    output = model(**inputs, labels=labels, output_hidden_states=True)
    output.loss.backward()
    return {
        "config": config.to_diff_dict(),
        "weights": spec,
        "tokens": ids.tolist(),
        "mask": mask.tolist(),
        "token_types": None if types is None else types.tolist(),
        "hidden": output.hidden_states[-1].detach().flatten().tolist(),
        "logits": output.logits.detach().flatten().tolist(),
        "rewards": reward_from_logits(config, output.logits.detach()).tolist(),
        "labels": case["labels"],
        "loss": output.loss.item(),
        "gradients": gradients(model, case["gradients"]),
    }


def mean_pooled(hidden, mask):
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / torch.clamp(weights.sum(1), min=1e-9)


def pooled_case(index, case):
    config = case["config"]
    model, spec = build(case["model"], config)
    head = torch.nn.Linear(model.config.hidden_size, 1)
    spec += draw((f"reward_head.{name}", p) for name, p in head.named_parameters())
    ids, mask, _ = batch(config, case["lengths"], False, 100 + index)
    hidden = model(
        input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
    ).last_hidden_state
    rewards = head(mean_pooled(hidden, torch.from_numpy(mask))).squeeze(-1)
    loss = -torch.nn.functional.logsigmoid(rewards[0::2] - rewards[1::2]).mean()
    loss.backward()
    parameters = dict(model.named_parameters())
    parameters.update({f"reward_head.{n}": p for n, p in head.named_parameters()})
    return {
        "config": config.to_diff_dict(),
        "weights": spec,
        "tokens": ids.tolist(),
        "mask": mask.tolist(),
        "hidden": hidden.detach().flatten().tolist(),
        "rewards": rewards.detach().tolist(),
        "loss": loss.item(),
        "gradients": {n: parameters[n].grad.flatten().tolist() for n in case["gradients"]},
    }


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    fixture = {
        "produced_by": f"tests/oracle/encoders.py with transformers {transformers.__version__}",
        "seed": SEED,
        "classifiers": {
            name: classifier_case(i, case) for i, (name, case) in enumerate(CLASSIFIERS.items())
        },
        "pooled": {name: pooled_case(i, case) for i, (name, case) in enumerate(POOLED.items())},
    }
    json.dump(fixture, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
