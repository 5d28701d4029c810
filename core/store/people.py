"""The names people are shown by in stored text, by platform user id.

An adapter that writes people's names into messages (Slack: "Kai: lunch at noon?", "@Kai")
records each name here when it resolves one (`remember_name`, its one writer); the export
reads them all back (`known_names`) to put pseudonyms in their place. Every name a person
was seen with is kept: a rename leaves the old name in older messages.
"""

from __future__ import annotations

from contextlib import suppress

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from core.store.schema import person_names
from core.store.store import Store
from core.store.time import utcnow


def remember_name(store: Store, platform: str, person: str, name: str) -> None:
    """Record that `person` is shown as `name` on `platform`; known already is fine."""
    row = {"platform": platform, "person": person, "name": name, "seen_at": utcnow()}
    # Another process (or an earlier run of this one) may have recorded it first.
    with store.autocommit.connect() as conn, suppress(IntegrityError):
        conn.execute(person_names.insert().values(**row))


def known_names(engine: Engine) -> dict[str, dict[str, str]]:
    """platform -> name -> person. Two people shown by one name make one name in the
    text, which cannot say whose it was: the name goes to the first of them by id, so an
    export is the same every time."""
    query = select(person_names.c.platform, person_names.c.name, person_names.c.person)
    query = query.order_by(person_names.c.platform, person_names.c.person.desc())
    known: dict[str, dict[str, str]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            known.setdefault(row.platform, {})[row.name] = row.person  # lowest id last: wins
    return known
