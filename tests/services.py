"""Where the services for tests live, and how to start them. Shared by every test that
needs real PostgreSQL or Redis, so the defaults and the start commands exist once."""

from __future__ import annotations

import os
import secrets

import redis
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from core.urls import mask_url

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/13"  # its own DB number: tests never touch a dev's DB 0
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
REDIS_START = 'redis-server --daemonize yes --port 6379 --save ""'


class ServiceMissing(RuntimeError):
    """A service the tests need is not running; the message says how to start it."""


def pg_admin_url() -> str:
    return os.environ.get("REPLYLOOP_TEST_PG_ADMIN_URL", PG_ADMIN_URL)


def redis_url() -> str:
    return os.environ.get("REPLYLOOP_TEST_REDIS_URL", REDIS_URL)


def connect_pg_admin(url: str | None = None) -> Engine:
    """An AUTOCOMMIT engine on the admin database (CREATE/DROP DATABASE need one)."""
    url = url or pg_admin_url()
    engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        engine.dispose()
        raise ServiceMissing(
            f"PostgreSQL is not reachable at {mask_url(url)} ({_first_line(exc)}). "
            f"Start it with: {PG_START}  (or set REPLYLOOP_TEST_PG_ADMIN_URL)"
        ) from exc
    return engine


def check_redis(url: str | None = None) -> str:
    url = url or redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ServiceMissing(
            f"Redis is not reachable at {mask_url(url)} ({_first_line(exc)}). "
            f"Start it with: {REDIS_START}  (or set REPLYLOOP_TEST_REDIS_URL)"
        ) from exc
    finally:
        client.close()
    return url


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def create_database(admin: Engine) -> str:
    """A new empty database named replyloop_test_<hex>; returns its URL."""
    name = f"replyloop_test_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return admin.url.set(database=name).render_as_string(hide_password=False)


def drop_database(admin: Engine, url: str) -> None:
    """Terminate whatever still holds the database open, then drop it."""
    name = make_url(url).database
    assert name and name.startswith("replyloop_test_"), name  # never drop anything else
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":  # scripts/test.sh: are the services up before pytest starts?
    import sys

    try:
        connect_pg_admin().dispose()
        check_redis()
    except ServiceMissing as exc:
        print(f"test.sh: {exc}", file=sys.stderr)
        sys.exit(1)
