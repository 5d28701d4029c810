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
