"""The messages about a self-built-app rating card (bots.wecom.feedback handles them): a
press, which the adapter takes itself and queues only when the database is down, then the
card's update, on the io queue."""

from __future__ import annotations

from dataclasses import dataclass

from bots.wecom.cards import Action
from wire.tasks import TaskMessage

# "feedback.*" and "deliver.*" route them to the io queue (wire.queues).
CARD_PRESS = "replyloop.feedback.wecom_card"
CARD_UPDATE = "replyloop.deliver.wecom.card"


@dataclass(frozen=True)
class CardPress(TaskMessage):
    """A person pressed `action` on the card of reply `turn_id` (at epoch `at`)."""

    TASK = CARD_PRESS

    chat_key: str
    turn_id: int
    action: Action
    response_code: str
    at: float | None = None


@dataclass(frozen=True)
class CardUpdate(TaskMessage):
    """Show on the pressed card what was taken (with the press's one-use ResponseCode)."""

    TASK = CARD_UPDATE

    chat_key: str
    turn_id: int
    action: Action
    response_code: str
    reply: str
