"""The rating card sent after each self-built-app reply: pure functions, no I/O.

A WeCom button card (`button_interaction` template card) cannot hold a long reply (its
texts are a few dozen characters), so the reply goes out as text and the card follows it:
a line of the reply and the buttons 👍 / 👎 / 🔄 重新生成. A press comes back as a
`template_card_event` whose EventKey is the button's key, `up:<turn id>`,
`down:<turn id>` or `retry:<turn id>`; the card is then replaced (with the event's
ResponseCode) by one that says what was taken, its buttons still there to change the vote.
"""

from __future__ import annotations

from typing import Any, Literal, cast

Action = Literal["up", "down", "retry"]
ACTIONS: tuple[Action, ...] = ("up", "down", "retry")
TITLE = "这条回复有帮助吗？"
EXCERPT_CHARS = 60
# What the card says after a press
TAKEN: dict[Action, str] = {
    "up": "已记录：👍 有帮助。Thanks!",
    "down": "已记录：👎 没帮助。Thanks, noted.",
    "retry": "正在重新生成… Making another reply.",
}


def task_id(turn_id: int) -> str:
    """The card's task id: unique per app (WeCom refuses a second card with it)."""
    return f"replyloop-turn-{turn_id}"


def rating_card(turn_id: int, reply: str, taken: Action | None = None) -> dict[str, Any]:
    """The template card for a reply, as it is first sent (taken None) or after a press.

    >>> card = rating_card(7, "巴黎是法国的首都。")
    >>> card["card_type"], card["task_id"], [b["key"] for b in card["button_list"]]
    ('button_interaction', 'replyloop-turn-7', ['up:7', 'down:7', 'retry:7'])
    >>> rating_card(7, "x", "up")["sub_title_text"]
    '已记录：👍 有帮助。Thanks!'
    """
    return {
        "card_type": "button_interaction",
        "main_title": {"title": TITLE, "desc": _excerpt(reply)},
        "sub_title_text": TAKEN[taken] if taken else "👍 / 👎 评价，或重新生成。Rate it, or retry.",
        "task_id": task_id(turn_id),
        "button_list": [
            {"text": "👍 有帮助", "style": 1, "key": f"up:{turn_id}"},
            {"text": "👎 没帮助", "style": 2, "key": f"down:{turn_id}"},
            {"text": "🔄 重新生成", "style": 2, "key": f"retry:{turn_id}"},
        ],
    }


def card_action(key: str) -> tuple[Action, int] | None:
    """The press behind a card event's EventKey; None for keys that are not ours.

    >>> card_action("down:42"), card_action("up:x"), card_action("other")
    (('down', 42), None, None)
    """
    action, _, turn = key.partition(":")
    if action not in ACTIONS or not turn.isdigit():
        return None
    return cast(Action, action), int(turn)


def _excerpt(reply: str) -> str:
    line = " ".join(reply.split())
    return line if len(line) <= EXCERPT_CHARS else line[: EXCERPT_CHARS - 1] + "…"
