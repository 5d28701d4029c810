"""Console passwords, kept as scrypt hashes (RFC 7914, hashlib's own), never in clear.

The cost is OWASP's advice for scrypt (N=2^17, r=8, p=1: 128 MiB and about 0.4 s a check
on this 2-core machine), so a stolen users table costs a guesser that much per guess.

>>> kept = hash_password("correct horse", cost=2**4)
>>> kept.startswith("scrypt$16$8$1$"), check_password("correct horse", kept)
(True, True)
>>> check_password("wrong horse", kept), check_password("x", "not a hash")
(False, False)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

COST = 2**17  # N
BLOCK = 8  # r
PARALLEL = 1  # p
MIN_CHARS = 8


class WeakPassword(ValueError):
    """A password too short to keep."""


def hash_password(password: str, cost: int = COST) -> str:
    """`scrypt$N$r$p$salt$hash`, both base64."""
    if len(password) < MIN_CHARS:
        raise WeakPassword(f"a password needs at least {MIN_CHARS} characters")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, cost, BLOCK, PARALLEL)
    return "$".join(["scrypt", str(cost), str(BLOCK), str(PARALLEL), _b64(salt), _b64(digest)])


def check_password(password: str, kept: str) -> bool:
    """Whether `password` is the one `kept` was made from (in constant time)."""
    try:
        scheme, cost, block, parallel, salt, digest = kept.split("$")
        if scheme != "scrypt":
            return False
        found = _scrypt(password, base64.b64decode(salt), int(cost), int(block), int(parallel))
    except ValueError:
        return False
    return hmac.compare_digest(found, base64.b64decode(digest))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
