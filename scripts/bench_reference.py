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
  token is held back until then, as the lab runs without stop tokens).

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


class Shearlets:
    """pyShearLab's system with ShearletX's settings, moved to the natural FFT layout."""

    def __init__(self, size, scales, shear_levels):
        import pyshearlab_mind

        with contextlib.redirect_stdout(sys.stderr):
            system = pyshearlab_mind.SLgetShearletSystem2D(
                0, size, size, scales, np.array(shear_levels)
            )
        psi = np.fft.ifftshift(system["shearlets"], axes=(0, 1)).real.transpose(2, 0, 1)
        weights = np.fft.ifftshift(system["dualFrameWeights"]).real
        self.filters = torch.from_numpy(np.ascontiguousarray(psi, dtype=np.float32))
        self.weights = torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float32))
        self.bands = psi.shape[0]

    def analyse(self, images):
        """[..., H, W] to [..., K, H, W]."""
        spectrum = torch.fft.fft2(images).unsqueeze(-3)
        return torch.fft.ifft2(spectrum * self.filters).real

    def synthesise(self, coefficients):
        """[..., K, H, W] to [..., H, W]."""
        spectrum = (torch.fft.fft2(coefficients) * self.filters).sum(dim=-3)
        return torch.fft.ifft2(spectrum / self.weights).real


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


def versions():
    names = ["torch", "torchvision", "timm", "transformers", "numpy", "pyShearLab-MIND"]
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
