"""Delivery of replies to the console's web chat (the io queue's tasks for platform
"web"): each reply waits in the outbox under its message's id until the page that asked
for it reads it (bots.web.chat.stream); the page also shows the store's history."""

from __future__ import annotations

from typing import Any

from bots.outbox import handed_over, outbox
from bots.redelivery import still_to_deliver
from wire import process
from wire.messages import Deliveries, Notice
from wire.queues import deliver_task, notice_task
from wire.tasks import handles, handles_bound

PLATFORM = "web"


@handles_bound(Deliveries, deliver_task(PLATFORM))
def deliver(task: Any, batch: Deliveries) -> None:
    """Hand a batch's replies to the pages waiting for them, then mark them delivered (a
    redelivered task first drops the replies already handed over)."""
    rt = process.current()
    replies = still_to_deliver(task, rt.store, batch.replies)
    if not replies:
        return
    box = outbox(rt.settings.broker_url, PLATFORM)
    box.put_many([(str(r["message_id"]), handed_over(r)) for r in replies])
    rt.store.mark_delivered_many([(reply["turn_id"], str(reply["turn_id"])) for reply in replies])


@handles(Notice, notice_task(PLATFORM))
def notice(said: Notice) -> None:
    """Tell the page waiting on `message_id` that no reply is coming, and why."""
    outbox(process.current().settings.broker_url, PLATFORM).put(
        str(said.message_id), {"notice": said.text, "message_id": said.message_id}
    )
