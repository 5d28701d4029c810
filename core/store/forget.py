"""Erasing one person from the store (`replyloop forget`), with an audit record.

What goes, in one transaction:
- their messages, and every reply that read one: the reply to it, and each later reply
  whose prompt holds it. A prompt with their words cut out is not the context that made
  the reply (which may answer them), so it would teach the wrong thing: such replies go
  whole, with every vote on them.
- their votes (standing votes, the history of vote events, kept votes);
- the names they were shown by; and where other people's remaining messages, or replies,
  still name or @mention them, the name becomes "someone".
- a conversation left with no message (their DM with the bot).

What stays: an audit row (core.store.schema.forgotten_people) with an HMAC of who they
were under the raters' key, when, and the counts. Exports made before the erasure are
files outside the store: delete or re-export them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    Select,
    delete,
    func,
    or_,
    select,
    update,
)

from core.anonymize import forgotten_hash
from core.errors import UnknownPerson
from core.export.pseudonyms import Renamer
from core.store import rollups
from core.store.schema import (
    conversations,
    forgotten_people,
    kept_votes,
    messages,
    person_names,
    turns,
    vote_events,
    votes,
)
from core.store.time import as_utc, utcnow

SOMEONE = "someone"  # what a forgotten person's name becomes in other people's text
CHUNK = 500  # ids per IN (...): well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class Forgotten:
    """What one erasure removed, as its audit row (`id`) keeps it."""

    id: int
    messages: int
    replies: int
    votes: int
    names: int
    mentions: int  # other people's messages and replies whose text named them


def forget(engine: Engine, secret: bytes, platform: str, person: str) -> Forgotten:
    """Erase `person` (the platform's user id) on `platform`. Raises UnknownPerson when
    the store holds nothing of them, and writes nothing then."""
    with engine.begin() as conn:
        said = conn.execute(
            select(messages.c.id, messages.c.conversation_id, messages.c.text)
            .join(conversations, conversations.c.id == messages.c.conversation_id)
            .where(conversations.c.platform == platform, messages.c.author == person)
        ).all()
        names = list(
            conn.execute(
                select(person_names.c.name).where(
                    person_names.c.platform == platform, person_names.c.person == person
                )
            ).scalars()
        )
        cast = _count(conn, votes, _on(platform, votes.c.turn_id), _by(votes.c.rater, person))
        kept = _count(
            conn, kept_votes, kept_votes.c.platform == platform, _by(kept_votes.c.rater, person)
        )
        if not (said or names or cast or kept):
            raise UnknownPerson(_nothing_of(conn, secret, platform, person))
        replies = _replies_reading(conn, said)
        _erase(conn, platform, person, said, replies)
        mentions = _unname(conn, platform, person, names)
        counts = {
            "messages": len(said),
            "replies": len(replies),
            "votes": cast + kept,
            "names": len(names),
            "mentions": mentions,
        }
        audit = conn.execute(
            forgotten_people.insert().values(
                platform=platform,
                person_hash=forgotten_hash(secret, platform, person),
                forgotten_at=utcnow(),
                **counts,
            )
        )
        return Forgotten(id=int(audit.inserted_primary_key[0]), **counts)  # type: ignore[index]


def _erase(
    conn: Connection, platform: str, person: str, said: Sequence[Any], replies: set[int]
) -> None:
    """Delete the replies that read them, their votes, messages, DMs and names."""
    for ids in _chunks(sorted(replies)):
        conn.execute(delete(vote_events).where(vote_events.c.turn_id.in_(ids)))
        conn.execute(delete(votes).where(votes.c.turn_id.in_(ids)))
        conn.execute(delete(turns).where(turns.c.id.in_(ids)))
    for table in (vote_events, votes):
        conn.execute(
            delete(table).where(_on(platform, table.c.turn_id), _by(table.c.rater, person))
        )
    conn.execute(
        delete(kept_votes).where(kept_votes.c.platform == platform, _by(kept_votes.c.rater, person))
    )
    rollups.reset(conn)  # the console's figures are counted again from what is left
    for ids in _chunks([row.id for row in said]):
        conn.execute(delete(messages).where(messages.c.id.in_(ids)))
    _drop_empty(conn, {row.conversation_id for row in said})
    conn.execute(
        delete(person_names).where(
            person_names.c.platform == platform, person_names.c.person == person
        )
    )


def _by(rater: Any, person: str) -> ColumnElement[bool]:
    """Votes cast by `person`: raters are the user id (Telegram) or `workspace:user id`
    (Slack's team, WeCom's corp), bots.<platform>.translate.rater."""
    return or_(rater == person, rater.endswith(":" + person, autoescape=True))


def _on(platform: str, turn_id: Any) -> ColumnElement[bool]:
    """Votes on a reply in one of `platform`'s conversations (a vote row names no platform)."""
    on_platform = select(turns.c.id).join(
        conversations, conversations.c.id == turns.c.conversation_id
    )
    return turn_id.in_(on_platform.where(conversations.c.platform == platform))


def _count(conn: Connection, table: Any, *where: ColumnElement[bool]) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _replies_reading(conn: Connection, said: Sequence[Any]) -> set[int]:
    """Replies whose prompt holds one of `said` (a prompt's user turns are the stored
    texts as they were, core.context.build_prompt), and the replies to them."""
    theirs = {row.id for row in said}
    texts: dict[int, set[str]] = {}
    for row in said:
        texts.setdefault(row.conversation_id, set()).add(row.text)
    found: set[int] = set()
    for ids in _chunks(sorted(texts)):
        query = select(turns.c.id, turns.c.conversation_id, turns.c.message_id, turns.c.prompt)
        for turn in conn.execute(query.where(turns.c.conversation_id.in_(ids))):
            read = {m["content"] for m in turn.prompt if m.get("role") == "user"}
            if turn.message_id in theirs or read & texts[turn.conversation_id]:
                found.add(turn.id)
    return found


def _drop_empty(conn: Connection, conversation_ids: set[int]) -> None:
    """Conversations of theirs with no message left: a DM's chat key names the person."""
    for ids in _chunks(sorted(conversation_ids)):
        left = select(messages.c.conversation_id).where(messages.c.conversation_id.in_(ids))
        empty = set(ids) - set(conn.execute(left).scalars())
        if empty:
            conn.execute(delete(conversations).where(conversations.c.id.in_(sorted(empty))))


def _unname(conn: Connection, platform: str, person: str, names: list[str]) -> int:
    """Their names and id in the text that stays become SOMEONE (a name someone else is
    shown by too stays: it is theirs as much). Returns how many rows changed."""
    others = set(
        conn.execute(
            select(person_names.c.name).where(person_names.c.platform == platform)
        ).scalars()
    )
    named = sorted(n for n in {*names, person} if n not in others)
    rename = Renamer(dict.fromkeys(named, SOMEONE))
    markup = re.compile(rf"<@{re.escape(person)}(?:\|[^>]*)?>")

    def unnamed(text: str) -> str:
        return rename(markup.sub("@" + SOMEONE, text))

    in_platform = select(conversations.c.id).where(conversations.c.platform == platform)
    said = select(messages.c.id, messages.c.text).where(
        messages.c.conversation_id.in_(in_platform),
        or_(*(messages.c.text.contains(n, autoescape=True) for n in [*named, "<@"])),
    )
    # Read through, then write: the changed rows are few, the platform's replies many.
    texts = [(r.id, t) for r in _streamed(conn, said) if (t := unnamed(r.text)) != r.text]
    for message_id, text in texts:
        conn.execute(update(messages).where(messages.c.id == message_id).values(text=text))
    made = select(turns.c.id, turns.c.prompt, turns.c.completion).where(
        turns.c.conversation_id.in_(in_platform)
    )
    replies = []
    for row in _streamed(conn, made):
        prompt = [{**m, "content": unnamed(m["content"])} for m in row.prompt]
        if prompt != row.prompt or unnamed(row.completion) != row.completion:
            replies.append((row.id, prompt, unnamed(row.completion)))
    for turn_id, prompt, completion in replies:
        conn.execute(
            update(turns).where(turns.c.id == turn_id).values(prompt=prompt, completion=completion)
        )
    return len(texts) + len(replies)


def _streamed(conn: Connection, query: Select[Any]) -> Iterator[Row[Any]]:
    return iter(conn.execute(query.execution_options(yield_per=1000)))


def _nothing_of(conn: Connection, secret: bytes, platform: str, person: str) -> str:
    before = conn.execute(
        select(func.max(forgotten_people.c.forgotten_at)).where(
            forgotten_people.c.person_hash == forgotten_hash(secret, platform, person)
        )
    ).scalar()
    when = f" (forgotten on {as_utc(before):%Y-%m-%d %H:%M} UTC)" if before else ""
    return f"nothing is stored of {platform} user {person!r}{when}: nothing to forget"


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])
