"""Data builders: chitchat's file shape in, TRL rows out, exactly; export files read as
they are written."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.export.rows import CastVote, RatedTurn, kto_row, pair_rows
from core.types import DEFAULT_SYSTEM_PROMPT
from training.data import chitchat, exports
from training.data.builders import (
    RowShape,
    liked_rows,
    selection_pairs,
    sft_rows,
    unique_prompts,
)
from training.data.chitchat import Conversation, DataError


def message(text: str, sender: str) -> dict[str, str]:
    return {"text": text, "timestamp": "2018-05-02T19:38:15Z", "sender": sender}


def write_dataset(path: Path) -> Path:
    data = {
        "c1": {
            "messages": [
                [message("Hello", "a"), message("How are you?", "a")],
                [message("good", "b")],
                [message("  ", "a")],  # blank: dropped, b's turns around it merge
                [message("and you?", "b")],
                [message("fine", "a")],
            ]
        },
        "c2": {"messages": [[message("hi", "x")], [message("hey there", "y")]]},
        "lonely": {"messages": [[message("anyone?", "z")]]},  # one speaker: not a conversation
    }
    path.write_text(json.dumps(data))
    return path


def test_chitchat_turns_alternate_speakers(tmp_path: Path) -> None:
    loaded = chitchat.load(write_dataset(tmp_path / "dataset.json"))
    assert loaded == [
        Conversation("c1", ("Hello\nHow are you?", "good\nand you?", "fine")),
        Conversation("c2", ("hi", "hey there")),
    ]


def test_packaged_chitchat_loads() -> None:
    loaded = chitchat.load()
    assert len(loaded) == 4017  # of 7,168: the rest have one speaker only
    assert chitchat.version() == "chitchat-dataset==0.9.0"


def test_sft_rows_exact(tmp_path: Path) -> None:
    loaded = chitchat.load(write_dataset(tmp_path / "dataset.json"))
    system = {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}
    assert sft_rows(loaded) == [
        {
            "prompt": [system, {"role": "user", "content": "Hello\nHow are you?"}],
            "completion": [{"role": "assistant", "content": "good\nand you?"}],
        },
        {
            # two turns fit before the reply, but the prompt must open with a user turn
            "prompt": [system, {"role": "user", "content": "good\nand you?"}],
            "completion": [{"role": "assistant", "content": "fine"}],
        },
        {
            "prompt": [system, {"role": "user", "content": "hi"}],
            "completion": [{"role": "assistant", "content": "hey there"}],
        },
    ]


def test_long_context_keeps_the_newest_turns() -> None:
    c = Conversation("c", ("u1", "a1", "u2", "a2", "u3", "a3"))
    rows = sft_rows([c], RowShape(system_prompt="", context_turns=3))
    assert rows[-1] == {
        "prompt": [
            {"role": "user", "content": "u2"},
            {"role": "assistant", "content": "a2"},
            {"role": "user", "content": "u3"},
        ],
        "completion": [{"role": "assistant", "content": "a3"}],
    }


def test_too_long_replies_are_not_used() -> None:
    c = Conversation("c", ("u1", "x" * 50, "u2", "short"))
    rows = sft_rows([c], RowShape(system_prompt="", max_chars=20))
    assert [r["completion"][0]["content"] for r in rows] == ["u2", "short"]


def test_selection_pairs_exact() -> None:
    c1 = Conversation("c1", ("hi", "hello"))
    c2 = Conversation("c2", ("what's up", "not much"))
    assert selection_pairs([c1, c2], RowShape(system_prompt="")) == [
        {
            "prompt": [{"role": "user", "content": "hi"}],
            "chosen": [{"role": "assistant", "content": "hello"}],
            "rejected": [{"role": "assistant", "content": "not much"}],
        },
        {
            "prompt": [{"role": "user", "content": "what's up"}],
            "chosen": [{"role": "assistant", "content": "not much"}],
            "rejected": [{"role": "assistant", "content": "hello"}],
        },
    ]


def test_limit_draws_the_same_rows_for_the_same_seed() -> None:
    loaded = chitchat.load()[:50]
    first = selection_pairs(loaded, limit=20, seed=3)
    assert first == selection_pairs(loaded, limit=20, seed=3)
    assert first != selection_pairs(loaded, limit=20, seed=4)
    assert len(first) == 20
    assert all(r["chosen"] != r["rejected"] for r in first)


SECRET = b"data-secret"


def rated(turn_id: int, message_id: int, completion: str, votes: list[int]) -> RatedTurn:
    return RatedTurn(
        turn_id=turn_id,
        conversation_id=1,
        message_id=message_id,
        platform="slack",
        prompt=[{"role": "user", "content": "ping"}],
        completion=completion,
        model_version="v1",
        settings={},
        created_at=datetime(2026, 11, 26, tzinfo=UTC),
        votes=tuple(CastVote(f"u{i}", value, None) for i, value in enumerate(votes)),
    )


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_export_files_are_read_as_written(tmp_path: Path) -> None:
    good, bad = rated(1, 1, "pong", [1, 1]), rated(2, 1, "what?", [-1])
    votes = [kto_row(good, SECRET), kto_row(bad, SECRET)]
    path = write_jsonl(tmp_path / "votes.kto.jsonl", [v for v in votes if v])
    assert exports.read_votes(path) == votes
    pairs = list(pair_rows([good, bad], SECRET))
    assert exports.read_pairs(write_jsonl(tmp_path / "p.jsonl", pairs)) == pairs
    assert liked_rows(exports.read_votes(path)) == [
        {"prompt": good.prompt, "completion": [{"role": "assistant", "content": "pong"}]}
    ]
    assert list(unique_prompts(exports.read_prompts(path))) == [good.prompt]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("{not json", "not a kto (vote) row"),
        ('{"prompt": [], "completion": [], "label": true}', "'prompt' must be a non-empty"),
        (
            '{"prompt": [{"role": "user", "content": "a"}], '
            '"completion": [{"role": "user", "content": "b"}], "label": true}',
            "'completion' must be one assistant message",
        ),
        (
            '{"prompt": [{"role": "user", "content": "a"}], '
            '"completion": [{"role": "assistant", "content": "b"}], "label": 1}',
            "'label' must be true or false",
        ),
        (
            '{"prompt": [{"role": "user", "content": "a"}], "conversation_id": ["c"], '
            '"completion": [{"role": "assistant", "content": "b"}], "label": true}',
            "'conversation_id' must be a string",
        ),
        (
            '{"prompt": [{"role": "user", "content": "a"}], "up": -1, '
            '"completion": [{"role": "assistant", "content": "b"}], "label": true}',
            "'up' must be a count of votes",
        ),
    ],
)
def test_a_bad_line_is_named(tmp_path: Path, line: str, says: str) -> None:
    good = json.dumps(kto_row(rated(1, 1, "pong", [1]), SECRET))
    path = tmp_path / "votes.jsonl"
    path.write_text(f"{good}\n\n{line}\n")
    with pytest.raises(DataError, match=f"votes.jsonl:3: .*{re.escape(says)}"):
        exports.read_votes(path)


def test_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read .*nope.jsonl: No such file"):
        exports.read_pairs(tmp_path / "nope.jsonl")
