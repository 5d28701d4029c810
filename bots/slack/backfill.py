"""A mention in a thread the bot never saw: people talked before they asked it.

On the io queue (it calls Slack): the thread's messages before the mention are read with
`conversations.replies` and stored, as user turns with their authors' names (and the
people they mention named too, bots.slack.names), ahead of the mention; then the mention
is stored and its reply queued, so the reply's context holds the thread (as much as the
token budget allows, newest first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bots.intake import request_reply
from bots.slack.names import names
from bots.slack.settings import SlackSettings
from bots.slack.translate import PLATFORM, SlackMessage, posted_as, said_by, where, with_names
from bots.slack.web import RETRY, refused_logged, web_client
from wire import process
from wire.tasks import TaskMessage, handles, send

PAGE = 200


@dataclass(frozen=True)
class JoinThread(TaskMessage):
    """A mention (`text` by `user` at `ts`) in a thread the bot never saw."""

    TASK = "replyloop.deliver.slack.join_thread"  # "deliver.*" routes it to the io queue

    chat_key: str
    ts: str
    user: str
    text: str


def queue(said: SlackMessage, text: str) -> None:
    send(JoinThread(said.chat_key, said.ts, said.user, text))


@handles(JoinThread, **RETRY)
def join_thread(mention: JoinThread) -> None:
    """Store the thread's earlier messages, then the mention, and queue its reply. Reading
    the thread comes first: a retry after Slack failed has stored nothing."""
    chat_key, ts, user, text = mention.chat_key, mention.ts, mention.user, mention.text
    rt = process.current()
    _team, channel, thread = where(chat_key)
    earlier: list[dict[str, Any]] = []
    client = web_client(rt.settings_as(SlackSettings))
    # Unreadable (no channels:history scope, say): the mention is still answered, alone.
    with refused_logged(f"reading thread {chat_key} before {ts}"):
        earlier = _earlier(client.conversations_replies, channel, thread, ts)
    store = rt.store
    name = names(client, store)
    for said in earlier:
        store.add_chat_message(
            PLATFORM,
            chat_key,
            said["user"],
            said_by(name(said["user"]), with_names(said["text"], name)),
            posted_as(channel, said["ts"]),
            awaits_reply=False,  # read for context, never answered
        )
    _conversation, message_id = store.add_chat_message(
        PLATFORM, chat_key, user, text, posted_as(channel, ts)
    )
    request_reply(message_id)


def _earlier(replies: Any, channel: str, thread: str | None, ts: str) -> list[dict[str, Any]]:
    """People's messages in the thread before `ts`, oldest first (every page)."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = replies(channel=channel, ts=thread, limit=PAGE, cursor=cursor)
        for said in page.get("messages") or []:
            spoken = said.get("subtype") in (None, "thread_broadcast")
            person = said.get("user") and not said.get("bot_id")
            if spoken and person and float(said["ts"]) < float(ts) and said.get("text"):
                found.append(said)
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return sorted(found, key=lambda said: float(said["ts"]))
