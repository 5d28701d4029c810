"""The console's figures (core.store.rollups) always equal the facts counted afresh: after
the first look (a rebuild), after votes are changed, retracted and added (caught up), and
after `forget` (rebuilt again); on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from core.store import Store
from core.store.browse import ReplyFilter, worst
from core.store.dashboard import overview
from core.store.forget import forget
from core.store.rollups import catch_up
from core.store.schema import conversations, messages, turns, vote_events, votes
from core.types import Vote

DAYS = 4


def add_reply(store: Store, platform: str, chat: str, version: str, at: datetime) -> int:
    conversation, message = store.add_chat_message(platform, chat, "U1", f"hi {chat}", None)
    turn = store.add_turn(
        conversation, message, f"k:{chat}:{version}", [], "hello", version, {}, {}
    )
    with store.engine.begin() as conn:  # on an earlier day, as if made then
        conn.execute(turns.update().where(turns.c.id == turn.id).values(created_at=at))
        conn.execute(messages.update().where(messages.c.id == message).values(created_at=at))
    return turn.id


def counted_afresh(store: Store) -> tuple[dict, dict, dict]:
    """(approval tallies by version and day, messages by day, vote actions by day) from
    the facts themselves."""
    tallies: Counter[tuple[str, str, str]] = Counter()
    said: Counter[str] = Counter()
    acted: Counter[str] = Counter()
    with store.engine.connect() as conn:
        for row in conn.execute(
            select(turns.c.model_version, turns.c.created_at, votes.c.value).join(
                votes, votes.c.turn_id == turns.c.id
            )
        ):
            if row.value:
                day = _day(row.created_at)
                tallies[(row.model_version, day, "up" if row.value > 0 else "down")] += 1
        for row in conn.execute(select(messages.c.created_at)):
            said[_day(row.created_at)] += 1
        for row in conn.execute(select(vote_events.c.created_at)):
            acted[_day(row.created_at)] += 1
    return dict(tallies), dict(said), dict(acted)


def shown(store: Store) -> tuple[dict, dict, dict]:
    figures = overview(store.engine, days=DAYS + 2)
    tallies = {}
    for version, by_day in figures.by_version.items():
        for day, tally in by_day.items():
            for kind, n in (("up", tally.up), ("down", tally.down)):
                if n:
                    tallies[(version, day, kind)] = n
    return tallies, dict(figures.messages), dict(figures.votes)


def _day(value: datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).date().isoformat()


def worst_afresh(store: Store) -> list[int]:
    score: Counter[int] = Counter()
    down: Counter[int] = Counter()
    with store.engine.connect() as conn:
        for row in conn.execute(select(votes.c.turn_id, votes.c.value)):
            score[row.turn_id] += -row.value
            down[row.turn_id] += row.value < 0
    rated = [t for t in score if down[t] > 0]
    return sorted(rated, key=lambda t: (-score[t], -down[t], -t))


def test_the_figures_equal_the_facts_through_every_change(store: Store) -> None:
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    replies = []
    for i in range(12):
        at = today - timedelta(days=i % DAYS)
        platform = ("slack", "telegram", "wecom")[i % 3]
        replies.append(add_reply(store, platform, f"c{i}", f"v{i % 2}", at))
    for i, turn_id in enumerate(replies):
        for r in range(i % 4):
            store.vote(turn_id, f"R{r}", Vote.UP if (i + r) % 3 else Vote.DOWN, "test")
    assert shown(store) == counted_afresh(store)  # the first look: a rebuild
    assert [r.turn_id for r in worst(store.engine, ReplyFilter(), 50)] == worst_afresh(store)

    store.vote(replies[3], "R0", Vote.DOWN, "test")  # changed
    store.vote(replies[5], "R1", Vote.RETRACTED, "test")  # taken back
    store.vote(replies[0], "R9", Vote.DOWN, "test")  # a reply's first vote
    store.vote(replies[7], "R2", Vote.UP, "test")
    add_reply(store, "slack", "late", "v1", today)  # a message with a reply nobody rated
    assert shown(store) == counted_afresh(store)  # caught up
    assert catch_up(store.engine) and shown(store) == counted_afresh(store)  # again: the same
    assert [r.turn_id for r in worst(store.engine, ReplyFilter(), 50)] == worst_afresh(store)
    slack = worst(store.engine, ReplyFilter(platform="slack", vote="up"), 50)
    assert all(r.platform == "slack" and r.up > 0 and r.down > 0 for r in slack)
    since = date.fromisoformat(_day(today))
    assert all(
        _day(r.created_at) == since.isoformat()
        for r in worst(store.engine, ReplyFilter(since=since), 50)
    )

    with store.engine.connect() as conn:
        someone = conn.execute(
            select(conversations.c.chat_key).where(conversations.c.platform == "slack")
        ).first()
    assert someone is not None
    forget(store.engine, b"secret", "slack", "U1")  # facts deleted: rebuilt at the next look
    assert shown(store) == counted_afresh(store)
    assert [r.turn_id for r in worst(store.engine, ReplyFilter(), 50)] == worst_afresh(store)
