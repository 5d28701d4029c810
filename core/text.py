"""Checks on what a person typed, before anything is queued."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.errors import EmptyMessage

USAGE_HINT = "Type a message to chat with the bot (or /help for commands)."
CUT_NOTICE = "Your message was {length:,} characters; only the first {limit:,} were read."


@dataclass(frozen=True)
class CheckedText:
    text: str
    notice: str | None  # said to the user when the text was changed


def storable(text: str) -> str:
    """Text without NUL characters, which PostgreSQL cannot store in a text column (a
    random or broken model does produce them; so can a platform payload).

    >>> storable("a" + chr(0) + "b")
    'ab'
    """
    return text.replace(chr(0), "")


def longest_end(text: str, fits: Callable[[str], bool]) -> str:
    """The longest end of `text` that `fits` (whole characters, so no multi-byte character
    is split); "" when no end but the empty one fits. `fits` must hold for every end
    shorter than one that fits.

    >>> longest_end("one two three", lambda end: len(end) <= 6)
    ' three'
    """
    low, high = 0, len(text)  # the longest fitting end has between low and high characters
    while low < high:
        middle = (low + high + 1) // 2
        if fits(text[len(text) - middle :]):
            low = middle
        else:
            high = middle - 1
    return text[len(text) - low :]


def check_text(text: str, limit: int) -> CheckedText:
    """Strip the text, refuse an empty one, cut an oversized one with a notice.

    >>> check_text("  hi  ", 10)
    CheckedText(text='hi', notice=None)
    >>> check_text("abcdefghij", 4).text
    'abcd'
    """
    stripped = storable(text).strip()
    if not stripped:
        raise EmptyMessage(USAGE_HINT)
    if len(stripped) <= limit:
        return CheckedText(stripped, None)
    return CheckedText(stripped[:limit], CUT_NOTICE.format(length=len(stripped), limit=limit))
