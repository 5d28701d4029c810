"""Slack end to end, the harness: `replyloop serve slack --http` (the real slack-bolt app)
gets signed Events API requests; real gpu and io workers on Redis and PostgreSQL answer
through the real slack_sdk client, pointed at a fake Slack Web API on 127.0.0.1
(tests/fake_slack.py). Test modules take the `slack` fixture from here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bots.slack.delivery import METADATA_TYPE
from core.errors import UnknownTurn
from core.store import Store
from core.types import Turn
from tests.fake_slack import TEAM, Workspace, fake_slack
from tests.integration.adapters import (
    WAIT_S,
    adapter,
    free_port,
    http_ok,
    platform_stack,
    wait_for,
)
from tests.integration.workers import Workers

SECRET = "test-signing-secret"


@dataclass
class Slack:
    workspace: Workspace
    events_url: str
    store: Store
    workers: Workers
    env: dict[str, str]
    home: Path

    def post(self, body: bytes, secret: str = SECRET, age_s: float = 0.0, **headers: str) -> int:
        """POST a request to /slack/events signed with `secret`, `age_s` seconds ago; the
        HTTP status."""
        stamp = str(int(time.time() - age_s))
        signature = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
        request = urllib.request.Request(self.events_url, data=body, method="POST")
        request.add_header("Content-Type", headers.pop("content_type", "application/json"))
        request.add_header("X-Slack-Request-Timestamp", stamp)
        request.add_header("X-Slack-Signature", "v0=" + signature.hexdigest())
        for name, value in headers.items():
            request.add_header(name.replace("_", "-"), value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def event(self, event: dict[str, Any], event_id: str | None = None, **headers: str) -> int:
        return self.post(
            json.dumps(event_callback(event, event_id)).encode(), SECRET, 0.0, **headers
        )

    def say(self, channel: str, text: str, user: str = "U1", **fields: Any) -> dict[str, Any]:
        """A person's message: put in the fake workspace, then sent as a `message` event."""
        said, event = self.message_event(channel, text, user, **fields)
        assert self.event(event) == 200
        return said

    def message_event(
        self, channel: str, text: str, user: str = "U1", **fields: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A person's message put in the fake workspace, and its `message` event."""
        said = self.workspace.add(channel, {"user": user, "text": text, **fields})
        channel_type = "im" if channel.startswith("D") else "channel"
        return said, {"type": "message", "channel": channel, "channel_type": channel_type, **said}

    def posted(self, channel: str) -> list[dict[str, Any]]:
        """The bot's replies that the fake Slack took, in `channel`."""
        with self.workspace.lock:
            found = self.workspace.messages.get(channel, [])
            return [m for m in found if is_reply(m.get("metadata"))]

    def turn_of(self, channel: str, posted: dict[str, Any]) -> Turn:
        """The stored Turn behind a reply the bot posted in `channel`."""
        return self.store.turn_by_platform_message("slack", f"{channel}:{posted['ts']}")

    def reply(
        self, channel: str, index: int = 0, timeout: float = WAIT_S
    ) -> tuple[dict[str, Any], Turn]:
        """The bot's `index`th reply in `channel` once posted, and its Turn."""
        posted = wait_for(f"reply {index}", lambda: self.posted(channel)[index:], timeout)[0]
        return posted, wait_for("its Turn marked delivered", lambda: self._turn(channel, posted))

    def _turn(self, channel: str, posted: dict[str, Any]) -> Turn | None:
        """The Turn once the worker has stored the reply's ts (just after posting it)."""
        try:
            return self.turn_of(channel, posted)
        except UnknownTurn:
            return None

    def workspace_texts(self, channel: str) -> list[str]:
        """What the bot said in `channel` other than replies (notices)."""
        calls = self.workspace.called("chat.postMessage")
        return [
            str(c.params.get("text"))
            for c in calls
            if c.params.get("channel") == channel and not is_reply(c.params.get("metadata"))
        ]

    def post_for_body(self, body: bytes) -> str:
        """POST a signed form (a slash command); the response body."""
        stamp = str(int(time.time()))
        signature = hmac.new(SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
        request = urllib.request.Request(self.events_url, data=body, method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        request.add_header("X-Slack-Request-Timestamp", stamp)
        request.add_header("X-Slack-Signature", "v0=" + signature.hexdigest())
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(response.read().decode())

    def replies_in(self, channel: str, thread: str | None) -> list[Any]:
        return [
            call
            for call in self.workspace.called("chat.postMessage")
            if call.params.get("channel") == channel
            and call.params.get("thread_ts") == thread
            and is_reply(call.params.get("metadata"))
        ]


def is_reply(metadata: Any) -> bool:
    """Whether a message's metadata marks it as a reply (a notice carries its own)."""
    return bool(metadata) and metadata.get("event_type") == METADATA_TYPE


def event_callback(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """The Events API body that carries `event`."""
    return {
        "token": "unused",
        "team_id": TEAM,
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id or f"Ev{secrets.token_hex(6)}",
        "event_time": int(time.time()),
        "event": event,
    }


@contextmanager
def served_slack(
    broker: str, model: Path, pg_admin: Engine, home: Path, **env: str
) -> Iterator[Slack]:
    """The fake Slack, workers on `model` and `replyloop serve slack --http`, with `env`
    (REPLYLOOP_* settings) added to every process's environment."""
    with fake_slack() as (workspace, api_url):
        settings = dict(
            REPLYLOOP_SLACK_TEAMS=TEAM,
            SLACK_BOT_TOKEN="xoxb-test-token",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=api_url,
            **env,
        )
        with platform_stack(pg_admin, broker, model, home, **settings) as stack:
            slack = Slack(workspace, "", stack.store, stack.workers, stack.env, home)
            with another_adapter(slack, "serve.log") as served:
                yield served


@contextmanager
def another_adapter(slack: Slack, log: str, **env: str) -> Iterator[Slack]:
    """One more `replyloop serve slack --http` for the same workspace and workers, with
    `env` changed for it alone; `slack` as it talks to that one."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["serve", "slack", "--http", "--host", "127.0.0.1", "--port", str(port)]
    with adapter(
        args, {**slack.env, **env}, slack.home, slack.home / log, lambda: http_ok(f"{base}/healthz")
    ):
        yield replace(slack, events_url=f"{base}/slack/events")


@pytest.fixture(scope="module")
def slack(
    worker_broker: str,
    tiny_model: Path,
    pg_admin: Engine,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Slack]:
    home = tmp_path_factory.mktemp("slack")
    with served_slack(worker_broker, tiny_model, pg_admin, home) as served:
        yield served


def new_channel() -> str:
    return "C" + secrets.token_hex(4).upper()


__all__ = [
    "SECRET",
    "Slack",
    "another_adapter",
    "event_callback",
    "new_channel",
    "served_slack",
    "slack",
    "wait_for",
]
