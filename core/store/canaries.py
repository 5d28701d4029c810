"""Canary promotions in the store: a model tried on a sticky share of conversations beside
the promoted one (the incumbent), each arm's votes, and how the canary ended.

Only conversations begun after the canary started take part (one begun before keeps the
model it was talking to). A conversation's arm is a hash of the canary's id and the
conversation's id, so it is the same for every reply of that conversation, on every
worker, for the canary's whole life, and a new canary draws its share afresh. An arm's
votes are the standing votes on the replies its model made since the canary started;
core.sequential says what they show.

One canary runs at a time (a unique index on `running`). Ending one writes its verdict and
each arm's figures; a canary found better is then promoted (core.store.registry), one found
worse or inconclusive, or stopped by hand, leaves the promoted model as it was. A canary
whose incumbent is no longer the promoted model (a promotion or rollback by hand meanwhile)
compares nothing any more: `check` stops it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, case, func, select, update
from sqlalchemy.exc import IntegrityError

from core.errors import CanaryError, UnknownModel
from core.sequential import Arm, Decision, Rule, Verdict, decide
from core.store import registry
from core.store.schema import canaries, conversations, turns, votes
from core.store.store import Store
from core.store.time import as_utc, utcnow

STOPPED = "stopped"  # by hand, or its incumbent was replaced: no verdict on the votes


@dataclass(frozen=True)
class Canary:
    id: int
    version: str  # the model tried
    incumbent: str  # the model the other conversations get (promoted when it started)
    share: int  # percent of conversations answered by `version`
    from_conversation: int  # the first conversation id that takes part
    rule: Rule
    started_at: datetime
    ended_at: datetime | None = None
    verdict: str | None = None  # a Verdict's value, or STOPPED
    figures: dict[str, Any] | None = None

    def model_for(self, conversation_id: int) -> str:
        """The version that answers this conversation while the canary runs."""
        if conversation_id >= self.from_conversation and in_share(
            self.id, conversation_id, self.share
        ):
            return self.version
        return self.incumbent


def in_share(canary_id: int, conversation_id: int, share: int) -> bool:
    """Whether a conversation falls in a canary's share (percent), the same every time.

    >>> sum(in_share(1, c, 20) for c in range(10_000)) / 10_000
    0.2005
    """
    digest = hashlib.sha256(f"canary:{canary_id}:{conversation_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < share


def start(
    db: Engine | Store, version: str, share: int, incumbent: str, rule: Rule | None = None
) -> Canary:
    """Start trying `version` on `share` percent of conversations against `incumbent` (the
    version serving now). Raises UnknownModel, and CanaryError when one runs already, the
    share is not 1-99, the model cannot chat or is the incumbent itself."""
    if not 1 <= share <= 99:
        raise CanaryError(f"a canary's share is 1 to 99 percent of conversations, not {share}")
    record = registry.find(db, version)
    if record is None:
        raise UnknownModel(version)
    if record.kind in registry.NOT_DIALOGUE:
        raise CanaryError(f"{version!r} is a reward model ({record.kind}): it cannot chat")
    if version == incumbent:
        raise CanaryError(f"{version!r} serves already: a canary tries another model")
    rule = rule or Rule()
    started_at = utcnow()
    values: dict[str, Any] = dict(
        version=version,
        incumbent=incumbent,
        share=share,
        rule=asdict(rule),
        started_at=started_at,
        running=True,
    )
    try:
        with _engine(db).begin() as conn:
            newest = conn.execute(select(func.max(conversations.c.id))).scalar()
            values["from_conversation"] = (newest or 0) + 1
            inserted = conn.execute(canaries.insert().values(**values)).inserted_primary_key
    except IntegrityError:
        now = running(db)
        raise CanaryError(
            f"a canary of {now.version if now else 'another model'} runs already: "
            "`replyloop model canary stop` ends it"
        ) from None
    assert inserted is not None
    first = int(values["from_conversation"])
    return Canary(int(inserted[0]), version, incumbent, share, first, rule, started_at)


def running(db: Engine | Store) -> Canary | None:
    """The canary running now, if any (one indexed row: workers ask before batches)."""
    return look(db)[0]


def look(db: Engine | Store) -> tuple[Canary | None, int]:
    """The canary running now, and the newest conversation id begun before this look
    (whether any conversation up to it takes part is settled by what this look saw)."""
    with _engine(db).connect() as conn:
        newest = conn.execute(select(func.max(conversations.c.id))).scalar() or 0
        row = conn.execute(select(canaries).where(canaries.c.running.is_(True))).first()
    return (_canary(row) if row is not None else None), int(newest)


def history(db: Engine | Store) -> list[Canary]:
    """Every canary, the oldest first."""
    with _engine(db).connect() as conn:
        return [_canary(row) for row in conn.execute(select(canaries).order_by(canaries.c.id))]


def arms(db: Engine | Store, canary: Canary) -> tuple[Arm, Arm]:
    """The canary's and the incumbent's standing votes on replies made since it started."""
    query = (
        select(
            turns.c.model_version,
            func.count().label("votes"),
            func.sum(case((votes.c.value > 0, 1), else_=0)).label("up"),
        )
        .join(votes, votes.c.turn_id == turns.c.id)
        .where(
            turns.c.model_version.in_([canary.version, canary.incumbent]),
            turns.c.created_at >= canary.started_at,
        )
        .group_by(turns.c.model_version)
    )
    with _engine(db).connect() as conn:
        found = {
            row.model_version: Arm(int(row.up or 0), int(row.votes)) for row in conn.execute(query)
        }
    empty = Arm(0, 0)
    return found.get(canary.version, empty), found.get(canary.incumbent, empty)


def end(
    db: Engine | Store, canary: Canary, verdict: str, decision: Decision | None = None
) -> Canary:
    """Record how `canary` ended (a Verdict's value, or STOPPED) with each arm's figures;
    promote its model when it was better. Ending one that ended already changes nothing
    and returns it as it ended."""
    ours, theirs = arms(db, canary)
    figures: dict[str, Any] = {"canary": asdict(ours), "incumbent": asdict(theirs)}
    if decision is not None:
        figures["test"] = {
            "difference": decision.difference,
            "ratio": decision.ratio,
            "p_value": decision.p_value,
            "bound": list(decision.bound),
        }
    now = utcnow()
    with _engine(db).begin() as conn:
        ended = conn.execute(
            update(canaries)
            .where(canaries.c.id == canary.id, canaries.c.running.is_(True))
            .values(running=None, ended_at=now, verdict=verdict, figures=figures)
        ).rowcount
        row = conn.execute(select(canaries).where(canaries.c.id == canary.id)).one()
    if ended and verdict == Verdict.BETTER.value:
        registry.promote(db, canary.version)
    return _canary(row)


def stop(db: Engine | Store) -> Canary:
    """End the running canary by hand: everyone back on the promoted model."""
    now = running(db)
    if now is None:
        raise CanaryError("no canary runs (`replyloop model canary V --share 20` starts one)")
    return end(db, now, STOPPED)


def check(db: Engine | Store, serving: str) -> tuple[Canary, Decision] | None:
    """Look at the running canary's votes (`serving`: the version promoted now) and act on
    what the test decides: promote, stop, or leave it running. None when none runs."""
    now = running(db)
    if now is None:
        return None
    ours, theirs = arms(db, now)
    decision = decide(ours, theirs, now.rule)
    if serving != now.incumbent:
        return end(db, now, STOPPED, decision), decision
    if decision.final:
        return end(db, now, decision.verdict.value, decision), decision
    return now, decision


def _canary(row: Any) -> Canary:
    return Canary(
        id=int(row.id),
        version=str(row.version),
        incumbent=str(row.incumbent),
        share=int(row.share),
        from_conversation=int(row.from_conversation),
        rule=Rule(**row.rule),
        started_at=as_utc(row.started_at),
        ended_at=as_utc(row.ended_at) if row.ended_at is not None else None,
        verdict=row.verdict,
        figures=row.figures,
    )


def _engine(db: Engine | Store) -> Engine:
    return db.engine if isinstance(db, Store) else db
