"""Two adapter replicas behind one URL, and a platform that gives up on no delivery:
each replica gets every event and every one of its retries (as when answers are slow and
the load balancer spreads the retries). Each message must be answered once, each vote
counted once."""

from __future__ import annotations

import time

from bench.faults.harness import Options, running
from bench.faults.slack import SlackPlatform
from bench.faults.traffic import Outcome, Traffic


def replicas(options: Options) -> list[Outcome]:
    """Two `serve slack` replicas, each getting every event and all its retries."""
    with running(options, "replicas", "slack") as system:
        platform = system.platform
        assert isinstance(platform, SlackPlatform)
        platform.start_adapter(system.stack, "serve-slack-2")
        platform.every_retry = True
        traffic = Traffic(platform, system.stack.store)
        traffic.send(options.messages)
        outcome = traffic.finish("replicas", time.monotonic(), options.wait_s)
        outcome.notes.extend(system.stack.notes())
        return [outcome]
