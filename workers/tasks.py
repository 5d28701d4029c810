"""Celery tasks: thin, idempotent, and given ids and plain JSON only."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from celery.signals import worker_process_init
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from core.errors import ReplyRefused, UnknownTurn
from core.types import Vote
from workers import runtime
from workers.celery_app import (
    GENERATE,
    INTAKE,
    PLATFORM_VOTE,
    VOTE,
    app,
    enqueue,
    notice_task,
    request_reply,
)
from workers.replying import Behind, ReplyRequest, ask_again

log = logging.getLogger(__name__)

# A database that blinks (failover, restart) is retried with backoff, not lost.
RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 8}


@worker_process_init.connect
def _init_child(**_: Any) -> None:
    """Each prefork child: its own database connections, and (gpu) the model, loaded once."""
    rt = runtime.current()
    rt.after_fork()
    if rt.preload_engine:
        rt.engine  # noqa: B018 - loading is the point


FAILED = "Sorry, no reply could be made ({error}). Your message is kept; try again later."


class ReplyTask(app.Task):  # type: ignore[name-defined,misc]
    """Generation that fails for good (after its retries) tells the chat so, instead of
    leaving the person waiting for a reply that will never come."""

    # A threads-pool gpu worker hands these tasks straight to its Replier (workers.strategy).
    Strategy = "workers.strategy:batched"

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        message_id = args[0] if args else kwargs["message_id"]
        log.error("no reply to message %s: %r", message_id, exc)
        try:
            message = runtime.current().store.message(message_id)
        except (SQLAlchemyError, LookupError) as lookup:
            log.error("cannot tell message %s's chat (%r); it stays unanswered", message_id, lookup)
            return
        try:
            runtime.current().store.give_up(message_id)  # later messages stop waiting for it
        except SQLAlchemyError as lost:
            log.error("message %s still looks awaited (%r)", message_id, lost)
        # A refusal says why in words for the chat (too long for memory, too busy).
        text = (
            str(exc) if isinstance(exc, ReplyRefused) else FAILED.format(error=type(exc).__name__)
        )
        enqueue(notice_task(message.platform), message.chat_key, message_id, text)


@app.task(name=GENERATE, base=ReplyTask, **RETRY)
def generate(
    message_id: int, request_key: str, enqueued_at: float | None = None, live: bool = False
) -> int | None:
    """Reply to a stored message: the Turn is stored, then handed to the platform's delivery.

    The request joins the replies this worker is decoding at their next step (continuous
    batching); replies finished together are stored and queued for delivery together.
    A message behind an
    earlier one still being answered is queued again, shortly (None then)."""
    request = ReplyRequest(message_id, request_key, enqueued_at, live)
    try:
        return runtime.current().replies.submit(request).id
    except Behind:
        ask_again(request)
        return None


@app.task(name=INTAKE, **RETRY)
def intake(
    platform: str, chat_key: str, author: str, text: str, platform_message_id: str | None
) -> int:
    """Store a message its adapter could not (the database was down then), and queue its
    reply; the message's id."""
    store = runtime.current().store
    _conversation, message_id = store.add_chat_message(
        platform, chat_key, author, text, platform_message_id
    )
    request_reply(message_id)
    return message_id


@app.task(name=VOTE, ignore_result=False, **RETRY)
def vote(
    turn_id: int, rater: str, value: int, source: str, reasons: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Store a vote action; the result tells the adapter what to say to the rater."""
    try:
        result = runtime.current().store.vote(turn_id, rater, Vote(value), source, reasons)
    except UnknownTurn as exc:
        log.info("vote for unknown turn %s by %s", turn_id, rater)
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "value": int(result.value), "previous": int(result.previous)}


# How often a vote on a reply not yet delivered looks again.
VOTE_AGAIN_S = 2.0


@app.task(name=PLATFORM_VOTE, bind=True, **RETRY)
def platform_vote(
    task: Any,
    platform: str,
    posted_as: str,
    rater: str,
    value: int,
    source: str,
    at: float | None = None,
    reasons: dict[str, Any] | None = None,
    wait_s: float = 0.0,
) -> bool:
    """Store a vote on the reply the platform knows as `posted_as` (acted at epoch `at`),
    with the rater's reasons if any. A platform that lets people rate a reply while it is
    still being made (WeCom's stream) gives `wait_s`: until `at + wait_s` the vote looks
    again every 2 s for the reply to be stored as delivered. A vote on anything else (a
    person's message, a reply never stored) is dropped with a log line; False then."""
    store = runtime.current().store
    try:
        turn = store.turn_by_platform_message(platform, posted_as)
    except UnknownTurn:
        if at is not None and time.time() + VOTE_AGAIN_S < at + wait_s:
            raise task.retry(countdown=VOTE_AGAIN_S, max_retries=None) from None
        log.info("%s vote by %s on %s: not a stored reply", platform, rater, posted_as)
        return False
    when = datetime.fromtimestamp(at, UTC) if at is not None else None
    store.vote(turn.id, rater, Vote(value), source, reasons, at=when)
    return True
