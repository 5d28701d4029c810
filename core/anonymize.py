"""Rater ids never leave the store in clear: exports carry an HMAC of them. People's names
in the exported text become an HMAC of who they are, under the same key."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path


def rater_hash(secret: bytes, platform: str, rater: str) -> str:
    """A stable pseudonym for one rater on one platform.

    >>> rater_hash(b"k", "slack", "U1") == rater_hash(b"k", "slack", "U1")
    True
    >>> rater_hash(b"k", "slack", "U1") == rater_hash(b"other", "slack", "U1")
    False
    """
    digest = hmac.new(secret, f"{platform}:{rater}".encode(), hashlib.sha256).hexdigest()
    return digest[:24]


def person_pseudonym(secret: bytes, platform: str, person: str) -> str:
    """What an export writes for a person's name: stable per person (so a conversation
    stays coherent across rows, and a renamed person keeps one pseudonym), unrelated to
    their rater hash (a vote is not tied to what its rater wrote).

    >>> person_pseudonym(b"k", "slack", "U7") == person_pseudonym(b"k", "slack", "U7")
    True
    >>> person_pseudonym(b"k", "slack", "U7").startswith("person-")
    True
    """
    message = f"person:{platform}:{person}".encode()
    return "person-" + hmac.new(secret, message, hashlib.sha256).hexdigest()[:8]


def conversation_pseudonym(secret: bytes, platform: str, conversation_id: int) -> str:
    """What an export writes for the conversation a reply belongs to: stable across
    exports (so a trainer can keep a conversation's turns on one side of its held-out
    split), unrelated to anything else the key makes, and meaningless without the key
    (the store's ids would tell how many conversations there are, and when each began).

    >>> conversation_pseudonym(b"k", "slack", 3) == conversation_pseudonym(b"k", "slack", 3)
    True
    >>> conversation_pseudonym(b"k", "slack", 3) == conversation_pseudonym(b"other", "slack", 3)
    False
    >>> len(conversation_pseudonym(b"k", "slack", 3))
    24
    """
    message = f"conversation:{platform}:{conversation_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:24]


def forgotten_hash(secret: bytes, platform: str, person: str) -> str:
    """Who `replyloop forget` erased, as its audit record keeps it: the whole HMAC, so
    whoever holds the key can answer "was this person forgotten?" and nobody without it
    can read who was.

    >>> len(forgotten_hash(b"k", "slack", "U7"))
    64
    >>> forgotten_hash(b"k", "slack", "U7") == forgotten_hash(b"k", "telegram", "U7")
    False
    """
    message = f"forgotten:{platform}:{person}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def load_or_create_secret(path: Path) -> bytes:
    """The installation's own HMAC key, made once, so pseudonyms stay stable across exports."""
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    path.touch(mode=0o600)
    path.write_bytes(key)
    return key
