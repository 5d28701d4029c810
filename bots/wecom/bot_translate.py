"""The smart bot's JSON callbacks as replyloop sees them: pure functions, no I/O.

A smart bot (智能机器人) is @mentioned in group chats and talked to in single chats. Its
conversations: a group chat is one (chat key `bot/<aibotid>/<chatid>`, each person's
message prefixed with their user id, as in a Slack channel), a single chat another
(`bot/<aibotid>/single/<userid>`). In a group WeCom sends only the messages that mention
the bot, their text starting with "@BotName".

People rate a streamed reply with WeCom's own 👍/👎 under it: a `feedback_event` (type 1
accurate, 2 inaccurate with optional reasons and words, 3 cancel) on the feedback id the
reply's first frame carried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.types import Vote

BOT_PREFIX = "bot/"
STREAM_BYTES = 20480  # a stream frame's content, UTF-8
LEADING_MENTIONS = re.compile(r"^(?:\s*@\S+)+\s*")
# feedback_event.type -> vote
FEEDBACK_VOTES = {1: Vote.UP, 2: Vote.DOWN, 3: Vote.RETRACTED}
# inaccurate_reason_list codes, as WeCom's feedback sheet shows them
REASONS = {
    1: "与问题无关 irrelevant",
    2: "内容不完整 incomplete",
    3: "内容有错误 wrong",
    4: "数据分析错误 bad analysis",
}


def is_bot_chat(chat_key: str) -> bool:
    return chat_key.startswith(BOT_PREFIX)


@dataclass(frozen=True)
class BotMessage:
    """A decrypted smart-bot callback."""

    msg_id: str
    bot_id: str
    chat_id: str  # group chats only
    group: bool
    user: str
    kind: str  # text, mixed, voice, image, file, video, stream, event
    text: str  # what the person wrote: mentions stripped, a quote before it
    has_media: bool  # images or files the bot cannot read came with it
    stream_id: str  # for kind "stream": the stream polled
    event: str  # for kind "event": enter_chat, feedback_event, template_card_event, ...
    feedback: dict[str, Any]  # the feedback_event's fields
    response_url: str
    created_at: float | None

    @property
    def chat_key(self) -> str:
        where = self.chat_id if self.group else f"single/{self.user}"
        return f"{BOT_PREFIX}{self.bot_id}/{where}"


def bot_message(fields: dict[str, Any]) -> BotMessage:
    """The message in a decrypted callback.

    >>> said = bot_message({"msgid": "m1", "aibotid": "B", "chatid": "G", "chattype": "group",
    ...     "from": {"userid": "zhangsan"}, "msgtype": "text",
    ...     "text": {"content": "@RobotA  巴黎在哪里？"}})
    >>> said.chat_key, said.text, said.group
    ('bot/B/G', '巴黎在哪里？', True)
    """
    kind = str(fields.get("msgtype", "")).lower()
    event = _dict(fields.get("event"))
    quote = _dict(fields.get("quote"))
    event_type = str(event.get("eventtype", "")).lower() if kind == "event" else ""
    words, media = _words(kind, fields)
    quoted, _ = _words(str(quote.get("msgtype", "")), quote)
    text = LEADING_MENTIONS.sub("", words).strip()
    if quoted.strip() and text:
        text = f"> {quoted.strip()}\n\n{text}"
    created = fields.get("create_time")
    return BotMessage(
        msg_id=str(fields.get("msgid", "")),
        bot_id=str(fields.get("aibotid", "")),
        chat_id=str(fields.get("chatid", "")),
        group=str(fields.get("chattype", "")).lower() == "group",
        user=str(_dict(fields.get("from")).get("userid", "")),
        kind=kind,
        text=text,
        has_media=media,
        stream_id=str(_dict(fields.get("stream")).get("id", "")),
        event=event_type,
        feedback=_dict(event.get("feedback_event")) if event_type == "feedback_event" else {},
        response_url=str(fields.get("response_url", "")),
        created_at=float(created) if isinstance(created, int | float) else None,
    )


def said_by(said: BotMessage, text: str) -> str:
    """The text the model reads: in a group, who said it first, by user id (a callback
    carries no name).

    >>> group = bot_message({"chatid": "G", "chattype": "group", "from": {"userid": "lisi"}})
    >>> said_by(group, "巴黎在哪里？")
    'lisi: 巴黎在哪里？'
    """
    return f"{said.user}: {text}" if said.group else text


def people_named(said: BotMessage) -> list[tuple[str, str]]:
    """(user id, name) of whoever `said_by` names: in a group the sender, their id
    standing for their name. The adapter records them (core.store.people) so an export
    puts a pseudonym in their place.

    >>> people_named(bot_message({"chattype": "group", "from": {"userid": "lisi"}}))
    [('lisi', 'lisi')]
    >>> people_named(bot_message({"chattype": "single", "from": {"userid": "lisi"}}))
    []
    """
    return [(said.user, said.user)] if said.group and said.user else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _words(kind: str, fields: dict[str, Any]) -> tuple[str, bool]:
    """(the text of a message or quote, whether it held images or files)."""
    if kind in ("text", "voice"):  # voice arrives as WeCom's transcript
        return str(_dict(fields.get(kind)).get("content", "")), False
    if kind == "mixed":
        items = _dict(fields.get("mixed")).get("msg_item") or []
        texts = [
            str(_dict(item.get("text")).get("content", ""))
            for item in items
            if isinstance(item, dict) and item.get("msgtype") == "text"
        ]
        media = any(isinstance(i, dict) and i.get("msgtype") != "text" for i in items)
        return "\n".join(t for t in texts if t), media
    return "", kind in ("image", "file", "video")


def feedback_vote(feedback: dict[str, Any]) -> tuple[Vote, dict[str, Any] | None] | None:
    """The vote of a feedback_event and its reasons (dislikes only); None if not one.

    >>> feedback_vote({"id": "f", "type": 2, "content": "太短", "inaccurate_reason_list": [2]})
    (<Vote.DOWN: -1>, {'codes': [2], 'labels': ['内容不完整 incomplete'], 'text': '太短'})
    >>> feedback_vote({"id": "f", "type": 3})
    (<Vote.RETRACTED: 0>, None)
    >>> feedback_vote({"id": "f", "type": 9}) is None
    True
    """
    vote = FEEDBACK_VOTES.get(feedback.get("type"))  # type: ignore[arg-type]
    if vote is None:
        return None
    codes = [c for c in feedback.get("inaccurate_reason_list") or [] if isinstance(c, int)]
    words = str(feedback.get("content") or "").strip()
    if vote != Vote.DOWN or not (codes or words):
        return vote, None
    reasons: dict[str, Any] = {"codes": codes, "labels": [REASONS.get(c, str(c)) for c in codes]}
    if words:
        reasons["text"] = words
    return vote, reasons


def stream_frame(
    stream_id: str, content: str, finish: bool, feedback_id: str = ""
) -> dict[str, Any]:
    """A stream reply: the whole text so far (WeCom shows the latest frame), cut to fit.

    >>> stream_frame("s1", "hi", False, "s1")["stream"]
    {'id': 's1', 'finish': False, 'content': 'hi', 'feedback': {'id': 's1'}}
    """
    stream: dict[str, Any] = {"id": stream_id, "finish": finish, "content": _fit(content)}
    if feedback_id:
        stream["feedback"] = {"id": feedback_id}
    return {"msgtype": "stream", "stream": stream}


def _fit(text: str, limit: int = STREAM_BYTES) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"
