"""WeCom's self-built app end to end: `replyloop serve wecom` gets callbacks signed and
encrypted with real wechatpy crypto; real gpu and io workers on Redis and PostgreSQL answer
through the real wechatpy client, pointed at a fake WeCom API on 127.0.0.1
(tests/fake_wecom.py).
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.parser import xmltodict

from core.store import Store
from core.store.schema import conversations, messages, turns
from core.types import Turn
from tests.fake_wecom import CORP_ID, SECRET, WeComApi, fake_wecom
from tests.integration.adapters import (
    adapter,
    export,
    free_port,
    http_call,
    http_ok,
    oversized_status,
    platform_stack,
    standing_votes,
    wait_for,
)
from tests.integration.fuzzing import FUZZ, some_of
from tests.integration.workers import (
    Workers,
    replyloop,
)

TOKEN = "callbackToken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeCom makes them
AGENT_ID = 1000002


@dataclass
class WeCom:
    api: WeComApi
    base: str
    store: Store
    workers: Workers
    env: dict[str, str]
    home: Path
    crypto: WeChatCrypto

    def request(
        self, method: str, query: dict[str, str], body: bytes | None = None
    ) -> tuple[int, bytes]:
        return http_call(method, f"{self.base}/wecom/app", query, body)

    def callback(
        self, fields: dict[str, Any], corp: str = CORP_ID, age_s: int = 0
    ) -> tuple[dict[str, str], bytes]:
        """(query, body) of an encrypted callback carrying `fields`, as WeCom sends it
        (signed `age_s` seconds ago)."""
        inner = {
            "ToUserName": corp,
            "AgentID": str(AGENT_ID),
            "CreateTime": str(int(time.time())),
            **fields,
        }
        xml = xmltodict.unparse({"xml": inner}, full_document=False)
        crypto = self.crypto if corp == CORP_ID else WeChatCrypto(TOKEN, AES_KEY, corp)
        nonce = secrets.token_hex(8)
        stamp = int(time.time()) - age_s
        envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, stamp))["xml"]
        query = {
            "msg_signature": envelope["MsgSignature"],
            "timestamp": envelope["TimeStamp"],
            "nonce": nonce,
        }
        body = xmltodict.unparse(
            {"xml": {"ToUserName": corp, "AgentID": str(AGENT_ID), "Encrypt": envelope["Encrypt"]}},
            full_document=False,
        ).encode()
        return query, body

    def say(self, user: str, text: str, msg_id: str | None = None) -> int:
        fields = {
            "FromUserName": user,
            "MsgType": "text",
            "Content": text,
            "MsgId": msg_id or secrets.token_hex(8),
        }
        query, body = self.callback(fields)
        return self.request("POST", query, body)[0]

    def texts_to(self, user: str) -> list[str]:
        return [m["text"]["content"] for m in self.api.sent_to(user) if m.get("msgtype") == "text"]

    def cards_to(self, user: str) -> list[dict[str, Any]]:
        sent = self.api.sent_to(user)
        return [m["template_card"] for m in sent if m.get("msgtype") == "template_card"]

    def press(self, user: str, key: str, code: str) -> int:
        """`user` presses the rating card's button `key`; WeCom gives the event `code`."""
        fields = {
            "FromUserName": user,
            "MsgType": "event",
            "Event": "template_card_event",
            "EventKey": key,
            "TaskId": key.split(":")[-1],
            "CardType": "button_interaction",
            "ResponseCode": code,
        }
        query, body = self.callback(fields)
        return self.request("POST", query, body)[0]


@pytest.fixture(scope="module")
def wecom(
    worker_broker: str, tiny_model: Path, pg_admin: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WeCom]:
    home = tmp_path_factory.mktemp("wecom")
    with fake_wecom() as (api, api_url):
        settings = dict(
            WECOM_CORP_ID=CORP_ID,
            WECOM_AGENT_ID=str(AGENT_ID),
            WECOM_SECRET=SECRET,
            WECOM_TOKEN=TOKEN,
            WECOM_AES_KEY=AES_KEY,
            WECOM_API_URL=api_url,
        )
        with platform_stack(pg_admin, worker_broker, tiny_model, home, **settings) as stack:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            args = ["serve", "wecom", "--host", "127.0.0.1", "--port", str(port)]
            with adapter(
                args, stack.env, home, home / "serve.log", lambda: http_ok(f"{base}/healthz")
            ):
                crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
                yield WeCom(api, base, stack.store, stack.workers, stack.env, home, crypto)


def _user() -> str:
    return "user-" + secrets.token_hex(4)


def test_the_url_check_echoes_and_a_bad_signature_is_refused(wecom: WeCom) -> None:
    nonce, stamp = "nonce123", str(int(time.time()))
    envelope = xmltodict.parse(wecom.crypto.encrypt_message("echo-4711", nonce, stamp))["xml"]
    query = {
        "msg_signature": envelope["MsgSignature"],
        "timestamp": stamp,
        "nonce": nonce,
        "echostr": envelope["Encrypt"],
    }
    assert wecom.request("GET", query) == (200, b"echo-4711")
    assert wecom.request("GET", {**query, "msg_signature": "0" * 40})[0] == 403


def test_a_text_message_is_answered_at_once_and_the_reply_sent(wecom: WeCom) -> None:
    user = _user()
    assert wecom.say(user, "你好，请介绍一下你自己") == 200
    answered = time.monotonic()
    send = wait_for("the reply", lambda: wecom.api.sends_to(user))[0]
    # The callback answered before the reply reached WeCom (it must within WeCom's 5 s,
    # whatever the model takes): an order, not a time limit, so it holds at any speed.
    assert answered < send.at
    sent = send.body
    assert sent["agentid"] == AGENT_ID and sent["msgtype"] == "text"
    assert sent["enable_duplicate_check"] == 1
    turn = wait_for("the delivered mark", lambda: _delivered(wecom, user))
    assert turn.prompt[-1] == {"role": "user", "content": "你好，请介绍一下你自己"}
    card = wait_for("the rating card", lambda: wecom.cards_to(user))[0]
    assert card["card_type"] == "button_interaction"
    keys = [button["key"] for button in card["button_list"]]
    assert keys == [f"up:{turn.id}", f"down:{turn.id}", f"retry:{turn.id}"]


def _delivered(wecom: WeCom, user: str) -> Turn | None:
    """The user's reply once it is marked delivered."""
    query = (
        select(turns.c.id)
        .join(conversations, conversations.c.id == turns.c.conversation_id)
        .where(
            conversations.c.platform == "wecom",
            conversations.c.chat_key == f"{CORP_ID}/{AGENT_ID}/{user}",
            turns.c.platform_message_id.is_not(None),
        )
    )
    with wecom.store.engine.connect() as conn:
        found = conn.execute(query).scalar()
    return wecom.store.turn(found) if found else None


def test_the_same_callback_three_times_gets_one_reply(wecom: WeCom) -> None:
    user = _user()
    query, body = wecom.callback(
        {"FromUserName": user, "MsgType": "text", "Content": "once", "MsgId": "77001"}
    )
    for _ in range(3):
        assert wecom.request("POST", query, body)[0] == 200
    wait_for("the reply and its card", lambda: wecom.cards_to(user))
    time.sleep(1.5)
    assert len(wecom.texts_to(user)) == 1 and len(wecom.cards_to(user)) == 1


def test_a_card_press_is_a_vote_in_the_export_and_the_card_shows_it(
    wecom: WeCom, tmp_path: Path
) -> None:
    user = _user()
    wecom.say(user, "rate me")
    turn = wait_for("the delivered reply", lambda: _delivered(wecom, user))
    wait_for("the rating card", lambda: wecom.cards_to(user))
    rated_by = f"{CORP_ID}:{user}"

    assert wecom.press(user, f"up:{turn.id}", "code-1") == 200
    assert wait_for("the 👍", lambda: standing_votes(wecom.store, turn.id)) == [(rated_by, 1)]
    update = wait_for("the card update", lambda: _card_updates(wecom, "code-1"))[0]
    assert update["userids"] == [user] and update["agentid"] == AGENT_ID
    assert "👍" in update["template_card"]["sub_title_text"]
    assert update["template_card"]["task_id"] == f"replyloop-turn-{turn.id}"

    rows = export(wecom.env, wecom.home, tmp_path / "raw.jsonl")
    row = next(r for r in rows if r["turn_id"] == turn.id)
    assert (row["platform"], row["up"], row["down"]) == ("wecom", 1, 0)
    assert [r["vote"] for r in row["raters"]] == [1]

    time.sleep(1.1)  # the next press comes a second later (events are told apart by it)
    assert wecom.press(user, f"down:{turn.id}", "code-2") == 200
    wait_for("the switch", lambda: standing_votes(wecom.store, turn.id) == [(rated_by, -1)])
    wait_for("the second card update", lambda: _card_updates(wecom, "code-2"))


def test_retry_on_the_card_sends_a_sibling_reply_once(wecom: WeCom) -> None:
    user = _user()
    wecom.say(user, "say it another way")
    turn = wait_for("the delivered reply", lambda: _delivered(wecom, user))
    wait_for("the rating card", lambda: wecom.cards_to(user))
    for _ in range(3):  # WeCom's retries of one event
        assert wecom.press(user, f"retry:{turn.id}", "code-retry") == 200
    wait_for("the sibling reply", lambda: len(wecom.cards_to(user)) == 2)
    time.sleep(1.5)
    assert len(wecom.texts_to(user)) == 2 and len(wecom.cards_to(user)) == 2
    siblings = _turns_of(wecom, turn.message_id)
    assert len(siblings) == 2
    assert (
        "重新生成"
        in wait_for("the update", lambda: _card_updates(wecom, "code-retry"))[0]["template_card"][
            "sub_title_text"
        ]
    )


def test_a_press_with_a_key_not_ours_is_ignored(wecom: WeCom) -> None:
    user = _user()
    assert wecom.press(user, "approve:12", "code-x") == 200
    assert wecom.press(user, "up:not-a-number", "code-y") == 200
    time.sleep(1)
    assert not _card_updates(wecom, "code-x") and not _card_updates(wecom, "code-y")


def _card_updates(wecom: WeCom, code: str) -> list[dict[str, Any]]:
    updates = wecom.api.called("message/update_template_card")
    return [c.body for c in updates if c.ok and c.body.get("response_code") == code]


def _turns_of(wecom: WeCom, message_id: int) -> list[int]:
    with wecom.store.engine.connect() as conn:
        found = conn.execute(select(turns.c.id).where(turns.c.message_id == message_id))
        return [row.id for row in found]


def test_a_bad_signature_or_another_corp_is_refused_and_nothing_stored(wecom: WeCom) -> None:
    user = _user()
    query, body = wecom.callback(
        {"FromUserName": user, "MsgType": "text", "Content": "forged", "MsgId": "1"}
    )
    assert wecom.request("POST", {**query, "msg_signature": "f" * 40}, body)[0] == 403
    query, body = wecom.callback(
        {"FromUserName": user, "MsgType": "text", "Content": "elsewhere", "MsgId": "2"},
        corp="ww-other",
    )
    assert wecom.request("POST", query, body)[0] == 403
    time.sleep(1)
    assert not wecom.store.knows_chat("wecom", f"{CORP_ID}/{AGENT_ID}/{user}")
    assert not wecom.store.knows_chat("wecom", f"ww-other/{AGENT_ID}/{user}")


def test_an_image_gets_a_text_only_reply(wecom: WeCom) -> None:
    user = _user()
    query, body = wecom.callback(
        {
            "FromUserName": user,
            "MsgType": "image",
            "PicUrl": "http://x/y.png",
            "MediaId": "m",
            "MsgId": "3",
        }
    )
    assert wecom.request("POST", query, body)[0] == 200
    texts = wait_for("the notice", lambda: wecom.texts_to(user))
    assert "I can only read text" in texts[0]


def test_an_expired_token_is_fetched_again_once_and_the_reply_sent(wecom: WeCom) -> None:
    user = _user()
    wecom.say(user, "warm up")
    wait_for("the first reply", lambda: wecom.api.sent_to(user))
    fetched = len(wecom.api.called("gettoken"))
    wecom.api.expire()
    wecom.say(user, "after the token expired")
    wait_for("the second reply", lambda: len(wecom.texts_to(user)) == 2)
    assert len(wecom.api.called("gettoken")) == fetched + 1


def test_secrets_never_reach_the_logs(wecom: WeCom) -> None:
    done = replyloop("config", env=wecom.env, cwd=wecom.home)
    assert done.returncode == 0, done.stderr
    logs = (wecom.home / "serve.log").read_text(errors="replace") + wecom.workers.logs()
    for secret in (SECRET, TOKEN, AES_KEY):
        assert secret not in logs and secret not in done.stdout


def test_a_callback_signed_long_ago_is_refused_as_a_replay(wecom: WeCom) -> None:
    """Once the duplicate check has forgotten a message id, a captured callback replayed
    would be taken as new: one signed more than five minutes ago is refused, unread."""
    user = _user()
    fields = {"FromUserName": user, "MsgType": "text", "Content": "replayed?", "MsgId": "r1"}
    query, body = wecom.callback(fields, age_s=600)
    assert wecom.request("POST", query, body)[0] == 403
    query, body = wecom.callback({**fields, "MsgId": "r2"}, age_s=-600)  # from the future
    assert wecom.request("POST", query, body)[0] == 403
    assert wecom.say(user, "and now?") == 200  # the same person, signed now: answered
    wait_for("the reply", lambda: wecom.texts_to(user))
    with wecom.store.engine.connect() as conn:
        stored = conn.execute(select(messages.c.id).where(messages.c.text.contains("replayed?")))
        assert stored.first() is None


def test_a_body_over_one_mib_is_refused_before_it_is_read(wecom: WeCom) -> None:
    query = {"msg_signature": "x", "timestamp": str(int(time.time())), "nonce": "n"}
    assert oversized_status(f"{wecom.base}/wecom/app?{urllib.parse.urlencode(query)}") == 413


def test_malformed_callbacks_get_400_and_the_adapter_keeps_serving(wecom: WeCom) -> None:
    assert (
        wecom.request("POST", {"msg_signature": "x", "timestamp": "1", "nonce": "n"}, b"<xml")[0]
        == 400
    )
    nonce = secrets.token_hex(8)
    envelope = xmltodict.parse(wecom.crypto.encrypt_message("<xml><unclosed>", nonce))["xml"]
    query = {
        "msg_signature": envelope["MsgSignature"],
        "timestamp": envelope["TimeStamp"],
        "nonce": nonce,
    }
    body = xmltodict.unparse(
        {"xml": {"Encrypt": envelope["Encrypt"]}}, full_document=False
    ).encode()
    assert wecom.request("POST", query, body)[0] == 400  # signed, but not XML inside
    user = _user()
    assert wecom.say(user, "still there?") == 200
    wait_for("the reply", lambda: wecom.api.sent_to(user))


TEXT = st.text(max_size=16)
APP_CALLBACK = some_of(
    {
        "FromUserName": TEXT,
        "MsgType": st.sampled_from(["text", "event", "image", "voice", "file", "location"]),
        "Content": TEXT,
        "MsgId": TEXT,
        "Event": st.sampled_from(["template_card_event", "enter_agent", "subscribe"]),
        "EventKey": st.sampled_from(["up:1", "down:x", "retry:", "up:99999999999999999999"]) | TEXT,
        "TaskId": TEXT,
        "CardType": TEXT,
        "ResponseCode": TEXT,
        "CreateTime": st.integers().map(str) | TEXT,
        "AgentID": st.integers().map(str) | TEXT,
    }
)


def test_fuzzed_app_callbacks_never_get_a_500(wecom: WeCom) -> None:
    """Validly signed and encrypted callbacks whose XML is anything but what WeCom sends: a
    2xx or 4xx each (WeCom retries a 5xx), and the adapter still answers afterwards."""
    statuses: set[int] = set()

    @FUZZ
    @given(APP_CALLBACK)
    def post(fields: dict[str, Any]) -> None:
        # XML holds text: a value of another JSON type goes in as its JSON text.
        xml_safe = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
        query, body = wecom.callback(xml_safe)
        status = wecom.request("POST", query, body)[0]
        statuses.add(status)
        assert status < 500, fields

    post()
    assert all(200 <= status < 500 for status in statuses), statuses
    assert wecom.say(_user(), "still there?") == 200  # still serving (its reply may queue)
