"""What the hardware allows: the model under test, and the memory-bandwidth limit on
batch-1 decoding (each step reads every weight once: bandwidth / weight bytes)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from core.settings import Settings
from workers.engine import Engine
from workers.models import load, resolve

# A 0.5B-class model in the shape of Qwen2.5-0.5B, built from its config with random
# weights (speed does not depend on what the weights are); no download.
QWEN2_05B: dict[str, Any] = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": True,
}


def engine_for(model: str, device: str, dtype: str, threads: int) -> Engine:
    """The default model (or a model folder), or `qwen2-0.5b` built from its config with
    the default model's tokenizer."""
    settings = Settings()
    source = resolve(settings.model, settings.cache_dir)
    base, tokenizer = load(source, device=device, threads=threads)
    if model == "qwen2-0.5b":
        from transformers import AutoModelForCausalLM, Qwen2Config

        config = Qwen2Config(vocab_size=len(tokenizer), **QWEN2_05B)
        torch.manual_seed(0)
        built: Any = AutoModelForCausalLM.from_config(config)
        built.generation_config = base.generation_config
        return Engine(built.to(device, _dtype(dtype)).eval(), tokenizer, "qwen2-0.5b-random")
    if model != "default":
        source = resolve(str(Path(model)), settings.cache_dir)
        base, tokenizer = load(source, device=device, threads=threads)
    return Engine(base.to(_dtype(dtype)), tokenizer, source.version)


def _dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def weight_bytes(engine: Engine) -> int:
    return sum(p.numel() * p.element_size() for p in engine.model.parameters())


def bandwidth(device: torch.device, megabytes: int = 512, repeats: int = 5) -> float:
    """Bytes a second a large copy moves on `device` (read + write), the best of a few."""
    source = torch.empty(megabytes * 2**20, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        target.copy_(source)
        _sync(device)
        best = min(best, time.perf_counter() - started)
    return 2 * source.numel() / best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
