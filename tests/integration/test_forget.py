"""`replyloop forget` as a person runs it, on real SQLite and PostgreSQL: the person's
messages, the replies that read them, their votes and names go; an audit row names them
only as an HMAC; a later export holds nothing of them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from core.anonymize import forgotten_hash
from core.store import Store
from core.store.schema import (
    conversations,
    forgotten_people,
    messages,
    person_names,
    turns,
    vote_events,
    votes,
)
from core.types import Vote
from tests.integration.group_chats import MIA, OMAR, SECRET, ZED, group_chats, pseudonym
from tests.integration.workers import clean_env, replyloop

MIA_ID = str(MIA["id"])


def test_forget_erases_a_person_and_keeps_an_audit_row(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    with group_chats(store) as chats:
        group, dm = chats.said["telegram"][:3], chats.said["telegram"][4]
        kept = chats.said["telegram"][3]  # Omar asks after her in another group
    env = clean_env(database_url=db_url, rater_secret=SECRET.decode(), data_dir=str(tmp_path))
    store.vote(_turns_of(store, kept)[0], MIA_ID, Vote.UP, "test")  # she rated a reply too

    done = replyloop("forget", "--platform", "telegram", "--user", MIA_ID, env=env, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        f"forgot telegram user {MIA_ID} (audit record 1): messages 2, replies that read "
        "them 8, votes 1, names 2; other texts that named them now say 'someone': 4."
    ), done.stdout
    with store.engine.connect() as conn:
        assert conn.execute(select(messages.c.id).where(messages.c.author == MIA_ID)).all() == []
        for message_id in [*group, dm]:  # every reply that read her message went
            assert _turns_of(store, message_id) == []
        assert conn.execute(select(votes).where(votes.c.rater == MIA_ID)).all() == []
        assert conn.execute(select(vote_events).where(vote_events.c.rater == MIA_ID)).all() == []
        assert conn.execute(select(person_names).where(person_names.c.person == MIA_ID)).all() == []
        chats_left = select(conversations.c.chat_key).where(conversations.c.platform == "telegram")
        assert MIA_ID not in list(conn.execute(chats_left).scalars())  # her DM is gone
        audit = conn.execute(select(forgotten_people)).one()
    assert store.message(kept).text == "Omar: is @someone around?"
    assert (audit.platform, audit.person_hash) == (
        "telegram",
        forgotten_hash(SECRET, "telegram", MIA_ID),
    )
    assert (audit.messages, audit.replies, audit.votes, audit.names, audit.mentions) == (
        2,
        8,
        1,
        2,
        4,
    )
    assert audit.forgotten_at is not None

    out = tmp_path / "raw.jsonl"
    exported = replyloop("feedback", "export", "--out", str(out), env=env, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    text = out.read_text(encoding="utf-8")
    assert pseudonym("telegram", OMAR["id"]) in text  # the others' rows are still there
    for hers in (MIA_ID, "Mia", "Chen", "mia_chen", pseudonym("telegram", MIA_ID)):
        assert hers not in text
    assert pseudonym("telegram", ZED["id"]) not in text  # Zed's reply read her message


def test_forgetting_someone_unknown_says_so(store: Store, db_url: str, tmp_path: Path) -> None:
    with group_chats(store):
        pass
    env = clean_env(database_url=db_url, rater_secret=SECRET.decode(), data_dir=str(tmp_path))
    before = _rows(store)

    nobody = replyloop("forget", "--platform", "slack", "--user", "U0NOBODY", env=env, cwd=tmp_path)
    assert nobody.returncode == 1
    assert nobody.stderr.strip() == (
        "replyloop: nothing is stored of slack user 'U0NOBODY': nothing to forget"
    )
    # Another platform's person is unknown here: ids are per platform.
    elsewhere = replyloop("forget", "--platform", "wecom", "--user", MIA_ID, env=env, cwd=tmp_path)
    assert elsewhere.returncode == 1 and "nothing is stored of wecom user" in elsewhere.stderr
    assert _rows(store) == before  # nothing written, no audit row

    first = replyloop("forget", "--platform", "wecom", "--user", "lisi", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = replyloop("forget", "--platform", "wecom", "--user", "lisi", env=env, cwd=tmp_path)
    assert again.returncode == 1 and "(forgotten on " in again.stderr, again.stderr


def test_bad_flags_are_usage_errors(tmp_path: Path) -> None:
    env = clean_env(data_dir=str(tmp_path))
    for args, said in (
        (["--platform", "irc", "--user", "U1"], "argument --platform: invalid choice: 'irc'"),
        (["--platform", "slack"], "the following arguments are required: --user"),
        (["--user", "U1"], "the following arguments are required: --platform"),
        (["--platform", "slack", "--user", " "], "argument --user: ' ' is not a user id"),
    ):
        done = replyloop("forget", *args, env=env, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stdout)
        assert said in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "replyloop.sqlite3").exists()  # refused before opening a store


def _turns_of(store: Store, message_id: int) -> list[int]:
    with store.engine.connect() as conn:
        return list(
            conn.execute(select(turns.c.id).where(turns.c.message_id == message_id)).scalars()
        )


def _rows(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return [
            int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (messages, turns, votes, vote_events, person_names, forgotten_people)
        ]
