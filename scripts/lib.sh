# Shared set-up for scripts/serve and scripts/test: each step installs what it needs when it
# is missing, from the package registries only, and builds into a cache outside the checkout.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SUPERLAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/superlab}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
TOOLS=$CACHE/tools
export PATH=$TOOLS/bin:$PATH
WASM_TARGET=wasm32-unknown-unknown

say() { printf '\n==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs Debian packages that are not installed yet, updating the package lists once.
ensure_debs() {
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_wasm_toolchain() {
  if ! rustup target list --installed | grep -qx "$WASM_TARGET"; then
    say "adding the $WASM_TARGET target"
    rustup target add "$WASM_TARGET"
  fi
  # The command-line tool must match the wasm-bindgen library in Cargo.lock exactly.
  local wanted
  wanted=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' \
    "$ROOT/Cargo.lock")
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wanted" ]; then
    say "installing wasm-bindgen-cli $wanted (about six minutes, once)"
    cargo install wasm-bindgen-cli --version "$wanted" --root "$TOOLS"
  fi
}

# Builds the core for the browser into www/pkg, where the page and worker import it.
build_wasm() {
  ensure_wasm_toolchain
  say "building the WebAssembly core"
  (cd "$ROOT" && cargo build --lib --release --locked --target "$WASM_TARGET")
  wasm-bindgen --target web --no-typescript --out-dir "$ROOT/www/pkg" \
    "$CARGO_TARGET_DIR/$WASM_TARGET/release/superlab.wasm"
}

fetch_assets() {
  say "checking the embedded default models and data"
  python3 "$ROOT/scripts/assets.py" --cache "$CACHE/assets"
}

ORACLE_VENV=$CACHE/oracle-venv

# The reference implementations (PyTorch and friends), reinstalled when their pins change.
ensure_oracle_env() {
  local requirements=$ROOT/tests/oracle/requirements.txt stamp
  # WordNet and the King James Bible feed the METEOR oracle.
  ensure_debs wordnet-base wordnet-sense-index bible-kjv
  stamp=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ "$(cat "$ORACLE_VENV/.pins" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  say "installing the reference implementations (PyTorch; a few minutes, once)"
  python3 -m venv "$ORACLE_VENV" 2>/dev/null || { ensure_debs python3-venv; python3 -m venv "$ORACLE_VENV"; }
  "$ORACLE_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$stamp" >"$ORACLE_VENV/.pins"
}
