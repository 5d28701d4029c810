"""A fake Telegram Bot API on 127.0.0.1 for tests: the real python-telegram-bot (its
Application, long polling) and the io worker's client talk to it (TELEGRAM_API_URL) as
they would to api.telegram.org, and it records every call.

It answers getMe, getUpdates (serving the updates a test pushes, long polling as Telegram
does, forgetting those below `offset`), setWebhook and deleteWebhook, setMyCommands,
sendMessage, editMessageText, editMessageReplyMarkup and answerCallbackQuery from in-memory
chats (an edit that changes nothing is refused as Telegram refuses it, "message is not
modified"), and can be told to answer a method's next calls with an error (429 with
retry_after for flood control, or a 5xx), or to hold the answers of the replies it posts
(`hold`: a worker killed while it waits for Telegram's answer). A call with another token
gets 401, as Telegram answers.

With a webhook set, an update a test pushes is POSTed to it at once, with the secret token
in `X-Telegram-Bot-Api-Secret-Token`, as Telegram does (and getUpdates hands out nothing);
`post` sends one as it is (a redelivery, a wrong secret).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fake_http import Call, Failure, JsonHandler, serving

# Shaped like @BotFather's (id, colon, 35 characters): serve checks the shape first.
TOKEN = "123456:AAH-TEST-token-never-logged-0123456"
BOT_ID, BOT_USERNAME = 123456, "replyloop_test_bot"
LONG_POLL_CAP_S = 2.0  # a getUpdates waits at most this long here, whatever it asks
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
# python-telegram-bot sends form fields, each JSON-encoded unless it is a string: these
# are the ones to decode (a `text` of "42" stays a string).
JSON_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "message_thread_id",
        "reply_markup",
        "reply_parameters",
        "commands",
        "allowed_updates",
        "offset",
        "limit",
        "timeout",
        "show_alert",
        "cache_time",
        "drop_pending_updates",
    }
)


@dataclass
class BotApi:
    """What the fake Telegram holds: updates to hand out, the chats' messages, the calls."""

    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # chat -> list
    failures: dict[str, Failure] = field(default_factory=dict)
    lock: threading.Condition = field(default_factory=threading.Condition)
    next_update_id: int = 1000
    next_message_id: int = 500
    webhook: dict[str, Any] | None = None  # setWebhook's parameters while one is set
    refused: int = 0  # calls made with another token (answered 401)
    holding: bool = False  # `hold`: answers of messages with a keyboard wait for `release`
    held: int = 0  # answers waiting now
    gate: threading.Event = field(default_factory=threading.Event)

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update (its update_id given here) for getUpdates, or POST it to the
        webhook; its update_id."""
        with self.lock:
            self.next_update_id += 1
            numbered = {"update_id": self.next_update_id, **update}
            webhook = self.webhook
            if webhook is None:
                self.updates.append(numbered)
                self.lock.notify_all()
        if webhook is not None:
            status = self.post(numbered)
            assert status == 200, f"the webhook answered {status}"
        return int(numbered["update_id"])

    def post(self, update: dict[str, Any], secret: str | None = None) -> int:
        """POST an update to the webhook with `secret` (default: the one set; "" sends no
        header), as Telegram does; the HTTP status it answers."""
        assert self.webhook is not None, "no webhook is set"
        token = self.webhook.get("secret_token", "") if secret is None else secret
        request = urllib.request.Request(
            str(self.webhook["url"]),
            data=json.dumps(update).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        if token:
            request.add_header("X-Telegram-Bot-Api-Secret-Token", token)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def message_id(self) -> int:
        """A new message id (people's messages pushed by a test take them from here too)."""
        with self.lock:
            self.next_message_id += 1
            return self.next_message_id

    def fail(
        self, method: str, status: int, retry_after: int | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` calls of `method` with HTTP `status` (429 with
        `retry_after`: Telegram's flood control)."""
        with self.lock:
            self.failures[method] = Failure(status, retry_after, times)

    def hold(self) -> None:
        """From now on a sendMessage with a keyboard (a reply's last part) is done, the
        message posted, and its answer held until `release`."""
        with self.lock:
            self.gate.clear()
            self.holding = True

    def release(self) -> None:
        """Send the held answers (to whoever still listens) and hold no more."""
        with self.lock:
            self.holding = False
            self.gate.set()

    def held_now(self) -> int:
        with self.lock:
            return self.held

    def keep_answer(self, method: str, params: dict[str, Any]) -> bool:
        """Hold this call's answer until `release`, if it is held; whether it was."""
        with self.lock:
            if not (self.holding and method == "sendMessage" and params.get("reply_markup")):
                return False
            self.held += 1
        self.gate.wait()
        with self.lock:
            self.held -= 1
        return True

    def called(self, method: str, **params: Any) -> list[Call]:
        """The calls of `method` whose parameters include `params`."""
        with self.lock:
            return [
                call
                for call in self.calls
                if call.method == method
                and all(call.params.get(name) == value for name, value in params.items())
            ]

    def sent(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in a chat, as they stand (keyboards edited)."""
        with self.lock:
            return list(self.messages.get(chat_id, []))

    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, Any]:
        """(HTTP status, JSON body) for one call."""
        with self.lock:
            self.calls.append(Call(method, params, time.monotonic()))
            failure = self.failures.get(method)
            if failure is not None and failure.times > 0:
                failure.times -= 1
                body: dict[str, Any] = {
                    "ok": False,
                    "error_code": failure.status,
                    "description": "Too Many Requests" if failure.status == 429 else "Error",
                }
                if failure.retry_after is not None:
                    body["description"] += f": retry after {failure.retry_after}"
                    body["parameters"] = {"retry_after": failure.retry_after}
                return failure.status, body
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._get_updates(params)}
        handler = getattr(self, "_" + method, None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        return 200, {"ok": True, "result": handler(params)}

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), LONG_POLL_CAP_S)
        deadline = time.monotonic() + wait
        with self.lock:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                self.lock.wait(deadline - time.monotonic())
            return list(self.updates[: int(params.get("limit") or 100)])

    def _getMe(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - the method
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "replyloop",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _deleteWebhook(self, params: dict[str, Any]) -> bool:  # noqa: N802
        with self.lock:
            self.webhook = None
        return True

    def _setWebhook(self, params: dict[str, Any]) -> bool:  # noqa: N802
        with self.lock:
            self.webhook = dict(params)
        return True

    def _setMyCommands(self, params: dict[str, Any]) -> bool:  # noqa: N802
        return True

    def _answerCallbackQuery(self, params: dict[str, Any]) -> bool:  # noqa: N802
        return True

    def _sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        chat_id = int(params["chat_id"])
        posted = {
            "message_id": self.message_id(),
            "date": int(time.time()),
            "chat": chat(chat_id),
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "replyloop"},
            "text": str(params["text"]),
        }
        for name in ("reply_markup", "message_thread_id", "reply_parameters"):
            if params.get(name) is not None:
                posted[name] = params[name]
        with self.lock:
            self.messages.setdefault(chat_id, []).append(posted)
        return posted

    def _editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._edit(params, {"reply_markup": params.get("reply_markup")})

    def _editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        # The keyboard is the one given, or none: an edit without one removes it.
        return self._edit(
            params, {"text": str(params["text"]), "reply_markup": params.get("reply_markup")}
        )

    def _edit(self, params: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        with self.lock:
            for posted in self.messages.get(chat_id, []):
                if posted["message_id"] == message_id:
                    if all(posted.get(name) == value for name, value in new.items()):
                        raise LookupError(NOT_MODIFIED)
                    for name, value in new.items():
                        if value is None:
                            posted.pop(name, None)
                        else:
                            posted[name] = value
                    posted["edit_date"] = int(time.time())
                    return dict(posted)
        raise LookupError("Bad Request: message to edit not found")


def chat(chat_id: int) -> dict[str, Any]:
    """A chat as the Bot API describes it: positive ids are private chats."""
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Ann"}
    return {"id": chat_id, "type": "supergroup", "title": "Team"}


class _Handler(JsonHandler):
    api: BotApi
    token: str

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._handle(dict(parse_qsl(urlsplit(self.path).query)))

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        if "json" in (self.headers.get("Content-Type") or ""):
            self._handle(json.loads(raw or "{}"))
            return
        form = dict(parse_qsl(raw, keep_blank_values=True))
        self._handle({k: json.loads(v) if k in JSON_FIELDS else v for k, v in form.items()})

    def _handle(self, params: dict[str, Any]) -> None:
        # /bot<token>/<method>
        _, bot, method = urlsplit(self.path).path.rsplit("/", 2)
        if bot != f"bot{self.token}":
            with self.api.lock:
                self.api.refused += 1
            self.reply_json({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
            return
        try:
            status, body = self.api.answer(method, params)
        except LookupError as exc:
            status, body = 400, {"ok": False, "error_code": 400, "description": str(exc)}
        if not self.api.keep_answer(method, params):
            self.reply_json(body, status)
            return
        with suppress(OSError):  # its caller died while the answer was held: it is lost
            self.reply_json(body, status)


@contextmanager
def fake_telegram(token: str = TOKEN) -> Iterator[tuple[BotApi, str]]:
    """(the fake Bot API, the base URL to give TELEGRAM_API_URL), served while in use."""
    api = BotApi()
    handler = type("Handler", (_Handler,), {"api": api, "token": token})
    with serving(handler) as port:
        yield api, f"http://127.0.0.1:{port}/bot"
