"""Pure row builders: a rated reply in, the JSON object of each export format out.

Every format carries, beside TRL's own fields, what a trainer needs to use the votes
honestly: `conversation_id` (a pseudonym, the same in every format and every export, so
a held-out split can keep a conversation's turns on one side), the `model_version` that
wrote the reply, and the `up`/`down` counts the label was taken from (so a 3-0 reply can
weigh more than a 2-1 one). A pairs row has both replies' versions and counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from typing import Any

from core.anonymize import conversation_pseudonym, rater_hash
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

    def conversation(self, secret: bytes) -> str:
        return conversation_pseudonym(secret, self.platform, self.conversation_id)


def raw_row(turn: RatedTurn, secret: bytes) -> dict[str, Any]:
    up, down = turn.counts
    return {
        "turn_id": turn.turn_id,
        "conversation_id": turn.conversation(secret),
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


def kto_row(turn: RatedTurn, secret: bytes) -> dict[str, Any] | None:
    """TRL's conversational unpaired preference row (the majority's label); None for a tie
    (left out)."""
    up, down = turn.counts
    verdict = label(up, down)
    if verdict is None:
        return None
    return {
        "prompt": turn.prompt,
        "completion": [{"role": "assistant", "content": turn.completion}],
        "label": verdict,
        "conversation_id": turn.conversation(secret),
        "model_version": turn.model_version,
        "up": up,
        "down": down,
    }


def pair_rows(siblings: Sequence[RatedTurn], secret: bytes) -> Iterator[dict[str, Any]]:
    """TRL's conversational preference rows from rated replies to one user message.

    Every two siblings with different net votes make a pair, the higher one chosen. The
    prompt is the context of the earlier sibling: siblings answer the same message, and
    their prompts differ only if the system prompt or budget changed between them.
    """
    for first, second in combinations(siblings, 2):
        if first.net == second.net:
            continue
        chosen, rejected = (first, second) if first.net > second.net else (second, first)
        (chosen_up, chosen_down), (rejected_up, rejected_down) = chosen.counts, rejected.counts
        yield {
            "prompt": first.prompt,
            "chosen": [{"role": "assistant", "content": chosen.completion}],
            "rejected": [{"role": "assistant", "content": rejected.completion}],
            "conversation_id": first.conversation(secret),
            "chosen_model_version": chosen.model_version,
            "rejected_model_version": rejected.model_version,
            "chosen_up": chosen_up,
            "chosen_down": chosen_down,
            "rejected_up": rejected_up,
            "rejected_down": rejected_down,
        }
