"""Two adapter replicas behind one URL, and a platform that gives up on no delivery:
each replica gets every event and every one of its retries (as when answers are slow and
the load balancer spreads the retries). Each message must be answered once, each vote
counted once. Slack's Events API and WeCom's callbacks; Telegram's long polling has one
consumer by design (a second getUpdates is refused)."""

from __future__ import annotations

import time

from bench.faults.harness import Options, running
from bench.faults.slack import SlackPlatform
from bench.faults.traffic import Outcome, Traffic
from bench.faults.wecom import WeComPlatform

PLATFORMS = ("slack", "wecom")


def replicated(options: Options, platform: str) -> Outcome:
    scenario = f"replicas/{platform}"
    with running(options, scenario.replace("/", "-"), platform) as system:
        served = system.platform
        assert isinstance(served, SlackPlatform | WeComPlatform)
        served.start_adapter(system.stack, f"serve-{platform}-2")
        served.every_retry = True
        traffic = Traffic(served, system.stack.store)
        traffic.send(options.messages)
        outcome = traffic.finish(scenario, time.monotonic(), options.wait_s)
        outcome.notes.extend(system.stack.notes())
        return outcome


def replicas(options: Options) -> list[Outcome]:
    """Two `serve` replicas (Slack, WeCom), each getting every event and all its retries."""
    return [replicated(options, platform) for platform in PLATFORMS]
