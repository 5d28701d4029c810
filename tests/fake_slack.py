"""A fake Slack Web API on 127.0.0.1 for tests: the real slack_sdk and slack-bolt talk to it
(SLACK_API_URL) as they would to slack.com, and it records every call.

It answers auth.test, chat.postMessage, chat.update (the message edited in place),
reactions.add, conversations.replies and conversations.history from an in-memory
workspace (a message's metadata kept from chat.postMessage and chat.update, and listed
only with include_all_metadata), users.info from its people, and
apps.connections.open with `socket_url` (a tests/fake_socket_mode.py server), and can be
told to answer a method's next calls with an HTTP error (429 with Retry-After, or 5xx) or
with one of Slack's errors (HTTP 200, `ok: false`), or to post a reply and drop the
connection unanswered (`lose_answers`). A call with a token it does not know
gets `invalid_auth`, as Slack answers.
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

from tests.fake_http import Call, Failure, JsonHandler, serving

BOT_USER, BOT_ID, TEAM = "UBOT", "BBOT", "T1"
BOT_TOKEN, APP_TOKEN = "xoxb-test-token", "xapp-test-token"
# users.info: id -> (display name, real name); an empty display name falls back, as in Slack.
PEOPLE = {
    "U1": ("Ann", "Ann Lee"),
    "U7": ("Kai", "Kai Sato"),
    "U8": ("", "Ben Ode"),
    "U9": ("Zoë", "Zoë Ruiz"),
}


@dataclass
class Workspace:
    """What the fake Slack holds: messages by channel, reactions, the calls it got."""

    calls: list[Call] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # channel -> list
    failures: dict[str, Failure] = field(default_factory=dict)
    socket_url: str | None = None  # what apps.connections.open hands out
    tokens: set[str] = field(default_factory=lambda: {BOT_TOKEN, APP_TOKEN})
    people: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(PEOPLE))
    lock: threading.Lock = field(default_factory=threading.Lock)
    losing: int = 0  # `lose_answers`: replies still to post unanswered
    _clock: float = 1_700_000_000.0

    def next_ts(self) -> str:
        self._clock += 1
        return f"{self._clock:.6f}"

    def add(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        """Put a message in a channel (people's messages, for conversations.replies)."""
        with self.lock:
            stored = {"ts": self.next_ts(), "type": "message", **message}
            self.messages.setdefault(channel, []).append(stored)
            return stored

    def fail(
        self,
        method: str,
        status: int,
        retry_after: int | None = None,
        times: int = 1,
        error: str = "ratelimited",
    ) -> None:
        """Answer the next `times` calls of `method` with HTTP `status` and Slack's
        `error`."""
        with self.lock:
            self.failures[method] = Failure(status, retry_after, times, error)

    def lose_answers(self, times: int = 1) -> None:
        """Post the next `times` replies (chat.postMessage with metadata), then drop each
        one's connection unanswered: Slack posted it, its answer never arrived."""
        with self.lock:
            self.losing = times

    def answer_lost(self, method: str, params: dict[str, Any]) -> bool:
        """Whether this call, done, goes unanswered (`lose_answers`)."""
        with self.lock:
            if method != "chat.postMessage" or not params.get("metadata") or not self.losing:
                return False
            self.losing -= 1
            return True

    def called(self, method: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.method == method]

    def answer(
        self, method: str, params: dict[str, Any], token: str | None = None
    ) -> tuple[int, dict[str, str], Any]:
        """(HTTP status, headers, JSON body) for one call made with `token`."""
        with self.lock:
            self.calls.append(Call(method, params, time.monotonic()))
            if token not in self.tokens:
                return 200, {}, {"ok": False, "error": "invalid_auth"}
            failure = self.failures.get(method)
            if failure is not None and failure.times > 0:
                failure.times -= 1
                headers = {}
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(failure.retry_after)
                return failure.status, headers, {"ok": False, "error": failure.error}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        return 200, {}, handler(params)

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "team_id": TEAM,
            "user": "replyloop",
            "team": "Test",
            "url": "https://test.slack.com/",
        }

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("user"))
        if user not in self.people:
            return {"ok": False, "error": "user_not_found"}
        display, real = self.people[user]
        profile = {"display_name": display, "real_name": real}
        return {"ok": True, "user": {"id": user, "name": user.lower(), "profile": profile}}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.socket_url is None:
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": True, "url": self.socket_url}

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel"))
        posted = {"user": BOT_USER, "bot_id": BOT_ID, "text": params.get("text", "")}
        for name in ("thread_ts", "blocks", "metadata"):
            if params.get(name) is not None:
                posted[name] = params[name]
        stored = self.add(channel, posted)
        return {"ok": True, "channel": channel, "ts": stored["ts"], "message": stored}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        """The message's text, and its blocks and metadata where given, replaced (as Slack
        keeps what an update leaves out)."""
        channel, ts = str(params.get("channel")), params.get("ts")
        with self.lock:
            for message in self.messages.get(channel, []):
                if message["ts"] == ts:
                    message["text"] = params.get("text", "")
                    for name in ("blocks", "metadata"):
                        if params.get(name) is not None:
                            message[name] = params[name]
                    message["edited"] = {"user": BOT_USER, "ts": self.next_ts()}
                    return {"ok": True, "channel": channel, "ts": ts, "text": message["text"]}
        return {"ok": False, "error": "message_not_found"}

    def _reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            for message in self.messages.get(str(params.get("channel")), []):
                if message["ts"] == params.get("timestamp"):
                    names = message.setdefault("reactions", [])
                    if params.get("name") in names:
                        return {"ok": False, "error": "already_reacted"}
                    names.append(params.get("name"))
                    return {"ok": True}
        return {"ok": False, "error": "message_not_found"}

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        thread = params.get("ts")
        with self.lock:
            found = [
                _as_listed(m, params)
                for m in self.messages.get(str(params.get("channel")), [])
                if m["ts"] == thread or m.get("thread_ts") == thread
            ]
        return {"ok": True, "messages": found, "has_more": False}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            listed = self.messages.get(str(params.get("channel")), [])
            found = [_as_listed(m, params) for m in reversed(listed)]
        return {"ok": True, "messages": found, "has_more": False}


def _as_listed(message: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A message as conversations.replies and .history list it: its metadata only when
    asked for with include_all_metadata (slack_sdk sends True as "1"), as Slack does."""
    if str(params.get("include_all_metadata")).lower() in ("1", "true"):
        return dict(message)
    return {name: value for name, value in message.items() if name != "metadata"}


class _Handler(JsonHandler):
    workspace: Workspace

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._handle(dict(parse_qsl(urlsplit(self.path).query)))

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        params: dict[str, Any] = dict(parse_qsl(urlsplit(self.path).query))
        if "json" in (self.headers.get("Content-Type") or ""):
            params.update(json.loads(raw or "{}"))
        else:
            params.update(parse_qsl(raw))
        for name in ("blocks", "metadata"):
            if isinstance(params.get(name), str):
                params[name] = json.loads(params[name])
        self._handle(params)

    def _handle(self, params: dict[str, Any]) -> None:
        method = urlsplit(self.path).path.rsplit("/", 1)[-1]
        bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        token = bearer or params.get("token")
        status, headers, body = self.workspace.answer(method, params, token)
        if self.workspace.answer_lost(method, params):
            self.close_connection = True  # the client reads no status line at all
            return
        self.reply_json(body, status, headers)


@contextmanager
def fake_slack() -> Iterator[tuple[Workspace, str]]:
    """(the workspace, the API base URL to give SLACK_API_URL), served while in use."""
    workspace = Workspace()
    handler = type("Handler", (_Handler,), {"workspace": workspace})
    with serving(handler) as port:
        yield workspace, f"http://127.0.0.1:{port}/api/"
