"""The streamer and the final delivery's hand-over (bots.streaming) on a real Redis, with
the platform a recording stand-in and the clock the test's: pacing, rate limits, refusals
and every order in which the streamer and the final delivery can meet, step by step."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import redis

from bots.streaming.handover import Handover, hand_over, take_over
from bots.streaming.pacing import MARK, preview
from bots.streaming.streamer import POSTED, RateLimited, Refused, Streamer
from wire.live import LOCK_S, PREFIX, LiveText

EVERY_S = 1.0
LIMIT_S = 60.0


@dataclass
class Platform:
    """What the streamer posted and edited, in order; `failing` is raised by the next
    calls, one each."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (what, message, text)
    failing: list[Exception] = field(default_factory=list)
    every: float = EVERY_S

    def every_s(self, chat_key: str) -> float:
        return self.every

    def preview(self, text: str) -> str:
        return preview(text, 4000)

    def post(self, message_id: int, chat_key: str, answered: str | None, text: str) -> str:
        self._fail()
        posted = f"{chat_key}:{len(self.calls) + 1}"
        self.calls.append(("post", posted, text))
        return posted

    def edit(self, posted: str, text: str) -> None:
        self._fail()
        self.calls.append(("edit", posted, text))

    def _fail(self) -> None:
        if self.failing:
            raise self.failing.pop(0)


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Setup:
    live: LiveText
    platform: Platform
    clock: Clock
    streamer: Streamer
    message_id: int
    redis_url: str

    def write(self, text: str) -> None:
        """The gpu worker's part: the text so far."""
        self.live.write(self.message_id, text)

    def lose(self) -> None:
        """Redis lost the live hash (restarted without its data)."""
        with redis.Redis.from_url(self.redis_url) as client:
            client.delete(f"{PREFIX}{self.message_id}", f"{PREFIX}{self.message_id}:lock")

    def tick(self, at: float) -> None:
        self.clock.now = at
        self.streamer.tick()


@pytest.fixture
def setup(redis_url: str) -> Iterator[Setup]:
    live, platform, clock = LiveText(redis_url), Platform(), Clock()
    streamer = Streamer(live, platform, LIMIT_S, clock=clock)
    message_id = 10**12 + secrets.randbelow(10**12)  # no other test's live reply
    streamer.open(message_id, "chat-1", None)
    yield Setup(live, platform, clock, streamer, message_id, redis_url)
    client = redis.Redis.from_url(redis_url)
    client.delete(f"{PREFIX}{message_id}", f"{PREFIX}{message_id}:lock")
    client.close()


def test_the_text_so_far_is_posted_then_edited_no_sooner_than_the_interval(
    setup: Setup,
) -> None:
    setup.tick(100.0)
    assert setup.platform.calls == []  # nothing written yet
    setup.write("Hello")
    setup.tick(100.25)
    setup.write("Hello wor")
    setup.tick(100.5)
    setup.tick(101.0)
    setup.tick(101.25)
    setup.write("Hello world.")
    setup.tick(101.5)
    setup.tick(102.25)
    posted = "chat-1:1"
    assert setup.platform.calls == [
        ("post", posted, "Hello" + MARK),
        ("edit", posted, "Hello wor" + MARK),
        ("edit", posted, "Hello world." + MARK),
    ]
    assert setup.live.read(setup.message_id)[POSTED] == posted


def test_a_rate_limit_holds_edits_off_until_retry_after(setup: Setup) -> None:
    setup.write("One")
    setup.tick(100.0)
    setup.platform.failing.append(RateLimited(3.0))
    setup.write("One two")
    setup.tick(101.0)  # refused: nothing before 104.0
    setup.write("One two three")
    setup.tick(102.0)
    setup.tick(103.75)
    assert [call[0] for call in setup.platform.calls] == ["post"]
    setup.tick(104.0)
    assert setup.platform.calls[-1] == ("edit", "chat-1:1", "One two three" + MARK)
    assert setup.streamer.watching() == [setup.message_id]


def test_a_rate_limited_first_post_is_tried_again_later(setup: Setup) -> None:
    setup.platform.failing.append(RateLimited(2.0))
    setup.write("One")
    setup.tick(100.0)
    setup.tick(101.5)
    assert setup.platform.calls == []
    setup.tick(102.0)
    assert setup.platform.calls == [("post", "chat-1:1", "One" + MARK)]


def test_a_refused_post_ends_the_stream_and_the_delivery_posts_the_reply(setup: Setup) -> None:
    setup.platform.failing.append(Refused("not_in_channel"))
    setup.write("One")
    setup.tick(100.0)
    assert setup.streamer.watching() == []
    assert take_over(setup.live, setup.message_id, "7") is None


def test_the_final_delivery_takes_over_what_was_posted(setup: Setup) -> None:
    setup.write("One")
    setup.tick(100.0)
    assert take_over(setup.live, setup.message_id, "7") == "chat-1:1"
    setup.write("One two")  # too late: a partial edit never lands over the whole reply
    setup.tick(101.0)
    setup.tick(102.0)
    assert [call[0] for call in setup.platform.calls] == ["post"]
    assert setup.streamer.watching() == []
    # The same reply delivered again (its task ran twice) edits the same message.
    assert take_over(setup.live, setup.message_id, "7") == "chat-1:1"


def test_a_reply_finished_before_anything_was_posted_is_posted_by_its_delivery(
    setup: Setup,
) -> None:
    setup.write("One")  # written, but the streamer's tick comes after the reply is done
    assert take_over(setup.live, setup.message_id, "7") is None
    setup.tick(100.0)
    assert setup.platform.calls == []


def test_a_sibling_reply_posts_its_own_message(setup: Setup) -> None:
    """ "Try again" makes a second reply to the same message: the stream was the first's."""
    setup.write("One")
    setup.tick(100.0)
    assert take_over(setup.live, setup.message_id, "7") == "chat-1:1"
    assert take_over(setup.live, setup.message_id, "8") is None


def test_the_streamer_never_waits_for_the_lock_nor_edits_without_it(setup: Setup) -> None:
    setup.write("One")
    lock = setup.live.lock(setup.message_id)
    assert lock.acquire(blocking=False)
    # A tick that waited for the lock would wait until after it returns: forever, or the
    # lock's LOCK_S. Returning while the lock is still held is the proof, at any speed.
    ticking = threading.Thread(target=setup.tick, args=(100.0,), daemon=True)
    ticking.start()
    ticking.join(LOCK_S)
    assert not ticking.is_alive()
    assert lock.owned()
    assert setup.platform.calls == []
    lock.release()
    setup.tick(100.25)
    assert setup.platform.calls == [("post", "chat-1:1", "One" + MARK)]


def test_a_streamer_that_died_mid_post_delays_the_delivery_only_until_its_lock_expires(
    setup: Setup,
) -> None:
    setup.live.claim(setup.message_id, "poster", "streamer")
    setup.live.lock(setup.message_id, timeout_s=1.0).acquire()  # never released: it died
    started = time.monotonic()
    assert take_over(setup.live, setup.message_id, "7") is None  # posts the reply itself
    # It waited for the dead lock to expire (1 s), not for its own limit (LOCK_S + 1, after
    # which it raises): bounds that hold on a loaded machine.
    assert 0.5 < time.monotonic() - started < LOCK_S


def test_edits_and_the_hand_over_from_two_threads_never_cross(setup: Setup) -> None:
    """The streamer edits as fast as it may while the delivery takes over: once the
    hand-over returns, no edit follows."""
    platform = setup.platform
    platform.every = 0.0  # every tick that sees new text edits
    setup.streamer = Streamer(setup.live, platform, LIMIT_S, tick_s=0.005)
    setup.streamer.open(setup.message_id, "chat-1", None)
    setup.write("x")
    setup.streamer.start()
    try:
        for length in range(2, 40):
            setup.write("x" * length)
            time.sleep(0.02)
            if platform.calls:
                break
        stop = threading.Event()

        def grow() -> None:
            length = 40
            while not stop.is_set():
                length += 1
                setup.write("y" * length)
                time.sleep(0.005)

        writer = threading.Thread(target=grow)
        writer.start()
        time.sleep(0.2)
        edits_before = len(platform.calls)
        assert take_over(setup.live, setup.message_id, "7") == "chat-1:1"
        calls_at_hand_over = len(platform.calls)
        time.sleep(0.3)
        stop.set()
        writer.join()
    finally:
        setup.streamer.stop()
    assert edits_before > 2  # the streamer was busy editing when the delivery came
    assert len(platform.calls) == calls_at_hand_over


def test_a_stream_is_watched_no_longer_than_its_limit(setup: Setup) -> None:
    setup.tick(100.0 + LIMIT_S + 1)
    assert setup.streamer.watching() == []


def test_a_hash_lost_is_told_to_the_delivery(setup: Setup) -> None:
    """Redis restarted without its data: nothing names the streamed message, and the
    delivery is told so (Slack then looks for it by its metadata)."""
    setup.write("One")
    setup.tick(100.0)
    setup.lose()
    assert hand_over(setup.live, setup.message_id, "7") == Handover(None, lost=True)


def test_a_hash_a_worker_made_again_is_not_streamed_again(setup: Setup) -> None:
    """The worker writes the text so far into a new hash, without the adapter's part: the
    streamer posts no second message, and the delivery is told the stream was lost."""
    setup.write("One")
    setup.tick(100.0)
    setup.lose()
    setup.write("One two")
    setup.tick(101.0)
    setup.tick(102.0)
    assert setup.platform.calls == [("post", "chat-1:1", "One" + MARK)]
    assert setup.streamer.watching() == []
    assert hand_over(setup.live, setup.message_id, "7") == Handover(None, lost=True)
    assert hand_over(setup.live, setup.message_id, "8") == Handover(None)  # a sibling's


def test_a_hash_in_place_names_the_streamed_message(setup: Setup) -> None:
    setup.write("One")
    setup.tick(100.0)
    assert hand_over(setup.live, setup.message_id, "7") == Handover("chat-1:1", lost=False)
