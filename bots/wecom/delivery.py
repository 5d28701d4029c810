"""Sending replies to WeCom (the io queue's tasks for platform "wecom").

A self-built app's reply goes to its person with `message/send`, as text parts of at most
2,048 bytes, followed by its rating card (bots.wecom.cards), with WeCom's duplicate check
on: a task that runs again within half an hour never shows a part twice, and the store's
delivered mark keeps it from sending at all after that. The reply is stored as delivered
with the msgid of its last text part.

A smart-bot reply (a `bot/...` chat) is not sent: its stream is marked done, and the
adapter shows it on WeCom's next poll (bots.wecom.bot_delivery).

WeCom answers -1 (busy), 45009 (rate limit) or an HTTP error sometimes: the task retries
with backoff. Any other errcode (a user outside the app's visible range, a revoked
secret) would come again: it is logged with WeCom's code and the task goes on.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Any

from wechatpy.exceptions import WeChatClientException

from bots import refusals
from bots.redelivery import still_to_deliver
from bots.refusals import RETRY
from bots.wecom.bot_delivery import finish_notice, finish_reply
from bots.wecom.bot_translate import is_bot_chat
from bots.wecom.cards import rating_card
from bots.wecom.client import TRANSIENT_ERRCODES, WeComClient, wecom_client
from bots.wecom.settings import WeComSettings
from bots.wecom.translate import app_user, split_text
from core.types import Delivery
from wire import process
from wire.live import LiveText
from wire.messages import Deliveries, Notice
from wire.queues import deliver_task, notice_task
from wire.tasks import handles, handles_bound

log = logging.getLogger(__name__)

DUPLICATE_CHECK_S = 1800


def _judge(exc: Exception) -> tuple[str, bool]:
    assert isinstance(exc, WeChatClientException)
    code = exc.errcode
    return f"{code} {exc.errmsg}", code is None or code in TRANSIENT_ERRCODES


def refused_logged(what: str) -> AbstractContextManager[list[str]]:
    """bots.refusals.refused_logged for a WeCom API call (errcode None: an HTTP error)."""
    return refusals.refused_logged(what, "WeCom", WeChatClientException, _judge)


def send(client: WeComClient, chat_key: str, msgtype: str, content: dict[str, Any]) -> str:
    """One `message/send` to the person of an app chat; its msgid."""
    _corp, agent_id, user = app_user(chat_key)
    sent: dict[str, Any] = client.call(
        "message/send",
        {
            "touser": user,
            "agentid": agent_id,
            "msgtype": msgtype,
            msgtype: content,
            "enable_duplicate_check": 1,
            "duplicate_check_interval": DUPLICATE_CHECK_S,
        },
    )
    return str(sent.get("msgid", ""))


def send_text(client: WeComClient, chat_key: str, text: str) -> str:
    """Send `text` to the person of an app chat, in parts; the msgid of the last."""
    msgid = ""
    for part in split_text(text or "…"):
        msgid = send(client, chat_key, "text", {"content": part})
    return msgid


def send_reply(client: WeComClient, reply: Delivery) -> str:
    """A reply's text, then its rating card; the msgid of the text's last part."""
    msgid = send_text(client, reply["chat_key"], reply["text"])
    send(client, reply["chat_key"], "template_card", rating_card(reply["turn_id"], reply["text"]))
    return msgid


@handles_bound(Deliveries, deliver_task("wecom"), **RETRY)
def deliver(task: Any, batch: Deliveries) -> None:
    """Send a batch's stored replies to their people, and mark each delivered."""
    replies = batch.replies
    rt = process.current()
    for reply in still_to_deliver(task, rt.store, replies):
        if is_bot_chat(reply["chat_key"]):
            finish_reply(_live(), rt.store, reply)
            continue
        with refused_logged(f"reply {reply['turn_id']} to {reply['chat_key']}") as refused:
            msgid = send_reply(wecom_client(rt.settings_as(WeComSettings)), reply)
        if not refused:
            rt.store.mark_delivered(reply["turn_id"], msgid)


@handles(Notice, notice_task("wecom"), **RETRY)
def notice(said: Notice) -> None:
    """Tell a person something: a failure, a hint, a cut message."""
    chat_key, message_id, text = said.chat_key, said.message_id, said.text
    if is_bot_chat(chat_key):
        finish_notice(_live(), message_id, text)
        return
    with refused_logged(f"notice to {chat_key}"):
        send_text(wecom_client(process.current().settings_as(WeComSettings)), chat_key, text)


def _live() -> LiveText:
    live = process.current().live
    if live is None:
        raise RuntimeError("smart-bot replies need the Redis broker (REPLYLOOP_BROKER_URL)")
    return live
