"""Reading the reply loop's export files (`replyloop feedback export`) as they are: a
`kto` file is TRL's unpaired preference format, a `pairs` file its preference format, a
`raw` file one reply with its votes a line. Each line is checked; a bad one is named by
file and line, never silently skipped."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from training.data.chitchat import DataError

# One row of TRL's conversational formats, as a JSON object ({"prompt", "completion",
# "label"}, {"prompt", "chosen", "rejected"}, ...): what an export file's lines hold and what
# training.data.builders makes; the trainers read nothing else.
TrlRow = dict[str, Any]
ROLES = {"system", "user", "assistant"}


def _messages(value: Any, field: str) -> None:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{field!r} must be a non-empty list of messages")
    for message in value:
        if (
            not isinstance(message, dict)
            or message.get("role") not in ROLES
            or not isinstance(message.get("content"), str)
        ):
            raise ValueError(f"{field!r} holds {message!r}, not a {{role, content}} message")


def _reply(value: Any, field: str) -> None:
    _messages(value, field)
    if len(value) != 1 or value[0]["role"] != "assistant":
        raise ValueError(f"{field!r} must be one assistant message")


def _provenance(row: TrlRow) -> None:
    """The fields an export adds beside TRL's, where a row has them (older files do not)."""
    conversation = row.get("conversation_id")
    if conversation is not None and (
        isinstance(conversation, bool) or not isinstance(conversation, str | int)
    ):
        raise ValueError(f"'conversation_id' must be a string, got {conversation!r:.60}")
    for count in ("up", "down", "chosen_up", "chosen_down", "rejected_up", "rejected_down"):
        value = row.get(count)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{count!r} must be a count of votes, got {value!r:.60}")
        if isinstance(value, int) and value < 0:
            raise ValueError(f"{count!r} must be a count of votes, got {value}")


def check_vote(row: TrlRow) -> None:
    _provenance(row)
    _messages(row.get("prompt"), "prompt")
    _reply(row.get("completion"), "completion")
    if not isinstance(row.get("label"), bool):
        raise ValueError("'label' must be true or false")


def check_pair(row: TrlRow) -> None:
    _provenance(row)
    _messages(row.get("prompt"), "prompt")
    _reply(row.get("chosen"), "chosen")
    _reply(row.get("rejected"), "rejected")


def check_prompt(row: TrlRow) -> None:
    """Any export row (raw, kto, pairs) or a bare {"prompt": [...]} gives a prompt."""
    _provenance(row)
    _messages(row.get("prompt"), "prompt")


def _read(path: Path, check: Callable[[TrlRow], None], what: str) -> Iterator[TrlRow]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from exc
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
                check(row)
            except ValueError as exc:
                raise DataError(f"{path}:{number}: not a {what} row: {exc}") from None
            yield row


def read_votes(path: Path) -> list[TrlRow]:
    """A `kto` export: {"prompt", "completion", "label"} rows."""
    return list(_read(path, check_vote, "kto (vote)"))


def read_pairs(path: Path) -> list[TrlRow]:
    """A `pairs` export: {"prompt", "chosen", "rejected"} rows."""
    return list(_read(path, check_pair, "pairs"))


def read_prompts(path: Path) -> list[TrlRow]:
    """Rows of any export format, for their prompts (PPO's contexts)."""
    return list(_read(path, check_prompt, "prompt"))
