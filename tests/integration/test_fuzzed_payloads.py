"""Malformed but validly signed payloads, made by hypothesis, against the real adapters:
every one is answered with a 2xx or 4xx, never a 500 (a platform retries a 5xx, over and
over), and the adapter goes on serving.

The payloads keep the outer shape each endpoint checks first (a JSON object with an
`update_id`, ...), so the parsers behind that check are reached, and fill the known fields
with values of every JSON type.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fake_slack import BOT_USER
from tests.integration.adapters import wait_for
from tests.integration.fuzzing import FUZZ, some_of
from tests.integration.slack_harness import Slack, event_callback, new_channel
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
    # Above the fake server's own numbering (from 1001): an update the test sends after the
    # fuzzing must not be taken for a retry of a fuzzed one (updates are deduped by id).
    st.integers(10**6, 2**31),
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
    # Dates past the platform's time_t: OSError and OverflowError from fromtimestamp.
    @example({"update_id": 10**6, "message": {"date": 6.77680361916768e16}})
    @example({"update_id": 10**6 + 1, "edited_message": {"date": 2**63}})
    def post(update: dict[str, Any]) -> None:
        status = telegram_webhook.api.post(update)
        statuses.add(status)
        assert status < 500, update

    post()
    assert all(200 <= status < 500 for status in statuses), statuses
    # Still serving: a well-formed message is taken and stored (its reply may queue behind
    # the replies to the fuzzed messages that were well-formed enough to be answered).
    chat_id = private_chat()
    telegram_webhook.say(chat_id, "still there?")
    wait_for("the message", lambda: telegram_webhook.store.knows_chat("telegram", str(chat_id)))


SLACK_TEXT = st.text(max_size=20) | st.just(f"<@{BOT_USER}> hi") | st.just("<@U9|x> <#C1>")
SLACK_EVENT = some_of(
    {
        "type": st.sampled_from(
            ["message", "app_mention", "reaction_added", "reaction_removed", "app_home_opened"]
        ),
        "user": st.sampled_from(["U1", BOT_USER]) | st.text(max_size=6),
        "channel": st.sampled_from(["C1", "D1"]) | st.text(max_size=6),
        "channel_type": st.sampled_from(["channel", "im", "group"]),
        "text": SLACK_TEXT,
        "ts": st.sampled_from(["1.5", "x"]) | st.text(max_size=6),
        "thread_ts": st.sampled_from(["1.5", ""]) | st.text(max_size=6),
        "subtype": st.sampled_from(["bot_message", "message_changed", "thread_broadcast"]),
        "bot_id": st.text(max_size=4),
        "reaction": st.sampled_from(["+1", "thumbsdown", "tada"]),
        "item": some_of(
            {"type": st.just("message"), "channel": st.just("C1"), "ts": st.just("1.5")}
        ),
        "item_user": st.sampled_from([BOT_USER, "U1"]),
        "event_ts": st.sampled_from(["1.5", "x"]) | st.text(max_size=6),
        "files": st.lists(st.dictionaries(st.text(max_size=4), st.text(max_size=4)), max_size=2),
    }
)
SLACK_ACTION = some_of(
    {
        "type": st.just("block_actions"),
        "team": some_of({"id": st.just("T1")}),
        "user": some_of({"id": st.just("U1")}),
        "channel": some_of({"id": st.just("C1")}),
        "container": some_of({"message_ts": st.just("1.5"), "channel_id": st.just("C1")}),
        "message": some_of({"ts": st.just("1.5"), "thread_ts": st.just("1.0")}),
        "actions": st.lists(
            some_of(
                {
                    "action_id": st.sampled_from(["vote_up", "vote_down", "retry", "other"]),
                    "value": st.sampled_from(["1", "x", ""]) | st.text(max_size=5),
                    "block_id": st.text(max_size=4),
                }
            ),
            max_size=2,
        ),
    }
)
SLACK_COMMAND = some_of(
    {
        "command": st.sampled_from(["/replyloop", "/other"]),
        "text": st.sampled_from(["help", "reset", "stats", ""]) | st.text(max_size=10),
        "team_id": st.just("T1"),
        "user_id": st.just("U1"),
        "channel_id": st.sampled_from(["C1", "D1"]),
    }
)


def slack_body(kind: str, fields: dict[str, Any]) -> bytes:
    """An Events API body, or an interactive payload or slash command as Slack form-encodes
    them."""
    if kind == "event":
        return json.dumps(event_callback(fields)).encode()
    if kind == "action":
        return urllib.parse.urlencode({"payload": json.dumps(fields)}).encode()
    return urllib.parse.urlencode({k: str(v) for k, v in fields.items()}).encode()


def test_fuzzed_slack_requests_never_get_a_500(slack: Slack) -> None:
    statuses: set[int] = set()

    @FUZZ
    @given(
        st.tuples(st.just("event"), SLACK_EVENT)
        | st.tuples(st.just("action"), SLACK_ACTION)
        | st.tuples(st.just("command"), SLACK_COMMAND)
    )
    # Found by CI's derandomized run: Bolt's action matchers read actions[0]["action_id"].
    @example(("action", {"type": "block_actions", "actions": [None], "team": {"id": "T1"}}))
    def post(request: tuple[str, dict[str, Any]]) -> None:
        kind, fields = request
        form = "application/json" if kind == "event" else "application/x-www-form-urlencoded"
        status = slack.post(slack_body(kind, fields), content_type=form)
        statuses.add(status)
        assert status < 500, request

    post()
    assert all(200 <= status < 500 for status in statuses), statuses
    # Still serving: a well-formed mention is taken (its reply may queue behind the replies
    # to the fuzzed messages that were well-formed enough to be answered).
    event = {"type": "app_mention", "user": "U1", "text": f"<@{BOT_USER}> still there?"}
    assert slack.event({**event, "channel": new_channel(), "ts": "1700000000.000100"}) == 200
