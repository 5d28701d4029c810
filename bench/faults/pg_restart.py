"""`pg_ctl restart -m fast` of the database while messages flow: every session is cut,
and for a moment nothing can be stored."""

from __future__ import annotations

import threading
import time

from bench.faults.harness import Options, running
from bench.faults.traffic import Outcome, Traffic

EVERY_S = 0.25  # one message every this often, before, during and after the restart


def pg_restart(options: Options) -> list[Outcome]:
    """PostgreSQL restarted (pg_ctl restart -m fast) while messages keep coming."""
    with running(options, "pg-restart", "slack", own_postgres=True) as system:
        assert system.postgres is not None
        traffic = Traffic(system.platform, system.stack.store)

        def flow() -> None:
            for _ in range(options.messages):
                traffic.send(1)
                time.sleep(EVERY_S)

        sender = threading.Thread(target=flow)
        sender.start()
        time.sleep(EVERY_S * options.messages / 3)
        system.postgres.restart()
        fault_end = time.monotonic()
        sender.join()
        outcome = traffic.finish("pg-restart", fault_end, options.wait_s)
        outcome.notes.extend(system.stack.notes())
        return [outcome]
