"""The final delivery's side of a streamed reply: it ends the stream, then edits what was
streamed into the whole reply, or posts the reply as usual.

Under the reply's lock (wire.live), the lock the streamer edits under: the reply
claims the stream (`ended_by`, HSETNX: a "Try again" sibling of the same message finds the
stream taken and posts its own message), marks it `done` (so the streamer stops before
its next edit) and reads what was posted. The lock is held for those three Redis calls
only: every platform call after it happens with the stream already ended. A streamer that
died holding the lock held it LOCK_S at most; the delivery waits that long, once.
"""

from __future__ import annotations

from bots.refusals import Transient
from bots.streaming.streamer import DONE, FINAL, POSTED, POSTER, release
from wire.live import LOCK_S, LiveText

ENDED_BY = "ended_by"  # whose reply the stream was: a turn id, or a failure notice's task id


def take_over(
    live: LiveText, message_id: int, owner: str, wait_s: float = LOCK_S + 1
) -> str | None:
    """End the stream of message `message_id`'s reply for `owner` (the turn id of the reply
    delivered, or a notice's task id). The platform id of the message it streamed, which
    `owner` now edits; None when there is none to edit: the reply was not streamed,
    nothing was posted yet (the streamer will post nothing now), or the stream was
    another reply's."""
    if not live.read(message_id):
        return None  # not streamed (streaming off, or not opened by an adapter)
    lock = live.lock(message_id)
    if not lock.acquire(blocking=True, blocking_timeout=wait_s):
        raise Transient(f"the stream of message {message_id}'s reply stays locked")
    try:
        if live.claim(message_id, ENDED_BY, owner) != owner:
            return None
        live.claim(message_id, POSTER, FINAL)
        live.mark(message_id, DONE)
        posted = live.read(message_id).get(POSTED)
    finally:
        release(lock, f"the stream of message {message_id}'s reply")
    return str(posted) if posted else None
