"""Delivery of replies to the terminal chat (the io queue's task for platform "terminal")."""

from __future__ import annotations

from typing import Any

from bots.redelivery import still_to_deliver
from bots.terminal.outbox import outbox
from core.types import Delivery
from workers import runtime
from workers.celery_app import app, deliver_task, notice_task


@app.task(name=deliver_task("terminal"), bind=True)
def deliver(task: Any, replies: list[Delivery]) -> None:
    """Hand a batch's stored replies to the chats waiting for them, then mark them delivered.

    The replies come with their text, so a first delivery reads nothing. A redelivered or
    retried task, or a reply marked `repeat`, first drops the replies already handed over
    (the chat also ignores a turn it has shown)."""
    rt = runtime.current()
    replies = still_to_deliver(task, rt.store, replies)
    if not replies:
        return
    outbox(rt.settings.broker_url).put_many([(r["chat_key"], shown(r)) for r in replies])
    rt.store.mark_delivered_many([(reply["turn_id"], str(reply["turn_id"])) for reply in replies])


def shown(reply: Delivery) -> dict[str, Any]:
    """What the chat reads from its outbox."""
    return {"turn_id": reply["turn_id"], "message_id": reply["message_id"], "text": reply["text"]}


@app.task(name=notice_task("terminal"))
def notice(chat_key: str, message_id: int, text: str) -> None:
    """Tell the chat waiting on `message_id` that no reply is coming, and why."""
    outbox(runtime.current().settings.broker_url).put(
        chat_key, {"notice": text, "message_id": message_id}
    )
