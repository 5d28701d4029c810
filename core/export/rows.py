"""Pure row builders: a rated reply in, the JSON object of each export format out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from typing import Any

from core.anonymize import rater_hash
from core.types import ChatMessage
from core.votes import label, tally


@dataclass(frozen=True)
class CastVote:
    rater: str
    value: int
    reasons: dict[str, Any] | None


@dataclass(frozen=True)
class RatedTurn:
    """A reply with the votes that stand on it (retracted ones excluded)."""

    turn_id: int
    conversation_id: int
    message_id: int
    platform: str
    prompt: list[ChatMessage]
    completion: str
    model_version: str
    settings: dict[str, Any]
    created_at: datetime
    votes: tuple[CastVote, ...]

    @property
    def counts(self) -> tuple[int, int]:
        return tally(v.value for v in self.votes)

    @property
    def net(self) -> int:
        up, down = self.counts
        return up - down


def raw_row(turn: RatedTurn, secret: bytes) -> dict[str, Any]:
    up, down = turn.counts
    return {
        "turn_id": turn.turn_id,
        "conversation_id": turn.conversation_id,
        "platform": turn.platform,
        "prompt": turn.prompt,
        "completion": turn.completion,
        "model_version": turn.model_version,
        "generation_settings": turn.settings,
        "up": up,
        "down": down,
        "raters": [
            {
                "rater": rater_hash(secret, turn.platform, v.rater),
                "vote": v.value,
                "reasons": v.reasons,
            }
            for v in turn.votes
        ],
        "created_at": turn.created_at.isoformat(),
    }


def kto_row(turn: RatedTurn) -> dict[str, Any] | None:
    """TRL's conversational unpaired preference row; None for a tie (left out)."""
    verdict = label(*turn.counts)
    if verdict is None:
        return None
    return {
        "prompt": turn.prompt,
        "completion": [{"role": "assistant", "content": turn.completion}],
        "label": verdict,
    }


def pair_rows(siblings: Sequence[RatedTurn]) -> Iterator[dict[str, Any]]:
    """TRL's conversational preference rows from rated replies to one user message.

    Every two siblings with different net votes make a pair, the higher one chosen. The
    prompt is the context of the earlier sibling: siblings answer the same message, and
    their prompts differ only if the system prompt or budget changed between them.
    """
    for first, second in combinations(siblings, 2):
        if first.net == second.net:
            continue
        chosen, rejected = (first, second) if first.net > second.net else (second, first)
        yield {
            "prompt": first.prompt,
            "chosen": [{"role": "assistant", "content": chosen.completion}],
            "rejected": [{"role": "assistant", "content": rejected.completion}],
        }
