"""The model registry: every model that can serve, and which one gpu workers serve now.

It lives in the SQL store because every worker on every machine shares that. Trainers
register what they made; `replyloop model promote` and `rollback` choose what serves; gpu
workers look up `promoted` between batches (workers.serving) and switch without a restart.

For trainers, one call once the model folder is saved (keywords only after `db`, which is
an Engine or a Store):

    register(
        db,
        version="sft-20261123-1",           # what every Turn of this model records
        kind="sft",                         # builtin | sft | rm | ppo | kto | dpo | rloo | local
        path="/shared/models/sft-20261123-1",  # the folder from_pretrained reads
        parent="smollm2-135m-instruct-q4_1",   # the version it was trained from, or None
        data=[{"name": "votes.kto.jsonl", "rows": 812, "sha256": "..."}],
        settings={"learning_rate": 5e-5},   # any JSON
        metrics={"eval_loss": 1.93},        # any JSON
    )

Registering a version again with the same folder returns the record already there (a
trainer that is run again is fine); another folder raises ModelConflict; an unknown kind
or a version over 128 characters, InvalidModel (a ValueError). The folder is stored as
os.path.abspath makes it: absolute, but with symbolic links kept, not resolved.

Promotions form a stack: `promote` pushes a version, `rollback` pops the newest one and
serves what was promoted before it; rolling back the first promotion returns the workers to
REPLYLOOP_MODEL (a history row with version NULL). With nothing promoted there is nothing to
roll back (NothingToRollBack). Every row is kept, so `history` shows who served when.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeAlias

from sqlalchemy import Connection, Engine, Row, select
from sqlalchemy.exc import IntegrityError

from core.errors import InvalidModel, ModelConflict, NothingToRollBack, UnknownModel
from core.store import queries as q
from core.store.schema import models, promotions
from core.store.store import Store
from core.store.time import as_utc, utcnow
from core.types import DataSource, ModelRecord, Switch

VERSION_CHARS = 128  # turns.model_version and models.version
KINDS = ("builtin", "sft", "rm", "ppo", "kto", "dpo", "rloo", "local")
# A reward model scores replies; it cannot write one.
NOT_DIALOGUE = frozenset({"rm"})
PROMOTE, ROLLBACK = "promote", "rollback"
# Promotions written at once by others before this one gives up: each collision means
# another writer took its place, so this is how many writers at once always succeed.
ATTEMPTS = 10

_DETAILS = (
    models.c.kind,
    models.c.path,
    models.c.parent,
    models.c.data,
    models.c.settings,
    models.c.metrics,
    models.c.created_at,
)
_RECORD = select(models.c.version, *_DETAILS)
# The newest promotion and its model: the primary key's index, one row (the workers' check).
_PROMOTED = (
    select(promotions.c.version, *_DETAILS)
    .select_from(promotions.outerjoin(models, models.c.version == promotions.c.version))
    .order_by(promotions.c.id.desc())
    .limit(1)
)


AnyRow: TypeAlias = Row[*tuple[Any, ...]]


@dataclass(frozen=True)
class Promotion:
    """One row of the history: what served from `at` on (None: REPLYLOOP_MODEL)."""

    version: str | None
    action: str
    at: datetime


def register(
    db: Engine | Store,
    *,
    version: str,
    kind: str,
    path: str | Path,
    parent: str | None = None,
    data: Sequence[DataSource] = (),
    settings: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> ModelRecord:
    """Record a model folder under `version` (see the module's docstring); the record.

    `path` is stored absolute, symbolic links kept: the same path must reach the model on
    every gpu worker's machine. Nothing is read from the folder here."""
    if kind not in KINDS:
        raise InvalidModel(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if not 0 < len(version) <= VERSION_CHARS:
        raise InvalidModel(f"a version is 1 to {VERSION_CHARS} characters, not {version!r}")
    folder = os.path.abspath(os.path.expanduser(str(path)))
    values = dict(
        version=version,
        kind=kind,
        path=folder,
        parent=parent,
        data=[dict(d) for d in data],
        settings=settings or {},
        metrics=metrics or {},
        created_at=utcnow(),
    )
    with _engine(db).begin() as conn:
        insert = q.upsert_dialect(conn).insert(models).values(**values)
        conn.execute(insert.on_conflict_do_nothing(index_elements=["version"]))
        record = _get(conn, version)
    if record is None:  # pragma: no cover - the row was just written
        raise UnknownModel(version)
    if record.path != folder:
        raise ModelConflict(
            f"version {version!r} is registered with the folder {record.path}, not {folder}: "
            "give this model another version"
        )
    return record


def ensure(db: Engine | Store, *, version: str, kind: str, path: str | Path) -> ModelRecord:
    """Register a model that serves without being trained or registered by hand (the
    built-in model, a REPLYLOOP_MODEL folder) unless `version` is registered already, with
    whatever folder: the built-in model sits in each machine's own cache folder, and the
    first machine to serve it records where. Never raises ModelConflict."""
    if kind not in KINDS:
        raise InvalidModel(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    record = find(db, version)
    if record is not None:  # every start of every worker: one read, no write
        return record
    try:
        return register(db, version=version, kind=kind, path=path)
    except ModelConflict:  # another machine registered it at its own path just now
        return get(db, version)


def find(db: Engine | Store, version: str) -> ModelRecord | None:
    """The record of `version`, or None if no model is registered under it."""
    with _reader(db).connect() as conn:
        return _get(conn, version)


def get(db: Engine | Store, version: str) -> ModelRecord:
    """The record of `version`; raises UnknownModel."""
    record = find(db, version)
    if record is None:
        raise UnknownModel(version)
    return record


def list_models(db: Engine | Store) -> list[ModelRecord]:
    """Every registered model, oldest first."""
    with _reader(db).connect() as conn:
        return [_record(row) for row in conn.execute(_RECORD.order_by(models.c.id))]


def promoted(db: Engine | Store) -> ModelRecord | None:
    """The model gpu workers should serve; None for REPLYLOOP_MODEL. One indexed query:
    workers ask before their batches (at most once a second)."""
    with _reader(db).connect() as conn:
        row = conn.execute(_PROMOTED).first()
    return _record(row) if row is not None and row.version is not None else None


def history(db: Engine | Store) -> list[Promotion]:
    """Every promotion and rollback, oldest first."""
    query = select(promotions.c.version, promotions.c.action, promotions.c.promoted_at)
    with _reader(db).connect() as conn:
        rows = conn.execute(query.order_by(promotions.c.id)).all()
    return [Promotion(row.version, row.action, as_utc(row.promoted_at)) for row in rows]


def promote(db: Engine | Store, version: str) -> Switch:
    """Make gpu workers serve `version` from their next batch on. Promoting the version
    that is promoted already changes nothing (and writes nothing). Raises UnknownModel, and
    ModelConflict for a model that cannot answer a chat (a reward model)."""

    def choose(conn: Connection, stack: list[str]) -> str | None:
        record = _get(conn, version)
        if record is None:
            raise UnknownModel(version)
        if record.kind in NOT_DIALOGUE:
            raise ModelConflict(f"{version!r} is a reward model ({record.kind}): it cannot chat")
        return version

    return _append(db, PROMOTE, choose)


def rollback(db: Engine | Store) -> Switch:
    """Undo the newest promotion that stands: serve what was promoted before it, or
    REPLYLOOP_MODEL when it was the first. Raises NothingToRollBack when none stands."""

    def choose(conn: Connection, stack: list[str]) -> str | None:
        if not stack:
            raise NothingToRollBack(
                "nothing is promoted, so there is nothing to roll back: gpu workers serve "
                "REPLYLOOP_MODEL (`replyloop model promote V` picks a registered model)"
            )
        return stack[-2] if len(stack) > 1 else None

    return _append(db, ROLLBACK, choose)


def _append(
    db: Engine | Store, action: str, choose: Callable[[Connection, list[str]], str | None]
) -> Switch:
    """Write one promotion row after the newest: `choose` picks its version from the
    versions promoted now (the stack, newest last)."""
    for _ in range(ATTEMPTS):
        try:
            with _engine(db).begin() as conn:
                rows = conn.execute(
                    select(promotions.c.id, promotions.c.version, promotions.c.action).order_by(
                        promotions.c.id
                    )
                ).all()
                stack = _stack(rows)
                before = stack[-1] if stack else None
                after = choose(conn, stack)
                if action == PROMOTE and after == before:
                    return Switch(before, after)
                conn.execute(
                    promotions.insert().values(
                        id=rows[-1].id + 1 if rows else 1,
                        version=after,
                        action=action,
                        promoted_at=utcnow(),
                    )
                )
                return Switch(before, after)
        except IntegrityError:
            continue  # another promotion took this place in the history: read it again
    raise RuntimeError(f"{ATTEMPTS} other promotions were written at once; try again")


def _stack(rows: Sequence[AnyRow]) -> list[str]:
    """The versions promoted and not rolled back, oldest first, from the history."""
    stack: list[str] = []
    for row in rows:
        if row.action == PROMOTE:
            stack.append(row.version)
        elif stack:
            stack.pop()
    return stack


def _get(conn: Connection, version: str) -> ModelRecord | None:
    row = conn.execute(_RECORD.where(models.c.version == version)).first()
    return _record(row) if row is not None else None


def _record(row: AnyRow) -> ModelRecord:
    return ModelRecord(
        version=row.version,
        kind=row.kind,
        path=row.path,
        parent=row.parent,
        data=list(row.data),
        settings=dict(row.settings),
        metrics=dict(row.metrics),
        created_at=as_utc(row.created_at),
    )


def _engine(db: Engine | Store) -> Engine:
    return db.engine if isinstance(db, Store) else db


def _reader(db: Engine | Store) -> Engine:
    """Reads need no transaction: a Store's autocommit engine saves BEGIN and ROLLBACK."""
    return db.autocommit if isinstance(db, Store) else db
