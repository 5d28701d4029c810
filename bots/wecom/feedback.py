"""Presses on a self-built-app reply's rating card.

The adapter takes WeCom's `template_card_event` itself before it answers (`take_press`):
a 👍 or 👎 is stored as that person's vote (pressing the other switches it), 🔄 asks for a
sibling reply. Only when the database is down does the press go to the io queue
(`CARD_PRESS`), retried until the store takes it: a vote never waits on an io worker, which
killed while holding it held it for the visibility timeout. Then `CARD_UPDATE` replaces
the card, with the event's one-use ResponseCode, by one that says what was taken; a card
that cannot be updated (the code expired after 72 hours) is logged, and the vote stands.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from bots.refusals import RETRY, Transient
from bots.wecom.card_messages import CardPress, CardUpdate
from bots.wecom.cards import Action, rating_card
from bots.wecom.client import wecom_client
from bots.wecom.delivery import refused_logged
from bots.wecom.settings import WeComSettings
from bots.wecom.translate import app_user, rater
from core.errors import UnknownTurn
from core.store import Store
from core.types import Vote
from wire import metrics, process
from wire.messages import request_reply
from wire.tasks import handles, send

log = logging.getLogger(__name__)

VOTES: dict[Action, Vote] = {"up": Vote.UP, "down": Vote.DOWN}
# The store may blink too (failover): the press is retried, never dropped.
STORE_RETRY = {**RETRY, "autoretry_for": (Transient, OSError, OperationalError)}


def take_press(store: Store, press: CardPress) -> None:
    """The adapter's: the press taken now, or queued for the io queue when the database
    is down."""
    try:
        pressed(store, press)
    except SQLAlchemyError as exc:
        log.warning("database unavailable (%s): card press queued", type(exc).__name__)
        send(press)


def pressed(store: Store, press: CardPress) -> None:
    """A person pressed `action` on the card of reply `turn_id` (at epoch `at`): the vote
    stored or the sibling asked for, and the card's update queued."""
    chat_key, turn_id, action, at = press.chat_key, press.turn_id, press.action, press.at
    response_code = press.response_code
    corp_id, _agent, user = app_user(chat_key)
    try:
        turn = store.turn(turn_id)
        if action == "retry":
            request_reply(turn.message_id, retry=True, retry_id=f"wecom:{response_code}")
        else:
            when = datetime.fromtimestamp(at, UTC) if at is not None else None
            store.vote(turn_id, rater(corp_id, user), VOTES[action], "wecom_card", at=when)
            metrics.VOTES.labels(turn.platform, turn.model_version).inc()
    except UnknownTurn:
        log.info("WeCom card press %s on unknown reply %s by %s", action, turn_id, user)
        return
    if response_code:
        send(CardUpdate(chat_key, turn_id, action, response_code, turn.completion))


@handles(CardPress, **STORE_RETRY)
def card_press(press: CardPress) -> None:
    """The io queue's card press, for one its adapter could not store."""
    pressed(process.current().store, press)


@handles(CardUpdate, **RETRY)
def card_update(update: CardUpdate) -> None:
    """Show on the pressed card what was taken."""
    _corp, agent_id, user = app_user(update.chat_key)
    turn_id, action, response_code = update.turn_id, update.action, update.response_code
    with refused_logged(f"rating card of reply {turn_id} for {user}"):
        wecom_client(process.current().settings_as(WeComSettings)).call(
            "message/update_template_card",
            {
                "userids": [user],
                "agentid": agent_id,
                "response_code": response_code,
                "template_card": rating_card(turn_id, update.reply, action),
            },
        )
