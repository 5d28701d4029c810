"""Presses on a self-built-app reply's rating card (io queue tasks).

The adapter answers WeCom's `template_card_event` at once and queues `CARD_PRESS`: a 👍 or
👎 is stored as that person's vote (pressing the other switches it), 🔄 asks for a sibling
reply. Then `CARD_UPDATE` replaces the card, with the event's one-use ResponseCode, by one
that says what was taken; a card that cannot be updated (the code expired after 72 hours)
is logged, and the vote stands.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.exc import OperationalError

from bots.refusals import RETRY, Transient
from bots.wecom.cards import CARD_PRESS, Action, rating_card
from bots.wecom.client import wecom_client
from bots.wecom.delivery import refused_logged
from bots.wecom.translate import app_user, rater
from core.errors import UnknownTurn
from core.types import Vote
from workers import runtime
from workers.celery_app import app, enqueue, request_reply

log = logging.getLogger(__name__)

CARD_UPDATE = "replyloop.deliver.wecom.card"
VOTES: dict[Action, Vote] = {"up": Vote.UP, "down": Vote.DOWN}
# The store may blink too (failover): the press is retried, never dropped.
STORE_RETRY = {**RETRY, "autoretry_for": (Transient, OSError, OperationalError)}


@app.task(name=CARD_PRESS, **STORE_RETRY)
def card_press(
    chat_key: str, turn_id: int, action: Action, response_code: str, at: float | None = None
) -> None:
    """A person pressed `action` on the card of reply `turn_id` (at epoch `at`)."""
    store = runtime.current().store
    corp_id, _agent, user = app_user(chat_key)
    try:
        turn = store.turn(turn_id)
        if action == "retry":
            request_reply(turn.message_id, retry=True, retry_id=f"wecom:{response_code}")
        else:
            when = datetime.fromtimestamp(at, UTC) if at is not None else None
            store.vote(turn_id, rater(corp_id, user), VOTES[action], "wecom_card", at=when)
    except UnknownTurn:
        log.info("WeCom card press %s on unknown reply %s by %s", action, turn_id, user)
        return
    if response_code:
        enqueue(CARD_UPDATE, chat_key, turn_id, action, response_code, turn.completion)


@app.task(name=CARD_UPDATE, **RETRY)
def card_update(
    chat_key: str, turn_id: int, action: Action, response_code: str, reply: str
) -> None:
    """Show on the pressed card what was taken."""
    _corp, agent_id, user = app_user(chat_key)
    with refused_logged(f"rating card of reply {turn_id} for {user}"):
        wecom_client(runtime.current().settings).call(
            "message/update_template_card",
            {
                "userids": [user],
                "agentid": agent_id,
                "response_code": response_code,
                "template_card": rating_card(turn_id, reply, action),
            },
        )
