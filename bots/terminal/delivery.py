"""Delivery of replies to the terminal chat (the io queue's task for platform "terminal")."""

from __future__ import annotations

from typing import Any

from bots.outbox import handed_over, outbox
from bots.redelivery import still_to_deliver
from wire import process
from wire.messages import Deliveries, Notice
from wire.queues import deliver_task, notice_task
from wire.tasks import handles, handles_bound


@handles_bound(Deliveries, deliver_task("terminal"))
def deliver(task: Any, batch: Deliveries) -> None:
    """Hand a batch's stored replies to the chats waiting for them, then mark them delivered.

    The replies come with their text, so a first delivery reads nothing. A redelivered or
    retried task, or a reply marked `repeat`, first drops the replies already handed over
    (the chat also ignores a turn it has shown)."""
    rt = process.current()
    replies = still_to_deliver(task, rt.store, batch.replies)
    if not replies:
        return
    outbox(rt.settings.broker_url).put_many([(r["chat_key"], handed_over(r)) for r in replies])
    rt.store.mark_delivered_many([(reply["turn_id"], str(reply["turn_id"])) for reply in replies])


@handles(Notice, notice_task("terminal"))
def notice(said: Notice) -> None:
    """Tell the chat waiting on `message_id` that no reply is coming, and why."""
    outbox(process.current().settings.broker_url).put(
        said.chat_key, {"notice": said.text, "message_id": said.message_id}
    )
