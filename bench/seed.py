"""Filling a store with many rated replies fast (bulk inserts, one transaction)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from core.store.schema import conversations, messages, turns, vote_events, votes
from core.types import DEFAULT_SYSTEM_PROMPT


def seed_votes(engine: Engine, n_votes: int, batch: int = 5000) -> None:
    """n_votes votes: each message gets 2 sibling replies, each reply 2 raters' votes,
    so every format (raw, kto with ties left out, pairs) has work to do."""
    now = datetime.now(UTC)
    n_messages = n_votes // 4
    with engine.begin() as conn:
        conn.execute(
            conversations.insert(),
            [{"id": 1, "platform": "bench", "chat_key": "bench", "created_at": now}],
        )
        for start in range(0, n_messages, batch):
            ids = range(start + 1, min(start + batch, n_messages) + 1)
            conn.execute(messages.insert(), [_message(i, now) for i in ids])
            conn.execute(turns.insert(), [t for i in ids for t in _siblings(i, now)])
            rows = [v for i in ids for v in _votes(i, now)]
            conn.execute(votes.insert(), rows)
            conn.execute(
                vote_events.insert(),
                [
                    {
                        **{k: r[k] for k in ("turn_id", "rater", "value", "reasons")},
                        "source": "bench",
                        "created_at": now,
                    }
                    for r in rows
                ],
            )


def _message(i: int, now: datetime) -> dict[str, Any]:
    return {
        "id": i,
        "conversation_id": 1,
        "author": f"U{i % 97}",
        "text": f"question number {i}: what should we have for lunch?",
        "created_at": now,
    }


def _siblings(i: int, now: datetime) -> list[dict[str, Any]]:
    prompt = [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": f"question number {i}: what should we have for lunch?"},
    ]
    return [
        {
            "id": 2 * i - 1 + k,
            "conversation_id": 1,
            "message_id": i,
            "request_key": f"b:{i}:{k}",
            "prompt": prompt,
            "completion": f"Reply {k} to {i}: how about soup and bread today?",
            "model_version": f"bench-v{i % 3}",
            "settings": {"max_new_tokens": 48},
            "timings": {"generate_s": 0.5},
            "created_at": now,
        }
        for k in (0, 1)
    ]


def _votes(i: int, now: datetime) -> list[dict[str, Any]]:
    # sibling 0: up + up (liked); sibling 1: up + down on even messages (a tie), else down + down
    values = [(1, 1), (1, -1) if i % 2 == 0 else (-1, -1)]
    return [
        {
            "turn_id": 2 * i - 1 + k,
            "rater": f"U{(i + r) % 211}",
            "value": values[k][r],
            "reasons": None,
            "updated_at": now,
        }
        for k in (0, 1)
        for r in (0, 1)
    ]
