"""Sending replies to Telegram (the io queue's tasks for platform "telegram").

A reply goes to its chat (its forum topic), in groups as a reply to the message it
answers, as plain-text parts of at most 4,096 characters (bots.telegram.split); the last
part carries the 👍 / 👎 / 🔄 keyboard, and the Turn is stored as delivered by that part's
`chat_id:message_id`, the message a press edits.

The Bot API cannot read a chat's history, so a task that runs again (redelivered after a
worker died, or retried after a 5xx halfway through a long reply) cannot look for what it
sent, as Slack's delivery does. Instead each part is claimed in Redis as its request
leaves and given its message id when Telegram answers (bots.telegram.once,
`telegram:part:<turn>:<part>`): a part whose request left is never sent again, even when
the worker died before the answer came (its id is then unknown: the reply is stored as
delivered as `<chat>:0`, and its buttons still work, they name the turn). The store's
delivered mark skips whole replies (bots.redelivery). A failure notice's parts are claimed
the same way, by the notice task's id.
Flood control (429) is waited out as Telegram's retry_after says: in the call when short
(bots.telegram.api), else by retrying the task that much later.

A reply streamed while it was written (bots.telegram.stream) is not sent again: its stream
is ended (bots.streaming.handover) and the streamed message edited into the reply's first
part (claimed like a sent part); the other parts are sent after it, the last with the
keyboard. An edit that changes nothing ("message is not modified": the task ran again)
counts as made. A failure notice ends a stream the same way, in place of the partial text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from bots.dedupe import Dedupe
from bots.redelivery import still_to_deliver
from bots.refusals import Transient
from bots.streaming.handover import take_over
from bots.telegram.api import RETRY, BotApi, BotApiError, bot_api, gone, refused_logged, unchanged
from bots.telegram.keyboard import keyboard
from bots.telegram.once import made, recorded, send_once
from bots.telegram.settings import TelegramSettings
from bots.telegram.split import split_reply
from bots.telegram.translate import is_private, message_of, posted_as, send_params, where
from core.types import Delivery
from wire import process
from wire.messages import Deliveries, Notice
from wire.queues import deliver_task, notice_task
from wire.tasks import handles_bound

log = logging.getLogger(__name__)


@cache
def _sent(redis_url: str | None, ttl_s: int) -> Dedupe:
    return Dedupe(redis_url, ttl_s)


def sent_parts(settings: TelegramSettings) -> Dedupe:
    """Where sent parts are claimed: Redis (the broker), shared by every io worker."""
    return _sent(settings.broker_url, settings.dedupe_ttl_s)


def reply_target(key: str, answered: str | None) -> int | None:
    """The message a reply in chat `key` quotes: in a group, the one it answers (stored as
    `chat_id:message_id`); in a private chat none, the conversation is plain to see.

    >>> reply_target("-1001/7", "-1001:55"), reply_target("42", "42:9"), reply_target("-5", None)
    (55, None, None)
    """
    chat_id, _topic = where(key)
    if answered is None or is_private(chat_id):
        return None
    answered_chat, message_id = message_of(answered)
    return message_id if answered_chat == chat_id else None


def send_reply(
    api: BotApi, sent: Dedupe, reply: Delivery, reply_to: int | None, streamed: str | None = None
) -> str:
    """Send one reply's parts that are not sent yet, the first by editing the `streamed`
    message when there is one; `chat_id:message_id` of its last."""
    chat_id, _topic = where(reply["chat_key"])
    parts = split_reply(reply["text"].strip() or "…")  # Telegram refuses a blank message
    message_id = 0
    for index, part in enumerate(parts):
        key = f"telegram:part:{reply['turn_id']}:{index}"
        earlier = recorded(sent, key)
        if earlier is not None:
            message_id = earlier
            continue
        markup = keyboard(reply["turn_id"]) if index == len(parts) - 1 else None
        if index == 0 and streamed is not None and edit_text(api, streamed, part, markup):
            message_id = message_of(streamed)[1]
            made(sent, key, message_id)  # an edit made twice shows the same: no claim first
        else:
            params = send_params(
                reply["chat_key"], part, reply_to=reply_to if index == 0 else None, markup=markup
            )
            message_id = send_once(api, sent, key, params)
    return posted_as(chat_id, message_id)


def edit_text(api: BotApi, posted: str, text: str, markup: dict[str, Any] | None) -> bool:
    """Show `text` (and `markup`) in a message sent before; False when it is gone."""
    chat_id, message_id = message_of(posted)
    params: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id, "text": text}
    if markup is not None:
        params["reply_markup"] = markup
    try:
        api.call("editMessageText", params)
    except BotApiError as exc:
        if unchanged(exc):
            return True
        if not gone(exc):
            raise
        log.warning("streamed message %s is gone (%s): sent anew", posted, exc.description)
        return False
    return True


def streamed_message(message_id: int, owner: str) -> str | None:
    """The message that showed this reply while it was written, its stream now ended."""
    live = process.current().live
    return take_over(live, message_id, owner) if live is not None and message_id else None


@contextmanager
def flood_later(task: Any) -> Iterator[None]:
    """A flood wait too long to sleep through in the call: the task runs again after it."""
    try:
        yield
    except Transient as exc:
        cause = exc.__cause__
        if isinstance(cause, BotApiError) and cause.retry_after is not None:
            raise task.retry(countdown=cause.retry_after, exc=exc) from exc
        raise


@handles_bound(Deliveries, deliver_task("telegram"), **RETRY)
def deliver(task: Any, batch: Deliveries) -> None:
    """Send a batch's stored replies to their chats, and mark each delivered."""
    replies = batch.replies
    rt = process.current()
    replies = still_to_deliver(task, rt.store, replies)
    if not replies:
        return
    settings = rt.settings_as(TelegramSettings)
    api, sent = bot_api(settings), sent_parts(settings)
    answered = rt.store.platform_message_ids([reply["message_id"] for reply in replies])
    for reply in replies:
        reply_to = reply_target(reply["chat_key"], answered.get(reply["message_id"]))
        what = f"reply {reply['turn_id']} to {reply['chat_key']}"
        with flood_later(task), refused_logged(what) as refused:
            streamed = streamed_message(reply["message_id"], str(reply["turn_id"]))
            posted = send_reply(api, sent, reply, reply_to, streamed)
        if not refused:
            rt.store.mark_delivered(reply["turn_id"], posted)


@handles_bound(Notice, notice_task("telegram"), **RETRY)
def notice(task: Any, said: Notice) -> None:
    """Tell a chat something: a failure, a hint, a cut message, a command's answer. A
    failure to reply to a message whose reply was being streamed replaces the partial
    text."""
    chat_key, message_id, text = said.chat_key, said.message_id, said.text
    rt = process.current()
    answered = rt.store.platform_message_ids([message_id]).get(message_id) if message_id else None
    reply_to = reply_target(chat_key, answered)
    settings = rt.settings_as(TelegramSettings)
    api, sent = bot_api(settings), sent_parts(settings)
    with flood_later(task), refused_logged(f"notice to {chat_key}"):
        streamed = streamed_message(message_id, f"notice:{task.request.id}")
        for index, part in enumerate(split_reply(text)):
            if index == 0 and streamed is not None and edit_text(api, streamed, part, None):
                continue
            params = send_params(chat_key, part, reply_to if index == 0 else None)
            send_once(api, sent, f"telegram:notice:{task.request.id}:{index}", params)
