"""One scenario's system: its own Redis, a database, the tiny model, real `replyloop worker
gpu` and `replyloop worker io` processes it can kill -9 and start again, and the platform
adapters (`replyloop serve ...`) it starts. Every setting is the default but the broker and
database URLs, the model, the platform's credentials and API URL, and what
`python -m bench.faults --set` gives."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import redis
from sqlalchemy import Engine

from bench.faults.services import OwnPostgres, OwnRedis, free_port
from core.settings import Settings
from core.store import Store, open_store
from tests import services
from tests.integration.workers import Worker, replyloop_command, start_workers, worker_env

READY_S = 120.0
# The tests' worker_env turns the message limits off (a fake user's messages would count
# across a module's tests); a scenario runs with them as an operator's system does.
DEFAULT_LIMITS = {
    name: str(Settings.model_fields[name].default) for name in ("user_limit", "chat_limit")
}


@dataclass
class Adapter:
    """A `replyloop serve ...` process; its output in `log`."""

    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass
class Stack:
    home: Path
    env: dict[str, str]
    redis: OwnRedis
    store: Store
    workers: dict[str, Worker] = field(default_factory=dict)
    adapters: list[Adapter] = field(default_factory=list)
    starts: int = 0  # worker processes started, to give each its own log

    def start_worker(self, queue: str) -> None:
        """Start `replyloop worker <queue>` and wait until it consumes its queue."""
        self.starts += 1
        cwd = self.home / f"{queue}-{self.starts}"
        cwd.mkdir()
        started = start_workers(self.env, cwd, queues=(queue,))
        self.workers[queue] = started.workers[0]

    def kill_worker(self, queue: str) -> None:
        """kill -9 of the worker's whole process group (a prefork pool's children too)."""
        worker = self.workers[queue]
        with suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(10)

    def start_adapter(self, args: list[str], ready: Callable[[], bool], name: str) -> Adapter:
        """`replyloop *args`, once `ready()` holds."""
        log = self.home / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*replyloop_command(), *args],
                env=self.env,
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started = Adapter(process, log)
        self.adapters.append(started)
        deadline = time.monotonic() + READY_S
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"replyloop {' '.join(args)} did not start:\n{log.read_text()}")
            time.sleep(0.05)
        return started

    def exits_note(self) -> str | None:
        """Which processes died on their own (no supervisor restarts them here), with the
        first line their log gave as the reason."""
        died = []
        for queue, worker in self.workers.items():
            if worker.process.poll() is not None:
                died.append((f"{queue} worker", worker.process.returncode, worker.log))
        for adapter in self.adapters:
            if adapter.process.poll() is not None:
                died.append((adapter.log.stem, adapter.process.returncode, adapter.log))
        if not died:
            return None
        said = []
        for name, code, log in died:
            lines = log.read_text(errors="replace").splitlines()
            why = next((x for x in lines if "CRITICAL" in x or "Unrecoverable" in x), "")
            said.append(f"{name} exited ({code}) {why.split(' ', 2)[-1][:160]}")
        return "; ".join(said)

    def notes(self) -> list[str]:
        """What a reader of the table needs to find the cause: dead processes, and what
        the broker still holds."""
        found = self.exits_note()
        return ([found] if found else []) + [self.broker_note()]

    def broker_note(self) -> str:
        """What the broker holds at the end: tasks waiting in each queue, and tasks taken
        by a worker and not acknowledged (kombu's `unacked` hash; a dead worker's stay
        there until visibility_timeout_s has passed)."""
        client = redis.Redis.from_url(self.redis.url, socket_connect_timeout=2)
        try:
            counts = {name: client.llen(name) for name in ("gpu", "io")}
            unacked = client.hlen("unacked")
        except redis.RedisError as exc:
            return f"broker unreadable at the end ({exc})"
        finally:
            client.close()
        return (
            f"broker at the end: queued gpu {counts['gpu']}, io {counts['io']}; unacked {unacked}"
        )

    def logs(self) -> str:
        """Every process's log, for a reader looking for a cause."""
        found = sorted(self.home.glob("*.log")) + sorted(self.home.glob("*/worker-*.log"))
        return "\n".join(f"----- {p.relative_to(self.home)} -----\n{p.read_text()}" for p in found)

    def stop(self) -> None:
        for adapter in self.adapters:
            adapter.stop()
        for worker in self.workers.values():
            worker.terminate()
        deadline = time.monotonic() + 10
        for worker in self.workers.values():
            worker.finish(deadline)
        self.store.engine.dispose()


def free_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@contextmanager
def database(home: Path, own: bool) -> Iterator[tuple[str, OwnPostgres | None]]:
    """A new database: on the shared test PostgreSQL, or (`own`) on a cluster of the
    harness's own that a scenario may restart."""
    if own:
        cluster = OwnPostgres(home / "postgres.log")
        cluster.start()
        try:
            yield cluster.url, cluster
        finally:
            cluster.stop()
        return
    admin: Engine = services.connect_pg_admin()
    url = services.create_database(admin)
    try:
        yield url, None
    finally:
        services.drop_database(admin, url)
        admin.dispose()


@contextmanager
def stack(
    home: Path,
    model: Path,
    platform_env: dict[str, str],
    aof: bool = False,
    own_postgres: bool = False,
) -> Iterator[tuple[Stack, OwnPostgres | None]]:
    """Redis, a database and both workers running, for `platform_env`'s platform."""
    own_redis = OwnRedis(home / "redis", aof=aof)
    own_redis.start()
    try:
        with database(home, own_postgres) as (url, cluster):
            env = worker_env(own_redis.url, url, model, home, **DEFAULT_LIMITS)
            env.update(platform_env)
            running = Stack(home, env, own_redis, open_store(url))
            try:
                running.start_worker("gpu")
                running.start_worker("io")
                yield running, cluster
            finally:
                running.stop()
    finally:
        own_redis.stop()
