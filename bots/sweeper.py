"""Every stored message is answered: the sweeper queues again the replies whose tasks were
lost.

A task can be lost after its message is stored: Redis restarted without persistence, a
worker killed with -9 (kombu hands its task out again only after visibility_timeout_s,
10 minutes by default), a send that failed while the broker was away. Every
`sweep_every_s` one io worker looks for messages stored in the last `sweep_window_s` that
still wait for their reply (core.store.waiting) and are older than `sweep_after_s`, and
leaves those whose request is in hand (queued, held by a live gpu worker, or waiting behind
an earlier reply: wire.claims). Each of the rest gets its reply requested again under its
first key, so generation is idempotent: a Turn made already is delivered, not made twice,
and a delivered one is left alone (bots.redelivery). It is asked for live: its reply may
have been streamed before its task was lost (the adapter's live hash gone with Redis, or
a worker still writing it), so its delivery ends the stream or finds the streamed message
(Slack: by its metadata) and edits it, instead of posting the reply beside it; a reply
never streamed is posted as usual. A message swept `sweep_attempts`
times without a reply is given up, and its chat told so. Kept votes a day old, which no
reply will ever match, are dropped (core.store.kept).

Several io workers may run one each: a Redis lock lets one of them sweep per round.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import redis

from core.settings import Settings
from core.store import Store
from core.store.kept import KEPT_FOR_S, drop_kept_votes
from core.store.time import utcnow
from core.store.waiting import Waiting, waiting_messages
from wire import metrics
from wire.behind import WaitingRequests
from wire.claims import CLAIM_TTL_S, Claims
from wire.messages import Notice, ReplyRequest, first_key, send_notice
from wire.queues import GPU_QUEUE, IO_QUEUE
from wire.tasks import send

log = logging.getLogger(__name__)

LOCK = "replyloop:sweeper"
SWEPT = "replyloop:swept:"  # how many times a message was swept (a day's memory)
GIVEN_UP = "Sorry, no reply could be made to this message. It is kept; try again later."


@dataclass
class Swept:
    waiting: int = 0  # stored, unanswered and old enough to look at
    in_hand: int = 0  # of those, queued, held or waiting behind: left alone
    queued: int = 0  # asked for again
    given_up: int = 0


class Sweeper:
    def __init__(self, settings: Settings, store: Store) -> None:
        assert settings.broker_url, "without a broker, nothing is queued, so nothing is lost"
        self.settings = settings
        self.store = store
        self.claims = Claims(settings.broker_url)
        self.behind = WaitingRequests(settings.broker_url, settings.sweep_window_s)
        self._redis = redis.Redis.from_url(settings.broker_url)

    def sweep(self) -> Swept:
        """One round; returns what it found and did."""
        now = utcnow()
        dropped = drop_kept_votes(self.store, now - timedelta(seconds=KEPT_FOR_S))
        if dropped:
            log.info("sweeper: %d kept votes a day old matched no reply: dropped", dropped)
        found = waiting_messages(
            self.store,
            since=now - timedelta(seconds=self.settings.sweep_window_s),
            before=now - timedelta(seconds=self.settings.sweep_after_s),
        )
        swept = Swept(waiting=len(found))
        if not found:
            return swept
        ids = [w.message_id for w in found]
        # In this order: a task that leaves a queue's list is in the unacked hash at once,
        # and claimed by its worker within moments.
        queued = self.claims.queued_messages((GPU_QUEUE, IO_QUEUE))
        taken = self.claims.taken_since(CLAIM_TTL_S)
        held = self.claims.held(ids)
        in_hand = queued | taken | held | self.behind.waiting_in({w.conversation_id for w in found})
        lost = [w for w in found if w.message_id not in in_hand]
        swept.in_hand = len(found) - len(lost)
        for waiting in lost:
            if self._times_swept(waiting) > self.settings.sweep_attempts:
                self._give_up(waiting)
                swept.given_up += 1
            else:
                key = first_key(waiting.message_id)
                send(ReplyRequest(waiting.message_id, key, time.time(), live=True))
                swept.queued += 1
        metrics.SWEPT.inc(swept.queued)
        metrics.GIVEN_UP.inc(swept.given_up)
        # Queued now: in hand until a worker takes them, which claims them in turn.
        self.claims.hold([w.message_id for w in lost], self.settings.sweep_after_s)
        if swept.queued or swept.given_up:
            log.warning(
                "sweeper: %d messages waited with no request in hand: %d asked again, %d given up",
                len(lost),
                swept.queued,
                swept.given_up,
            )
        return swept

    def _times_swept(self, waiting: Waiting) -> int:
        # With its time: a store made afresh on the same broker counts its ids from 1 again.
        key = f"{SWEPT}{waiting.message_id}:{waiting.created_at.timestamp():.6f}"
        with self._redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, 86400)
            count, _ = pipe.execute()
        return int(count)

    def _give_up(self, waiting: Waiting) -> None:
        log.error(
            "message %s got no reply after %d sweeps: given up",
            waiting.message_id,
            self.settings.sweep_attempts,
        )
        self.store.give_up(waiting.message_id)
        send_notice(waiting.platform, Notice(waiting.chat_key, waiting.message_id, GIVEN_UP))

    def run(self, stop: threading.Event) -> None:
        """Sweep every sweep_every_s until `stop` is set; one io worker a round."""
        every = self.settings.sweep_every_s
        while not stop.wait(every):
            try:
                # Held a little less than a round: the next round is anyone's.
                if self._redis.set(LOCK, 1, nx=True, px=int(every * 900)):
                    self.sweep()
            except Exception as exc:  # noqa: BLE001 - the broker or database is away: next round
                log.warning("sweeper: round skipped (%r)", exc)


def start_sweeping(settings: Settings, store: Store) -> threading.Event:
    """Run a Sweeper on a thread of this process; set the returned event to stop it."""
    stop = threading.Event()
    sweeper = Sweeper(settings, store)
    threading.Thread(target=sweeper.run, args=(stop,), name="sweeper", daemon=True).start()
    return stop
