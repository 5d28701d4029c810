"""core.store on real SQLite and real PostgreSQL: migrations, conversations, turns, votes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, select, text

from core.errors import ServiceUnavailable, UnknownTurn
from core.store import Store, open_store
from core.store.migrate import current_revision
from core.store.reports import ModelStats, feedback_stats
from core.store.schema import votes
from core.types import ChatMessage, NewTurn, StoredMessage, Turn, Vote, VoteResult

TABLES = {
    "alembic_version",
    "conversations",
    "messages",
    "turns",
    "vote_events",
    "votes",
    "models",
    "promotions",
    "person_names",
    "kept_votes",
    "canaries",
}


def reply(store: Store, message_id: int, key: str, completion: str, model: str = "v1") -> Turn:
    """Store a reply to `message_id` as a worker would."""
    conversation_id = store.message(message_id).conversation_id
    prompt: list[ChatMessage] = [{"role": "user", "content": store.message(message_id).text}]
    return store.add_turn(
        conversation_id, message_id, key, prompt, completion, model, {"top_p": 0.9}, {"gen": 0.5}
    )


def count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_open_store_migrates_to_head_and_can_open_twice(store: Store, db_url: str) -> None:
    assert current_revision(store.engine) == "0010"
    assert set(inspect(store.engine).get_table_names()) >= TABLES
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [("0010",)]
    conversation = store.open_conversation("slack", "C1")

    again = open_store(db_url)
    try:
        assert current_revision(again.engine) == "0010"
        assert again.open_conversation("slack", "C1") == conversation
    finally:
        again.engine.dispose()
    assert count(store, "alembic_version") == 1


def test_unreachable_database_names_the_masked_url() -> None:
    with pytest.raises(ServiceUnavailable) as raised:
        open_store("postgresql+psycopg://u:secretpw@127.0.0.1:1/x")
    message = str(raised.value)
    assert "postgresql+psycopg://u:***@127.0.0.1:1/x" in message
    assert "secretpw" not in message
    assert "REPLYLOOP_DATABASE_URL" in message


def test_open_conversation_is_the_same_until_reset(store: Store) -> None:
    first = store.open_conversation("slack", "C1")
    assert store.open_conversation("slack", "C1") == first
    other_chat = store.open_conversation("slack", "C2")
    other_platform = store.open_conversation("telegram", "C1")
    assert len({first, other_chat, other_platform}) == 3
    assert store.platform_of(first) == ("slack", "C1")

    store.reset("slack", "C1")
    renewed = store.open_conversation("slack", "C1")
    assert renewed not in {first, other_chat, other_platform}
    assert store.open_conversation("slack", "C1") == renewed
    assert store.open_conversation("slack", "C2") == other_chat
    assert store.open_conversation("telegram", "C1") == other_platform


def test_message_round_trip(store: Store) -> None:
    """A message comes back with its chat (delivery needs it) and an aware UTC time."""
    conversation = store.open_conversation("wecom", "room-1")
    message_id = store.add_message(conversation, "zhangsan", "你好 👋", platform_message_id="m1")
    stored = store.message(message_id)
    assert stored == StoredMessage(
        message_id, conversation, "zhangsan", "你好 👋", stored.created_at, "wecom", "room-1"
    )
    assert stored.created_at.utcoffset() == timedelta(0)
    with pytest.raises(LookupError):
        store.message(message_id + 1000)


def test_history_is_every_earlier_message_with_its_newest_sibling_reply(store: Store) -> None:
    conversation = store.open_conversation("slack", "C1")
    elsewhere = store.open_conversation("slack", "C2")
    m1 = store.add_message(conversation, "U1", "q1")
    reply(store, m1, "r1a", "first try")
    reply(store, m1, "r1b", "retried")
    m_other = store.add_message(elsewhere, "U2", "other chat")
    reply(store, m_other, "r-other", "not ours")
    m2 = store.add_message(conversation, "U1", "q2")
    reply(store, m2, "r2", "a2")
    m3 = store.add_message(conversation, "U1", "q3 (generation failed)")
    m4 = store.add_message(conversation, "U1", "q4")
    reply(store, m4, "r4", "a4")
    m5 = store.add_message(conversation, "U1", "q5")

    assert store.history(conversation, m5) == [
        ("q1", "retried"),
        ("q2", "a2"),
        ("q3 (generation failed)", None),
        ("q4", "a4"),
    ]
    assert store.history(conversation, m4) == [
        ("q1", "retried"),
        ("q2", "a2"),
        ("q3 (generation failed)", None),
    ]
    assert store.history(conversation, m3) == [("q1", "retried"), ("q2", "a2")]
    assert store.history(conversation, m2) == [("q1", "retried")]
    assert store.history(conversation, m1) == []
    assert store.history(elsewhere, m5) == [("other chat", "not ours")]


def test_add_turn_is_idempotent_on_request_key(store: Store) -> None:
    conversation = store.open_conversation("slack", "C1")
    message_id = store.add_message(conversation, "U1", "hello")
    prompt: list[ChatMessage] = [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "hello"},
    ]
    first = store.add_turn(
        conversation, message_id, "req-1", prompt, "Hi!", "v1", {"top_p": 0.9}, {"gen": 0.25}
    )
    again = store.add_turn(conversation, message_id, "req-1", prompt, "Other text", "v2", {}, {})
    assert again == first
    assert (first.prompt, first.completion, first.model_version) == (prompt, "Hi!", "v1")
    assert (first.settings, first.timings) == ({"top_p": 0.9}, {"gen": 0.25})
    assert first.created_at.utcoffset() == timedelta(0)
    assert first.platform_message_id is None
    assert count(store, "turns") == 1
    assert store.turn_for_request("req-1") == first
    assert store.turn_for_request("req-2") is None
    assert store.turn(first.id) == first


def test_vote_up_down_retracted_keeps_every_event(store: Store) -> None:
    message_id = store.add_message(store.open_conversation("slack", "C1"), "U1", "q")
    turn = reply(store, message_id, "k", "a")

    assert store.vote(turn.id, "U9", Vote.UP, "reaction") == VoteResult(
        turn.id, "U9", Vote.UP, Vote.RETRACTED, changed=True
    )
    assert store.vote(turn.id, "U9", Vote.DOWN, "reaction") == VoteResult(
        turn.id, "U9", Vote.DOWN, Vote.UP, changed=True
    )
    assert store.vote(turn.id, "U9", Vote.RETRACTED, "reaction") == VoteResult(
        turn.id, "U9", Vote.RETRACTED, Vote.DOWN, changed=True
    )
    assert store.vote_history(turn.id, "U9") == [Vote.UP, Vote.DOWN, Vote.RETRACTED]
    assert count(store, "vote_events") == 3
    with store.engine.connect() as conn:
        assert conn.execute(select(votes.c.rater, votes.c.value)).all() == [("U9", 0)]


def test_repeated_vote_is_recorded_but_unchanged(store: Store) -> None:
    message_id = store.add_message(store.open_conversation("telegram", "42"), "7", "q")
    turn = reply(store, message_id, "k", "a")
    store.vote(turn.id, "7", Vote.DOWN, "button", reasons={"tags": ["wrong"]})
    result = store.vote(turn.id, "7", Vote.DOWN, "button", reasons={"tags": ["rude"]})
    assert (result.previous, result.changed) == (Vote.DOWN, False)
    store.vote(turn.id, "8", Vote.UP, "button")
    assert store.vote_history(turn.id, "7") == [Vote.DOWN, Vote.DOWN]
    assert store.vote_history(turn.id, "8") == [Vote.UP]
    with store.engine.connect() as conn:
        standing = conn.execute(
            select(votes.c.rater, votes.c.value, votes.c.reasons).order_by(votes.c.rater)
        ).all()
    assert standing == [("7", -1, {"tags": ["rude"]}), ("8", 1, None)]


def test_a_vote_older_than_the_standing_one_is_kept_but_does_not_stand(store: Store) -> None:
    """Platforms deliver a 👍 and its removal to two workers at once: the rater's latest
    action stands, whichever arrives last."""
    message_id = store.add_message(store.open_conversation("slack", "C1"), "U1", "q")
    turn = reply(store, message_id, "k", "a")
    first, then = datetime(2026, 1, 1, 12, 0, tzinfo=UTC), datetime(2026, 1, 1, 12, 1, tzinfo=UTC)
    store.vote(turn.id, "U9", Vote.UP, "reaction", at=first)
    store.vote(turn.id, "U9", Vote.RETRACTED, "reaction", at=then)
    late = store.vote(turn.id, "U9", Vote.DOWN, "reaction", at=first)  # arrives last
    assert late == VoteResult(turn.id, "U9", Vote.RETRACTED, Vote.RETRACTED, changed=False)
    assert store.vote_history(turn.id, "U9") == [Vote.UP, Vote.DOWN, Vote.RETRACTED]
    with store.engine.connect() as conn:
        assert conn.execute(select(votes.c.value)).scalar_one() == int(Vote.RETRACTED)
    assert store.knows_chat("slack", "C1") and not store.knows_chat("slack", "C2")


def test_taking_back_a_vote_that_is_not_there_writes_nothing(store: Store) -> None:
    """An /unrate of a reply never rated (or rated and taken back already) changes
    nothing; a platform's removal with an event time is kept: it may have overtaken the
    vote it takes back, which must not stand when it comes."""
    message_id = store.add_message(store.open_conversation("terminal", "me"), "me", "q")
    turn = reply(store, message_id, "k", "a")
    nothing = VoteResult(turn.id, "me", Vote.RETRACTED, Vote.RETRACTED, changed=False)
    assert store.vote(turn.id, "me", Vote.RETRACTED, "terminal") == nothing
    assert (count(store, "vote_events"), count(store, "votes")) == (0, 0)
    store.vote(turn.id, "me", Vote.UP, "terminal")
    store.vote(turn.id, "me", Vote.RETRACTED, "terminal")
    assert store.vote(turn.id, "me", Vote.RETRACTED, "terminal") == nothing
    assert store.vote_history(turn.id, "me") == [Vote.UP, Vote.RETRACTED]

    added = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    removed = added + timedelta(minutes=1)
    store.vote(turn.id, "U9", Vote.RETRACTED, "reaction", at=removed)  # overtook its 👍
    store.vote(turn.id, "U9", Vote.UP, "reaction", at=added)
    assert store.standing_votes(turn.id)["U9"] == Vote.RETRACTED
    assert store.vote_history(turn.id, "U9") == [Vote.UP, Vote.RETRACTED]


def test_vote_on_an_unknown_turn_raises_and_writes_nothing(store: Store) -> None:
    with pytest.raises(UnknownTurn) as raised:
        store.vote(404, "U1", Vote.UP, "reaction")
    assert raised.value.ref == 404
    assert (count(store, "vote_events"), count(store, "votes")) == (0, 0)
    with pytest.raises(UnknownTurn):
        store.turn(404)


def test_turn_by_platform_message_after_mark_delivered(store: Store) -> None:
    message_id = store.add_message(store.open_conversation("slack", "C1"), "U1", "q")
    turn = reply(store, message_id, "k", "a")
    with pytest.raises(UnknownTurn):
        store.turn_by_platform_message("slack", "1700000000.000100")

    store.mark_delivered(turn.id, "1700000000.000100")
    found = store.turn_by_platform_message("slack", "1700000000.000100")
    assert found == store.turn(turn.id)
    assert (found.id, found.platform_message_id) == (turn.id, "1700000000.000100")
    with pytest.raises(UnknownTurn):
        store.turn_by_platform_message("telegram", "1700000000.000100")


def test_a_vote_before_its_reply_is_marked_delivered_is_kept_then_recorded(
    store: Store,
) -> None:
    message_id = store.add_message(store.open_conversation("slack", "C1"), "U1", "q")
    turn = reply(store, message_id, "k", "a")
    acted = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    kept = store.keep_vote("slack", "C1:1.5", "r1", Vote.DOWN, "slack_reaction", None, acted)
    assert kept is False  # no reply is stored as delivered under that id yet
    store.keep_vote("telegram", "C1:1.5", "r2", Vote.UP, "telegram_reaction", None, acted)
    store.keep_vote("slack", "C1:9.9", "r3", Vote.UP, "slack_reaction", None, acted)
    assert store.standing_votes(turn.id) == {}

    store.mark_delivered(turn.id, "C1:1.5")
    # Slack's vote on that id is recorded; Telegram's (another platform) and the vote on
    # another message stay kept.
    assert store.standing_votes(turn.id) == {"r1": Vote.DOWN}
    assert store.vote_history(turn.id, "r1") == [Vote.DOWN]
    assert count(store, "kept_votes") == 2
    assert store.record_kept_votes(["C1:1.5"]) == 0  # recorded once, never twice


def test_a_vote_kept_after_its_reply_was_marked_is_recorded_at_once(store: Store) -> None:
    """The race: the vote's lookup missed the reply, its delivery was marked before the
    vote was kept. Keeping looks again."""
    message_id = store.add_message(store.open_conversation("wecom", "c"), "u", "q")
    turn = reply(store, message_id, "k", "a")
    store.mark_delivered(turn.id, "feedback-1")
    acted = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    reasons = {"inaccurate": True}
    assert store.keep_vote("wecom", "feedback-1", "r", Vote.DOWN, "wecom", reasons, acted)
    assert store.standing_votes(turn.id) == {"r": Vote.DOWN}
    assert count(store, "kept_votes") == 0


def test_feedback_stats_per_model_version(store: Store) -> None:
    conversation = store.open_conversation("slack", "C1")
    m = store.add_message(conversation, "U1", "q")
    a, b, _c = (reply(store, m, f"v1-{i}", "x", model="v1") for i in range(3))
    d = reply(store, m, "v2", "x", model="v2")
    e = reply(store, m, "v3", "x", model="v3")
    store.vote(a.id, "U1", Vote.UP, "reaction")
    store.vote(a.id, "U2", Vote.UP, "reaction")
    store.vote(a.id, "U3", Vote.DOWN, "reaction")
    store.vote(b.id, "U1", Vote.DOWN, "reaction")
    store.vote(d.id, "U1", Vote.UP, "reaction")
    store.vote(d.id, "U1", Vote.RETRACTED, "reaction")
    store.vote(e.id, "U1", Vote.DOWN, "reaction")
    store.vote(e.id, "U1", Vote.UP, "reaction")

    stats = feedback_stats(store.engine)
    assert stats == [
        ModelStats("v1", turns=3, up=2, down=2),
        ModelStats("v2", turns=1, up=0, down=0),
        ModelStats("v3", turns=1, up=1, down=0),
    ]
    assert [s.approval for s in stats] == [0.5, None, 1.0]
    assert feedback_stats(store.engine, "v1") == [ModelStats("v1", turns=3, up=2, down=2)]
    assert feedback_stats(store.engine, "v9") == []


def test_feedback_stats_of_an_empty_store(store: Store) -> None:
    assert feedback_stats(store.engine) == []


def test_nul_characters_are_dropped_not_fatal(store: Store) -> None:
    """PostgreSQL refuses NUL in text; a model that emits one must still get its Turn stored."""
    conversation_id, message_id = store.add_chat_message("terminal", "nul", "u", "hi\x00 there")
    assert store.message(message_id).text == "hi there"
    turn = store.add_turn(
        conversation_id,
        message_id,
        "nul:1",
        [{"role": "user", "content": "a\x00b"}],
        "\x00reply\x00",
        "v",
        {},
        {},
    )
    assert turn.completion == "reply"
    assert turn.prompt == [{"role": "user", "content": "ab"}]


def test_reply_context_finds_the_turn_of_a_redelivered_request(store: Store) -> None:
    _, first = store.add_chat_message("slack", "C9", "u", "one")
    reply(store, first, f"msg:{first}", "reply one")
    _, second = store.add_chat_message("slack", "C9", "u", "two")
    context = store.reply_context(second, f"msg:{second}")
    assert context.existing is None and context.message.text == "two"
    assert context.message.platform == "slack"
    assert context.history == [("one", "reply one")]
    turn = reply(store, second, f"msg:{second}", "reply two")
    context = store.reply_context(second, f"msg:{second}")
    assert context.existing == turn and context.history == []


def test_reply_context_names_the_first_earlier_message_still_awaiting_its_reply(
    store: Store,
) -> None:
    store.add_chat_message("slack", "C8", "u", "only read", awaits_reply=False)
    _, answered = store.add_chat_message("slack", "C8", "u", "answered")
    reply(store, answered, f"msg:{answered}", "a reply")
    _, failed = store.add_chat_message("slack", "C8", "u", "its reply failed")
    _, pending = store.add_chat_message("slack", "C8", "u", "being answered")
    _, last = store.add_chat_message("slack", "C8", "u", "last")
    assert store.reply_context(last, f"msg:{last}").waits_on == failed
    store.give_up(failed)
    assert store.reply_context(last, f"msg:{last}").waits_on == pending
    assert store.reply_context(pending, f"msg:{pending}").waits_on is None
    assert store.reply_context(answered, f"msg:{answered}").waits_on is None
    reply(store, pending, f"msg:{pending}", "another reply")
    context = store.reply_context(last, f"msg:{last}")
    assert context.waits_on is None
    assert [text for text, _ in context.history] == [
        "only read",
        "answered",
        "its reply failed",
        "being answered",
    ]


def test_reply_contexts_serve_a_batch_in_order(store: Store) -> None:
    """Several chats at once, one of them redelivered, one message unknown: each request
    gets its own answer, in the order asked."""
    _, a1 = store.add_chat_message("slack", "A", "u", "a one")
    reply(store, a1, f"msg:{a1}", "a reply")
    _, a2 = store.add_chat_message("slack", "A", "u", "a two")
    _, b1 = store.add_chat_message("telegram", "B", "v", "b one")
    done = reply(store, b1, f"msg:{b1}", "b reply")
    requests = [(a2, f"msg:{a2}"), (999_999, "msg:999999"), (b1, f"msg:{b1}"), (a1, "retry:x")]
    first, unknown, redelivered, retry = store.reply_contexts(requests)
    assert not isinstance(first, LookupError)
    assert (first.message.text, first.history, first.existing) == (
        "a two",
        [("a one", "a reply")],
        None,
    )
    assert isinstance(unknown, LookupError) and "999999" in str(unknown)
    assert not isinstance(redelivered, LookupError) and redelivered.existing == done
    assert not isinstance(retry, LookupError)
    assert retry.existing is None and retry.history == [] and retry.message.text == "a one"


def test_reply_contexts_read_only_a_long_conversations_newest_messages(store: Store) -> None:
    """A long conversation costs its newest messages, not its whole history; a message
    asked for by id is found even when it is older than those (a redelivered old task)."""
    ids = []
    for i in range(10):
        _, message_id = store.add_chat_message("slack", "long", "u", f"q{i}")
        reply(store, message_id, f"msg:{message_id}", f"a{i}")
        ids.append(message_id)
    _, new = store.add_chat_message("slack", "long", "u", "q10")
    latest, oldest = store.reply_contexts([(new, f"msg:{new}"), (ids[0], "retry:old")], newest=5)
    assert not isinstance(latest, LookupError) and not isinstance(oldest, LookupError)
    assert latest.history == [(f"q{i}", f"a{i}") for i in range(6, 10)]
    assert oldest.message.text == "q0" and oldest.history == []
    everything = store.reply_context(new, f"msg:{new}")
    assert everything.history == [(f"q{i}", f"a{i}") for i in range(10)]


def test_add_turns_stores_a_batch_once(store: Store) -> None:
    _, m1 = store.add_chat_message("terminal", "x", "u", "one")
    _, m2 = store.add_chat_message("terminal", "y", "u", "two")
    first = reply(store, m1, f"msg:{m1}", "first answer")
    conv2 = store.message(m2).conversation_id
    batch = [
        NewTurn(
            conv2,
            m2,
            f"msg:{m2}",
            [{"role": "user", "content": "two"}],
            "b",
            "v",
            {},
            {},
            ("terminal", "y"),
        ),
        NewTurn(
            first.conversation_id, m1, f"msg:{m1}", [], "again", "v2", {}, {}, ("terminal", "x")
        ),
    ]
    new, again = store.add_turns(batch)
    assert (new.completion, new.chat_key, new.platform) == ("b", "y", "terminal")
    assert store.turn(new.id) == new
    assert again == first  # the stored Turn, not a second one
