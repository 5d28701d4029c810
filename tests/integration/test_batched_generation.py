"""The gpu worker's batches, with real workers: chats that write at once share a batch, each
reply is made from its own chat's context, and a chat's messages are answered in order."""

from __future__ import annotations

import secrets

from bots.intake import request_reply, store_message
from core.settings import Settings
from core.types import IncomingMessage, Turn
from tests.integration.conftest import Chat

SYSTEM_PROMPT = Settings.model_fields["system_prompt"].default
CHATS = 24
WAIT_S = 1.5  # several of a waiting message's polls (wire.messages.POLL_S)


def test_chats_writing_at_once_share_batches_and_keep_their_own_context(chat: Chat) -> None:
    chats = {f"{chat.key}-{n}": f"message {n} {secrets.token_hex(4)}" for n in range(CHATS)}
    for key, text in chats.items():
        message = IncomingMessage("terminal", key, f"author-{key}", text)
        request_reply(store_message(chat.store, message))
    turns: dict[str, Turn] = {}
    for key in chats:
        item = chat.outbox.get(key, 60)
        assert item is not None, f"no reply for {key}"
        turns[key] = chat.store.turn(item["turn_id"])
    for key, turn in turns.items():
        assert turn.chat_key == key
        assert turn.prompt == [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": chats[key]},
        ]
    sizes = [int(turn.timings["batch"]) for turn in turns.values()]
    assert max(sizes) > 1, f"every reply was generated alone: {sizes}"


def test_a_chats_messages_in_flight_together_are_answered_in_order(chat: Chat) -> None:
    """The second message waits for the reply to the first, and sees it in its context."""
    first_id, second_id = chat.say("first question"), chat.say("second question")
    first, second = chat.turn(), chat.turn()
    assert (first.message_id, second.message_id) == (first_id, second_id)
    assert second.prompt == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": first.completion},
        {"role": "user", "content": "second question"},
    ]


def test_a_message_waits_for_the_reply_to_an_earlier_one_made_elsewhere(chat: Chat) -> None:
    """Another worker (here: a task not sent yet) still owes the first message its reply:
    the second is not answered before it, however long that takes, and then sees it."""
    first_id = store_message(chat.store, IncomingMessage("terminal", chat.key, "u", "first"))
    second_id = chat.say("second")
    assert chat.outbox.get(chat.key, WAIT_S) is None, "answered before the earlier message"
    assert chat.turns_of(second_id) == []
    request_reply(first_id)
    first, second = chat.turn(), chat.turn()
    assert (first.message_id, second.message_id) == (first_id, second_id)
    assert second.prompt[1:] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": first.completion},
        {"role": "user", "content": "second"},
    ]
    assert second.timings["queued_s"] >= WAIT_S


def test_a_message_stops_waiting_for_one_given_up_on(chat: Chat) -> None:
    first_id = store_message(chat.store, IncomingMessage("terminal", chat.key, "u", "first"))
    second_id = chat.say("second")
    assert chat.outbox.get(chat.key, WAIT_S) is None, "answered before the earlier message"
    chat.store.give_up(first_id)  # as a failed generation does
    second = chat.turn()
    assert second.message_id == second_id
    assert second.prompt[1:] == [
        {"role": "user", "content": "first"},
        {"role": "user", "content": "second"},
    ]
    assert chat.turns_of(first_id) == []


def test_messages_read_for_context_only_are_not_waited_for(chat: Chat) -> None:
    """As a Slack thread's messages from before the bot was mentioned."""
    chat.store.add_chat_message("terminal", chat.key, "u", "said before", awaits_reply=False)
    chat.say("asked now")
    second = chat.turn()
    assert second.prompt[1:] == [
        {"role": "user", "content": "said before"},
        {"role": "user", "content": "asked now"},
    ]
