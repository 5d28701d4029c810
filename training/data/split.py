"""A held-out split that depends only on a key, never on order or on what else is loaded:
the same conversation is held out in every run, on every machine. And two disjoint halves
of the rest, by another stable hash, for two models that must not learn from one
conversation (PPO's reward model and the judge that evaluates PPO's policy)."""

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


PARTS = ("all", "a", "b")


def in_part(key: str, part: str) -> bool:
    """Whether `key` trains a model of `part`: "all", or one of two disjoint halves "a" and
    "b" (a stable hash unrelated to the held-out one).

    >>> in_part("x", "all"), in_part("x", "a") != in_part("x", "b")
    (True, True)
    >>> sum(in_part(str(i), "a") for i in range(10_000))  # about a half
    4987
    """
    if part == "all":
        return True
    half = "a" if hashlib.sha256(f"part:{key}".encode()).digest()[0] % 2 == 0 else "b"
    return half == part
