"""Reference values of the language-model training losses, computed by PyTorch's autograd:
SuperHF's cross-entropy plus KL(p_ref || p_policy) prior, PPO's clipped surrogate and clipped
value loss, the Bradley-Terry loss, and (in float64 NumPy) PPO's per-token rewards,
generalised advantage estimates and whitening.

Inputs are drawn with `named_uniform` (see `_common.py`), so the lab rebuilds them from names.
The formulas follow the definitions in the SuperHF paper and PPO for language models (Ziegler
et al. 2019): masked means over completion positions, `max(-A r, -A clip(r))`, and
`0.5 max((v - R)^2, (clip(v) - R)^2)`.
"""

import json
import sys

import numpy as np
import torch

from _common import named_uniform, splitmix_u64

SEED = 31
BATCH, POSITIONS, VOCAB = 3, 6, 11
# Completion lengths per row: the rest of each row is padding.
LENGTHS = [6, 4, 1]
KL_COEFFICIENT = 0.35
CLIP_RATIO, CLIP_VALUE, VALUE_COEFFICIENT = 0.2, 0.2, 0.1
GAMMA, LAMBDA, PPO_KL = 1.0, 0.95, 0.2


def tensor(name, shape, scale, offset=0.0):
    return torch.from_numpy(named_uniform(SEED, name, shape, scale, offset).astype(np.float32))


def mask():
    rows = [[1.0] * n + [0.0] * (POSITIONS - n) for n in LENGTHS]
    return torch.tensor(rows, dtype=torch.float32)


def masked_mean(values, mask):
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def superhf(logits_policy, logits_reference, targets, m):
    logp_policy = torch.log_softmax(logits_policy, dim=2)
    logp_reference = torch.log_softmax(logits_reference, dim=2)
    token_logp = logp_policy.gather(2, targets.unsqueeze(2)).squeeze(2)
    cross_entropy = masked_mean(-token_logp, m)
    kl_per_position = (logp_reference.exp() * (logp_reference - logp_policy)).sum(dim=2)
    kl = masked_mean(kl_per_position, m)
    return cross_entropy, kl, cross_entropy + KL_COEFFICIENT * kl


def ppo(logits_policy, values_new, targets, m):
    logp_new = torch.log_softmax(logits_policy, dim=2).gather(2, targets.unsqueeze(2)).squeeze(2)
    logp_old = logp_new.detach() + tensor("logp_shift", [BATCH, POSITIONS], 0.4)
    values_old = values_new.detach() + tensor("value_shift", [BATCH, POSITIONS], 0.4)
    advantages = tensor("advantages", [BATCH, POSITIONS], 1.0)
    returns = tensor("returns", [BATCH, POSITIONS], 1.0)
    ratio = torch.exp(logp_new - logp_old)
    surrogate = torch.maximum(
        -advantages * ratio, -advantages * torch.clamp(ratio, 1 - CLIP_RATIO, 1 + CLIP_RATIO)
    )
    policy = masked_mean(surrogate, m)
    values_clipped = torch.clamp(values_new, values_old - CLIP_VALUE, values_old + CLIP_VALUE)
    value = 0.5 * masked_mean(
        torch.maximum((values_new - returns) ** 2, (values_clipped - returns) ** 2), m
    )
    clipped = (-advantages * torch.clamp(ratio, 1 - CLIP_RATIO, 1 + CLIP_RATIO)) > (
        -advantages * ratio
    )
    return {
        "policy": policy,
        "value": value,
        "total": policy + VALUE_COEFFICIENT * value,
        "clip_fraction": masked_mean(clipped.float(), m),
        "approximate_kl": masked_mean(logp_old - logp_new.detach(), m),
    }


def advantages_reference():
    """Rewards, advantages and returns in float64, row by row, then whitened together."""
    rows = []
    for i, length in enumerate(LENGTHS):
        logp_policy = named_uniform(SEED, f"gae_logp_policy_{i}", [length], 1.0).astype(np.float64)
        logp_reference = named_uniform(SEED, f"gae_logp_ref_{i}", [length], 1.0).astype(np.float64)
        values = named_uniform(SEED, f"gae_values_{i}", [length], 1.0).astype(np.float64)
        score = float(named_uniform(SEED, f"gae_score_{i}", [1], 2.0)[0])
        rewards = -PPO_KL * (logp_policy - logp_reference)
        rewards[-1] += score
        advantages = np.zeros(length)
        following = 0.0
        for t in reversed(range(length)):
            next_value = values[t + 1] if t + 1 < length else 0.0
            delta = rewards[t] + GAMMA * next_value - values[t]
            following = delta + GAMMA * LAMBDA * following
            advantages[t] = following
        rows.append(
            {
                "score": score,
                "rewards": rewards.tolist(),
                "advantages": advantages.tolist(),
                "returns": (advantages + values).tolist(),
            }
        )
    flat = np.concatenate([row["advantages"] for row in rows])
    whitened = (flat - flat.mean()) / np.sqrt(flat.var(ddof=1) + 1e-8)
    return rows, whitened.tolist()


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    targets = torch.from_numpy(
        (splitmix_u64(SEED, BATCH * POSITIONS) % np.uint64(VOCAB)).astype(np.int64)
    ).reshape(BATCH, POSITIONS)
    m = mask()

    logits_policy = tensor("logits_policy", [BATCH, POSITIONS, VOCAB], 3.0).requires_grad_()
    logits_reference = tensor("logits_reference", [BATCH, POSITIONS, VOCAB], 3.0)
    cross_entropy, kl, total = superhf(logits_policy, logits_reference, targets, m)
    total.backward()
    superhf_gradient = logits_policy.grad.flatten().tolist()

    logits_policy = tensor("logits_policy", [BATCH, POSITIONS, VOCAB], 3.0).requires_grad_()
    values_new = tensor("values_new", [BATCH, POSITIONS], 1.0).requires_grad_()
    losses = ppo(logits_policy, values_new, targets, m)
    losses["total"].backward()

    rewards_chosen = tensor("rewards_chosen", [5], 2.0).requires_grad_()
    rewards_rejected = tensor("rewards_rejected", [5], 2.0).requires_grad_()
    bradley_terry = -torch.nn.functional.logsigmoid(rewards_chosen - rewards_rejected).mean()
    bradley_terry.backward()

    rows, whitened = advantages_reference()
    fixture = {
        "produced_by": f"tests/oracle/superhf_loss.py with torch {torch.__version__}",
        "seed": SEED,
        "sizes": {"batch": BATCH, "positions": POSITIONS, "vocab": VOCAB},
        "lengths": LENGTHS,
        "targets": targets.tolist(),
        "kl_coefficient": KL_COEFFICIENT,
        "superhf": {
            "cross_entropy": cross_entropy.item(),
            "kl": kl.item(),
            "total": total.item(),
            "gradient_logits_policy": superhf_gradient,
        },
        "ppo": {
            "clip_ratio": CLIP_RATIO,
            "clip_value": CLIP_VALUE,
            "value_coefficient": VALUE_COEFFICIENT,
            **{name: value.item() for name, value in losses.items()},
            "gradient_logits_policy": logits_policy.grad.flatten().tolist(),
            "gradient_values_new": values_new.grad.flatten().tolist(),
        },
        "bradley_terry": {
            "loss": bradley_terry.item(),
            "gradient_chosen": rewards_chosen.grad.tolist(),
            "gradient_rejected": rewards_rejected.grad.tolist(),
        },
        "advantages": {
            "gamma": GAMMA,
            "lambda": LAMBDA,
            "kl_coefficient": PPO_KL,
            "rows": rows,
            "whitened": whitened,
        },
    }
    json.dump(fixture, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
