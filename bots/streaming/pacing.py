"""When a streamed reply is shown again, and what it shows: pure functions, no I/O.

A preview is the text so far, cut to what one message holds, then MARK (the reply is
still being written). It is shown again only when it says something new, and no sooner
than the platform's interval after the last post or edit, or than a rate limit's
Retry-After allows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.parts import CharSize, split_parts
from core.text import storable

MARK = " ▌"


def one(char: str) -> int:
    """Every character counts as one (Slack's limits are in characters)."""
    return 1


@dataclass(frozen=True)
class Pace:
    """Where one streamed reply stands: what it shows, and when it may next change."""

    shown: str = ""  # the preview last posted or edited in ("": nothing posted yet)
    next_at: float = 0.0  # no post or edit before this (time.monotonic())


def due(pace: Pace, preview: str, now: float) -> bool:
    """Whether to show `preview` now: it is new, and its time has come.

    >>> due(Pace("ab ▌", 10.0), "abc ▌", 9.9), due(Pace("ab ▌", 10.0), "abc ▌", 10.0)
    (False, True)
    >>> due(Pace("abc ▌", 0.0), "abc ▌", 99.0), due(Pace(), "", 99.0)
    (False, False)
    """
    return bool(preview) and preview != pace.shown and now >= pace.next_at


def shown(preview: str, now: float, every_s: float) -> Pace:
    """After posting or editing in `preview` at `now`: the next change waits `every_s`.

    >>> shown("ab ▌", 10.0, 1.0)
    Pace(shown='ab ▌', next_at=11.0)
    """
    return Pace(preview, now + every_s)


def held_off(pace: Pace, now: float, retry_after_s: float) -> Pace:
    """After the platform said "too many requests, retry after": nothing until then.

    >>> held_off(Pace("ab ▌", 11.0), 10.5, 3.0)
    Pace(shown='ab ▌', next_at=13.5)
    """
    return replace(pace, next_at=max(pace.next_at, now + retry_after_s))


def preview(text: str, limit: int, char_size: CharSize = one) -> str:
    """The text so far as one message of at most `limit` units shows it: what would be the
    reply's first part (core.parts cuts it), then MARK; empty while there is no text.
    NUL is dropped, as the store drops it from the reply, so the preview is a prefix of
    the reply as stored.

    >>> preview("  Hello wor", 100)
    'Hello wor ▌'
    >>> preview("One. Two three. Four", 17)
    'One. Two three. ▌'
    >>> preview("", 100), preview(chr(0), 100)
    ('', '')
    """
    text = storable(text).strip()
    if not text:
        return ""
    room = limit - sum(map(char_size, MARK))
    # Every character counts at least one unit: room + 1 characters decide the first part
    # as the whole text would, without splitting all of a long reply on every tick.
    return split_parts(text[: room + 1], room, char_size)[0] + MARK
