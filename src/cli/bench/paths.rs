//! Where the benchmark finds the cached assets, the reference environment and its script, by
//! the same rules as `scripts/lib.sh`.

use std::path::{Path, PathBuf};

use superlab::LabError;

use crate::cli::files::cache_dir;
pub use crate::cli::files::{read, write};

pub const GGUF: &str = "models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
pub const EFFICIENTNET_LITE0: &str = "models/efficientnet-lite0/efficientnet-lite0-57934424.pth";
pub const MINILM_CONFIG: &str = "models/all-MiniLM-L6-v2/config.json";
pub const PHOTO: &str = "photos/chelsea.png";

/// A file that `scripts/assets.py` fetches into the cache.
pub fn asset(relative: &str) -> Result<PathBuf, LabError> {
    let assets = cache_dir()?.join("assets");
    let path = assets.join(relative);
    if path.is_file() {
        return Ok(path);
    }
    Err(LabError::Input(format!(
        "{} is missing; fetch the lab's assets with python3 scripts/assets.py --cache {}",
        path.display(),
        assets.display()
    )))
}

/// The reference environment's Python: `python` when given, else the oracle environment's.
pub fn reference_python(python: Option<PathBuf>) -> Result<PathBuf, LabError> {
    let path = match python {
        Some(path) => path,
        None => cache_dir()?.join("oracle-venv").join("bin").join("python"),
    };
    if path.exists() {
        return Ok(path);
    }
    Err(LabError::Input(format!(
        "{} does not exist: the benchmark runs PyTorch from the reference environment; create \
         it with scripts/oracle --check (or pass --python with PyTorch, torchvision, timm, \
         transformers, gguf, safetensors and pyShearLab-MIND installed)",
        path.display()
    )))
}

/// `scripts/bench_reference.py` in the checkout the tool was built from.
pub fn reference_script() -> Result<PathBuf, LabError> {
    checkout_file("scripts/bench_reference.py")
}

/// `tests/browser/bench.mjs`, the browser side, in the checkout the tool was built from.
pub fn browser_script() -> Result<PathBuf, LabError> {
    checkout_file("tests/browser/bench.mjs")
}

fn checkout_file(relative: &str) -> Result<PathBuf, LabError> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    if path.is_file() {
        return Ok(path);
    }
    Err(LabError::Input(format!(
        "{} is missing: run the benchmark from the checkout the tool was built in",
        path.display()
    )))
}
