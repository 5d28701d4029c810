"""One person sends 300 messages into one DM as fast as a script can, while others chat as
usual: how much slower are the others' replies? Their median time to a whole reply with
nobody flooding, beside the same while the flood runs, and the ratio; the table's row
counts the others' messages (the flood's own are in the figures)."""

from __future__ import annotations

import importlib
import secrets
import statistics
import threading
import time

from sqlalchemy import func, select

from bench.faults.harness import Options, running
from bench.faults.services import OwnRedis
from bench.faults.slack import SlackPlatform
from bench.faults.stack import database
from bench.faults.traffic import Outcome, Traffic
from core.store.schema import messages, turns

FLOOD = 300
EVERY_S = 0.5  # between two other people's messages
FLOOD_EVERY_S = 0.01


def others_chat(traffic: Traffic, count: int) -> list[str]:
    sent = []
    for _ in range(count):
        sent.extend(traffic.send(1))
        time.sleep(EVERY_S)
    return sent


def median_reply_s(traffic: Traffic, tokens: list[str]) -> float:
    times = [traffic.answered[t] - traffic.sent_at[t] for t in tokens if t in traffic.answered]
    return statistics.median(times) if times else float("nan")


def flood(options: Options) -> list[Outcome]:
    """One person sends 300 messages into one DM while others chat."""
    others = max(5, options.messages // 2)
    with running(options, "flood", "slack") as system:
        platform = system.platform
        assert isinstance(platform, SlackPlatform)
        traffic = Traffic(platform, system.stack.store)
        idle = others_chat(traffic, others)
        traffic.wait_replied(len(idle))
        channel, prefix = "D" + secrets.token_hex(5).upper(), "flood" + secrets.token_hex(3)

        def send_flood() -> None:
            for i in range(FLOOD):
                platform.send_in(channel, f"{prefix}-{i:04d}")
                time.sleep(FLOOD_EVERY_S)

        flooder = threading.Thread(target=send_flood)
        flooder.start()
        during = others_chat(traffic, others)
        flooder.join()
        outcome = traffic.finish("flood", time.monotonic(), options.wait_s)
        idle_s, during_s = median_reply_s(traffic, idle), median_reply_s(traffic, during)
        with system.stack.store.engine.connect() as conn:
            stored = conn.execute(
                select(func.count()).where(messages.c.text.like(f"%{prefix}-%"))
            ).scalar_one()
            answered = conn.execute(
                select(func.count(func.distinct(turns.c.message_id)))
                .join(messages, messages.c.id == turns.c.message_id)
                .where(messages.c.text.like(f"%{prefix}-%"), turns.c.delivered_at.is_not(None))
            ).scalar_one()
        outcome.figures = {
            "others' median reply s, idle": idle_s,
            "during the flood": during_s,
            "ratio": during_s / idle_s,
            "flood messages stored": float(stored),
            "flood replies delivered": float(answered),
            "bot posts in the flood DM": float(len(platform.posts_in(channel))),
        }
        outcome.notes.extend(system.stack.notes())
    outcome.figures.update(terminal_flood(options))
    return [outcome]


def terminal_flood(options: Options) -> dict[str, float]:
    """bench/flood.py's own measure (another engineer's: people through the adapters'
    intake, answered into terminal outboxes), where it exists, on a Redis and database of
    its own: its figures, named as it names them."""
    try:
        bench_flood = importlib.import_module("bench.flood")
    except ImportError:
        return {}
    home = options.home / "flood-bench"
    own_redis = OwnRedis(home / "redis")
    own_redis.start()
    try:
        with database(home, own=False) as (url, _cluster):
            found = bench_flood.flood(own_redis.url, url, home)
    finally:
        own_redis.stop()
    return {
        f"bench/flood.py {name}": float(value)
        for name, value in found.items()
        if isinstance(value, int | float)
    }
