"""A fake WeCom API on 127.0.0.1 for tests: the real wechatpy client (WECOM_API_URL) talks
to it as it would to qyapi.weixin.qq.com, and it records every call.

It answers `gettoken` (a new token each time), `message/send`,
`message/update_template_card` and a smart bot's response_url (`aibot/response`). A call
with anything but the newest token gets errcode 42001 (expired), as WeCom does, and
`expire()` makes the token in use stale. `fail` makes an endpoint's next calls answer an
errcode.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fake_http import JsonHandler, serving

CORP_ID, SECRET = "ww-test-corp", "test-app-secret"


@dataclass
class Call:
    endpoint: str
    query: dict[str, str]
    body: dict[str, Any]
    ok: bool = False  # WeCom took it
    at: float = field(default_factory=time.monotonic)  # when it arrived


@dataclass
class WeComApi:
    calls: list[Call] = field(default_factory=list)
    token: str | None = None
    tokens_made: int = 0
    failures: dict[str, list[int]] = field(default_factory=dict)  # endpoint -> errcodes to give
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expire(self) -> None:
        with self.lock:
            self.token = None

    def fail(self, endpoint: str, errcode: int, times: int = 1) -> None:
        with self.lock:
            self.failures[endpoint] = [errcode] * times

    def called(self, endpoint: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.endpoint == endpoint]

    def sent_to(self, user: str) -> list[dict[str, Any]]:
        """The messages sent to `user` that WeCom took."""
        return [c.body for c in self.sends_to(user)]

    def sends_to(self, user: str) -> list[Call]:
        """The message/send calls to `user` that WeCom took."""
        return [c for c in self.called("message/send") if c.ok and c.body["touser"] == user]

    def answer(self, endpoint: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            call = Call(endpoint, query, body)
            self.calls.append(call)
            if endpoint == "gettoken":
                if (query.get("corpid"), query.get("corpsecret")) != (CORP_ID, SECRET):
                    return {"errcode": 40001, "errmsg": "invalid credential"}
                self.tokens_made += 1
                self.token = f"token-{self.tokens_made}"
                return {
                    "errcode": 0,
                    "errmsg": "ok",
                    "access_token": self.token,
                    "expires_in": 7200,
                }
            if endpoint == "aibot/response":  # a smart bot's response_url: no token
                call.ok = "response_code" in query
                return {"errcode": 0 if call.ok else 40001, "errmsg": "ok"}
            if query.get("access_token") != self.token or self.token is None:
                return {"errcode": 42001, "errmsg": "access_token expired"}
            failing = self.failures.get(endpoint)
            if failing:
                return {"errcode": failing.pop(), "errmsg": "failed as told"}
            call.ok = True
            if endpoint == "message/send":
                return {"errcode": 0, "errmsg": "ok", "msgid": f"msg-{len(self.calls)}"}
            if endpoint == "message/update_template_card":
                return {"errcode": 0, "errmsg": "ok", "invaliduser": []}
            return {"errcode": 404, "errmsg": f"unknown endpoint {endpoint}"}


class _Handler(JsonHandler):
    api: WeComApi

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._handle({})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self._handle(json.loads(self.rfile.read(length) or b"{}"))

    def _handle(self, body: dict[str, Any]) -> None:
        parts = urlsplit(self.path)
        endpoint = parts.path.split("/cgi-bin/", 1)[-1]
        self.reply_json(self.api.answer(endpoint, dict(parse_qsl(parts.query)), body))


@contextmanager
def fake_wecom() -> Iterator[tuple[WeComApi, str]]:
    """(the fake API, the base URL to give WECOM_API_URL), served while in use."""
    api = WeComApi()
    handler = type("Handler", (_Handler,), {"api": api})
    with serving(handler) as port:
        yield api, f"http://127.0.0.1:{port}/cgi-bin/"
