"""Kept votes that will never be matched: a reaction on a person's message (not a reply),
or on a reply that was never recorded as delivered. A reply is recorded within minutes
of its post (at worst after the visibility timeout, 10 minutes by default), so a vote kept
a day waits for nothing; the sweeper (bots.sweeper) drops such votes, and the table stays
the size of a day's reactions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from core.store.schema import kept_votes
from core.store.store import Store

KEPT_FOR_S = 86400


def drop_kept_votes(store: Store, acted_before: datetime) -> int:
    """Drop the kept votes acted before `acted_before`; how many there were."""
    with store.autocommit.connect() as conn:
        return conn.execute(delete(kept_votes).where(kept_votes.c.acted_at < acted_before)).rowcount
