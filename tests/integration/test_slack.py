"""Slack end to end: `replyloop serve slack --http` (the real slack-bolt app) gets signed
Events API requests; real gpu and io workers on Redis and PostgreSQL answer through the
real slack_sdk client, pointed at a fake Slack Web API on 127.0.0.1 (tests/fake_slack.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, select

from core.settings import Settings
from core.store import Store, open_store
from core.store.schema import turns, votes
from core.types import Turn, delivery
from tests import services
from tests.fake_slack import BOT_USER, TEAM, Workspace, fake_slack
from tests.integration.workers import (
    Workers,
    replyloop,
    replyloop_command,
    start_workers,
    worker_env,
)
from workers.celery_app import configure, deliver_task, enqueue

SECRET = "test-signing-secret"
WAIT_S = 60.0
T = TypeVar("T")


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
        payload = {
            "token": "unused",
            "team_id": TEAM,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(6)}",
            "event_time": int(time.time()),
            "event": event,
        }
        return self.post(json.dumps(payload).encode(), **headers)

    def say(self, channel: str, text: str, user: str = "U1", **fields: Any) -> dict[str, Any]:
        """A person's message: put in the fake workspace, then sent as a `message` event."""
        said = self.workspace.add(channel, {"user": user, "text": text, **fields})
        channel_type = "im" if channel.startswith("D") else "channel"
        event = {"type": "message", "channel": channel, "channel_type": channel_type, **said}
        assert self.event(event) == 200
        return said

    def posted(self, channel: str) -> list[dict[str, Any]]:
        """The bot's replies that the fake Slack took, in `channel`."""
        with self.workspace.lock:
            found = self.workspace.messages.get(channel, [])
            return [m for m in found if m.get("metadata")]

    def turn_of(self, channel: str, posted: dict[str, Any]) -> Turn:
        """The stored Turn behind a reply the bot posted in `channel`."""
        return self.store.turn_by_platform_message("slack", f"{channel}:{posted['ts']}")

    def reply(self, channel: str, index: int = 0) -> tuple[dict[str, Any], Turn]:
        """The bot's `index`th reply in `channel` once posted, and its Turn."""
        posted = wait_for(f"reply {index}", lambda: self.posted(channel)[index:])[0]
        return posted, self.turn_of(channel, posted)

    def workspace_texts(self, channel: str) -> list[str]:
        """What the bot said in `channel` other than replies (notices)."""
        calls = self.workspace.called("chat.postMessage")
        return [
            str(c.params.get("text"))
            for c in calls
            if c.params.get("channel") == channel and not c.params.get("metadata")
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
            and call.params.get("metadata")
        ]


def wait_for(what: str, found: Callable[[], T], timeout: float = WAIT_S) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def slack(
    worker_broker: str,
    tiny_model: Path,
    pg_admin: Engine,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Slack]:
    home = tmp_path_factory.mktemp("slack")
    database_url = services.create_database(pg_admin)
    with fake_slack() as (workspace, api_url):
        env = worker_env(worker_broker, database_url, tiny_model, home, max_new_tokens="6")
        env.update(
            REPLYLOOP_SLACK_TEAMS=TEAM,
            SLACK_BOT_TOKEN="xoxb-test-token",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=api_url,
        )
        workers = start_workers(env, home)
        port = _free_port()
        log = home / "serve.log"
        with log.open("wb") as out:
            serve = subprocess.Popen(
                [
                    *replyloop_command(),
                    "serve",
                    "slack",
                    "--http",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                env=env,
                cwd=home,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        store = open_store(database_url)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for("the Slack adapter", lambda: _healthy(base, serve, log))
            yield Slack(workspace, f"{base}/slack/events", store, workers, env, home)
        finally:
            serve.terminate()
            serve.wait(10)
            workers.stop()
            store.engine.dispose()
            print(log.read_text(errors="replace")[-5000:])
            print(workers.logs()[-10000:])
            services.drop_database(pg_admin, database_url)


def _healthy(base: str, serve: subprocess.Popen[bytes], log: Path) -> bool:
    if serve.poll() is not None:
        raise AssertionError(f"replyloop serve slack exited:\n{log.read_text()}")
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _channel() -> str:
    return "C" + secrets.token_hex(4).upper()


def test_a_mention_gets_a_threaded_reply_with_the_rating_reactions(slack: Slack) -> None:
    channel = _channel()
    said = slack.say(channel, f"<@{BOT_USER}> hello there")
    reply = wait_for("the reply", lambda: slack.replies_in(channel, said["ts"]))[0]
    assert reply.params["text"]
    actions = reply.params["blocks"][-1]
    assert [e["action_id"] for e in actions["elements"]] == [
        "replyloop_up",
        "replyloop_down",
        "replyloop_retry",
    ]
    posted, turn = slack.reply(channel)
    assert wait_for("the reactions", lambda: posted.get("reactions") == ["+1", "-1"])
    assert turn.completion == reply.params["text"]
    assert turn.prompt[-1] == {"role": "user", "content": "<@U1>: hello there"}


def test_a_channel_message_without_a_mention_is_not_answered(slack: Slack) -> None:
    channel = _channel()
    said = slack.say(channel, "just talking among ourselves")
    slack.say(channel, "edited", subtype="message_changed")
    slack.say(channel, f"<@{BOT_USER}> from a bot", bot_id="B2")
    time.sleep(2)
    assert slack.replies_in(channel, said["ts"]) == []
    assert not [
        c for c in slack.workspace.called("chat.postMessage") if c.params["channel"] == channel
    ]


def test_later_messages_in_an_answered_thread_need_no_mention(slack: Slack) -> None:
    channel = _channel()
    root = slack.say(channel, f"<@{BOT_USER}> first")
    wait_for("the first reply", lambda: slack.replies_in(channel, root["ts"]))
    slack.say(channel, "and a follow-up", thread_ts=root["ts"])
    replies = wait_for("the second reply", lambda: len(slack.replies_in(channel, root["ts"])) == 2)
    assert replies


def test_a_dm_is_answered_in_the_dm(slack: Slack) -> None:
    channel = "D" + secrets.token_hex(4).upper()
    slack.say(channel, "hi bot")
    reply = wait_for("the DM reply", lambda: slack.replies_in(channel, None))[0]
    assert "thread_ts" not in reply.params or reply.params["thread_ts"] is None


def test_a_retried_event_gets_one_reply(slack: Slack) -> None:
    channel = _channel()
    said = slack.workspace.add(channel, {"user": "U1", "text": f"<@{BOT_USER}> once please"})
    event = {"type": "message", "channel": channel, "channel_type": "channel", **said}
    mention = {**event, "type": "app_mention"}
    assert slack.event(event, "EvSame1") == 200
    assert (
        slack.event(event, "EvSame1", X_Slack_Retry_Num="1", X_Slack_Retry_Reason="http_timeout")
        == 200
    )
    assert slack.event(mention, "EvOther1") == 200  # the same message as app_mention
    wait_for("the reply", lambda: slack.replies_in(channel, said["ts"]))
    time.sleep(2)
    assert len(slack.replies_in(channel, said["ts"])) == 1


def _standing(store: Store, turn_id: int) -> list[tuple[str, int]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(votes.c.rater, votes.c.value).where(votes.c.turn_id == turn_id))
        return [(r.rater, r.value) for r in rows]


def test_a_reaction_is_a_vote_and_its_removal_retracts_it(slack: Slack, tmp_path: Path) -> None:
    channel = _channel()
    said = slack.say(channel, f"<@{BOT_USER}> rate me")
    posted, turn = slack.reply(channel)
    assert posted["thread_ts"] == said["ts"]
    item = {"type": "message", "channel": channel, "ts": posted["ts"]}

    def reaction(kind: str, name: str, user: str = "U2") -> int:
        event = {
            "type": kind,
            "user": user,
            "reaction": name,
            "item": item,
            "item_user": BOT_USER,
            "event_ts": f"{time.time():.6f}",
        }
        return slack.event(event)

    assert reaction("reaction_added", "tada") == 200  # not a vote
    assert reaction("reaction_added", "+1", user=BOT_USER) == 200  # the bot's own: not a vote
    assert reaction("reaction_added", "+1") == 200
    assert wait_for("the vote", lambda: _standing(slack.store, turn.id)) == [(f"{TEAM}:U2", 1)]

    out = tmp_path / "raw.jsonl"
    done = replyloop(
        "feedback", "export", "--format", "raw", "--out", str(out), env=slack.env, cwd=slack.home
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    row = next(r for r in rows if r["turn_id"] == turn.id)
    assert (row["platform"], row["up"], row["down"]) == ("slack", 1, 0)
    assert f"{TEAM}:U2" not in out.read_text()  # raters are HMAC'd

    assert reaction("reaction_removed", "+1") == 200
    wait_for("the retraction", lambda: _standing(slack.store, turn.id) == [(f"{TEAM}:U2", 0)])
    assert reaction("reaction_added", "thumbsdown") == 200
    wait_for("the 👎", lambda: _standing(slack.store, turn.id) == [(f"{TEAM}:U2", -1)])


def test_a_bad_or_stale_signature_is_refused_and_nothing_is_queued(slack: Slack) -> None:
    channel = _channel()
    said = slack.workspace.add(channel, {"user": "U1", "text": f"<@{BOT_USER}> let me in"})
    payload = {
        "team_id": TEAM,
        "type": "event_callback",
        "event_id": "EvForged",
        "event": {"type": "message", "channel": channel, "channel_type": "channel", **said},
    }
    body = json.dumps(payload).encode()
    assert slack.post(body, secret="not-the-secret") == 401
    assert slack.post(body, age_s=6 * 60) == 401
    time.sleep(2)
    assert slack.replies_in(channel, said["ts"]) == []
    assert not slack.store.knows_chat("slack", f"{TEAM}/{channel}/{said['ts']}")


def test_a_429_is_waited_out_and_the_reply_is_posted_once(slack: Slack) -> None:
    channel = _channel()
    slack.workspace.fail("chat.postMessage", 429, retry_after=1)
    slack.say(channel, f"<@{BOT_USER}> are you busy?")
    wait_for("the reply posted", lambda: slack.posted(channel))
    calls = [
        c for c in slack.workspace.called("chat.postMessage") if c.params["channel"] == channel
    ]
    assert len(calls) == 2  # the refused one, then the one that posted
    assert calls[1].at - calls[0].at >= 1.0
    time.sleep(1)
    assert len(slack.posted(channel)) == 1


def test_a_mention_in_a_thread_reads_what_was_said_before_it(slack: Slack) -> None:
    channel = _channel()
    root = slack.workspace.add(channel, {"user": "U7", "text": "lunch at noon?"})
    slack.workspace.add(channel, {"user": "U8", "text": "noon works", "thread_ts": root["ts"]})
    said = slack.say(channel, f"<@{BOT_USER}> what did we agree?", user="U9", thread_ts=root["ts"])
    posted, turn = slack.reply(channel)
    assert posted["thread_ts"] == root["ts"]
    assert [m["content"] for m in turn.prompt[1:]] == [
        "<@U7>: lunch at noon?",
        "<@U8>: noon works",
        "<@U9>: what did we agree?",
    ]
    assert said["ts"] > root["ts"]


def test_health_and_help(slack: Slack) -> None:
    with urllib.request.urlopen(slack.events_url.replace("/slack/events", "/healthz")) as response:
        assert response.status == 200
    form = "command=%2Freplyloop&text=help&team_id=T1&channel_id=C1&user_id=U1&response_url=x"
    request_status = slack.post(form.encode(), content_type="application/x-www-form-urlencoded")
    assert request_status == 200


def _action(slack: Slack, action_id: str, turn_id: int, user: str = "U4", team: str = TEAM) -> int:
    payload = {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": user},
        "api_app_id": "A1",
        "token": "unused",
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": f"replyloop-{turn_id}",
                "value": str(turn_id),
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    form = "payload=" + urllib.parse.quote(json.dumps(payload))
    return slack.post(form.encode(), content_type="application/x-www-form-urlencoded")


def test_the_buttons_vote_and_try_again_posts_a_sibling(slack: Slack) -> None:
    channel = _channel()
    said = slack.say(channel, f"<@{BOT_USER}> two answers please")
    _posted, turn = slack.reply(channel)
    assert _action(slack, "replyloop_down", turn.id) == 200
    wait_for("the 👎", lambda: _standing(slack.store, turn.id) == [(f"{TEAM}:U4", -1)])
    assert _action(slack, "replyloop_retry", turn.id) == 200
    second, sibling = slack.reply(channel, 1)
    assert second["thread_ts"] == said["ts"]
    assert (sibling.message_id, sibling.prompt) == (turn.message_id, turn.prompt)
    assert sibling.id != turn.id


def test_files_alone_get_a_text_only_notice(slack: Slack) -> None:
    channel = _channel()
    slack.say(channel, f"<@{BOT_USER}>", subtype="file_share", files=[{"id": "F1"}])
    notice = wait_for("the notice", lambda: slack.workspace_texts(channel))
    assert notice == ["I can only read text, not files or images."]
    assert slack.posted(channel) == []


def test_an_oversized_message_is_cut_with_a_notice_and_answered(slack: Slack) -> None:
    channel = _channel()
    slack.say(channel, f"<@{BOT_USER}> " + "long " * 2000)
    wait_for("the reply", lambda: slack.posted(channel))
    assert any("only the first 4,000 were read" in text for text in slack.workspace_texts(channel))


def test_reset_in_a_thread_starts_it_afresh(slack: Slack) -> None:
    channel = _channel()
    root = slack.say(channel, f"<@{BOT_USER}> remember pineapples")
    wait_for("the reply", lambda: slack.posted(channel))
    slack.say(channel, f"<@{BOT_USER}> reset", thread_ts=root["ts"])
    wait_for(
        "the reset notice", lambda: "Starting afresh" in " ".join(slack.workspace_texts(channel))
    )
    slack.say(channel, "what fruit?", thread_ts=root["ts"])
    _posted, latest = slack.reply(channel, 1)
    assert [m["content"] for m in latest.prompt[1:]] == ["<@U1>: what fruit?"]


def test_a_delivery_that_runs_again_finds_its_reply_and_does_not_post_twice(slack: Slack) -> None:
    """The io worker posted a reply, then died before storing its ts: the task runs again."""
    channel = _channel()
    slack.say(channel, f"<@{BOT_USER}> once")
    posted, turn = slack.reply(channel)
    with slack.store.engine.begin() as conn:  # as if the mark had never been written
        conn.execute(turns.update().where(turns.c.id == turn.id).values(platform_message_id=None))
    configure(Settings(broker_url=slack.env["REPLYLOOP_BROKER_URL"], _env_file=None))
    enqueue(deliver_task("slack"), [delivery(slack.store.turn(turn.id), repeat=True)])
    marked = wait_for("the mark", lambda: slack.store.turn(turn.id).platform_message_id)
    assert marked == f"{channel}:{posted['ts']}"
    assert len(slack.posted(channel)) == 1


def test_an_unknown_team_is_refused(slack: Slack) -> None:
    assert _action(slack, "replyloop_up", 1, team="T-OTHER") == 403


def test_stats_command(slack: Slack) -> None:
    form = "command=%2Freplyloop&text=stats&team_id=T1&channel_id=C1&user_id=U1&response_url=x"
    body = slack.post_for_body(form.encode())
    assert "replies" in body and "Model" in body, body


def test_tokens_and_secrets_never_reach_the_logs(slack: Slack) -> None:
    slack.say("D" + secrets.token_hex(4).upper(), "say something")
    done = replyloop("config", env=slack.env, cwd=slack.home)
    assert done.returncode == 0, done.stderr
    logs = (slack.home / "serve.log").read_text(errors="replace") + slack.workers.logs()
    for secret in ("xoxb-test-token", SECRET):
        assert secret not in logs
        assert secret not in done.stdout
