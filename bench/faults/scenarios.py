"""Every scenario by the name the command line takes, in the order they run. A scenario
gives one row of the table, or one per platform it runs on."""

from __future__ import annotations

from collections.abc import Callable

from bench.faults import concurrent_first, flood, pg_restart, redis_crash, replicas, worker_kills
from bench.faults.harness import Options
from bench.faults.traffic import Outcome

Scenario = Callable[[Options], list[Outcome]]

SCENARIOS: dict[str, Scenario] = {
    "gpu-kill": worker_kills.gpu_kill,
    "io-kill-slack": worker_kills.io_kill_slack,
    "io-kill-telegram": worker_kills.io_kill_telegram,
    "io-kill-wecom": worker_kills.io_kill_wecom,
    "io-kills-telegram": worker_kills.io_kills_telegram,
    "redis-crash": redis_crash.redis_crash,
    "redis-crash-aof": redis_crash.redis_crash_aof,
    "pg-restart": pg_restart.pg_restart,
    "replicas": replicas.replicas,
    "concurrent-first": concurrent_first.concurrent_first,
    "flood": flood.flood,
}
