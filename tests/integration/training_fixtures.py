"""What the trainer tests share: a network guard, a tiny model laid out like SmolLM2, and
vote rows exactly as `replyloop feedback export --format kto` writes them."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trl.trainer.base_trainer
from transformers import AutoTokenizer

from core.export.rows import CastVote, RatedTurn, kto_row
from core.types import ChatMessage
from workers.tiny_model import make_tiny_model


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Any attempt to reach the network fails the test: a TCP connect, or TRL's usage ping
    (which would go out on a thread of its own, so it is caught where it is sent). Autouse
    in every module that imports it."""
    attempts: list[Any] = []

    def connect(sock: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError(f"test is offline: connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(trl.trainer.base_trainer, "send_telemetry", lambda **k: attempts.append(k))
    monkeypatch.delenv("CI", raising=False)  # TRL skips its ping under CI: test the real path
    yield attempts
    assert attempts == []


def smol_like(folder: Path, hidden: int = 64) -> Path:
    """A tiny Llama whose pad token is its end-of-turn token, as in SmolLM2-135M-Instruct."""
    make_tiny_model(folder, hidden=hidden)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.save_pretrained(folder)
    return folder


def exported_vote(
    turn_id: int, prompt: list[ChatMessage], reply: str, votes: list[int]
) -> dict[str, Any]:
    """One line of a kto export, read back from the file (None for a tie is not allowed)."""
    turn = RatedTurn(
        turn_id=turn_id,
        conversation_id=turn_id,
        message_id=turn_id,
        platform="slack",
        prompt=prompt,
        completion=reply,
        model_version="tiny",
        settings={},
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        votes=tuple(CastVote(f"U{i}", value, None) for i, value in enumerate(votes)),
    )
    row = kto_row(turn, b"fixture-secret")
    assert row is not None, "a tie is left out of the export"
    loaded: dict[str, Any] = json.loads(json.dumps(row))
    return loaded
