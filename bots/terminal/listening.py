"""Whether a gpu worker listens on the gpu queue, asked of the workers themselves.

A chat with a broker and no gpu worker would otherwise wait reply_timeout_s (5 minutes) in
silence. Celery's remote control answers it: `inspect().active_queues()` is broadcast to
every worker, and each answers with the queues it consumes. It waits the whole `ask_s`
for answers (it cannot know how many workers there are), so it runs on a thread of its
own while the chat waits for its reply, and a yes is trusted for `trust_s`: a chat asks
about once a minute, not at every message.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from typing import Any

from celery import Celery

log = logging.getLogger(__name__)

ASK_S = 2.0  # how long workers have to answer (a busy gpu worker answers between steps)
TRUST_S = 60.0


class QueueListeners:
    def __init__(
        self, app: Celery, queue: str, ask_s: float = ASK_S, trust_s: float = TRUST_S
    ) -> None:
        self.app = app
        self.queue = queue
        self.ask_s = ask_s
        self.trust_s = trust_s
        self._seen_at: float | None = None  # monotonic time of the last yes

    def ask(self) -> Future[bool]:
        """Whether a worker consumes `queue`: answered at once while a recent yes stands,
        else in about `ask_s` seconds, from a thread."""
        answer: Future[bool] = Future()
        if self._seen_at is not None and time.monotonic() - self._seen_at < self.trust_s:
            answer.set_result(True)
            return answer
        threading.Thread(target=self._ask, args=(answer,), name="ask-workers", daemon=True).start()
        return answer

    def _ask(self, answer: Future[bool]) -> None:
        try:
            found: dict[str, list[dict[str, Any]]] | None = self.app.control.inspect(
                timeout=self.ask_s
            ).active_queues()
        except Exception as exc:  # the broker blinked: better silence than a wrong warning
            log.warning("cannot ask the workers which queues they consume (%r)", exc)
            answer.set_result(True)
            return
        listening = any(
            queue.get("name") == self.queue
            for queues in (found or {}).values()
            for queue in queues or []
        )
        if listening:
            self._seen_at = time.monotonic()
        answer.set_result(listening)
