"""The part of bench/pipeline's overhead that is Celery's own: two hops of no-op tasks.

A message of the reply loop crosses two Celery hops (the chat to the gpu worker, the gpu
worker to the io worker) and a Redis outbox back to the chat. Here the same shape runs with
tasks that do nothing: the client queues `floor.first` to one worker, which queues
`floor.second` to another, which pushes to an outbox list the client waits on. Same Redis,
same transport, threads pools, acks late, prefetch 1, results ignored: what is left of the
pipeline's overhead once SQL, prompts and our own code are taken away.

Workers: `celery -A bench.celery_floor worker -Q floor-first` (and `floor-second`);
bench/pipeline.py starts them and calls `round_trips`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
from celery import Celery

from wire.broker import SCHEMES

FIRST, SECOND = "floor.first", "floor.second"
QUEUES = {FIRST: "floor-first", SECOND: "floor-second"}
OUTBOX = "floor:outbox:{key}"
BROKER_ENV = "FLOOR_BROKER_URL"

broker_url = os.environ.get(BROKER_ENV, "redis://127.0.0.1:6379/15")
app = Celery("floor", broker=broker_url)
app.conf.update(
    broker_transport="wire.broker:Transport" if broker_url.split(":")[0] in SCHEMES else None,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    task_routes={name: {"queue": queue} for name, queue in QUEUES.items()},
)
_outbox: redis.Redis | None = None


@app.task(name=FIRST)
def first(key: str) -> None:
    app.send_task(SECOND, args=[key], ignore_result=True)


@app.task(name=SECOND)
def second(key: str) -> None:
    global _outbox
    if _outbox is None:
        _outbox = redis.Redis.from_url(broker_url)
    _outbox.rpush(OUTBOX.format(key=key), b"1")


def start_workers(broker: str, cwd: Path) -> list[subprocess.Popen[bytes]]:
    """The two floor workers, ready to take tasks."""
    env = {**os.environ, BROKER_ENV: broker}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    started = []
    for queue in QUEUES.values():
        command = [sys.executable, "-m", "celery", "-A", "bench.celery_floor", "worker"]
        command += ["-Q", queue, "-P", "threads", "-c", "8", "-n", f"{queue}@%h"]
        command += ["--without-gossip", "--without-mingle", "--loglevel", "WARNING"]
        with (cwd / f"{queue}.log").open("wb") as log:  # the worker keeps its own copy
            started.append(
                subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
            )
    return started


def round_trips(broker: str, count: int, timeout: float = 60.0) -> list[float]:
    """Milliseconds of `count` round trips, one at a time (the first ones wait for the
    workers to be up)."""
    client = redis.Redis.from_url(broker)
    app.conf.broker_url = broker
    times = []
    for _ in range(count):
        key = uuid.uuid4().hex
        started = time.perf_counter()
        app.send_task(FIRST, args=[key], ignore_result=True)
        if client.blpop([OUTBOX.format(key=key)], timeout=timeout) is None:
            raise RuntimeError(f"no floor round trip within {timeout} s")
        times.append((time.perf_counter() - started) * 1000)
    client.close()
    return times
