"""Posting replies to Slack (the io queue's tasks for platform "slack").

A reply goes into its thread (or the DM) with the 👍/👎 and "Try again" buttons, carries
its turn id in Slack's message metadata, and is stored as delivered (`channel:ts`) before
the bot adds its 👍 and 👎 reactions, the affordances people rate with.

Slack answers 429 with Retry-After and sometimes 5xx: the Web API client waits and tries
again (bots.slack.web); what still fails makes the task retry with backoff, while a reply
Slack refuses for good (the bot left the channel) is logged and the batch's other replies
are still posted. A task that runs again (redelivered after a worker died, or retried)
first looks in the thread for a reply it posted already, by that metadata, so a thread
never shows one reply twice; so chat.postMessage is never tried again inside the call
when its connection drops (bots.slack.web), as it may have posted. A failure notice
carries its task's id the same way.

A reply streamed while it was written (bots.slack.stream) is not posted again: its stream
is ended (bots.streaming.handover) and the streamed message edited into the reply, with
the same blocks and metadata a posted one gets. A failure notice ends a stream the same
way, in place of the partial text, and takes the notice's metadata. The streamed message
is named by the reply's live hash in Redis; when that hash is lost (Redis restarted
without its data, or it expired) and the reply was asked for live (a failure notice: with
streaming on), the delivery looks in the thread (or the DM's recent messages) for the
bot's message that carries the stream's metadata for this stored message, and edits that
one; it posts anew only when there is none. With the hash in place, or for a reply never
streamed (a thread's backfill, "Try again"), there is no such lookup.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bots.redelivery import runs_again, still_to_deliver
from bots.slack.settings import SlackSettings
from bots.slack.stream import stream_metadata
from bots.slack.translate import posted_as, where
from bots.slack.web import RETRY, refused_logged, transient, web_client
from bots.streaming.handover import hand_over
from core.types import Delivery
from wire import process
from wire.messages import Deliveries, Notice
from wire.queues import deliver_task, notice_task
from wire.tasks import handles_bound

log = logging.getLogger(__name__)

METADATA_TYPE = "replyloop_reply"
NOTICE_TYPE = "replyloop_notice"
SECTION_CHARS = 3000  # Block Kit's limit for a section's text
AFFORDANCES = ("+1", "-1")

UP, DOWN, RETRY_ACTION = "replyloop_up", "replyloop_down", "replyloop_retry"
# chat.update's errors for a streamed message that can no longer be edited: post instead.
GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})


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


def posted_before(
    web: WebClient, channel: str, thread: str | None, metadata: dict[str, Any]
) -> str | None:
    """The ts of the bot's message that carries `metadata`, if it is in the thread (every
    page: a thread lists its oldest first) or among the DM's recent messages."""
    if thread is not None:
        pages: Any = web.conversations_replies(
            channel=channel, ts=thread, include_all_metadata=True, limit=200
        )
    else:
        pages = [web.conversations_history(channel=channel, include_all_metadata=True, limit=50)]
    for page in pages:
        for posted in page.get("messages") or []:
            if _carries(posted.get("metadata") or {}, metadata):
                return str(posted["ts"])
    return None


def _carries(found: dict[str, Any], wanted: dict[str, Any]) -> bool:
    payload = found.get("event_payload") or {}
    return found.get("event_type") == wanted["event_type"] and all(
        payload.get(name) == value for name, value in wanted["event_payload"].items()
    )


def reply_metadata(turn_id: int) -> dict[str, Any]:
    return {"event_type": METADATA_TYPE, "event_payload": {"turn_id": turn_id}}


def post_reply(web: WebClient, reply: Delivery, buttons: bool, look_first: bool) -> str:
    """Post one reply (unless `look_first` finds it posted); `channel:ts` of it."""
    _team, channel, thread = where(reply["chat_key"])
    metadata = reply_metadata(reply["turn_id"])
    ts = posted_before(web, channel, thread, metadata) if look_first else None
    if ts is None:
        posted = web.chat_postMessage(
            channel=channel,
            thread_ts=thread,
            text=reply["text"] or "…",
            blocks=blocks(reply["text"], reply["turn_id"], buttons),
            metadata=metadata,
            unfurl_links=False,
        )
        ts = str(posted["ts"])
    return posted_as(channel, ts)


def edit_reply(web: WebClient, reply: Delivery, streamed: str, buttons: bool) -> str | None:
    """Edit the streamed message into the whole reply; its `channel:ts`, or None when it
    is gone (deleted meanwhile)."""
    channel, ts = streamed.split(":", 1)
    try:
        web.chat_update(
            channel=channel,
            ts=ts,
            text=reply["text"] or "…",
            blocks=blocks(reply["text"], reply["turn_id"], buttons),
            metadata=reply_metadata(reply["turn_id"]),
        )
    except SlackApiError as exc:
        if exc.response.get("error") not in GONE:
            raise
        log.warning("streamed reply %s is gone (%s): posted anew", streamed, exc.response["error"])
        return None
    return streamed


def streamed_message(
    web: WebClient, chat_key: str, message_id: int, owner: str, maybe_streamed: bool
) -> str | None:
    """The message (`channel:ts`) that showed this reply while it was written, its stream
    now ended: named by the live hash, or, with the hash lost and `maybe_streamed`, found
    in the chat by its stream metadata."""
    live = process.current().live
    if live is None or not message_id:
        return None
    handover = hand_over(live, message_id, owner)
    if handover.posted is not None or not handover.lost or not maybe_streamed:
        return handover.posted
    _team, channel, thread = where(chat_key)
    try:
        ts = posted_before(web, channel, thread, stream_metadata(message_id))
    except SlackApiError as exc:
        if transient(exc):
            raise
        # A thread the bot cannot read (missing_scope): posting beside a stream that may
        # be there beats not answering at all.
        log.warning("cannot look for message %s's stream: %s", message_id, exc.response["error"])
        return None
    if ts is not None:
        log.info("message %s's stream was found by its metadata (its live hash lost)", message_id)
    return posted_as(channel, ts) if ts is not None else None


def add_affordances(web: WebClient, posted: str) -> None:
    """The bot's own 👍 and 👎 under a reply (they are never counted as votes)."""
    channel, ts = posted.split(":", 1)
    for name in AFFORDANCES:
        try:
            web.reactions_add(channel=channel, timestamp=ts, name=name)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_reacted":
                log.warning("could not add :%s: to %s: %s", name, posted, exc.response.get("error"))


@handles_bound(Deliveries, deliver_task("slack"), **RETRY)
def deliver(task: Any, batch: Deliveries) -> None:
    """Post a batch's stored replies to their threads, and mark each delivered."""
    replies = batch.replies
    rt = process.current()
    settings = rt.settings_as(SlackSettings)
    web, poster = web_client(settings), web_client(settings, reconnect=False)
    again = runs_again(task)
    replies = still_to_deliver(task, rt.store, replies)
    buttons = settings.slack_buttons
    for reply in replies:
        with refused_logged(f"reply {reply['turn_id']} to {reply['chat_key']}") as refused:
            owner, live = str(reply["turn_id"]), reply.get("live", False)
            streamed = streamed_message(web, reply["chat_key"], reply["message_id"], owner, live)
            posted = edit_reply(web, reply, streamed, buttons) if streamed else None
            if posted is None:
                posted = post_reply(poster, reply, buttons, again or "repeat" in reply)
        if refused:
            continue
        rt.store.mark_delivered(reply["turn_id"], posted)
        add_affordances(web, posted)


@handles_bound(Notice, notice_task("slack"), **RETRY)
def notice(task: Any, said: Notice) -> None:
    """Tell a thread (or DM) something: a failure, a hint, a cut message. A failure to
    reply to a message whose reply was being streamed replaces the partial text (and its
    stream metadata: an ended stream is never found again)."""
    chat_key, message_id, text = said.chat_key, said.message_id, said.text
    _team, channel, thread = where(chat_key)
    settings = process.current().settings_as(SlackSettings)
    web, poster = web_client(settings), web_client(settings, reconnect=False)
    metadata = {"event_type": NOTICE_TYPE, "event_payload": {"task": str(task.request.id)}}
    with refused_logged(f"notice to {chat_key}"):
        owner = f"notice:{task.request.id}"
        streamed = streamed_message(web, chat_key, message_id, owner, settings.slack_stream)
        if streamed is not None:
            try:
                web.chat_update(
                    channel=channel, ts=streamed.split(":", 1)[1], text=text, metadata=metadata
                )
                return
            except SlackApiError as exc:
                if exc.response.get("error") not in GONE:
                    raise
        if runs_again(task) and posted_before(poster, channel, thread, metadata):
            return
        poster.chat_postMessage(channel=channel, thread_ts=thread, text=text, metadata=metadata)
