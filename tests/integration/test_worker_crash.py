"""A gpu worker killed in the middle of a generation loses nothing: the message it held
unacknowledged goes back to the queue after the visibility timeout, another gpu worker
answers it, and the chat gets exactly one reply.

The threads-pool gpu worker takes generate messages straight into its batch
(workers.strategy) and acknowledges one only once its Turn is stored, so a message in a
batch is still Redis's to hand out again. Its own workers: the shared ones must not die.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import redis
from sqlalchemy import select

from bots.intake import request_reply, store_message
from bots.outbox import outbox
from core.settings import Settings
from core.store.schema import turns
from core.types import IncomingMessage
from replyloop.bootstrap import bootstrap
from tests.integration.workers import start_workers, worker_env

VISIBILITY_S = 30  # the least the settings allow; kombu looks for such messages every 10 s
LONG_REPLY = "1500"  # new tokens: the tiny model takes a second or more, greedy, to say them


def test_a_killed_gpu_worker_s_message_is_answered_once_by_another(
    worker_broker: str, tiny_model: Path, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'replyloop.sqlite3'}"
    env = worker_env(
        worker_broker,
        database_url,
        tiny_model,
        tmp_path,
        max_new_tokens=LONG_REPLY,
        temperature="0",
        visibility_timeout_s=str(VISIBILITY_S),
    )
    (tmp_path / "first").mkdir()
    first = start_workers(env, tmp_path / "first")
    second = None
    try:
        settings = Settings(_env_file=None, broker_url=worker_broker, database_url=database_url)
        store = bootstrap(settings).store
        message_id = store_message(store, IncomingMessage("terminal", "crash", "u", "hello"))
        request_reply(message_id)
        broker = redis.Redis.from_url(worker_broker)
        deadline = time.monotonic() + 30
        while not broker.hlen("unacked") and time.monotonic() < deadline:
            time.sleep(0.005)  # wait for the gpu worker to take it
        assert broker.hlen("unacked") == 1, first.logs()
        gpu = first.workers[0]
        os.killpg(gpu.process.pid, signal.SIGKILL)
        gpu.process.wait(10)
        query = select(turns.c.id).where(turns.c.message_id == message_id)
        with store.engine.connect() as conn:
            assert conn.execute(query).first() is None, "generation ended before the kill"

        (tmp_path / "second").mkdir()
        second = start_workers(env, tmp_path / "second")
        reply = outbox(worker_broker).get("crash", VISIBILITY_S + 60)
        assert reply is not None, second.logs()
        assert reply["message_id"] == message_id
        with store.engine.connect() as conn:
            assert conn.execute(query).scalars().all() == [reply["turn_id"]]
        assert outbox(worker_broker).get("crash", 2) is None  # once
        assert broker.hlen("unacked") == 0
        store.engine.dispose()
    finally:
        first.stop()
        if second is not None:
            second.stop()
