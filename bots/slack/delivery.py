"""Posting replies to Slack (the io queue's tasks for platform "slack").

A reply goes into its thread (or the DM) with the 👍/👎 and "Try again" buttons, carries
its turn id in Slack's message metadata, and is stored as delivered (`channel:ts`) before
the bot adds its 👍 and 👎 reactions, the affordances people rate with.

Slack answers 429 with Retry-After and sometimes 5xx: the Web API client waits and tries
again (bots.slack.web); what still fails makes the task retry with backoff, while a reply
Slack refuses for good (the bot left the channel) is logged and the batch's other replies
are still posted. A task that runs again (redelivered after a worker died, or retried)
first looks in the thread for a reply it posted already, by that metadata, so a thread
never shows one reply twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bots.redelivery import runs_again, still_to_deliver
from bots.slack.translate import posted_as, where
from bots.slack.web import RETRY, refused_logged, web_client
from core.types import Delivery
from workers import runtime
from workers.celery_app import app, deliver_task, notice_task

log = logging.getLogger(__name__)

METADATA_TYPE = "replyloop_reply"
SECTION_CHARS = 3000  # Block Kit's limit for a section's text
AFFORDANCES = ("+1", "-1")

UP, DOWN, RETRY_ACTION = "replyloop_up", "replyloop_down", "replyloop_retry"


def blocks(text: str, turn_id: int, buttons: bool) -> list[dict[str, Any]]:
    """The reply as Block Kit: its text in sections, then the rating buttons."""
    made: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": part}}
        for part in _chunks(text or "…", SECTION_CHARS)
    ]
    if buttons:
        made.append(
            {
                "type": "actions",
                "block_id": f"replyloop-{turn_id}",
                "elements": [
                    _button(UP, "👍", turn_id),
                    _button(DOWN, "👎", turn_id),
                    _button(RETRY_ACTION, "Try again", turn_id),
                ],
            }
        )
    return made


def _button(action: str, label: str, turn_id: int) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": str(turn_id),
    }


def _chunks(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def posted_before(web: WebClient, channel: str, thread: str | None, turn_id: int) -> str | None:
    """The ts of this turn's reply if it is in the thread (or the DM's recent messages)."""
    if thread is not None:
        page = web.conversations_replies(
            channel=channel, ts=thread, include_all_metadata=True, limit=200
        )
    else:
        page = web.conversations_history(channel=channel, include_all_metadata=True, limit=50)
    for posted in page.get("messages") or []:
        metadata = posted.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        if metadata.get("event_type") == METADATA_TYPE and payload.get("turn_id") == turn_id:
            return str(posted["ts"])
    return None


def post_reply(web: WebClient, reply: Delivery, buttons: bool, look_first: bool) -> str:
    """Post one reply (unless `look_first` finds it posted); `channel:ts` of it."""
    _team, channel, thread = where(reply["chat_key"])
    ts = posted_before(web, channel, thread, reply["turn_id"]) if look_first else None
    if ts is None:
        posted = web.chat_postMessage(
            channel=channel,
            thread_ts=thread,
            text=reply["text"] or "…",
            blocks=blocks(reply["text"], reply["turn_id"], buttons),
            metadata={"event_type": METADATA_TYPE, "event_payload": {"turn_id": reply["turn_id"]}},
            unfurl_links=False,
        )
        ts = str(posted["ts"])
    return posted_as(channel, ts)


def add_affordances(web: WebClient, posted: str) -> None:
    """The bot's own 👍 and 👎 under a reply (they are never counted as votes)."""
    channel, ts = posted.split(":", 1)
    for name in AFFORDANCES:
        try:
            web.reactions_add(channel=channel, timestamp=ts, name=name)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_reacted":
                log.warning("could not add :%s: to %s: %s", name, posted, exc.response.get("error"))


@app.task(name=deliver_task("slack"), bind=True, **RETRY)
def deliver(task: Any, replies: list[Delivery]) -> None:
    """Post a batch's stored replies to their threads, and mark each delivered."""
    rt = runtime.current()
    web = web_client(rt.settings)
    again = runs_again(task)
    replies = still_to_deliver(task, rt.store, replies)
    for reply in replies:
        with refused_logged(f"reply {reply['turn_id']} to {reply['chat_key']}") as refused:
            posted = post_reply(web, reply, rt.settings.slack_buttons, again or "repeat" in reply)
        if refused:
            continue
        rt.store.mark_delivered(reply["turn_id"], posted)
        add_affordances(web, posted)


@app.task(name=notice_task("slack"), **RETRY)
def notice(chat_key: str, message_id: int, text: str) -> None:
    """Tell a thread (or DM) something: a failure, a hint, a cut message."""
    _team, channel, thread = where(chat_key)
    with refused_logged(f"notice to {chat_key}"):
        web_client(runtime.current().settings).chat_postMessage(
            channel=channel, thread_ts=thread, text=text
        )
