"""Celery tasks: thin, idempotent, and given ids and plain JSON only."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_process_init
from sqlalchemy.exc import OperationalError

from core.errors import UnknownTurn
from core.types import Vote
from workers import runtime
from workers.celery_app import GENERATE, VOTE, app, deliver_task
from workers.replying import make_reply

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


@app.task(name=GENERATE, **RETRY)
def generate(message_id: int, request_key: str, enqueued_at: float | None = None) -> int:
    """Reply to a stored message, store the Turn, then hand it to the platform's delivery."""
    rt = runtime.current()
    turn = make_reply(
        rt.store, rt.engine, rt.settings.generation(), message_id, request_key, enqueued_at
    )
    app.signature(deliver_task(turn.platform), args=[turn.id]).apply_async()
    return turn.id


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
