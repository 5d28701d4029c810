"""Every scenario by the name the command line takes, in the order they run."""

from __future__ import annotations

from collections.abc import Callable

from bench.faults import worker_kills
from bench.faults.harness import Options
from bench.faults.traffic import Outcome

Scenario = Callable[[Options], Outcome]

SCENARIOS: dict[str, Scenario] = {
    "gpu-kill": worker_kills.gpu_kill,
    "io-kill-slack": worker_kills.io_kill_slack,
    "io-kill-telegram": worker_kills.io_kill_telegram,
    "io-kill-wecom": worker_kills.io_kill_wecom,
}
