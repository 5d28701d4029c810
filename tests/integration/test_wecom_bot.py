"""WeCom's smart bot end to end: `replyloop serve wecom` gets JSON callbacks encrypted and
signed as WeCom does (wechatpy's primitives, used here independently of bots.wecom), answers
with stream frames and WeCom's polls, while real gpu and io workers on Redis and PostgreSQL
make the reply; WeCom's 👍/👎 feedback events become votes in the export.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from wechatpy.crypto import _get_signature
from wechatpy.enterprise.crypto import PrpCrypto

from core.store import Store
from core.store.schema import conversations, messages, turns
from tests.integration.adapters import (
    adapter,
    export,
    free_port,
    http_call,
    http_ok,
    platform_stack,
    standing_votes,
    wait_for,
)
from tests.integration.fuzzing import FUZZ, some_of

TOKEN = "botToken456"
AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210abcdefg"  # 43 characters
BOT_ID = "aibot-test"
CORP_ID = "ww-bot-corp"


@dataclass
class Bot:
    base: str
    store: Store
    env: dict[str, str]
    home: Path

    def _seal(self, plain: str, age_s: int = 0) -> tuple[dict[str, str], str]:
        """(query, encrypt) of a callback carrying `plain`, signed `age_s` seconds ago."""
        key = base64.b64decode(AES_KEY + "=")
        encrypted = PrpCrypto(key).encrypt(plain, "")
        encrypted = encrypted.decode() if isinstance(encrypted, bytes) else encrypted
        stamp, nonce = str(int(time.time()) - age_s), secrets.token_hex(8)
        query = {
            "msg_signature": _get_signature(TOKEN, stamp, nonce, encrypted),
            "timestamp": stamp,
            "nonce": nonce,
        }
        return query, encrypted

    def request(
        self, method: str, query: dict[str, str], body: bytes | None = None
    ) -> tuple[int, bytes]:
        return http_call(method, f"{self.base}/wecom/bot", query, body)

    def post(self, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Send a callback as WeCom does; its decrypted passive reply (None: empty)."""
        query, encrypted = self._seal(json.dumps(fields, ensure_ascii=False))
        status, body = self.request("POST", query, json.dumps({"encrypt": encrypted}).encode())
        assert status == 200, status
        if not body:
            return None
        envelope = json.loads(body)
        assert envelope["nonce"] == query["nonce"]  # WeCom wants the callback's nonce back
        signed = _get_signature(
            TOKEN, str(envelope["timestamp"]), query["nonce"], envelope["encrypt"]
        )
        assert envelope["msgsignature"] == signed
        key = base64.b64decode(AES_KEY + "=")
        reply: dict[str, Any] = json.loads(PrpCrypto(key).decrypt(envelope["encrypt"], ""))
        return reply

    def say(
        self,
        text: str,
        user: str,
        chat: str | None = None,
        msg_id: str | None = None,
        response_url: str = "http://127.0.0.1:9/unused",
    ) -> dict[str, Any]:
        """`user` says `text` (in group `chat`, or a single chat): the first frame."""
        fields = _callback(user, chat, "text", {"content": text}, msg_id)
        return self._streamed({**fields, "response_url": response_url})

    def poll(self, stream_id: str, user: str, chat: str | None = None) -> dict[str, Any]:
        """WeCom's stream refresh: the frame it gets."""
        return dict(self._streamed(_callback(user, chat, "stream", {"id": stream_id}))["stream"])

    def _streamed(self, fields: dict[str, Any]) -> dict[str, Any]:
        reply = self.post(fields)
        assert reply is not None and reply["msgtype"] == "stream"
        return reply

    def frames_until_finished(
        self, stream_id: str, user: str, chat: str | None = None
    ) -> list[dict[str, Any]]:
        """Poll as WeCom does (it asks about once a second; faster here) until finished;
        the test fails when the stream stood still for 60 s (not after 60 s in all: a
        loaded machine makes the reply slower, not stuck)."""
        frames: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            frames.append(self.poll(stream_id, user, chat))
            if frames[-1]["finish"]:
                return frames
            if len(frames) > 1 and frames[-1]["content"] != frames[-2]["content"]:
                deadline = time.monotonic() + 60
            time.sleep(0.1)
        raise AssertionError(f"stream {stream_id} stood still for 60 s: {frames[-3:]}")

    def feedback(self, feedback_id: str, user: str, kind: int, **more: Any) -> None:
        fields = {
            "msgid": secrets.token_hex(8),
            "create_time": int(time.time()),
            "aibotid": BOT_ID,
            "chattype": "single",
            "from": {"userid": user},
            "msgtype": "event",
            "event": {
                "eventtype": "feedback_event",
                "feedback_event": {"id": feedback_id, "type": kind, **more},
            },
        }
        assert self.post(fields) is None  # WeCom takes only an empty answer to feedback

    def turn_of(self, stream_id: str) -> int | None:
        """The stored reply delivered on a stream (its feedback id), once it is."""
        with self.store.engine.connect() as conn:
            found = conn.execute(
                select(turns.c.id).where(turns.c.platform_message_id == stream_id)
            ).scalar()
        return int(found) if found is not None else None


@pytest.fixture(scope="module")
def bot(
    worker_broker: str, tiny_model: Path, pg_admin: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bot]:
    home = tmp_path_factory.mktemp("wecom-bot")
    settings = dict(WECOM_BOT_TOKEN=TOKEN, WECOM_BOT_AES_KEY=AES_KEY, WECOM_CORP_ID=CORP_ID)
    with platform_stack(pg_admin, worker_broker, tiny_model, home, **settings) as stack:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        args = ["serve", "wecom", "--host", "127.0.0.1", "--port", str(port)]
        with adapter(args, stack.env, home, home / "serve.log", lambda: http_ok(f"{base}/healthz")):
            yield Bot(base, stack.store, stack.env, home)


def _callback(
    user: str, chat: str | None, kind: str, content: dict[str, Any], msg_id: str | None = None
) -> dict[str, Any]:
    """A smart-bot callback's fields: a group's if `chat`, else a single chat's."""
    fields: dict[str, Any] = {
        "msgid": msg_id or secrets.token_hex(8),
        "aibotid": BOT_ID,
        "chattype": "group" if chat else "single",
        "from": {"userid": user},
        "msgtype": kind,
        kind: content,
    }
    if chat:
        fields["chatid"] = chat
    return fields


def _user() -> str:
    return "user-" + secrets.token_hex(4)


def test_the_url_check_echoes_and_a_bad_signature_is_refused(bot: Bot) -> None:
    query, encrypted = bot._seal("echo-2024")
    assert bot.request("GET", {**query, "echostr": encrypted}) == (200, b"echo-2024")
    assert bot.request("GET", {**query, "echostr": encrypted, "msg_signature": "0" * 40})[0] == 403


def test_a_group_mention_is_streamed_until_finished(bot: Bot) -> None:
    user, chat = _user(), "group-" + secrets.token_hex(4)
    first = bot.say("@replyloop 今天天气怎么样？", user, chat)["stream"]
    # Answered before the reply was made (WeCom gives a callback 5 s), at any speed: the
    # first frame is not the finished reply.
    assert first["finish"] is False and first["id"]
    assert first["feedback"] == {"id": first["id"]}  # WeCom's 👍/👎 will name it

    frames = bot.frames_until_finished(first["id"], user, chat)
    final = frames[-1]["content"]
    assert final and all(final.startswith(f["content"]) for f in frames)
    turn = bot.store.turn(wait_for("the delivered mark", lambda: bot.turn_of(first["id"])))
    assert turn.completion == final
    assert turn.chat_key == f"bot/{BOT_ID}/{chat}"
    assert turn.prompt[-1] == {"role": "user", "content": f"{user}: 今天天气怎么样？"}
    assert bot.poll(first["id"], user, chat) == frames[-1]  # a late poll: the same ending


def test_the_same_message_three_times_is_one_stream_and_one_reply(bot: Bot) -> None:
    user = _user()
    frames = [bot.say("once only", user, msg_id="dup-msg-1")["stream"] for _ in range(3)]
    assert len({f["id"] for f in frames}) == 1
    bot.frames_until_finished(frames[0]["id"], user)
    with bot.store.engine.connect() as conn:
        stored = conn.execute(
            select(messages.c.id)
            .join(conversations, conversations.c.id == messages.c.conversation_id)
            .where(conversations.c.chat_key == f"bot/{BOT_ID}/single/{user}")
        ).all()
    assert len(stored) == 1


def test_a_dislike_with_reasons_is_exported_and_cancel_retracts_it(
    bot: Bot, tmp_path: Path
) -> None:
    user = _user()
    stream = bot.say("explain PPO briefly", user)["stream"]["id"]
    bot.frames_until_finished(stream, user)
    turn_id = wait_for("the delivered mark", lambda: bot.turn_of(stream))
    rated_by = f"{CORP_ID}:{user}"

    bot.feedback(stream, user, 2, content="太短了", inaccurate_reason_list=[2, 3])
    assert wait_for("the 👎", lambda: standing_votes(bot.store, turn_id)) == [(rated_by, -1)]
    row = next(
        r for r in export(bot.env, bot.home, tmp_path / "raw.jsonl") if r["turn_id"] == turn_id
    )
    assert (row["platform"], row["up"], row["down"]) == ("wecom", 0, 1)
    reasons = row["raters"][0]["reasons"]
    assert reasons["codes"] == [2, 3] and reasons["text"] == "太短了"

    time.sleep(1.1)  # WeCom's create_time is in seconds: the cancel comes later
    bot.feedback(stream, user, 3)
    wait_for("the retraction", lambda: standing_votes(bot.store, turn_id) == [(rated_by, 0)])
    time.sleep(1.1)
    bot.feedback(stream, user, 1)
    wait_for("the 👍", lambda: standing_votes(bot.store, turn_id) == [(rated_by, 1)])


def test_a_like_while_the_reply_still_streams_is_kept(bot: Bot) -> None:
    """WeCom shows 👍/👎 under a reply as it streams: a vote before the reply is stored
    waits for it instead of being dropped."""
    user = _user()
    stream = bot.say("rate me before you finish", user)["stream"]["id"]
    bot.feedback(stream, user, 1)  # before any poll: the reply is not delivered yet
    bot.frames_until_finished(stream, user)
    turn_id = wait_for("the delivered mark", lambda: bot.turn_of(stream))
    assert wait_for("the 👍", lambda: standing_votes(bot.store, turn_id)) == [
        (f"{CORP_ID}:{user}", 1)
    ]


def test_an_image_gets_a_text_only_answer_and_enter_chat_a_welcome(bot: Bot) -> None:
    user = _user()
    reply = bot.post(
        {
            "msgid": secrets.token_hex(8),
            "aibotid": BOT_ID,
            "chattype": "single",
            "from": {"userid": user},
            "msgtype": "image",
            "image": {"url": "https://example.invalid/x.png"},
        }
    )
    assert reply is not None and reply["stream"]["finish"] is True
    assert "I can only read text" in reply["stream"]["content"]
    welcome = bot.post(
        {
            "msgid": secrets.token_hex(8),
            "create_time": int(time.time()),
            "aibotid": BOT_ID,
            "from": {"userid": user},
            "msgtype": "event",
            "event": {"eventtype": "enter_chat"},
        }
    )
    assert welcome is not None and welcome["msgtype"] == "text"


def test_bad_signatures_and_malformed_callbacks_are_refused(bot: Bot) -> None:
    query, encrypted = bot._seal(json.dumps({"msgid": "x", "msgtype": "text"}))
    body = json.dumps({"encrypt": encrypted}).encode()
    assert bot.request("POST", {**query, "msg_signature": "f" * 40}, body)[0] == 403
    assert bot.request("POST", query, b"not json")[0] == 400
    query, encrypted = bot._seal("not json inside")
    assert bot.request("POST", query, json.dumps({"encrypt": encrypted}).encode())[0] == 400
    user = _user()
    stream = bot.say("still there?", user)["stream"]["id"]
    assert bot.frames_until_finished(stream, user)[-1]["content"]


def test_a_callback_signed_long_ago_is_refused_as_a_replay(bot: Bot) -> None:
    """A captured callback replayed once its message id was forgotten by the duplicate
    check would be taken as new: one signed more than five minutes ago is refused."""
    user, msg_id = _user(), secrets.token_hex(8)
    fields = {**_callback(user, None, "text", {"content": "replayed?"}, msg_id)}
    query, encrypted = bot._seal(json.dumps(fields), age_s=600)
    assert bot.request("POST", query, json.dumps({"encrypt": encrypted}).encode())[0] == 403
    query, encrypted = bot._seal("echo-old", age_s=600)
    assert bot.request("GET", {**query, "echostr": encrypted})[0] == 403
    with bot.store.engine.connect() as conn:
        stored = conn.execute(select(messages.c.id).where(messages.c.text.contains("replayed?")))
        assert stored.first() is None
    query, encrypted = bot._seal("echo-now", age_s=60)  # a clock a minute behind is fine
    assert bot.request("GET", {**query, "echostr": encrypted}) == (200, b"echo-now")


def test_the_bot_s_secrets_never_reach_the_logs(bot: Bot) -> None:
    bot.say("hello", _user())
    logs = (bot.home / "serve.log").read_text(errors="replace")
    assert "WeCom callbacks on" in logs  # the log is there, and read
    for secret in (TOKEN, AES_KEY):
        assert secret not in logs


BOT_CALLBACK = some_of(
    {
        "msgid": st.text(max_size=12),
        "aibotid": st.just(BOT_ID),
        "chattype": st.sampled_from(["single", "group"]),
        "chatid": st.text(max_size=8),
        "from": some_of({"userid": st.text(max_size=8)}),
        "msgtype": st.sampled_from(["text", "stream", "event", "image", "mixed", "voice"]),
        "text": some_of({"content": st.text(max_size=20)}),
        "stream": some_of({"id": st.text(max_size=8)}),
        "event": some_of(
            {
                "eventtype": st.sampled_from(["enter_chat", "feedback_event", "template_card"]),
                "feedback_event": some_of({"id": st.text(max_size=8), "type": st.integers(0, 3)}),
            }
        ),
        "response_url": st.text(max_size=20),
    }
)


def test_fuzzed_smart_bot_callbacks_never_get_a_500(bot: Bot) -> None:
    """Validly sealed callbacks whose JSON is anything but what WeCom sends: a 2xx or 4xx
    each (WeCom retries a 5xx), and the bot still streams a reply afterwards."""
    statuses: set[int] = set()

    @FUZZ
    @given(BOT_CALLBACK)
    def post(fields: dict[str, Any]) -> None:
        query, encrypted = bot._seal(json.dumps(fields))
        status, _body = bot.request("POST", query, json.dumps({"encrypt": encrypted}).encode())
        statuses.add(status)
        assert status < 500, fields

    post()
    assert all(200 <= status < 500 for status in statuses), statuses
    assert bot.say("still there?", _user())["stream"]["id"]  # still serving: a stream starts
