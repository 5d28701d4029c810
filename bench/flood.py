"""bench/flood: does one person flooding one DM slow everyone else's replies? (issue 20:
on main, 300 messages into one DM took others' replies from 0.5 s to 3.0 s.)

Real Redis, real PostgreSQL, a real `replyloop worker gpu` (threads pool) and `replyloop
worker io`, the tiny model. Every message enters as an adapter's does (bots.intake.accept,
with the limits counted in Redis) and is answered into its chat's terminal outbox. `others`
people each send `rounds` messages, one at a time, waiting for each reply: first with
nobody flooding (idle), then while one person sends `messages` into one DM as fast as a
script can. Printed: others' median reply time in both, the ratio (target <= 1.5), how
many of the flood's messages were answered, and the tasks pushed onto the gpu queue while
the flood lasted (the churn the 0.2 s re-queue made). Run with the limits at their
defaults, and with them off (0): the second shows the gpu queue's own fairness.

What it does not show: a flood through several adapter replicas or several gpu workers
(the hand-on between workers is tested, not measured here), or a real model's speed.

Run: .venv/bin/python bench/flood.py [--messages 300] [--others 4] [--rounds 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bots.intake import accept  # noqa: E402
from bots.limits import Limits  # noqa: E402
from bots.outbox import outbox  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.types import IncomingMessage  # noqa: E402
from replyloop.bootstrap import bootstrap  # noqa: E402
from tests import services  # noqa: E402
from tests.integration.workers import clean_env, delete_celery_keys, start_workers  # noqa: E402
from wire.queues import GPU_QUEUE  # noqa: E402
from workers.tiny_model import make_tiny_model  # noqa: E402

BENCH_REDIS_DB = 15
DEFAULTS = Settings.model_fields  # the limits' one home
REPLY_WAIT_S = 120.0


@contextmanager
def gpu_pushes(broker_url: str) -> Iterator[list[int]]:
    """How many tasks are pushed onto the gpu queue while the block runs (Redis MONITOR)."""
    db = int(urlsplit(broker_url).path.strip("/") or 0)
    count = [0]
    client = redis.Redis.from_url(broker_url)
    stop, ready = threading.Event(), threading.Event()

    def watch() -> None:
        with client.monitor() as monitor:
            ready.set()
            while not stop.is_set():
                seen = monitor.next_command()
                if seen["db"] == db and str(seen["command"]).startswith(f"LPUSH {GPU_QUEUE} "):
                    count[0] += 1

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ready.wait(10)
    try:
        yield count
    finally:
        stop.set()
        client.ping()
        watcher.join(10)
        client.close()


class Chats:
    """People talking to the bot through the adapters' intake, limits and all."""

    def __init__(self, settings: Settings) -> None:
        self.rt = bootstrap(settings)
        self.limits = Limits.of(settings)
        self.outbox = outbox(settings.broker_url)

    def say(self, chat: str, person: str, text: str) -> None:
        accept(self.rt.store, IncomingMessage("terminal", chat, person, text), limits=self.limits)

    def talk(self, chat: str, person: str, rounds: int, times: list[float]) -> None:
        """`rounds` messages, each once the reply to the one before is in."""
        for n in range(rounds):
            started = time.perf_counter()
            self.say(chat, person, f"hello {n}")
            item = self.outbox.get(chat, REPLY_WAIT_S)
            assert item is not None, f"{person}: no reply within {REPLY_WAIT_S} s"
            times.append(time.perf_counter() - started)

    def others(self, tag: str, count: int, rounds: int) -> list[float]:
        times: list[float] = []
        people = [
            threading.Thread(target=self.talk, args=(f"{tag}-{k}", f"{tag}-p{k}", rounds, times))
            for k in range(count)
        ]
        for person in people:
            person.start()
        for person in people:
            person.join()
        return times


def flood(
    broker: str,
    database: str,
    home: Path,
    messages: int = 300,
    others: int = 4,
    rounds: int = 8,
    user_limit: int = DEFAULTS["user_limit"].default,
    chat_limit: int = DEFAULTS["chat_limit"].default,
    max_new_tokens: int = 48,  # DESIGN.md's measured reply length
) -> dict[str, Any]:
    """Start workers on `broker` and `database` (the tiny model made under `home`), measure
    others' reply times idle and while one person sends `messages` into one DM, stop the
    workers. The figures, by name."""
    if not (home / "tiny").exists():
        make_tiny_model(home / "tiny")
    delete_celery_keys(broker)
    settings = dict(
        broker_url=broker,
        database_url=database,
        model=str(home / "tiny"),
        max_new_tokens=str(max_new_tokens),
        torch_threads="1",
        data_dir=str(home),
        cache_dir=str(home),
        user_limit=str(user_limit),
        chat_limit=str(chat_limit),
    )
    workers = start_workers(clean_env(**settings), home)
    run = f"{time.time_ns():x}"
    try:
        chats = Chats(Settings(**settings, _env_file=None))  # type: ignore[arg-type]
        chats.others(f"warm-{run}", others, 2)
        idle = chats.others(f"idle-{run}", others, rounds)
        dm, flooder = f"flood-{run}", f"flooder-{run}"

        def send_flood() -> None:
            for n in range(messages):
                chats.say(dm, flooder, f"flood {n}")

        with gpu_pushes(broker) as pushed:
            sender = threading.Thread(target=send_flood)
            started = time.perf_counter()
            sender.start()
            during = chats.others(f"during-{run}", others, rounds)
            sender.join()
            answered = _flood_answered(chats, dm, messages, REPLY_WAIT_S)
            drained_s = time.perf_counter() - started
        chats.rt.store.engine.dispose()
    finally:
        workers.stop()
        delete_celery_keys(broker)
    idle_s, during_s = statistics.median(idle), statistics.median(during)
    return {
        "user_limit": user_limit,
        "chat_limit": chat_limit,
        "idle_median_s": idle_s,
        "flood_median_s": during_s,
        "ratio": during_s / idle_s,
        "idle_spread_s": (min(idle), max(idle)),
        "flood_spread_s": (min(during), max(during)),
        "flood_messages": messages,
        "flood_answered": answered,
        "flood_drained_s": drained_s,
        "gpu_pushes": pushed[0],
    }


def _flood_answered(chats: Chats, dm: str, sent: int, wait_s: float) -> int:
    """How many outbox items the flood's DM got (replies and the one notice), once no more
    come for a few seconds."""
    got, quiet_s = 0, 5.0
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and got < sent + 1:
        if chats.outbox.get(dm, quiet_s) is None:
            break
        got += 1
    return got


def report(figures: dict[str, Any]) -> None:
    limits = (
        f"limits {figures['user_limit']}/user, {figures['chat_limit']}/chat a minute"
        if figures["user_limit"] or figures["chat_limit"]
        else "limits off"
    )
    print(f"\n{limits}: one person sends {figures['flood_messages']} messages into one DM")
    print(
        f"  others' median reply: idle {figures['idle_median_s']:.3f} s "
        f"(range {figures['idle_spread_s'][0]:.3f}-{figures['idle_spread_s'][1]:.3f}), "
        f"during the flood {figures['flood_median_s']:.3f} s "
        f"(range {figures['flood_spread_s'][0]:.3f}-{figures['flood_spread_s'][1]:.3f}); "
        f"ratio {figures['ratio']:.2f}x (target <= 1.5x)"
    )
    print(
        f"  flood DM got {figures['flood_answered']} outbox items (replies + notices) in "
        f"{figures['flood_drained_s']:.1f} s; {figures['gpu_pushes']} tasks pushed onto the "
        "gpu queue meanwhile (others' included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--others", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="replyloop-bench-flood-"))
    broker = services.redis_url().rsplit("/", 1)[0] + f"/{BENCH_REDIS_DB}"
    admin = services.connect_pg_admin()
    # The defaults, then off: what the gpu queue does alone with the whole flood queued.
    for limits in ({}, {"user_limit": 0, "chat_limit": 0}):
        database = services.create_database(admin)
        try:
            figures = flood(
                broker, database, home, args.messages, args.others, args.rounds, **limits
            )
        finally:
            services.drop_database(admin, database)
        report(figures)


if __name__ == "__main__":
    main()
