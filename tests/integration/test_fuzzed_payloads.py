"""Malformed but validly signed payloads, made by hypothesis, against the real adapters:
every one is answered with a 2xx or 4xx, never a 500 (a platform retries a 5xx, over and
over), and the adapter goes on serving.

The payloads keep the outer shape each endpoint checks first (a JSON object with an
`update_id`, ...), so the parsers behind that check are reached, and fill the known fields
with values of every JSON type.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.integration.fuzzing import FUZZ, some_of
from tests.integration.telegram_harness import Telegram, private_chat

TELEGRAM_USER = some_of(
    {"id": st.integers(1, 2**40), "is_bot": st.booleans(), "first_name": st.text(max_size=10)}
)
TELEGRAM_CHAT = some_of(
    {"id": st.integers(-(2**40), 2**40), "type": st.sampled_from(["private", "group"])}
)
TELEGRAM_MESSAGE = some_of(
    {
        "message_id": st.integers(1, 2**31),
        "date": st.integers(0, 2**31),
        "chat": TELEGRAM_CHAT,
        "from": TELEGRAM_USER,
        "text": st.text(max_size=30),
        "reply_to_message": st.just({"message_id": 1}),
    }
)
TELEGRAM_UPDATE = st.builds(
    lambda update_id, fields: {"update_id": update_id, **fields},
    st.integers(1, 2**31),
    some_of(
        {
            "message": TELEGRAM_MESSAGE,
            "edited_message": TELEGRAM_MESSAGE,
            "callback_query": some_of(
                {"id": st.text(max_size=8), "from": TELEGRAM_USER, "data": st.text(max_size=10)}
            ),
            "message_reaction": some_of(
                {"chat": TELEGRAM_CHAT, "message_id": st.integers(), "user": TELEGRAM_USER}
            ),
        }
    ),
)


def test_fuzzed_telegram_updates_never_get_a_500(telegram_webhook: Telegram) -> None:
    statuses: set[int] = set()

    @FUZZ
    @given(TELEGRAM_UPDATE)
    def post(update: dict[str, Any]) -> None:
        status = telegram_webhook.api.post(update)
        statuses.add(status)
        assert status < 500, update

    post()
    assert statuses <= {200, 400}, statuses
    chat_id = private_chat()
    telegram_webhook.say(chat_id, "still there?")
    telegram_webhook.reply(chat_id)
