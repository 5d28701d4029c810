"""Helpers for connection URLs that must never be printed with their password."""

from urllib.parse import urlsplit, urlunsplit


def mask_url(url: str) -> str:
    """Replace the password of a URL with ***; leave anything else untouched.

    >>> mask_url("postgresql+psycopg://bot:s3cret@db:5432/replyloop")
    'postgresql+psycopg://bot:***@db:5432/replyloop'
    >>> mask_url("postgresql://bot:pw@[::1]:5432/db")
    'postgresql://bot:***@[::1]:5432/db'
    >>> mask_url("redis://localhost:6379/0")
    'redis://localhost:6379/0'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    netloc = f"{user}:***@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
