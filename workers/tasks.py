"""The gpu queue's task: make a reply. Thin, idempotent, and given ids only."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_process_init
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from core.errors import ReplyRefused
from wire.app import app
from wire.messages import Notice, ReplyRequest, ask_again, send_notice
from wire.tasks import STORE_RETRY, handles
from workers import gpu_process
from workers.turns import Behind

log = logging.getLogger(__name__)


@worker_process_init.connect
def _init_child(**_: Any) -> None:
    """Each prefork child loads the model once (its database connections are its own
    already: wire.process)."""
    gpu_process.current().engine  # noqa: B018 - loading is the point


# What a send raises while the broker is away, after its retries (wire.app.PUBLISH_RETRY).
BROKER_ERRORS = (KombuOperationalError, RedisError)

FAILED = "Sorry, no reply could be made ({error}). Your message is kept; try again later."


class ReplyTask(app.Task):  # type: ignore[name-defined,misc]
    """Generation that fails for good (after its retries) tells the chat so, instead of
    leaving the person waiting for a reply that will never come."""

    # A threads-pool gpu worker hands these tasks straight to its Replier (workers.strategy).
    Strategy = "workers.strategy:batched"

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        message_id = ReplyRequest.from_wire(*args, **kwargs).message_id
        if isinstance(exc, BROKER_ERRORS):
            # Not the reply's fault: the broker is away (its Turn may be stored, its
            # delivery not queued). The message still awaits a reply, and the sweeper
            # (bots.sweeper) asks for it again once the broker is back.
            log.warning("reply to message %s left to the sweeper: %r", message_id, exc)
            return
        log.error("no reply to message %s: %r", message_id, exc)
        store = gpu_process.current().store
        try:
            message = store.message(message_id)
        except (SQLAlchemyError, LookupError) as lookup:
            log.error("cannot tell message %s's chat (%r); it stays unanswered", message_id, lookup)
            return
        try:
            store.give_up(message_id)  # later messages stop waiting for it
        except SQLAlchemyError as lost:
            log.error("message %s still looks awaited (%r)", message_id, lost)
        # A refusal says why in words for the chat (too long for memory, too busy).
        text = (
            str(exc) if isinstance(exc, ReplyRefused) else FAILED.format(error=type(exc).__name__)
        )
        send_notice(message.platform, Notice(message.chat_key, message_id, text))


@handles(ReplyRequest, base=ReplyTask, **STORE_RETRY)
def generate(request: ReplyRequest) -> int | None:
    """Reply to a stored message: the Turn is stored, then handed to the platform's delivery.

    The request joins the replies this worker is decoding at their next step (continuous
    batching); replies finished together are stored and queued for delivery together.
    A message behind an earlier one still being answered waits to be queued again by the
    worker that stores that reply, with a slow backstop (None then: workers.turns.Behind)."""
    try:
        return gpu_process.current().replies.submit(request).id
    except Behind as behind:
        if behind.backstop:
            ask_again(request, behind.ahead)
        return None
