"""kill -9 of Redis (the broker, the dedupe claims, the live text) with a backlog queued,
people still talking while it is down, and Redis started again on the same port: with no
persistence (everything it held is gone) or with its append-only file."""

from __future__ import annotations

import time

from bench.faults.harness import Options, running
from bench.faults.traffic import Outcome, Traffic

DOWN_S = 5.0  # how long Redis stays down: a crash and a supervisor's restart
STRIKE_AFTER = 2


def crash_redis(options: Options, scenario: str, aof: bool) -> list[Outcome]:
    with running(options, scenario, "slack", aof=aof) as system:
        traffic = Traffic(system.platform, system.stack.store)
        traffic.send(options.messages)
        traffic.wait_replied(STRIKE_AFTER)
        system.stack.redis.kill()
        down_until = time.monotonic() + DOWN_S
        traffic.send(max(1, options.messages // 4))  # while it is down
        time.sleep(max(0.0, down_until - time.monotonic()))
        system.stack.redis.start()
        fault_end = time.monotonic()
        traffic.send(max(1, options.messages // 4))  # once it is back
        outcome = traffic.finish(scenario, fault_end, options.wait_s)
        outcome.notes.extend(system.stack.notes())
        return [outcome]


def redis_crash(options: Options) -> list[Outcome]:
    """kill -9 of Redis (no persistence) with a backlog, down 5 s, started again."""
    return crash_redis(options, "redis-crash", aof=False)


def redis_crash_aof(options: Options) -> list[Outcome]:
    """The same with Redis's append-only file on (appendfsync everysec)."""
    return crash_redis(options, "redis-crash-aof", aof=True)
