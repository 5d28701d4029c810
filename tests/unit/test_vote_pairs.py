"""Pairs mined from a kto export (training.data.vote_pairs): a 👍 reply against a 👎 reply
of the same conversation and the same prompt, never across conversations or prompts, and
written like the pairs export's rows."""

from __future__ import annotations

import doctest
import json
from datetime import UTC, datetime
from typing import Any

import training.data.vote_pairs
from core.export.rows import CastVote, RatedTurn, kto_row, pair_rows
from core.types import ChatMessage
from training.data.exports import check_pair
from training.data.vote_pairs import mined_pairs

SECRET = b"mining-secret"


def turn(conversation: int, turn_id: int, said: str, reply: str, votes: list[int]) -> RatedTurn:
    prompt: list[ChatMessage] = [{"role": "user", "content": said}]
    return RatedTurn(
        turn_id=turn_id,
        conversation_id=conversation,
        message_id=turn_id,
        platform="slack",
        prompt=prompt,
        completion=reply,
        model_version=f"v{turn_id % 2}",
        settings={},
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        votes=tuple(CastVote(f"U{i}", v, None) for i, v in enumerate(votes)),
    )


def exported(*turns: RatedTurn) -> list[dict[str, Any]]:
    rows = [kto_row(t, SECRET) for t in turns]
    return [json.loads(json.dumps(row)) for row in rows if row is not None]


def shown(pairs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs]


def test_only_within_one_conversation_and_prompt() -> None:
    votes = exported(
        turn(1, 1, "hi", "hello!", [1]),
        turn(1, 2, "hi", "go away", [-1]),
        turn(1, 3, "and you?", "meh", [-1]),  # another prompt of conversation 1
        turn(2, 4, "hi", "hey there", [1]),  # "hi" again, in conversation 2
        turn(2, 5, "and you?", "fine, thanks", [1, 1]),
        turn(3, 6, "hi", "whatever", [-1]),
    )
    pairs = mined_pairs(votes)
    assert shown(pairs) == [("hello!", "go away")]
    assert pairs[0]["conversation_id"] == votes[0]["conversation_id"]


def test_every_liked_reply_against_every_disliked_one() -> None:
    votes = exported(
        turn(1, 1, "hi", "hello!", [1]),
        turn(1, 2, "hi", "go away", [-1]),
        turn(1, 3, "hi", "hey", [1, 1, -1]),
        turn(1, 4, "hi", "no", [-1, -1]),
        turn(1, 5, "hi", "hello!", [-1]),  # the liked text again, disliked: no pair with it
    )
    assert shown(mined_pairs(votes)) == [
        ("hello!", "go away"),
        ("hello!", "no"),
        ("hey", "go away"),
        ("hey", "no"),
        ("hey", "hello!"),
    ]


def test_a_mined_pair_is_the_pairs_exports_row() -> None:
    """Two siblings voted 👍 and 👎: mining the kto rows gives exactly the pairs row."""
    liked, disliked = turn(1, 1, "hi", "hello!", [1, 1]), turn(1, 2, "hi", "go away", [1, -1, -1])
    [mined] = mined_pairs(exported(liked, disliked))
    [expected] = [json.loads(json.dumps(r)) for r in pair_rows([liked, disliked], SECRET)]
    assert mined == expected
    check_pair(mined)


def test_older_rows_without_conversation_id_pair_by_prompt() -> None:
    votes = [
        {k: row[k] for k in ("prompt", "completion", "label")}
        for row in exported(turn(1, 1, "hi", "hello!", [1]), turn(2, 2, "hi", "no", [-1]))
    ]
    [pair] = mined_pairs(votes)
    assert shown([pair]) == [("hello!", "no")] and "conversation_id" not in pair


def test_doctests() -> None:
    assert doctest.testmod(training.data.vote_pairs).failed == 0
