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


# What `make_engine` can open. Hosts (Heroku, Render, Supabase...) hand out postgres://,
# which SQLAlchemy 2 no longer knows; psycopg (3) is the driver installed with replyloop.
POSTGRES_SCHEMES = ("postgres", "postgresql")
SUPPORTED_DATABASES = (
    "sqlite (sqlite:///path/to/file.sqlite3) and postgresql (postgresql://user@host:5432/db)"
)


def database_url(url: str) -> str:
    """The SQLAlchemy URL of a database URL as hosts hand them out; ValueError, naming the
    supported schemes, for any other database.

    >>> database_url("postgres://bot:pw@db:5432/rl")
    'postgresql+psycopg://bot:pw@db:5432/rl'
    >>> database_url("postgresql://db/rl")
    'postgresql+psycopg://db/rl'
    >>> database_url("postgresql+psycopg://db/rl")
    'postgresql+psycopg://db/rl'
    >>> database_url("sqlite:////srv/replyloop.sqlite3")
    'sqlite:////srv/replyloop.sqlite3'
    >>> database_url("mysql://db/rl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: mysql databases are not supported; sqlite (...) and postgresql (...) are
    """
    scheme, separator, rest = url.partition("://")
    backend, _, driver = scheme.lower().partition("+")
    if not separator or not backend:
        raise ValueError(f"not a database URL; {SUPPORTED_DATABASES} are supported")
    if backend in POSTGRES_SCHEMES:
        return f"postgresql+{driver or 'psycopg'}://{rest}"
    if backend == "sqlite":
        return url
    raise ValueError(f"{backend} databases are not supported; {SUPPORTED_DATABASES} are")
