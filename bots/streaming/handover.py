"""The final delivery's side of a streamed reply: it ends the stream, then edits what was
streamed into the whole reply, or posts the reply as usual.

Under the reply's lock (wire.live), the lock the streamer edits under: the reply
claims the stream (`ended_by`, HSETNX: a "Try again" sibling of the same message finds the
stream taken and posts its own message), marks it `done` (so the streamer stops before
its next edit) and reads what was posted. The lock is held for those three Redis calls
only: every platform call after it happens with the stream already ended. A streamer that
died holding the lock held it LOCK_S at most; the delivery waits that long, once.

A hash without the adapter's `chat_key` was lost: Redis restarted without its data (and a
generating worker may have written the text so far into a new hash since), or it expired.
One whose streamer claimed the post but names no posted message lost that last write (Redis
restarted from its append-only file, which may miss the last second).
Nothing in Redis names the streamed message then, though one may be in the chat: the
delivery is told (`Handover.lost`), and a platform that can find its streamed message by
itself (Slack, by its metadata) looks for it before posting the reply anew.
"""

from __future__ import annotations

from dataclasses import dataclass

from bots.refusals import Transient
from bots.streaming.streamer import CHAT_KEY, DONE, FINAL, POSTED, POSTER, STREAMER, release
from wire.live import LOCK_S, LiveText

ENDED_BY = "ended_by"  # whose reply the stream was: a turn id, or a failure notice's task id


@dataclass(frozen=True)
class Handover:
    """What the final delivery edits: `posted`, the streamed message's platform id (None
    when it posts its own). `lost`: the reply's live hash is gone or was made again
    without the adapter's part, so a message streamed before may be unknown here."""

    posted: str | None
    lost: bool = False


def hand_over(live: LiveText, message_id: int, owner: str, wait_s: float = LOCK_S + 1) -> Handover:
    """End the stream of message `message_id`'s reply for `owner` (the turn id of the reply
    delivered, or a notice's task id). `posted` is None when there is nothing to edit: the
    reply was not streamed, nothing was posted yet (the streamer will post nothing now),
    the stream was another reply's, or its hash was lost (`lost`)."""
    found = live.read(message_id)
    if not found:
        # Not streamed (streaming off, or not opened by an adapter), or lost.
        return Handover(None, lost=True)
    lock = live.lock(message_id)
    if not lock.acquire(blocking=True, blocking_timeout=wait_s):
        raise Transient(f"the stream of message {message_id}'s reply stays locked")
    try:
        if live.claim(message_id, ENDED_BY, owner) != owner:
            return Handover(None)
        poster = live.claim(message_id, POSTER, FINAL)
        live.mark(message_id, DONE)
        posted = live.read(message_id).get(POSTED)
    finally:
        release(lock, f"the stream of message {message_id}'s reply")
    # The streamer claimed the post and no id of it is here (the post happens under the
    # lock): Redis lost that write (an append-only file's last second), or the post failed.
    unnamed = poster == STREAMER and not posted
    return Handover(str(posted) if posted else None, lost=CHAT_KEY not in found or unnamed)


def take_over(
    live: LiveText, message_id: int, owner: str, wait_s: float = LOCK_S + 1
) -> str | None:
    """`hand_over`'s streamed message alone, for a platform that cannot look for one."""
    return hand_over(live, message_id, owner, wait_s).posted
