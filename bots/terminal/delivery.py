"""Delivery of replies to the terminal chat (the io queue's task for platform "terminal")."""

from __future__ import annotations

from bots.terminal.outbox import outbox
from workers import runtime
from workers.celery_app import app, deliver_task, notice_task


@app.task(name=deliver_task("terminal"))
def deliver(turn_id: int) -> None:
    """Hand a stored reply to the chat waiting for it. Idempotent: a redelivered task whose
    reply was already handed over does nothing (the chat also ignores a turn it has shown)."""
    rt = runtime.current()
    turn = rt.store.turn(turn_id)
    if turn.platform_message_id is not None:
        return
    outbox(rt.settings.broker_url).put(
        turn.chat_key,
        {"turn_id": turn.id, "message_id": turn.message_id, "text": turn.completion},
    )
    rt.store.mark_delivered(turn.id, str(turn.id))


@app.task(name=notice_task("terminal"))
def notice(chat_key: str, message_id: int, text: str) -> None:
    """Tell the chat waiting on `message_id` that no reply is coming, and why."""
    outbox(runtime.current().settings.broker_url).put(
        chat_key, {"notice": text, "message_id": message_id}
    )
