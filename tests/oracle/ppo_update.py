"""One PPO update of a tiny GPT-2 policy with a value head, computed independently in PyTorch:
old log-probabilities and values, the reference model's log-probabilities, per-token rewards
with the KL penalty and the whitened score at the last token, generalised advantages (whitened
over the batch), then two epochs of two minibatches with the clipped policy loss and the
clipped value loss, each followed by an optimiser step.

The policy, the value head and the reference model (a second policy drawn from another seed)
take their weights from `named_uniform` (see `_common.py`), so the lab rebuilds them from the
fixture. Two optimisers: plain SGD, whose updated parameters the lab must reproduce, and Adam,
whose step losses it must reproduce (Adam's normalisation turns rounding noise in gradients
near zero into full-size steps, so its parameters are compared only through the losses).
Also SuperHF's KL of the batch under the initial policy, which a PPO run reports as `kl`.
"""

import json
import sys

import numpy as np
import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

from _causal_lm import draw_weights
from _common import named_uniform, splitmix_u64

SEED, REFERENCE_SEED = 77, 78
CONFIG = dict(vocab_size=53, n_positions=16, n_embd=16, n_layer=2, n_head=2)
PROMPT_LENGTHS = [3, 3, 4, 2]
ROW_LENGTHS = [7, 6, 8, 5]
SETTINGS = dict(
    kl_coefficient=0.2,
    gamma=1.0,
    lam=0.95,
    clip_ratio=0.2,
    clip_value=0.2,
    value_coefficient=0.1,
    epochs=2,
    minibatch_size=2,
)
SGD_RATE, ADAM_RATE = 0.5, 1e-3
# Parameters whose values after the SGD update the fixture keeps (names as in the checkpoint).
KEPT = ["wte.weight", "h.0.attn.c_attn.weight", "h.1.mlp.c_proj.bias", "ln_f.weight"]


def scale_and_offset(name, shape):
    if ".ln_" in name or name.startswith("ln_"):
        return (0.1, 1.0) if name.endswith("weight") else (0.1, 0.0)
    if name.endswith("bias"):
        return 0.05, 0.0
    if name in ("wte.weight", "wpe.weight"):
        return 0.5, 0.0
    return float(1.5 / np.sqrt(shape[0])), 0.0


def policy(seed):
    config = GPT2Config(**CONFIG, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    config._attn_implementation = "eager"
    model = GPT2LMHeadModel(config)
    spec = draw_weights(model.transformer.named_parameters(), seed, scale_and_offset)
    head = torch.nn.Linear(CONFIG["n_embd"], 1)
    bound = 1.0 / np.sqrt(CONFIG["n_embd"])
    with torch.no_grad():
        weight = named_uniform(seed, "value_head.weight", [CONFIG["n_embd"]], bound)
        head.weight.copy_(torch.from_numpy(weight).reshape(1, -1))
        head.bias.copy_(torch.from_numpy(named_uniform(seed, "value_head.bias", [1], bound)))
    return config, model, head, spec


def rollouts():
    width = max(ROW_LENGTHS)
    ids = (splitmix_u64(SEED, len(ROW_LENGTHS) * width) % np.uint64(CONFIG["vocab_size"] - 1)) + 1
    ids = ids.astype(np.int64).reshape(len(ROW_LENGTHS), width)
    rows = [ids[i, :n].tolist() for i, n in enumerate(ROW_LENGTHS)]
    scores = named_uniform(SEED, "scores", [len(ROW_LENGTHS)], 2.0)
    return rows, scores


def padded(rows):
    width = max(len(row) for row in rows)
    return torch.tensor([row + [0] * (width - len(row)) for row in rows])


def evaluate(model, head, tokens):
    output = model(tokens, output_hidden_states=True)
    hidden = output.hidden_states[-1][:, :-1]
    logp = torch.log_softmax(output.logits[:, :-1], dim=2)
    logp = logp.gather(2, tokens[:, 1:].unsqueeze(2)).squeeze(2)
    return logp, head(hidden).squeeze(2)


def whiten(values):
    return (values - values.mean()) / np.sqrt(values.var(ddof=1) + 1e-8)


def targets(logp_old, logp_reference, values_old, scores):
    """Advantages, returns and the response mask in the `[rows, width - 1]` layout, in float64."""
    s = SETTINGS
    scores = whiten(scores.astype(np.float64))
    rows, columns = logp_old.shape
    per_row = []
    for i in range(rows):
        span = slice(PROMPT_LENGTHS[i] - 1, ROW_LENGTHS[i] - 1)
        rewards = -s["kl_coefficient"] * (logp_old[i, span] - logp_reference[i, span])
        rewards[-1] += scores[i]
        values = values_old[i, span]
        advantages = np.zeros_like(rewards)
        following = 0.0
        for t in reversed(range(len(rewards))):
            next_value = values[t + 1] if t + 1 < len(rewards) else 0.0
            delta = rewards[t] + s["gamma"] * next_value - values[t]
            following = delta + s["gamma"] * s["lam"] * following
            advantages[t] = following
        per_row.append((span, advantages, advantages + values))
    flat = whiten(np.concatenate([a for _, a, _ in per_row]))
    advantages, returns, mask = (np.zeros((rows, columns)) for _ in range(3))
    at = 0
    for i, (span, row_advantages, row_returns) in enumerate(per_row):
        n = len(row_advantages)
        advantages[i, span] = flat[at : at + n]
        returns[i, span] = row_returns
        mask[i, span] = 1.0
        at += n
    return [torch.from_numpy(x).float() for x in (advantages, returns, mask)]


def masked_mean(values, mask):
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def update(make_optimizer):
    s = SETTINGS
    _, model, head, spec = policy(SEED)
    _, reference, _, reference_spec = policy(REFERENCE_SEED)
    rows, scores = rollouts()
    tokens = padded(rows)
    with torch.no_grad():
        logp_old, values_old = evaluate(model, head, tokens)
        logp_reference, _ = evaluate(reference, head, tokens)
    advantages, returns, mask = targets(
        logp_old.double().numpy(), logp_reference.double().numpy(), values_old.double().numpy(), scores
    )
    parameters = list(model.transformer.parameters()) + list(head.parameters())
    optimizer = make_optimizer(parameters)
    losses = []
    size = s["minibatch_size"]
    for _ in range(s["epochs"]):
        for start in range(0, len(rows), size):
            part = slice(start, start + size)
            logp_new, values_new = evaluate(model, head, tokens[part])
            ratio = torch.exp(logp_new - logp_old[part])
            clipped_ratio = torch.clamp(ratio, 1 - s["clip_ratio"], 1 + s["clip_ratio"])
            policy_loss = masked_mean(
                torch.maximum(-advantages[part] * ratio, -advantages[part] * clipped_ratio),
                mask[part],
            )
            low, high = values_old[part] - s["clip_value"], values_old[part] + s["clip_value"]
            values_clipped = torch.maximum(torch.minimum(values_new, high), low)
            value_loss = 0.5 * masked_mean(
                torch.maximum(
                    (values_new - returns[part]) ** 2, (values_clipped - returns[part]) ** 2
                ),
                mask[part],
            )
            loss = policy_loss + s["value_coefficient"] * value_loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    named = dict(model.transformer.named_parameters())
    kept = {name: named[name].detach().flatten().tolist() for name in KEPT}
    kept["value_head.weight"] = head.weight.detach().flatten().tolist()
    kept["value_head.bias"] = head.bias.detach().flatten().tolist()
    return {
        "weights": spec,
        "reference_weights": reference_spec,
        "rows": rows,
        "scores": scores.tolist(),
        "logp_old": logp_old.flatten().tolist(),
        "logp_reference": logp_reference.flatten().tolist(),
        "values_old": values_old.flatten().tolist(),
        "advantages": advantages.flatten().tolist(),
        "returns": returns.flatten().tolist(),
        "step_losses": losses,
        "parameters": kept,
    }


def batch_kl():
    """SuperHF's KL of the batch under the initial policy: KL(p_reference || p_policy) over the
    full vocabulary at each response position, averaged over all response positions, in
    float64 from PyTorch's float32 logits."""
    _, model, _, _ = policy(SEED)
    _, reference, _, _ = policy(REFERENCE_SEED)
    tokens = padded(rollouts()[0])
    with torch.no_grad():
        logp_policy = torch.log_softmax(model(tokens).logits[:, :-1].double(), dim=2)
        logp_reference = torch.log_softmax(reference(tokens).logits[:, :-1].double(), dim=2)
    per_position = (logp_reference.exp() * (logp_reference - logp_policy)).sum(dim=2)
    total, count = 0.0, 0
    for i, (prompt, length) in enumerate(zip(PROMPT_LENGTHS, ROW_LENGTHS)):
        total += per_position[i, prompt - 1 : length - 1].sum().item()
        count += length - prompt
    return total / count


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    kl = batch_kl()
    sgd = update(lambda p: torch.optim.SGD(p, lr=SGD_RATE))
    adam = update(lambda p: torch.optim.Adam(p, lr=ADAM_RATE, eps=1e-8))
    fixture = {
        "produced_by": f"tests/oracle/ppo_update.py with transformers {transformers.__version__}",
        "seed": SEED,
        "reference_seed": REFERENCE_SEED,
        "config": GPT2Config(**CONFIG).to_diff_dict(),
        "prompt_lengths": PROMPT_LENGTHS,
        "settings": SETTINGS,
        "sgd_rate": SGD_RATE,
        "adam_rate": ADAM_RATE,
        "sgd": sgd,
        "adam_step_losses": adam["step_losses"],
        "batch_kl": kl,
    }
    json.dump(fixture, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
