"""The web console's people: users, signed-in sessions, and sign-in attempts.

A session's cookie holds a random token; the table keeps only its SHA-256, beside the
session's CSRF token (bots.web.access checks it on every form that changes something).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Engine, and_, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from core.errors import UserError
from core.passwords import check_password, hash_password
from core.store.schema import login_attempts, users, web_sessions
from core.store.time import as_utc, utcnow

ROLES = ("admin", "viewer")
SESSION_HOURS = 12
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


@cache
def _nobody() -> str:
    """A hash to check against when the name is unknown: that costs what a real check does,
    so the time a refusal takes does not say whether the name exists."""
    return hash_password("no such user, no such password")


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str

    @property
    def admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    expires_at: datetime


def add_user(engine: Engine, name: str, role: str, password: str) -> User:
    """A new user; UserError for a bad name or role, or a name taken (WeakPassword, a
    ValueError, for a short password)."""
    if not NAME.fullmatch(name):
        raise UserError(
            f"user name {name!r}: 1-64 letters, digits, _ . @ -, starting with a letter or digit"
        )
    if role not in ROLES:
        raise UserError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    kept = hash_password(password)
    try:
        with engine.begin() as conn:
            found = conn.execute(
                insert(users).values(name=name, role=role, password_hash=kept, created_at=utcnow())
            ).inserted_primary_key
    except IntegrityError:
        raise UserError(f"user {name!r} exists already") from None
    assert found is not None
    return User(int(found[0]), name, role)


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        rows = conn.execute(select(users.c.id, users.c.name, users.c.role).order_by(users.c.name))
        return [User(r.id, r.name, r.role) for r in rows]


def authenticate(engine: Engine, name: str, password: str) -> User | None:
    """The user when `password` is theirs, else None (in about the same time either way)."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.name == name)).first()
    if row is None:
        check_password(password, _nobody())
        return None
    return User(row.id, row.name, row.role) if check_password(password, row.password_hash) else None


def open_session(engine: Engine, user: User) -> str:
    """A new session for `user`; returns the token its cookie carries."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))
        conn.execute(
            insert(web_sessions).values(
                token_hash=_digest(token),
                user_id=user.id,
                csrf=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + timedelta(hours=SESSION_HOURS),
            )
        )
    return token


def session(engine: Engine, token: str) -> Session | None:
    """The live session of a cookie's token, or None (unknown or expired)."""
    query = (
        select(
            users.c.id, users.c.name, users.c.role, web_sessions.c.csrf, web_sessions.c.expires_at
        )
        .join(users, users.c.id == web_sessions.c.user_id)
        .where(web_sessions.c.token_hash == _digest(token))
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None or as_utc(row.expires_at) <= utcnow():
        return None
    return Session(User(row.id, row.name, row.role), row.csrf, as_utc(row.expires_at))


def close_session(engine: Engine, token: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == _digest(token)))


def record_attempt(engine: Engine, name: str, address: str, ok: bool) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(login_attempts).values(name=name[:64], address=address[:64], ok=ok, at=utcnow())
        )


def failures(engine: Engine, name: str, address: str, within: timedelta) -> tuple[int, int]:
    """Failed sign-ins in the last `within`: for this name, and from this address."""
    failed = and_(login_attempts.c.at >= utcnow() - within, login_attempts.c.ok.is_(False))
    by_name = select(func.count()).where(failed, login_attempts.c.name == name[:64])
    by_address = select(func.count()).where(failed, login_attempts.c.address == address[:64])
    with engine.connect() as conn:
        return int(conn.execute(by_name).scalar_one()), int(conn.execute(by_address).scalar_one())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
