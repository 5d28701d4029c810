"""The console's figures, kept from the facts so that a page reads a few rows, not a
million votes (bench/console: the overview took 1.4 s on 1,000,000 votes read directly).

- turn_tallies: each rated reply's standing 👍 and 👎, with its day, model version and
  platform (the worst-rated page walks its index);
- day_tallies: the same summed by (day of the reply, model version, platform);
- day_counts: messages and vote actions by (day, platform).

`catch_up` brings them up to date before a page reads them, in work proportional to what
happened since the last look: new messages and vote events (by id, past `rollup_marks`),
and the standing votes of the replies those events touched, tallied again from `votes`
(so a tally is always recomputed, never nudged, and looking twice changes nothing). The
vote events just below the mark are looked at again too (MARGIN): a vote whose
transaction committed after a later one's would otherwise be missed. A gap wider than
that, or a store that changed under it (`replyloop forget` calls `reset`), is rebuilt
from the facts in one pass; so is a store with more than REBUILD_AT new events. The
vote path itself writes nothing here: it stays one transaction of two statements.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, func, insert, literal, select, text

from core.store import queries as q
from core.store.schema import (
    conversations,
    day_counts,
    day_tallies,
    messages,
    rollup_marks,
    turn_tallies,
    turns,
    vote_events,
    votes,
)
from core.store.time import as_utc

REBUILD_AT = 50_000  # new vote events past which one pass over everything is cheaper
MARGIN = 500  # vote events below the mark tallied again at each look
CHUNK = 1000  # replies tallied again per query
SOURCES = ("messages", "vote_events")
_LOCK_KEY = 7_202_612_05  # the PostgreSQL advisory lock that lets one console catch up


def catch_up(engine: Engine) -> bool:
    """Bring the figures up to date; False when another process is at it (its work shows
    at the next look)."""
    with engine.begin() as conn:
        if not _lock(conn):
            return False
        marks = {row.source: row.last_id for row in conn.execute(select(rollup_marks))}
        newest_event = conn.execute(select(func.max(vote_events.c.id))).scalar() or 0
        newest_message = conn.execute(select(func.max(messages.c.id))).scalar() or 0
        if set(marks) != set(SOURCES) or newest_event - marks["vote_events"] > REBUILD_AT:
            _rebuild(conn, newest_message, newest_event)
            return True
        if (newest_message, newest_event) == (marks["messages"], marks["vote_events"]):
            return True  # nothing new: a page view writes nothing (late commits wait for one)
        _count_new(conn, marks["messages"], newest_message, marks["vote_events"], newest_event)
        touched = conn.execute(
            select(vote_events.c.turn_id)
            .where(vote_events.c.id > marks["vote_events"] - MARGIN)
            .where(vote_events.c.id <= newest_event)
            .distinct()
        ).scalars()
        _tally_again(conn, sorted(touched))
        _mark(conn, newest_message, newest_event)
    return True


def reset(conn: Connection) -> None:
    """Forget how far the facts were read: the next `catch_up` rebuilds everything (after
    facts were deleted, as `replyloop forget` does)."""
    conn.execute(delete(rollup_marks))


def utc_day(column: Any, dialect: str) -> Any:
    """A timestamp's UTC day as YYYY-MM-DD, in SQL (SQLite keeps naive UTC text)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


def _standing() -> tuple[Any, Any]:
    """The standing 👍 and 👎 among the votes grouped (a retraction is neither)."""
    up = func.sum(case((votes.c.value > 0, 1), else_=0)).label("up")
    down = func.sum(case((votes.c.value < 0, 1), else_=0)).label("down")
    return up, down


def _lock(conn: Connection) -> bool:
    if conn.dialect.name == "postgresql":
        return bool(conn.execute(select(func.pg_try_advisory_xact_lock(_LOCK_KEY))).scalar())
    # SQLite: take the write lock before reading anything (a deferred transaction that
    # read first could not write after another process did: "database is locked").
    conn.execute(text("UPDATE rollup_marks SET last_id = last_id WHERE 0"))
    return True


def _rebuild(conn: Connection, newest_message: int, newest_event: int) -> None:
    dialect = conn.dialect.name
    for table in (turn_tallies, day_tallies, day_counts):
        conn.execute(delete(table))
    up, down = _standing()
    day = utc_day(turns.c.created_at, dialect)
    conn.execute(
        insert(turn_tallies).from_select(
            ["turn_id", "up", "down", "day", "model_version", "platform"],
            select(turns.c.id, up, down, day, turns.c.model_version, conversations.c.platform)
            .join(votes, votes.c.turn_id == turns.c.id)
            .join(conversations, conversations.c.id == turns.c.conversation_id)
            .group_by(
                turns.c.id, turns.c.created_at, turns.c.model_version, conversations.c.platform
            ),
        )
    )
    conn.execute(
        insert(day_tallies).from_select(
            ["day", "model_version", "platform", "up", "down"],
            select(
                turn_tallies.c.day,
                turn_tallies.c.model_version,
                turn_tallies.c.platform,
                func.sum(turn_tallies.c.up),
                func.sum(turn_tallies.c.down),
            ).group_by(turn_tallies.c.day, turn_tallies.c.model_version, turn_tallies.c.platform),
        )
    )
    said_day = utc_day(messages.c.created_at, dialect)
    conn.execute(
        insert(day_counts).from_select(
            ["day", "what", "platform", "n"],
            select(said_day, literal("messages"), conversations.c.platform, func.count())
            .join(conversations, conversations.c.id == messages.c.conversation_id)
            .where(messages.c.id <= newest_message)
            .group_by(said_day, conversations.c.platform),
        )
    )
    acted_day = utc_day(vote_events.c.created_at, dialect)
    conn.execute(
        insert(day_counts).from_select(
            ["day", "what", "platform", "n"],
            select(acted_day, literal("vote_actions"), conversations.c.platform, func.count())
            .join(turns, turns.c.id == vote_events.c.turn_id)
            .join(conversations, conversations.c.id == turns.c.conversation_id)
            .where(vote_events.c.id <= newest_event)
            .group_by(acted_day, conversations.c.platform),
        )
    )
    _mark(conn, newest_message, newest_event)


def _count_new(
    conn: Connection, message_mark: int, newest_message: int, event_mark: int, newest_event: int
) -> None:
    counts: Counter[tuple[str, str, str]] = Counter()
    said = conn.execute(
        select(messages.c.created_at, conversations.c.platform)
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .where(messages.c.id > message_mark, messages.c.id <= newest_message)
    )
    for row in said:
        counts[(_day(row.created_at), "messages", row.platform)] += 1
    acted = conn.execute(
        select(vote_events.c.created_at, conversations.c.platform)
        .join(turns, turns.c.id == vote_events.c.turn_id)
        .join(conversations, conversations.c.id == turns.c.conversation_id)
        .where(vote_events.c.id > event_mark, vote_events.c.id <= newest_event)
    )
    for row in acted:
        counts[(_day(row.created_at), "vote_actions", row.platform)] += 1
    if counts:
        upsert = q.upsert_dialect(conn).insert(day_counts)
        conn.execute(
            upsert.on_conflict_do_update(
                index_elements=["day", "what", "platform"],
                set_={"n": day_counts.c.n + upsert.excluded.n},
            ),
            [{"day": d, "what": w, "platform": p, "n": n} for (d, w, p), n in counts.items()],
        )


def _tally_again(conn: Connection, turn_ids: Sequence[int]) -> None:
    """Recount the standing votes of these replies, and move the difference into the
    day tallies."""
    deltas: Counter[tuple[str, str, str, str]] = Counter()
    for start in range(0, len(turn_ids), CHUNK):
        ids = list(turn_ids[start : start + CHUNK])
        fresh = {
            row.turn_id: (int(row.up), int(row.down))
            for row in conn.execute(
                select(votes.c.turn_id, *_standing())
                .where(votes.c.turn_id.in_(ids))
                .group_by(votes.c.turn_id)
            )
        }
        old = {
            row.turn_id: row
            for row in conn.execute(select(turn_tallies).where(turn_tallies.c.turn_id.in_(ids)))
        }
        facts = {
            row.id: row
            for row in conn.execute(
                select(
                    turns.c.id, turns.c.created_at, turns.c.model_version, conversations.c.platform
                )
                .join(conversations, conversations.c.id == turns.c.conversation_id)
                .where(turns.c.id.in_(ids))
            )
        }
        for turn_id in ids:
            before = old.get(turn_id)
            if before is not None:
                key = (before.day, before.model_version, before.platform)
                deltas[(*key, "up")] -= before.up
                deltas[(*key, "down")] -= before.down
        conn.execute(delete(turn_tallies).where(turn_tallies.c.turn_id.in_(ids)))
        rows = []
        for turn_id, fact in facts.items():
            up, down = fresh.get(turn_id, (0, 0))
            if not (up or down) and turn_id not in old:
                continue
            day = _day(fact.created_at)
            rows.append(
                {"turn_id": turn_id, "up": up, "down": down, "day": day,
                 "model_version": fact.model_version, "platform": fact.platform}
            )  # fmt: skip
            deltas[(day, fact.model_version, fact.platform, "up")] += up
            deltas[(day, fact.model_version, fact.platform, "down")] += down
        if rows:
            conn.execute(insert(turn_tallies), rows)
    _add_days(conn, deltas)


def _add_days(conn: Connection, deltas: Counter[tuple[str, str, str, str]]) -> None:
    keys = {key[:3] for key, n in deltas.items() if n}
    if not keys:
        return
    upsert = q.upsert_dialect(conn).insert(day_tallies)
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=["day", "model_version", "platform"],
            set_={
                "up": day_tallies.c.up + upsert.excluded.up,
                "down": day_tallies.c.down + upsert.excluded.down,
            },
        ),
        [
            {"day": d, "model_version": v, "platform": p,
             "up": deltas[(d, v, p, "up")], "down": deltas[(d, v, p, "down")]}
            for d, v, p in sorted(keys)
        ],
    )  # fmt: skip


def _mark(conn: Connection, newest_message: int, newest_event: int) -> None:
    conn.execute(delete(rollup_marks))
    conn.execute(
        insert(rollup_marks),
        [{"source": "messages", "last_id": newest_message},
         {"source": "vote_events", "last_id": newest_event}],
    )  # fmt: skip


def _day(value: Any) -> str:
    return as_utc(value).date().isoformat()
