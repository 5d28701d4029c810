"""Fixtures for integration tests that run real replyloop processes: a tiny model, the
workers (`workers`), and a chat of each test's own that talks to them (`chat`).

Worker start-up, measured here (2 cores): about 2.5 s until both workers log "ready."
(importing torch and transformers dominates), so `workers` is shared by the tests of a
module, once per database backend; each test isolates itself with a chat key of its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bots.intake import request_reply, store_message
from bots.outbox import Outbox, RedisOutbox, outbox
from core.settings import Settings
from core.store import Store
from core.store.schema import turns
from core.types import IncomingMessage, Turn, Vote
from replyloop.bootstrap import bootstrap
from tests import services
from tests.integration.slack_harness import slack  # noqa: F401 - a fixture for test modules
from tests.integration.telegram_harness import (  # noqa: F401 - fixtures too
    telegram,
    telegram_webhook,
)
from tests.integration.workers import (
    Workers,
    claim_database,
    delete_celery_keys,
    start_workers,
    worker_env,
    worker_redis_url,
)
from wire.messages import CastVote
from wire.tasks import ask
from workers.tiny_model import make_tiny_model

MAX_NEW_TOKENS = "6"
REPLY_TIMEOUT_S = 60.0  # a reply from the tiny model takes well under a second


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test, so fixtures can tell whether it failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def failed(request: pytest.FixtureRequest) -> bool:
    return any(
        getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama with a real tokenizer and chat template (about a second).
    Sampled, it says a NUL byte about once in 70 replies: the store must cope."""
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny-llama")


@pytest.fixture(scope="session")
def endless_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama whose greedy replies (REPLYLOOP_TEMPERATURE=0) never end before
    max_new_tokens (make_tiny_model's `endless`), big enough to take a while: about 430
    tokens a second here (2 cores, idle), so a reply of 1,500 tokens grows for 3.5 s or
    more."""
    return make_tiny_model(
        tmp_path_factory.mktemp("model") / "endless-llama",
        layers=8,
        hidden=256,
        init_std=0.5,
        endless=True,
    )


@pytest.fixture(scope="session")
def worker_broker(redis_url: str) -> Iterator[str]:
    """The workers' broker: a Redis database of this run's alone while it lasts (the first
    free one of WORKER_REDIS_DBS: a second run on the machine takes another).

    Celery's keys there are deleted before (an interrupted run may have left some) and after.
    """
    with claim_database() as db:
        url = worker_redis_url(redis_url, db)
        delete_celery_keys(url)
        yield url
        delete_celery_keys(url)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def workers(
    request: pytest.FixtureRequest,
    worker_broker: str,
    tiny_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Workers]:
    """A real `replyloop worker gpu` and `replyloop worker io`, on a database of their own."""
    home = tmp_path_factory.mktemp(f"workers-{request.param}")
    admin: Engine | None = None
    if request.param == "postgresql":
        admin = request.getfixturevalue("pg_admin")
        database_url = services.create_database(admin)
    else:
        database_url = f"sqlite:///{home / 'replyloop.sqlite3'}"
    # No migration here: the two workers migrate a fresh database at once, as in production.
    env = worker_env(
        worker_broker,
        database_url,
        tiny_model,
        home,
        max_new_tokens=MAX_NEW_TOKENS,
        reply_timeout_s="60",
    )
    failures_before = request.session.testsfailed
    try:
        started = start_workers(env, home)
    except RuntimeError as exc:
        if admin is not None:
            services.drop_database(admin, database_url)
        pytest.fail(str(exc), pytrace=False)
    yield started
    started.stop()
    if request.session.testsfailed > failures_before:
        print(started.logs())
    if admin is not None:
        services.drop_database(admin, database_url)


@dataclass
class Chat:
    """One chat of this test's own, as the terminal chat would hold it."""

    workers: Workers
    store: Store
    outbox: Outbox
    key: str

    def say(self, text: str) -> int:
        message = IncomingMessage("terminal", self.key, f"author-{self.key}", text)
        message_id = store_message(self.store, message)
        request_reply(message_id)
        return message_id

    def reply(self) -> dict[str, Any]:
        item = self.outbox.get(self.key, REPLY_TIMEOUT_S)
        assert item is not None, f"no reply within {REPLY_TIMEOUT_S} s"
        return item

    def turn(self) -> Turn:
        return self.store.turn(self.reply()["turn_id"])

    def vote(self, turn_id: int, rater: str, value: Vote) -> dict[str, Any]:
        pending = ask(CastVote(turn_id, rater, int(value), "terminal"))
        result: dict[str, Any] = pending.get(timeout=REPLY_TIMEOUT_S)
        return result

    def turns_of(self, message_id: int) -> list[str]:
        """Request keys of the Turns stored for a message, oldest first."""
        query = select(turns.c.request_key).where(turns.c.message_id == message_id)
        with self.store.engine.connect() as conn:
            return list(conn.scalars(query.order_by(turns.c.id)))


@pytest.fixture
def chat(workers: Workers, request: pytest.FixtureRequest) -> Iterator[Chat]:
    """This process wired as `replyloop chat` is with a broker (the workers' URLs passed
    explicitly, no .env), and a chat key of this test's own; worker logs shown on failure."""
    settings = Settings(
        _env_file=None, broker_url=workers.broker_url, database_url=workers.database_url
    )
    context = bootstrap(settings)
    box = outbox(workers.broker_url)
    assert isinstance(box, RedisOutbox), "an earlier test left an in-memory outbox behind"
    since = workers.log_sizes()
    yield Chat(workers, context.store, box, f"chat-{secrets.token_hex(6)}")
    context.store.engine.dispose()
    if failed(request):
        print(workers.logs(since))
