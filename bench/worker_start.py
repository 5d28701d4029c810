"""What a worker costs to start: seconds from launch to "ready." and peak memory, for the
real `replyloop worker io` and `replyloop worker gpu`, of this tree and of others side by
side in one run (runs interleaved, so a busy machine slows each tree alike).

    python -m bench.worker_start --runs 5 --tree before=/tmp/old-checkout

Each tree is imported through PYTHONPATH with this environment's packages. Each run starts
one worker on a fresh SQLite store and a Redis database of its own, waits for Celery's
"<queue>@host ready." line, sends it one task through the queue (io: a vote on an unknown
reply; gpu: nothing, its model loads before ready), then reads the process's peak resident
memory (VmHWM, /proc) and stops it. The gpu worker serves a tiny random model, so its
figures are the worker's own, not a real model's weights.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings
from tests import services
from tests.integration.workers import claim_database, delete_celery_keys, worker_redis_url
from wire.app import configure
from wire.queues import VOTE
from workers.tiny_model import make_tiny_model

HERE = Path(__file__).resolve().parents[1]
READY_S = 300.0


@dataclass(frozen=True)
class Started:
    ready_s: float  # launch to the "ready." line
    peak_mb: float  # VmHWM after one task


def peak_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    assert match, status
    return int(match.group(1)) / 1024


def start_once(tree: Path, queue: str, broker: str, model: Path, home: Path) -> Started:
    database = f"sqlite:///{home / 'replyloop.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLYLOOP_")}
    env.update(
        PYTHONPATH=str(tree),
        REPLYLOOP_BROKER_URL=broker,
        REPLYLOOP_DATABASE_URL=database,
        REPLYLOOP_MODEL=str(model),
        REPLYLOOP_DATA_DIR=str(home / "data"),
        REPLYLOOP_CACHE_DIR=str(home / "cache"),
    )
    log = home / f"{queue}.log"
    launched = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "replyloop.cli", "worker", queue],
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while not re.search(rf"{queue}@\S+ ready\.", log.read_text(errors="replace")):
            if process.poll() is not None or time.perf_counter() - launched > READY_S:
                raise RuntimeError(f"worker {queue} of {tree} did not start:\n{log.read_text()}")
            time.sleep(0.01)
        ready_s = time.perf_counter() - launched
        if queue == "io":
            app = configure(Settings(_env_file=None, broker_url=broker, database_url=database))
            # Positional, as the release before sent it: both trees' workers take it.
            vote = app.signature(VOTE, args=[1, "r", 1, "bench"]).apply_async()
            answer = vote.get(timeout=60)
            assert answer["ok"] is False, answer
        return Started(ready_s, peak_mb(process.pid))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--queue", action="append", choices=("io", "gpu"))
    args = parser.parse_args()
    trees = {"this": HERE} | {
        name: Path(path).resolve() for name, path in (t.split("=", 1) for t in args.tree)
    }
    queues = args.queue or ["io", "gpu"]
    results: dict[tuple[str, str], list[Started]] = {}
    with tempfile.TemporaryDirectory() as scratch, claim_database() as db:
        broker = worker_redis_url(services.redis_url(), db)
        model = make_tiny_model(Path(scratch) / "tiny")
        for run in range(args.runs):
            for queue in queues:
                for name, tree in trees.items():
                    home = Path(scratch) / f"{name}-{queue}-{run}"
                    home.mkdir()
                    delete_celery_keys(broker)
                    started = start_once(tree, queue, broker, model, home)
                    results.setdefault((name, queue), []).append(started)
                    print(f"run {run + 1}/{args.runs} {queue} {name}: {started}", file=sys.stderr)
        delete_celery_keys(broker)
    print(f"{'worker':8} {'tree':8} {'ready s (median, min-max)':28} {'peak MB (median)':>16}")
    for (name, queue), found in sorted(results.items(), key=lambda item: item[0][::-1]):
        ready = [s.ready_s for s in found]
        peak = statistics.median(s.peak_mb for s in found)
        spread = f"{statistics.median(ready):.2f} ({min(ready):.2f}-{max(ready):.2f})"
        line = f"{queue:8} {name:8} {spread:28} {peak:16.0f}"
        if name != "this":
            mine = results[("this", queue)]
            ready_x = statistics.median(s.ready_s for s in mine) / statistics.median(ready)
            peak_x = statistics.median(s.peak_mb for s in mine) / peak
            line += f"   this/{name}: ready x{ready_x:.2f}, peak x{peak_x:.2f}"
        print(line)


if __name__ == "__main__":
    main()
