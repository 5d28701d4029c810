"""`replyloop feedback stats`: turns, votes and approval per model version."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, case, func, select

from core.store import registry
from core.store.schema import turns, votes


@dataclass(frozen=True)
class ModelStats:
    model_version: str
    turns: int
    up: int
    down: int

    @property
    def approval(self) -> float | None:
        """Share of standing votes that are 👍; None when nobody voted."""
        rated = self.up + self.down
        return self.up / rated if rated else None


def feedback_stats(engine: Engine, model_version: str | None = None) -> list[ModelStats]:
    """Turns and standing votes per model version (of `model_version` alone, if given:
    the index on turns.model_version keeps that cheap on a large store)."""
    only = [turns.c.model_version == model_version] if model_version is not None else []
    turn_counts = (
        select(turns.c.model_version, func.count().label("turns"))
        .where(*only)
        .group_by(turns.c.model_version)
        .subquery()
    )
    vote_counts = (
        select(
            turns.c.model_version,
            func.sum(case((votes.c.value > 0, 1), else_=0)).label("up"),
            func.sum(case((votes.c.value < 0, 1), else_=0)).label("down"),
        )
        .join(votes, votes.c.turn_id == turns.c.id)
        .where(*only)
        .group_by(turns.c.model_version)
        .subquery()
    )
    query = (
        select(
            turn_counts.c.model_version,
            turn_counts.c.turns,
            func.coalesce(vote_counts.c.up, 0),
            func.coalesce(vote_counts.c.down, 0),
        )
        .outerjoin(vote_counts, vote_counts.c.model_version == turn_counts.c.model_version)
        .order_by(turn_counts.c.model_version)
    )
    with engine.connect() as conn:
        return [ModelStats(str(v), int(t), int(u), int(d)) for v, t, u, d in conn.execute(query)]


def served_stats(engine: Engine) -> ModelStats | None:
    """`feedback_stats` of the model serving now: the promoted version, else (nothing
    promoted: REPLYLOOP_MODEL, whose version only the workers know) the newest reply's.
    None before the first reply; zero counts for a promoted model with no replies yet."""
    record = registry.promoted(engine)
    version: str | None
    if record is not None:
        version = record.version
    else:
        newest = select(turns.c.model_version).order_by(turns.c.id.desc()).limit(1)
        with engine.connect() as conn:
            version = conn.execute(newest).scalar()
    if version is None:
        return None
    found = feedback_stats(engine, version)
    return found[0] if found else ModelStats(version, 0, 0, 0)
