"""kill -9 of a worker in the middle of its work, and a new one started at once (what a
supervisor does): the gpu worker mid-generation with a backlog behind it, the io worker
mid-delivery on each platform, and the io worker again and again while a thousand replies
go to Telegram (whose sendMessage has no idempotency key: bots.telegram.once)."""

from __future__ import annotations

import time

from bench.faults.harness import Options, running
from bench.faults.platform import API_LATENCY_S
from bench.faults.telegram import TelegramPlatform
from bench.faults.traffic import Outcome, Traffic
from tests.fake_http import Call

# Replies already out when the kill lands: the worker is busy, the backlog still long.
STRIKE_AFTER = 2
# io-kills-telegram: each io worker lives this long once ready, and this many messages are
# sent in its life, so the backlog grows while deliveries flow rather than before the kills.
LIFE_S = 4.0
WAVE = 25


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


def io_kills_telegram(options: Options) -> list[Outcome]:
    """kill -9 of the io worker every few seconds while --messages replies go to Telegram."""
    scenario = "io-kills-telegram"
    with running(options, scenario, "telegram") as system:
        platform = system.platform
        assert isinstance(platform, TelegramPlatform)
        traffic = Traffic(platform, system.stack.store)
        kills: list[float] = []
        while True:  # until all is sent and a worker's whole life delivered nothing more
            before = traffic.replied()
            traffic.send(min(WAVE, options.messages - traffic.made))
            time.sleep(LIFE_S)
            kills.append(time.monotonic())
            system.stack.kill_worker("io")
            if traffic.made >= options.messages and traffic.replied() in (before, traffic.made):
                break
            system.stack.start_worker("io")
        fault_end = time.monotonic()
        system.stack.start_worker("io")
        outcome = traffic.finish(scenario, fault_end, options.wait_s)
        outcome.notes.append(kills_note(platform, kills))
        outcome.notes.extend(system.stack.notes())
        return [outcome]


def kills_note(platform: TelegramPlatform, kills: list[float]) -> str:
    """How many kills, and how many replies' last parts (the keyboard's) were at Telegram,
    their answer not yet back, when one landed: posted, the worker gone before it heard."""
    with platform.api.lock:
        final = [c for c in platform.api.calls if c.params.get("reply_markup")]
    sends = [c for c in final if c.method == "sendMessage"]
    edits = [c for c in final if c.method == "editMessageText"]

    def caught(calls: list[Call]) -> int:
        # PacedBotApi records a call as it answers, API_LATENCY_S after the request came
        return sum(1 for c in calls if any(c.at - API_LATENCY_S <= k < c.at for k in kills))

    return (
        f"{len(kills)} kills; calls with the keyboard: sendMessage {len(sends)}, "
        f"editMessageText {len(edits)} (a streamed reply); in flight at a kill: "
        f"{caught(sends)} and {caught(edits)}"
    )
