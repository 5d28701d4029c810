"""The harness's own Redis and PostgreSQL: processes it may kill -9 and restart, which the
shared test services (127.0.0.1:6379 and :5432) must never be."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import redis

REDIS_SERVER = shutil.which("redis-server") or "redis-server"
PG_BIN = Path("/usr/local/bin")
START_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class OwnRedis:
    """A redis-server on a free port, its files in `home`; `aof` turns on the append-only
    file (fsync every second, Redis's default policy), otherwise nothing is persisted."""

    home: Path
    aof: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes"] if self.aof else ["--appendonly", "no"]
        log = (self.home / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *persistence,
                "--dir",
                str(self.home),
            ],  # fmt: skip
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_S
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        while True:
            try:
                client.ping()
                break
            except redis.RedisError as exc:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not start; see {self.home}/redis.log"
                    ) from exc
                time.sleep(0.05)
            finally:
                client.close()

    def kill(self) -> None:
        """kill -9: what a crashed or OOM-killed Redis does to its clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        self.kill()


def _as_postgres(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as the `postgres`
    user (runuser, util-linux), which owns the cluster's folder."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class OwnPostgres:
    """A PostgreSQL cluster of the harness's own (initdb + pg_ctl) on a free port."""

    log: Path  # where its log is copied when it stops
    port: int = field(default_factory=free_port)
    # A folder of its own in /tmp: the postgres user cannot reach into the harness's
    # folder (mkdtemp and pytest make theirs 0700, owned by root).
    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="replyloop-pg-")))

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        done = subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres")
        done = subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                ]  # fmt: skip
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
        # fsync off: the harness's cluster holds nothing worth keeping past a power cut.
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl("-o", options, "-l", str(self.home / "postgres.log"), "-w", "start")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every session is cut, the server is back when it
        returns (the options of the last start are kept)."""
        self.pg_ctl("-m", "fast", "-l", str(self.home / "postgres.log"), "-w", "restart")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.pg_ctl("-m", "immediate", "-w", "stop")
        with suppress(OSError):
            shutil.copyfile(self.home / "postgres.log", self.log)
        shutil.rmtree(self.home, ignore_errors=True)
