"""The PyTorch side of `superlab bench`: the same workloads through the reference stack, on the
CPU, with as many threads as the lab uses.

`superlab bench` runs this script with the oracle virtual environment's Python:

    bench_reference.py PLAN.json

The plan (written by the lab, see `src/bench/plan.rs`) fixes every size, count and file. The
lab has already written the inputs into the plan's work folder (`photo.f32`, the ShearletX
image, `[3, 256, 256]`; `images.f32`, the classifiers' batch, `[batch, 3, side, side]`; raw
little-endian float32). This script writes the random classifier weights there
(`ARCHITECTURE.safetensors`, torchvision's own initialisation under a fixed seed), which the
lab then loads too, times every workload and prints the timings as JSON on standard output.
Progress goes to standard error.

Each workload computes what the lab computes, written as a PyTorch user would write it:

- shearlet analysis and synthesis of an RGB image: pyShearLab's 49 filters, torch's complex
  2-D FFTs, `c_k = IFFT2(FFT2(x) psi_k)` and `x = IFFT2(sum_k FFT2(c_k) psi_k / W)`, as
  tests/oracle/shearletx.py does, in float32;
- ShearletX steps, the reference variant (METHODS.md): a mask of ones over the coefficients;
  per step `noise_samples` perturbations uniform on [mu_k - sigma_k, mu_k + sigma_k] per band
  of the grey image (torch's generator, so other values than the lab's SplitMix64, the same
  distribution); the obfuscated images `SH^-1(clamp01(m c_j + (1 - m) p_s))` go through the
  classifier `samples_per_pass` at a time, each pass with its own backward, as the lab does;
  then `lambda1 mean|m| + lambda2 mean|clamp01(SH^-1(m c_grey))|` backward, Adam, clamp to
  [0, 1], and the loss read back. The classifier's parameters need no gradient;
- classifier forward and backward: torchvision's ResNet-18, VGG-19 and MobileNetV3-small and
  timm's tf_efficientnet_lite0 with the packaged checkpoint (assigned in order, as
  tests/oracle/efficientnet_lite0.py does), in evaluation mode, each with its input scaling;
  mean cross-entropy against fixed targets, gradients for every parameter and for the images;
- sampling from SmolLM2-135M-Instruct: transformers loads the packaged GGUF file
  (dequantised to float32) and `generate` samples `sequences` continuations of the same prompt
  token ids as the lab, temperature 1, top-p, no top-k, exactly `new_tokens` each (the end
  token is held back until then, as the lab runs without stop tokens);
- SuperHF iterations (`SuperHf` below): the same GGUF policy with a peft LoRA adapter,
  `generate` per prompt, the lab's default reward model (all-MiniLM-L6-v2 through
  transformers with the lab's head), the oracle's SuperHF loss (tests/oracle/superhf_loss.py)
  and torch's AdamW with transformers' cosine schedule.

The shearlet system and the SuperHF loss are the oracles' own (tests/oracle/shearletx.py,
in float32 here, and tests/oracle/superhf_loss.py).

Every workload runs its warm-up repetitions first; all repetitions are reported.
"""

import contextlib
import importlib.metadata
import json
import pathlib
import platform
import sys
import time

import numpy as np
import torch

# The oracles' pieces (tests/oracle/): pyShearLab's system in the FFT layout, SuperHF's loss.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "oracle"))
import shearletx as shearletx_oracle  # noqa: E402
import superhf_loss as superhf_loss_oracle  # noqa: E402


def log(message):
    print(f"[pytorch] {message}", file=sys.stderr, flush=True)


def read_f32(path, shape):
    values = np.fromfile(path, dtype="<f4")
    expected = int(np.prod(shape))
    if values.size != expected:
        raise SystemExit(f"{path} holds {values.size} values, not {expected} for {shape}")
    return torch.from_numpy(values.reshape(shape).copy())


def timed(function, warmup, repetitions):
    """Runs `function` `warmup` times, then `repetitions` times, timing each call."""
    warmups, seconds = [], []
    for index in range(warmup + repetitions):
        start = time.perf_counter()
        function()
        elapsed = time.perf_counter() - start
        (warmups if index < warmup else seconds).append(elapsed)
    return {"warmup_seconds": warmups, "seconds": seconds}


class Shearlets(shearletx_oracle.Shearlets):
    """The oracle's system (pyShearLab's filters in the natural FFT layout, float64), in
    float32 as both sides compute."""

    def __init__(self, size, scales, shear_levels):
        oracle = (shearletx_oracle.SIZE, shearletx_oracle.SCALES, shearletx_oracle.SHEAR_LEVELS)
        if (size, scales, list(shear_levels)) != (oracle[0], oracle[1], list(oracle[2])):
            raise SystemExit(f"the oracle's shearlet system is {oracle}, the plan's differs")
        super().__init__()
        self.filters = self.filters.float()
        self.weights = self.weights.float()


class Scaled(torch.nn.Module):
    """A classifier that takes RGB in [0, 1], as the lab's classifiers do."""

    def __init__(self, network, mean, std):
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, images):
        return self.network((images - self.mean) / self.std)


IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def random_classifier(architecture, seed, folder):
    """torchvision's model with its own initialisation under `seed`, saved for the lab."""
    import torchvision
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    network = getattr(torchvision.models, architecture)()
    state = {
        name: tensor.contiguous()
        for name, tensor in network.state_dict().items()
        if not name.endswith("num_batches_tracked")
    }
    save_file(state, str(folder / f"{architecture}.safetensors"))
    return Scaled(network, IMAGENET_MEAN, IMAGENET_STD).eval()


def efficientnet_lite0(checkpoint):
    import timm

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    network = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    slots = network.state_dict()
    if len(slots) != len(state):
        raise SystemExit(f"{checkpoint} does not hold tf_efficientnet_lite0's tensors")
    renamed = {}
    for (ours, tensor), (theirs, slot) in zip(state.items(), slots.items()):
        if tensor.shape != slot.shape:
            raise SystemExit(f"{checkpoint}: {ours} does not fit timm's {theirs}")
        renamed[theirs] = tensor
    network.load_state_dict(renamed)
    # (255 x - 127.5) / 127.5, TensorFlow Lite's input scaling.
    return Scaled(network, [0.5] * 3, [0.5] * 3).eval()


class Classifiers:
    """Each classifier built once, shared by the workloads that use it."""

    def __init__(self, plan):
        self.plan = plan
        self.built = {}

    def get(self, architecture):
        if architecture not in self.built:
            folder = pathlib.Path(self.plan["work_dir"])
            if architecture == "efficientnet_lite0":
                model = efficientnet_lite0(self.plan["efficientnet_lite0_checkpoint"])
            else:
                model = random_classifier(architecture, self.plan["weight_seed"], folder)
            self.built[architecture] = model
        return self.built[architecture]


def shearlet_transform(plan, shearlets):
    workload = plan["shearlet"]
    size, channels = workload["size"], workload["channels"]
    image = read_f32(pathlib.Path(plan["work_dir"]) / "photo.f32", (1, channels, size, size))

    def once():
        with torch.no_grad():
            shearlets.synthesise(shearlets.analyse(image))

    return timed(once, plan["warmup"], workload["repetitions"])


class ShearletX:
    """One ShearletX optimisation, step by step."""

    def __init__(self, workload, shearlets, classifier, image, seed):
        self.workload = workload
        self.shearlets = shearlets
        self.classifier = classifier
        with torch.no_grad():
            self.coefficients = shearlets.analyse(image)  # [3, K, H, W]
            self.grey = shearlets.analyse(image.mean(dim=0))  # [K, H, W]
            bands = self.grey.reshape(self.grey.shape[0], -1)
            self.means = bands.mean(dim=1).view(1, -1, 1, 1)
            self.deviations = bands.std(dim=1).view(1, -1, 1, 1)
            probabilities = torch.softmax(classifier(image.unsqueeze(0)), dim=-1)[0]
            self.target = int(probabilities.argmax())
        self.mask = torch.ones(self.grey.shape, requires_grad=True)
        self.adam = torch.optim.Adam([self.mask], lr=workload["learning_rate"])
        self.generator = torch.Generator().manual_seed(seed)

    def noise(self, count):
        size = (count,) + tuple(self.grey.shape)
        units = torch.rand(size, generator=self.generator)
        return self.means + self.deviations * (2 * units - 1)

    def step(self):
        workload, shearlets = self.workload, self.shearlets
        samples, per_pass = workload["noise_samples"], workload["samples_per_pass"]
        self.adam.zero_grad()
        distortion = 0.0
        for start in range(0, samples, per_pass):
            count = min(per_pass, samples - start)
            kept = self.mask * self.coefficients.unsqueeze(1)  # [3, 1, K, H, W]
            mixed = (kept + (1 - self.mask) * self.noise(count)).clamp(0, 1)
            images = shearlets.synthesise(mixed).transpose(0, 1)  # [count, 3, H, W]
            logits = self.classifier(images)
            probabilities = torch.softmax(logits, dim=-1)[:, self.target]
            pass_distortion = ((1 - probabilities) ** 2).sum() / samples
            pass_distortion.backward()
            distortion += pass_distortion.detach()
        mask_l1 = self.mask.abs().mean()
        spatial = shearlets.synthesise(self.mask * self.grey).clamp(0, 1).abs().mean()
        regulariser = workload["lambda1"] * mask_l1 + workload["lambda2"] * spatial
        regulariser.backward()
        self.adam.step()
        with torch.no_grad():
            self.mask.clamp_(0, 1)
        return float(distortion + regulariser.detach())


def shearletx(plan, shearlets, classifiers, architecture):
    workload = plan["shearletx"]
    size = workload["size"]
    image = read_f32(pathlib.Path(plan["work_dir"]) / "photo.f32", (3, size, size))
    classifier = classifiers.get(architecture)
    classifier.requires_grad_(False)
    start = time.perf_counter()
    run = ShearletX(workload, shearlets, classifier, image, workload["seed"])
    setup = time.perf_counter() - start
    warmups, seconds, losses = [], [], []
    for index in range(workload["warmup_steps"] + workload["steps"]):
        start = time.perf_counter()
        losses.append(run.step())
        elapsed = time.perf_counter() - start
        (warmups if index < workload["warmup_steps"] else seconds).append(elapsed)
    classifier.requires_grad_(True)
    return {
        "setup_seconds": setup,
        "warmup_seconds": warmups,
        "seconds": seconds,
        "target_class": run.target,
        "losses": losses,
    }


def classifier_step(plan, classifiers, architecture):
    workload = plan["classifiers"]
    batch, side = workload["batch"], workload["size"]
    images = read_f32(pathlib.Path(plan["work_dir"]) / "images.f32", (batch, 3, side, side))
    targets = torch.tensor(workload["targets"])
    model = classifiers.get(architecture)

    def once():
        model.zero_grad(set_to_none=True)
        inputs = images.clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(inputs), targets)
        loss.backward()
        return loss.item()

    return timed(once, plan["warmup"], workload["repetitions"])


def generation(plan):
    import transformers
    from transformers import AutoModelForCausalLM, GenerationConfig

    workload = plan["generation"]
    folder = pathlib.Path(workload["gguf_path"]).parent
    file_name = pathlib.Path(workload["gguf_path"]).name
    start = time.perf_counter()
    transformers.utils.logging.disable_progress_bar()
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=file_name, dtype=torch.float32
    ).eval()
    setup = time.perf_counter() - start
    sequences, new_tokens = workload["sequences"], workload["new_tokens"]
    prompt = torch.tensor([workload["prompt_tokens"]] * sequences)
    end = model.config.eos_token_id
    config = GenerationConfig(
        do_sample=True,
        temperature=workload["temperature"],
        top_p=workload["top_p"],
        top_k=0,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        eos_token_id=end,
        pad_token_id=end,
    )
    torch.manual_seed(workload["seed"])

    def once():
        with torch.no_grad():
            output = model.generate(
                prompt, attention_mask=torch.ones_like(prompt), generation_config=config
            )
        made = output.shape[1] - prompt.shape[1]
        if made != new_tokens:
            raise SystemExit(f"transformers generated {made} tokens, not {new_tokens}")

    result = timed(once, plan["warmup"], workload["repetitions"])
    result["setup_seconds"] = setup
    result["tokens"] = sequences * new_tokens
    result["attention"] = model.config._attn_implementation
    return result


class RewardModel:
    """all-MiniLM-L6-v2 with the lab's trained head on the mean of its hidden states over the
    real tokens, as the lab's default reward model scores."""

    def __init__(self, encoder_folder, head_path, max_tokens):
        import tokenizers
        from safetensors.torch import load_file
        from transformers import AutoModel

        self.encoder = AutoModel.from_pretrained(encoder_folder, dtype=torch.float32).eval()
        self.tokenizer = tokenizers.Tokenizer.from_file(str(pathlib.Path(encoder_folder) / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.enable_padding()
        head = load_file(str(head_path))
        self.weight, self.bias = head["reward_head.weight"], head["reward_head.bias"]

    @torch.no_grad()
    def score(self, texts, batch_size):
        rewards = []
        for start in range(0, len(texts), batch_size):
            encoded = self.tokenizer.encode_batch(texts[start : start + batch_size])
            ids = torch.tensor([e.ids for e in encoded])
            mask = torch.tensor([e.attention_mask for e in encoded], dtype=torch.float32)
            hidden = self.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
            pooled = (hidden * mask.unsqueeze(2)).sum(1) / mask.sum(1, keepdim=True)
            rewards.extend((pooled @ self.weight.T + self.bias).squeeze(1).tolist())
        return rewards


class SuperHf:
    """SuperHF as the lab runs it (METHODS.md): per iteration, each prompt's completions
    sampled in one batch, cut at the next turn, scored by the reward model on
    `prompt + " " + completion`, the best `keep_top` per prompt kept, then AdamW steps on
    minibatches of the kept ones with cross-entropy on the completion tokens plus
    `kl_coefficient KL(p_ref || p_policy)`, the reference being the policy with its LoRA
    adapter switched off."""

    def __init__(self, workload):
        import peft
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        config = workload["config"]
        self.config, self.rollout = config, config["rollout"]
        if config["kl_coefficient"] != superhf_loss_oracle.KL_COEFFICIENT:
            raise SystemExit("the oracle's SuperHF loss has another KL coefficient")
        folder = pathlib.Path(workload["gguf_path"]).parent
        file_name = pathlib.Path(workload["gguf_path"]).name
        transformers.utils.logging.disable_progress_bar()
        self.tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file_name)
        base = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=file_name, dtype=torch.float32
        )
        lora = config["fine_tuning"]
        self.policy = peft.get_peft_model(
            base,
            peft.LoraConfig(
                r=lora["rank"],
                lora_alpha=lora["alpha"],
                lora_dropout=lora["dropout"],
                target_modules=lora["target_modules"] or ["q_proj", "v_proj"],
                task_type="CAUSAL_LM",
            ),
        )
        self.reward = RewardModel(workload["reward_encoder"], workload["reward_head"], 512)
        trained = [p for p in self.policy.parameters() if p.requires_grad]
        self.optimiser = torch.optim.AdamW(
            trained, lr=config["learning_rate"], weight_decay=config["weight_decay"], eps=1e-8
        )
        per_step = -(-self.rollout["prompts_per_step"] * config["keep_top"] // config["minibatch_size"])
        self.schedule = transformers.get_cosine_schedule_with_warmup(
            self.optimiser, config["warmup_steps"], config["steps"] * per_step
        )
        self.end = self.tokenizer.eos_token_id
        self.prompts = workload["prompts"]
        self.iteration = 0
        torch.manual_seed(config["seed"])

    def cut(self, text):
        ends = [text.find(m) for m in self.rollout["turn_markers"] if m and m in text]
        return (text[: min(ends)] if ends else text).strip()

    def sample(self, prompts):
        rollout = self.rollout
        samples = []
        self.policy.eval()
        for index, prompt in enumerate(prompts):
            ids = torch.tensor([prompt["tokens"]] * rollout["completions_per_prompt"])
            with torch.no_grad():
                output = self.policy.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    do_sample=True,
                    temperature=rollout["temperature"],
                    top_p=rollout["top_p"],
                    top_k=0,
                    max_new_tokens=rollout["new_tokens"]["max"],
                    eos_token_id=self.end,
                    pad_token_id=self.end,
                )
            for row in output[:, ids.shape[1] :].tolist():
                if self.end in row:
                    row = row[: row.index(self.end)]
                text = self.cut(self.tokenizer.decode(row, skip_special_tokens=True))
                if text:
                    samples.append((index, text, len(row)))
        return samples

    def fine_tune(self, prompts, kept):
        examples = []
        for index, text in kept:
            tokens = list(prompts[index]["tokens"])
            tokens += self.tokenizer.encode(" " + text, add_special_tokens=False)
            examples.append((tokens, len(prompts[index]["tokens"])))
        self.policy.train()
        size = self.config["minibatch_size"]
        losses = []
        for start in range(0, len(examples), size):
            batch = examples[start : start + size]
            length = max(len(tokens) for tokens, _ in batch)
            tokens = torch.tensor([t + [self.end] * (length - len(t)) for t, _ in batch])
            # Position t predicts token t + 1, which counts when it is a completion token.
            mask = torch.tensor(
                [[1.0 if p <= t + 1 < len(tk) else 0.0 for t in range(length - 1)] for tk, p in batch]
            )
            inputs = tokens[:, :-1]
            logits_policy = self.policy(input_ids=inputs).logits
            with torch.no_grad(), self.policy.disable_adapter():
                logits_reference = self.policy(input_ids=inputs).logits
            _, _, loss = superhf_loss_oracle.superhf(
                logits_policy, logits_reference, tokens[:, 1:], mask
            )
            self.optimiser.zero_grad()
            loss.backward()
            self.optimiser.step()
            self.schedule.step()
            losses.append(loss.item())
        return losses

    def step(self):
        count = self.rollout["prompts_per_step"]
        prompts = self.prompts[self.iteration * count : (self.iteration + 1) * count]
        self.iteration += 1
        phases = {}
        start = time.perf_counter()
        samples = self.sample(prompts)
        phases["sample"] = time.perf_counter() - start
        start = time.perf_counter()
        texts = [prompts[index]["framed"] + " " + text for index, text, _ in samples]
        rewards = self.reward.score(texts, self.rollout["score_batch_size"])
        phases["score"] = time.perf_counter() - start
        start = time.perf_counter()
        kept = []
        for index in range(len(prompts)):
            ranked = sorted(
                (i for i, sample in enumerate(samples) if sample[0] == index),
                key=lambda i: -rewards[i],
            )
            kept += [(index, samples[i][1]) for i in ranked[: self.config["keep_top"]]]
        losses = self.fine_tune(prompts, kept)
        phases["fine_tune"] = time.perf_counter() - start
        phases["sampled_tokens"] = sum(sample[2] for sample in samples)
        phases["loss"] = losses
        return phases


def superhf(plan):
    workload = plan["superhf"]
    start = time.perf_counter()
    run = SuperHf(workload)
    setup = time.perf_counter() - start
    warmups, seconds, phases = [], [], []
    for index in range(workload["warmup_iterations"] + workload["iterations"]):
        log(f"SuperHF iteration {index + 1}")
        start = time.perf_counter()
        phases.append(run.step())
        elapsed = time.perf_counter() - start
        (warmups if index < workload["warmup_iterations"] else seconds).append(elapsed)
    return {
        "setup_seconds": setup,
        "warmup_seconds": warmups,
        "seconds": seconds,
        "phases": phases,
    }


def versions():
    names = ["torch", "torchvision", "timm", "transformers", "peft", "numpy", "pyShearLab-MIND"]
    found = {name: importlib.metadata.version(name) for name in names}
    found["python"] = platform.python_version()
    return found


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: bench_reference.py PLAN.json")
    plan = json.loads(pathlib.Path(sys.argv[1]).read_text())
    torch.set_num_threads(plan["threads"])
    classifiers = Classifiers(plan)
    workloads = {}
    shearlets = None
    if plan.get("shearlet") or plan.get("shearletx"):
        log("building pyShearLab's shearlet system")
        workload = plan.get("shearlet") or plan["shearletx"]
        start = time.perf_counter()
        shearlets = Shearlets(workload["size"], workload["scales"], workload["shear_levels"])
        system_seconds = time.perf_counter() - start
    if plan.get("shearlet"):
        log("shearlet analysis and synthesis")
        workloads["shearlet_transform"] = shearlet_transform(plan, shearlets)
        workloads["shearlet_transform"]["setup_seconds"] = system_seconds
    for architecture in (plan.get("shearletx") or {}).get("classifiers", []):
        log(f"ShearletX with {architecture}")
        workloads[f"shearletx_{architecture}"] = shearletx(
            plan, shearlets, classifiers, architecture
        )
    for architecture in (plan.get("classifiers") or {}).get("architectures", []):
        log(f"{architecture} forward and backward")
        workloads[f"classifier_{architecture}"] = classifier_step(plan, classifiers, architecture)
    if plan.get("generation"):
        log("SmolLM2-135M sampling")
        workloads["generation_smollm2"] = generation(plan)
    if plan.get("superhf"):
        log("SuperHF iterations")
        workloads["superhf_iteration"] = superhf(plan)
    report = {
        "produced_by": "scripts/bench_reference.py",
        "versions": versions(),
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "parallel_info": torch.__config__.parallel_info(),
        "workloads": workloads,
    }
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
