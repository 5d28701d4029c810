"""WeCom's callbacks as replyloop sees them: pure functions, no I/O.

A self-built app's conversation is one person's private chat with the app: chat key
`corp/agent/user`. WeCom's text messages hold at most 2,048 bytes (UTF-8): longer replies
are split, at a paragraph or sentence end where there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.parts import split_parts

PLATFORM = "wecom"
TEXT_BYTES = 2048


def app_chat(corp_id: str, agent_id: int | str, user: str) -> str:
    return f"{corp_id}/{agent_id}/{user}"


def app_user(chat_key: str) -> tuple[str, int, str]:
    """(corp id, agent id, user) of an app chat key.

    >>> app_user("ww1/1000002/zhangsan")
    ('ww1', 1000002, 'zhangsan')
    """
    corp_id, agent_id, user = chat_key.split("/", 2)
    return corp_id, int(agent_id), user


def rater(corp_id: str, user: str) -> str:
    """A person of a corp, as votes name them (exports HMAC it)."""
    return f"{corp_id}:{user}"


@dataclass(frozen=True)
class AppMessage:
    """A person's message to the self-built app, from its decrypted XML."""

    corp_id: str
    agent_id: str
    user: str
    kind: str  # text, image, voice, video, file, location, link, event
    text: str
    msg_id: str  # WeCom's MsgId; for events, user, CreateTime and EventKey
    event: str = ""  # for kind "event": template_card_event, enter_agent, ...
    event_key: str = ""  # the pressed card button's key
    response_code: str = ""  # lets the card be updated once (72 hours)
    created_at: float | None = None  # CreateTime, epoch seconds

    @property
    def chat_key(self) -> str:
        return app_chat(self.corp_id, self.agent_id, self.user)


def app_message(fields: dict[str, Any]) -> AppMessage:
    """The message in a callback's fields (wechatpy's parsed `_data`)."""
    kind = str(fields.get("MsgType", "")).lower()
    user = str(fields.get("FromUserName", ""))
    key = str(fields.get("EventKey") or "")
    created = str(fields.get("CreateTime") or "")
    # An event has no MsgId: a person and a second, and the button (two quick presses).
    msg_id = str(fields.get("MsgId") or f"{user}:{created}:{key}")
    return AppMessage(
        corp_id=str(fields.get("ToUserName", "")),
        agent_id=str(fields.get("AgentID", "")),
        user=user,
        kind=kind,
        text=str(fields.get("Content") or "") if kind == "text" else "",
        msg_id=msg_id,
        event=str(fields.get("Event") or "").lower() if kind == "event" else "",
        event_key=key,
        response_code=str(fields.get("ResponseCode") or ""),
        created_at=float(created) if created.isdigit() else None,
    )


def split_text(text: str, limit: int = TEXT_BYTES) -> list[str]:
    """`text` in parts of at most `limit` UTF-8 bytes, cut where a paragraph, line,
    sentence or word ends if one is in the part's second half.

    >>> split_text("一二三。四五六。", 12)
    ['一二三。', '四五六。']
    >>> [len(p) for p in split_text("x" * 5000, 2048)]
    [2048, 2048, 904]
    """
    return split_parts(text, limit, lambda char: len(char.encode()))
