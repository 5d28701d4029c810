#!/usr/bin/env bash
# bench/generation on a lent GPU machine (issue 23): SmolLM2-135M's architecture and a
# 0.5B Qwen2 shape, both with random weights in bfloat16, at 1/16/64/256 chats.
#
# That machine has python3 with torch and transformers but not this project's other
# needs, and no network. Prepare here, in the repo root (both folders are git-excluded):
#   .venv/bin/python -m bench.generation.offline .gpu     # tokenizer + prompts, 4 MB
#   .whl/: wheels (pip download, /work/.library/device/README.md) of transformers 5.25 and
#          what it needs there (the engine passes `cache=`, which 5.17 ignores), pydantic,
#          pydantic-settings, platformdirs, python-dotenv and theirs
# then run there, carrying .whl and .gpu:
#   set -o pipefail; bash bench/generation/gpu.sh 2>&1 | tee $OUT/log.txt
# Here, to try it: PY=.venv/bin/python WHEELS=0 DEVICE=cpu CHATS=1,4 NEW_TOKENS=4 \
#   OUT=/tmp/gpu bash bench/generation/gpu.sh
set -euo pipefail

PY=${PY:-python3}
OUT=${OUT:-out/gpu}
DEVICE=${DEVICE:-cuda}
CHATS=${CHATS:-1,16,64,256}
NEW_TOKENS=${NEW_TOKENS:-48}
PLAIN_CHATS=${PLAIN_CHATS:-8}  # plain generate's tok/s do not depend on how many chats wait
LIMIT_S=${LIMIT_S:-200}        # per model: one slow model leaves the other its time
mkdir -p "$OUT"

if [ "${WHEELS:-1}" = 1 ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1

"$PY" -c 'import sys, torch, transformers; print(sys.version.split()[0], "torch", torch.__version__,
    "transformers", transformers.__version__, "cuda", torch.cuda.is_available())'
if [ "$DEVICE" = cuda ]; then
    nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv
fi

status=0
for model in smollm2-135m-random qwen2-0.5b-random; do
    timeout "$LIMIT_S" "$PY" -m bench.generation --model "$model" \
        --tokenizer .gpu/tokenizer --prompts .gpu/prompts.json \
        --device "$DEVICE" --dtype bfloat16 --chats "$CHATS" --turns 2 \
        --new-tokens "$NEW_TOKENS" --max-batch 256 --plain-chats "$PLAIN_CHATS" \
        --out "$OUT/$model.json" || status=$?
done
exit "$status"
