"""Every training path splits by conversation: an export with multi-turn conversations,
written by core/export/rows.py, loaded by each data builder, never has one conversation on
both sides of the held-out split."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.export.rows import CastVote, RatedTurn, kto_row, pair_rows, raw_row
from core.types import ChatMessage
from replyloop.rloo_command import split_prompts
from training.data import chitchat
from training.data.builders import RowShape, sft_rows
from training.data.sources import (
    Split,
    prompts,
    rm_pairs,
    sft_data,
    split_rows,
    vote_pairs,
    votes,
)

SECRET = b"split-secret"
CONVERSATIONS, TURNS, PERCENT = 40, 4, 30.0
WHEN = datetime(2026, 12, 1, tzinfo=UTC)


def said(c: int, t: int) -> str:
    return f"conversation {c}, message {t}"


def conversation_turns(c: int) -> list[tuple[RatedTurn, RatedTurn]]:
    """Each user message of conversation `c` answered twice (a 👍 reply, then a 👎 retry);
    a turn's prompt holds the turns before it, as the workers build it."""
    made = []
    prompt: list[ChatMessage] = []
    for t in range(TURNS):
        prompt = [*prompt, {"role": "user", "content": said(c, t)}]

        def turn(k: int, vote: int, prompt: list[ChatMessage] = prompt, t: int = t) -> RatedTurn:
            return RatedTurn(
                turn_id=1000 * c + 10 * t + k,
                conversation_id=c,
                message_id=100 * c + t,
                platform="slack",
                prompt=prompt,
                completion=f"reply {k} to {said(c, t)}",
                model_version="v1",
                settings={},
                created_at=WHEN,
                votes=(CastVote("U1", vote, None),),
            )

        liked, disliked = turn(0, 1), turn(1, -1)
        made.append((liked, disliked))
        prompt = [*prompt, {"role": "assistant", "content": liked.completion}]
    return made


def write(path: Path, rows: Iterable[dict[str, Any] | None]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows if row is not None))
    return str(path)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """One export of every format, as `replyloop feedback export` writes them."""
    siblings = [pair for c in range(CONVERSATIONS) for pair in conversation_turns(c)]
    turns = [turn for pair in siblings for turn in pair]
    return {
        "raw": write(tmp_path / "raw.jsonl", (raw_row(t, SECRET) for t in turns)),
        "kto": write(tmp_path / "kto.jsonl", (kto_row(t, SECRET) for t in turns)),
        "pairs": write(
            tmp_path / "pairs.jsonl", (r for pair in siblings for r in pair_rows(pair, SECRET))
        ),
    }


def conversation_of(row: dict[str, Any]) -> str:
    """Which conversation a built row came from, read off its prompt's last user message
    (what the trainers get has no conversation id: TRL's fields only)."""
    last = [m["content"] for m in row["prompt"] if m["role"] == "user"][-1]
    return last.split(",")[0]


def assert_disjoint(split: Split) -> None:
    train = {conversation_of(row) for row in split.train}
    kept = {conversation_of(row) for row in split.held_out}
    assert train and kept, "both sides hold some conversations"
    assert not train & kept, f"on both sides: {sorted(train & kept)}"
    assert split.by_prompt == 0 and split.key == "conversation"


def test_sft_on_liked_replies(files: dict[str, str]) -> None:
    assert_disjoint(sft_data([files["kto"]], None, PERCENT, RowShape(), 0))


def test_kto_and_rm_votes(files: dict[str, str]) -> None:
    assert_disjoint(votes([files["kto"]], PERCENT))


def test_rm_pairs(files: dict[str, str]) -> None:
    assert_disjoint(rm_pairs([files["pairs"]], None, PERCENT, RowShape(), 0))


def test_dpo_pairs_mined_from_votes(files: dict[str, str]) -> None:
    split = vote_pairs([files["kto"]], PERCENT)
    assert len(split.train) + len(split.held_out) == CONVERSATIONS * TURNS  # one a context
    assert_disjoint(split)


@pytest.mark.parametrize("fmt", ["raw", "kto", "pairs"])
def test_ppo_and_eval_prompts(files: dict[str, str], fmt: str) -> None:
    assert_disjoint(prompts([files[fmt]], None, PERCENT, RowShape(), 0))


def test_rloo_prompts_from_a_kto_export(files: dict[str, str]) -> None:
    """`train rloo --prompts`: every turn of a conversation on one side, as for PPO."""
    split = split_prompts([files["kto"]], None, PERCENT, 3, 0)
    assert len(split.train) + len(split.held_out) == CONVERSATIONS * TURNS  # one a prompt
    assert_disjoint(split)


def test_one_conversation_is_on_the_same_side_in_every_format(files: dict[str, str]) -> None:
    sides = {}
    for fmt in ("raw", "kto", "pairs"):
        split = prompts([files[fmt]], None, PERCENT, RowShape(), 0)
        sides[fmt] = {conversation_of(row) for row in split.held_out}
    assert sides["raw"] == sides["kto"] == sides["pairs"]


def test_chitchat_rows() -> None:
    """The packaged conversations, split by their id: a reply (with the message it answers)
    that occurs in one conversation only is never on both sides."""
    owners: dict[str, set[str]] = {}
    for conversation in chitchat.load():
        for row in sft_rows([conversation], RowShape()):
            owners.setdefault(json.dumps(row), set()).add(conversation.id)
    split = sft_data(["chitchat"], 500, PERCENT, RowShape(), 0)

    def ids(rows: list[dict[str, Any]]) -> set[str]:
        return {next(iter(o)) for row in rows if len(o := owners[json.dumps(row)]) == 1}

    train, kept = ids(split.train), ids(split.held_out)
    assert len(train) > 100 and len(kept) > 50 and not train & kept


def test_older_exports_fall_back_to_the_prompt_and_say_so(
    files: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    rows = [json.loads(line) for line in Path(files["kto"]).read_text().splitlines()]
    older = [{k: row[k] for k in ("prompt", "completion", "label")} for row in rows]
    with caplog.at_level(logging.WARNING):
        train, kept, by_prompt = split_rows(older, PERCENT, "old.kto.jsonl")
    assert by_prompt == len(older) and len(train) + len(kept) == len(older)
    assert "old.kto.jsonl: 320 of 320 rows carry no conversation_id" in caplog.text
    # Each prompt stays on one side (siblings together), as before conversation ids.
    sides = {json.dumps(r["prompt"]): r in kept for r in older}
    assert all(sides[json.dumps(r["prompt"])] == (r in kept) for r in older)


def test_two_reward_models_can_learn_from_disjoint_conversations(files: dict[str, str]) -> None:
    """`train rm --train-part a` and `b` (PPO's reward model and eval's judge): their
    training conversations are disjoint and together all of them; the held-out side is the
    same for both."""
    whole = rm_pairs([files["pairs"]], None, PERCENT, RowShape(), 0)
    halves = [rm_pairs([files["pairs"]], None, PERCENT, RowShape(), 0, part) for part in "ab"]
    seen = [{conversation_of(row) for row in half.train} for half in halves]
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert seen[0] | seen[1] == {conversation_of(row) for row in whole.train}
    assert all(half.held_out == whole.held_out for half in halves)
    voted = [votes([files["kto"]], PERCENT, part) for part in "ab"]
    assert not {conversation_of(r) for r in voted[0].train} & {
        conversation_of(r) for r in voted[1].train
    }
