"""What every platform's end-to-end tests run: real gpu and io workers on a PostgreSQL
database of their own (`platform_stack`), and the platform's `replyloop serve` process
(`adapter`), both torn down after, their logs printed."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, select

from core.store import Store, open_store
from core.store.schema import votes
from tests import services
from tests.integration.workers import (
    Workers,
    replyloop,
    replyloop_command,
    start_workers,
    worker_env,
)

WAIT_S = 60.0
T = TypeVar("T")


def wait_for(what: str, found: Callable[[], T | None], timeout: float = WAIT_S) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def oversized_status(url: str, size: int = 100 << 20) -> int:
    """The HTTP status a server answers to a POST that announces a `size`-byte body and
    sends one byte of it. A server with a body limit answers at once (413); one without
    waits for the rest of the body, and this fails after WAIT_S with no answer."""
    parts = urllib.parse.urlsplit(url)
    target = f"{parts.path}?{parts.query}" if parts.query else parts.path
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n{{"
    )
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=WAIT_S) as conn:
        conn.sendall(head.encode())
        status = conn.makefile("rb").readline()
    return int(status.split()[1])


def http_call(
    method: str, url: str, query: dict[str, str], body: bytes | None = None
) -> tuple[int, bytes]:
    """(status, body) of one HTTP request, errors included (a 403 is an answer here)."""
    request = urllib.request.Request(
        f"{url}?{urllib.parse.urlencode(query)}", data=body, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), b""


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class Stack:
    store: Store
    workers: Workers
    env: dict[str, str]  # the workers' environment, the platform's settings included
    home: Path


def standing_votes(store: Store, turn_id: int) -> list[tuple[str, int]]:
    """(rater, value) of the votes that stand on a reply."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(votes.c.rater, votes.c.value).where(votes.c.turn_id == turn_id))
        return [(r.rater, r.value) for r in rows]


def export(env: dict[str, str], home: Path, out: Path, form: str = "raw") -> list[dict[str, Any]]:
    """`replyloop feedback export --format form`, as a person runs it: its rows."""
    done = replyloop("feedback", "export", "--format", form, "--out", str(out), env=env, cwd=home)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


@contextmanager
def platform_stack(
    pg_admin: Engine, broker: str, model: Path, home: Path, **platform_env: str
) -> Iterator[Stack]:
    database_url = services.create_database(pg_admin)
    try:
        env = worker_env(broker, database_url, model, home, max_new_tokens="6")
        env.update(platform_env)
        workers = start_workers(env, home)
        store = open_store(database_url)
        try:
            yield Stack(store, workers, env, home)
        finally:
            workers.stop()
            store.engine.dispose()
            print(workers.logs()[-10000:])
    finally:
        services.drop_database(pg_admin, database_url)


@contextmanager
def adapter(
    args: list[str], env: dict[str, str], home: Path, log: Path, ready: Callable[[], bool]
) -> Iterator[None]:
    """`replyloop *args` running (its output in `log`) once `ready()` holds."""
    with log.open("wb") as out:
        serve = subprocess.Popen(
            [*replyloop_command(), *args],
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def up() -> bool:
            if serve.poll() is not None:
                raise AssertionError(f"replyloop {' '.join(args)} exited:\n{log.read_text()}")
            return ready()

        wait_for(f"replyloop {' '.join(args)}", up)
        yield
    finally:
        serve.terminate()
        serve.wait(10)
        print(log.read_text(errors="replace")[-5000:])
