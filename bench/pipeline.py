"""bench/pipeline: what the system adds around generation, and how many messages it moves.

Real Redis, real PostgreSQL, a real `replyloop worker gpu` and `replyloop worker io`, the
tiny model with generation cut to one new token. A message goes the way every chat's does:
stored, queued to the gpu worker, generated, stored as a Turn, queued to the io worker,
delivered to the chat's outbox, read by the chat.

- overhead: end-to-end time minus the engine's own generate time, one message in flight;
  printed beside Celery's own share of it, measured in the same run: the same two hops and
  outbox with tasks that do nothing (bench/celery_floor.py).
- throughput: messages per second with N chats each keeping one message in flight, played
  by one client thread (the chats' own cost is not the pipeline's; each message is still
  stored, queued and read from its chat's outbox as `replyloop chat` does).
Targets on 2 cores: overhead median <= 5 ms, p99 <= 20 ms; >= 300 messages/s.
Run: .venv/bin/python bench/pipeline.py [--pool threads|prefork|solo] [--messages 2000]
     [--live] (every reply asked for live, as the streaming adapters ask: its text so far
     goes to Redis while it is made)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bots.intake import request_reply, store_message  # noqa: E402
from bots.outbox import KEY, outbox  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.types import IncomingMessage  # noqa: E402
from replyloop.bootstrap import bootstrap  # noqa: E402
from tests import services  # noqa: E402
from tests.integration.workers import clean_env, delete_celery_keys, start_workers  # noqa: E402
from workers.tiny_model import make_tiny_model  # noqa: E402

BENCH_REDIS_DB = 15
# Each chat's conversation holds this many exchanges, then a new one starts: the context
# stays chat-sized, so the figures are the pipeline's, not a long prompt's.
EXCHANGES = 4


class Client:
    """A chat client like `replyloop chat`, many chats at once (one thread each)."""

    def __init__(self, settings: Settings, live: bool = False) -> None:
        self.rt = bootstrap(settings)
        self.live = live  # each reply asked for live, as a streaming adapter does
        self.outbox = outbox(settings.broker_url)
        self.redis = redis.Redis.from_url(str(settings.broker_url))
        self.stored_s = 0.0  # of the last message sent

    def send(self, chat: str, text: str) -> tuple[float, int]:
        """(seconds end to end, turn id) of one message."""
        started = time.perf_counter()
        message_id = store_message(self.rt.store, IncomingMessage("terminal", chat, "u", text))
        self.stored_s = time.perf_counter() - started
        self.ask(message_id)
        item = self.outbox.get(chat, 60)
        assert item is not None, f"no reply for message {message_id} within 60 s"
        return time.perf_counter() - started, int(item["turn_id"])

    def ask(self, message_id: int) -> None:
        if self.live and self.rt.live is not None:
            self.rt.live.open(message_id)
        request_reply(message_id, live=self.live)

    def generate_seconds(self, turn_id: int) -> float:
        return float(self.rt.store.turn(turn_id).timings["generate_s"])


STAGES = ("chat stores message", "queue to gpu worker", "context", "turn stored + io leg")


def overhead(client: Client, n: int) -> tuple[list[float], dict[str, list[float]]]:
    """Milliseconds each message spent outside generate, one at a time, and by stage."""
    added: list[float] = []
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    for i in range(n):
        seconds, turn_id = client.send(f"latency-{i // EXCHANGES}", f"hello {i}")
        timings = client.rt.store.turn(turn_id).timings
        outside = seconds - timings["generate_s"]
        added.append(outside * 1000)
        parts = (client.stored_s, timings["queued_s"], timings["context_s"])
        for name, value in zip(STAGES, (*parts, outside - sum(parts)), strict=True):
            stages[name].append(value * 1000)
    return added, stages


def throughput(client: Client, chats: int, total: int) -> tuple[float, float]:
    """(messages per second, mean batch the gpu worker generated them in).

    `chats` chats each keep one message in flight. One thread plays all of them, as
    `chats` terminal chats would: store a message, queue its reply, read the chat's outbox
    (one BLPOP over every waiting chat's outbox key), send the next."""
    per_chat = total // chats
    sent = [0] * chats
    waiting: dict[str, tuple[int, int]] = {}  # outbox key -> (chat, message id)

    def send(k: int) -> None:
        chat = f"load-{chats}-{k}-{sent[k] // EXCHANGES}"
        message_id = store_message(client.rt.store, IncomingMessage("terminal", chat, "u", "hi"))
        client.ask(message_id)
        waiting[KEY.format(platform="terminal", chat_key=chat)] = (k, message_id)
        sent[k] += 1

    turn_ids: list[int] = []
    started = time.perf_counter()
    for k in range(chats):
        send(k)
    while waiting:
        found = client.redis.blpop(list(waiting), timeout=60)
        assert found is not None, f"no reply to any of {len(waiting)} messages within 60 s"
        key, value = (v if isinstance(v, str) else v.decode() for v in found)
        k, message_id = waiting.pop(key)
        item = json.loads(value)
        assert item.get("message_id") == message_id, f"reply {item} to another message"
        turn_ids.append(int(item["turn_id"]))
        if sent[k] < per_chat:
            send(k)
    rate = per_chat * chats / (time.perf_counter() - started)
    batches = [client.rt.store.turn(turn_id).timings["batch"] for turn_id in turn_ids[::10]]
    return rate, statistics.mean(batches)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def system_settings(broker: str, database: str, home: Path) -> dict[str, str]:
    """The workers' and the client's settings: the tiny model in `home`, one new token."""
    return dict(
        broker_url=broker,
        database_url=database,
        model=str(home / "tiny"),
        max_new_tokens="1",
        torch_threads="1",
        data_dir=str(home),
        cache_dir=str(home),
    )


def run(
    pool: str, database: str, home: Path, messages: int, latency_messages: int, live: bool
) -> None:
    """Start workers on `database`, measure, stop them, print the figures."""
    broker = services.redis_url().rsplit("/", 1)[0] + f"/{BENCH_REDIS_DB}"
    delete_celery_keys(broker)
    settings = system_settings(broker, database, home)
    workers = start_workers(clean_env(**settings), home, gpu_args=["--pool", pool])
    try:
        client = Client(Settings(**settings, _env_file=None), live)  # type: ignore[arg-type]
        overhead(client, 50)  # warm-up: connections, caches
        added, stages = overhead(client, latency_messages)
        rates = {chats: throughput(client, chats, messages) for chats in (16, 64)}
        client.rt.store.engine.dispose()
    finally:
        workers.stop()
        delete_celery_keys(broker)
    store = database.split(":", 1)[0]
    streamed = ", replies asked for live (streaming on)" if live else ""
    print(f"\n{store}, gpu worker pool {pool}, tiny model, 1 new token, Redis broker{streamed}")
    print(
        f"  overhead around generate, 1 in flight ({len(added)} messages): "
        f"median {statistics.median(added):.2f} ms, p99 {percentile(added, 0.99):.2f} ms "
        f"(targets 5 / 20 ms)"
    )
    medians = (f"{name} {statistics.median(v):.2f}" for name, v in stages.items())
    print("  by stage, median ms: " + ", ".join(medians))
    for chats, (rate, batch) in rates.items():
        print(
            f"  throughput, {chats} chats in flight: {rate:.0f} messages/s (target 300), "
            f"generated in batches of {batch:.1f} on average"
        )


def floor(home: Path, count: int) -> None:
    """Print Celery's two-hop round trip with no-op tasks (bench/celery_floor.py)."""
    from bench import celery_floor

    broker = services.redis_url().rsplit("/", 1)[0] + f"/{BENCH_REDIS_DB}"
    delete_celery_keys(broker)
    started = celery_floor.start_workers(broker, home)
    try:
        celery_floor.round_trips(broker, 50)  # warm-up, and waits for the workers
        times = celery_floor.round_trips(broker, count)
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(30)
        redis.Redis.from_url(broker).delete(*celery_floor.QUEUES.values())
        delete_celery_keys(broker)
    print(
        f"\nCelery alone: two hops of no-op tasks and the outbox, 1 in flight ({count}): "
        f"median {statistics.median(times):.2f} ms, p99 {percentile(times, 0.99):.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", choices=["threads", "prefork", "solo"], default="threads")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency-messages", type=int, default=500)
    parser.add_argument("--live", action="store_true", help="ask for every reply live")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="replyloop-bench-pipeline-"))
    floor(home, args.latency_messages)
    make_tiny_model(home / "tiny")
    admin = services.connect_pg_admin()
    postgresql = services.create_database(admin)
    try:
        for database in (postgresql, f"sqlite:///{home / 'bench.sqlite3'}"):
            run(args.pool, database, home, args.messages, args.latency_messages, args.live)
    finally:
        services.drop_database(admin, postgresql)


if __name__ == "__main__":
    main()
