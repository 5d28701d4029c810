"""The inline keyboard under each reply, and what a press says back: pure functions.

Every reply's last part carries 👍 / 👎 / 🔄. A button's callback_data names the action
and the Turn (`rl:up:<turn id>`, well inside Telegram's 64 bytes), so a press needs no
lookup to know what it rates. 👍 and 👎 show how many people's votes stand; pressing the
same button again takes one's vote back, the other switches it (core.votes.pressed); 🔄
asks for another reply. The press is answered with a short toast.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from core.types import Vote

Action = Literal["up", "down", "retry"]
ACTIONS: tuple[Action, ...] = ("up", "down", "retry")
VOTES: dict[Action, Vote] = {"up": Vote.UP, "down": Vote.DOWN}
PREFIX = "rl"
CALLBACK_DATA_BYTES = 64  # Telegram's limit

RETRYING = "🔄 Making another reply…"
GONE = "That reply is no longer known here."
QUEUED = "Vote queued; it counts in a moment."
TOASTS = {Vote.UP: "👍 recorded", Vote.DOWN: "👎 recorded", Vote.RETRACTED: "Vote taken back"}
SWITCHED = {Vote.UP: "Switched to 👍", Vote.DOWN: "Switched to 👎"}


def callback_data(action: Action, turn_id: int) -> str:
    """
    >>> callback_data("down", 1234567)
    'rl:down:1234567'
    """
    data = f"{PREFIX}:{action}:{turn_id}"
    assert len(data.encode()) <= CALLBACK_DATA_BYTES, data
    return data


def press(data: str) -> tuple[Action, int] | None:
    """The (action, turn id) a button's callback_data names; None if it is not ours.

    >>> press("rl:up:42"), press("rl:up:x"), press("rl:zap:42"), press("other")
    (('up', 42), None, None, None)
    """
    prefix, _, rest = data.partition(":")
    action, _, turn = rest.partition(":")
    if prefix != PREFIX or action not in ACTIONS or not turn.isdigit():
        return None
    return cast(Action, action), int(turn)


def keyboard(turn_id: int, up: int = 0, down: int = 0) -> dict[str, Any]:
    """The reply's InlineKeyboardMarkup as the Bot API's JSON, the counts on the buttons.

    >>> [b["text"] for b in keyboard(7, up=2)["inline_keyboard"][0]]
    ['👍 2', '👎', '🔄']
    """
    return {
        "inline_keyboard": [
            [
                _button(_counted("👍", up), "up", turn_id),
                _button(_counted("👎", down), "down", turn_id),
                _button("🔄", "retry", turn_id),
            ]
        ]
    }


def _counted(label: str, count: int) -> str:
    return f"{label} {count}" if count else label


def _button(text: str, action: Action, turn_id: int) -> dict[str, str]:
    return {"text": text, "callback_data": callback_data(action, turn_id)}


def toast(result: dict[str, Any]) -> str:
    """What a press's toast says, from the vote task's result (bots.votes.vote).

    >>> toast({"ok": True, "value": 1, "previous": 0}), toast({"ok": True, "value": -1,
    ...       "previous": 1}), toast({"ok": True, "value": 0, "previous": -1})
    ('👍 recorded', 'Switched to 👎', 'Vote taken back')
    >>> toast({"ok": False, "error": "no reply 9"})
    'That reply is no longer known here.'
    """
    if not result.get("ok"):
        return GONE
    value, previous = Vote(result["value"]), Vote(result["previous"])
    if value != Vote.RETRACTED and previous not in (Vote.RETRACTED, value):
        return SWITCHED[value]
    return TOASTS[value]
