"""What every scenario starts from: a folder of its own, a platform's fake server, the
system (bench.faults.stack) and the platform's adapter, all running."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.faults.platform import Platform
from bench.faults.services import OwnPostgres
from bench.faults.slack import slack_platform
from bench.faults.stack import Stack, stack
from bench.faults.telegram import telegram_platform
from bench.faults.traffic import WAIT_S
from bench.faults.wecom import wecom_platform

PLATFORMS: dict[str, Callable[[], AbstractContextManager[Platform]]] = {
    "slack": slack_platform,
    "telegram": telegram_platform,
    "wecom": wecom_platform,
}


@dataclass(frozen=True)
class Options:
    home: Path  # each scenario makes a folder of its own in it (logs stay there)
    model: Path  # the tiny model (workers.tiny_model)
    messages: int = 20
    wait_s: float = WAIT_S
    # --set: added to the environment of every process the stack starts (workers, adapter)
    settings: dict[str, str] = field(default_factory=dict)


@dataclass
class Running:
    stack: Stack
    platform: Platform
    postgres: OwnPostgres | None


@contextmanager
def running(
    options: Options,
    scenario: str,
    platform: str = "slack",
    aof: bool = False,
    own_postgres: bool = False,
    adapter: bool = True,
) -> Iterator[Running]:
    """The system for `scenario` with `platform`'s adapter started (unless not `adapter`)."""
    home = options.home / scenario
    home.mkdir(parents=True)
    with PLATFORMS[platform]() as chats:
        env = chats.env() | options.settings  # a --set wins over the platform's own
        with stack(home, options.model, env, aof, own_postgres) as (system, cluster):
            if adapter:
                chats.start_adapter(system)
            yield Running(system, chats, cluster)
