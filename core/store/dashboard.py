"""The console's overview: messages and votes a day, approval per model version a day and
per platform, each with its Wilson interval (core.sequential.Arm).

Each figure is one GROUP BY over an indexed date range (messages.created_at,
vote_events.created_at, turns.created_at), so a page costs a few scans of the last
`days` days, not of the whole store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, case, func, select

from core.sequential import Arm
from core.store.schema import conversations, messages, turns, vote_events, votes
from core.store.time import utcnow


@dataclass(frozen=True)
class Tally:
    """Standing votes on some replies."""

    up: int
    down: int

    @property
    def votes(self) -> int:
        return self.up + self.down

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
    """The last `days` days (UTC), today included."""
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=utcnow().tzinfo)
    labels = [str(first + timedelta(days=i)) for i in range(days)]
    up = func.sum(case((votes.c.value > 0, 1), else_=0)).label("up")
    down = func.sum(case((votes.c.value < 0, 1), else_=0)).label("down")
    reply_day = func.date(turns.c.created_at).label("day")
    with engine.connect() as conn:
        said = _per_day(conn, messages.c.created_at, since)
        acted = _per_day(conn, vote_events.c.created_at, since)
        versions: dict[str, dict[str, Tally]] = {}
        rows = conn.execute(
            select(turns.c.model_version, reply_day, up, down)
            .join(votes, votes.c.turn_id == turns.c.id)
            .where(turns.c.created_at >= since, votes.c.value != 0)
            .group_by(turns.c.model_version, reply_day)
        )
        for row in rows:
            versions.setdefault(row.model_version, {})[str(row.day)] = Tally(row.up, row.down)
        platforms = {
            row.platform: Tally(row.up, row.down)
            for row in conn.execute(
                select(conversations.c.platform, up, down)
                .select_from(turns)
                .join(votes, votes.c.turn_id == turns.c.id)
                .join(conversations, conversations.c.id == turns.c.conversation_id)
                .where(turns.c.created_at >= since, votes.c.value != 0)
                .group_by(conversations.c.platform)
            )
        }
    total = Tally(sum(t.up for t in platforms.values()), sum(t.down for t in platforms.values()))
    return Overview(labels, said, acted, versions, platforms, total)


def _per_day(conn: Any, column: Any, since: datetime) -> dict[str, int]:
    day = func.date(column).label("day")
    query = select(day, func.count().label("n")).where(column >= since).group_by(day)
    return {str(row.day): int(row.n) for row in conn.execute(query)}
