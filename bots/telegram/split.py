"""Long replies in parts Telegram takes, with no I/O.

A message's text holds at most 4,096 characters as Telegram counts them: UTF-16 code units,
so an emoji outside the Basic Multilingual Plane counts twice. A longer reply is split
where a paragraph ends, else a line, else a sentence, else a word, if one ends in the
part's second half; only a reply with none of those there is cut mid-word. Whitespace at a
cut, and around the whole reply, is dropped; every other character is kept, in order.
"""

from __future__ import annotations

import re

TEXT_LIMIT = 4096
# Where a part may end, best first.
_BREAKS = (
    re.compile(r"\n\s*\n"),
    re.compile(r"\n"),
    re.compile(r"[.!?。！？…](?=\s)"),
    re.compile(r"\s"),
)


def units(text: str) -> int:
    """Its length as Telegram counts it.

    >>> units("abc"), units("👍")
    (3, 2)
    """
    return len(text.encode("utf-16-le")) // 2


def split_reply(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """`text` in parts of at most `limit` UTF-16 units each (one part when it fits).

    >>> split_reply("First para.\\n\\nSecond one here.", 20)
    ['First para.', 'Second one here.']
    >>> split_reply("One. Two three. Four", 17)
    ['One. Two three.', 'Four']
    >>> [len(part) for part in split_reply("x" * 10_000)]
    [4096, 4096, 1808]
    """
    parts: list[str] = []
    # Each part starts with a non-blank character, so none is blank (Telegram refuses
    # blank messages): `_break` never ends one before its first character.
    rest = text.strip()
    while units(rest) > limit:
        head = rest[: max(1, _fit(rest, limit))]
        end = _break(head)
        parts.append(head[:end].rstrip())
        rest = rest[end:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


def _fit(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` units (a surrogate pair is never
    split: Python's characters are whole code points)."""
    size = 0
    for index, char in enumerate(text):
        size += 2 if ord(char) > 0xFFFF else 1
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
