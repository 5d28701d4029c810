"""Per-user and per-chat message limits (bots.limits), end to end through Slack: the real
slack-bolt app, real workers on Redis and PostgreSQL, the fake Slack Web API. A message
over a limit is stored but not answered, the chat is told once a window, and nobody else is
slowed. The counting itself is also checked on its own, on Redis and in memory."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, select

from bots.limits import PREFIX, SLOW_DOWN, Limits, Verdict
from core.store.schema import conversations, messages, turns
from tests.fake_slack import BOT_USER
from tests.integration.slack_harness import Slack, new_channel, served_slack, wait_for

USER_LIMIT, CHAT_LIMIT = 3, 5
WINDOW_S = "600"  # no window ends while a test runs


@pytest.fixture(scope="module")
def limited(
    worker_broker: str, tiny_model: Path, pg_admin: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Slack]:
    home = tmp_path_factory.mktemp("limited")
    env = dict(
        REPLYLOOP_USER_LIMIT=str(USER_LIMIT),
        REPLYLOOP_CHAT_LIMIT=str(CHAT_LIMIT),
        REPLYLOOP_RATE_WINDOW_S=WINDOW_S,
    )
    with served_slack(worker_broker, tiny_model, pg_admin, home, **env) as slack:
        yield slack


def dm() -> str:
    return "D" + secrets.token_hex(4).upper()


def stored(slack: Slack, channel: str) -> list[tuple[int, str, bool]]:
    """(id, text, awaits a reply) of each message stored for chats in `channel`."""
    query = (
        select(messages.c.id, messages.c.text, messages.c.awaits_reply)
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .where(conversations.c.platform == "slack", conversations.c.chat_key.contains(channel))
        .order_by(messages.c.id)
    )
    with slack.store.engine.connect() as conn:
        return [(row.id, row.text, row.awaits_reply) for row in conn.execute(query)]


def answered(slack: Slack, ids: list[int]) -> set[int]:
    query = select(turns.c.message_id).where(turns.c.message_id.in_(ids))
    with slack.store.engine.connect() as conn:
        return set(conn.scalars(query))


def notices(slack: Slack, channel: str, text: str) -> int:
    return sum(said == text for said in slack.workspace_texts(channel))


def test_a_user_over_the_limit_is_kept_unanswered_and_told_once(limited: Slack) -> None:
    user, channel = "U" + secrets.token_hex(4).upper(), dm()
    for n in range(USER_LIMIT + 4):
        limited.say(channel, f"message {n}", user=user)
    wait_for("the notice", lambda: notices(limited, channel, SLOW_DOWN["user"]))
    wait_for("the replies", lambda: len(limited.replies_in(channel, None)) >= USER_LIMIT)
    total = USER_LIMIT + 4
    wait_for("every message stored", lambda: len(stored(limited, channel)) == total)
    kept = stored(limited, channel)
    waiting = [i for i, _text, awaits in kept if awaits]
    unanswered = [i for i, _text, awaits in kept if not awaits]
    assert (len(waiting), len(unanswered)) == (USER_LIMIT, 4)
    wait_for("the answered ones' Turns", lambda: answered(limited, waiting) == set(waiting))
    assert answered(limited, unanswered) == set()  # never asked for: nothing to wait for
    assert len(limited.replies_in(channel, None)) == USER_LIMIT
    assert notices(limited, channel, SLOW_DOWN["user"]) == 1


def test_the_user_limit_counts_every_chat_and_spares_other_users(limited: Slack) -> None:
    flooder, other = "U" + secrets.token_hex(4).upper(), "U" + secrets.token_hex(4).upper()
    channels = [dm() for _ in range(USER_LIMIT + 2)]  # one message in each
    for channel in channels:
        limited.say(channel, "hello", user=flooder)
    theirs = dm()
    limited.say(theirs, "and me?", user=other)
    wait_for("the other user's reply", lambda: limited.replies_in(theirs, None))
    told = wait_for(
        "a notice", lambda: [c for c in channels if notices(limited, c, SLOW_DOWN["user"])]
    )

    def replies() -> int:
        return sum(len(limited.replies_in(c, None)) for c in channels)

    wait_for("the flooder's replies", lambda: replies() >= USER_LIMIT)
    assert len(told) == 1  # once a window, in the chat where the limit was passed
    assert replies() == USER_LIMIT
    assert notices(limited, theirs, SLOW_DOWN["user"]) == 0


def test_a_busy_thread_hits_the_chat_limit_but_a_flooder_alone_does_not(limited: Slack) -> None:
    channel = new_channel()
    root = limited.say(channel, f"<@{BOT_USER}> let us all talk", user="U1")
    wait_for("the first reply", lambda: limited.replies_in(channel, root["ts"]))
    # A flooder in the thread passes the user limit; those messages do not fill the chat's.
    flooder = "U" + secrets.token_hex(4).upper()
    for n in range(USER_LIMIT + 3):
        limited.say(channel, f"flood {n}", user=flooder, thread_ts=root["ts"])
    wait_for("the flooder's notice", lambda: notices(limited, channel, SLOW_DOWN["user"]))
    # The chat has had 1 + USER_LIMIT counted: others fill it to CHAT_LIMIT, then it is full.
    speakers = ["U7", "U8", "U9"]
    for n in range(CHAT_LIMIT - 1 - USER_LIMIT + 3):
        limited.say(channel, f"others {n}", user=speakers[n % 3], thread_ts=root["ts"])
    wait_for("the chat's notice", lambda: notices(limited, channel, SLOW_DOWN["chat"]))
    total = 1 + (USER_LIMIT + 3) + (CHAT_LIMIT - 1 - USER_LIMIT + 3)
    wait_for("every message stored", lambda: len(stored(limited, channel)) == total)
    kept = stored(limited, channel)
    assert sum(awaits for _i, _t, awaits in kept) == CHAT_LIMIT
    wait_for("the replies", lambda: len(limited.replies_in(channel, root["ts"])) >= CHAT_LIMIT)
    assert notices(limited, channel, SLOW_DOWN["user"]) == 1
    assert notices(limited, channel, SLOW_DOWN["chat"]) == 1


def count_until_over(limits: Limits, user: str, chat: str) -> list[Verdict]:
    return [limits.check("slack", chat, user) for _ in range(limits.user_limit + 3)]


@pytest.mark.parametrize("backend", ["redis", "memory"])
def test_one_notice_a_window_and_a_new_window_tells_again(backend: str, redis_url: str) -> None:
    limits = Limits(redis_url if backend == "redis" else None, 2, 0, 1)
    user = "U" + secrets.token_hex(4)
    first = count_until_over(limits, user, "chat")
    assert [v.over for v in first] == [None, None, "user", "user", "user"]
    assert [v.told for v in first] == [False, False, True, False, False]
    if backend == "redis":
        client = redis.Redis.from_url(redis_url)
        key = f"{PREFIX}user:slack:{user}"
        gone = [key, f"{key}:told"]
        wait_for("the window to end", lambda: all(client.pttl(k) == -2 for k in gone))
        client.close()
    else:
        time.sleep(1.1)  # the window, on the monotonic clock
    again = count_until_over(limits, user, "chat")
    assert [(v.over, v.told) for v in again] == [(v.over, v.told) for v in first]


def test_zero_is_no_limit(redis_url: str) -> None:
    limits = Limits(redis_url, 0, 0, 60)
    assert {limits.check("slack", "c", "u").over for _ in range(50)} == {None}
