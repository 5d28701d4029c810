#!/usr/bin/env bash
# Prints the pip arguments scripts/setup.sh installs torch with: `--index-url URL` for
# PyTorch's CPU wheel index, or nothing for pip's usual index.
#
# Why: on Linux x86_64, `pip install torch` from PyPI is the CUDA build (several GB of CUDA
# libraries) even where there is no GPU. PyTorch's own CPU index holds the CPU build (~200 MB).
# macOS wheels on PyPI are CPU builds already.
#
#   REPLYLOOP_TORCH_INDEX unset   CPU index on Linux without a working nvidia-smi; else usual
#   REPLYLOOP_TORCH_INDEX=cpu     the CPU index, GPU or not
#   REPLYLOOP_TORCH_INDEX=cuda    pip's usual index (on Linux: the CUDA build)
#   REPLYLOOP_TORCH_INDEX=URL     that index (https://download.pytorch.org/whl/cu128, a mirror)
set -euo pipefail
CPU_INDEX="https://download.pytorch.org/whl/cpu"

choice="${REPLYLOOP_TORCH_INDEX:-}"
case "$choice" in
  "")
    # A GPU is one that nvidia-smi can list: an installed nvidia-smi without a working
    # driver (a container without the GPU passed in) fails, and gets the CPU build.
    if [ "$(uname -s)" = "Linux" ] && ! nvidia-smi -L >/dev/null 2>&1; then
      echo "--index-url $CPU_INDEX"
    fi
    ;;
  cpu) echo "--index-url $CPU_INDEX" ;;
  cuda) ;;
  http://* | https://* | file://*) echo "--index-url $choice" ;;
  *)
    echo "setup: REPLYLOOP_TORCH_INDEX=$choice is not cpu, cuda or an index URL (https://...)" >&2
    exit 2
    ;;
esac
