"""A held-out split that depends only on a key, never on order or on what else is loaded:
the same conversation is held out in every run, on every machine."""

from __future__ import annotations

import hashlib


def held_out(key: str, percent: float) -> bool:
    """Whether `key` falls in the held-out `percent` (a stable hash, not Python's `hash`).

    >>> held_out("a07edb12-6b91-4138-b11e-02421888d699", 10.0)
    False
    >>> sum(held_out(str(i), 10.0) for i in range(10_000))  # about a tenth
    1036
    """
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < round(percent * 100)
