"""Many people's first messages at once into an adapter that has just started (nothing
warmed: no connection to the broker or the database made yet, nothing cached)."""

from __future__ import annotations

import time

from bench.faults.harness import Options, running
from bench.faults.traffic import Outcome, Traffic

PLATFORMS = ("slack", "telegram", "wecom")


def first_requests(options: Options, platform: str) -> Outcome:
    scenario = f"concurrent-first/{platform}"
    with running(options, scenario.replace("/", "-"), platform, adapter=False) as system:
        traffic = Traffic(system.platform, system.stack.store)
        if platform == "telegram":
            # Polling: the updates wait at Telegram and come in the adapter's first batch.
            traffic.send(options.messages)
            system.platform.start_adapter(system.stack)
        else:
            system.platform.start_adapter(system.stack)
            traffic.send(options.messages)
        outcome = traffic.finish(scenario, time.monotonic(), options.wait_s)
        outcome.notes.extend(system.stack.notes())
        return outcome


def concurrent_first(options: Options) -> list[Outcome]:
    """Many first messages at once into a freshly started adapter, on each platform."""
    return [first_requests(options, platform) for platform in PLATFORMS]
