"""Preference pairs mined from 👍/👎 votes (a `kto` export): within one context, a liked
reply is chosen over a disliked one.

One context is one conversation (its `conversation_id`) and one prompt: the same turns
before the reply, so both replies answer the same message with the same history (the
siblings 🔄 makes, or replies the prompt was sent to again). Replies of two conversations
are never paired, even to an identical prompt: their people and what they meant differ.
Rows of older exports, without a conversation id, can only be grouped by their prompt.

A mined pair is written like a `pairs` export row (TRL's preference fields and both
replies' model versions and counts), so the trainers read both kinds alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from training.data.exports import TrlRow


def context(row: TrlRow) -> tuple[str | None, str]:
    """(conversation id, prompt) of a vote row: what its pair partners share."""
    conversation = row.get("conversation_id")
    return (
        None if conversation is None else str(conversation),
        json.dumps(row["prompt"], sort_keys=True, ensure_ascii=False),
    )


def mined_pairs(votes: Iterable[TrlRow]) -> list[TrlRow]:
    """Every 👍 reply against every 👎 reply of its context, contexts in the order they
    first appear; a liked and a disliked reply with the same text make no pair.

    >>> def vote(conversation, question, reply, label):
    ...     return {"prompt": [{"role": "user", "content": question}], "label": label,
    ...             "completion": [{"role": "assistant", "content": reply}],
    ...             "conversation_id": conversation}
    >>> pairs = mined_pairs([
    ...     vote("c1", "hi", "hello!", True), vote("c1", "hi", "go away", False),
    ...     vote("c2", "hi", "rude", False),  # another conversation: not paired with c1
    ...     vote("c1", "and you?", "fine", True),  # another prompt: nothing to pair with
    ... ])
    >>> [(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs]
    [('hello!', 'go away')]
    """
    groups: dict[tuple[str | None, str], list[TrlRow]] = {}
    for row in votes:
        groups.setdefault(context(row), []).append(row)
    pairs = []
    for rows in groups.values():
        for chosen in (row for row in rows if row["label"]):
            for rejected in (row for row in rows if not row["label"]):
                if chosen["completion"] != rejected["completion"]:
                    pairs.append(pair(chosen, rejected))
    return pairs


def pair(chosen: TrlRow, rejected: TrlRow) -> TrlRow:
    """A `pairs` export row (core.export.rows.pair_rows) from two vote rows of one context."""
    row: TrlRow = {
        "prompt": chosen["prompt"],
        "chosen": chosen["completion"],
        "rejected": rejected["completion"],
    }
    if chosen.get("conversation_id") is not None:
        row["conversation_id"] = chosen["conversation_id"]
    for side, vote in (("chosen", chosen), ("rejected", rejected)):
        for field in ("model_version", "up", "down"):
            if field in vote:
                row[f"{side}_{field}"] = vote[field]
    return row
