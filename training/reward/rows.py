"""Export rows (TRL's conversational formats) as the texts the reward model scores.

A row's reply must be one assistant message: training/scoring.py scores a prompt plus one
reply, and training must see exactly what scoring will.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.types import ChatMessage
from training.data.exports import TrlRow


def reply_of(messages: Sequence[ChatMessage], field: str) -> str:
    """The text of a completion that is one assistant message.

    >>> reply_of([{"role": "assistant", "content": "hi"}], "chosen")
    'hi'
    """
    if len(messages) != 1 or messages[0]["role"] != "assistant":
        raise ValueError(f"{field} must be one assistant message, got {list(messages)!r:.200}")
    return messages[0]["content"]


def pair_replies(row: TrlRow) -> tuple[list[ChatMessage], str, str]:
    """(prompt, chosen reply, rejected reply) of a `pairs` row."""
    return row["prompt"], reply_of(row["chosen"], "chosen"), reply_of(row["rejected"], "rejected")


def vote_reply(row: TrlRow) -> tuple[list[ChatMessage], str, bool]:
    """(prompt, reply, 👍?) of a `kto` row."""
    if not isinstance(row["label"], bool):
        raise ValueError(f"a vote's label is true or false, got {row['label']!r}")
    return row["prompt"], reply_of(row["completion"], "completion"), row["label"]
