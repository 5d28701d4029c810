"""Slack for the harness: the fake Slack Web API (tests/fake_slack.py) answering at a real
API's pace, `replyloop serve slack --http` (slack-bolt), and people who DM the bot and
rate replies with 👍 reactions, their events signed and redelivered as Slack does."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from bench.faults.platform import BotMessage, Quiet, Retrier, slow, status_of
from bench.faults.stack import Adapter, Stack, free_port_url
from tests.fake_http import serving
from tests.fake_slack import BOT_TOKEN, BOT_USER, TEAM, Workspace, _Handler
from tests.integration.adapters import http_ok
from tests.integration.slack_harness import SECRET, event_callback

# Slack's Events API: an answer within 3 s, else the event counts as failed; failed events
# are retried "nearly immediately, after 1 minute and after 5 minutes" (api.slack.com,
# "Events API: error handling"), with X-Slack-Retry-Num and X-Slack-Retry-Reason.
ACK_S = 3.0
RETRIES_S = (1.0, 60.0, 300.0)
PAUSED = ("chat.postMessage", "chat.update", "reactions.add", "conversations.history")


class PacedWorkspace(Workspace):
    def answer(
        self, method: str, params: dict[str, Any], token: str | None = None
    ) -> tuple[int, dict[str, str], Any]:
        if method in PAUSED:
            slow()
        return super().answer(method, params, token)


class SlackPlatform:
    name = "slack"

    def __init__(self, workspace: Workspace, api_url: str) -> None:
        self.workspace = workspace
        self.api_url = api_url
        self.urls: list[str] = []  # each replica's /slack/events
        self.retrier = Retrier(RETRIES_S)
        self.channels: dict[str, str] = {}
        self.people: dict[str, str] = {}  # a person of its own for each message
        self.every_retry = False  # each replica gets each event and all of its retries
        self.lock = threading.Lock()

    def env(self) -> dict[str, str]:
        return dict(
            REPLYLOOP_SLACK_TEAMS=TEAM,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=self.api_url,
        )

    def start_adapter(self, stack: Stack, name: str = "serve-slack") -> Adapter:
        base = free_port_url()
        args = ["serve", "slack", "--http", "--host", "127.0.0.1", "--port", base.rsplit(":", 1)[1]]
        started = stack.start_adapter(args, lambda: http_ok(f"{base}/healthz"), name)
        self.urls.append(f"{base}/slack/events")
        return started

    # -- people ----------------------------------------------------------------------------

    def send(self, token: str) -> None:
        channel, person = "D" + secrets.token_hex(5).upper(), "U" + secrets.token_hex(5).upper()
        with self.workspace.lock:
            self.workspace.people[person] = ("", f"Person {token}")
        with self.lock:
            self.channels[token] = channel
            self.people[token] = person
        said = self.workspace.add(channel, {"user": person, "text": f"hello {token}"})
        event = {"type": "message", "channel": channel, "channel_type": "im", **said}
        self._deliver(token, event)

    def send_in(self, channel: str, token: str) -> None:
        """A message carrying `token` in an existing DM (many from one person)."""
        said = self.workspace.add(channel, {"user": "U1", "text": f"hello {token}"})
        event = {"type": "message", "channel": channel, "channel_type": "im", **said}
        self._deliver(token, event)

    def posts_in(self, channel: str) -> list[dict[str, Any]]:
        with self.workspace.lock:
            said = self.workspace.messages.get(channel, [])
            return [dict(m) for m in said if m.get("user") == BOT_USER]

    def vote(self, token: str, message: BotMessage) -> None:
        event = {
            "type": "reaction_added",
            "user": self.people[token],
            "reaction": "+1",
            "item_user": BOT_USER,
            "item": {"type": "message", "channel": self.channels[token], "ts": message.key},
            "event_ts": f"{time.time():.6f}",
        }
        self._deliver(f"vote {token}", event)

    def _deliver(self, key: str, event: dict[str, Any]) -> None:
        body = json.dumps(event_callback(event)).encode()
        if self.every_retry:
            self.retrier.everywhere(key, [partial(_took, url, body) for url in self.urls])
            return
        self.retrier.deliver(key, partial(_took, self.urls[0], body))

    # -- what the chat shows ---------------------------------------------------------------

    def replies(self, token: str) -> list[BotMessage]:
        with self.lock:
            channel = self.channels[token]
        return [_bot_message(m) for m in self.posts_in(channel)]

    def acked(self, token: str) -> bool:
        return self.retrier.acked(token)

    def pending(self) -> int:
        return self.retrier.pending()

    def close(self) -> None:
        self.retrier.close()


def _bot_message(posted: dict[str, Any]) -> BotMessage:
    """A streamed reply carries no turn id (only its stream's metadata) until it is edited
    into the whole reply; a notice never has one."""
    payload = (posted.get("metadata") or {}).get("event_payload") or {}
    turn_id = payload.get("turn_id")
    text = str(posted.get("text", ""))[:60]
    return BotMessage(str(posted["ts"]), turn_id is not None, turn_id, text)


def _took(url: str, body: bytes, retry: int) -> bool:
    return post(url, body, retry) == 200


def post(url: str, body: bytes, retry: int) -> int:
    """One signed delivery of an Events API body; the HTTP status (0: no answer within
    Slack's 3 s, or no connection)."""
    stamp = str(int(time.time()))
    signature = hmac.new(SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("X-Slack-Request-Timestamp", stamp)
    request.add_header("X-Slack-Signature", "v0=" + signature.hexdigest())
    if retry:
        request.add_header("X-Slack-Retry-Num", str(retry))
        request.add_header("X-Slack-Retry-Reason", "http_timeout")
    return status_of(request, ACK_S)


@contextmanager
def slack_platform() -> Iterator[SlackPlatform]:
    workspace = PacedWorkspace()
    handler = type("Handler", (Quiet, _Handler), {"workspace": workspace})
    with serving(handler) as port:
        platform = SlackPlatform(workspace, f"http://127.0.0.1:{port}/api/")
        try:
            yield platform
        finally:
            platform.close()
