"""Upgrades keep what a database already holds; one conversation in progress per chat."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from core.store import Store, open_store, registry
from core.store.engine import make_engine
from core.store.migrate import current_revision, upgrade
from core.store.people import known_names, remember_name
from core.store.schema import conversations, messages, turns


def test_upgrade_from_0001_keeps_data_and_closes_duplicate_open_conversations(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0001")
    now = datetime.now(UTC)
    with engine.begin() as conn:  # what a race could leave behind before 0002
        for conversation_id in (1, 2):
            conn.execute(
                conversations.insert().values(
                    id=conversation_id, platform="slack", chat_key="C1", created_at=now
                )
            )
        conn.execute(
            messages.insert().values(
                id=1, conversation_id=1, author="U1", text="kept", created_at=now
            )
        )
    engine.dispose()

    store = open_store(db_url)  # upgrades to head
    assert current_revision(store.engine) == "0010"
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(conversations.c.id, conversations.c.closed_at).order_by(conversations.c.id)
        ).all()
        assert [(row.id, row.closed_at is None) for row in rows] == [(1, False), (2, True)]
        kept = conn.execute(select(messages.c.text, messages.c.awaits_reply)).all()
        assert [tuple(row) for row in kept] == [("kept", False)]  # nothing waits for it
    assert store.open_conversation("slack", "C1") == 2
    store.engine.dispose()


def test_a_chat_has_one_conversation_in_progress_under_concurrent_starts(store: Store) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(
            pool.map(lambda _: store.add_chat_message("slack", "C7", "U", "hi")[0], range(16))
        )
    assert len(set(ids)) == 1
    store.reset("slack", "C7")
    assert store.open_conversation("slack", "C7") not in ids


def test_upgrade_from_0003_keeps_replies_and_starts_with_nothing_promoted(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0003")
    now = _one_message(engine, "U1", "hi", awaits_reply=True)
    with engine.begin() as conn:
        conn.execute(
            turns.insert().values(
                id=1,
                conversation_id=1,
                message_id=1,
                request_key="msg:1",
                prompt=[{"role": "user", "content": "hi"}],
                completion="hello",
                model_version="tiny-llama-0123abcd",
                settings={},
                timings={},
                created_at=now,
            )
        )
    engine.dispose()

    store = open_store(db_url)  # upgrades to head
    assert current_revision(store.engine) == "0010"
    assert store.turn(1).model_version == "tiny-llama-0123abcd"
    assert store.message(1).text == "hi"
    with store.engine.connect() as conn:
        assert conn.execute(select(messages.c.awaits_reply)).scalar_one() is True
    assert registry.list_models(store) == [] and registry.promoted(store) is None
    registry.register(store, version="tiny-llama-0123abcd", kind="local", path="/m/tiny")
    assert registry.promote(store, "tiny-llama-0123abcd").after == "tiny-llama-0123abcd"
    store.engine.dispose()


def test_upgrade_from_0004_keeps_turns_and_starts_with_no_names_known(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0004")
    _one_message(engine, "U7", "Kai: hi")
    engine.dispose()

    store = open_store(db_url)  # upgrades to head
    assert current_revision(store.engine) == "0010"
    assert store.message(1).text == "Kai: hi"
    assert known_names(store.engine) == {}
    remember_name(store, "slack", "U7", "Kai")
    remember_name(store, "slack", "U7", "Kai")  # known already: kept once
    remember_name(store, "slack", "U8", "Kai")  # two people, one name: the first id's
    assert known_names(store.engine) == {"slack": {"Kai": "U7"}}
    store.engine.dispose()


def _one_message(engine: Engine, author: str, text: str, **columns: object) -> datetime:
    """Conversation 1 on Slack with message 1 in it, written as an old schema holds them."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            conversations.insert().values(id=1, platform="slack", chat_key="C1", created_at=now)
        )
        conn.execute(
            messages.insert().values(
                id=1, conversation_id=1, author=author, text=text, created_at=now, **columns
            )
        )
    return now
