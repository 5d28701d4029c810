"""The streamer: a thread of the adapter's process that shows its replies as they grow.

Every TICK_S it reads the live hashes of the replies it watches, all in one Redis
pipeline. A reply whose preview (bots.streaming.pacing) says something new, and whose
platform allows a change now, is posted (the first time) or edited, under the reply's
lock (wire.live), after checking that the final delivery has not ended its stream:
a late partial edit can never land over the whole reply. Who posts first is claimed in
the hash (`poster`, HSETNX) and the posted message's platform id written there
(`posted`) for the final delivery to edit. The streamer remembers what it posted too:
a hash that lost that id (Redis restarted from an append-only file missing its last
second) gets it again, and the message is edited, not posted a second time.

A watch ends when the hash says `done`, when it expired or was lost (Redis restarted
without its data: a hash a generating worker made again holds no `chat_key`, and a
second streamed message would be one too many), or after `limit_s`. A platform
saying "too many requests" (RateLimited) holds that reply's edits off until its
Retry-After has passed; any other refusal (Refused) stops streaming that reply. The
streamer never waits for a platform, and never fails a reply: the final delivery still
comes, and posts the reply itself when nothing was streamed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from bots.streaming.pacing import Pace, due, held_off, shown
from wire.live import LiveText

log = logging.getLogger(__name__)

TICK_S = 0.25  # the gpu worker writes the text so far about every 0.3 s (wire.live)

# Fields of the live hash (wire.live) that streaming adds.
CHAT_KEY, ANSWERED = "chat_key", "answered"  # the adapter's: where the reply goes
POSTER, STREAMER, FINAL = "poster", "streamer", "final"  # who posted first
POSTED = "posted"  # the streamed message's platform id
DONE = "done"  # the final delivery ended the stream (or the reply's failure notice did)


class RateLimited(Exception):
    """The platform said "too many requests": try no sooner than `retry_after_s`."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"rate limited for {retry_after_s:g} s")
        self.retry_after_s = retry_after_s


class Refused(Exception):
    """The platform refused a post or an edit, or could not be reached."""


class Target(Protocol):
    """A platform's side of streaming (bots/<platform>/stream.py). `post` and `edit` raise
    RateLimited or Refused, never the platform SDK's own errors, and give up within a few
    seconds (well inside wire.live.LOCK_S)."""

    def every_s(self, chat_key: str) -> float:
        """The least time between two posts or edits of one reply in this chat."""
        ...

    def preview(self, text: str) -> str:
        """The text so far as one message shows it (bots.streaming.pacing.preview)."""
        ...

    def post(self, message_id: int, chat_key: str, answered: str | None, text: str) -> str:
        """Post `text` where the reply goes (answering platform message `answered`), as the
        reply to stored message `message_id`; the posted message's platform id."""
        ...

    def edit(self, posted: str, text: str) -> None:
        """Show `text` in the posted message instead."""
        ...


@dataclass
class Stream:
    """One reply the streamer watches."""

    message_id: int
    chat_key: str
    every_s: float
    until: float  # time.monotonic() past which it is no longer watched
    pace: Pace = field(default_factory=Pace)
    posted: str | None = None  # what this streamer posted, should the hash lose its id


class Streamer:
    def __init__(
        self,
        live: LiveText,
        target: Target,
        limit_s: float,
        tick_s: float = TICK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.live, self.target = live, target
        self.limit_s, self.tick_s, self.clock = limit_s, tick_s, clock
        self._streams: dict[int, Stream] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self, message_id: int, chat_key: str, answered: str | None) -> None:
        """The adapter's part, before it asks for the reply `live`: the reply's live hash,
        with where it goes, and a watch on it."""
        self.live.open(message_id, chat_key=chat_key, answered=answered or "", started=time.time())
        every_s = self.target.every_s(chat_key)
        with self._lock:
            self._streams[message_id] = Stream(
                message_id, chat_key, every_s, self.clock() + self.limit_s
            )

    def watching(self) -> list[int]:
        with self._lock:
            return sorted(self._streams)

    # -- the thread --------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="streamer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.tick_s * 4)

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception:
                # A bug here must not end every later reply's stream: the final deliveries
                # come regardless, so log it and go on.
                log.exception("streamer: a tick failed")

    # -- one round ---------------------------------------------------------------------------

    def tick(self) -> None:
        """Read every watched reply's hash (one round trip); show those that are due."""
        with self._lock:
            streams = list(self._streams.values())
        if not streams:
            return
        try:
            found = self.live.read_many([s.message_id for s in streams])
        except RedisError as exc:
            log.warning("streamer: cannot read the live replies (%s)", exc)
            return
        now = self.clock()
        for stream, hash_ in zip(streams, found, strict=True):
            if ended(hash_) or now > stream.until:
                self._forget(stream)
                continue
            preview = self.target.preview(str(hash_.get("text") or ""))
            if due(stream.pace, preview, now):
                try:
                    self._show(stream, preview)
                except RedisError as exc:
                    log.warning(
                        "streamer: reply to message %s not shown (%s)", stream.message_id, exc
                    )

    def _show(self, stream: Stream, preview: str) -> None:
        with self._holding(stream.message_id) as held:
            if not held:
                return  # the final delivery is ending this stream
            hash_ = self.live.read(stream.message_id)
            if ended(hash_):
                self._forget(stream)
                return
            posted = hash_.get(POSTED) or stream.posted
            try:
                if posted:
                    if not hash_.get(POSTED):  # Redis lost it (an append-only file's last second)
                        self.live.mark(stream.message_id, POSTED, posted)
                    self.target.edit(str(posted), preview)
                elif self.live.claim(stream.message_id, POSTER, STREAMER) != STREAMER:
                    self._forget(stream)  # the final delivery posts the reply itself
                    return
                else:
                    answered = str(hash_.get(ANSWERED) or "") or None
                    posted = self.target.post(stream.message_id, stream.chat_key, answered, preview)
                    stream.posted = posted
                    self.live.mark(stream.message_id, POSTED, posted)
            except RateLimited as exc:
                log.info("reply to message %s: %s", stream.message_id, exc)
                stream.pace = held_off(stream.pace, self.clock(), exc.retry_after_s)
                return
            except Refused as exc:
                log.warning("reply to message %s no longer streamed: %s", stream.message_id, exc)
                self._forget(stream)
                return
            # Counted from the call's end: the platform never sees two closer than every_s,
            # however long this call took to reach it.
            stream.pace = shown(preview, self.clock(), stream.every_s)

    @contextmanager
    def _holding(self, message_id: int) -> Iterator[bool]:
        """The reply's lock if it is free now (the streamer never waits for it)."""
        lock = self.live.lock(message_id)
        held = lock.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                release(lock, f"reply to message {message_id}")

    def _forget(self, stream: Stream) -> None:
        with self._lock:
            self._streams.pop(stream.message_id, None)


def ended(hash_: dict[str, Any]) -> bool:
    """Whether a live hash's stream is over: done, expired, or lost."""
    return not hash_ or bool(hash_.get(DONE)) or CHAT_KEY not in hash_


def release(lock: Lock, what: str) -> None:
    """Release a lock that may have expired meanwhile (its holder took over LOCK_S)."""
    try:
        lock.release()
    except LockError:
        log.warning("%s: its lock expired before it was released", what)


@contextmanager
def running(streamer: Streamer | None) -> Iterator[None]:
    """The streamer's thread running while in use (nothing when streaming is off)."""
    if streamer is None:
        yield
        return
    streamer.start()
    try:
        yield
    finally:
        streamer.stop()
