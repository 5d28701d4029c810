"""bench/metrics: what Prometheus metrics cost (wire/metrics.py), side by side in one run.

bench/pipeline's system (real Redis and PostgreSQL, a real gpu and io worker, the tiny model
cut to one new token, 16 chats in flight), started alternately without metrics and with
REPLYLOOP_METRICS_PORT set on both workers and a scraper reading both /metrics every
`--scrape-every` seconds (Prometheus's default is 15 s; 0.5 s is far harsher). Printed: the
throughput of each, their ratio, and how long a scrape of the busy gpu worker took.
Targets (issue 22): scrape <= 20 ms on a busy gpu worker; metrics cost <= 2 % of throughput.

Run: .venv/bin/python -m bench.metrics [--rounds 3] [--messages 1500] [--scrape-every 0.5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.pipeline import Client, percentile, system_settings, throughput
from core.settings import Settings
from tests import services
from tests.integration.scrape import free_port
from tests.integration.workers import clean_env, delete_celery_keys, start_workers
from workers.tiny_model import make_tiny_model

CHATS = 16
# Not bench/pipeline's and bench/loop's 15: this one may run beside them.
BENCH_REDIS_DB = 13


class Scraper:
    """Reads each port's /metrics every `every_s` on a thread; the gpu worker's times."""

    def __init__(self, ports: list[int], every_s: float) -> None:
        self.ports, self.every_s = ports, every_s
        self.gpu_ms: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.every_s):
            for index, port in enumerate(self.ports):
                started = time.perf_counter()
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    r.read()
                if index == 0:
                    self.gpu_ms.append((time.perf_counter() - started) * 1000)


def one(
    home: Path, database: str, messages: int, scrape_every: float | None
) -> tuple[float, list[float]]:
    """Throughput (messages/s) of one system; with metrics when `scrape_every` is given,
    and then the gpu worker's scrape times (ms)."""
    broker = services.redis_url().rsplit("/", 1)[0] + f"/{BENCH_REDIS_DB}"
    delete_celery_keys(broker)
    settings = system_settings(broker, database, home)
    env = clean_env(**settings)
    ports = [free_port(), free_port()]
    started = []
    for queue, port in zip(("gpu", "io"), ports, strict=True):
        queue_env = env | ({"REPLYLOOP_METRICS_PORT": str(port)} if scrape_every else {})
        started.append(start_workers(queue_env, home, queues=(queue,)))
    scraper = Scraper(ports, scrape_every) if scrape_every else None
    try:
        client = Client(Settings(**settings, _env_file=None))  # type: ignore[arg-type]
        throughput(client, CHATS, 100)  # warm-up
        if scraper is not None:
            scraper.thread.start()
        rate, _batch = throughput(client, CHATS, messages)
        client.rt.store.engine.dispose()
    finally:
        if scraper is not None:
            scraper.stop.set()
            scraper.thread.join(10)
        for workers in started:
            workers.stop()
        delete_celery_keys(broker)
    return rate, scraper.gpu_ms if scraper is not None else []


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="A/B pairs, alternating")
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--scrape-every", type=float, default=0.5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="replyloop-bench-metrics-"))
    make_tiny_model(home / "tiny")
    admin = services.connect_pg_admin()
    off: list[float] = []
    on: list[float] = []
    scrapes: list[float] = []
    for round_ in range(args.rounds):
        order = (None, args.scrape_every) if round_ % 2 == 0 else (args.scrape_every, None)
        for every in order:
            database = services.create_database(admin)  # each run from an empty store
            try:
                rate, times = one(home, database, args.messages, every)
            finally:
                services.drop_database(admin, database)
            (on if every else off).append(rate)
            scrapes.extend(times)
            label = "with metrics" if every else "without"
            print(f"  round {round_ + 1}, {label}: {rate:.0f} messages/s", flush=True)
    ratio = statistics.median(on) / statistics.median(off)
    print(
        f"PostgreSQL, {CHATS} chats in flight, {args.messages} messages a run, {args.rounds} "
        f"A/B pairs: without metrics median {statistics.median(off):.0f} messages/s, with "
        f"metrics (scraped every {args.scrape_every} s) {statistics.median(on):.0f}: "
        f"{ratio:.3f}x (target >= 0.98)"
    )
    print(
        f"gpu worker /metrics scrape while busy ({len(scrapes)} scrapes): median "
        f"{statistics.median(scrapes):.1f} ms, p95 {percentile(scrapes, 0.95):.1f} ms, max "
        f"{max(scrapes):.1f} ms (target <= 20 ms)"
    )


if __name__ == "__main__":
    main()
