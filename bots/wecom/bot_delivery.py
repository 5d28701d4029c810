"""Delivering a smart-bot reply: its stream is marked done with the whole text.

The adapter answers WeCom's next stream poll with it (bots.wecom.bot_callback). The reply
is stored as delivered under its stream id, which is also the feedback id WeCom's 👍/👎
name. A stream the adapter had to end before the reply was done (WeCom polls for 6
minutes) gets the reply through the message's response_url instead: a plain POST of
markdown, usable once, that carries the same feedback id.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

from bots.refusals import Transient
from bots.wecom.client import TRANSIENT_ERRCODES
from core.store import Store
from core.types import Delivery
from wire.live import LiveText

log = logging.getLogger(__name__)


def finish_reply(live: LiveText, store: Store, reply: Delivery) -> None:
    live.finish(reply["message_id"], reply["text"], reply["turn_id"])
    shown = live.read(reply["message_id"])
    stream = str(shown.get("stream") or "")
    if not stream:
        log.error("smart-bot reply %s: its stream is unknown or expired", reply["turn_id"])
        return
    if shown.get("handed_off") and shown.get("response_url"):
        post_markdown(str(shown["response_url"]), reply["text"], stream)
    store.mark_delivered(reply["turn_id"], stream)


def finish_notice(live: LiveText, message_id: int, text: str) -> None:
    """A failure notice ends the message's stream instead of a reply."""
    if not message_id:
        return  # a notice at intake: the adapter put it in the stream's first frame
    live.finish(message_id, text)
    shown = live.read(message_id)
    if shown.get("handed_off") and shown.get("response_url"):
        post_markdown(str(shown["response_url"]), text, "")


def post_markdown(url: str, text: str, feedback_id: str) -> None:
    """An active reply through a response_url (one use, an hour)."""
    markdown: dict[str, object] = {"content": text}
    if feedback_id:
        markdown["feedback"] = {"id": feedback_id}
    body = json.dumps({"msgtype": "markdown", "markdown": markdown}).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise Transient(f"response_url: HTTP {exc.code}") from exc
        log.error("response_url refused the reply: HTTP %s", exc.code)
        return
    code = answer.get("errcode", 0)
    if code in TRANSIENT_ERRCODES:
        raise Transient(f"response_url: WeCom says {code}")
    if code != 0:
        log.error("response_url refused the reply: %s %s", code, answer.get("errmsg"))
