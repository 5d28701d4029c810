"""Which Slack messages the bot answers, their chat keys, and what reactions mean."""

from __future__ import annotations

import doctest

import bots.slack.translate
from bots.slack.translate import message, reaction_vote
from core.types import Vote


def test_docstring_examples_hold() -> None:
    assert doctest.testmod(bots.slack.translate).failed == 0


def event(**fields: object) -> dict[str, object]:
    return {
        "type": "message",
        "channel": "C1",
        "channel_type": "channel",
        "user": "U1",
        "text": "hi",
        "ts": "10.1",
        **fields,
    }


def test_a_channel_message_starts_a_thread_under_itself_and_a_thread_reply_stays_in_it() -> None:
    top = message(event(text="<@UB> hello"), "T1", "UB")
    assert top is not None and (top.chat_key, top.mentioned, top.text) == (
        "T1/C1/10.1",
        True,
        "hello",
    )
    reply = message(event(ts="11.1", thread_ts="10.1"), "T1", "UB")
    assert reply is not None and (reply.chat_key, reply.mentioned) == ("T1/C1/10.1", False)


def test_a_dm_is_one_conversation() -> None:
    said = message(event(channel="D1", channel_type="im"), "T1", "UB")
    assert said is not None and (said.chat_key, said.direct, said.thread_ts) == (
        "T1/D1",
        True,
        None,
    )


def test_the_bot_other_bots_edits_deletes_and_joins_are_never_answered() -> None:
    assert message(event(user="UB"), "T1", "UB") is None
    assert message(event(bot_id="B9"), "T1", "UB") is None
    for subtype in (
        "message_changed",
        "message_deleted",
        "channel_join",
        "channel_leave",
        "bot_message",
    ):
        assert message(event(subtype=subtype), "T1", "UB") is None


def test_files_are_noticed_and_other_mentions_are_kept() -> None:
    said = message(
        event(subtype="file_share", files=[{"id": "F1"}], text="<@UB> see <@U2>"), "T1", "UB"
    )
    assert said is not None and said.files and said.text == "see <@U2>"


def test_reactions() -> None:
    assert [reaction_vote(n, False) for n in ("+1", "thumbsup", "-1", "thumbsdown")] == [
        Vote.UP,
        Vote.UP,
        Vote.DOWN,
        Vote.DOWN,
    ]
    assert reaction_vote("-1", True) is Vote.RETRACTED
    assert reaction_vote("heart", False) is None and reaction_vote("heart", True) is None
