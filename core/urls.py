"""Helpers for connection URLs that must never be printed with their password."""

from urllib.parse import urlsplit, urlunsplit


def mask_url(url: str) -> str:
    """Replace the password of a URL with ***; leave anything else untouched.

    >>> mask_url("postgresql+psycopg://bot:s3cret@db:5432/replyloop")
    'postgresql+psycopg://bot:***@db:5432/replyloop'
    >>> mask_url("redis://localhost:6379/0")
    'redis://localhost:6379/0'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{user}:***@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
