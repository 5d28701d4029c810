"""Telegram replies shown while they are written: `replyloop serve telegram` with
REPLYLOOP_TELEGRAM_STREAM on, real gpu and io workers on a tiny model whose greedy replies
run to REPLYLOOP_MAX_NEW_TOKENS (tests/integration/conftest.py's `endless_model`: 3.5 s
and more each), and the fake Bot API recording every message and edit with its time. A
long reply's parts are checked on the delivery's own function against the fake.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from bots.dedupe import Dedupe
from bots.streaming.pacing import MARK
from bots.telegram.api import BotApi
from bots.telegram.delivery import edit_text, send_reply
from bots.telegram.keyboard import keyboard
from bots.telegram.split import split_reply
from core.types import Delivery, Turn
from tests.fake_http import Call
from tests.fake_telegram import TOKEN, fake_telegram
from tests.fake_telegram import BotApi as FakeBotApi
from tests.integration.telegram_harness import (
    Telegram,
    group_chat,
    private_chat,
    served_telegram,
    wait_for,
    webhook_adapter,
)

EVERY_S, GROUP_EVERY_S = 1.0, 3.0
JITTER_S = 0.1  # leeway for times read in two processes (both time.monotonic)
RETRY_AFTER_S = 2
# 1,500 tokens take 3.5 s here when the machine is idle; much longer when it is not.
REPLY_WAIT_S = 180.0
STREAMING = dict(
    REPLYLOOP_MAX_NEW_TOKENS="1500",
    REPLYLOOP_TEMPERATURE="0",
    REPLYLOOP_TELEGRAM_STREAM_EVERY_S=str(EVERY_S),
    REPLYLOOP_TELEGRAM_STREAM_GROUP_EVERY_S=str(GROUP_EVERY_S),
)


@pytest.fixture(scope="module")
def telegram(
    worker_broker: str,
    endless_model: Path,
    pg_admin: Engine,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Telegram]:
    home = tmp_path_factory.mktemp("telegram-streaming")
    with served_telegram(worker_broker, endless_model, pg_admin, home, **STREAMING) as served:
        yield served


def stream_of(telegram: Telegram, chat_id: int) -> tuple[Call, list[Call]]:
    """The first message the bot sent in a chat (the streamed one), and every edit of its
    text, in order."""
    post = telegram.api.called("sendMessage", chat_id=chat_id)[0]
    message_id = telegram.api.sent(chat_id)[0]["message_id"]
    edits = telegram.api.called("editMessageText", chat_id=chat_id, message_id=message_id)
    return post, edits


def previews(post: Call, edits: list[Call]) -> list[Call]:
    """The streamer's calls: the message, and the edits before the final one."""
    return [post, *[e for e in edits if not e.params.get("reply_markup")]]


def assert_grows_into(shown: list[Call], turn: Turn, every_s: float) -> None:
    """Each preview is the reply so far with the mark, says more than the one before, and
    came no sooner than `every_s` after it."""
    texts = [str(c.params["text"]) for c in shown]
    assert all(t.endswith(MARK) for t in texts), texts
    so_far = [t.removesuffix(MARK) for t in texts]
    assert all(turn.completion.startswith(t) for t in so_far)
    assert all(len(a) < len(b) for a, b in zip(so_far, so_far[1:], strict=False))
    for before, after in zip(shown, shown[1:], strict=False):
        assert after.at - before.at >= every_s - JITTER_S


def assert_rated(final: Call, turn: Turn) -> None:
    assert final.params["text"] == turn.completion
    assert final.params["reply_markup"] == keyboard(turn.id)


def test_a_private_reply_is_one_message_that_grows_into_the_rated_reply(
    telegram: Telegram,
) -> None:
    chat_id = private_chat()
    telegram.say(chat_id, "tell me all about it")
    posted, turn = telegram.reply(chat_id, timeout=REPLY_WAIT_S)
    post, edits = stream_of(telegram, chat_id)
    shown = previews(post, edits)
    assert len(shown) >= 2, "no edit while the reply was written"
    assert_grows_into(shown, turn, EVERY_S)
    assert_rated(edits[-1], turn)
    assert len(telegram.api.called("sendMessage", chat_id=chat_id)) == 1
    assert turn.platform_message_id == f"{chat_id}:{posted['message_id']}"
    assert telegram.now(posted)["text"] == turn.completion


def test_a_group_reply_quotes_the_mention_and_is_edited_every_three_seconds(
    telegram: Telegram,
) -> None:
    chat_id = group_chat()
    said = telegram.mention(chat_id, "what is new?")
    _posted, turn = telegram.reply(chat_id, timeout=REPLY_WAIT_S)
    post, edits = stream_of(telegram, chat_id)
    assert post.params["reply_parameters"]["message_id"] == said["message_id"]
    assert_grows_into(previews(post, edits), turn, GROUP_EVERY_S)
    assert_rated(edits[-1], turn)


def test_flood_control_on_an_edit_holds_edits_off_for_retry_after(telegram: Telegram) -> None:
    chat_id = private_chat()
    telegram.say(chat_id, "and what else?")
    post = wait_for(
        "the streamed message",
        lambda: telegram.api.called("sendMessage", chat_id=chat_id),
        REPLY_WAIT_S,
    )[0]
    limited_at = time.monotonic()
    telegram.api.fail("editMessageText", 429, retry_after=RETRY_AFTER_S)
    _posted, turn = telegram.reply(chat_id, timeout=REPLY_WAIT_S)
    _post, edits = stream_of(telegram, chat_id)
    refused = next(e for e in edits if e.at >= limited_at)  # the one answered 429
    after = [e for e in previews(post, edits) if e.at > refused.at]
    assert all(e.at - refused.at >= RETRY_AFTER_S - JITTER_S for e in after)
    assert_rated(edits[-1], turn)  # the reply came whole all the same


def test_with_streaming_off_the_reply_is_sent_once_whole(telegram: Telegram) -> None:
    with webhook_adapter(telegram, "serve-off.log", REPLYLOOP_TELEGRAM_STREAM="false") as off:
        chat_id = private_chat()
        off.say(chat_id, "no streaming here")
        posted, turn = off.reply(chat_id, timeout=REPLY_WAIT_S)
    sent = telegram.api.called("sendMessage", chat_id=chat_id)
    assert [s.params["text"] for s in sent] == [turn.completion]
    assert sent[0].params["reply_markup"] == keyboard(turn.id)
    assert telegram.api.called("editMessageText", chat_id=chat_id) == []
    assert turn.platform_message_id == f"{chat_id}:{posted['message_id']}"


# -- the final delivery's edit, on its own --------------------------------------------------


@pytest.fixture
def bot(redis_url: str) -> Iterator[tuple[BotApi, Dedupe, FakeBotApi]]:
    """The delivery's Bot API client and its part claims, and a fake Bot API of this test's
    own that they talk to."""
    with fake_telegram() as (fake, api_url), httpx.Client(timeout=5) as http:
        yield BotApi(TOKEN, api_url, http), Dedupe(redis_url, 60), fake


def streamed_preview(client: BotApi, chat_id: int) -> str:
    """A message as the streamer leaves it: the start of the reply, with the mark."""
    sent = client.call("sendMessage", {"chat_id": chat_id, "text": "A sentence" + MARK})
    return f"{chat_id}:{sent['message_id']}"


def long_reply(chat_id: int) -> Delivery:
    text = ("A sentence that goes on. " * 400).strip()  # about 10,000 characters: 3 parts
    turn_id = 10**9 + secrets.randbelow(10**9)  # part claims of its own
    return Delivery(turn_id=turn_id, message_id=1, chat_key=str(chat_id), text=text)


def test_a_long_streamed_reply_becomes_its_first_part_and_the_rest_follow(
    bot: tuple[BotApi, Dedupe, FakeBotApi],
) -> None:
    client, sent, fake = bot
    chat_id = private_chat()
    streamed = streamed_preview(client, chat_id)
    reply = long_reply(chat_id)
    posted = send_reply(client, sent, reply, None, streamed)
    parts = split_reply(reply["text"])
    messages = fake.sent(chat_id)
    assert len(parts) == 3
    assert [m["text"] for m in messages] == parts
    assert f"{chat_id}:{messages[0]['message_id']}" == streamed  # edited, not sent again
    assert [bool(m.get("reply_markup")) for m in messages] == [False, False, True]
    assert messages[-1]["reply_markup"] == keyboard(reply["turn_id"])
    assert posted == f"{chat_id}:{messages[-1]['message_id']}"
    calls = len(fake.calls)
    assert send_reply(client, sent, reply, None, streamed) == posted  # the task ran again
    assert len(fake.calls) == calls
    assert edit_text(client, streamed, parts[0], None)  # "not modified" counts as made


def test_a_streamed_message_deleted_meanwhile_is_sent_anew(
    bot: tuple[BotApi, Dedupe, FakeBotApi],
) -> None:
    client, sent, fake = bot
    chat_id = private_chat()
    turn_id = 10**9 + secrets.randbelow(10**9)
    reply = Delivery(turn_id=turn_id, message_id=1, chat_key=str(chat_id), text="Short.")
    posted = send_reply(client, sent, reply, None, f"{chat_id}:999999")
    assert [m["text"] for m in fake.sent(chat_id)] == ["Short."]
    assert posted == f"{chat_id}:{fake.sent(chat_id)[0]['message_id']}"
