"""core.export.rows: a rated reply in, the exact JSON object of each export format out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from core.export.rows import CastVote, RatedTurn, kto_row, pair_rows, raw_row
from core.types import ChatMessage

SECRET = b"test-secret"
PROMPT: list[ChatMessage] = [
    {"role": "system", "content": "Be kind."},
    {"role": "user", "content": "What is RLHF?"},
]
SETTINGS = {"max_new_tokens": 48, "temperature": 0.7}
WHEN = datetime(2026, 11, 22, 15, 30, 0, 250000, tzinfo=UTC)


def rated(
    turn_id: int,
    completion: str,
    *votes: tuple[str, int],
    message_id: int = 7,
    platform: str = "slack",
    prompt: list[ChatMessage] = PROMPT,
    reasons: dict[str, Any] | None = None,
) -> RatedTurn:
    return RatedTurn(
        turn_id=turn_id,
        conversation_id=3,
        message_id=message_id,
        platform=platform,
        prompt=prompt,
        completion=completion,
        model_version="sft-v1",
        settings=SETTINGS,
        created_at=WHEN,
        votes=tuple(CastVote(rater, value, reasons) for rater, value in votes),
    )


def test_raw_row_is_exact_and_pseudonymous() -> None:
    turn = rated(11, "Learning from votes.", ("U_alice", 1), ("U_bob", -1))
    assert raw_row(turn, SECRET) == {
        "turn_id": 11,
        "conversation_id": 3,
        "platform": "slack",
        "prompt": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "What is RLHF?"},
        ],
        "completion": "Learning from votes.",
        "model_version": "sft-v1",
        "generation_settings": {"max_new_tokens": 48, "temperature": 0.7},
        "up": 1,
        "down": 1,
        "raters": [
            {"rater": "0644c0ac17789aa39a9ac460", "vote": 1, "reasons": None},
            {"rater": "1d09e2af334c6b68f8aa0af1", "vote": -1, "reasons": None},
        ],
        "created_at": "2026-11-22T15:30:00.250000+00:00",
    }


def test_raw_row_keeps_reasons_and_hashes_per_platform() -> None:
    turn = rated(12, "Hi.", ("U_alice", -1), platform="telegram", reasons={"tags": ["rude"]})
    row = raw_row(turn, SECRET)
    assert row["raters"] == [
        {"rater": "0a19e37f9dfb2705f0a8cef9", "vote": -1, "reasons": {"tags": ["rude"]}}
    ]
    assert (row["up"], row["down"]) == (0, 1)


def test_raw_row_never_contains_the_clear_rater_id() -> None:
    turn = rated(13, "x", ("U_alice", 1), ("U_bob", 1))
    dumped = json.dumps(raw_row(turn, SECRET))
    assert "U_alice" not in dumped
    assert "U_bob" not in dumped


def test_kto_row_liked() -> None:
    assert kto_row(rated(21, "Good.", ("U_alice", 1), ("U_bob", 1), ("U_carol", -1))) == {
        "prompt": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "What is RLHF?"},
        ],
        "completion": [{"role": "assistant", "content": "Good."}],
        "label": True,
    }


def test_kto_row_disliked() -> None:
    assert kto_row(rated(22, "Bad.", ("U_alice", -1))) == {
        "prompt": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "What is RLHF?"},
        ],
        "completion": [{"role": "assistant", "content": "Bad."}],
        "label": False,
    }


def test_kto_leaves_ties_out() -> None:
    assert kto_row(rated(23, "Meh.", ("U_alice", 1), ("U_bob", -1))) is None
    assert kto_row(rated(24, "Unrated.")) is None


def test_pairs_between_siblings_with_different_net_votes_higher_chosen() -> None:
    other_prompt: list[ChatMessage] = [{"role": "user", "content": "What is RLHF?"}]
    liked = rated(31, "Liked.", ("U_alice", 1))
    disliked = rated(32, "Disliked.", ("U_alice", -1), prompt=other_prompt)
    also_liked = rated(33, "Also liked.", ("U_bob", 1))
    assert list(pair_rows([liked, disliked, also_liked])) == [
        {
            "prompt": [
                {"role": "system", "content": "Be kind."},
                {"role": "user", "content": "What is RLHF?"},
            ],
            "chosen": [{"role": "assistant", "content": "Liked."}],
            "rejected": [{"role": "assistant", "content": "Disliked."}],
        },
        {
            "prompt": [{"role": "user", "content": "What is RLHF?"}],
            "chosen": [{"role": "assistant", "content": "Also liked."}],
            "rejected": [{"role": "assistant", "content": "Disliked."}],
        },
    ]


def test_pairs_order_by_net_not_by_position() -> None:
    worse = rated(41, "Worse.", ("U_alice", 1), ("U_bob", -1))  # net 0
    better = rated(42, "Better.", ("U_alice", 1), ("U_bob", 1), ("U_carol", -1))  # net +1
    assert list(pair_rows([worse, better])) == [
        {
            "prompt": [
                {"role": "system", "content": "Be kind."},
                {"role": "user", "content": "What is RLHF?"},
            ],
            "chosen": [{"role": "assistant", "content": "Better."}],
            "rejected": [{"role": "assistant", "content": "Worse."}],
        }
    ]


def test_no_pairs_from_ties_or_a_single_reply() -> None:
    assert list(pair_rows([rated(51, "a", ("U_alice", 1)), rated(52, "b", ("U_bob", 1))])) == []
    assert list(pair_rows([rated(53, "only", ("U_alice", -1))])) == []
    assert list(pair_rows([])) == []
