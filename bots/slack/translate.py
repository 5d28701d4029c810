"""Slack's payloads in replyloop's terms, with no I/O: which messages the bot answers, the
chat a message belongs to, what a reaction means.

A chat key is `team/channel` for a DM (the whole DM is one conversation) and
`team/channel/thread_ts` for a channel thread (the thread is the conversation). A posted
reply is known by `channel:ts`, the key reactions and buttons find its Turn by.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.types import Vote

PLATFORM = "slack"

# Message subtypes that are a person saying something; every other subtype (edits,
# deletes, joins and leaves, bot messages, topic changes...) is never answered.
SPOKEN = {None, "file_share", "thread_broadcast"}

REACTIONS = {"+1": Vote.UP, "thumbsup": Vote.UP, "-1": Vote.DOWN, "thumbsdown": Vote.DOWN}

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


@dataclass(frozen=True)
class SlackMessage:
    """A message the bot may answer."""

    team: str
    channel: str
    ts: str
    thread_ts: str | None  # the thread the reply goes to; None in a DM's main view
    user: str
    text: str  # the bot's own mention taken out
    direct: bool  # a DM
    mentioned: bool  # the bot was @mentioned
    files: bool  # files or images came with it

    @property
    def chat_key(self) -> str:
        return chat_key(self.team, self.channel, self.thread_ts)

    @property
    def posted_as(self) -> str:
        return posted_as(self.channel, self.ts)


def chat_key(team: str, channel: str, thread_ts: str | None) -> str:
    """
    >>> chat_key("T1", "D1", None), chat_key("T1", "C1", "17.1")
    ('T1/D1', 'T1/C1/17.1')
    """
    return f"{team}/{channel}" if thread_ts is None else f"{team}/{channel}/{thread_ts}"


def where(key: str) -> tuple[str, str, str | None]:
    """(team, channel, thread ts or None) of a chat key.

    >>> where("T1/C1/17.1"), where("T1/D1")
    (('T1', 'C1', '17.1'), ('T1', 'D1', None))
    """
    team, channel, *thread = key.split("/", 2)
    return team, channel, thread[0] if thread else None


def posted_as(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def message(event: dict[str, Any], team: str, bot_user: str | None) -> SlackMessage | None:
    """The message in a `message` or `app_mention` event, or None when the bot must not
    answer it whatever its text: the bot's own, another bot's, an edit, a delete, a join.

    >>> message({"type": "message", "channel": "C1", "channel_type": "channel", "user": "U1",
    ...          "text": "<@UB> hi", "ts": "1.2"}, "T1", "UB")  # doctest: +NORMALIZE_WHITESPACE
    SlackMessage(team='T1', channel='C1', ts='1.2', thread_ts='1.2', user='U1', text='hi',
                 direct=False, mentioned=True, files=False)
    >>> message({"type": "message", "subtype": "message_changed", "channel": "C1"}, "T1", "UB")
    """
    if event.get("subtype") not in SPOKEN or event.get("bot_id") or event.get("bot_profile"):
        return None
    user = event.get("user")
    if not user or user == bot_user or "channel" not in event or "ts" not in event:
        return None
    text = str(event.get("text") or "")
    mentioned = bot_user is not None and any(m == bot_user for m in _MENTION.findall(text))
    if bot_user is not None:
        text = re.sub(rf"<@{re.escape(bot_user)}(?:\|[^>]*)?>", "", text)
    direct = event.get("channel_type") == "im" or str(event["channel"]).startswith("D")
    thread = event.get("thread_ts")
    if not direct and thread is None:
        thread = event["ts"]  # a channel message's reply starts a thread under it
    return SlackMessage(
        team=team,
        channel=str(event["channel"]),
        ts=str(event["ts"]),
        thread_ts=str(thread) if thread else None,
        user=str(user),
        text=text.strip(),
        direct=direct,
        mentioned=mentioned,
        files=bool(event.get("files")),
    )


def with_names(text: str, name: Callable[[str], str]) -> str:
    """`text` with each person's mention (`<@U123>`, `<@U123|label>`) as `@` and their
    name: the model reads names, not Slack's ids.

    >>> with_names("ask <@U7> or <@U8|ben>", {"U7": "Kai", "U8": "Ben Ode"}.__getitem__)
    'ask @Kai or @Ben Ode'
    """
    return _MENTION.sub(lambda mention: "@" + name(mention.group(1)), text)


def said_by(name: str, text: str) -> str:
    """A channel message as the model reads it: who said it, then what.

    >>> said_by("Kai", "lunch at noon?")
    'Kai: lunch at noon?'
    """
    return f"{name}: {text}"


def display_name(user: dict[str, Any]) -> str | None:
    """The name Slack shows for a users.info `user`: the display name a person chose, else
    their full name, else the account's name.

    >>> display_name({"name": "ben", "profile": {"display_name": "", "real_name": "Ben Ode"}})
    'Ben Ode'
    """
    profile = user.get("profile") or {}
    for name in (profile.get("display_name"), profile.get("real_name"), user.get("real_name")):
        if name and str(name).strip():
            return str(name).strip()
    return str(user["name"]) if user.get("name") else None


def reaction_vote(name: str, removed: bool) -> Vote | None:
    """The vote a reaction is (a removed one retracts), or None for any other emoji.

    >>> reaction_vote("+1::skin-tone-3", False), reaction_vote("thumbsdown", True)
    (<Vote.UP: 1>, <Vote.RETRACTED: 0>)
    >>> reaction_vote("tada", False)
    """
    vote = REACTIONS.get(name.split("::", 1)[0])
    if vote is None:
        return None
    return Vote.RETRACTED if removed else vote


def event_time(value: Any) -> datetime | None:
    """A Slack timestamp ("1700000000.000100") as a time; None if it is not one.

    >>> event_time("1700000000.5").isoformat()
    '2023-11-14T22:13:20.500000+00:00'
    """
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def rater(team: str, user: str) -> str:
    """A person across workspaces (exports HMAC it)."""
    return f"{team}:{user}"
