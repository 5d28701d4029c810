"""The names people are shown by in stored text, by platform user id.

An adapter that writes people's names into messages (Slack: "Kai: lunch at noon?", "@Kai";
a Telegram group's "Ann Lee: hi"; a WeCom group's "zhangsan: hi", the user id standing for
the name) records each name here before the message that carries it is stored
(`remember_name`, its one writer; `NameRecorder` once per process); the export
reads them all back (`known_names`) to put pseudonyms in their place. Every name a person
was seen with is kept: a rename leaves the old name in older messages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from contextlib import suppress

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from core.store.schema import person_names
from core.store.store import Store
from core.store.time import utcnow

log = logging.getLogger(__name__)


def remember_name(store: Store, platform: str, person: str, name: str) -> None:
    """Record that `person` is shown as `name` on `platform`; known already is fine."""
    row = {"platform": platform, "person": person, "name": name, "seen_at": utcnow()}
    # Another process (or an earlier run of this one) may have recorded it first.
    with store.autocommit.connect() as conn, suppress(IntegrityError):
        conn.execute(person_names.insert().values(**row))


class NameRecorder:
    """remember_name for an adapter that names people in every message it stores (a
    group's "Ann: hi"): each (person, name) is written once per process, not once per
    message; the store keeps one row whoever wrote it first."""

    def __init__(self, store: Store, platform: str) -> None:
        self.store = store
        self.platform = platform
        self.recorded: set[tuple[str, str]] = set()
        self.lock = threading.Lock()  # adapters store messages from several threads

    def remember(self, named: Iterable[tuple[str, str]]) -> None:
        """Record each (person, name) not recorded yet by this process. With the database
        down the message is still taken (bots.intake stores it later); the name is tried
        again the next time this process sees it."""
        for person, name in named:
            with self.lock:
                if (person, name) in self.recorded:
                    continue
            try:
                remember_name(self.store, self.platform, person, name)
            except SQLAlchemyError as exc:
                log.warning("name of %s not recorded (%s)", person, type(exc).__name__)
                return
            with self.lock:
                self.recorded.add((person, name))


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
