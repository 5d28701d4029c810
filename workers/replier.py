"""A gpu worker's replies: requests in, stored Turns out, the model busy all the while.

Three threads a process, each doing one thing so the model never waits on SQL:

- intake: takes every request waiting, reads their contexts from the store in one query,
  builds the prompts and hands them to the scheduler (workers.scheduler), which lets them
  join the running batch at its next step;
- the scheduler's decoding thread;
- finishing: takes every reply the scheduler finished (and the text so far of live ones),
  stores the Turns in one insert, queues their delivery, and resolves each request's future
  (whose callback acknowledges its Celery message: acks late, per message).

Order within a conversation: a conversation has one reply in the making at a time, so a
second message sees the reply to the first in its context; a request for a conversation
busy here is parked until that reply is stored, and parked requests are let go one per
conversation at a time, in order (a conversation with 300 waiting costs an intake round
one context read, not 300). A message whose earlier one is being answered elsewhere
(another worker, or a task still queued), or whose conversation has a request parked here
already, waits in Redis (`waiting`, wire.behind) and is answered `Behind`: its task is
acknowledged and holds nothing here, and the worker that stores a reply of that
conversation queues the next waiting request. That goes on for up to `wait_s` after it was
queued, then the message is answered with the earlier message as context alone.

A redelivered request whose Turn exists gets that Turn without generating again; it is
delivered again unless it was delivered.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial

from core.context import build_prompt, messages_that_fit
from core.store import Store
from core.types import ChatMessage, Delivery, GenerationSettings, ReplyContext, Turn, delivery
from wire import metrics
from wire.behind import WaitingRequests
from wire.claims import Claims, keep_claimed
from wire.live import LiveTexts
from wire.messages import ReplyRequest, deliver, resume
from workers.decoder import DecodingRow
from workers.generation import Generation
from workers.scheduler import Scheduler
from workers.turns import Behind, new_turn

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Asked:
    request: ReplyRequest
    future: Future[Turn] = field(default_factory=Future)


@dataclass(eq=False)
class _Making:
    """A reply the scheduler is making."""

    asked: _Asked
    context: ReplyContext
    prompt: list[ChatMessage]
    row: DecodingRow
    context_s: float
    taken_at: float  # epoch seconds when intake took it


class Replier:
    def __init__(
        self,
        store: Callable[[], Store],
        scheduler: Scheduler,
        settings: GenerationSettings,
        wait_s: float = 0.0,
        live: LiveTexts | None = None,
        waiting: WaitingRequests | None = None,
        claims: Claims | None = None,
    ) -> None:
        self._store = store
        self.scheduler = scheduler
        self.settings = settings
        self.wait_s = wait_s
        self.live = live
        self.waiting = waiting  # None (one process): requests wait parked here
        self.claims = claims  # None (one process): nothing sweeps (bots.sweeper)
        self._waiting: deque[_Asked] = deque()
        self._ready = threading.Condition()
        self._done: queue.SimpleQueue[_Making | tuple[int, str]] = queue.SimpleQueue()
        self._in_making: set[int] = set()  # conversations with a reply in the making here
        self._parked: dict[int, deque[_Asked]] = {}  # conversation -> requests behind it
        self._rows: dict[int, DecodingRow] = {}  # message id -> the row making its reply
        self._asked: dict[int, int] = {}  # message id -> its requests not yet answered
        self._cancel: set[int] = set()  # of those, the ones to stop as they start
        self._pid: int | None = None

    def submit(self, request: ReplyRequest, timeout: float | None = None) -> Turn:
        """The stored reply to `request`; its error raised here (Behind included)."""
        return self.enqueue(request).result(timeout)

    def enqueue(self, request: ReplyRequest) -> Future[Turn]:
        """Start on `request`; its future is done when its Turn is stored (callbacks added
        to it run on the finishing thread)."""
        asked = _Asked(request)
        with self._ready:
            self._start()
            self._waiting.append(asked)
            self._asked[request.message_id] = self._asked.get(request.message_id, 0) + 1
            self._ready.notify()
        asked.future.add_done_callback(partial(self._answered, request.message_id))
        return asked.future

    def _answered(self, message_id: int, _: Future[Turn]) -> None:
        with self._ready:
            left = self._asked.pop(message_id, 1) - 1
            if left:
                self._asked[message_id] = left
            else:
                self._cancel.discard(message_id)

    def cancel(self, message_id: int) -> None:
        """Stop making the reply to `message_id` (a person pressed Ctrl-C): it ends at the
        next step with the text it has, which is stored and delivered as any reply. Holds
        only this object's re-entrant lock, so a signal handler may call it."""
        with self._ready:
            row = self._rows.get(message_id)
            if row is None:
                if message_id in self._asked:
                    self._cancel.add(message_id)  # not started yet: stopped as it starts
                return
        self.scheduler.cancel(row)

    def stop(self, timeout: float) -> bool:
        """Cancel every reply in the making and wait (at most `timeout` s) until none is
        left: a process must not exit while its decoding thread is inside torch (that
        aborts, "terminate called without an active exception"). Whether all ended."""
        with self._ready:
            rows = list(self._rows.values())
            self._waiting.clear()
            self._parked.clear()
        for row in rows:
            self.scheduler.cancel(row)
        deadline = time.monotonic() + timeout
        with self._ready:
            while self._rows and (left := deadline - time.monotonic()) > 0:
                self._ready.wait(left)
            return not self._rows

    def _start(self) -> None:
        # Threads do not survive fork: a prefork child starts its own.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._waiting.clear()
            self._in_making.clear()
            self._parked.clear()
            self._rows.clear()
            self._asked.clear()
            self._cancel.clear()
            threading.Thread(target=self._intake, name="intake", daemon=True).start()
            threading.Thread(target=self._finishing, name="finishing", daemon=True).start()
            if self.claims is not None:
                keep_claimed(self.claims, self.held)

    def held(self) -> list[int]:
        """The messages whose requests this process holds: taken and not yet answered."""
        with self._ready:
            return list(self._asked)

    # intake

    def _intake(self) -> None:
        while True:
            with self._ready:
                while not self._waiting:
                    self._ready.wait()
                taken = list(self._waiting)
                self._waiting.clear()
            try:
                self._take(taken)
            except Exception as exc:  # the store cannot be read: each task runs again
                log.warning("cannot start %d replies (%r)", len(taken), exc)
                for asked in taken:
                    _fail(asked, exc)

    def _take(self, taken: list[_Asked]) -> None:
        started, taken_at = time.perf_counter(), time.time()
        engine = self.scheduler.engine
        newest = messages_that_fit(self.settings.context_token_budget)
        keys = [(a.request.message_id, a.request.request_key) for a in taken]
        contexts = self._store().reply_contexts(keys, newest)
        context_s = time.perf_counter() - started
        asked_ids = {a.request.message_id for a in taken}
        redelivered: list[tuple[str, Delivery]] = []
        existing: list[tuple[_Asked, Turn]] = []
        behind: list[tuple[_Asked, int, int]] = []  # (request, conversation, earlier message)
        with self._ready:  # the finishing thread reads and changes what is in the making
            for asked, context in zip(taken, contexts, strict=True):
                if isinstance(context, LookupError):
                    _fail(asked, context)
                    continue
                if context.existing is not None:
                    turn = context.existing
                    if turn.platform_message_id is None:
                        redelivered.append(
                            (turn.platform, delivery(turn, True, asked.request.live))
                        )
                    existing.append((asked, turn))
                    continue
                conversation = context.message.conversation_id
                earlier = context.waits_on
                request = asked.request
                if conversation in self._in_making or (
                    earlier is not None and earlier in asked_ids
                ):
                    parked = self._parked.setdefault(conversation, deque())
                    if parked and earlier is not None and self.waiting is not None:
                        # One parked a conversation: the rest wait without holding a slot.
                        behind.append((asked, conversation, earlier))
                    else:
                        parked.append(asked)
                    continue
                queued_until = (request.enqueued_at or 0.0) + self.wait_s
                if (
                    earlier is not None
                    and request.enqueued_at is not None
                    and taken_at < queued_until
                ):
                    behind.append((asked, conversation, earlier))
                    continue
                try:
                    prompt = build_prompt(
                        self.settings.system_prompt,
                        context.history,
                        context.message.text,
                        self.settings.context_token_budget,
                        engine.count_tokens,
                    )
                    row = self.scheduler.submit(
                        prompt, self.settings, self._watcher(asked), conversation=conversation
                    )
                except Exception as exc:  # this prompt alone (its chat template refuses it)
                    _fail(asked, exc)
                    continue
                making = _Making(asked, context, prompt, row, context_s, taken_at)
                self._in_making.add(conversation)
                self._rows[request.message_id] = row
                if request.message_id in self._cancel:
                    self._cancel.discard(request.message_id)
                    self.scheduler.cancel(row)
                row.future.add_done_callback(partial(self._made, making))
            self._release_idle()
        deliver(redelivered)
        for asked, turn in existing:
            _resolve(asked, turn)
        self._wait_behind(behind, newest)

    def _wait_behind(self, behind: list[tuple[_Asked, int, int]], newest: int) -> None:
        """Requests behind an earlier message: each waits in its conversation's queue
        (wire.behind) and is answered Behind. Its context is read again once it is in
        there: an earlier reply stored meanwhile has handed on nothing to it, so it takes
        itself back (unless a worker has queued it again already) and starts here."""
        if not behind:
            return
        if self.waiting is None:
            for asked, _conversation, earlier in behind:
                _fail(asked, Behind(asked.request.message_id, earlier))
            return
        keys = [(a.request.message_id, a.request.request_key) for a, _c, _e in behind]
        try:
            ahead = self.waiting.wait([(c, a.request) for a, c, _e in behind])
            again = self._store().reply_contexts(keys, newest)
            back = [
                asked
                for (asked, conversation, _e), context in zip(behind, again, strict=True)
                if not _still_behind(context)
                and self.waiting.take_back(conversation, asked.request)
            ]
        except Exception as exc:  # Redis or the store blinked: the backstop asks again
            log.warning("%d requests wait for the backstop alone (%r)", len(behind), exc)
            for asked, _conversation, earlier in behind:
                _fail(asked, Behind(asked.request.message_id, earlier))
            return
        taken = {id(asked) for asked in back}
        for (asked, _c, earlier), context, before in zip(behind, again, ahead, strict=True):
            if id(asked) not in taken:
                # Still behind: waits, with a backstop. Else a worker queued it again.
                backstop = _still_behind(context)
                _fail(asked, Behind(asked.request.message_id, earlier, backstop, before))
        if back:
            with self._ready:
                self._waiting.extend(back)
                self._ready.notify()

    def _made(self, making: _Making, _: Future[Generation]) -> None:
        self._done.put(making)  # on the decoding thread: hand it over, nothing more

    def _watcher(self, asked: _Asked) -> Callable[[str], None] | None:
        if self.live is None or not asked.request.live:
            return None
        message_id = asked.request.message_id
        return lambda text: self._done.put((message_id, text))

    def _release_idle(self) -> None:
        """The first request parked behind a conversation with nothing in the making (the
        earlier message failed at once, or waits elsewhere) goes back to be looked at
        again. Called holding the lock."""
        for conversation in [c for c in self._parked if c not in self._in_making]:
            self._waiting.append(self._let_go(conversation))
            self._ready.notify()

    def _let_go(self, conversation: int) -> _Asked:
        """The first request parked behind `conversation` (there is one); the rest stay
        parked, in order. Called holding the lock."""
        parked = self._parked[conversation]
        asked = parked.popleft()
        if not parked:
            del self._parked[conversation]
        return asked

    # finishing

    def _finishing(self) -> None:
        while True:
            items = [self._done.get()]
            while not self._done.empty():
                items.append(self._done.get())
            texts = {item[0]: item[1] for item in items if isinstance(item, tuple)}
            made = [item for item in items if isinstance(item, _Making)]
            try:
                if texts and self.live is not None:
                    self._write_live(texts)
                if made:
                    self._finish(made)
            except Exception:  # this thread must outlive any one batch
                log.exception("finishing %d replies failed", len(made))

    def _write_live(self, texts: dict[int, str]) -> None:
        assert self.live is not None
        try:
            self.live.write_many(texts)
        except Exception as exc:  # a text so far is not worth a reply
            log.warning("cannot write %d live texts (%r)", len(texts), exc)

    def _finish(self, made: list[_Making]) -> None:
        ok: list[tuple[_Making, Generation]] = []
        for making in made:
            error = making.row.future.exception()
            if error is not None:
                _fail(making.asked, error)
            else:
                ok.append((making, making.row.future.result()))
        try:
            if ok:
                self._store_turns(ok)
        finally:
            with self._ready:
                for making in made:
                    conversation = making.context.message.conversation_id
                    self._in_making.discard(conversation)
                    self._rows.pop(making.asked.request.message_id, None)
                    if conversation in self._parked:
                        self._waiting.appendleft(self._let_go(conversation))
                self._ready.notify_all()  # intake, and whoever waits in stop()

    def _store_turns(self, ok: list[tuple[_Making, Generation]]) -> None:
        """One insert, one delivery task a platform, and only then the futures (whose
        callbacks acknowledge the messages: a reply is stored and on its way first)."""
        new = [
            new_turn(
                m.asked.request, m.context, m.prompt, g, self.settings, m.context_s, m.taken_at
            )
            for m, g in ok
        ]
        try:
            turns = self._store().add_turns(new)
            deliver(
                [
                    (turn.platform, delivery(turn, live=m.asked.request.live))
                    for (m, _), turn in zip(ok, turns, strict=True)
                ]
            )
        except Exception as exc:  # the database or broker blinked: each task runs again
            log.warning("cannot store or deliver %d replies (%r)", len(new), exc)
            for making, _ in ok:
                _fail(making.asked, exc)
            return
        self._hand_on(turns)
        for (making, generation), turn in zip(ok, turns, strict=True):
            g = generation
            metrics.reply_made(g.version, g.new_tokens, g.first_token_s, g.seconds)
            _resolve(making.asked, turn)

    def _hand_on(self, turns: list[Turn]) -> None:
        """Queue the next request waiting in each of these replies' conversations."""
        if self.waiting is None:
            return
        try:
            for request in self.waiting.hand_on([(t.conversation_id, t.message_id) for t in turns]):
                resume(request)
        except Exception as exc:  # the backstop asks again
            log.warning("cannot hand on after %d replies (%r)", len(turns), exc)


def _still_behind(context: ReplyContext | LookupError) -> bool:
    return (
        not isinstance(context, LookupError)
        and context.existing is None
        and context.waits_on is not None
    )


def _fail(asked: _Asked, error: BaseException) -> None:
    if not asked.future.done():
        asked.future.set_exception(error)


def _resolve(asked: _Asked, turn: Turn) -> None:
    if not asked.future.done():
        asked.future.set_result(turn)
