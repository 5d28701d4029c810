"""kill -9 of a worker in the middle of its work, and a new one started at once (what a
supervisor does): the gpu worker mid-generation with a backlog behind it, the io worker
mid-delivery on each platform."""

from __future__ import annotations

import time

from bench.faults.harness import Options, running
from bench.faults.traffic import Outcome, Traffic

# Replies already out when the kill lands: the worker is busy, the backlog still long.
STRIKE_AFTER = 2


def kill_worker(options: Options, scenario: str, queue: str, platform: str) -> list[Outcome]:
    """Send a backlog, kill -9 `queue`'s worker once the first replies are out, start a new
    one. The fault ends when the new one is launched: its start-up is part of recovery."""
    with running(options, scenario, platform) as system:
        traffic = Traffic(system.platform, system.stack.store)
        traffic.send(options.messages)
        traffic.wait_replied(STRIKE_AFTER)
        system.stack.kill_worker(queue)
        fault_end = time.monotonic()
        system.stack.start_worker(queue)
        outcome = traffic.finish(scenario, fault_end, options.wait_s)
        outcome.notes.extend(system.stack.notes())
        return [outcome]


def gpu_kill(options: Options) -> list[Outcome]:
    """kill -9 of the gpu worker mid-generation, a backlog queued; a new one started."""
    return kill_worker(options, "gpu-kill", "gpu", "slack")


def io_kill_slack(options: Options) -> list[Outcome]:
    """kill -9 of the io worker mid-delivery to Slack; a new one started."""
    return kill_worker(options, "io-kill-slack", "io", "slack")


def io_kill_telegram(options: Options) -> list[Outcome]:
    """kill -9 of the io worker mid-delivery to Telegram; a new one started."""
    return kill_worker(options, "io-kill-telegram", "io", "telegram")


def io_kill_wecom(options: Options) -> list[Outcome]:
    """kill -9 of the io worker mid-delivery to WeCom; a new one started."""
    return kill_worker(options, "io-kill-wecom", "io", "wecom")
