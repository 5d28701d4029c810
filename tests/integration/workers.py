"""Real `replyloop worker gpu` and `replyloop worker io` processes, and the `replyloop`
command line, for integration tests.

Workers get a Redis database number of their own, one of WORKER_REDIS_DBS, held under a
file lock while a test run lasts: a second run on the same machine takes the next free number
instead of waiting for the first (`claim_database`), so two runs never take each other's
tasks. The Celery keys made there are deleted afterwards. Every process runs with a clean
REPLYLOOP_* environment, in a temporary folder (Settings reads a `.env` from the working directory).
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis

from tests.integration.pty_waits import QUIET_S, SLICE_S, WORKING_SHARE, cpu_seconds

# tests.services uses 13; a developer's workers, usually 0. Six runs at once on one machine.
WORKER_REDIS_DBS = (14, 12, 11, 10, 9, 8)
# What Celery, kombu and the terminal outbox write into the worker database.
CELERY_KEYS = (
    "gpu",
    "io",
    "celery",
    "unacked*",
    "_kombu.*",
    "celery-task-meta-*",
    "replyloop:terminal:outbox:*",
    "replyloop:web:outbox:*",
    "replyloop:seen:*",
    "replyloop:limit:*",
    "replyloop:behind:*",
    "replyloop:claim:*",
    "replyloop:swept:*",
    "replyloop:sweeper",
)
STOP_TIMEOUT_S = 10.0
LOCK_TIMEOUT_S = 600.0  # only when every number is taken: wait for one to come free


def replyloop_command() -> list[str]:
    """The `replyloop` script of this environment, as a person would run it."""
    script = Path(sys.executable).parent / "replyloop"
    return [str(script)] if script.exists() else [sys.executable, "-m", "replyloop.cli"]


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any REPLYLOOP_* variable, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLYLOOP_")}
    env.update({f"REPLYLOOP_{name.upper()}": value for name, value in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def worker_env(
    broker_url: str, database_url: str, model: Path, home: Path, **settings: str
) -> dict[str, str]:
    """The environment of workers (and commands) on this broker, database and model, with
    their data and cache folders under `home`. The message limits (bots.limits) are off
    unless given: they would count a fake user's messages across a whole module's tests."""
    settings = {"user_limit": "0", "chat_limit": "0", **settings}
    return clean_env(
        broker_url=broker_url,
        database_url=database_url,
        model=str(model),
        data_dir=str(home / "data"),
        cache_dir=str(home / "cache"),
        **settings,
    )


def replyloop(
    *args: str, env: Mapping[str, str], cwd: Path, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run one `replyloop` command to its end (or fail the test after `timeout`)."""
    return subprocess.run(
        [*replyloop_command(), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def worker_redis_url(base: str, db: int) -> str:
    """The Redis of `base` (the tests' Redis URL) on database number `db`."""
    return urlunsplit(urlsplit(base)._replace(path=f"/{db}"))


def delete_celery_keys(url: str) -> int:
    """Delete the keys Celery and the outbox made in the worker database (only those)."""
    client = redis.Redis.from_url(url)
    try:
        keys = {key for pattern in CELERY_KEYS for key in client.scan_iter(match=pattern)}
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


def _lock_path(db: int) -> Path:
    return Path(tempfile.gettempdir()) / f"replyloop-tests-redis-db{db}.lock"


@contextmanager
def claim_database(
    numbers: Sequence[int] = WORKER_REDIS_DBS, timeout: float = LOCK_TIMEOUT_S
) -> Iterator[int]:
    """Hold the lock of the first free database number in `numbers` and yield it.

    Each number has a lock file; a run holds one for as long as it lasts (flock: the lock
    goes with the process, so a killed run frees its number at once). When all are taken,
    wait for any to come free, at most `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        for db in numbers:
            handle = _lock_path(db).open("a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                yield db
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"other test runs hold every worker Redis database {numbers}")
        time.sleep(0.5)


@dataclass
class Worker:
    queue: str
    process: subprocess.Popen[bytes]
    log: Path

    def text(self, since: int = 0) -> str:
        return self.log.read_bytes()[since:].decode(errors="replace")

    @property
    def ready(self) -> bool:
        # celery.apps.worker logs "<queue>@<host> ready." once it consumes its queue
        return re.search(rf"{self.queue}@\S+ ready\.", self.text()) is not None

    def terminate(self) -> None:
        """SIGTERM: Celery's warm shutdown (running tasks finish, nothing new is taken)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def finish(self, deadline: float) -> None:
        """Wait for the warm shutdown until `deadline`, then SIGKILL the process group."""
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(max(0.0, deadline - time.monotonic()))
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # prefork children, if any are left
        self.process.wait(STOP_TIMEOUT_S)


@dataclass
class Workers:
    env: dict[str, str]
    workers: list[Worker] = field(default_factory=list)

    @property
    def broker_url(self) -> str:
        return self.env["REPLYLOOP_BROKER_URL"]

    @property
    def database_url(self) -> str:
        return self.env["REPLYLOOP_DATABASE_URL"]

    def progress(self) -> list[tuple[int, float]]:
        """(log bytes, CPU seconds) of each worker: what grows while it works."""
        found = []
        for worker in self.workers:
            try:
                cpu = cpu_seconds(worker.process.pid)
            except FileNotFoundError:  # exited: the caller sees it
                cpu = 0.0
            found.append((worker.log.stat().st_size, cpu))
        return found

    def log_sizes(self) -> list[int]:
        return [w.log.stat().st_size for w in self.workers]

    def logs(self, since: list[int] | None = None) -> str:
        since = since or [0] * len(self.workers)
        return "\n".join(
            f"----- replyloop worker {w.queue} (exit {w.process.poll()}) -----\n{w.text(start)}"
            for w, start in zip(self.workers, since, strict=True)
        )

    def stop(self) -> None:
        for worker in self.workers:
            worker.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for worker in self.workers:
            worker.finish(deadline)


def start_workers(
    env: dict[str, str],
    cwd: Path,
    gpu_args: Sequence[str] = (),
    quiet_s: float = QUIET_S,
    queues: Sequence[str] = ("gpu", "io"),
) -> Workers:
    """Start `replyloop worker gpu [gpu_args]` and `replyloop worker io` (or the workers of
    `queues`); return once all are ready.

    Raises RuntimeError, with their logs, if one exits, or if they are not ready and none
    of them logged a line or used CPU time for `quiet_s` (a fixed limit would fail a busy
    machine: a gpu worker took over 90 s to start beside a test run and stress-ng).
    """
    started = Workers(env)
    for queue in queues:
        args = gpu_args if queue == "gpu" else ()
        log = cwd / f"worker-{queue}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*replyloop_command(), "worker", queue, *args],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.workers.append(Worker(queue, process, log))
    idle_since = looked_at = time.monotonic()
    progress = started.progress()
    while not all(w.ready for w in started.workers):
        exited = [w for w in started.workers if w.process.poll() is not None]
        now = time.monotonic()
        if now - looked_at >= SLICE_S:
            looked_at, before, progress = now, progress, started.progress()
            if any(
                size > size_was or cpu - cpu_was >= WORKING_SHARE * SLICE_S
                for (size, cpu), (size_was, cpu_was) in zip(progress, before, strict=True)
            ):
                idle_since = now
        if exited or now - idle_since > quiet_s:
            started.stop()
            why = f"{exited[0].queue} exited" if exited else f"idle for {quiet_s:.0f} s"
            raise RuntimeError(f"replyloop workers failed to start ({why}):\n{started.logs()}")
        time.sleep(0.1)
    return started
