"""The console's overview: messages and votes a day, approval per model version a day and
per platform, each with its Wilson interval (core.sequential.Arm). Read from the rollups
(core.store.rollups): a page reads one row per day, version and platform, however many
votes there are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from core.sequential import Arm
from core.store.rollups import catch_up
from core.store.schema import day_counts, day_tallies
from core.store.time import utcnow


@dataclass(frozen=True)
class Tally:
    """Standing votes on some replies."""

    up: int
    down: int

    @property
    def votes(self) -> int:
        return self.up + self.down

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.up + other.up, self.down + other.down)

    def figures(self) -> dict[str, Any]:
        """Approval with its 95 % interval (None with no votes), for the page."""
        if not self.votes:
            return {"up": 0, "down": 0, "approval": None, "low": None, "high": None}
        low, high = Arm(self.up, self.votes).interval()
        return {
            "up": self.up,
            "down": self.down,
            "approval": round(self.up / self.votes, 4),
            "low": round(low, 4),
            "high": round(high, 4),
        }


@dataclass(frozen=True)
class Overview:
    days: list[str]
    messages: dict[str, int]  # by day
    votes: dict[str, int]  # vote actions by day (👍, 👎 and retractions)
    by_version: dict[str, dict[str, Tally]]  # version -> day of the reply -> tally
    by_platform: dict[str, Tally]
    total: Tally


def overview(engine: Engine, days: int = 30, today: date | None = None) -> Overview:
    """The last `days` days (UTC), today included, from the rollups (core.store.rollups),
    brought up to date first."""
    catch_up(engine)
    today = today or utcnow().date()
    labels = [str(today - timedelta(days=days - 1 - i)) for i in range(days)]
    first = labels[0]
    said: dict[str, int] = {}
    acted: dict[str, int] = {}
    versions: dict[str, dict[str, Tally]] = {}
    platforms: dict[str, Tally] = {}
    with engine.connect() as conn:
        for row in conn.execute(
            select(day_counts.c.day, day_counts.c.what, func.sum(day_counts.c.n).label("n"))
            .where(day_counts.c.day >= first)
            .group_by(day_counts.c.day, day_counts.c.what)
        ):
            into = said if row.what == "messages" else acted
            into[row.day] = int(row.n)
        for row in conn.execute(
            select(day_tallies).where(
                day_tallies.c.day >= first, (day_tallies.c.up + day_tallies.c.down) > 0
            )
        ):
            by_day = versions.setdefault(row.model_version, {})
            by_day[row.day] = by_day.get(row.day, Tally(0, 0)) + Tally(row.up, row.down)
            platforms[row.platform] = platforms.get(row.platform, Tally(0, 0)) + Tally(
                row.up, row.down
            )
    total = sum(platforms.values(), Tally(0, 0))
    return Overview(labels, said, acted, versions, platforms, total)
