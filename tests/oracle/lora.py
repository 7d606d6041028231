"""Reference values for LoRA adapters on tiny causal language models, computed by Hugging Face
transformers with peft: logits with and without the adapter, SuperHF's loss (cross-entropy of
the completion tokens plus KL(p_ref || p_policy), the reference being the same network with the
adapter switched off) and its gradients with respect to every LoRA factor, once without
dropout and once with dropout masks drawn as the lab draws them; and what peft's
`save_pretrained` writes (tensor names, shapes, `adapter_config.json`).

The base weights are drawn with `named_uniform` under their checkpoint names, as the model
oracles draw them (see `_causal_lm.py`); the adapter's factors too, under the names peft saves
them with (`base_model.model.PATH.lora_A.weight`), with a non-zero `B` so that the adapter
changes the logits and both factors receive gradients.

`python lora.py --logits CASE ADAPTER_DIR` instead loads an adapter saved by the lab into the
case's base model with `PeftModel.from_pretrained` and prints its logits on the case's tokens.
"""

import json
import pathlib
import sys
import tempfile

import numpy as np
import peft
import safetensors
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
)

import gpt2 as gpt2_oracle
import llama as llama_oracle
import neox as neox_oracle
from _causal_lm import draw_weights
from _common import fnv1a64, named_uniform, splitmix_u64

SEED = 2026
RANK, ALPHA = 4, 32.0
# The adapter's B factor, drawn non-zero.
B_SCALE = 0.05
KL_COEFFICIENT = 0.35
BATCH, LENGTH = 2, 12
# Tokens before this position are the prompt; each row's tokens after its length are padding.
PROMPT = 4
LENGTHS = [12, 9]
DROPOUT, DROPOUT_SEED = 0.25, 77

CASES = {
    "llama": dict(
        vocab_size=89,
        hidden_size=48,
        intermediate_size=40,
        num_hidden_layers=2,
        num_attention_heads=6,
        num_key_value_heads=2,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        rope_theta=100000.0,
        tie_word_embeddings=True,
    ),
    "gpt2": dict(vocab_size=83, n_positions=32, n_embd=32, n_layer=2, n_head=4),
    "neox": dict(
        vocab_size=79,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=48,
        rotary_pct=0.5,
        max_position_embeddings=40,
    ),
}


def base_model(name):
    """The case's transformers model with its drawn weights, and their description."""
    settings = CASES[name]
    if name == "llama":
        config = LlamaConfig(**settings)
        config._attn_implementation = "eager"
        model = LlamaForCausalLM(config).eval()
        named, scales = model.named_parameters(), llama_oracle.scale_and_offset
    elif name == "gpt2":
        config = GPT2Config(**settings, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
        config._attn_implementation = "eager"
        model = GPT2LMHeadModel(config).eval()
        named, scales = model.transformer.named_parameters(), gpt2_oracle.scale_and_offset
    else:
        config = GPTNeoXConfig(**settings, hidden_dropout=0.0, attention_dropout=0.0)
        config._attn_implementation = "eager"
        model = GPTNeoXForCausalLM(config).eval()
        named, scales = model.named_parameters(), neox_oracle.scale_and_offset
    spec = draw_weights(list(named), SEED, scales)
    return model, config, spec


def lora_config(name, dropout):
    # GPT-2's Conv1D stores weights [in, out]; peft wants to be told (it sets this itself
    # otherwise, with a warning).
    return LoraConfig(
        r=RANK,
        lora_alpha=ALPHA,
        lora_dropout=dropout,
        task_type="CAUSAL_LM",
        fan_in_fan_out=name == "gpt2",
    )


def saved_name(parameter_name):
    """peft's name of a parameter in the saved adapter: the adapter's name dropped."""
    return parameter_name.replace(".default", "")


def draw_adapter(model):
    spec = []
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_" not in name:
                continue
            saved = saved_name(name)
            shape = list(parameter.shape)
            scale = float(1.0 / np.sqrt(shape[1])) if ".lora_A." in saved else B_SCALE
            parameter.copy_(torch.from_numpy(named_uniform(SEED, saved, shape, scale)))
            spec.append({"name": saved, "shape": shape, "scale": scale, "offset": 0.0})
    return spec


def tokens_and_mask(vocab_size):
    tokens = (splitmix_u64(SEED, BATCH * LENGTH) % np.uint64(vocab_size)).astype(np.int64)
    tokens = torch.from_numpy(tokens.reshape(BATCH, LENGTH))
    # Position t predicts token t + 1, which counts when it is a completion token.
    mask = torch.tensor(
        [[1.0 if PROMPT <= t + 1 < n else 0.0 for t in range(LENGTH - 1)] for n in LENGTHS]
    )
    return tokens, mask


def masked_mean(values, mask):
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def superhf_loss(logits_policy, logits_reference, tokens, mask):
    """The logits are those of every token but the last, each predicting the next."""
    logp_policy = torch.log_softmax(logits_policy, dim=2)
    logp_reference = torch.log_softmax(logits_reference, dim=2)
    targets = tokens[:, 1:]
    cross_entropy = masked_mean(-logp_policy.gather(2, targets.unsqueeze(2)).squeeze(2), mask)
    kl_per_position = (logp_reference.exp() * (logp_reference - logp_policy)).sum(dim=2)
    kl = masked_mean(kl_per_position, mask)
    return cross_entropy, kl, cross_entropy + KL_COEFFICIENT * kl


class MaskDropout(torch.nn.Module):
    """Dropout with the lab's masks: zero where SplitMix64 (seeded by the step's seed and the
    module path) draws below p, 1 / (1 - p) elsewhere, in row-major order of the input."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def forward(self, x):
        count = int(np.prod(x.shape))
        units = (splitmix_u64(DROPOUT_SEED ^ fnv1a64(self.path.encode()), count) >> np.uint64(40))
        units = units.astype(np.float32) / np.float32(1 << 24)
        p = np.float32(DROPOUT)
        kept = np.float32(1.0) / (np.float32(1.0) - p)
        mask = np.where(units < p, np.float32(0.0), kept).astype(np.float32)
        return x * torch.from_numpy(mask.reshape(x.shape))


def with_lab_dropout(model):
    for name, module in model.named_modules():
        if hasattr(module, "lora_dropout") and "default" in module.lora_dropout:
            path = name.removeprefix("base_model.model.")
            module.lora_dropout["default"] = MaskDropout(path)


def logits(model, tokens):
    """With the adapter and with it switched off."""
    with torch.no_grad():
        with_adapter = model(tokens).logits
        with model.disable_adapter():
            without = model(tokens).logits
    return with_adapter, without


def loss_and_gradients(model, tokens, mask):
    """The model reads every token but the last (as the lab's training batch holds them, which
    gives the dropout masks their shape)."""
    model.zero_grad()
    inputs = tokens[:, :-1]
    logits_policy = model(inputs).logits
    with model.disable_adapter():
        with torch.no_grad():
            logits_reference = model(inputs).logits
    cross_entropy, kl, total = superhf_loss(logits_policy, logits_reference, tokens, mask)
    total.backward()
    gradients = {
        saved_name(name): parameter.grad.flatten().tolist()
        for name, parameter in model.named_parameters()
        if "lora_" in name
    }
    terms = {"cross_entropy": cross_entropy.item(), "kl": kl.item(), "total": total.item()}
    return terms, gradients


def saved_adapter(model):
    """What peft's save_pretrained writes: tensor names and shapes, and the configuration."""
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        with safetensors.safe_open(f"{folder}/adapter_model.safetensors", "pt") as saved:
            tensors = {name: list(saved.get_slice(name).get_shape()) for name in saved.keys()}
        config = json.loads(pathlib.Path(folder, "adapter_config.json").read_text())
    keep = ["peft_type", "task_type", "r", "lora_alpha", "bias", "fan_in_fan_out"]
    described = {key: config[key] for key in keep}
    described["target_modules"] = sorted(config["target_modules"])
    return {"tensors": tensors, "config": described}


def lora_case(name):
    model, config, spec = base_model(name)
    model = get_peft_model(model, lora_config(name, 0.0))
    adapter_spec = draw_adapter(model)
    tokens, mask = tokens_and_mask(config.vocab_size)
    logits_policy, logits_reference = logits(model, tokens)
    terms, gradients = loss_and_gradients(model, tokens, mask)
    saved = saved_adapter(model)

    model, _, _ = base_model(name)
    model = get_peft_model(model, lora_config(name, DROPOUT))
    draw_adapter(model)
    with_lab_dropout(model)
    model.train()
    dropout_terms, dropout_gradients = loss_and_gradients(model, tokens, mask)
    return {
        "config": config.to_diff_dict(),
        "weights": spec,
        "adapter": adapter_spec,
        "tokens": tokens.tolist(),
        "mask": mask.tolist(),
        "logits_policy": logits_policy.flatten().tolist(),
        "logits_reference": logits_reference.flatten().tolist(),
        "loss": terms,
        "gradients": gradients,
        "dropout": {
            "seed": DROPOUT_SEED,
            "p": DROPOUT,
            "loss": dropout_terms,
            "gradients": dropout_gradients,
        },
        "saved": saved,
    }


def logits_of_saved_adapter(name, folder):
    model, config, _ = base_model(name)
    model = PeftModel.from_pretrained(model, folder).eval()
    tokens, _ = tokens_and_mask(config.vocab_size)
    with torch.no_grad():
        logits = model(tokens).logits
    return {"logits": logits.flatten().tolist()}


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    if sys.argv[1:2] == ["--logits"]:
        output = logits_of_saved_adapter(sys.argv[2], sys.argv[3])
    else:
        output = {
            "produced_by": f"tests/oracle/lora.py with transformers {transformers.__version__}, "
            f"peft {peft.__version__}",
            "seed": SEED,
            "rank": RANK,
            "alpha": ALPHA,
            "kl_coefficient": KL_COEFFICIENT,
            "cases": {name: lora_case(name) for name in CASES},
        }
    json.dump(output, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
