"""WeCom for the harness: the fake WeCom API (tests/fake_wecom.py) answering at a real
API's pace, `replyloop serve wecom` (the self-built app's encrypted callbacks), and people
who message the app and press 👍 on the rating card under each reply."""

from __future__ import annotations

import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.parser import xmltodict

from bench.faults.platform import BotMessage, Quiet, Retrier, slow, status_of
from bench.faults.stack import Adapter, Stack, free_port_url
from tests.fake_http import serving
from tests.fake_wecom import CORP_ID, SECRET, Call, WeComApi, _Handler
from tests.integration.adapters import http_ok

TOKEN = "callbackToken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeCom makes them
AGENT_ID = 1000002
# WeCom drops a callback not answered within 5 s and sends it again, three times in all
# (developer.work.weixin.qq.com, "接收消息与事件": 五秒内收不到响应会断掉连接...重试三次).
ANSWER_S = 5.0
RETRIES_S = (0.0, 0.0, 0.0)


class PacedWeComApi(WeComApi):
    """tests/fake_wecom.py, at a real API's pace, and handing out its token as WeCom does:
    "有效期内重复获取返回相同结果" (within its 7,200 s a fetch returns the same token,
    developer.work.weixin.qq.com, 获取access_token). The tests' fake makes a new one each
    fetch and refuses the last, so io threads fetching at once refuse each other's sends
    (42001): a fault of the fake, not one to measure."""

    def answer(self, endpoint: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if endpoint.startswith("message/"):
            slow()
        if endpoint == "gettoken" and self.token is not None:
            with self.lock:
                self.calls.append(Call(endpoint, query, body))
                if (query.get("corpid"), query.get("corpsecret")) == (CORP_ID, SECRET):
                    return {"errcode": 0, "errmsg": "ok", "access_token": self.token,
                            "expires_in": 7200}  # fmt: skip
        return super().answer(endpoint, query, body)


class WeComPlatform:
    name = "wecom"

    def __init__(self, api: WeComApi, api_url: str) -> None:
        self.api = api
        self.api_url = api_url
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
        self.urls: list[str] = []
        self.retrier = Retrier(RETRIES_S)
        self.every_retry = False  # each replica gets each callback and all of its retries
        self.users: dict[str, str] = {}
        self.lock = threading.Lock()

    def env(self) -> dict[str, str]:
        return dict(
            WECOM_CORP_ID=CORP_ID,
            WECOM_AGENT_ID=str(AGENT_ID),
            WECOM_SECRET=SECRET,
            WECOM_TOKEN=TOKEN,
            WECOM_AES_KEY=AES_KEY,
            WECOM_API_URL=self.api_url,
        )

    def start_adapter(self, stack: Stack, name: str = "serve-wecom") -> Adapter:
        base = free_port_url()
        args = ["serve", "wecom", "--host", "127.0.0.1", "--port", base.rsplit(":", 1)[1]]
        started = stack.start_adapter(args, lambda: http_ok(f"{base}/healthz"), name)
        self.urls.append(f"{base}/wecom/app")
        return started

    def send(self, token: str) -> None:
        user = "u-" + secrets.token_hex(4)
        with self.lock:
            self.users[token] = user
        fields = {
            "FromUserName": user,
            "MsgType": "text",
            "Content": f"hello {token}",
            "MsgId": secrets.token_hex(8),
        }
        self._deliver(token, fields)

    def vote(self, token: str, message: BotMessage) -> None:
        fields = {
            "FromUserName": self.users[token],
            "MsgType": "event",
            "Event": "template_card_event",
            "EventKey": f"up:{message.turn_id}",
            "TaskId": str(message.turn_id),
            "CardType": "button_interaction",
            "ResponseCode": secrets.token_hex(8),
        }
        self._deliver(f"vote {token}", fields)

    def _deliver(self, key: str, fields: dict[str, Any]) -> None:
        if self.every_retry:
            self.retrier.everywhere(key, [partial(self._took, url, fields) for url in self.urls])
            return
        self.retrier.deliver(key, partial(self._took, self.urls[0], fields))

    def _took(self, url: str, fields: dict[str, Any], _retry: int) -> bool:
        query, body = self.callback(fields)
        return post(url, query, body) == 200

    def callback(self, fields: dict[str, Any]) -> tuple[dict[str, str], bytes]:
        """(query, body) of an encrypted callback carrying `fields`, as WeCom sends it."""
        inner = {"ToUserName": CORP_ID, "AgentID": str(AGENT_ID),
                 "CreateTime": str(int(time.time())), **fields}  # fmt: skip
        xml = xmltodict.unparse({"xml": inner}, full_document=False)
        nonce = secrets.token_hex(8)
        envelope = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, int(time.time())))
        sealed = envelope["xml"]
        query = {
            "msg_signature": sealed["MsgSignature"],
            "timestamp": sealed["TimeStamp"],
            "nonce": nonce,
        }
        outer = {"ToUserName": CORP_ID, "AgentID": str(AGENT_ID), "Encrypt": sealed["Encrypt"]}
        return query, xmltodict.unparse({"xml": outer}, full_document=False).encode()

    def replies(self, token: str) -> list[BotMessage]:
        """WeCom's duplicate check (on in every send) shows a text sent twice once: what
        the person sees is each distinct text, whole once its rating card came."""
        with self.lock:
            user = self.users[token]
        sent = self.api.sent_to(user)
        texts = list(dict.fromkeys(str(m["text"]["content"]) for m in sent if "text" in m))
        cards = [m["template_card"] for m in sent if m.get("msgtype") == "template_card"]
        turns = list(dict.fromkeys(_turn(card) for card in cards))
        shown = max(len(texts), len(turns))
        turn = turns[0] if turns else None
        said = [*texts, *[""] * shown][:shown]
        return [
            BotMessage(f"{user}:{i}", turn is not None, turn, t[:60]) for i, t in enumerate(said)
        ]

    def acked(self, token: str) -> bool:
        return self.retrier.acked(token)

    def pending(self) -> int:
        return self.retrier.pending()

    def close(self) -> None:
        self.retrier.close()


def _turn(card: dict[str, Any]) -> int:
    return int(str(card["button_list"][0]["key"]).rsplit(":", 1)[1])


def post(url: str, query: dict[str, str], body: bytes) -> int:
    """The HTTP status of one callback (0: no answer within WeCom's 5 s)."""
    request = urllib.request.Request(f"{url}?{urllib.parse.urlencode(query)}", data=body)
    return status_of(request, ANSWER_S)


@contextmanager
def wecom_platform() -> Iterator[WeComPlatform]:
    api = PacedWeComApi()
    handler = type("Handler", (Quiet, _Handler), {"api": api})
    with serving(handler) as port:
        platform = WeComPlatform(api, f"http://127.0.0.1:{port}/cgi-bin/")
        try:
            yield platform
        finally:
            platform.close()
