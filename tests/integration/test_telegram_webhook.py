"""Telegram in webhook mode, with allowlists and an admin: `replyloop serve telegram
--webhook` sets its webhook on a fake Bot API (tests/fake_telegram.py), which then POSTs
each update to it as Telegram does; real gpu and io workers on Redis and PostgreSQL answer.
The `telegram_webhook` fixture (tests/integration/telegram_harness.py) lets ANN (the admin)
and BOB talk to the bot; CAROL is on no list.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from typing import Any

from bots.telegram.access import NOT_ALLOWED
from core.store.reports import feedback_stats
from tests.fake_telegram import TOKEN, chat
from tests.integration.adapters import oversized_status, standing_votes
from tests.integration.telegram_harness import (
    ANN,
    BOB,
    CAROL,
    MENU,
    WEBHOOK_SECRET,
    Telegram,
    group_chat,
    private_chat,
    wait_for,
)
from tests.integration.workers import replyloop


def update(chat_id: int, text: str, update_id: int, user: dict[str, Any] = ANN) -> dict[str, Any]:
    """A private message as Telegram posts it, its update_id chosen by the test."""
    message = {
        "message_id": 10_000 + update_id % 10_000,
        "date": int(time.time()),
        "chat": chat(chat_id),
        "from": user,
        "text": text,
    }
    return {"update_id": update_id, "message": message}


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), b""


def test_the_webhook_is_set_with_its_secret_and_the_update_types(
    telegram_webhook: Telegram,
) -> None:
    webhook = telegram_webhook.api.webhook
    assert webhook is not None
    assert webhook["url"] == telegram_webhook.webhook_url
    assert webhook["secret_token"] == WEBHOOK_SECRET
    assert webhook["allowed_updates"] == [
        "message",
        "edited_message",
        "callback_query",
        "message_reaction",
    ]
    assert not telegram_webhook.api.called("getUpdates")  # no polling beside it
    registered = telegram_webhook.api.called("setMyCommands")
    assert [c["command"] for c in registered[0].params["commands"]] == MENU


def test_healthz_answers_ok_and_other_paths_are_not_found(telegram_webhook: Telegram) -> None:
    assert telegram_webhook.webhook_url is not None
    base = telegram_webhook.webhook_url.removesuffix("/telegram/webhook")
    assert get(f"{base}/healthz") == (200, b"ok\n")
    assert get(f"{base}/elsewhere")[0] == 404
    assert get(telegram_webhook.webhook_url)[0] == 404  # GET: Telegram only POSTs


def test_a_wrong_or_missing_secret_is_refused_and_not_answered(
    telegram_webhook: Telegram,
) -> None:
    chat_id = private_chat()
    api = telegram_webhook.api
    assert api.post(update(chat_id, "let me in", 900_001), secret="wrong-secret") == 403
    assert api.post(update(chat_id, "let me in", 900_002), secret="") == 403
    time.sleep(3)
    assert api.sent(chat_id) == []
    assert not telegram_webhook.store.knows_chat("telegram", str(chat_id))
    logs = (telegram_webhook.home / "serve.log").read_text(errors="replace")
    assert "refused a webhook request" in logs
    assert WEBHOOK_SECRET not in logs and "wrong-secret" not in logs and TOKEN not in logs


def test_an_update_posted_with_the_secret_is_answered(telegram_webhook: Telegram) -> None:
    chat_id = private_chat()
    telegram_webhook.say(chat_id, "hello over the webhook")
    posted, turn = telegram_webhook.reply(chat_id)
    assert turn.prompt[-1] == {"role": "user", "content": "hello over the webhook"}
    assert turn.platform_message_id == f"{chat_id}:{posted['message_id']}"


def test_the_same_update_posted_twice_is_answered_once(telegram_webhook: Telegram) -> None:
    chat_id = private_chat()
    again = update(chat_id, "only once please", 900_100)
    assert telegram_webhook.api.post(again) == 200
    assert telegram_webhook.api.post(again) == 200  # Telegram's redelivery
    telegram_webhook.reply(chat_id)
    time.sleep(3)
    assert len(telegram_webhook.api.sent(chat_id)) == 1


def test_a_user_not_on_the_allowlist_gets_no_reply(telegram_webhook: Telegram) -> None:
    private, group = private_chat(), group_chat()
    telegram_webhook.say(private, "hello?", user=CAROL)
    refusal = wait_for("the refusal", lambda: telegram_webhook.notices(private))
    assert refusal == [NOT_ALLOWED]
    telegram_webhook.say(private, "hello again?", user=CAROL)  # refused once only
    telegram_webhook.mention(group, "and here?", user=CAROL)
    bob = private_chat()
    telegram_webhook.say(bob, "an allowed user meanwhile", user=BOB)
    wait_for("Bob's reply", lambda: telegram_webhook.replies(bob))
    time.sleep(2)
    assert telegram_webhook.notices(private) == [NOT_ALLOWED]
    assert telegram_webhook.replies(private) == []
    assert telegram_webhook.api.sent(group) == []
    assert not telegram_webhook.store.knows_chat("telegram", str(private))
    assert not telegram_webhook.store.knows_chat("telegram", str(group))


def test_stats_tells_an_admin_the_served_models_approval(telegram_webhook: Telegram) -> None:
    chat_id = group_chat()
    telegram_webhook.mention(chat_id, "rate this one")
    posted, turn = telegram_webhook.reply(chat_id)
    telegram_webhook.react(posted, [], ["👍"], user=BOB)
    wait_for("the 👍", lambda: standing_votes(telegram_webhook.store, turn.id))

    telegram_webhook.command(chat_id, "stats", user=ANN)
    said = wait_for(
        "the stats", lambda: [n for n in telegram_webhook.notices(chat_id) if "approval" in n]
    )
    replies = feedback_stats(telegram_webhook.store.engine, turn.model_version)[0].turns
    assert len(said) == 1
    assert re.fullmatch(
        rf"Model {re.escape(turn.model_version)}: approval 100% \(1 👍, 0 👎\) over "
        rf"{replies} repl(y|ies)\.",
        said[0],
    ), said


def test_stats_and_a_group_reset_are_refused_to_non_admins(telegram_webhook: Telegram) -> None:
    chat_id = group_chat()
    telegram_webhook.command(chat_id, "stats", user=BOB)
    telegram_webhook.command(chat_id, "reset", user=BOB)
    said = wait_for("both refusals", lambda: len(telegram_webhook.notices(chat_id)) >= 2 or None)
    assert said
    assert sorted(telegram_webhook.notices(chat_id)) == [
        "Only admins can use /reset here.",
        "Only admins can use /stats here.",
    ]
    time.sleep(1)
    assert len(telegram_webhook.notices(chat_id)) == 2


def test_a_press_or_reaction_by_someone_not_allowed_is_not_a_vote(
    telegram_webhook: Telegram,
) -> None:
    chat_id = group_chat()
    telegram_webhook.mention(chat_id, "rate me if you may")
    posted, turn = telegram_webhook.reply(chat_id)
    query_id = telegram_webhook.press(posted, 1, user=CAROL)
    telegram_webhook.react(posted, [], ["👎"], user=CAROL)
    telegram_webhook.press(posted, 0, user=BOB)  # allowed: this one counts
    answered = wait_for(
        "Carol's toast",
        lambda: telegram_webhook.api.called("answerCallbackQuery", callback_query_id=query_id),
    )
    assert [call.params["text"] for call in answered] == [NOT_ALLOWED]
    wait_for("Bob's 👍", lambda: standing_votes(telegram_webhook.store, turn.id))
    time.sleep(1)
    assert standing_votes(telegram_webhook.store, turn.id) == [(str(BOB["id"]), 1)]


def test_webhook_mode_without_a_secret_is_refused_in_one_line(
    telegram_webhook: Telegram,
) -> None:
    env = {k: v for k, v in telegram_webhook.env.items() if k != "TELEGRAM_WEBHOOK_SECRET"}
    done = replyloop(
        "serve",
        "telegram",
        "--webhook",
        "https://bot.example.com/hook",
        env=env,
        cwd=telegram_webhook.home,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "replyloop: set TELEGRAM_WEBHOOK_SECRET for --webhook: Telegram sends it with every "
        "update, and requests without it are refused"
    ]


def test_a_body_over_one_mib_is_refused_before_it_is_read(telegram_webhook: Telegram) -> None:
    assert telegram_webhook.webhook_url is not None
    assert oversized_status(telegram_webhook.webhook_url) == 413
