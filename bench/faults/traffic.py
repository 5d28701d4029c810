"""People talking and voting through a platform while a scenario does its damage, and the
tally of what became of each message: stored, replied, duplicated, lost; votes lost; and
how long after the fault ended the last message was answered."""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import OperationalError

from bench.faults.platform import BotMessage, Platform
from core.store import Store
from core.store.schema import kept_votes, messages, turns, votes

WAIT_S = 120.0  # after the fault ends, for the messages it lost or delayed
VOTE_WAIT_S = 30.0  # after the last vote is cast, for it to reach the store
LINGER_S = 3.0  # once all is answered: a duplicate posted a little later is still seen
POLL_S = 0.1
READ_TRIES = 60  # half a second apart
T = TypeVar("T")


@dataclass
class Outcome:
    scenario: str
    sent: int  # messages people sent (each once, whatever the platform's retries)
    stored: int  # of those, in the store's messages table
    replied: int  # answered with a whole reply
    duplicated: int  # answered more than once (any second post in its chat)
    lost: int  # stored, or taken with a 2xx, and never answered within the wait
    votes_cast: int
    lost_votes: int  # cast on a reply and not in the votes table at the end
    recover_s: float | None  # fault end -> last answer; None: something never answered
    # of `lost`: Telegram replies whose send was claimed (bots.telegram.once) and whose
    # request the kill cut before its last byte; taken as sent, so never sent again
    unsent_claims: int = 0
    notes: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)  # a scenario's own (flood)


@dataclass
class LostMessage:
    """A lost message as the store has it: each reply made for it, with where it was
    marked delivered (None: not delivered)."""

    token: str
    message_id: int | None  # None: never stored
    awaits_reply: bool
    replies: list[tuple[int, str | None]]

    def taken_as_sent(self) -> bool:
        """Telegram's `chat:0`: a send claimed whose answer never came, taken as sent and
        never sent again (bots.telegram.once); the platform never posted it."""
        return bool(self.replies) and all(
            posted is not None and posted.endswith(":0") for _, posted in self.replies
        )

    def said(self) -> str:
        if self.message_id is None:
            return f"{self.token} not stored"
        replies = ", ".join(
            f"turn {turn} " + (f"delivered as {posted!r}" if posted else "undelivered")
            for turn, posted in self.replies
        )
        return (
            f"{self.token} message {self.message_id} (awaits reply: {self.awaits_reply}): "
            f"{replies or 'no reply made'}"
        )


class Traffic:
    """Messages sent through `platform`, each in a chat of its own, watched until answered;
    every reply rated 👍, one in two the moment it shows, the rest once all are answered."""

    def __init__(self, platform: Platform, store: Store) -> None:
        self.platform = platform
        self.store = store
        self.prefix = "f" + secrets.token_hex(3)
        self.tokens: list[str] = []
        self.made = 0
        self.sent_at: dict[str, float] = {}
        self.answered: dict[str, float] = {}  # token -> when its whole reply first showed
        self.voted: dict[str, int | None] = {}  # token -> the turn its vote was cast on
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.failure: BaseException | None = None
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()

    def send(self, count: int) -> list[str]:
        """`count` new messages, each from a person in a new chat, sent at once."""
        with self.lock:
            new = [f"{self.prefix}-{self.made + i:04d}" for i in range(count)]
            self.made += count
        for token in new:
            self.sent_at[token] = time.monotonic()
            self.platform.send(token)
            with self.lock:  # watched only once the platform knows its chat
                self.tokens.append(token)
        return new

    def replied(self) -> int:
        with self.lock:
            return len(self.answered)

    def wait_replied(self, count: int, timeout: float = WAIT_S) -> None:
        """Until `count` messages are answered (the moment a scenario strikes)."""
        deadline = time.monotonic() + timeout
        while self.replied() < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.replied()} of {count} replies in {timeout:.0f} s")
            time.sleep(POLL_S / 2)

    def _watch(self) -> None:
        try:
            self._watch_until_stopped()
        except BaseException as exc:  # finish() raises it: a dead watcher counts nothing
            self.failure = exc
            raise

    def _watch_until_stopped(self) -> None:
        while not self.stopping.is_set():
            with self.lock:
                waiting = [t for t in self.tokens if t not in self.answered]
            for token in waiting:
                whole = [m for m in self.platform.replies(token) if m.complete]
                if whole:
                    with self.lock:
                        self.answered[token] = time.monotonic()
                    if int(token.rsplit("-", 1)[1]) % 2 == 0:  # right after it is posted
                        self._vote(token, whole[0])
            time.sleep(POLL_S)

    def _vote(self, token: str, message: BotMessage) -> None:
        with self.lock:
            if token in self.voted:
                return
            self.voted[token] = message.turn_id
        self.platform.vote(token, message)

    # -- the tally -------------------------------------------------------------------------

    def read(self, query: Callable[[Connection], T]) -> T:
        """The harness's own reads outlast a database restart (pg-restart cuts them)."""
        for _ in range(READ_TRIES - 1):
            try:
                with self.store.engine.connect() as conn:
                    return query(conn)
            except OperationalError:
                time.sleep(0.5)
        with self.store.engine.connect() as conn:
            return query(conn)

    def stored(self) -> set[str]:
        found = re.compile(rf"\b{self.prefix}-\d{{4}}\b")
        texts = self.read(lambda conn: list(conn.execute(select(messages.c.text)).scalars()))
        return {m.group(0) for text in texts for m in found.finditer(text)}

    def voted_turns(self) -> set[int]:
        return self.read(lambda conn: set(conn.execute(select(votes.c.turn_id)).scalars()))

    def finish(self, scenario: str, fault_end: float, wait_s: float = WAIT_S) -> Outcome:
        """Wait for the answers (until `wait_s` after `fault_end`), rate the rest, wait
        for the votes, and count."""
        deadline = fault_end + wait_s
        self._wait_answers(deadline)
        for token in list(self.answered):
            whole = [m for m in self.platform.replies(token) if m.complete]
            self._vote(token, whole[0])
        cast = {t: turn for t, turn in self.voted.items()}
        landed = self._wait_votes(cast)
        time.sleep(LINGER_S)
        self.stopping.set()
        self.watcher.join()
        if self.failure is not None:
            raise RuntimeError("the reply watcher died") from self.failure
        stored = self.stored()
        posts = {t: self.platform.replies(t) for t in self.tokens}
        answered = set(self.answered)
        unanswered = [t for t in self.tokens if t not in answered]
        lost = [t for t in unanswered if t in stored or self.platform.acked(t)]
        never_stored = [t for t in self.tokens if self.platform.acked(t) and t not in stored]
        notes = []
        if never_stored:
            notes.append(f"{len(never_stored)} taken with a 2xx and never stored")
        refused = [t for t in unanswered if t not in stored and not self.platform.acked(t)]
        if refused:
            notes.append(f"{len(refused)} refused by the adapter (no 2xx), never stored")
        unknown = [t for t, turn in cast.items() if turn is None]
        if unknown:
            notes.append(f"{len(unknown)} votes on replies showing no turn id")
        for token, found in posts.items():
            if len(found) > 1:
                shown = ", ".join(
                    f"{'whole' if m.complete else 'partial/notice'} {m.text[:16]!r}" for m in found
                )
                notes.append(f"{token} answered {len(found)} times: {shown}")
        unsent_claims = 0
        if lost:
            facts = self._why_lost(lost)
            notes.append("lost: " + "; ".join(f.said() for f in facts))
            if self.platform.name == "telegram":
                unsent_claims = sum(1 for f in facts if f.taken_as_sent())
        missing = sorted(t for t in cast.values() if t is not None and t not in landed)
        if missing:
            notes.append(f"votes lost on turns {missing}: {self._why_not_counted(missing)}")
        recover = None
        if not lost:
            last = max(self.answered.values(), default=fault_end)
            recover = max(0.0, last - fault_end)
        return Outcome(
            scenario=scenario,
            sent=len(self.tokens),
            stored=len(stored),
            replied=len(answered),
            duplicated=sum(1 for found in posts.values() if len(found) > 1),
            lost=len(lost),
            votes_cast=len(cast),
            lost_votes=sum(1 for turn in cast.values() if turn is None or turn not in landed),
            recover_s=recover,
            unsent_claims=unsent_claims,
            notes=notes,
        )

    def _why_not_counted(self, turn_ids: list[int]) -> str:
        """Whether each reply whose vote is missing was ever marked delivered, and how many
        votes wait for that mark (kept_votes)."""
        rows = self.read(
            lambda conn: conn.execute(
                select(turns.c.id, turns.c.platform_message_id).where(turns.c.id.in_(turn_ids))
            ).all()
        )
        kept = self.read(
            lambda conn: conn.execute(select(func.count()).select_from(kept_votes)).scalar_one()
        )
        undelivered = [r.id for r in rows if r.platform_message_id is None]
        return f"{len(undelivered)} never marked delivered {undelivered}; {kept} kept votes waiting"

    def _why_lost(self, tokens: list[str]) -> list[LostMessage]:
        """What the store knows of each lost message."""

        def query(conn: Connection) -> list[LostMessage]:
            found = []
            for token in tokens:
                row = conn.execute(
                    select(messages.c.id, messages.c.awaits_reply).where(
                        messages.c.text.contains(token)
                    )
                ).first()
                made = (
                    []
                    if row is None
                    else conn.execute(
                        select(turns.c.id, turns.c.platform_message_id, turns.c.delivered_at).where(
                            turns.c.message_id == row.id
                        )
                    ).all()
                )
                found.append(
                    LostMessage(
                        token,
                        None if row is None else row.id,
                        bool(row is not None and row.awaits_reply),
                        [(t.id, t.platform_message_id if t.delivered_at else None) for t in made],
                    )
                )
            return found

        return self.read(query)

    def _wait_answers(self, deadline: float) -> None:
        """Until every message is answered, or is one the platform gave up delivering
        (never taken, never stored), or `deadline`."""
        while True:
            stored = self.stored()
            with self.lock:
                open_ = [
                    t
                    for t in self.tokens
                    if t not in self.answered and (t in stored or self.platform.acked(t))
                ]
            unsettled = open_ or (len(self.answered) < len(self.tokens) and self.platform.pending())
            if not unsettled or time.monotonic() > deadline:
                return
            time.sleep(1.0)

    def _wait_votes(self, cast: dict[str, int | None]) -> set[int]:
        wanted = {turn for turn in cast.values() if turn is not None}
        deadline = time.monotonic() + VOTE_WAIT_S
        while True:
            landed = self.voted_turns()
            if wanted <= landed or time.monotonic() > deadline:
                return landed
            time.sleep(0.5)
