"""Long replies in parts Telegram takes, with no I/O.

A message's text holds at most 4,096 characters as Telegram counts them: UTF-16 code units,
so an emoji outside the Basic Multilingual Plane counts twice. Where a longer reply is
cut is core.parts' rule, shared with WeCom.
"""

from __future__ import annotations

from core.parts import split_parts

TEXT_LIMIT = 4096


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
    return split_parts(text, limit, units)
