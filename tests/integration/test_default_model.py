"""The real default model, through the real conversion path (about 30 s on 2 cores)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.types import ChatMessage, GenerationSettings
from workers.engine import Engine
from workers.models import BUILTIN, BUILTIN_VERSION, load, resolve


@pytest.mark.slow
def test_default_model_is_converted_once_and_answers(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = resolve(BUILTIN, tmp_path)  # a fresh cache: the GGUF is really converted
    converted = tmp_path / "models" / BUILTIN
    assert source.path == converted and (converted / "config.json").exists()
    assert source.version == BUILTIN_VERSION
    assert "Converting SmolLM2-135M-Instruct.Q4_1.gguf once" in capfd.readouterr().err
    assert not list((tmp_path / "models").glob("*.partial"))

    again = resolve(BUILTIN, tmp_path)  # the second start only loads
    assert again == source and "Converting" not in capfd.readouterr().err

    model, tokenizer = load(source, device="cpu")
    engine = Engine(model, tokenizer, source.version)
    messages: list[ChatMessage] = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    reply = engine.generate(messages, GenerationSettings(max_new_tokens=24, temperature=0.0))
    assert reply.text.strip()
    assert "Paris" in reply.text
