"""While Redis cannot be reached, an adapter still takes a message (issue 20): its event
id is handled unclaimed and it is not counted against the limits, rather than the
platform getting a 500 (Slack then tried again only after a minute) or the message being
dropped after the platform was answered. What must hold a claim (Telegram's sent parts)
still refuses."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from bots.dedupe import Dedupe
from bots.limits import ANSWER, Limits
from tests.integration.adapters import free_port


def _nowhere() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


def test_an_event_is_handled_unclaimed_while_redis_is_away() -> None:
    events = Dedupe(_nowhere(), 60, open_when_away=True)
    assert events.first("slack:event:Ev1") and events.first("slack:event:Ev1")


def test_a_claim_that_must_hold_refuses_while_redis_is_away() -> None:
    with pytest.raises(RedisConnectionError):
        Dedupe(_nowhere(), 60).claim("telegram:part:1:0", "sending")


def test_a_message_is_not_limited_while_its_count_cannot_be_kept() -> None:
    limits = Limits(_nowhere(), user_limit=1, chat_limit=1, window_s=60)
    assert [limits.check("slack", "C1", "U1") for _ in range(3)] == [ANSWER] * 3
