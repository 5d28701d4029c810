"""Opening the database: one clear line when it cannot be reached, migrations applied."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from core.errors import ServiceUnavailable
from core.store.migrate import sqlite_open_lock, upgrade
from core.store.store import Store
from core.urls import database_url, mask_url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the chat process read while a worker process writes; busy_timeout waits
    # for a lock instead of failing at once with "database is locked".
    # busy_timeout first: switching to WAL itself needs a lock that another process
    # opening the same new file may hold for a moment.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine on `url` (postgres:// and postgresql:// mean psycopg 3); ValueError for a
    database replyloop does not support."""
    url = database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping: it costs a round trip per query on the hot path; a connection that died
    # raises OperationalError, which the tasks retry with backoff.
    return create_engine(url, pool_size=5, max_overflow=10, pool_recycle=1800)


def open_store(url: str, migrate: bool = True) -> Store:
    """Connect, upgrade the schema to the newest revision, and return the store.

    Raises ServiceUnavailable with one line naming the (masked) URL and the fix.
    """
    try:
        database_url(url)
    except ValueError as exc:  # a database replyloop cannot use at all
        raise ServiceUnavailable(f"REPLYLOOP_DATABASE_URL={mask_url(url)}: {exc}") from None
    try:
        engine = make_engine(url)
        with sqlite_open_lock(engine):
            with engine.connect():
                pass
            if migrate:
                upgrade(engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ServiceUnavailable(
            f"cannot reach the database at {mask_url(url)} ({reason}). Start it or fix "
            "REPLYLOOP_DATABASE_URL; unset it to use a local SQLite file."
        ) from exc
    return Store(engine)
