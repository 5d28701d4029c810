"""The console's web chat through the distributed system: `replyloop serve web` with a
broker sends each message to a real gpu worker, whose reply reaches the page through the
io worker's delivery task for platform "web"; the console's /metrics counts what it took.
Once per database backend (the `workers` fixture)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from core.store import open_store
from core.store.schema import turns, votes
from tests.integration.console_harness import console_server
from tests.integration.scrape import free_port, moved, scrape
from tests.integration.workers import Workers


def events(client: httpx.Client, message_id: int) -> list[tuple[str, dict[str, object]]]:
    """The stream of one message's reply, read to its end, as (event, data)."""
    found = []
    with client.stream("GET", f"/chat/stream/{message_id}", timeout=90) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        kind = ""
        for line in answer.iter_lines():
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                found.append((kind, json.loads(line[len("data: ") :])))
    return found


def test_a_web_chat_through_the_workers(workers: Workers, tmp_path: Path) -> None:
    port = free_port()
    env = {**workers.env, "REPLYLOOP_METRICS_PORT": str(port)}
    with console_server(env, tmp_path) as console:
        console.user("wendy", "viewer", "wendy-pass-1")
        before = scrape(port)
        with httpx.Client(base_url=console.url) as client:
            signed = client.post("/login", data={"name": "wendy", "password": "wendy-pass-1"})
            assert signed.status_code == 303
            page = client.get("/chat", headers={"Accept": "text/html"})
            found = re.search(r'name="csrf" content="([^"]+)"', page.text)
            assert found is not None
            headers = {"X-CSRF-Token": found.group(1)}
            sent = client.post("/chat/messages", json={"text": "hello, web"}, headers=headers)
            assert sent.status_code == 200, sent.text
            message_id = sent.json()["message_id"]
            said = events(client, message_id)
            assert said and said[-1][0] == "done", said
            turn_id = int(said[-1][1]["done"])  # type: ignore[call-overload]
            voted = client.post(
                "/chat/votes", json={"turn_id": turn_id, "value": -1}, headers=headers
            )
            assert voted.json() == {"ok": True, "said": "👎 recorded"}
            # another person's reply cannot be voted on from this chat
            other = client.post(
                "/chat/votes", json={"turn_id": turn_id + 10_000, "value": 1}, headers=headers
            )
            assert other.status_code == 404
        after = scrape(port)
    store = open_store(workers.database_url)
    try:
        with store.engine.connect() as conn:
            made = conn.execute(select(turns).where(turns.c.id == turn_id)).one()
            standing = conn.execute(select(votes.c.rater, votes.c.value).where(
                votes.c.turn_id == turn_id
            )).all()  # fmt: skip
    finally:
        store.engine.dispose()
    assert made.completion == said[-1][1]["text"]
    assert made.delivered_at is not None  # the io worker's delivery task for "web"
    assert standing == [("wendy", -1)]
    assert moved(after, before, "replyloop_messages_total", platform="web") == 1
    version = made.model_version
    assert moved(after, before, "replyloop_votes_total", platform="web", model_version=version) == 1
    timed = ("replyloop_console_request_seconds_count", "/chat/messages", "200")
    assert moved(after, before, timed[0], route=timed[1], status=timed[2]) == 1


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours *_PROXY variables; the console is on 127.0.0.1."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
