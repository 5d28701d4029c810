"""Slack replies shown while they are written: `replyloop serve slack --http` with
REPLYLOOP_SLACK_STREAM on, real gpu and io workers on a tiny model whose greedy replies run
to REPLYLOOP_MAX_NEW_TOKENS (tests/integration/conftest.py's `endless_model`: 3.5 s and
more each), and the fake Slack recording every post and edit with its time.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine

from bots.streaming.pacing import MARK
from bots.streaming.streamer import POSTED
from core.types import Turn
from tests.fake_http import Call
from tests.fake_slack import BOT_USER
from tests.integration.slack_harness import (
    Slack,
    another_adapter,
    is_reply,
    new_channel,
    served_slack,
    wait_for,
)
from wire.live import PREFIX

EVERY_S = 1.0
JITTER_S = 0.1  # leeway for times read in two processes (both time.monotonic)
RETRY_AFTER_S = 2
# 1,500 tokens take 3.5 s here when the machine is idle; much longer when it is not.
REPLY_WAIT_S = 180.0
STREAMING = dict(
    REPLYLOOP_MAX_NEW_TOKENS="1500",
    REPLYLOOP_TEMPERATURE="0",
    REPLYLOOP_SLACK_STREAM_EVERY_S=str(EVERY_S),
)


@pytest.fixture(scope="module")
def slack(
    worker_broker: str,
    endless_model: Path,
    pg_admin: Engine,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Slack]:
    home = tmp_path_factory.mktemp("slack-streaming")
    with served_slack(worker_broker, endless_model, pg_admin, home, **STREAMING) as served:
        yield served


def stream_of(slack: Slack, channel: str) -> tuple[Call, list[Call]]:
    """The first message the bot posted in `channel` (the streamed one: the stream's
    metadata, no reply's yet), and every chat.update of it, in order."""
    post = next(
        c
        for c in slack.workspace.called("chat.postMessage")
        if c.params["channel"] == channel and not is_reply(c.params.get("metadata"))
    )
    ts = next(m["ts"] for m in slack.workspace.messages[channel] if m.get("user") == BOT_USER)
    updates = [
        c
        for c in slack.workspace.called("chat.update")
        if c.params["channel"] == channel and c.params["ts"] == ts
    ]
    return post, updates


def previews(post: Call, updates: list[Call]) -> list[Call]:
    """The streamer's calls: the post, and the edits before the final one."""
    return [post, *[u for u in updates if not u.params.get("blocks")]]


def assert_grows_into(shown: list[Call], turn: Turn) -> None:
    """Each preview is the reply so far with the mark, and says more than the one before."""
    texts = [str(c.params["text"]) for c in shown]
    assert all(t.endswith(MARK) for t in texts), texts
    so_far = [t.removesuffix(MARK) for t in texts]
    assert all(turn.completion.startswith(t) for t in so_far)
    assert all(len(a) < len(b) for a, b in zip(so_far, so_far[1:], strict=False))


def test_a_mention_is_answered_by_one_message_that_grows_into_the_rated_reply(
    slack: Slack,
) -> None:
    channel = new_channel()
    said = slack.say(channel, f"<@{BOT_USER}> tell me all about it")
    posted, turn = slack.reply(channel, timeout=REPLY_WAIT_S)
    post, updates = stream_of(slack, channel)
    assert post.params["thread_ts"] == said["ts"]  # in the thread, as the reply would be
    shown = previews(post, updates)
    assert len(shown) >= 2, "no edit while the reply was written"
    assert_grows_into(shown, turn)
    for before, after in zip(shown, shown[1:], strict=False):
        assert after.at - before.at >= EVERY_S - JITTER_S
    final = updates[-1]
    assert final.params["text"] == turn.completion
    actions = final.params["blocks"][-1]
    assert [e["action_id"] for e in actions["elements"]] == [
        "replyloop_up",
        "replyloop_down",
        "replyloop_retry",
    ]
    assert final.params["metadata"]["event_payload"] == {"turn_id": turn.id}
    assert turn.platform_message_id == f"{channel}:{posted['ts']}"
    assert posted["text"] == turn.completion  # the message as it stands
    assert wait_for("the reactions", lambda: posted.get("reactions") == ["+1", "-1"])
    assert (
        len(
            [
                c
                for c in slack.workspace.called("chat.postMessage")
                if c.params["channel"] == channel
            ]
        )
        == 1
    )


def test_a_rate_limited_edit_waits_for_retry_after(slack: Slack) -> None:
    channel = "D" + secrets.token_hex(4).upper()
    slack.say(channel, "and what else?")
    post = wait_for(
        "the streamed message",
        lambda: [
            c for c in slack.workspace.called("chat.postMessage") if c.params["channel"] == channel
        ],
        REPLY_WAIT_S,
    )[0]
    limited_at = time.monotonic()
    slack.workspace.fail("chat.update", 429, retry_after=RETRY_AFTER_S)
    _posted, turn = slack.reply(channel, timeout=REPLY_WAIT_S)
    _post, updates = stream_of(slack, channel)
    refused = next(u for u in updates if u.at >= limited_at)  # the 429's
    after = [u for u in previews(post, updates) if u.at > refused.at]
    assert all(u.at - refused.at >= RETRY_AFTER_S - JITTER_S for u in after)
    assert updates[-1].params["text"] == turn.completion  # the reply came whole all the same
    assert_grows_into(previews(post, [u for u in updates if u is not refused]), turn)


def test_with_streaming_off_the_reply_is_posted_once_whole(slack: Slack) -> None:
    with another_adapter(slack, "serve-off.log", REPLYLOOP_SLACK_STREAM="false") as unstreamed:
        channel = "D" + secrets.token_hex(4).upper()
        unstreamed.say(channel, "no streaming here")
        posted, turn = unstreamed.reply(channel, timeout=REPLY_WAIT_S)
    posts = [
        c for c in slack.workspace.called("chat.postMessage") if c.params["channel"] == channel
    ]
    assert [p.params["text"] for p in posts] == [turn.completion]
    assert posts[0].params["metadata"]["event_payload"] == {"turn_id": turn.id}
    assert not [c for c in slack.workspace.called("chat.update") if c.params["channel"] == channel]
    assert turn.platform_message_id == f"{channel}:{posted['ts']}"


def bot_messages(slack: Slack, channel: str) -> list[dict[str, Any]]:
    """Every message the bot has in `channel`, as it stands now."""
    with slack.workspace.lock:
        return [
            dict(m) for m in slack.workspace.messages.get(channel, []) if m.get("user") == BOT_USER
        ]


def live_key_of(live: redis.Redis, posted: str) -> str | None:
    """The live hash (wire.live) that names streamed message `posted` (`channel:ts`)."""
    for key in live.scan_iter(match=f"{PREFIX}*"):
        if not key.endswith(":lock") and live.hget(key, POSTED) == posted:
            return str(key)
    return None


@pytest.mark.parametrize(
    ("channel", "kept_away"),
    [(new_channel(), False), ("D" + secrets.token_hex(4).upper(), True)],
    ids=["thread-hash-made-again", "dm-hash-gone"],
)
def test_a_stream_whose_live_hash_redis_lost_is_edited_into_the_reply_not_posted_beside(
    slack: Slack, worker_broker: str, channel: str, kept_away: bool
) -> None:
    """Redis lost the reply's live hash (a crash without persistence) after the streamer
    posted: nothing in Redis names the streamed message, and the delivery finds it in the
    thread (or the DM) by its metadata. Lost once, while the worker still writes (it makes
    the hash again, without the adapter's part), or kept away until the reply is there."""
    live = redis.Redis.from_url(worker_broker, decode_responses=True)
    slack.say(channel, f"<@{BOT_USER}> tell me everything")
    post = wait_for("the streamed message", lambda: bot_messages(slack, channel), REPLY_WAIT_S)[0]
    key = wait_for("its live hash", lambda: live_key_of(live, f"{channel}:{post['ts']}"))
    live.delete(key, f"{key}:lock")
    delivered = threading.Event()
    if kept_away:

        def keep_away() -> None:
            while not delivered.wait(0.02):
                live.delete(key, f"{key}:lock")

        threading.Thread(target=keep_away, daemon=True).start()
    try:
        posted, turn = slack.reply(channel, timeout=REPLY_WAIT_S)
    finally:
        delivered.set()
        live.close()
    time.sleep(1)  # a second post would come at once
    shown = bot_messages(slack, channel)
    assert [m["ts"] for m in shown] == [post["ts"]], [m["text"][:40] for m in shown]
    assert posted["text"] == turn.completion
    buttons = posted["blocks"][-1]["elements"]
    assert [e["action_id"] for e in buttons] == [
        "replyloop_up",
        "replyloop_down",
        "replyloop_retry",
    ]
    assert posted["metadata"]["event_payload"] == {"turn_id": turn.id}
    assert turn.platform_message_id == f"{channel}:{post['ts']}"
    assert wait_for("the reactions", lambda: posted.get("reactions") == ["+1", "-1"])


def test_a_stream_whose_posted_id_redis_lost_is_not_posted_twice(
    slack: Slack, worker_broker: str
) -> None:
    """Redis came back from its append-only file without its last second: the live hash
    is there, but not the id of the message the streamer posted. Neither the streamer
    (which would post its preview again) nor the delivery (which would post the reply
    beside it) makes a second message."""
    channel = new_channel()
    live = redis.Redis.from_url(worker_broker, decode_responses=True)
    slack.say(channel, f"<@{BOT_USER}> tell me everything")
    post = wait_for("the streamed message", lambda: bot_messages(slack, channel), REPLY_WAIT_S)[0]
    key = wait_for("its live hash", lambda: live_key_of(live, f"{channel}:{post['ts']}"))
    delivered = threading.Event()

    def forget_posted() -> None:
        while not delivered.wait(0.02):
            live.hdel(key, POSTED)

    threading.Thread(target=forget_posted, daemon=True).start()
    try:
        posted, turn = slack.reply(channel, timeout=REPLY_WAIT_S)
    finally:
        delivered.set()
    time.sleep(1)  # a second post would come at once
    live.close()
    shown = bot_messages(slack, channel)
    assert [m["ts"] for m in shown] == [post["ts"]], [m["text"][:40] for m in shown]
    assert posted["text"] == turn.completion
    assert turn.platform_message_id == f"{channel}:{post['ts']}"
