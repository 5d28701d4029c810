"""Sending replies to Telegram (the io queue's tasks for platform "telegram").

A reply goes to its chat (its forum topic), in groups as a reply to the message it
answers, as plain-text parts of at most 4,096 characters (bots.telegram.split); the last
part carries the 👍 / 👎 / 🔄 keyboard, and the Turn is stored as delivered by that part's
`chat_id:message_id`, the message a press edits.

The Bot API cannot read a chat's history, so a task that runs again (redelivered after a
worker died, or retried after a 5xx halfway through a long reply) cannot look for what it
sent, as Slack's delivery does. Instead each part sent is claimed in Redis
(bots.dedupe, `telegram:part:<turn>:<part>` → its message id) and skipped when the task
runs again, and the store's delivered mark skips whole replies (bots.redelivery).
Flood control (429) is waited out as Telegram's retry_after says: in the call when short
(bots.telegram.api), else by retrying the task that much later.
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
from bots.telegram.api import RETRY, BotApi, BotApiError, bot_api, refused_logged
from bots.telegram.keyboard import keyboard
from bots.telegram.split import split_reply
from bots.telegram.translate import is_private, message_of, posted_as, send_params, where
from core.settings import Settings
from core.types import Delivery
from workers import runtime
from workers.celery_app import app, deliver_task, notice_task

log = logging.getLogger(__name__)


@cache
def _sent(redis_url: str | None, ttl_s: int) -> Dedupe:
    return Dedupe(redis_url, ttl_s)


def sent_parts(settings: Settings) -> Dedupe:
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


def send_reply(api: BotApi, sent: Dedupe, reply: Delivery, reply_to: int | None) -> str:
    """Send one reply's parts that are not sent yet; `chat_id:message_id` of its last."""
    chat_id, _topic = where(reply["chat_key"])
    parts = split_reply(reply["text"].strip() or "…")  # Telegram refuses a blank message
    message_id = 0
    for index, part in enumerate(parts):
        claim = f"telegram:part:{reply['turn_id']}:{index}"
        held = sent.held(claim)
        if held is not None:
            message_id = int(held)
            continue
        last = index == len(parts) - 1
        params = send_params(
            reply["chat_key"],
            part,
            reply_to=reply_to if index == 0 else None,
            markup=keyboard(reply["turn_id"]) if last else None,
        )
        message_id = int(api.call("sendMessage", params)["message_id"])
        sent.claim(claim, str(message_id))
    return posted_as(chat_id, message_id)


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


@app.task(name=deliver_task("telegram"), bind=True, **RETRY)
def deliver(task: Any, replies: list[Delivery]) -> None:
    """Send a batch's stored replies to their chats, and mark each delivered."""
    rt = runtime.current()
    replies = still_to_deliver(task, rt.store, replies)
    if not replies:
        return
    api, sent = bot_api(rt.settings), sent_parts(rt.settings)
    answered = rt.store.platform_message_ids([reply["message_id"] for reply in replies])
    for reply in replies:
        reply_to = reply_target(reply["chat_key"], answered.get(reply["message_id"]))
        what = f"reply {reply['turn_id']} to {reply['chat_key']}"
        with flood_later(task), refused_logged(what) as refused:
            posted = send_reply(api, sent, reply, reply_to)
        if not refused:
            rt.store.mark_delivered(reply["turn_id"], posted)


@app.task(name=notice_task("telegram"), bind=True, **RETRY)
def notice(task: Any, chat_key: str, message_id: int, text: str) -> None:
    """Tell a chat something: a failure, a hint, a cut message, a command's answer."""
    rt = runtime.current()
    answered = rt.store.platform_message_ids([message_id]).get(message_id) if message_id else None
    reply_to = reply_target(chat_key, answered)
    api = bot_api(rt.settings)
    with flood_later(task), refused_logged(f"notice to {chat_key}"):
        for index, part in enumerate(split_reply(text)):
            api.call("sendMessage", send_params(chat_key, part, reply_to if index == 0 else None))
