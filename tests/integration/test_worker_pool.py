"""More than one generation process in one `replyloop worker gpu --pool prefork
--concurrency 2`, on
PostgreSQL: every message is answered, from its own context, and no task fails or retries.

Before 6bad5fc the prefork children shared the database connection their parent opened at
start-up: tasks failed with ResourceClosedError, LookupError('no message 2') (one child read
the other's rows), ProgrammingError, and their messages were never answered. This test
failed 4 runs in 4 on that code, and passes on the fix.

Its own workers (not the shared `workers` fixture): two gpu workers on one broker would take
each other's tasks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bots.intake import request_reply, store_message
from bots.outbox import outbox
from core.settings import Settings
from core.store import open_store
from core.types import IncomingMessage
from replyloop.bootstrap import bootstrap
from tests import services
from tests.integration.conftest import MAX_NEW_TOKENS, failed
from tests.integration.workers import Workers, start_workers, worker_env

MESSAGES = 60
DEADLINE_S = 30.0  # correct workers answer in about 3 s (both children load the model)


@pytest.fixture
def pool(
    pg_admin: Engine,
    worker_broker: str,
    tiny_model: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Workers]:
    database_url = services.create_database(pg_admin)
    open_store(database_url).engine.dispose()
    env = worker_env(
        worker_broker, database_url, tiny_model, tmp_path, max_new_tokens=MAX_NEW_TOKENS
    )
    try:
        started = start_workers(env, tmp_path, gpu_args=["--pool", "prefork", "--concurrency", "2"])
    except RuntimeError as exc:
        services.drop_database(pg_admin, database_url)
        pytest.fail(str(exc), pytrace=False)
    yield started
    started.stop()
    if failed(request):
        print(started.logs())
    services.drop_database(pg_admin, database_url)


def test_two_generation_processes_answer_every_message(pool: Workers) -> None:
    # Both children load the model after the worker says "ready."; wait for both, or the
    # first one would answer everything alone.
    deadline = time.monotonic() + DEADLINE_S
    while pool.workers[0].text().count("workers.models loaded") < 2:
        assert time.monotonic() < deadline, "the two generation processes did not start"
        time.sleep(0.1)
    context = bootstrap(
        Settings(_env_file=None, broker_url=pool.broker_url, database_url=pool.database_url)
    )
    box = outbox(pool.broker_url)
    chats = [f"pool-{n}-{time.time_ns()}" for n in range(MESSAGES)]
    for chat in chats:
        message = IncomingMessage("terminal", chat, "author", f"hello {chat}")
        request_reply(store_message(context.store, message))
    deadline = time.monotonic() + DEADLINE_S
    waiting, replies = list(chats), dict[str, int]()
    while waiting and time.monotonic() < deadline:
        # A healthy database gives no reason for a failed or retried task.
        failures = [
            line for line in pool.logs().splitlines() if " ERROR " in line or " retry: " in line
        ]
        assert not failures, failures[0]
        item = box.get(waiting[0], 1)
        if item is not None:
            replies[waiting.pop(0)] = item["turn_id"]
    assert not waiting, f"{len(waiting)} of {MESSAGES} messages got no reply"
    for chat, turn_id in replies.items():
        assert context.store.turn(turn_id).prompt[-1]["content"] == f"hello {chat}"
    context.store.engine.dispose()
