"""Long replies in parts a platform takes, with no I/O: each platform counts a message's
size its own way (Telegram in UTF-16 code units, WeCom in UTF-8 bytes) and says how.

A longer reply is split where a paragraph ends, else a line, else a sentence, else a word,
if one ends in the part's second half; only a reply with none of those there is cut
mid-word. Whitespace at a cut, and around the whole reply, is dropped; every other
character is kept, in order, and no part is blank (platforms refuse blank messages).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Where a part may end, best first.
_BREAKS = (
    re.compile(r"\n\s*\n"),
    re.compile(r"\n"),
    re.compile(r"[.!?;。！？；…](?=\s|$|[^\x00-\x7f])"),  # Chinese has no spaces after
    re.compile(r"\s"),
)

CharSize = Callable[[str], int]  # what one character counts for on the platform


def split_parts(text: str, limit: int, char_size: CharSize) -> list[str]:
    """`text` in parts of at most `limit` units each (one part when it fits).

    >>> split_parts("First para.\\n\\nSecond one here.", 20, lambda c: 1)
    ['First para.', 'Second one here.']
    >>> split_parts("One. Two three. Four", 17, lambda c: 1)
    ['One. Two three.', 'Four']
    """
    parts: list[str] = []
    # Each part starts with a non-blank character, and `_break` never ends one before it.
    rest = text.strip()
    while sum(map(char_size, rest)) > limit:
        head = rest[: max(1, _fit(rest, limit, char_size))]
        end = _break(head)
        parts.append(head[:end].rstrip())
        rest = rest[end:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


def _fit(text: str, limit: int, char_size: CharSize) -> int:
    """How many characters of `text` fit in `limit` units (whole characters only)."""
    size = 0
    for index, char in enumerate(text):
        size += char_size(char)
        if size > limit:
            return index
    return len(text)


def _break(head: str) -> int:
    """Where to end a part: after the last break in its second half, else at its end."""
    for pattern in _BREAKS:
        found = [m.end() for m in pattern.finditer(head) if m.end() >= len(head) // 2]
        if found:
            return found[-1]
    return len(head)
